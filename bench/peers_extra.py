"""Benchmark-only peer wrappers: what ``tests/peers.py`` (the shared registry used by the parity tests)
does not hold, because only the benchmarks need it.

The shared registry (``tests.peers``) computes *every* metric a peer offers in one call, which is
right for parity tests and wrong for timing one metric. Here:

* the NumPy / SciPy baselines that every benchmark measures in the same run as fastseg:
  ``np.count_nonzero`` expressions, one ``np.count_nonzero`` (the memory-bandwidth floor),
  ``np.bincount`` confusion matrices, the "crop + ``binary_erosion`` + EDT" pipeline with SciPy's
  ``distance_transform_edt`` or the ``edt`` package (HD, ASSD, NSD), the crop + EDT band of
  Boundary IoU, and clDice from its definition with a given skeleton (scikit-image's);
* single-metric calls of the peers (DeepMind HD95 only, MONAI ASSD only, ...), built on the shared
  registry where it has the piece (DeepMind's raw sets with its traps handled, MONAI's one-hot input);
* seg-metrics and SimpleITK, which the shared registry does not cover;
* the per-label loops a user writes with DeepMind or MONAI to score a label map;
* the stage-level steps of DeepMind's pipeline (its surfel extraction).

Every peer is imported lazily; :func:`available` says whether it is installed. Argument order is
always fastseg's ``(pred, ref)``; spacing is in array-axis order.

Definitions (which fastseg convention reproduces each):

===================  =================================================================  ===========
wrapper              definition                                                         convention
===================  =================================================================  ===========
crop_hd              boundary voxels ``m & ~binary_erosion(m)`` (faces), EDT with        ``monai``
                     spacing, linear percentile per direction, then the larger
crop_assd            crop_hd's sets, mean of both directions pooled                     ``monai``
crop_nsd             crop_hd's sets, fraction of both within tolerance (counts)         ``monai``
deepmind_hd          surfels weighted by area, nearest rank per direction               ``deepmind``
deepmind_assd        surfels, mean of DeepMind's two directed (area-weighted) means     ``deepmind``
deepmind_nsd         surfels, ``compute_surface_dice_at_tolerance`` (area-weighted)     ``deepmind``
monai_hd             as crop_hd, torch quantile in float32                              ``monai``
monai_assd           as crop_assd (``symmetric=True``), float32                         ``monai``
monai_nsd            as crop_nsd; ``use_subvoxels=True``: surfels weighted by area      ``monai`` /
                                                                                        ``deepmind``
medpy_hd             boundary voxels, linear percentile of both directions pooled       ``medpy``
medpy_assd           boundary voxels, mean of both directions pooled                    ``medpy``
segmetrics_metric    ITK ``LabelContour`` (full connectivity, image edge not boundary)  see below
                     and ``SignedMaurerDistanceMap``; ``hd95``: pooled percentile,
                     ``msd``: mean of both directions pooled
sitk_hausdorff       ITK ``HausdorffDistanceImageFilter``: all object voxels, not        different
                     surfaces (a different definition; no fastseg convention)           definition
===================  =================================================================  ===========

seg-metrics measures from the pred contour (full connectivity) to ITK's distance map of the other
mask, whose zero set is that mask's face-connected contour: :data:`SEGMETRICS_CONVENTION` below is
the fastseg convention that matches it when no structure touches the image edge (the benchmark cases
do not).
"""
import importlib.util

import numpy as np

from tests import peers
from tests.peers import quiet

__all__ = ["available", "MODULES"]

#: peer name -> importable module
MODULES = {
    "deepmind": "surface_distance",
    "medpy": "medpy",
    "monai": "monai",
    "segmetrics": "seg_metrics",
    "sitk": "SimpleITK",
    "edt": "edt",
    "skimage": "skimage",
    "scipy": "scipy",
    "numpy": "numpy",
}


def available(peer):
    """True when the peer's module is installed (checked without importing it)."""
    mod = MODULES.get(peer, peer)
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


# ----------------------------------------------------------------------------- NumPy baselines

