"""The exact cell search for query points far from every source point (stray voxels, a far island).

The ordered search of :mod:`fastseg._kernels.nearest` visits every grid offset out to the distance
it finds: fine for two segmentations of one structure, where nearly every distance is a few voxels,
ruinous for a stray voxel 20 cm from the other surface. Here the source points are bucketed in cells
(:func:`cells`) and each query visits the cells in the order their boxes bound it
(:func:`cell_nearest`): the cost is the cells once per block of neighbouring queries plus a few cells'
points per query, whatever the distance. Exact, in the arithmetic of the ordered search along the
last axis, ``((s0*d0)**2 + (s1*d1)**2) + (s2*d2)**2``.
"""
import numpy as np

from ._jit import jit
from .nearest import row_at


@jit
def cells(index, shape, lo, size, dims):
    """Bucket points into a grid of cells: the input of :func:`cell_nearest`.

    ``index``: increasing flat C-order indices into a grid of ``shape``; ``lo``: the grid position of
    cell (0, 0, 0)'s low corner; ``size``: cell edge per axis (grid points); ``dims``: cells per
    axis. Returns the points as float64 coordinates ``(n, 3)`` grouped by cell, ``start`` (the
    points of the ``c``-th non-empty cell are rows ``start[c]:start[c + 1]``) and ``box``
    ``(m, 6)``: each non-empty cell's tight box (low and high per axis) of its points. A counting
    sort: linear in the points and cells.
    """
    n = index.size
    n1 = shape[1]
    n2 = shape[2]
    ncell = dims[0] * dims[1] * dims[2]
    cid = np.empty(n, np.int64)
    coords = np.empty((n, 3), np.int64)
    count = np.zeros(ncell + 1, np.int64)
    row_start = np.int64(1)
    row_end = np.int64(0)
    i0 = i1 = np.int64(0)
    for i in range(n):
        p = index[i]
        if p < row_start or p >= row_end:  # divisions once per grid row (increasing indices)
            row_start, i0, i1 = row_at(p, n1, n2)
            row_end = row_start + n2
        coords[i, 0] = i0
        coords[i, 1] = i1
        coords[i, 2] = p - row_start
        c = ((i0 - lo[0]) // size[0] * dims[1] + (i1 - lo[1]) // size[1]) * dims[2] \
            + (coords[i, 2] - lo[2]) // size[2]
        cid[i] = c
        count[c + 1] += 1
    nonempty = 0
    for c in range(ncell):
        nonempty += count[c + 1] > 0
        count[c + 1] += count[c]
    pts = np.empty((n, 3), np.float64)
    fill = count[:ncell].copy()
    for i in range(n):
        q = fill[cid[i]]
        pts[q, 0] = coords[i, 0]
        pts[q, 1] = coords[i, 1]
        pts[q, 2] = coords[i, 2]
        fill[cid[i]] = q + 1
    start = np.empty(nonempty + 1, np.int64)
    box = np.empty((nonempty, 6), np.float64)
    m = 0
    for c in range(ncell):
        if count[c + 1] == count[c]:
            continue
        start[m] = count[c]
        for a in range(3):
            box[m, 2 * a] = np.inf
            box[m, 2 * a + 1] = -np.inf
        for q in range(count[c], count[c + 1]):
            for a in range(3):
                box[m, 2 * a] = min(box[m, 2 * a], pts[q, a])
                box[m, 2 * a + 1] = max(box[m, 2 * a + 1], pts[q, a])
        m += 1
    start[nonempty] = n
    return pts, start, box


@jit
def _cell_best(pts, p0, p1, query, qi, s0, s1, s2, best):
    """The least of ``best`` and the squared distances from query ``qi`` to points ``p0:p1``."""
    q0 = np.float64(query[qi, 0])
    q1 = np.float64(query[qi, 1])
    q2 = np.float64(query[qi, 2])
    for p in range(p0, p1):
        t0 = s0 * (q0 - pts[p, 0])
        t1 = s1 * (q1 - pts[p, 1])
        t2 = s2 * (q2 - pts[p, 2])
        best = min(best, (t0 * t0 + t1 * t1) + t2 * t2)
    return best


@jit
def cell_nearest(pts, start, box, query, blocks, spacing, out, nchunks):
    """Exact distances from each of ``query`` (int64 ``(m, 3)`` grid coordinates) to the nearest of
    the points bucketed by :func:`cells`, into ``out`` (float64, not squared).

    Queries come in blocks of neighbours (``query[blocks[t]:blocks[t + 1]]``, e.g. the corners of
    one stray voxel). Per block: the squared distance from the block's box to every non-empty
    cell's box (a lower bound for any of its queries and the cell's points); per query, the points
    of the nearest cell first, then every cell whose bound is below the query's best value so far.
    Serial (``nchunks`` ranges of blocks in turn; the engine runs ranges of blocks on threads side
    by side). For queries far from every point, at a cost of the cells once per block plus a few
    cells' points per query, where an ordered search would visit every grid offset out to the
    distance. Arithmetic: ``((s0*d0)**2 + (s1*d1)**2) + (s2*d2)**2``, as the ordered search along the
    last axis and the transform compute it; the bounds use the same operations on differences no
    larger, so (rounding being monotone) no skipped cell holds a smaller value.
    """
    s0, s1, s2 = spacing[0], spacing[1], spacing[2]
    nblocks = blocks.size - 1
    ncell = box.shape[0]
    for ch in range(nchunks):
        bound = np.empty(ncell, np.float64)
        cand = np.empty(ncell, np.int64)
        for bk in range(nblocks * ch // nchunks, nblocks * (ch + 1) // nchunks):
            lo0 = hi0 = np.float64(query[blocks[bk], 0])
            lo1 = hi1 = np.float64(query[blocks[bk], 1])
            lo2 = hi2 = np.float64(query[blocks[bk], 2])
            for qi in range(blocks[bk], blocks[bk + 1]):
                lo0 = min(lo0, query[qi, 0])
                hi0 = max(hi0, query[qi, 0])
                lo1 = min(lo1, query[qi, 1])
                hi1 = max(hi1, query[qi, 1])
                lo2 = min(lo2, query[qi, 2])
                hi2 = max(hi2, query[qi, 2])
            first = 0
            for c in range(ncell):
                t0 = s0 * max(box[c, 0] - hi0, lo0 - box[c, 1], 0.0)
                t1 = s1 * max(box[c, 2] - hi1, lo1 - box[c, 3], 0.0)
                t2 = s2 * max(box[c, 4] - hi2, lo2 - box[c, 5], 0.0)
                bound[c] = (t0 * t0 + t1 * t1) + t2 * t2
                if bound[c] < bound[first]:
                    first = c
            # every query's best over the nearest cell; the worst of them bounds the block
            worst = 0.0
            for qi in range(blocks[bk], blocks[bk + 1]):
                best = _cell_best(pts, start[first], start[first + 1], query, qi, s0, s1, s2, np.inf)
                out[qi] = best
                worst = max(worst, best)
            ncand = 0
            for c in range(ncell):  # the cells that may hold something nearer for some query
                if bound[c] < worst and c != first:
                    cand[ncand] = c
                    ncand += 1
            for qi in range(blocks[bk], blocks[bk + 1]):
                best = out[qi]
                for t in range(ncand):
                    c = cand[t]
                    if bound[c] < best:
                        best = _cell_best(pts, start[c], start[c + 1], query, qi, s0, s1, s2, best)
                out[qi] = np.sqrt(best)


@jit
def nearest_of_all(pts, query, spacing, out):
    """Exact distances from each of ``query`` (int64 ``(m, 3)``) to the nearest of ``pts`` (float64
    ``(n, 3)`` grid coordinates), every pair compared: for a few far queries, where bucketing the
    points would cost more (and compile more) than the pairs. Arithmetic of :func:`cell_nearest`."""
    for qi in range(query.shape[0]):
        out[qi] = np.sqrt(_cell_best(pts, 0, pts.shape[0], query, qi, spacing[0], spacing[1], spacing[2], np.inf))
