"""Surface-distance metrics: one :class:`SurfaceDistances` computation feeds HD, HDq, ASSD, MASD, NSD.

Pipeline for a pair of binary masks (2D or 3D):

1. one pass over both volumes: confusion counts, a check that values are 0/1, and the bounding box of
   each mask (the label kernel, with a 3-entry lookup table);
2. crop to the bounding box of the union (exact: every surface element of either mask lies inside);
3. surface elements of each mask: surfels on the voxel-corner lattice weighted by physical area
   (``surface="surfel"``), or boundary voxels weighted 1 (``surface="voxel"``);
4. the exact distance from each surface element to the nearest element of the other surface: an
   ordered search around each element (:mod:`fastseg._kernels.nearest`; its cost follows the distances
   found, a few voxels for nearly every element of two segmentations of one structure), elements far
   from the other surface finished by pairs, a longer search or the full anisotropic Euclidean distance
   transform, whichever bounds cheapest. Exact either way; the two directed distance sets.

Everything is in the units of ``spacing`` (given in array-axis order). Conventions (surface type,
percentile rule, ASSD, empty masks) are described in :mod:`fastseg.conventions`.
"""
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _validation as v
from . import _surfel_tables
from ._kernels import edt as _kedt
from ._kernels import nearest as _knear
from ._kernels import surface as _ksurf
from ._kernels._jit import serial_if_small, thread_limit
from .conventions import Convention, get_convention
from .overlap import BOTH_EMPTY, NOT_EMPTY, PRED_EMPTY, REF_EMPTY, empty_state, label_confusion

__all__ = [
    "SurfaceDistances", "surface_distances", "hausdorff", "hd95", "assd", "masd", "directed_means",
    "nsd", "boundary_iou",
]

NCHUNKS = 64
_LUT01 = np.full(256, 2, dtype=np.int64)
_LUT01[0] = 0
_LUT01[1] = 1


@dataclass(frozen=True)
class SurfaceDistances:
    """Both directed surface-distance sets of a pair, with their weights.

    Attributes
    ----------
    pred_to_ref, ref_to_pred : ndarray of float64, shape (n_pred,), (n_ref,)
        Distance from each surface element of one mask to the nearest surface element of the other,
        sorted ascending (ties by weight). ``+inf`` when the other mask has no surface.
    pred_weights, ref_weights : ndarray of float64
        Weight of each element in the same order: physical area (3D) or length (2D) of each surfel in
        surfel mode, 1.0 per boundary voxel in voxel mode.
    empty_state : str
        ``"none"``, ``"both_empty"``, ``"ref_empty"`` or ``"pred_empty"``.
    convention : Convention
        The convention that made it; metrics derived from it follow its rules.
    spacing : tuple of float
        Spacing used, in array-axis order.
    """

    pred_to_ref: np.ndarray
    ref_to_pred: np.ndarray
    pred_weights: np.ndarray
    ref_weights: np.ndarray
    empty_state: str
    convention: Convention
    spacing: tuple = field(default=())

    def __repr__(self):
        return (f"SurfaceDistances(n_pred={self.pred_to_ref.size}, n_ref={self.ref_to_pred.size}, "
                f"empty_state={self.empty_state!r}, convention={self.convention.name!r})")


# ---------------------------------------------------------------- computation

def _sorted(d, w, codes=None, table=None):
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


def _prepare_binary_3d(pred, ref, spacing, what):
    """Validate a binary 2D/3D pair; return C-ordered uint8 arrays, spacing and the transposition."""
    p, r = v.binary_pair(pred, ref)
    v.check_ndim(p, (2, 3), what)
    sp = v.normalize_spacing(spacing, p.ndim)
    (p, r), sp, _ = v.c_layout([p, r], sp)
    return p, r, sp


