"""Cost follows surfaces, not boxes (issue 13): the one-pass surfels of every label, the search grid
cut to the point sets' own boxes, and the cell search for what lies outside it. Each against an
independent reference (the per-mask surfel kernel, every pair of points by scipy, the per-box path of
``evaluate``), on 2D, 3D, anisotropic, empty, border and salted inputs.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import cdist

import fastseg
from fastseg._engine import distances as D
from fastseg._engine import search
from fastseg._kernels import cells, nearest, surface, tuning
from fastseg._kernels._jit import thread_limit

from .conftest import same


def _surfels_of_mask(mask, is2d):
    codes, index, _ = surface.surfels(np.ascontiguousarray(mask).view(np.uint8), np.ones(256), is2d, 4)
    return index, codes.reshape(-1)[index]


def _lut(dtype, groups):
    lut = np.full(np.iinfo(dtype).max + 1, -1, np.int32)
    for slot, values in enumerate(groups):
        lut[list(values)] = slot
    return lut


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), is2d=st.booleans(), wide=st.booleans(),
       shape=st.tuples(st.integers(1, 9), st.integers(1, 11), st.integers(1, 12)),
       fill=st.sampled_from(["random", "blobs", "full", "empty", "one"]))
def test_label_surfels_equal_the_mask_kernel(seed, is2d, wide, shape, fill):
    """Every label's points and codes equal the per-mask kernel's on ``map == label``; a slot holding
    several values (a region) equals the kernel on their union."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if wide else np.uint8
    shape = (1,) + shape[1:] if is2d else shape
    top = 700 if wide else 5
    if fill == "random":
        m = rng.integers(0, 5, shape).astype(dtype) * (top // 5)
    elif fill == "blobs":
        m = np.zeros(shape, dtype)
        for v in (top // 5, 2 * (top // 5), 3 * (top // 5)):
            lo = rng.integers(0, shape)
            hi = lo + rng.integers(1, 6, 3)
            m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = v
    elif fill == "full":
        m = np.full(shape, top // 5, dtype)  # touches every border: only edge corners are surface
    elif fill == "one":
        m = np.zeros(shape, dtype)
        m[tuple(rng.integers(0, shape))] = top // 5
    else:
        m = np.zeros(shape, dtype)
    values = [top // 5, 2 * (top // 5), 3 * (top // 5), 4 * (top // 5)]
    groups = [[values[0]], [values[1]], [values[2], values[3]]]  # the last slot: a region of two labels
    start, index, codes = D.label_surfels(m, _lut(dtype, groups), len(groups), is2d)
    for slot, members in enumerate(groups):
        want_index, want_codes = _surfels_of_mask(np.isin(m, members), is2d)
        assert same(index[start[slot]:start[slot + 1]], want_index)
        assert same(codes[start[slot]:start[slot + 1]], want_codes)


def _brute(source, query, shape, sp):
    cs = np.stack(np.unravel_index(source, shape), 1) * sp
    cq = np.stack(np.unravel_index(query, shape), 1) * sp
    return cdist(cq, cs).min(1) if len(source) else np.full(len(query), np.inf)


def _scatter(rng, shape, blob, strays):
    centre = rng.integers(0, shape)
    pts = np.clip(centre + rng.integers(-4, 5, (blob, 3)), 0, np.array(shape) - 1)
    pts = np.concatenate([pts, rng.integers(0, shape, (strays, 3))])
    return np.unique(np.ravel_multi_index(tuple(pts.T), shape))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), margin=st.sampled_from([1, 3, 32]), pairs=st.sampled_from([0, 1 << 22]),
       shape=st.tuples(st.integers(1, 40), st.integers(1, 60), st.integers(1, 60)))
def test_distances_at_exact_with_strays(seed, margin, pairs, shape):
    """Compact sets with strays anywhere (the search grid cut short, sources and queries outside it,
    sets far apart): every distance is the minimum over every source, as scipy computes it, whether
    far queries go to the cell search (``FAR_PAIRS`` 0) or compare every pair."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "SEARCH_MARGIN", margin)
        mp.setattr(tuning, "FAR_PAIRS", pairs)
        _check_strays(seed, shape)


def _check_strays(seed, shape):
    rng = np.random.default_rng(seed)
    sp = rng.uniform(0.3, 3.0, 3)
    source = _scatter(rng, shape, int(rng.integers(1, 150)), int(rng.integers(0, 6)))
    query = _scatter(rng, shape, int(rng.integers(1, 150)), int(rng.integers(0, 6)))
    want = _brute(source, query, shape, sp)
    np.testing.assert_allclose(search.distances_at(source, shape, sp, query), want, rtol=1e-12, atol=0)
    there, back = search.distance_pair(query, source, shape, sp)  # both directions, one grid
    assert same(there, search.distances_at(source, shape, sp, query))
    np.testing.assert_allclose(back, _brute(query, source, shape, sp), rtol=1e-12, atol=0)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), reach=st.sampled_from([0, 1, 2, 4]), is2d=st.booleans(),
       shape=st.tuples(st.integers(1, 30), st.integers(1, 40), st.integers(2, 40)), strays=st.booleans())
def test_narrow_first_search_changes_nothing(seed, reach, is2d, shape, strays):
    """The narrow first search (line distances filled only where its offsets read them) gives the
    bits of the search over whole lines, and scipy's minimum over every pair: compact sets one or
    a few voxels apart (what it resolves), and strays (what it leaves to the wider search)."""
    rng = np.random.default_rng(seed)
    shape = (1,) + shape[1:] if is2d else shape
    sp = rng.uniform(0.3, 3.0, 3)
    source = _scatter(rng, shape, int(rng.integers(1, 300)), int(rng.integers(0, 6)) if strays else 0)
    shift = np.ravel_multi_index(tuple(np.minimum(rng.integers(0, 3, 3), np.array(shape) - 1)), shape)
    query = np.unique(np.concatenate([np.minimum(source + shift, int(np.prod(shape)) - 1),
                                      _scatter(rng, shape, 5, int(rng.integers(0, 6)) if strays else 0)]))
    got = {}
    for share in (np.inf, -1.0):  # always narrow first, never
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tuning, "NARROW_MIN", 0)
            mp.setattr(tuning, "NARROW_REACH", reach)
            mp.setattr(tuning, "NARROW_SHARE", share)
            mp.setattr(tuning, "NARROW_SURE", 0.0)
            got[share] = search.distance_pair(query, source, shape, sp)
    assert same(got[np.inf], got[-1.0])
    np.testing.assert_allclose(got[np.inf][0], _brute(source, query, shape, sp), rtol=1e-12, atol=0)
    np.testing.assert_allclose(got[np.inf][1], _brute(query, source, shape, sp), rtol=1e-12, atol=0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), shape=st.tuples(st.integers(1, 8), st.integers(1, 9), st.integers(1, 12)),
       ordered=st.booleans(), ra=st.integers(0, 3), rb=st.integers(0, 3))
def test_row_extents_and_their_dilation(seed, shape, ordered, ra, rb):
    """Row extents of points (any order) and their extremes over neighbouring rows against numpy."""
    rng = np.random.default_rng(seed)
    n0, n1, n2 = shape
    index = rng.integers(0, n0 * n1 * n2, int(rng.integers(0, 40)))
    index = np.unique(index) if ordered else index
    lo, hi = np.full(n0 * n1, n2, np.int64), np.full(n0 * n1, -1, np.int64)
    nearest.row_extents(index, n2, lo, hi)
    want_lo, want_hi = np.full((n0, n1), n2), np.full((n0, n1), -1)
    np.minimum.at(want_lo.reshape(-1), index // n2, index % n2)
    np.maximum.at(want_hi.reshape(-1), index // n2, index % n2)
    assert np.array_equal(lo, want_lo.reshape(-1)) and np.array_equal(hi, want_hi.reshape(-1))
    out_lo, out_hi = np.empty(n0 * n1, np.int64), np.empty(n0 * n1, np.int64)
    nearest.dilate_extents(lo, hi, n0, n1, ra, rb, out_lo, out_hi)
    assert np.array_equal(lo, want_lo.reshape(-1))  # inputs untouched
    for i0 in range(n0):
        for i1 in range(n1):
            near = (slice(max(0, i0 - ra), i0 + ra + 1), slice(max(0, i1 - rb), i1 + rb + 1))
            assert out_lo[i0 * n1 + i1] == want_lo[near].min() and out_hi[i0 * n1 + i1] == want_hi[near].max()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), is2d=st.booleans(), ordered=st.booleans(),
       shape=st.tuples(st.integers(1, 20), st.integers(1, 30), st.integers(1, 40)),
       shift=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)))
def test_staged_search_gives_the_bits_of_one_search(seed, is2d, ordered, shape, shift):
    """Every stage (the own-row walk, the narrow search over partly filled lines, the search over
    whole lines) gives each query the bits one ordered search over every offset of the grid gives:
    compact sets, the query set a copy of the source set shifted by a few steps (most queries on a
    source or a step along the row from one), queries in any order."""
    rng = np.random.default_rng(seed)
    shape = (1,) + shape[1:] if is2d else shape
    sp = rng.uniform(0.3, 3.0, 3)
    source = _scatter(rng, shape, int(rng.integers(1, 300)), 0)
    coords = np.stack(np.unravel_index(source, shape), 1) + np.array(shift)
    keep = np.all(coords < np.array(shape), axis=1)
    query = np.ravel_multi_index(tuple(coords[keep].T), shape)
    query = np.unique(np.concatenate([query, _scatter(rng, shape, 20, 0)]))
    if not ordered:
        query = rng.permutation(query)
    lines = np.empty(int(np.prod(shape)), np.int32)
    nearest.row_distances(source, lines.reshape(-1, shape[2]), 1)
    want = np.empty(query.size)
    sp[2] = sp.min() * 0.99  # the line axis: the last (the own-row walk takes only that one)
    da, db, c, c_max = search.offsets(shape, sp, 2, 1 << 40)  # every offset of the grid
    nearest.search(lines, np.array(shape, np.int64), 2, float(sp[2]), query, da, db, c, c_max, want, 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "NARROW_MIN", 0)
        mp.setattr(tuning, "NARROW_SURE", 0.0)
        got = search.distances_at(source, shape, sp, query)
    assert same(got, want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), counts=st.sampled_from([(1, 9), (3, 30), (9, 300), (30, 1 << 40)]),
       shape=st.tuples(st.integers(1, 12), st.integers(1, 15), st.integers(1, 20)))
def test_search_goes_on_from_a_shorter_list(seed, counts, shape):
    """A query a short offset list leaves unresolved, searched on with a longer list from the first
    offset not below the short list's ``c_max`` and the best value it found, gets the bits (or the
    unresolved mark) the longer list gives alone; the own-row walk marks its unresolved queries the
    same way."""
    rng = np.random.default_rng(seed)
    sp = rng.uniform(0.3, 3.0, 3)
    sp[2] = sp.min() * 0.99
    n = int(np.prod(shape))
    source = np.unique(rng.integers(0, n, int(rng.integers(1, 12))))
    query = np.arange(n, dtype=np.int64)
    lines = np.empty(n, np.int32)
    nearest.row_distances(source, lines.reshape(-1, shape[2]), 1)
    shape64 = np.array(shape, np.int64)
    short, long_ = (search.offsets(shape, sp, 2, k) for k in counts)
    first_out, alone = np.empty(n), np.empty(n)
    nearest.search(lines, shape64, 2, float(sp[2]), query, *short, first_out, 1)
    nearest.search(lines, shape64, 2, float(sp[2]), query, *long_, alone, 1)
    todo = np.flatnonzero(first_out < 0)
    assert np.all(first_out[first_out >= 0] == alone[first_out >= 0])
    on = np.empty(todo.size)
    start = int(np.searchsorted(long_[2], short[3]))
    da, db, c, c_max = long_
    nearest.search_chunk(lines, shape64, 2, float(sp[2]), query[todo], da[start:], db[start:], c[start:], c_max, on, 0,
                         todo.size, -first_out[todo])
    assert same(on, alone[todo])
    walked = np.empty(n)
    c_first = min(sp[0] ** 2 if shape[0] > 1 else np.inf, sp[1] ** 2 if shape[1] > 1 else np.inf)
    nearest.row_nearest(query, source, shape[2], float(sp[2]), c_first, walked, 0, n)
    one = search.offsets(shape, sp, 2, 1)  # offset (0, 0) alone
    at_zero = np.empty(n)
    nearest.search(lines, shape64, 2, float(sp[2]), query, one[0][:1], one[1][:1], one[2][:1], c_first, at_zero, 1)
    assert same(walked, at_zero)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), shape=st.tuples(st.integers(1, 9), st.integers(1, 11), st.integers(1, 40)),
       count=st.sampled_from([1, 9, 60, 1 << 40]), density=st.sampled_from([0.02, 0.3, 0.9]),
       carry=st.booleans())
def test_runs_searched_together_give_each_querys_bits(seed, shape, count, density, carry):
    """Queries on consecutive voxels of a row are searched together, one offset at a time for the
    whole run; each gets the bits of the search's definition, computed here over the whole offset
    list without stopping early: the smallest ``c + (s_r * line)**2`` (and the best value carried
    in), its square root when at most ``c_max``, else minus it (unresolved). Also query by query
    (runs of one), with and without a carried value, through short lists, at the grid's edges,
    with runs split by the row's end and by gaps; against scipy when the list is the whole grid."""
    rng = np.random.default_rng(seed)
    sp = rng.uniform(0.3, 3.0, 3)
    sp[2] = sp.min() * 0.99
    n = int(np.prod(shape))
    source = np.unique(rng.integers(0, n, int(rng.integers(1, 12))))
    query = np.flatnonzero(rng.random(n) < density).astype(np.int64)
    lines = np.empty(n, np.int32)
    nearest.row_distances(source, lines.reshape(-1, shape[2]), 1)
    shape64 = np.array(shape, np.int64)
    da, db, c, c_max = search.offsets(shape, sp, 2, count)
    best0 = rng.uniform(0.0, 2.0 * float(np.max(sp)) ** 2, query.size) if carry else np.empty(0)
    together, alone = np.empty(query.size), np.empty(query.size)
    nearest.search_chunk(lines, shape64, 2, float(sp[2]), query, da, db, c, c_max, together, 0, query.size, best0)
    for t in range(query.size):
        nearest.search_chunk(lines, shape64, 2, float(sp[2]), query[t:t + 1], da, db, c, c_max, alone[t:t + 1], 0, 1,
                             best0[t:t + 1] if carry else best0)
    want = np.empty(query.size)
    grid = lines.reshape(shape)
    for t, (i0, i1, i2) in enumerate(zip(*np.unravel_index(query, shape))):
        j0, j1 = i0 + da, i1 + db
        inside = (j0 >= 0) & (j0 < shape[0]) & (j1 >= 0) & (j1 < shape[1])
        line = grid[j0[inside], j1[inside], i2]
        u = float(sp[2]) * line
        v = c[inside] + u * u
        best = min(float(best0[t]) if carry else np.inf, float(np.min(v[line < shape[2]], initial=np.inf)))
        want[t] = np.sqrt(best) if best <= c_max else -best
    assert same(together, want)
    assert same(alone, want)
    if not carry and count == 1 << 40 and query.size:  # the whole grid listed: exact against scipy
        pts = np.stack(np.unravel_index(source, shape), 1) * sp
        qs = np.stack(np.unravel_index(query, shape), 1) * sp
        assert np.allclose(together, cdist(qs, pts).min(axis=1), rtol=1e-12, atol=1e-12)


def test_fill_spans_equal_whole_lines():
    """The line distances filled on spans equal the whole lines' there, and nothing else is written."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        nrow, n = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        source = np.unique(rng.integers(0, nrow * n, int(rng.integers(0, 3 * n))))
        whole = np.empty((nrow, n), np.int32)
        nearest.row_distances(source, whole, 1)
        lo, hi = rng.integers(-2, n + 1, nrow), rng.integers(-1, n, nrow)
        lo, hi = np.maximum(lo, 0), np.minimum(hi, n - 1)
        part = np.full((nrow, n), -7, np.int32)
        nearest.span_chunk(source, part, lo, hi, 0, nrow, np.int32(2 * n + 2))
        for j in range(nrow):
            inside = np.zeros(n, bool)
            inside[lo[j]:hi[j] + 1] = True
            assert np.array_equal(part[j][inside], whole[j][inside]) and np.all(part[j][~inside] == -7)


def test_distances_at_empty_sets():
    sp = np.ones(3)
    assert search.distances_at(np.array([3]), (2, 3, 4), sp, np.zeros(0, np.int64)).size == 0
    assert same(search.distances_at(np.zeros(0, np.int64), (2, 3, 4), sp, np.array([0, 5])), np.array([np.inf, np.inf]))


@pytest.mark.parametrize("nchunks", [1, 3, 64])
@pytest.mark.parametrize("block", [1, 7, 1000])
def test_cell_nearest_equals_brute_force(nchunks, block):
    """Any cell size, any blocking of the queries (a block's bound serves queries far apart too)."""
    rng = np.random.default_rng(nchunks + block)
    shape = (30, 50, 40)
    sp = np.array([2.5, 0.8, 0.7])
    source = _scatter(rng, shape, 400, 30)
    query = rng.integers(0, int(np.prod(shape)), 300)  # any order
    cs = np.stack(np.unravel_index(source, shape), 1).astype(np.int64)
    cq = np.ascontiguousarray(np.stack(np.unravel_index(query, shape), 1).astype(np.int64))
    blocks = np.append(np.arange(0, len(query), block), len(query)).astype(np.int64)
    for size in ([1, 1, 1], [3, 7, 5], [30, 50, 40]):
        size = np.array(size, np.int64)
        lo = cs.min(0)
        dims = (cs.max(0) - lo + size) // size
        pts, start, box = cells.cells(source, np.array(shape, np.int64), lo, size, dims)
        out = np.empty(len(query))
        cells.cell_nearest(pts, start, box, cq, blocks, sp, out, nchunks)
        np.testing.assert_allclose(out, _brute(source, query, shape, sp), rtol=1e-12, atol=0)


def test_index_box_any_order():
    rng = np.random.default_rng(0)
    shape = np.array([7, 9, 11])
    idx = rng.integers(0, shape.prod(), 50)
    c = np.stack(np.unravel_index(idx, tuple(shape)), 1)
    for order in (idx, np.sort(idx)):
        lo, hi = nearest.index_box(order, shape)
        assert same(lo, c.min(0))
        assert same(hi, c.max(0))


def _salted(pred, rng, count, labels):
    out = pred.copy()
    flat = out.reshape(-1)
    flat[rng.choice(flat.size, count, replace=False)] = rng.choice(labels, count)
    return out


def _organs(shape, rng, n):
    ref = np.zeros(shape, np.uint8)
    grid = np.indices(shape).astype(float)
    for lab in range(1, n + 1):
        centre = rng.uniform(0.2, 0.8, len(shape)) * np.array(shape)
        radius = rng.uniform(0.08, 0.2) * min(shape)
        ref[sum((g - c) ** 2 for g, c in zip(grid, centre)) < radius ** 2] = lab
    pred = np.roll(ref, 1, axis=-1)
    return pred, ref


@pytest.mark.parametrize("convention", ["fastseg", "deepmind", "monai", "metricsreloaded", "panoptica"])
@pytest.mark.parametrize("shape,spacing", [((24, 40, 36), (2.5, 0.8, 0.8)), ((60, 70), (0.7, 0.7)),
                                           ((12, 30, 30), (1.0, 1.0, 1.0))])
def test_evaluate_salted_one_pass_equals_per_box(monkeypatch, shape, spacing, convention):
    """The one-pass label surfaces (surfels, or boundary voxels) give, bit for bit, what the per-box
    path gives, and each label's single-metric value; salt, a label touching the border and a label
    missing on one side included."""
    rng = np.random.default_rng(len(shape))
    pred, ref = _organs(shape, rng, 5)
    pred = _salted(pred, rng, 12, [1, 2, 3, 5])
    pred[pred == 4] = 0  # label 4: a miss
    ref[(0,) * len(shape)] = 6  # label 6: a border voxel in ref only
    kw = dict(spacing=spacing, metrics=["hd", "hd95", "assd", "masd", "nsd@1.5"], labels=[1, 2, 3, 4, 5, 6, 7],
              convention=convention)
    monkeypatch.setattr(tuning, "LABELWISE_BOXES", 0.0)
    monkeypatch.setattr(tuning, "LABELWISE_MIN_VOXELS", 0)
    one_pass = fastseg.evaluate(pred, ref, **kw)
    monkeypatch.setattr(tuning, "LABELWISE_BOXES", np.inf)
    per_box = fastseg.evaluate(pred, ref, **kw)
    assert same([row["value"] for row in one_pass.rows], [row["value"] for row in per_box.rows])
    for lab in (1, 2, 3, 5):
        single = dict(spacing=spacing, convention=convention)
        assert same(one_pass["hd95"][lab], fastseg.hd95(pred == lab, ref == lab, **single))
        assert same(one_pass["nsd@1.5"][lab], fastseg.nsd(pred == lab, ref == lab, tolerance=1.5, **single))
    assert one_pass["hd"][4] == per_box["hd"][4] and one_pass["hd"][6] == per_box["hd"][6]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), is2d=st.booleans(), connectivity=st.integers(1, 3),
       shape=st.tuples(st.integers(1, 9), st.integers(1, 11), st.integers(1, 12)),
       fill=st.sampled_from(["random", "blobs", "full"]))
