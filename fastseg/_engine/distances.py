"""Surfaces and exact surface distances inside a crop: the engine of every distance metric.

For two masks already cropped to the bounding box of their union (:mod:`fastseg._engine.counts`):

1. the surface elements of each mask: surfels on the voxel-corner lattice weighted by physical area
   (``surface="surfel"``), or boundary voxels weighted 1 (``surface="voxel"``);
2. the exact distance from each element to the nearest element of the other surface: an ordered
   search around each element (:mod:`fastseg._kernels.nearest`; its cost follows the distances found,
   a few voxels for nearly every element of two segmentations of one structure), elements far from
   the other surface finished by pairs, a longer search or the full anisotropic Euclidean distance
   transform, whichever bounds cheapest. Exact either way;
3. both directed distance sets, sorted, with their weights (:func:`distances_in_crop`).

Surface models (:class:`fastseg.conventions.Convention`): surfels; boundary voxels with a connectivity
and a rule for the image edge (a background margin, no boundary there, or plastimatch's adaptive rule;
:func:`boundary`), their distances exact or by plastimatch's vector propagation
(:mod:`fastseg._kernels.danielsson`); every object voxel (the distance of a voxel inside the other
mask is 0, of one outside the distance to the other mask's face-boundary voxels, which hold the
nearest object voxel of any outside point).

Also the inner bands of two cropped masks for boundary IoU (:func:`band_counts`). Everything is in the
units of ``spacing`` (array-axis order).

Any finite positive spacing: squared distances and surfel areas of a spacing of 1e-200 or 1e200 would
leave float64's range, so such a spacing is first scaled by a power of two (:func:`unit_spacing`),
the computation runs on the scaled spacing and distances (and band widths) are scaled back. Scaling
by a power of two is exact, so the result is the one of an exact computation at the given spacing;
spacings whose voxel sizes all lie in [2**-64, 2**64] are used as given, unchanged to the bit. (Axes
whose voxel sizes differ by more than 2**250 cannot share float64 squares: validation refuses them.)
"""
import functools
import math

import numpy as np

from .. import _surfel_tables
from .. import _validation as v
from .._kernels import danielsson as _kdan
from .._kernels import edt as _kedt
from .._kernels import nearest as _knear
from .._kernels import surface as _ksurf
from .._kernels import tuning
from .._kernels._jit import num_threads, serial_if_small
from .counts import as3, spacing3

__all__ = ["distances_in_crop", "band_counts", "sort_by_distance", "distances_at", "line_axis", "offsets",
           "unit_spacing", "PLAIN_SPACING", "boundary", "crop_edges"]

#: spacings used as given: with every voxel size in this range, squares of distances (up to 2**31
#: voxels) and surfel areas stay far inside float64's range; outside, :func:`unit_spacing` scales them
PLAIN_SPACING = (2.0 ** -64, 2.0 ** 64)


def unit_spacing(sp):
    """``(sp * 2**-k, k)``: the spacing scaled by a power of two for the distance kernels.

    ``k = 0`` (the spacing itself, nothing changes) when every voxel size lies in
    :data:`PLAIN_SPACING`; otherwise the largest scaled voxel size lies in [0.5, 1) (and, within
    ``fastseg._validation.MAX_ANISOTROPY``, the smallest above 2**-251: squares stay normal floats).
    Distances computed on the scaled spacing times ``2**k`` are the exact distances at ``sp``:
    multiplying by a power of two is exact in floating point, only the range of the squares changes.
    """
    hi = float(np.max(sp))
    if PLAIN_SPACING[0] <= float(np.min(sp)) and hi <= PLAIN_SPACING[1]:
        return sp, 0
    k = math.frexp(hi)[1]
    return np.ldexp(sp, -k), k