def _counts_and_box(p, r):
    """One pass: foreground counts of each mask (refusing non-binary values) and the union's box."""
    with serial_if_small(p.size):
        cm, bbp, bbr = label_confusion(p, r, _LUT01, _LUT01, 3, False, p.shape)
    v.raise_if_not_binary("pred", cm[:, 2].sum(), p.size)
    v.raise_if_not_binary("ref", cm[2, :].sum(), r.size)
    n_pred = int(cm[:, 1].sum())
    n_ref = int(cm[1, :].sum())
    box = np.concatenate([bbp[1:2], bbr[1:2]])
    box = box[box[:, 0] <= box[:, 1]]
    if box.size == 0:
        return n_pred, n_ref, None
    return n_pred, n_ref, tuple(slice(int(box[:, 2 * a].min()), int(box[:, 2 * a + 1].max()) + 1)
                                for a in range(p.ndim))


def _as3(a):
    return a.reshape((1,) * (3 - a.ndim) + a.shape)


def _spacing3(sp):
    return np.concatenate([np.ones(3 - sp.size), sp]).astype(np.float64)


def _surface(mask3, is2d, conv, table):
    """Flat indices of the surface elements of a cropped mask, their weights, the grid shape and
    each element's neighbour code (surfels; None for boundary voxels, weighted 1)."""
    if conv.surface == "surfel":
        codes, index, weight = _ksurf.surfels(mask3, table, is2d, NCHUNKS)
        return index, weight, codes.shape, codes.reshape(-1)[index]
    edges = _ksurf.boundary_voxels(mask3, conv.connectivity, is2d, NCHUNKS)
    index = np.flatnonzero(edges)
    return index, np.ones(index.size), edges.shape, None


def _line_axis(shape, sp3):
    """The line axis of the ordered search: the finest spacing among axes longer than 1 (ties: the
    later, contiguous axis), so that the two offset axes span the most area per grid point."""
    axes = [a for a in range(3) if shape[a] > 1] or [2]
    return min(reversed(axes), key=lambda a: sp3[a])


def _offsets(shape, sp3, r, count):
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


#: ordered-search list lengths: the first resolves nearly every query of two segmentations of one
#: structure. The rest (far from every source point, e.g. a stray false-positive blob) take the cheapest
#: exact way by an upper bound of its cost, in (query, source) pair steps (1.6 ns on one core here):
#: every pair, the longer list (a list step costs about two pair steps) or the full transform (about
#: 40 ns per grid point: ``_TRANSFORM_COST`` pair steps).
_TIERS = (4096, 1 << 16)
_TRANSFORM_COST = 16


def _distances_at(source_index, shape, sp3, query_index):
    """Distances from the grid points ``query_index`` to the nearest of ``source_index`` (exact).

    ``source_index``: increasing flat indices into a grid of ``shape``, as the surface kernels give.

    An ordered search around each query (:mod:`fastseg._kernels.nearest`); queries it leaves
    unresolved (far from every source point) are finished by the cheapest exact way (see ``_TIERS``).
    """
    if query_index.size == 0:
        return np.zeros(0)
    if source_index.size == 0:
        return np.full(query_index.size, np.inf)
    n = int(np.prod(shape))
    r = _line_axis(shape, sp3)
    lines = np.empty(n, np.int32)
    if r == 2:
        _knear.row_distances(source_index, lines.reshape(-1, shape[2]), NCHUNKS)
    else:
        features = np.zeros(n, np.uint8)
        features[source_index] = 1
        before = int(np.prod(shape[:r]))
        _knear.line_distances(features.reshape(before, shape[r], -1), lines.reshape(before, shape[r], -1),
                              NCHUNKS)
    shape64 = np.asarray(shape, np.int64)
    out = np.empty(query_index.size)
    todo = np.arange(query_index.size)
    for count in _TIERS:
        if count != _TIERS[0]:
            transform = _TRANSFORM_COST * n
            if todo.size * source_index.size <= min(transform, 2 * todo.size * count):
                got = np.empty(todo.size)
                _knear.brute(source_index, query_index[todo], shape64, sp3, got, 64)
                out[todo] = got
                return out
            if 2 * todo.size * count > transform:
                break
        da, db, c, c_max = _offsets(shape, sp3, r, count)
        got = np.empty(todo.size)
        _knear.search(lines, shape64, r, float(sp3[r]), query_index[todo], da, db, c, c_max, got, NCHUNKS)
        out[todo] = got
        todo = todo[got < 0]
        if todo.size == 0:
            return out
    features = np.zeros(n, np.uint8)
    features[source_index] = 1
    sq = np.empty(shape, np.float64)  # numpy's allocator is faster than numba's for large outputs
    _kedt.sq_distance_to_features_into(features.reshape(shape), sp3, sq)
    out[todo] = np.sqrt(sq.reshape(-1)[query_index[todo]])
    return out


