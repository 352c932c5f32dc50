"""Exact distances from query grid points to the nearest of a set of source grid points, at a cost
that follows the points, not their bounding box.

:func:`distances_at` is the distance engine's one search (surface distances of every convention,
object-voxel distances). Both point sets are flat C-order indices into a grid; the answer is exact
(the minimum over every source point, in the arithmetic of :mod:`fastseg._kernels.nearest`).

Stray voxels (salt noise, a false-positive island at the other end of the scan) spread the points
over the whole image, and a dense per-grid-point structure over their bounding box would cost the
whole image per structure. So the dense work is confined to a *search grid*: the box of both sets,
cut down to within :data:`fastseg._kernels.tuning.SEARCH_MARGIN` of each set's own box. On two
segmentations of one structure that is their union box, as before; with salt it is the structure's
box plus a margin.

1. Queries inside the search grid: the ordered search around each query over the grid's line
   distances (:func:`fastseg._kernels.nearest.search_chunk`), against the sources inside the grid. A
   found distance is final when no source outside the grid can be nearer: the grid's faces beyond
   which sources lie are farther than it (otherwise the query is left for step 3). With the line
   axis last, two narrower searches go first and keep what is exact: the nearest source on the
   query's own row, found by walking the two sorted point lists side by side
   (:func:`fastseg._kernels.nearest.row_nearest`: on two segmentations of one structure most surface
   points lie on the other surface or a step along the row from it, and then no line distance is
   filled at all), then the offsets within ``tuning.NARROW_REACH`` steps over line distances filled
   only where those offsets read. Line distances over the whole grid are filled only for what is
   left.
2. Queries the first offset list leaves unresolved: a longer list, the full transform of the grid,
   or step 3, whichever bounds cheapest (``tuning.SEARCH_TIERS``).
3. Everything else (queries outside the grid, far from every source): every pair when that is
   a few ms of work (``tuning.FAR_PAIRS``), else the sources bucketed in cells, and per query the cells in the order of their distance bound
   (:func:`fastseg._kernels.cells.cell_nearest`), at the cost of the cells once per block of
   neighbouring queries plus a few cells' points per query.

The kernels are serial; their ranges of rows and queries run side by side on threads
(:mod:`fastseg._engine.chunks`).
"""
import functools
import math

import numpy as np

from .._kernels import cells as _kcells
from .._kernels import edt as _kedt
from .._kernels import nearest as _knear
from .._kernels import tuning
from .chunks import chunk_ranges, run_chunks

__all__ = ["pair_grid", "distances_at", "distance_pair", "line_axis", "offsets"]


def distances_at(source_index, shape, sp3, query_index):
    """Distances from the grid points ``query_index`` to the nearest of ``source_index`` (exact).

    ``source_index``: increasing flat indices into a grid of ``shape`` (3D; 2D as ``(1, H, W)``), as
    the surface kernels give; ``query_index``: flat indices (increasing is fastest); ``sp3``: the
    spacing per axis. Returns float64 distances in the units of ``sp3``; ``inf`` for every query when
    there is no source.
    """
    return _Grid(query_index, source_index, shape, sp3).directed(0)


def distance_pair(a, b, shape, sp3, boxes=None):
    """``(d_ab, d_ba)``: the distances from each point of ``a`` to the nearest of ``b`` and back, as
    :func:`distances_at` gives them; the search grid (it depends on both sets, and not on the
    direction) and the points' places in it are found once for both directions. ``a`` and ``b``:
    increasing flat indices (the surface kernels' order). ``boxes``: the sets' boxes ``[(lo, hi),
    (lo, hi)]`` (int64 (3,) each, inclusive) when the caller knows them, exactly (the search relies on
    them); else they are found from the points."""
    grid = pair_grid(a, b, shape, sp3, boxes)
    return grid.directed(0), grid.directed(1)


