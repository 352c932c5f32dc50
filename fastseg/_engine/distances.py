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

Everything is in the units of ``spacing`` (array-axis order); the bands of boundary IoU are
:mod:`fastseg._engine.bands`.

Any finite positive spacing: squared distances and surfel areas of a spacing of 1e-200 or 1e200 would
leave float64's range, so such a spacing is first scaled by a power of two (:func:`unit_spacing`),
the computation runs on the scaled spacing and distances (and band widths) are scaled back. Scaling
by a power of two is exact, so the result is the one of an exact computation at the given spacing;
spacings whose voxel sizes all lie in [2**-64, 2**64] are used as given, unchanged to the bit. (Axes
whose voxel sizes differ by more than 2**250 cannot share float64 squares: validation refuses them.)
"""
import math

import numpy as np

from .. import _surfel_tables
from .. import _validation as v
from .._kernels import danielsson as _kdan
from .._kernels import label_surface as _klabel
from .._kernels import surface as _ksurf
from .._kernels import tuning
from .._kernels._jit import num_threads, serial_if_small, thread_limit
from .counts import as3, spacing3
from .chunks import chunk_ranges, run_chunks, side_by_side
from .search import distance_pair, distances_at, line_axis, offsets, pair_grid
from .sets import sort_by_distance, unit_weights

__all__ = ["distances_in_crop", "CropSurfaces", "LabelSurfaces", "labelwise", "label_surfels", "label_boundaries",
           "distances_at", "line_axis", "offsets", "unit_spacing", "PLAIN_SPACING", "boundary",
           "crop_edges"]

#: the structure (slot) of each value of a 0/1 uint8 mask for :func:`fastseg._kernels.surface.label_surfels`
MASK_SLOT = np.full(256, -1, np.int32)
MASK_SLOT[1] = 0
MASK_SLOT.flags.writeable = False

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


def crop_edges(box, shape):
    """Which faces of the crop ``box`` (a tuple of slices) lie on the image edge: ``((low, high), ...)``
    per axis, for conventions whose image edge is not a boundary."""
    return tuple((sl.start == 0, sl.stop == n) for sl, n in zip(box, shape))


def dense_boundary(mask3, connectivity, is2d):
    """uint8 boundary voxels of a 3D-view mask (:func:`fastseg._kernels.surface.boundary_voxels`),
    its row ranges on threads side by side."""
    nz, ny, nx = mask3.shape
    out = np.empty(mask3.shape, np.uint8)
    wide, nwide, narrow, nnarrow = _ksurf.neighbourhood(connectivity, is2d)
    run_chunks(lambda lo, hi: _ksurf.boundary_chunk(mask3, out, wide, nwide, narrow, nnarrow, is2d, lo, hi),
               chunk_ranges(nz * ny, mask3.size))
    return out


def dense_surfels(mask3, table, is2d):
    """``(codes, index, weight)`` of :func:`fastseg._kernels.surface.surfels` on a 3D-view mask, its
    row ranges on threads side by side: codes and counts per range, then the surface corners of each
    range written from the range's offset."""
    nz, ny, nx = mask3.shape
    lz = 1 if is2d else nz + 1
    codes = np.empty((lz, ny + 1, nx + 1), np.uint8)
    ranges = chunk_ranges(lz * (ny + 1), mask3.size)
    counts = run_chunks(lambda lo, hi: _ksurf.surfel_chunk(mask3, codes, is2d, lo, hi), ranges)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    index = np.empty(int(starts[-1]), np.int64)
    weight = np.empty(int(starts[-1]), np.float64)
    flat = codes.reshape(-1)
    full = 15 if is2d else 255
    run_chunks(lambda lo, hi, q: _ksurf.compact_chunk(flat, table, full, lo * (nx + 1), hi * (nx + 1), q, index,
                                                      weight),
               [(lo, hi, int(q)) for (lo, hi), q in zip(ranges, starts[:-1])])
    return codes, index, weight