def distances_in_crop(pc, rc, sp, conv):
    """Directed distance sets of two cropped masks (C-ordered uint8, 2D or 3D, union inside)."""
    is2d = pc.ndim == 2
    sp3 = _spacing3(sp)
    p3 = v._readonly(np.ascontiguousarray(_as3(pc)))
    r3 = v._readonly(np.ascontiguousarray(_as3(rc)))
    table = _surfel_tables.areas(tuple(sp)) if conv.surface == "surfel" else np.zeros(1)
    with serial_if_small(p3.size):
        ip, wp, shape, cp = _surface(p3, is2d, conv, table)
        ir, wr, _, cr = _surface(r3, is2d, conv, table)
        d_pr = _distances_at(ir, shape, sp3, ip)
        d_rp = _distances_at(ip, shape, sp3, ir)
    return (*_sorted(d_pr, wp, cp, table), *_sorted(d_rp, wr, cr, table))


def _check_empty_allowed(conv, state):
    if conv.empty == "raise" and state != NOT_EMPTY:
        side = {BOTH_EMPTY: "both masks are", REF_EMPTY: "ref is", PRED_EMPTY: "pred is"}[state]
        raise v.InputValueError(
            f"{side} empty, and the {conv.name!r} convention (like MedPy) defines no surface distance "
            f"for empty masks; use convention='fastseg' for inf/0.0 results."
        )


def surface_distances(pred, ref, *, spacing=None, convention="fastseg", threads=None):
    """Directed surface distances between two binary masks, computed once for every distance metric.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary 2D or 3D masks of the same shape (bool, or numbers all 0 or 1). Any memory order.
    spacing : None, float or sequence of float, optional
        Voxel size per array axis (array-axis order, e.g. ``(2.5, 0.8, 0.8)`` mm for a (z, y, x)
        volume). Default 1.0 per axis. Distances are in these units.
    convention : str or Convention, optional
        ``"fastseg"`` (default), ``"deepmind"``, ``"monai"``, ``"medpy"``, ``"metricsreloaded"`` or a
        :class:`fastseg.conventions.Convention`: surface definition and the rules of derived metrics.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    SurfaceDistances
        Feed it to :func:`hausdorff`, :func:`hd95`, :func:`assd`, :func:`masd`, :func:`nsd`,
        :func:`directed_means`.

    Raises
    ------
    ValueError
        Shapes differ, masks are not binary, not 2D/3D, bad spacing, or an empty mask under the
        ``"medpy"`` convention.

    Notes
    -----
    Work after the first pass is proportional to the bounding box of the union of the masks. Extra
    memory: the cropped masks (1 byte per voxel) and one float64 distance map over the crop (8 bytes
    per voxel), plus the surface element lists.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((5, 5), bool); ref[2, 2] = True
    >>> pred = np.zeros((5, 5), bool); pred[2, 3] = True
    >>> sd = fastseg.surface_distances(pred, ref, spacing=(1.0, 2.0), convention="monai")
    >>> sd.pred_to_ref.tolist(), sd.ref_to_pred.tolist()
    ([2.0], [2.0])
    """
    conv = get_convention(convention)
    p, r, sp = _prepare_binary_3d(pred, ref, spacing, "surface distances")
    with thread_limit(v.check_threads(threads)):
        n_pred, n_ref, box = _counts_and_box(p, r)
        state = empty_state(n_pred, n_ref)
        _check_empty_allowed(conv, state)
        if box is None:
            e = np.zeros(0)
            return SurfaceDistances(e, e.copy(), e.copy(), e.copy(), state, conv, tuple(sp.tolist()))
        d_pr, w_p, d_rp, w_r = distances_in_crop(np.ascontiguousarray(p[box]), np.ascontiguousarray(r[box]),
                                                 sp, conv)
    return SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, tuple(sp.tolist()))


