"""Surface-distance metrics: one :class:`SurfaceDistances` computation feeds HD, HDq, ASSD, MASD, NSD.

Pipeline for a pair of binary masks (2D or 3D):

1. one pass over both volumes: foreground counts, a check that values are 0/1, and the bounding box
   of their union (:func:`fastseg._engine.counts.counts_and_box`);
2. crop to that box (exact: every surface element of either mask lies inside);
3. surface elements of each mask and the exact distance from each to the other surface
   (:mod:`fastseg._engine.distances`): the two directed distance sets with their weights.

Everything is in the units of ``spacing`` (given in array-axis order). Conventions (surface type,
percentile rule, ASSD, empty masks) are described in :mod:`fastseg.conventions`; the rules that differ
between peers are methods of :class:`fastseg.conventions.Convention`.
"""
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .. import _validation as v
from .._engine.counts import BOTH_EMPTY, NOT_EMPTY, counts_and_box, crop, empty_state
from .._engine.bands import band_counts
from .._engine.distances import crop_edges, distances_in_crop
from .._engine.sets import floor_rank, is_unit, linear_percentile, unit_weights, weighted_nearest_rank
from .._kernels._jit import thread_limit
from ..conventions import Convention, get_convention

__all__ = ["SurfaceDistances", "surface_distances", "hausdorff", "hd95", "assd", "masd", "directed_means",
           "nsd", "boundary_iou", "check_band_width"]