def boundary(mask3, connectivity, is2d, outside=None):
    """uint8 boundary voxels of a cropped mask (3D view). ``outside``: per axis of the 3D view, whether
    what lies beyond each face (low, high) counts as foreground (then voxels there are no boundary);
    None or all False: background everywhere (the boundary kernel's rule)."""
    if outside is None or not any(any(f) for f in outside):
        return dense_boundary(mask3, connectivity, is2d)
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
    return np.ascontiguousarray(dense_boundary(padded, connectivity, is2d)[inner])


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
        if mask3.size >= tuning.LABELWISE_MIN_VOXELS and np.count_nonzero(mask3) * tuning.SPARSE_MASK < mask3.size:
            # stray voxels spread the box
            _, index, codes = label_surfels(mask3, MASK_SLOT, 1, is2d)
            nz, ny, nx = mask3.shape
            return index, table[codes], (1 if is2d else nz + 1, ny + 1, nx + 1), codes
        codes, index, weight = dense_surfels(mask3, table, is2d)
        return index, weight, codes.shape, codes.reshape(-1)[index]
    edges = boundary(mask3, conv.connectivity, is2d, _outside(conv, mask3.shape, is2d, edges))
    index = np.flatnonzero(edges)
    return index, unit_weights(index.size), edges.shape, None


def _object_distances(p3, r3, is2d, sp3):
    """Distance from every voxel of ``p3`` to the nearest voxel of ``r3`` (0 inside it), sorted, and
    the unit weights."""
    index = np.flatnonzero(p3)
    out = index[r3.reshape(-1)[index] == 0]
    source = np.flatnonzero(dense_boundary(r3, 1, is2d))
    d = np.zeros(index.size)
    d[index.size - out.size:] = np.sort(distances_at(source, p3.shape, sp3, out))  # > 0 after the 0s
    w = unit_weights(index.size)
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
        scratch = np.empty((_kdan.SCRATCH_ROWS, features.size), np.float32)
        return _kdan.danielsson_at(features.reshape(shape), s * s, query, scratch).astype(np.float64)

    if num_threads() < 2 or ip.size + ir.size < 4096:
        return one(ip, ir), one(ir, ip)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastseg-danielsson") as pool:
        a = pool.submit(one, ip, ir)
        b = pool.submit(one, ir, ip)
        return a.result(), b.result()


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
    if conv.surface == "object":
        is2d = pc.ndim == 2
        p3, r3, _, sp3, k = _views(pc, rc, sp)
        with serial_if_small(p3.size):
            d_pr, wp = _object_distances(p3, r3, is2d, sp3)
            d_rp, wr = _object_distances(r3, p3, is2d, sp3)
        if not k:
            return d_pr, wp, d_rp, wr  # sorted already (0s first), unit weights
        return _finish(d_pr, wp, None, d_rp, wr, None, None, k)
    s = CropSurfaces(pc, rc, sp, conv, edges)
    if conv.transform == "danielsson":
        with serial_if_small(s.size):
            d_pr, d_rp = _danielsson_distances(s.points[0], s.points[1], s.shape, s.sp3)
    else:
        d_pr, d_rp = s.directed(0), s.directed(1)
    return s.sets(d_pr, d_rp)


def _views(pc, rc, sp):
    """``(p3, r3, sp, sp3, k)``: the cropped masks in their 3D view (C-ordered, read-only), the spacing
    scaled by ``2**-k`` (:func:`unit_spacing`) and the same per axis of that view."""
    sp, k = unit_spacing(sp)
    p3, r3 = (v.readonly(np.ascontiguousarray(as3(m))) for m in (pc, rc))
    return p3, r3, sp, spacing3(sp), k