# ---------------------------------------------------------------- derived metrics

def _resolve(pred, ref, spacing, convention, threads):
    if isinstance(pred, SurfaceDistances):
        if ref is not None:
            raise v.InputTypeError("pass either a SurfaceDistances alone or the two masks (pred, ref).")
        if convention is not None and get_convention(convention) != pred.convention:
            raise v.InputValueError(
                f"convention {get_convention(convention).name!r} differs from the one that computed "
                f"these SurfaceDistances ({pred.convention.name!r}); recompute them with it."
            )
        if spacing is not None:
            raise v.InputValueError("spacing is fixed by the precomputed SurfaceDistances; do not pass it again.")
        return pred
    if ref is None:
        raise v.InputTypeError("ref is missing: pass (pred, ref) masks or one precomputed SurfaceDistances.")
    return surface_distances(pred, ref, spacing=spacing,
                             convention="fastseg" if convention is None else convention, threads=threads)


def check_percentile(percentile):
    q = v.check_fraction(percentile, "percentile", low=0.0, high=100.0)
    return q


def _policy_value(sd, metric):
    """The value the empty-mask policy fixes for this metric, or None to compute it."""
    state, policy = sd.empty_state, sd.convention.empty
    if state == NOT_EMPTY or policy == "deepmind":
        return None  # deepmind: its own arithmetic on the (possibly empty) sets, reproduced as is
    if policy == "monai":
        if state == BOTH_EMPTY:
            return math.nan
        return {"hd": None, "mean": math.inf, "nsd": 0.0}[metric]
    if policy == "metricsreloaded" and state == BOTH_EMPTY:
        return math.nan if metric == "nsd" else 0.0
    # fastseg (and metricsreloaded one-sided: inf, see conventions)
    if state == BOTH_EMPTY:
        return 1.0 if metric == "nsd" else 0.0
    return 0.0 if metric == "nsd" else math.inf


def _weighted_nearest_rank(d, w, q):
    if d.size == 0:
        return math.inf
    cum = np.cumsum(w) / np.sum(w)
    idx = int(np.searchsorted(cum, q / 100.0))
    return float(d[min(idx, d.size - 1)])


def _linear(d, q):
    if d.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(np.percentile(d, q))


def directed_hausdorff(sd, percentile=100.0):
    """``(q-th percentile of pred->ref, q-th percentile of ref->pred)`` under the convention's rule
    (for ``linear_pooled`` both entries are the pooled value)."""
    rule = sd.convention.percentile
    if sd.convention.empty == "monai" and percentile == 0.0:
        percentile = 100.0  # MONAI tests `if not percentile` and returns the maximum for 0
    if rule == "weighted_nearest_rank":
        return (_weighted_nearest_rank(sd.pred_to_ref, sd.pred_weights, percentile),
                _weighted_nearest_rank(sd.ref_to_pred, sd.ref_weights, percentile))
    if rule == "linear_per_direction":
        if percentile == 100.0:
            return tuple(float(d.max()) if d.size else math.nan for d in (sd.pred_to_ref, sd.ref_to_pred))
        return _linear(sd.pred_to_ref, percentile), _linear(sd.ref_to_pred, percentile)
    if percentile == 100.0:
        both = [d.max() for d in (sd.pred_to_ref, sd.ref_to_pred) if d.size]
        pooled = float(max(both)) if both else math.nan
        return pooled, pooled
    pooled = _linear(np.concatenate([sd.pred_to_ref, sd.ref_to_pred]), percentile)
    return pooled, pooled