@dataclass(frozen=True)
class SurfaceDistances:
    """Both directed surface-distance sets of a pair, with their weights.

    Attributes
    ----------
    pred_to_ref, ref_to_pred : ndarray of float64, shape (n_pred,), (n_ref,)
        Distance from each surface element of one mask to the nearest surface element of the other,
        sorted ascending (ties by weight). ``+inf`` when the other mask has no surface. The
        percentile rules read the sorted order (a set built by hand must be sorted the same way).
    pred_weights, ref_weights : ndarray of float64
        Weight of each element in the same order: physical area (3D) or length (2D) of each surfel in
        surfel mode, 1.0 per boundary voxel in voxel mode. Metrics use only their ratios; for a spacing
        with a voxel size outside [2**-64, 2**64] (about 5e-20 to 2e19), the areas are those of the
        spacing scaled by a power of two (areas times distances could leave float64's range).
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
    # laid out as evaluate lays out label maps (Fortran order: transposed, spacing reversed)
    p, r, sp, given = v.spatial_pair(pred, ref, spacing, "surface distances")
    with thread_limit(v.check_threads(threads)):
        n_pred, n_ref, box = counts_and_box(p, r)
        state = empty_state(n_pred, n_ref)
        conv.check_empty(state)
        if box is None:
            e = np.zeros(0)
            return SurfaceDistances(e, e.copy(), e.copy(), e.copy(), state, conv, tuple(given.tolist()))
        d_pr, w_p, d_rp, w_r = distances_in_crop(*crop([p, r], box), sp, conv, crop_edges(box, p.shape))
    return SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, tuple(given.tolist()))


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


def directed_hausdorff(sd, percentile=100.0):
    """``(q-th percentile of pred->ref, q-th percentile of ref->pred)`` under the convention's rule
    (for ``linear_pooled`` both entries are the pooled value)."""
    rule = sd.convention.percentile
    percentile = sd.convention.hd_percentile(percentile)
    if rule == "weighted_nearest_rank":
        return (weighted_nearest_rank(sd.pred_to_ref, sd.pred_weights, percentile),
                weighted_nearest_rank(sd.ref_to_pred, sd.ref_weights, percentile))
    if rule == "floor_rank_per_direction":
        return floor_rank(sd.pred_to_ref, percentile), floor_rank(sd.ref_to_pred, percentile)
    if rule == "linear_per_direction":
        if percentile == 100.0:
            return tuple(float(d.max()) if d.size else math.nan for d in (sd.pred_to_ref, sd.ref_to_pred))
        return linear_percentile((sd.pred_to_ref,), percentile), linear_percentile((sd.ref_to_pred,), percentile)
    if percentile == 100.0:
        both = [d.max() for d in (sd.pred_to_ref, sd.ref_to_pred) if d.size]
        pooled = float(np.max(both)) if both else math.nan  # NaN propagates, as in np.percentile
        return pooled, pooled
    pooled = linear_percentile((sd.pred_to_ref, sd.ref_to_pred), percentile)
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
        linear over both directions pooled; ``"plastimatch"``: the mean of its two directed
        percentiles below 100; every preset: :func:`fastseg.conventions.preset_table`), in spacing
        units. Empty masks (``"fastseg"``): 0.0 when both are empty, ``+inf`` when one is.

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
    q = v.check_percentile(percentile)
    sd = _resolve(pred, ref, spacing, convention, threads)
    conv = sd.convention
    taken = conv.hd_percentile(q)  # the percentile the convention takes (MONAI: 0 is the maximum)
    fixed = _fixed(sd, "hd" if taken == 100.0 else "hdq")
    if fixed is not None:
        return fixed
    if conv.empty == "monai" and sd.empty_state != NOT_EMPTY:
        return math.inf if taken == 100.0 else math.nan  # MONAI: max of infs; torch.quantile of infs is NaN
    a, b = directed_hausdorff(sd, q)
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if conv.aggregate == "mean" and conv.hd_percentile(q) < 100.0:
        return 0.5 * a + 0.5 * b  # plastimatch: the mean of the two directed percentiles
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
    if is_unit(w):  # boundary or object voxels: the sum of d * 1.0 is the sum of d, bit for bit
        return float(np.sum(d) / d.size)
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
    fixed = _fixed(sd, "mean")
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
    fixed = _fixed(sd, "mean")
    if fixed is not None:
        return fixed
    if sd.convention.assd == "mean_of_directed":
        return _masd_of(sd)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_p, w_r = sd.pred_weights, sd.ref_weights
        both = np.concatenate([sd.pred_to_ref, sd.ref_to_pred])
        unit = (is_unit(w_p) or w_p.size == 0) and (is_unit(w_r) or w_r.size == 0)
        return _mean(both, unit_weights(both.size) if unit else np.concatenate([w_p, w_r]))


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
    fixed = _fixed(sd, "mean")
    if fixed is not None:
        return fixed
    return _masd_of(sd)


def _fixed(sd, metric):
    """The value the convention's empty policy fixes for ``metric`` (:meth:`Convention.empty_value`),
    or None. Two masks without a single surface element, though not empty, are two empty surfaces:
    only a rule whose image edge is no boundary (``edge="foreground"``, seg-metrics) leaves masks that
    fill the image without one, and seg-metrics then scores 0 mm (its explicit rule when it has no
    surface distance; fastseg's policy: 0 mm and NSD 1)."""
    state = sd.empty_state
    if state == NOT_EMPTY and sd.convention.edge == "foreground" and not sd.pred_to_ref.size \
            and not sd.ref_to_pred.size:
        state = BOTH_EMPTY
    return sd.convention.empty_value(state, metric)


def _nsd_values(sd, tolerances):
    """NSD values of precomputed distances for validated tolerances (list of floats)."""
    fixed = _fixed(sd, "nsd")
    if fixed is not None:
        return [fixed] * len(tolerances)
    wp, wr = float(np.sum(sd.pred_weights)), float(np.sum(sd.ref_weights))
    total = wp + wr
    out = []
    for t in tolerances:
        # distances are sorted: the elements within tolerance are a prefix
        kp = int(np.searchsorted(sd.pred_to_ref, t, side="right"))
        kr = int(np.searchsorted(sd.ref_to_pred, t, side="right"))
        gp, gr = float(np.sum(sd.pred_weights[:kp])), float(np.sum(sd.ref_weights[:kr]))
        if sd.convention.nsd == "mean_of_directed":  # panoptica's arithmetic, operation for operation
            tr, tp = gr / wr, gp / wp
            fr, fp = float(np.sum(sd.ref_weights[kr:])) / wr, float(np.sum(sd.pred_weights[kp:])) / wp
            out.append((tr + tp) / ((tr + tp + fr) + fp + sys.float_info.min))
        else:
            out.append((gp + gr) / total if total > 0 else math.nan)
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
    tols, scalar = v.check_tolerances(tolerance)
    sd = _resolve(pred, ref, spacing, convention, threads)
    values = _nsd_values(sd, tols)
    return values[0] if scalar else values





def check_band_width(width, spacing, conv, name):
    """Refuse a physical band narrower than the smallest voxel spacing: no voxel centre lies that close
    to a background centre, so both bands would be empty and two disjoint masks would score 1.0."""
    smallest = float(np.min(spacing))
    if conv.band == "physical" and width < smallest:
        raise v.InputValueError(
            f"{name} {width!r} is below the smallest voxel spacing ({smallest!r}): no voxel lies that close to the "
            f"background, so every band would be empty. Use a width of at least {smallest:g} (boundary IoU's bands "
            f"are usually 1-3 voxels), or convention='metricsreloaded' for a band in voxels.")


def boundary_iou(pred, ref, *, width, spacing=None, threads=None, convention=None):
    """Boundary IoU (Cheng et al. 2021) with a band width in physical units.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary 2D or 3D masks.
    width : float
        Band width in spacing units (> 0): the band of a mask is the set of its voxels whose centre
        lies within ``width`` of the centre of a background voxel (outside the image counts as
        background), i.e. the mask minus its erosion by a Euclidean ball of radius ``width``; a width
        below the smallest spacing (every band empty) is refused. Under a
        convention with ``band="voxels"`` (``"metricsreloaded"``) the width is in voxels, as
        MetricsReloaded's ``boundary_dist`` (its default 1): the band is the mask's voxels closer than
        ``width`` voxels (unit spacing, strictly) to its border voxels (``mask & ~erosion``, face
        connectivity, the image edge a boundary), and ``spacing`` plays no part.
    spacing, threads
        As in :func:`surface_distances`.
    convention : str or Convention, optional
        Default ``"fastseg"``; only its ``band`` and ``connectivity`` matter here.

    Returns
    -------
    float
        ``|Bp & Br| / |Bp | Br|``. Both masks empty: 1.0; one empty: 0.0 (every convention, as
        MetricsReloaded).

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
    >>> pred = np.roll(ref, 1, axis=1)
    >>> round(fastseg.boundary_iou(pred, ref, width=1.0, convention="metricsreloaded"), 4)
    0.3333
    """
    conv = get_convention("fastseg" if convention is None else convention)
    width = v.check_fraction(width, "width", low=0.0, inclusive_low=False)
    p, r, sp, _ = v.spatial_pair(pred, ref, spacing, "boundary_iou")
    check_band_width(width, sp, conv, "width")
    with thread_limit(v.check_threads(threads)):
        n_pred, n_ref, box = counts_and_box(p, r)
        if box is None:
            return 1.0
        if n_pred == 0 or n_ref == 0:
            return 0.0
        inter, union = band_counts(*crop([p, r], box, widen=True), sp, width, conv, foreground=n_pred + n_ref)
    return inter / union if union else 1.0