def numpy_confusion(pred, ref):
    """``(tp, fp, fn, tn)`` with the fastest plain NumPy expressions: three ``np.count_nonzero``
    (of ``pred & ref``, ``pred`` and ``ref``; one temporary mask)."""
    tp = int(np.count_nonzero(pred & ref))
    sp = int(np.count_nonzero(pred))
    sr = int(np.count_nonzero(ref))
    return tp, sp - tp, sr - tp, pred.size - sp - sr + tp


def numpy_floor(pred, ref):
    """One ``np.count_nonzero`` over one array: reading one mask once, the memory-speed floor of any
    counting pass (fastseg reads two). Returns the foreground count of ``pred``."""
    return int(np.count_nonzero(pred))


def numpy_dice(pred, ref):
    tp, fp, fn, _ = numpy_confusion(pred, ref)
    return 2.0 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0


def bincount_matrix(pred, ref, k=None):
    """``np.bincount(ref.astype(np.int64) * K + pred, minlength=K * K).reshape(K, K)`` (rows: ref)."""
    if k is None:
        k = int(max(pred.max(), ref.max())) + 1
    return np.bincount((ref.astype(np.int64) * k + pred).reshape(-1), minlength=k * k).reshape(k, k)


# ------------------------------------------------------------------ crop + erosion + EDT pipeline

def bbox_slices(mask):
    """Tight bounding box of a mask as slices (None if empty), by projections (``np.any``)."""
    out = []
    for a in range(mask.ndim):
        nz = np.flatnonzero(np.any(mask, axis=tuple(i for i in range(mask.ndim) if i != a)))
        if nz.size == 0:
            return None
        out.append(slice(int(nz[0]), int(nz[-1]) + 1))
    return tuple(out)


def boundary(mask):
    """Boundary voxels ``m & ~binary_erosion(m)`` (face connectivity; the image edge is boundary)."""
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask)


def edt_scipy(not_features, spacing):
    from scipy import ndimage

    return ndimage.distance_transform_edt(not_features, sampling=spacing)


def edt_package(not_features, spacing):
    import edt

    return edt.edt(not_features, anisotropy=tuple(float(s) for s in spacing), black_border=False, parallel=1)


def crop_sets(pred, ref, spacing, backend="scipy"):
    """The directed boundary-voxel distance sets ``(d_pred_to_ref, d_ref_to_pred)`` by the classic
    pipeline: crop to the union's bounding box, ``binary_erosion``, one EDT per mask (SciPy or the
    ``edt`` package), distances read at the other mask's boundary voxels."""
    sl = bbox_slices(pred | ref)
    pc, rc = pred[sl], ref[sl]
    bp, br = boundary(pc), boundary(rc)
    dt = edt_scipy if backend == "scipy" else edt_package
    d_to_r = dt(~br, spacing)
    d_to_p = dt(~bp, spacing)
    return d_to_r[bp], d_to_p[br]


def crop_hd(pred, ref, spacing, percentile=95.0, backend="scipy"):
    """Percentile Hausdorff distance of :func:`crop_sets`: linear percentile per direction, then the
    larger (MONAI's definition; fastseg ``convention="monai"``). Both masks must be non-empty."""
    a, b = crop_sets(pred, ref, spacing, backend)
    return float(max(np.percentile(a, percentile), np.percentile(b, percentile)))


def crop_assd(pred, ref, spacing, backend="scipy"):
    """ASSD of :func:`crop_sets`: the mean of both directed sets pooled, summed in float64 (MONAI's and
    MedPy's definition; fastseg ``convention="monai"``). Both masks must be non-empty."""
    a, b = crop_sets(pred, ref, spacing, backend)
    return float((np.sum(a, dtype=np.float64) + np.sum(b, dtype=np.float64)) / (a.size + b.size))


def crop_nsd(pred, ref, spacing, tolerance, backend="scipy"):
    """Surface Dice of :func:`crop_sets`: boundary voxels of both masks within ``tolerance`` (``<=``)
    of the other's, over all boundary voxels (MONAI's default; fastseg ``convention="monai"``)."""
    a, b = crop_sets(pred, ref, spacing, backend)
    return (int(np.count_nonzero(a <= tolerance)) + int(np.count_nonzero(b <= tolerance))) / (a.size + b.size)


# ---------------------------------------------------------------------------- Boundary IoU