def pair_grid(a, b, shape, sp3, boxes=None):
    """:func:`distance_pair` in two steps: the grid of the two sets, whose ``directed(side)`` gives
    the distances from set ``side`` (0: ``a``) to the other; the two directions are independent
    (callers may run them on two threads)."""
    return _Grid(a, b, shape, sp3, boxes)


class _Grid:
    """The search grid of two point sets (module docstring) and their places in it."""

    def __init__(self, a, b, shape, sp3, boxes=None):
        self.sets = (a, b)
        self.shape = tuple(int(n) for n in shape)
        self.shape64 = np.asarray(self.shape, np.int64)
        self.sp3 = np.asarray(sp3, np.float64)
        if a.size == 0 or b.size == 0:
            return
        self.boxes = boxes or [_knear.index_box(x, self.shape64) for x in (a, b)]
        (alo, ahi), (blo, bhi) = self.boxes
        margin = np.ceil(tuning.SEARCH_MARGIN * float(self.sp3.min()) / self.sp3).astype(np.int64)
        self.glo = np.maximum(np.minimum(alo, blo), np.maximum(alo, blo) - margin)
        self.ghi = np.minimum(np.maximum(ahi, bhi), np.minimum(ahi, bhi) + margin)
        self.apart = bool(np.any(self.glo > self.ghi))  # the two sets lie far apart: no common grid
        self.whole = not self.apart and bool(np.all(self.glo == 0) and np.all(self.ghi == self.shape64 - 1))
        if self.apart or self.whole:  # whole: every point is in the grid, at its own index
            return
        self.gshape = tuple(int(n) for n in self.ghi - self.glo + 1)
        self.sub = []
        for x in (a, b):
            sub, inside = np.empty(x.size, np.int64), np.empty(x.size, np.bool_)
            n = _knear.to_box(x, self.shape64, self.glo, self.ghi, sub, inside)
            self.sub.append((sub, inside, n))

    def directed(self, side):
        """Distances from each point of set ``side`` (0 or 1) to the nearest of the other."""
        query_index, source_index = self.sets[side], self.sets[1 - side]
        if query_index.size == 0:
            return np.zeros(0)
        if source_index.size == 0:
            return np.full(query_index.size, np.inf)
        shape, sp3 = self.shape, self.sp3
        far = _Far(source_index, shape, sp3, self.boxes[1 - side])
        if self.apart:
            return far.distances(query_index)
        if self.whole:
            out = _grid_distances(source_index, shape, sp3, query_index, far)
        else:
            qry, q_in, nq = self.sub[side]
            src, s_in, ns = self.sub[1 - side]
            every = nq == query_index.size  # every query in the grid: its distances are the answer
            out = None if every and ns else np.full(query_index.size, -1.0)
            if nq and ns:
                partial = ns < source_index.size
                d = _grid_distances(src[s_in] if partial else src, self.gshape, sp3, qry if every else qry[q_in],
                                    far, partial)
                if partial:  # sources outside the grid: keep what none of them can beat
                    slo, shi = self.boxes[1 - side]
                    bound = np.empty(d.size)
                    _knear.outside_bound(query_index if every else query_index[q_in], self.shape64, sp3,
                                         self.glo, self.ghi, slo < self.glo, shi > self.ghi, bound)
                    d[d >= bound * (1.0 - 1e-9)] = -1.0  # ties (perhaps rounded apart) too: the cell search
                if every:
                    out = d
                else:
                    out[q_in] = d
        todo = np.flatnonzero(out < 0)
        if todo.size:
            out[todo] = far.distances(query_index[todo])
        return out