def sort_by_distance(d, w, codes=None, table=None):
    """Sort by distance, ties by weight (the order surface-distance uses).

    Unit weights (voxel mode, ``codes`` None) need no permutation: a plain sort. Surfels: each
    weight is ``table[code]``, a handful of distinct values, so the pairs are put in weight classes
    (a radix pass), the distances of each class sorted on their own (their weights are all equal),
    and the sorted classes merged by distance with a stable sort that keeps the class (weight)
    order among equal distances. On 467k grey-matter surfels, thick with ties: 7 ms against 42 ms
    for an argsort then sorting tied weights, and ``np.lexsort((w, d))`` is slower still.
    """
    if codes is None:
        d = np.sort(d)
    else:
        values, cls = np.unique(table, return_inverse=True)  # 256 codes -> class, classes by weight
        cls = cls.astype(np.uint8)[codes] if values.size <= 256 else cls[codes]
        order = np.argsort(cls, kind="stable")
        d = d[order]
        counts = np.bincount(cls, minlength=values.size)
        ends = np.cumsum(counts)
        for k in np.flatnonzero(counts > 1):
            d[ends[k] - counts[k]:ends[k]].sort()
        w = np.repeat(values, counts)
        merge = np.argsort(d, kind="stable")  # runs already sorted: the merge is cheap
        d, w = d[merge], w[merge]
    d.flags.writeable = False  # derived metrics rely on the order
    w.flags.writeable = False
    return d, w


def crop_edges(box, shape):
    """Which faces of the crop ``box`` (a tuple of slices) lie on the image edge: ``((low, high), ...)``
    per axis, for conventions whose image edge is not a boundary."""
    return tuple((sl.start == 0, sl.stop == n) for sl, n in zip(box, shape))


def boundary(mask3, connectivity, is2d, outside=None):
    """uint8 boundary voxels of a cropped mask (3D view). ``outside``: per axis of the 3D view, whether
    what lies beyond each face (low, high) counts as foreground (then voxels there are no boundary);
    None or all False: background everywhere (the boundary kernel's rule)."""
    if outside is None or not any(any(f) for f in outside):
        return _ksurf.boundary_voxels(mask3, connectivity, is2d, tuning.NCHUNKS)
    axes = range(1, 3) if is2d else range(3)
    shape = tuple(n + 2 if a in axes else n for a, n in enumerate(mask3.shape))
    padded = np.zeros(shape, np.uint8)
    for a in axes:
        for side, fill in zip((0, -1), outside[a]):
            if fill:
                slab = [slice(None)] * 3
                slab[a] = side
                padded[tuple(slab)] = 1
    inner = tuple(slice(1, -1) if a in axes else slice(None) for a in range(3))
    padded[inner] = mask3
    return np.ascontiguousarray(_ksurf.boundary_voxels(padded, connectivity, is2d, tuning.NCHUNKS)[inner])


def _outside(conv, shape3, is2d, edges):
    """The ``outside`` rule of :func:`boundary` for a convention's voxel surface on a crop."""
    if conv.edge == "adaptive":  # plastimatch: foreground beyond the axes of one voxel
        return tuple((n == 1 and not (is2d and a == 0),) * 2 for a, n in enumerate(shape3))
    if conv.edge == "foreground" and edges is not None:
        return ((False, False),) * (3 - len(edges)) + tuple(edges)
    return None


def _surface(mask3, is2d, conv, table, edges=None):
    """Flat indices of the surface elements of a cropped mask, their weights, the grid shape and
    each element's neighbour code (surfels; None for boundary voxels, weighted 1)."""
    if conv.surface == "surfel":
        codes, index, weight = _ksurf.surfels(mask3, table, is2d, tuning.NCHUNKS)
        return index, weight, codes.shape, codes.reshape(-1)[index]
    edges = boundary(mask3, conv.connectivity, is2d, _outside(conv, mask3.shape, is2d, edges))
    index = np.flatnonzero(edges)
    return index, np.ones(index.size), edges.shape, None


def _object_distances(p3, r3, is2d, sp3):
    """Distance from every voxel of ``p3`` to the nearest voxel of ``r3`` (0 inside it), sorted, and
    the unit weights."""
    index = np.flatnonzero(p3)
    out = index[r3.reshape(-1)[index] == 0]
    source = np.flatnonzero(_ksurf.boundary_voxels(r3, 1, is2d, tuning.NCHUNKS))
    d = np.zeros(index.size)
    d[index.size - out.size:] = np.sort(distances_at(source, p3.shape, sp3, out))  # > 0 after the 0s
    w = np.ones(index.size)
    d.flags.writeable = False
    w.flags.writeable = False
    return d, w