def hausdorff(pred, ref=None, *, percentile=100.0, spacing=None, convention=None, threads=None):
    """(Percentile) Hausdorff distance between the surfaces of two masks.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P]), or one SurfaceDistances
        Binary 2D/3D masks, or a precomputed :class:`SurfaceDistances` as ``pred`` alone.
    percentile : float, optional
        In [0, 100]; 100 (default) is the Hausdorff distance, 95 gives HD95.
    spacing, convention, threads
        As in :func:`surface_distances` (``convention`` defaults to ``"fastseg"``).

    Returns
    -------
    float
        The larger of the two directed percentiles (``"fastseg"``/``"deepmind"``: nearest rank on the
        cumulative surfel area; ``"monai"``/``"metricsreloaded"``: linear per direction; ``"medpy"``:
        linear over both directions pooled), in spacing units. Empty masks (``"fastseg"``): 0.0 when
        both are empty, ``+inf`` when one is.

    Raises
    ------
    ValueError
        ``percentile`` outside [0, 100] or NaN, and the errors of :func:`surface_distances`.

    References
    ----------
    Huttenlocher, Klanderman, Rucklidge (1993). Comparing images using the Hausdorff distance.
    IEEE TPAMI 15(9).

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((1, 1, 8), bool); ref[0, 0, 2] = True
    >>> pred = np.zeros((1, 1, 8), bool); pred[0, 0, 5] = True
    >>> fastseg.hausdorff(pred, ref, spacing=(1.0, 1.0, 0.5))
    1.5
    """
    q = check_percentile(percentile)
    sd = _resolve(pred, ref, spacing, convention, threads)
    fixed = _policy_value(sd, "hd")
    if fixed is not None:
        return fixed
    if sd.convention.empty == "monai" and sd.empty_state != NOT_EMPTY:
        return math.inf if q == 100.0 else math.nan  # MONAI: max of infs; torch.quantile of infs is NaN
    a, b = directed_hausdorff(sd, q)
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def hd95(pred, ref=None, *, spacing=None, convention=None, threads=None):
    """95th-percentile Hausdorff distance: :func:`hausdorff` with ``percentile=95``.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((8, 8), bool); ref[2:6, 2:6] = True
    >>> fastseg.hd95(ref, ref, spacing=0.8)
    0.0
    """
    return hausdorff(pred, ref, percentile=95.0, spacing=spacing, convention=convention, threads=threads)


def _mean(d, w):
    sw = float(np.sum(w))
    if sw == 0:
        return math.nan
    return float(np.sum(d * w) / sw)


def directed_means(pred, ref=None, *, spacing=None, convention=None, threads=None):
    """The two directed mean surface distances ``(mean pred->ref, mean ref->pred)``, weighted.

    DeepMind's ``compute_average_surface_distance`` returns the same pair in the opposite order
    ``(gt->pred, pred->gt)``. One mask empty (``"fastseg"``): ``(inf, inf)``; both: ``(0.0, 0.0)``.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((6, 6), bool); ref[1:4, 1:4] = True
    >>> fastseg.directed_means(ref, ref)
    (0.0, 0.0)
    """
    sd = _resolve(pred, ref, spacing, convention, threads)
    fixed = _policy_value(sd, "mean")
    if fixed is not None:
        return fixed, fixed
    with np.errstate(invalid="ignore", divide="ignore"):
        return _mean(sd.pred_to_ref, sd.pred_weights), _mean(sd.ref_to_pred, sd.ref_weights)