class _Far:
    """The cell search over every source point (step 3 of the module docstring), built on first use."""

    def __init__(self, source_index, shape, sp3, box):
        self.source_index = source_index
        self.box = box  # (lo, hi) of the source points, found with the search grid
        self.shape = shape
        self.sp3 = sp3
        self.built = None

    def _build(self):
        if self.built is None:
            sp3, shape64 = self.sp3, np.asarray(self.shape, np.int64)
            lo, hi = self.box
            extent = hi - lo + 1
            # cells of about equal physical size, about sqrt(n / 4) points each on a surface
            n = self.source_index.size
            edge = min(max(math.sqrt(math.sqrt(n / 4.0)), 4.0), 64.0) * float(sp3.min())
            size = np.minimum(np.maximum(np.round(edge / sp3), 1), extent).astype(np.int64)
            dims = (extent + size - 1) // size
            self.built = _kcells.cells(self.source_index, shape64, lo, size, dims)
        return self.built

    def cost(self, nquery):
        """Estimated pair steps of :meth:`distances` for ``nquery`` queries: every pair, or in blocks
        of a few the cells' bounds once per block and the points of a few cells per query."""
        n = self.source_index.size
        cells = max(1.0, n / max(1.0, math.sqrt(n / 4.0)))
        return min(nquery * n, nquery * (cells / 4.0 + 8.0 * n / cells))

    def distances(self, query_index):
        cq = _coords(query_index, self.shape)
        if query_index.size * self.source_index.size <= tuning.FAR_PAIRS:  # a few ms: every pair
            pts = _coords(self.source_index, self.shape).astype(np.float64)
            out = np.empty(cq.shape[0])
            _kcells.nearest_of_all(pts, cq, self.sp3, out)
            return out
        pts, start, box = self._build()
        # blocks of neighbours (the corners of a stray voxel, a patch of a far surface): queries
        # grouped by a coarse grid of BLOCK points a side, at most BLOCK_SIZE per block
        key = cq // tuning.FAR_BLOCK
        order = np.lexsort((key[:, 2], key[:, 1], key[:, 0]))
        cq, key = np.ascontiguousarray(cq[order]), key[order]
        new = np.flatnonzero(np.any(key[1:] != key[:-1], axis=1)) + 1
        starts = np.concatenate([[0], new, [cq.shape[0]]])
        blocks = np.unique(np.concatenate([starts, *(np.arange(a, b, tuning.FAR_BLOCK_SIZE)
                                                     for a, b in zip(starts[:-1], starts[1:])
                                                     if b - a > tuning.FAR_BLOCK_SIZE)]))
        got = np.empty(cq.shape[0])
        blocks = blocks.astype(np.int64)
        run_chunks(lambda lo, hi: _kcells.cell_nearest(pts, start, box, cq, blocks[lo:hi + 1], self.sp3, got, 1),
                   chunk_ranges(blocks.size - 1, 64 * cq.shape[0]))
        out = np.empty(cq.shape[0])
        out[order] = got
        return out


def _coords(index, shape):
    """int64 ``(n, 3)`` grid coordinates of flat C-order indices."""
    return np.ascontiguousarray(np.stack(np.unravel_index(index, shape), axis=1).astype(np.int64, copy=False))