def _danielsson_distances(ip, ir, shape, sp3):
    """plastimatch's distances from the boundary voxels of each mask to those of the other: ``(d_pr,
    d_rp)``, the two maps side by side when threads allow (the kernel releases the GIL)."""
    s = np.asarray(sp3[::-1], np.float32)  # plastimatch's (i, j, k) order, its float32 spacing

    def one(query, source):
        features = np.zeros(int(np.prod(shape)), np.uint8)
        features[source] = 1
        dmap = _kdan.danielsson(features.reshape(shape), s * s)
        return dmap.reshape(-1)[query].astype(np.float64)

    if num_threads() < 2 or ip.size + ir.size < 4096:
        return one(ip, ir), one(ir, ip)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastseg-danielsson") as pool:
        a = pool.submit(one, ip, ir)
        b = pool.submit(one, ir, ip)
        return a.result(), b.result()


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


def distances_at(source_index, shape, sp3, query_index):
    """Distances from the grid points ``query_index`` to the nearest of ``source_index`` (exact).

    ``source_index``: increasing flat indices into a grid of ``shape``, as the surface kernels give.

    An ordered search around each query (:mod:`fastseg._kernels.nearest`); queries it leaves
    unresolved (far from every source point) are finished by the cheapest exact way (see ``tuning.SEARCH_TIERS``).
    """
    if query_index.size == 0:
        return np.zeros(0)
    if source_index.size == 0:
        return np.full(query_index.size, np.inf)
    n = int(np.prod(shape))
    r = line_axis(shape, sp3)
    lines = np.empty(n, np.int32)
    if r == 2:
        _knear.row_distances(source_index, lines.reshape(-1, shape[2]), tuning.NCHUNKS)
    else:
        features = np.zeros(n, np.uint8)
        features[source_index] = 1
        before = int(np.prod(shape[:r]))
        _knear.line_distances(features.reshape(before, shape[r], -1), lines.reshape(before, shape[r], -1),
                              tuning.NCHUNKS)
    shape64 = np.asarray(shape, np.int64)
    out = np.empty(query_index.size)
    todo = np.arange(query_index.size)
    for count in tuning.SEARCH_TIERS:
        if count != tuning.SEARCH_TIERS[0]:
            transform = tuning.TRANSFORM_COST * n
            if todo.size * source_index.size <= min(transform, 2 * todo.size * count):
                got = np.empty(todo.size)
                _knear.brute(source_index, query_index[todo], shape64, sp3, got, 64)
                out[todo] = got
                return out
            if 2 * todo.size * count > transform:
                break
        da, db, c, c_max = offsets(shape, sp3, r, count)
        got = np.empty(todo.size)
        _knear.search(lines, shape64, r, float(sp3[r]), query_index[todo], da, db, c, c_max, got, tuning.NCHUNKS)
        out[todo] = got
        todo = todo[got < 0]
        if todo.size == 0:
            return out
    features = np.zeros(n, np.uint8)
    features[source_index] = 1
    sq = np.empty(shape, np.float64)  # numpy's allocator is faster than numba's for large outputs
    _kedt.sq_distance_to_features_into(features.reshape(shape), sp3, sq, tuning.SMALL_TRANSFORM)
    out[todo] = np.sqrt(sq.reshape(-1)[query_index[todo]])
    return out