def assd(pred, ref=None, *, spacing=None, convention=None, threads=None):
    """Average symmetric surface distance.

    ``"fastseg"``, ``"monai"``, ``"medpy"``, ``"metricsreloaded"``: the weighted mean over both directed
    sets pooled, ``(sum w_p d_p + sum w_r d_r) / (sum w_p + sum w_r)``. ``"deepmind"``: the mean of
    the two directed means (the usual reduction of surface-distance's pair; equal to :func:`masd`).
    Empty masks (``"fastseg"``): 0.0 when both are empty, ``+inf`` when one is.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((1, 8), bool); ref[0, 2] = True
    >>> pred = np.zeros((1, 8), bool); pred[0, 4] = True
    >>> fastseg.assd(pred, ref, spacing=0.5, convention="medpy")
    1.0
    """
    sd = _resolve(pred, ref, spacing, convention, threads)
    fixed = _policy_value(sd, "mean")
    if fixed is not None:
        return fixed
    if sd.convention.assd == "mean_of_directed":
        return _masd_of(sd)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _mean(np.concatenate([sd.pred_to_ref, sd.ref_to_pred]),
                     np.concatenate([sd.pred_weights, sd.ref_weights]))


def _masd_of(sd):
    with np.errstate(invalid="ignore", divide="ignore"):
        a = _mean(sd.pred_to_ref, sd.pred_weights)
        b = _mean(sd.ref_to_pred, sd.ref_weights)
    return 0.5 * (a + b)


def masd(pred, ref=None, *, spacing=None, convention=None, threads=None):
    """Mean average surface distance: the mean of the two directed (weighted) mean distances.

    Empty masks (``"fastseg"``): 0.0 when both are empty, ``+inf`` when one is.

    References
    ----------
    Beneš, Zitová (2015). Performance evaluation of image segmentation algorithms on microscopic
    image data. Journal of Microscopy 257(1).

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((1, 8), bool); ref[0, 2] = True
    >>> pred = np.zeros((1, 8), bool); pred[0, 4] = True
    >>> fastseg.masd(pred, ref, spacing=0.5, convention="medpy")
    1.0
    """
    sd = _resolve(pred, ref, spacing, convention, threads)
    fixed = _policy_value(sd, "mean")
    if fixed is not None:
        return fixed
    return _masd_of(sd)


def check_tolerances(tolerance):
    """Tolerances as a tuple of floats >= 0 and a flag saying whether a single value was given."""
    if tolerance is None:
        raise v.InputValueError(
            "nsd needs a tolerance in spacing units (e.g. tolerance=2.0 for 2 mm); none was given."
        )
    scalar = np.ndim(tolerance) == 0
    values = [tolerance] if scalar else list(tolerance)
    if not values:
        raise v.InputValueError("tolerance must be a number or a non-empty sequence of numbers; got [].")
    return tuple(v.check_fraction(t, "tolerance") for t in values), scalar


def nsd_of(sd, tolerances):
    """NSD values of precomputed distances for validated tolerances (list of floats)."""
    fixed = _policy_value(sd, "nsd")
    if fixed is not None:
        return [fixed] * len(tolerances)
    total = float(np.sum(sd.pred_weights) + np.sum(sd.ref_weights))
    out = []
    for t in tolerances:
        # distances are sorted: the elements within tolerance are a prefix
        kp = int(np.searchsorted(sd.pred_to_ref, t, side="right"))
        kr = int(np.searchsorted(sd.ref_to_pred, t, side="right"))
        good = float(np.sum(sd.pred_weights[:kp]) + np.sum(sd.ref_weights[:kr]))
        out.append(good / total if total > 0 else math.nan)
    return out