def _grid_distances(source_index, shape, sp3, query_index, far, partial=False):
    """Distances by the ordered search on one grid (steps 1 and 2); -1 where the caller's cell search
    must finish: where it is the cheapest way, and with ``partial`` (some sources lie outside this
    grid) wherever the first offset list leaves a query unresolved (the cell search sees them all).

    With the line axis last (rows), two narrower searches go first, each final where it is exact:
    the nearest source on each query's own row, by walking both sorted lists (two segmentations of
    one structure: every point on the other surface, and every point a step along the row from it);
    then, for the rest, the offsets within ``tuning.NARROW_REACH`` steps over line distances filled
    only where they read (:func:`_near_lines`); then every line whole, unless the cell search costs
    fewer pair steps than the grid has points (a few far points, as stray voxels make: the lines of
    a whole-image grid would cost 4 bytes a voxel). Each search goes on from where the one before
    stopped (the offsets it has not seen, from the best value it found)."""
    n = int(np.prod(shape))
    r = line_axis(shape, sp3)
    lines = np.empty(n, np.int32)
    shape64 = np.asarray(shape, np.int64)
    s_r = float(sp3[r])
    out = np.empty(query_index.size)
    todo = None  # every query: the first list searches them in place, without a copy
    seen = -1.0  # the offsets with c below this were searched for every query of todo
    none = np.empty(0)

    def search(qs, got, da, db, c, c_max, best):
        first = int(np.searchsorted(c, seen)) if seen > 0 else 0  # c = seen: perhaps left out before
        da, db, c = da[first:], db[first:], c[first:]
        run_chunks(lambda lo, hi: _knear.search_chunk(lines, shape64, r, s_r, qs, da, db, c, c_max, got, lo, hi,
                                                      best), chunk_ranges(qs.size, 64 * qs.size))

    if r == 2:
        rows = lines.reshape(-1, shape[2])
        big = np.int32(2 * shape[2] + 2)
        sa, sb = float(sp3[0]), float(sp3[1])
        seen = min(sa * sa if shape[0] > 1 else math.inf, sb * sb if shape[1] > 1 else math.inf)
        run_chunks(lambda lo, hi: _knear.row_nearest(query_index, source_index, shape[2], s_r, seen, out, lo, hi),
                   chunk_ranges(query_index.size, 16 * query_index.size))
        todo = np.flatnonzero(out < 0)
        if todo.size == 0:
            return out
        qs = query_index[todo]
        carry = -out[todo]
        near = _near_lines(source_index, shape, sp3, qs, rows, big, carry)
        if near is not None:
            got = np.empty(todo.size)
            search(qs, got, *near, carry)
            seen = near[3]
            out[todo] = got
            todo = todo[got < 0]
            if todo.size == 0:
                return out
        if far.cost(todo.size) <= n:  # a few far points: pair steps, not every line of the grid
            out[todo] = -1.0
            return out
        whole = np.empty(0, np.int64)  # every row whole
        run_chunks(lambda lo, hi: _knear.span_chunk(source_index, rows, whole, whole, lo, hi, big),
                   chunk_ranges(rows.shape[0], n))
    elif far.cost(query_index.size) <= n:
        return np.full(query_index.size, -1.0)
    else:
        features = np.zeros(n, np.uint8)
        features[source_index] = 1
        before = int(np.prod(shape[:r]))
        f3, l3 = features.reshape(before, shape[r], -1), lines.reshape(before, shape[r], -1)
        big = np.int32(2 * shape[r] + 2)
        run_chunks(lambda lo, hi: _knear.line_chunk(f3, l3, lo, hi, big), chunk_ranges(before, n))
    for tier, count in enumerate(tuning.SEARCH_TIERS):
        if tier:
            transform = tuning.TRANSFORM_COST * n
            if partial or far.cost(todo.size) <= min(2 * todo.size * count, transform):
                out[todo] = -1.0  # the cell search (or every pair) finishes them
                return out
            if 2 * todo.size * count > transform:
                break
        listed = offsets(shape, sp3, r, count)
        if todo is None:
            search(query_index, out, *listed, none)
            todo = np.flatnonzero(out < 0)
        else:
            got = np.empty(todo.size)
            search(query_index[todo], got, *listed, -out[todo])
            out[todo] = got
            todo = todo[got < 0]
        seen = listed[3]
        if todo.size == 0:
            return out
    if partial:
        out[todo] = -1.0
        return out  # -1 left: finished by the cell search
    features = np.zeros(n, np.uint8)
    features[source_index] = 1
    sq = np.empty(shape, np.float64)  # numpy's allocator is faster than numba's for large outputs
    _kedt.sq_distance_to_features_into(features.reshape(shape), sp3, sq, tuning.SMALL_TRANSFORM)
    out[todo] = np.sqrt(sq.reshape(-1)[query_index[todo]])
    return out