def test_label_boundaries_equal_the_mask_kernel(seed, is2d, connectivity, shape, fill):
    """Every slot's boundary voxels (a region of two values included) equal the per-mask kernel's."""
    rng = np.random.default_rng(seed)
    shape = (1,) + shape[1:] if is2d else shape
    if fill == "random":
        m = rng.integers(0, 5, shape).astype(np.uint8)
    else:
        m = np.zeros(shape, np.uint8) if fill == "blobs" else np.ones(shape, np.uint8)
        for v in (2, 3, 4):
            lo = rng.integers(0, shape)
            hi = lo + rng.integers(1, 6, 3)
            m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = v
    groups = [[1], [2], [3, 4]]
    start, index = D.label_boundaries(m, _lut(np.uint8, groups), len(groups), connectivity, is2d)
    for slot, members in enumerate(groups):
        mask = np.isin(m, members).astype(np.uint8)
        assert same(index[start[slot]:start[slot + 1]], np.flatnonzero(surface.boundary_voxels(mask, connectivity, is2d, 4)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), is2d=st.booleans(), shape=st.tuples(st.integers(1, 9), st.integers(1, 11),
                                                                            st.integers(1, 12)),
       convention=st.sampled_from(["fastseg", "monai", "medpy"]), fill=st.sampled_from(["random", "blobs", "one"]))