def band_iou(pred, ref, spacing, width, backend="scipy"):
    """Boundary IoU (Cheng et al. 2021) from its definition: crop to the union's bounding box, pad
    by one background voxel, one EDT per mask (SciPy or the ``edt`` package): a mask's band is its
    voxels within ``width`` (``<=``, physical units) of a background voxel -- the mask minus its
    erosion by a Euclidean ball of radius ``width``. Returns ``|Bp & Br| / |Bp | Br|``, 1.0 when both
    bands are empty (``width`` below every spacing); both masks must be non-empty."""
    sl = bbox_slices(pred | ref)
    dt = edt_scipy if backend == "scipy" else edt_package
    inner = (slice(1, -1),) * pred.ndim
    bands = []
    for m in (pred[sl], ref[sl]):
        to_background = dt(np.pad(m, 1), spacing)[inner]
        bands.append(m & (to_background <= width))
    union = int(np.count_nonzero(bands[0] | bands[1]))
    return int(np.count_nonzero(bands[0] & bands[1])) / union if union else 1.0


# ----------------------------------------------------------------------------------- clDice

def cldice_by_definition(pred, ref, skeletonize):
    """clDice (Shit et al. 2021) from its definition with the skeleton function ``skeletonize``:
    ``Tprec = |S(pred) & ref| / |S(pred)|``, ``Tsens = |S(ref) & pred| / |S(ref)|``, clDice =
    ``2 Tprec Tsens / (Tprec + Tsens)``, inside the bounding box of the union (exact: thinning treats
    outside the array as background and never reaches beyond the foreground). Both masks must be
    non-empty; a skeleton that vanished counts as no overlap (0.0), as in ``fastseg.cldice``."""
    sl = bbox_slices(pred | ref)
    p, r = np.ascontiguousarray(pred[sl]), np.ascontiguousarray(ref[sl])
    sp, sr = skeletonize(p), skeletonize(r)
    n_sp, n_sr = int(np.count_nonzero(sp)), int(np.count_nonzero(sr))
    tprec = int(np.count_nonzero(sp & r)) / n_sp if n_sp else 0.0
    tsens = int(np.count_nonzero(sr & p)) / n_sr if n_sr else 0.0
    return 0.0 if tprec + tsens == 0 else 2.0 * tprec * tsens / (tprec + tsens)


def skimage_cldice(pred, ref):
    """clDice with ``skimage.morphology.skeletonize`` (the skeleton of the clDice paper's reference
    code and of MetricsReloaded), by :func:`cldice_by_definition`."""
    from skimage.morphology import skeletonize

    return cldice_by_definition(pred, ref, skeletonize)


# --------------------------------------------------------------------------------- DeepMind

def deepmind_hd(pred, ref, spacing, percentile=95.0):
    """DeepMind ``compute_surface_distances`` then ``compute_robust_hausdorff``."""
    with quiet():
        import surface_distance as sdm

    raw = peers.deepmind_sets(pred, ref, spacing)
    with quiet():
        return float(sdm.compute_robust_hausdorff(raw, percentile))


def deepmind_assd(pred, ref, spacing):
    """DeepMind ``compute_surface_distances`` then ``compute_average_surface_distance``: the mean of
    its two directed (area-weighted) means (fastseg ``convention="deepmind"``)."""
    with quiet():
        import surface_distance as sdm

    raw = peers.deepmind_sets(pred, ref, spacing)
    with quiet():
        a, b = sdm.compute_average_surface_distance(raw)
    return 0.5 * (float(a) + float(b))


def deepmind_nsd(pred, ref, spacing, tolerance):
    """DeepMind ``compute_surface_distances`` then ``compute_surface_dice_at_tolerance``."""
    with quiet():
        import surface_distance as sdm

    raw = peers.deepmind_sets(pred, ref, spacing)
    with quiet():
        return float(sdm.compute_surface_dice_at_tolerance(raw, tolerance))


def deepmind_dice(pred, ref):
    with quiet():
        import surface_distance as sdm

        return float(sdm.compute_dice_coefficient(np.asarray(ref, bool), np.asarray(pred, bool)))