def _near_lines(source_index, shape, sp3, query_index, rows, big, carry):
    """The narrow search (line axis 2): the line distances filled only where a search over the
    offsets within ``tuning.NARROW_REACH`` steps reads them, from the smallest to the largest
    position of the queries in the rows around each row (not the whole box: inside a structure no
    query reads them); returns that offset list ``(da, db, c, c_max)`` to search ``query_index``
    with, or None when the grid is small, when those reads cover most of the grid
    (``tuning.NARROW_SHARE``), or when it would leave most queries to the whole lines anyway: fewer
    than ``tuning.NARROW_SURE`` of them are certain to be resolved, their point on their own row
    (``carry``: the squared distance to it) lying within the list's reach.

    ``c_max`` is the squared in-plane length of the nearest offset the list leaves out (beyond the
    rows it spans): a query found at most that far is exact, as no unlisted line can hold a nearer
    point; the others are searched again once every line is whole."""
    n = rows.size
    if n < tuning.NARROW_MIN or query_index.size == 0:
        return None
    sa, sb = float(sp3[0]), float(sp3[1])
    reach = tuning.NARROW_REACH * min(sa, sb)
    ra, rb = min(int(reach / sa), shape[0] - 1), min(int(reach / sb), shape[1] - 1)
    ta, tb = sa * (ra + 1), sb * (rb + 1)  # the arithmetic of the offsets' c (_offset_list)
    c_max = min(ta * ta if ra + 1 < shape[0] else math.inf, tb * tb if rb + 1 < shape[1] else math.inf)
    if np.count_nonzero(carry <= c_max) < tuning.NARROW_SURE * query_index.size:
        return None
    extents = np.full(rows.shape[0], shape[2], np.int64), np.full(rows.shape[0], -1, np.int64)
    _knear.row_extents(query_index, shape[2], *extents)
    lo, hi = np.empty(rows.shape[0], np.int64), np.empty(rows.shape[0], np.int64)
    _knear.dilate_extents(*extents, shape[0], shape[1], ra, rb, lo, hi)
    span = int(np.sum(np.maximum(hi - lo + 1, 0)))
    if span > tuning.NARROW_SHARE * n:
        return None
    run_chunks(lambda r0, r1: _knear.span_chunk(source_index, rows, lo, hi, r0, r1, big),
               chunk_ranges(rows.shape[0], span))
    return (*_offset_list(sa, sb, ra, rb, c_max), c_max)


def line_axis(shape, sp3):
    """The line axis of the ordered search: the finest spacing among axes longer than 1 (ties: the
    later, contiguous axis), so that the two offset axes span the most area per grid point."""
    axes = [a for a in range(3) if shape[a] > 1] or [2]
    return min(reversed(axes), key=lambda a: sp3[a])


def offsets(shape, sp3, r, count):
    """In-plane offsets of the ordered search: about ``count`` of them, sorted by squared length.

    Returns ``(da, db, c, c_max)``: every offset inside the grid with ``c <= c_max``; ``c_max`` is
    ``inf`` when that is every offset of the grid (the list is complete). Read-only arrays, cached.
    """
    a, b = [ax for ax in range(3) if ax != r]
    sa, sb = float(sp3[a]), float(sp3[b])
    c_max = count * sa * sb / math.pi  # the disc of ``count`` grid points
    ra = min(int(math.sqrt(c_max) / sa), shape[a] - 1)
    rb = min(int(math.sqrt(c_max) / sb), shape[b] - 1)
    ta, tb = sa * ra, sb * rb
    if ra == shape[a] - 1 and rb == shape[b] - 1 and ta * ta + tb * tb <= c_max:
        c_max = math.inf  # the corner, the farthest offset, is in: every offset of the grid is
    return (*_offset_list(sa, sb, ra, rb, c_max), c_max)


@functools.lru_cache(maxsize=64)
def _offset_list(sa, sb, ra, rb, c_max):
    da, db = np.meshgrid(np.arange(-ra, ra + 1), np.arange(-rb, rb + 1), indexing="ij")
    da, db = da.ravel(), db.ravel()
    ta, tb = sa * da, sb * db
    c = ta * ta + tb * tb  # the transform's order of operations (see _kernels.nearest)
    keep = c <= c_max
    order = np.argsort(c[keep], kind="stable")
    out = da[keep][order], db[keep][order], c[keep][order]
    for x in out:
        x.flags.writeable = False
    return out