def test_label_point_boxes_from_voxel_boxes(seed, is2d, shape, convention, fill):
    """The points' boxes ``evaluate`` derives from the labels' voxel boxes (without a pass over the
    points) are the boxes of the points themselves, for surfels and boundary voxels: the search
    relies on them being exact."""
    from fastseg._engine.counts import count_labels

    rng = np.random.default_rng(seed)
    shape = shape[1:] if is2d else shape
    maps = []
    for _ in range(2):
        if fill == "random":
            m = rng.integers(0, 4, shape).astype(np.uint8)
        else:
            m = np.zeros(shape, np.uint8)
            for v in (1, 2, 3):
                if fill == "one":
                    m[tuple(rng.integers(0, shape))] = v
                    continue
                lo = rng.integers(0, shape)
                hi = lo + rng.integers(1, 6, len(shape))
                m[tuple(slice(a, b) for a, b in zip(lo, hi))] = v
        maps.append(m)
    p, r = maps
    lc = count_labels(p, r, None, p.shape, False)
    labels = [lab for lab in (1, 2, 3) if lc.bbox([lab]) is not None]
    if not labels:
        return
    ls = D.LabelSurfaces(p, r, labels, fastseg.conventions.get_convention(convention))
    shape64 = np.asarray(ls.grid, np.int64)
    for lab in labels:
        ip, _, ir, _ = ls.points(lab)
        for points, which in ((ip, "pred"), (ir, "ref")):
            box = lc.bbox([lab], which)
            assert (box is None) == (points.size == 0)
            if box is not None:
                for got, want in zip(ls._point_box(box), nearest.index_box(points, shape64)):
                    assert same(got, want)