def deepmind_surfels(mask, spacing):
    """DeepMind's surfel step on a mask (what ``compute_surface_distances`` does per mask after its
    crop): neighbour codes by ``ndimage.correlate`` on the corner lattice, surface corners, and their
    areas from its lookup table. Returns ``(number of surfels, total area)``."""
    from scipy import ndimage

    with quiet():
        from surface_distance import lookup_tables as lt

    if mask.ndim == 3:
        table = lt.create_table_neighbour_code_to_surface_area(spacing)
        kernel, full = lt.ENCODE_NEIGHBOURHOOD_3D_KERNEL, 255
    else:
        table = lt.create_table_neighbour_code_to_contour_length(spacing)
        kernel, full = lt.ENCODE_NEIGHBOURHOOD_2D_KERNEL, 15
    padded = np.pad(mask, [(0, 1)] * mask.ndim)  # DeepMind's crop keeps one more slice per axis
    with quiet():
        codes = ndimage.correlate(padded.astype(np.uint8), kernel, mode="constant", cval=0)
    borders = (codes != 0) & (codes != full)
    areas = table[codes[borders]]
    return int(areas.size), float(areas.sum())


def deepmind_label_loop(pred, ref, labels, spacing, tolerance=2.0, percentile=95.0):
    """Score a label map the way a DeepMind user does: per label, ``compute_dice_coefficient``, then
    ``compute_surface_distances`` once and HD95, ASSD (mean of the directed pair) and NSD from it.
    Returns ``{label: {"dice", "hd95", "assd", "nsd"}}``."""
    with quiet():
        import surface_distance as sdm

    out = {}
    for lab in labels:
        p = pred == lab
        r = ref == lab
        raw = peers.deepmind_sets(p, r, spacing)
        with quiet():
            dice = float(sdm.compute_dice_coefficient(r, p))
            hd = float(sdm.compute_robust_hausdorff(raw, percentile))
            a, b = sdm.compute_average_surface_distance(raw)
            nsd = float(sdm.compute_surface_dice_at_tolerance(raw, tolerance))
        out[lab] = {"dice": dice, "hd95": hd, "assd": 0.5 * (float(a) + float(b)), "nsd": nsd}
    return out


# ------------------------------------------------------------------------------------ MONAI

def monai_hd(pred, ref, spacing, percentile=95.0):
    """MONAI ``compute_hausdorff_distance`` (one-hot float tensors, background dropped)."""
    with quiet():
        from monai.metrics import compute_hausdorff_distance

    p, r = peers.monai_onehot(pred), peers.monai_onehot(ref)
    with quiet():
        return float(compute_hausdorff_distance(p, r, spacing=[float(s) for s in spacing],
                                                percentile=percentile).item())


def monai_assd(pred, ref, spacing):
    """MONAI ``compute_average_surface_distance(symmetric=True)`` (both directions pooled)."""
    with quiet():
        from monai.metrics import compute_average_surface_distance

    p, r = peers.monai_onehot(pred), peers.monai_onehot(ref)
    with quiet():
        return float(compute_average_surface_distance(p, r, symmetric=True,
                                                      spacing=[float(s) for s in spacing]).item())


def monai_nsd(pred, ref, spacing, tolerance, subvoxels=False):
    """MONAI ``compute_surface_dice`` with a tolerance in spacing units: boundary voxels counted
    (default; fastseg ``convention="monai"``) or, ``subvoxels=True`` (``use_subvoxels``), DeepMind's
    surfels weighted by area (fastseg ``convention="deepmind"``)."""
    with quiet():
        from monai.metrics import compute_surface_dice

    p, r = peers.monai_onehot(pred), peers.monai_onehot(ref)
    with quiet():
        return float(compute_surface_dice(p, r, [float(tolerance)], spacing=[float(s) for s in spacing],
                                          use_subvoxels=subvoxels).item())


def monai_dice(pred, ref):
    with quiet():
        from monai.metrics import compute_dice

    with quiet():
        return float(compute_dice(peers.monai_onehot(pred), peers.monai_onehot(ref), include_background=False).item())


