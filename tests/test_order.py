"""Ordering of distance sets (:mod:`fastseg._kernels.order` through the engine): the class-by-class
sort and merge against a stable lexicographic sort of (distance, weight class), and the one-pass
weighted nearest rank against numpy's cumulative sum and binary search, bit for bit."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastseg import _surfel_tables
from fastseg._engine.sets import sort_by_distance, weighted_nearest_rank

SPACINGS = [(1.0, 1.0, 1.0), (1.5, 0.8, 0.8), (2.5, 0.7, 0.9), (0.8, 0.8)]


def _reference_sort(d, codes, table):
    """surface-distance's order, directly: by distance, ties by weight (the classes are the
    distinct areas, in increasing order), NaN last; then the weights in that order."""
    w = table[codes]
    order = np.lexsort((w, d))  # lexsort puts NaN last, ties by the secondary key
    return d[order], w[order]


def _distances(rng, n, kind):
    if kind == "distinct":
        return rng.random(n) * 10.0
    if kind == "shift":  # two segmentations one voxel apart: two values
        return rng.integers(0, 2, n) * 0.8
    if kind == "lattice":
        return np.sqrt(rng.integers(0, 40, n) * 0.64)
    d = rng.integers(0, 4, n) * 0.8  # with a side's misses (inf) and NaN a caller might pass
    d[rng.random(n) < 0.1] = np.inf
    d[rng.random(n) < 0.05] = np.nan
    return d


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.sampled_from([0, 1, 2, 7, 100, 3000]),
       kind=st.sampled_from(["distinct", "shift", "lattice", "inf_nan"]), spacing=st.sampled_from(SPACINGS),
       few_codes=st.booleans())
def test_sort_matches_lexicographic_order(seed, n, kind, spacing, few_codes):
    rng = np.random.default_rng(seed)
    table = _surfel_tables.areas(spacing)
    pool = rng.integers(1, 15 if len(spacing) == 2 else 255, 3) if few_codes else None
    codes = (rng.choice(pool, n) if few_codes else rng.integers(1, 15 if len(spacing) == 2 else 255, n)).astype(np.uint8)
    d = _distances(rng, n, kind)
    got_d, got_w = sort_by_distance(d, None, codes, table)
    want_d, want_w = _reference_sort(d, codes, table)
    assert got_d.tobytes() == want_d.tobytes()
    assert got_w.tobytes() == want_w.tobytes()
    assert not got_d.flags.writeable and not got_w.flags.writeable


def test_sort_of_one_class_and_of_unit_weights():
    table = _surfel_tables.areas((1.0, 1.0, 1.0))
    d = np.array([3.0, 1.0, 2.0, 1.0])
    got_d, got_w = sort_by_distance(d, None, np.full(4, 7, np.uint8), table)
    assert got_d.tolist() == [1.0, 1.0, 2.0, 3.0] and np.all(got_w == table[7])
    got_d, got_w = sort_by_distance(d, np.ones(4))  # voxels: a plain sort, unit weights kept
    assert got_d.tolist() == [1.0, 1.0, 2.0, 3.0] and got_w.tolist() == [1.0] * 4


def _reference_rank(d, w, q):
    cum = np.cumsum(w) / np.sum(w)
    return float(d[min(int(np.searchsorted(cum, q / 100.0)), d.size - 1)])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 400),
       q=st.one_of(st.sampled_from([0.0, 1.0, 50.0, 95.0, 99.0, 100.0]), st.floats(0.0, 100.0)),
       scale=st.sampled_from([1.0, 1e-3, 1e5]))
def test_weighted_rank_matches_cumsum_and_searchsorted(seed, n, q, scale):
    rng = np.random.default_rng(seed)
    areas = np.unique(_surfel_tables.areas((1.5, 0.8, 0.8)))
    w = rng.choice(np.append(areas[areas > 0], 1e-9), n) * scale  # tiny weights: the running share
    d = np.sort(rng.random(n))                                    # reaches 1 before the end, or not
    assert weighted_nearest_rank(d, w, q) == _reference_rank(d, w, q)


def test_weighted_rank_edges():
    assert weighted_nearest_rank(np.zeros(0), np.zeros(0), 95.0) == math.inf
    d = np.array([1.0, 2.0, 3.0])
    assert weighted_nearest_rank(d, np.ones(3), 100.0) == 3.0
    assert weighted_nearest_rank(d, np.ones(3), 0.0) == 1.0
    assert weighted_nearest_rank(d, np.array([0.0, 0.0, 1.0]), 50.0) == 3.0
    # weights a caller made, with no positive finite total or another dtype: numpy's answer
    for w in (np.zeros(3), np.array([1.0, np.inf, 1.0]), np.array([1.0, np.nan, 1.0]),
              np.array([0.1, 0.7, 0.2], np.float32), np.array([1, 5, 2])):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = _reference_rank(d, w, 95.0)
        assert weighted_nearest_rank(d, w, 95.0) == want


@pytest.mark.parametrize("q", [95.0, 100.0])
def test_weighted_rank_of_shifted_organ_surfaces(q):
    """On real surfel sets (an organ and its copy one voxel off), through the public metric."""
    import fastseg

    ref = np.zeros((20, 30, 30), bool)
    zz, yy, xx = np.ogrid[:20, :30, :30]
    ref[((zz - 10) / 6.0) ** 2 + ((yy - 15) / 9.0) ** 2 + ((xx - 14) / 10.0) ** 2 <= 1] = True
    pred = np.roll(ref, 1, axis=2)
    sd = fastseg.surface_distances(pred, ref, spacing=(2.5, 0.8, 0.8))
    want = max(_reference_rank(sd.pred_to_ref, sd.pred_weights, q), _reference_rank(sd.ref_to_pred, sd.ref_weights, q))
    assert fastseg.hausdorff(sd, percentile=q) == want
