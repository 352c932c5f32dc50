"""The ordered nearest-feature search (``fastseg._kernels.nearest``) that surface distances use:
line distances and query distances against brute force, the unresolved-query contract of a short
offset list, and every tier of ``fastseg._engine.distances.distances_at`` (short lists, long lists, the full
transform) giving the same values as the transform read at the queries.
"""
import numpy as np

import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

from fastseg._kernels import tuning
from fastseg._kernels.tuning import SMALL_TRANSFORM
from fastseg._engine import distances as surface
from fastseg._kernels import nearest
from fastseg._kernels._jit import thread_limit


def brute(features, spacing, query):
    """Squared distance from each query (flat index) to the nearest feature, minimum taken explicitly."""
    shape = features.shape
    f = np.argwhere(features) * spacing
    q = np.stack(np.unravel_index(query, shape), 1) * spacing
    if len(f) == 0:
        return np.full(len(query), np.inf)
    return ((q[:, None, :] - f[None, :, :]) ** 2).sum(-1).min(1)


def transform_at(features, spacing, query):
    d = ndimage.distance_transform_edt(features == 0, sampling=spacing)
    return d.reshape(-1)[query]


def random_case(rng, shape, density):
    features = (rng.random(shape) < density).astype(np.uint8)
    if not features.any():
        features.flat[rng.integers(features.size)] = 1
    query = np.sort(rng.choice(features.size, size=min(40, features.size), replace=False))
    spacing = rng.uniform(0.3, 3.0, size=3)
    return features, spacing, query


def lines_of(features, r, generic=False):
    """Line distances as ``_distances_at`` computes them (from the sorted indices along the last axis)."""
    shape = features.shape
    out = np.empty(features.size, np.int32)
    if r == 2 and not generic:
        nearest.row_distances(np.flatnonzero(features), out.reshape(-1, shape[2]), 4)
        return out
    before = int(np.prod(shape[:r]))
    nearest.line_distances(features.reshape(before, shape[r], -1), out.reshape(before, shape[r], -1), 4)
    return out


@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize("r", [0, 1, 2])
@pytest.mark.parametrize("shape", [(7, 9, 11), (1, 13, 6), (5, 1, 8), (3, 4, 1), (2, 3, 40)])
@pytest.mark.parametrize("density", [0.0, 0.15, 1.0])
def test_line_distances_brute_force(generic, r, shape, density):
    rng = np.random.default_rng(sum(shape) + r)
    features = (rng.random(shape) < density).astype(np.uint8)
    got = lines_of(features, r, generic).reshape(shape)
    n = shape[r]
    idx = np.indices(shape)[r]
    for p in np.ndindex(*shape):
        line = [slice(None) if a == r else p[a] for a in range(3)]
        pos = np.flatnonzero(features[tuple(line)])
        if pos.size == 0:
            assert got[p] >= n
        else:
            assert got[p] == np.abs(pos - idx[p]).min()


def run_search(features, spacing, query, r, count):
    shape = features.shape
    da, db, c, c_max = surface.offsets(shape, spacing, r, count)
    out = np.empty(query.size)
    nearest.search(lines_of(features, r), np.asarray(shape, np.int64), r, float(spacing[r]), query,
                   da, db, c, c_max, out, 3)
    return out, c_max


@pytest.mark.parametrize("r", [0, 1, 2])
@pytest.mark.parametrize("count", [3, 30, 300, 100000])
@pytest.mark.parametrize("density", [0.002, 0.05])
def test_search_resolved_exact_unresolved_far(r, count, density):
    rng = np.random.default_rng(count + r * 7 + int(density * 1000))
    features, spacing, query = random_case(rng, (9, 14, 12), density)
    out, c_max = run_search(features, spacing, query, r, count)
    want = brute(features, spacing, query)
    resolved = out >= 0
    np.testing.assert_allclose(out[resolved] ** 2, want[resolved], rtol=1e-12)
    # unresolved only when the nearest feature is beyond the list
    assert np.all(want[~resolved] > c_max)
    if count == 100000:
        assert c_max == np.inf and resolved.all()


def test_search_same_bits_as_transform_on_last_axis():
    """Line axis 2: the same operations in the same order as the separable transform."""
    from fastseg._kernels.edt import sq_distance_to_features_into

    rng = np.random.default_rng(3)
    features, spacing, query = random_case(rng, (12, 10, 15), 0.01)
    out, _ = run_search(features, spacing, query, 2, 100000)
    sq = np.empty(features.shape)
    sq_distance_to_features_into(features, spacing, sq, SMALL_TRANSFORM)
    assert np.array_equal(out, np.sqrt(sq.reshape(-1)[query]))