def nsd(pred, ref=None, *, tolerance=None, spacing=None, convention=None, threads=None):
    """Normalised surface distance (surface Dice) at a tolerance.

    Parameters
    ----------
    pred, ref : array_like or SurfaceDistances
        As in :func:`hausdorff`.
    tolerance : float or sequence of float
        Required. Distance in spacing units within which a surface element counts as matched
        (inclusive, ``d <= tolerance``). A sequence gives one value per tolerance.

    Returns
    -------
    float or list of float
        ``(sum of weights of pred elements within tolerance of ref + the same for ref) / (total weight
        of both surfaces)``, weighted by area for surfels (``"fastseg"``, ``"deepmind"``) or counting
        voxels (``"monai"``, ``"metricsreloaded"``). Empty masks (``"fastseg"``): 1.0 when both are
        empty, 0.0 when one is.

    Raises
    ------
    ValueError
        No tolerance, or a negative/NaN one.

    References
    ----------
    Nikolov et al. (2021). Clinically applicable segmentation of head and neck anatomy for
    radiotherapy. JMIR 23(7).

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((1, 8), bool); ref[0, 2] = True
    >>> pred = np.zeros((1, 8), bool); pred[0, 4] = True
    >>> fastseg.nsd(pred, ref, tolerance=[0.5, 1.0], spacing=0.5)
    [0.5, 1.0]
    """
    tols, scalar = check_tolerances(tolerance)
    sd = _resolve(pred, ref, spacing, convention, threads)
    values = nsd_of(sd, tols)
    return values[0] if scalar else values


# ---------------------------------------------------------------- boundary IoU

def band_counts(pc, rc, sp, width):
    """``(|Bp & Br|, |Bp | Br|)`` for the inner bands of two cropped masks (2D or 3D)."""
    sp3 = _spacing3(sp)
    w2 = width * width
    bands = []
    with serial_if_small(pc.size):
        return _band_counts(pc, rc, sp3, w2, bands)


def _band_counts(pc, rc, sp3, w2, bands):
    for m in (pc, rc):
        padded = np.zeros(tuple(n + 2 for n in _as3(m).shape), np.uint8)
        inner = tuple(slice(1, -1) for _ in range(3))
        padded[inner] = _as3(m)
        if pc.ndim == 2:  # no padding along the dummy axis
            padded = np.ascontiguousarray(padded[1:2])
            inner = (slice(0, 1), slice(1, -1), slice(1, -1))
        background = (padded == 0).view(np.uint8)
        sq = np.empty(background.shape, np.float64)
        _kedt.sq_distance_to_features_into(background, sp3, sq)
        sq = sq[inner]
        bands.append((_as3(m) != 0) & (sq <= w2))
    inter = int(np.count_nonzero(bands[0] & bands[1]))
    union = int(np.count_nonzero(bands[0] | bands[1]))
    return inter, union


def boundary_iou(pred, ref, *, width, spacing=None, threads=None):
    """Boundary IoU (Cheng et al. 2021) with a band width in physical units.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary 2D or 3D masks.
    width : float
        Band width in spacing units (> 0): the band of a mask is the set of its voxels whose centre
        lies within ``width`` of the centre of a background voxel (outside the image counts as
        background), i.e. the mask minus its erosion by a Euclidean ball of radius ``width``.
    spacing, threads
        As in :func:`surface_distances`.

    Returns
    -------
    float
        ``|Bp & Br| / |Bp | Br|``. Both masks empty: 1.0; one empty: 0.0.

    Notes
    -----
    Computed inside the bounding box of the union, padded by one voxel, with one exact EDT per mask.

    References
    ----------
    Cheng, Girshick, Dollár, Berg, Kirillov (2021). Boundary IoU: Improving object-centric image
    segmentation evaluation. CVPR.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:8, 2:8] = True
    >>> fastseg.boundary_iou(ref, ref, width=1.0)
    1.0
    """
    width = v.check_fraction(width, "width", low=0.0, inclusive_low=False)
    p, r, sp = _prepare_binary_3d(pred, ref, spacing, "boundary_iou")
    with thread_limit(v.check_threads(threads)):
        n_pred, n_ref, box = _counts_and_box(p, r)
        if box is None:
            return 1.0
        if n_pred == 0 or n_ref == 0:
            return 0.0
        inter, union = band_counts(np.ascontiguousarray(p[box]), np.ascontiguousarray(r[box]), sp, width)
    return inter / union if union else 1.0