def test_when_cheaper_declines_other_surfaces(monkeypatch):
    """Conventions whose surface the one pass does not give keep the per-box path: plastimatch (its
    transform and image edge), seg-metrics (the image edge is not a boundary), itk (object voxels),
    pymia's 2D slab; and small maps do (the per-box path costs little there)."""
    monkeypatch.setattr(tuning, "LABELWISE_BOXES", 0.0)
    p = np.zeros((6, 7), np.uint8)
    p[1:4, 2:5] = 1
    fast = fastseg.conventions.get_convention("fastseg")
    assert D.LabelSurfaces.when_cheaper(p, p, fast, [([1], True, p.size)]) is None
    monkeypatch.setattr(tuning, "LABELWISE_MIN_VOXELS", 0)
    p = np.zeros((6, 7), np.uint8)
    p[1:4, 2:5] = 1
    for name, want in (("fastseg", True), ("deepmind", True), ("monai", True), ("medpy", True),
                       ("plastimatch", False), ("seg-metrics", False), ("itk", False), ("pymia", False)):
        conv = fastseg.conventions.get_convention(name)
        got = D.LabelSurfaces.when_cheaper(p, p, conv, [([1], True, p.size)])
        assert (got is not None) == want, name


def test_row_ranges_on_threads_change_nothing():
    """A map big enough for row ranges on threads: the same points as on one thread and as the mask
    kernel (surfels and boundary voxels, a region included)."""
    rng = np.random.default_rng(5)
    pred, _ = _organs((40, 90, 80), rng, 6)
    pred = _salted(pred, rng, 50, [1, 2, 3, 4, 5, 6])
    groups = [[1], [2], [3], [4, 5], [6]]
    lut = _lut(np.uint8, groups)
    with thread_limit(2):
        surf = D.label_surfels(pred, lut, len(groups), False)
        bound = D.label_boundaries(pred, lut, len(groups), 2, False)
    with thread_limit(1):
        assert same(D.label_surfels(pred, lut, len(groups), False), surf)
        assert same(D.label_boundaries(pred, lut, len(groups), 2, False), bound)
    for slot, members in enumerate(groups):
        want_index, want_codes = _surfels_of_mask(np.isin(pred, members), False)
        assert same(surf[1][surf[0][slot]:surf[0][slot + 1]], want_index)
        assert same(surf[2][surf[0][slot]:surf[0][slot + 1]], want_codes)
        mask = np.isin(pred, members).astype(np.uint8)
        assert same(bound[1][bound[0][slot]:bound[0][slot + 1]], np.flatnonzero(surface.boundary_voxels(mask, 2, False, 4)))


def test_search_ranges_on_threads_change_nothing(monkeypatch):
    """Big enough for the search's row and query ranges (and the cell search's blocks) on threads:
    the same bits on one thread and two, and the distances of every pair."""
    monkeypatch.setattr(tuning, "FAR_PAIRS", 0)  # far queries by the cell search
    rng = np.random.default_rng(9)
    shape = (60, 100, 110)
    sp = np.array([2.0, 0.7, 0.9])
    source = _scatter(rng, shape, 3000, 40)
    query = np.unique(np.concatenate([_scatter(rng, shape, 3000, 0), rng.integers(0, int(np.prod(shape)), 9000)]))
    with thread_limit(2):
        two = search.distance_pair(query, source, shape, sp)
    with thread_limit(1):
        one = search.distance_pair(query, source, shape, sp)
    assert same(two, one)
    pick = rng.choice(query.size, 400, replace=False)
    np.testing.assert_allclose(two[0][pick], _brute(source, query[pick], shape, sp), rtol=1e-12, atol=0)