@pytest.mark.parametrize("tiers,budget", [((4096, 1 << 16), 4), ((2, 20), 10 ** 6), ((2, 20), 0), ((2,), 4),
                                          ((2, 10 ** 6), 10 ** 6)])
@pytest.mark.parametrize("shape,spacing", [((10, 16, 13), (2.5, 0.8, 0.8)), ((1, 30, 25), (1.0, 0.5, 1.5)),
                                           ((12, 9, 14), (1.0, 1.0, 1.0)), ((15, 11, 8), (0.7, 2.0, 3.0))])
def test_distances_at_every_tier(monkeypatch, tiers, budget, shape, spacing):
    """Short lists leave far queries to the next tier or the transform: values never change."""
    monkeypatch.setattr(tuning, "SEARCH_TIERS", tiers)
    monkeypatch.setattr(tuning, "TRANSFORM_COST", budget)
    rng = np.random.default_rng(len(tiers) + budget % 7)
    sp = np.asarray(spacing, float)
    for density in (0.001, 0.02, 0.3):
        features = (rng.random(shape) < density).astype(np.uint8)
        features.flat[rng.integers(features.size)] = 1
        source = np.flatnonzero(features)
        query = np.sort(rng.choice(features.size, size=50, replace=False))
        got = surface.distances_at(source, shape, sp, query)
        np.testing.assert_allclose(got, transform_at(features, sp, query), rtol=1e-12)


def test_distances_at_far_cluster_uses_transform(monkeypatch):
    """A far cluster of queries (a stray false-positive blob) is exact whichever path finishes it."""
    shape = (20, 60, 60)
    sp = np.array([2.5, 0.8, 0.8])
    features = np.zeros(shape, np.uint8)
    features[10, 5:8, 5:8] = 1
    query = np.sort(np.ravel_multi_index(np.nonzero(np.ones((2, 3, 3))), (2, 3, 3)))
    query = np.ravel_multi_index(np.unravel_index(query, (2, 3, 3)) + np.array([[17], [55], [55]]), shape)
    want = transform_at(features, sp, query)
    for tiers, cost in (((4096, 1 << 16), 4), ((2, 8), 4), ((2,), 4), ((2, 8), 0), ((2, 10 ** 9), 10 ** 6)):
        monkeypatch.setattr(tuning, "SEARCH_TIERS", tiers)
        monkeypatch.setattr(tuning, "TRANSFORM_COST", cost)
        np.testing.assert_allclose(surface.distances_at(np.flatnonzero(features), shape, sp, query),
                                   want, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), count=st.integers(1, 400),
       shape=st.tuples(st.integers(1, 8), st.integers(1, 9), st.integers(1, 10)))
def test_search_property(seed, count, shape):
    rng = np.random.default_rng(seed)
    features, spacing, query = random_case(rng, shape, rng.uniform(0.0, 0.3))
    r = surface.line_axis(shape, spacing)
    out, c_max = run_search(features, spacing, query, r, count)
    want = brute(features, spacing, query)
    resolved = out >= 0
    np.testing.assert_allclose(out[resolved] ** 2, want[resolved], rtol=1e-12)
    assert np.all(want[~resolved] > c_max)


def test_search_thread_count_invariant():
    rng = np.random.default_rng(11)
    features, spacing, query = random_case(rng, (20, 30, 25), 0.003)
    results = []
    for threads in (1, 2):
        with thread_limit(threads):
            results.append(run_search(features, spacing, query, 1, 50)[0])
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("r", [0, 1, 2])
def test_search_any_query_order(r):
    """Rows are followed along increasing queries (r = 2); any other order (repeats, steps back, long
    jumps) gives the same distances."""
    rng = np.random.default_rng(11 + r)
    features, spacing, query = random_case(rng, (9, 14, 12), 0.05)
    query = np.sort(query)
    want, _ = run_search(features, spacing, query, r, 300)
    for order in (rng.permutation(query.size), np.arange(query.size)[::-1],
                  np.repeat(np.arange(query.size), 2)):
        got, _ = run_search(features, spacing, np.ascontiguousarray(query[order]), r, 300)
        np.testing.assert_array_equal(got, want[order])