class CropSurfaces:
    """:func:`distances_in_crop` of a surface model other than the object model, in stages that a
    caller may run as separate tasks: the surface elements of both masks and their search grid
    (``CropSurfaces(pc, rc, sp, conv, edges)``: arguments and errors as distances_in_crop's), the
    distances from each side (:meth:`directed`: independent, on two threads at once if need be),
    and the sorted sets (:meth:`sets`), the same arrays as distances_in_crop's.

    Attributes: ``points`` (the flat indices of each mask's elements on the grid ``shape``), ``sp3``
    (the spacing, scaled by ``2**-k`` outside :data:`PLAIN_SPACING`), ``size`` (voxels of the crop).
    """

    def __init__(self, pc, rc, sp, conv, edges=None):
        if conv.surface == "voxel" and conv.edge == "foreground" and edges is None:
            raise v.InputValueError(
                f"the {conv.name!r} convention (the image edge is not a boundary) needs to know where the "
                f"crop lies in the image, which this caller does not pass; compute this metric with "
                f"fastseg.surface_distances / fastseg.hausdorff (per label) or fastseg.conventions.table."
            )
        if conv.surface == "object":
            raise v.InputValueError("CropSurfaces: the object model has no surface elements (distances_in_crop).")
        is2d = pc.ndim == 2
        if is2d and conv.surface == "surfel" and conv.plane == "slab":  # pymia: a 3D slab, 1.0 thick
            pc, rc, sp, is2d = pc[:, :, None], rc[:, :, None], np.append(sp, 1.0), False
        p3, r3, sp, self.sp3, self._k = _views(pc, rc, sp)
        self.size = p3.size
        self._table = _surfel_tables.areas(tuple(sp)) if conv.surface == "surfel" else np.zeros(1)
        with serial_if_small(self.size):
            ip, self._wp, self.shape, self._cp = _surface(p3, is2d, conv, self._table, edges)
            ir, self._wr, _, self._cr = _surface(r3, is2d, conv, self._table, edges)
            self.points = (ip, ir)
            self._grid = None if conv.transform == "danielsson" else pair_grid(ip, ir, self.shape, self.sp3)

    def directed(self, side):
        """Distances from the elements of mask ``side`` (0: pred) to the other's (exact search)."""
        with serial_if_small(self.size):
            return self._grid.directed(side)

    def sets(self, d_pr, d_rp):
        """``(d_pr, w_p, d_rp, w_r)`` from the two directed distances, as distances_in_crop returns them."""
        return _finish(d_pr, self._wp, self._cp, d_rp, self._wr, self._cr, self._table, self._k)


def _finish(d_pr, wp, cp, d_rp, wr, cr, table, k):
    if k:
        with np.errstate(over="ignore", under="ignore"):  # a distance beyond float64 is inf, silently
            d_pr, d_rp = np.ldexp(d_pr, k), np.ldexp(d_rp, k)
    return (*sort_by_distance(d_pr, wp, cp, table), *sort_by_distance(d_rp, wr, cr, table))


def label_surfels(m, lut, nslots, is2d):
    """``(start, index, codes)``: the surfels of every slot of a 3D label map (2D as ``(1, H, W)``
    with ``is2d``), slot ``s``'s at ``index[start[s]:start[s + 1]]`` (flat corner-lattice indices,
    increasing) with their neighbour codes (:mod:`fastseg._kernels.label_surface`)."""
    rowval = _klabel.row_values(m)
    nz, ny, _ = m.shape
    rows = (1 if is2d else nz + 1) * (ny + 1)
    parts = _by_row_ranges(lambda r0, r1: _klabel.surfels_of_rows(m, lut, nslots, is2d, rowval, r0, r1), rows, m.size)
    return _klabel.group_by_slot(*_joined(parts), nslots)


def label_boundaries(m, lut, nslots, connectivity, is2d):
    """``(start, index)``: the boundary voxels of every slot of a label map (as :func:`label_surfels`;
    flat voxel indices)."""
    rowval = _klabel.row_values(m)
    nz, ny, _ = m.shape
    parts = _by_row_ranges(lambda r0, r1: _klabel.boundaries_of_rows(m, lut, connectivity, is2d, rowval, r0, r1),
                           nz * ny, m.size)
    slot, index = _joined(parts)
    start, index, _ = _klabel.group_by_slot(slot, index, np.zeros(0, np.uint8), nslots)
    return start, index


def _joined(parts):
    """The row ranges' arrays joined in order (a single range's as they are)."""
    return parts[0] if len(parts) == 1 else tuple(np.concatenate(x) for x in zip(*parts))


def _by_row_ranges(work, rows, voxels):
    """``[work(r0, r1), ...]`` over the row ranges of :func:`fastseg._engine.chunks.chunk_ranges`."""
    return run_chunks(work, chunk_ranges(rows, voxels))


def labelwise(conv, ndim):
    """Whether :class:`LabelSurfaces` serves a convention on maps of ``ndim`` dimensions: surfels, or
    boundary voxels with the image edge a boundary, with exact distances (not plastimatch's transform
    or image edge, not pymia's 2D slab, not seg-metrics' edge rule, not object voxels)."""
    if conv.transform == "danielsson":
        return False
    if conv.surface == "surfel":
        return not (ndim == 2 and conv.plane == "slab")
    return conv.surface == "voxel" and conv.edge == "background"