def monai_label_loop(pred, ref, labels, spacing, tolerance=2.0, percentile=95.0):
    """Score a label map with MONAI's functional metrics, one label at a time (a one-hot pair of the
    label per call, as MONAI's docs show): Dice, HD95, symmetric ASSD, surface Dice (voxel counts)."""
    with quiet():
        from monai.metrics import (compute_average_surface_distance, compute_dice, compute_hausdorff_distance,
                                   compute_surface_dice)

    sp = [float(s) for s in spacing]
    out = {}
    for lab in labels:
        p, r = peers.monai_onehot(pred == lab), peers.monai_onehot(ref == lab)
        with quiet():
            out[lab] = {
                "dice": float(compute_dice(p, r, include_background=False).item()),
                "hd95": float(compute_hausdorff_distance(p, r, spacing=sp, percentile=percentile).item()),
                "assd": float(compute_average_surface_distance(p, r, symmetric=True, spacing=sp).item()),
                "nsd": float(compute_surface_dice(p, r, [float(tolerance)], spacing=sp).item()),
            }
    return out


# ------------------------------------------------------------------------------------ MedPy

def medpy_hd(pred, ref, spacing, percentile=95.0):
    """MedPy ``hd95`` (pooled percentile of both directions); only the 95th and 100th."""
    with quiet():
        from medpy.metric import binary as mb

    kw = dict(voxelspacing=[float(s) for s in spacing])
    with quiet():
        if percentile == 95.0:
            return float(mb.hd95(np.asarray(pred, bool), np.asarray(ref, bool), **kw))
        if percentile == 100.0:
            return float(mb.hd(np.asarray(pred, bool), np.asarray(ref, bool), **kw))
    raise ValueError("MedPy has hd and hd95 only.")


def medpy_assd(pred, ref, spacing):
    """MedPy ``assd`` (>= 0.5: the mean of both directed sets pooled)."""
    with quiet():
        from medpy.metric import binary as mb

        return float(mb.assd(np.asarray(pred, bool), np.asarray(ref, bool),
                             voxelspacing=[float(s) for s in spacing]))


def medpy_dice(pred, ref):
    with quiet():
        from medpy.metric import binary as mb

        return float(mb.dc(np.asarray(pred, bool), np.asarray(ref, bool)))


# ------------------------------------------------------------------------------ seg-metrics

def segmetrics_metric(pred, ref, spacing, metric="hd95"):
    """seg-metrics ``write_metrics(..., metrics=[metric])`` on numpy arrays (spacing in array order):
    ``"hd95"`` or ``"msd"`` (its mean surface distance: both directions pooled, i.e. an ASSD)."""
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    with quiet():
        import seg_metrics.seg_metrics as sg

        res = sg.write_metrics(labels=[1], gdth_img=np.asarray(ref, np.uint8), pred_img=np.asarray(pred, np.uint8),
                               spacing=[float(s) for s in spacing], metrics=[metric], verbose=False)
    val = res[0][metric]
    return float(val[0] if isinstance(val, (list, tuple, np.ndarray)) else val)


# ----------------------------------------------------------------------------------- SimpleITK

def _sitk_image(mask, spacing):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(mask, np.uint8))
    img.SetSpacing([float(s) for s in reversed(spacing)])  # SimpleITK axes are numpy's reversed
    return img


def sitk_dice(pred, ref, spacing):
    """``LabelOverlapMeasuresImageFilter.GetDiceCoefficient`` (equals fastseg's Dice)."""
    import SimpleITK as sitk

    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(_sitk_image(ref, spacing), _sitk_image(pred, spacing))
    return float(f.GetDiceCoefficient())


def sitk_hausdorff(pred, ref, spacing):
    """``HausdorffDistanceImageFilter``: Hausdorff distance between the *object voxel* sets (not the
    surfaces): a different definition from every other peer here, checked against
    :func:`voxel_set_hd`."""
    import SimpleITK as sitk

    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(_sitk_image(ref, spacing), _sitk_image(pred, spacing))
    return float(f.GetHausdorffDistance())


def voxel_set_hd(pred, ref, spacing):
    """Hausdorff distance between the object voxel sets (SimpleITK's definition), from SciPy's EDT of
    each mask's complement read at the other mask's voxels, in the crop to both masks' bounding box
    (exact: every voxel of both sets is inside it). Both masks must be non-empty."""
    sl = bbox_slices(pred | ref)
    pc, rc = pred[sl], ref[sl]
    return max(float(edt_scipy(~rc, spacing)[pc].max()), float(edt_scipy(~pc, spacing)[rc].max()))