def distances_in_crop(pc, rc, sp, conv, edges=None):
    """Directed distance sets of two cropped masks (C-ordered uint8, 2D or 3D, union inside).

    Distances are in the units of ``sp``, at any finite positive spacing (:func:`unit_spacing`).
    Surfel weights are the areas (3D) or lengths (2D) at ``sp`` when its voxel sizes lie in
    :data:`PLAIN_SPACING`, else at the scaled spacing (areas times distances would leave float64's
    range): the metrics use only their ratios, which a power-of-two scaling leaves unchanged.
    ``edges`` (:func:`crop_edges`): which crop faces lie on the image edge; required by conventions
    whose image edge is not a boundary (``edge="foreground"``), for which a crop alone cannot tell a
    voxel on the image edge from one on the crop's edge inside the image.
    """
    if conv.surface == "voxel" and conv.edge == "foreground" and edges is None:
        raise v.InputValueError(
            f"the {conv.name!r} convention (the image edge is not a boundary) needs to know where the "
            f"crop lies in the image, which this caller does not pass; compute this metric with "
            f"fastseg.surface_distances / fastseg.hausdorff (per label) or fastseg.conventions.table."
        )
    is2d = pc.ndim == 2
    if is2d and conv.surface == "surfel" and conv.plane == "slab":  # pymia: a 3D slab, 1.0 thick
        pc, rc, sp, is2d = pc[:, :, None], rc[:, :, None], np.append(sp, 1.0), False
    sp, k = unit_spacing(sp)
    sp3 = spacing3(sp)
    p3 = v.readonly(np.ascontiguousarray(as3(pc)))
    r3 = v.readonly(np.ascontiguousarray(as3(rc)))
    table = _surfel_tables.areas(tuple(sp)) if conv.surface == "surfel" else np.zeros(1)
    cp = cr = None
    with serial_if_small(p3.size):
        if conv.surface == "object":
            d_pr, wp = _object_distances(p3, r3, is2d, sp3)
            d_rp, wr = _object_distances(r3, p3, is2d, sp3)
            if not k:
                return d_pr, wp, d_rp, wr  # sorted already (0s first), unit weights
        else:
            ip, wp, shape, cp = _surface(p3, is2d, conv, table, edges)
            ir, wr, _, cr = _surface(r3, is2d, conv, table, edges)
            if conv.transform == "danielsson":
                d_pr, d_rp = _danielsson_distances(ip, ir, shape, sp3)
            else:
                d_pr = distances_at(ir, shape, sp3, ip)
                d_rp = distances_at(ip, shape, sp3, ir)
    if k:
        with np.errstate(over="ignore", under="ignore"):  # a distance beyond float64 is inf, silently
            d_pr, d_rp = np.ldexp(d_pr, k), np.ldexp(d_rp, k)
    return (*sort_by_distance(d_pr, wp, cp, table), *sort_by_distance(d_rp, wr, cr, table))


def band_counts(pc, rc, sp, width, conv=None):
    """``(|Bp & Br|, |Bp | Br|)`` for the inner bands of two cropped masks (2D or 3D), at any finite
    positive spacing (spacing and width scaled by the same power of two, :func:`unit_spacing`).
    ``conv.band == "voxels"`` (MetricsReloaded): a mask's voxels closer than ``width`` voxels (unit
    spacing, strictly) to its own border voxels (``conv.connectivity``, the image edge a boundary)."""
    if conv is not None and conv.band == "voxels":
        with serial_if_small(pc.size):
            return _voxel_band_counts(pc, rc, width, conv.connectivity)
    sp, k = unit_spacing(sp)
    sp3 = spacing3(sp)
    width = math.ldexp(width, -k)
    w2 = width * width
    bands = []
    with serial_if_small(pc.size):
        return _band_counts(pc, rc, sp3, w2, bands)


def _voxel_band_counts(pc, rc, width, connectivity):
    bands = []
    for m in (pc, rc):
        m3 = np.ascontiguousarray(as3(m))
        border = _ksurf.boundary_voxels(m3, connectivity, pc.ndim == 2, tuning.NCHUNKS)
        sq = np.empty(m3.shape, np.float64)
        _kedt.sq_distance_to_features_into(border, np.ones(3), sq, tuning.SMALL_TRANSFORM)
        bands.append((m3 != 0) & (np.sqrt(sq) < width))
    return int(np.count_nonzero(bands[0] & bands[1])), int(np.count_nonzero(bands[0] | bands[1]))


def _band_counts(pc, rc, sp3, w2, bands):
    for m in (pc, rc):
        padded = np.zeros(tuple(n + 2 for n in as3(m).shape), np.uint8)
        inner = tuple(slice(1, -1) for _ in range(3))
        padded[inner] = as3(m)
        if pc.ndim == 2:  # no padding along the dummy axis
            padded = np.ascontiguousarray(padded[1:2])
            inner = (slice(0, 1), slice(1, -1), slice(1, -1))
        background = (padded == 0).view(np.uint8)
        sq = np.empty(background.shape, np.float64)
        _kedt.sq_distance_to_features_into(background, sp3, sq, tuning.SMALL_TRANSFORM)
        sq = sq[inner]
        bands.append((as3(m) != 0) & (sq <= w2))
    inter = int(np.count_nonzero(bands[0] & bands[1]))
    union = int(np.count_nonzero(bands[0] | bands[1]))
    return inter, union