class LabelSurfaces:
    """The surfaces of every asked-for label of two label maps, from one pass over each map: surfels
    (:func:`fastseg._kernels.label_surface.label_surfels`: flat indices into the corner lattice of the
    whole map and neighbour codes) or boundary voxels
    (:func:`fastseg._kernels.label_surface.label_boundaries`: flat voxel indices), per label. A
    structure's cost is then its surface points, not its bounding box: a stray voxel far from the
    structure adds a few points, not the space between."""

    def __init__(self, p, r, labels, conv):
        self.labels = {lab: s for s, lab in enumerate(dict.fromkeys(int(x) for x in labels))}
        self.is2d = p.ndim == 2
        self.surfels = conv.surface == "surfel"
        p3, r3 = as3(p), as3(r)
        lut = np.full(np.iinfo(p3.dtype).max + 1, -1, np.int32)
        lut[np.asarray(list(self.labels), np.int64)] = np.arange(len(self.labels), dtype=np.int32)
        nz, ny, nx = p3.shape
        n = len(self.labels)
        if self.surfels:
            self.grid = (1 if self.is2d else nz + 1, ny + 1, nx + 1)

            def side(m):
                return label_surfels(np.ascontiguousarray(m), lut, n, self.is2d)
        else:
            self.grid = p3.shape

            def side(m):
                return (*label_boundaries(np.ascontiguousarray(m), lut, n, conv.connectivity, self.is2d), None)
        self.sides = [None, None]
        threads = num_threads()

        def one(c):  # with two threads or more, the two maps side by side, each on its own share
            with thread_limit(max(1, threads // 2) if threads > 1 else 1):
                self.sides[c] = side((p3, r3)[c])

        side_by_side(one, 2, threads)

    @classmethod
    def when_cheaper(cls, p, r, conv, structures):
        """The surfaces of the single-label structures of ``structures`` (``(members, present,
        box_size)`` each) when the convention is served (:func:`labelwise`) and the structures'
        boxes together hold more voxels than the one pass reads (``tuning.LABELWISE_BOXES`` times the
        map: stray voxels spread a box over the image, and many structures' boxes overlap) on a map of
        ``tuning.LABELWISE_MIN_VOXELS`` or more; else None: each structure then works inside its own box
        (the same values either way)."""
        labels = [members[0] for members, present, _ in structures if len(members) == 1 and present
                  and members[0] != 0]  # label 0 as a structure: outside the array is 0 to the pass
        if not labels or not labelwise(conv, p.ndim):
            return None
        boxes = sum(size for _, _, size in structures)
        if p.size < tuning.LABELWISE_MIN_VOXELS or boxes < tuning.LABELWISE_BOXES * p.size:
            return None
        return cls(p, r, labels, conv)

    def _point_box(self, box):
        """``(lo, hi)`` int64 (3,) on the points' grid of a voxel box (``distances``)."""
        box = np.asarray(box, np.int64)
        lo, hi = box[0::2], box[1::2] + (1 if self.surfels else 0)
        if self.is2d:
            lo, hi = np.concatenate([[0], lo]), np.concatenate([[0], hi])
        return lo, hi

    def points(self, label):
        """``(index_pred, codes_pred, index_ref, codes_ref)`` of one label (codes None for voxels)."""
        s = self.labels[int(label)]
        out = []
        for start, index, codes in self.sides:
            out += [index[start[s]:start[s + 1]], None if codes is None else codes[start[s]:start[s + 1]]]
        return tuple(out)

    def distances(self, label, sp, boxes=None):
        """The directed distance sets of one label, as :func:`distances_in_crop` gives them for the
        label's masks (the same values: the search depends only on the points' relative positions).
        ``boxes``: the label's inclusive voxel boxes in pred and in ref (``[lo0, hi0, lo1, hi1, ...]``,
        :meth:`fastseg._engine.counts.LabelConfusion.bbox`), which give its points' boxes without a
        pass over them: the surfels of voxels ``lo .. hi`` span corners ``lo .. hi + 1`` on each axis
        (the outer corners of the outermost voxels see outside), boundary voxels the voxels' box (the
        outermost voxels have a face outside)."""
        ip, cp, ir, cr = self.points(label)
        sp, k = unit_spacing(sp)
        sp3 = spacing3(sp)
        known = boxes is not None and all(b is not None for b in boxes)  # None: no point on that side
        d_pr, d_rp = distance_pair(ip, ir, self.grid, sp3, [self._point_box(b) for b in boxes] if known else None)
        if not self.surfels:
            return _finish(d_pr, unit_weights(ip.size), None, d_rp, unit_weights(ir.size), None, None, k)
        table = _surfel_tables.areas(tuple(sp))
        return _finish(d_pr, None, cp, d_rp, None, cr, table, k)
