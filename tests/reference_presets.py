"""References for the presets whose peer cannot be installed here, written from the peers' published
code (read, not copied), independently of fastseg:

- seg-metrics 1.2.8 ``computeQualityMeasures`` (needs medutils, PySimpleGUI and a plotting stack at
  import): its distance part, run here with the same SimpleITK filters it calls;
- torchmetrics ``functional.segmentation.hausdorff_distance`` (needs torch): its 2D edges and its
  brute-force float32 distance transform, in NumPy;
- MetricsReloaded ``BinaryPairwiseMeasures.boundary_iou`` and ``centreline_dsc`` (not on PyPI), with
  scipy and scikit-image as it uses them;
- nnU-Net v2 ``evaluate_predictions.compute_metrics`` (needs torch): counts, Dice, IoU.

Each returns what the peer returns, NaN and exceptions included.
"""
import math

import numpy as np
from scipy import ndimage

from tests.peers import quiet, sitk_image


# ------------------------------------------------------------------ seg-metrics

def segmetrics(pred, ref, spacing, fully_connected=True):
    """seg-metrics' ``hd``, ``hd95``, ``msd`` (and the pooled distances): the contour of each mask is
    SimpleITK's ``LabelContour`` (full connectivity by default; the image edge is not a contour), each
    contour voxel's distance is read from the other mask's ``|SignedMaurerDistanceMap|`` (float32),
    and the statistics pool both directions. An empty mask gets a zero distance map (so 0 mm)."""
    import SimpleITK as sitk

    p = np.asarray(pred).astype(np.uint8)
    r = np.asarray(ref).astype(np.uint8)
    img_p, img_r = sitk_image(p, spacing), sitk_image(r, spacing)

    def dist_map(mask, img):
        if mask.sum() == 0:
            return img * 0  # seg-metrics: the all-zero image itself, as the "distance map"
        return sitk.Abs(sitk.SignedMaurerDistanceMap(img > 0.5, squaredDistance=False, useImageSpacing=True))

    def contour(img):
        return sitk.LabelContour(img > 0.5, fullyConnected=fully_connected)

    d_r, d_p = dist_map(r, img_r), dist_map(p, img_p)
    c_p, c_r = contour(img_p), contour(img_r)
    seg2ref = sitk.GetArrayFromImage(sitk.Cast(d_r, sitk.sitkFloat32) * sitk.Cast(c_p, sitk.sitkFloat32))
    ref2seg = sitk.GetArrayFromImage(sitk.Cast(d_p, sitk.sitkFloat32) * sitk.Cast(c_r, sitk.sitkFloat32))
    n_p = int(sitk.GetArrayFromImage(c_p).astype(bool).sum())
    n_r = int(sitk.GetArrayFromImage(c_r).astype(bool).sum())
    a = list(seg2ref[seg2ref != 0]) + [0.0] * (n_p - int(np.count_nonzero(seg2ref)))
    b = list(ref2seg[ref2seg != 0]) + [0.0] * (n_r - int(np.count_nonzero(ref2seg)))
    both = a + b
    if not both:
        return {"hd": 0.0, "hd95": 0.0, "msd": 0.0}
    return {"hd": float(np.max(both)), "hd95": float(np.percentile(both, 95)), "msd": float(np.mean(both))}


# ------------------------------------------------------------------ torchmetrics

def torchmetrics_hd(pred, ref, spacing):
    """torchmetrics' 2D ``hausdorff_distance`` (euclidean, ``directed=False``) of one class: edges by
    erosion (face connectivity, zero border) after padding by one pixel; the distance map of the other
    mask's edges by its brute-force "pytorch" engine in float32 (``(s0 * di) ** 2 + (s1 * dj) ** 2``,
    then the square root), read at each edge pixel; the larger of the two maxima. Two empty masks: the
    maximum of an empty tensor fails (RuntimeError); an empty mask against a non-empty one: inf.

    As torchmetrics does, the map is filled through the flat index ``i * h + j`` with ``h`` the number
    of rows: right for square images only (on others its values land on the wrong pixels, or the
    index leaves the map, IndexError)."""
    p = np.pad(np.asarray(pred).astype(bool), 1)
    r = np.pad(np.asarray(ref).astype(bool), 1)
    assert p.ndim == 2, "torchmetrics' distance transform is 2D"
    ep = p ^ ndimage.binary_erosion(p, border_value=0)
    er = r ^ ndimage.binary_erosion(r, border_value=0)
    s0, s1 = np.float32(spacing[0]), np.float32(spacing[1])
    h = p.shape[0]

    def directed(src, dst):
        if not dst.any():
            return np.full(int(src.sum()), np.inf, np.float32)
        if not src.any():
            return np.full(int(dst.sum()), np.inf, np.float32)
        i0, j0 = np.nonzero(dst)  # the zeros of ~dst
        i1, j1 = np.nonzero(~dst)
        z = np.zeros(p.size, np.float32)
        for lo in range(0, i1.size, 2048):
            a = (s0 * np.abs(i1[lo:lo + 2048, None] - i0[None]).astype(np.float32)) ** 2
            b = (s1 * np.abs(j1[lo:lo + 2048, None] - j0[None]).astype(np.float32)) ** 2
            flat = i1[lo:lo + 2048] * h + j1[lo:lo + 2048]
            if flat.size and flat.max() >= z.size:
                raise IndexError("index out of bounds (torchmetrics' i * h + j on a non-square image)")
            z[flat] = np.sqrt(a + b).min(axis=1)
        return z.reshape(p.shape)[src]

    d1, d2 = directed(ep, er), directed(er, ep)
    if d1.size == 0 or d2.size == 0:
        raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() == 0.")
    return float(max(d1.max(), d2.max()))


# ------------------------------------------------------------------ MetricsReloaded

def mr_border(mask):
    """MetricsReloaded's ``MorphologyOps.border_map``: the mask minus its erosion (scipy's default
    structure, outside the image is background); the connectivity argument is not used."""
    m = np.asarray(mask).astype(np.int8)
    return m - ndimage.binary_erosion(m)


def mr_boundary_iou(pred, ref, distance=1):
    """``BinaryPairwiseMeasures.boundary_iou`` (``dict_args["boundary_dist"]``, default 1): both empty
    gives 1; each band is the mask's voxels whose distance (unit spacing) to its border map is below
    ``distance``; intersection over union of the bands."""
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if int(np.sum(ref)) == 0 and int(np.sum(pred)) == 0:
        return 1
    with quiet():
        bands = []
        for m in (pred, ref):
            border = mr_border(m)
            dist = ndimage.distance_transform_edt(1 - border)
            bands.append(np.where(np.logical_and(dist < distance, m > 0), 1, 0))
        inter = np.sum(bands[0] * bands[1])
        union = np.sum(np.where(bands[0] + bands[1] > 0, 1, 0))
        return inter / union


def mr_cldice(pred, ref):
    """``BinaryPairwiseMeasures.centreline_dsc``: skeletons by ``skimage.morphology.skeletonize``;
    topology precision and sensitivity NaN when their skeleton is empty; the harmonic mean (0 / 0 is
    NaN). Its "both empty" branch compares the bound methods ``n_pos_pred``/``n_pos_ref`` with 0, which
    is never true, so it never runs."""
    from skimage.morphology import skeletonize

    pred = np.asarray(pred)
    ref = np.asarray(ref)
    s_ref, s_pred = skeletonize(ref), skeletonize(pred)
    with quiet():
        den_p = np.sum(s_pred)
        top_prec = np.nan if den_p == 0 else np.sum(s_pred * ref) / den_p
        den_s = np.sum(s_ref)
        top_sens = np.nan if den_s == 0 else np.sum(s_ref * pred) / den_s
        if np.isnan(top_sens):
            return np.nan
        return float(np.float64(2 * top_sens * top_prec) / np.float64(top_sens + top_prec))


# ------------------------------------------------------------------ nnU-Net

def nnunet_metrics(pred, ref, ignore=None):
    """nnU-Net v2 ``compute_tp_fp_fn_tn`` and ``compute_metrics`` for one label: counts outside the
    ignore mask; Dice ``2 TP / (2 TP + FP + FN)`` and IoU ``TP / (TP + FP + FN)``, NaN when the
    denominator is 0 (both masks empty)."""
    r = np.asarray(ref).astype(bool)
    p = np.asarray(pred).astype(bool)
    use = np.ones_like(r) if ignore is None else ~np.asarray(ignore).astype(bool)
    tp = int(np.sum(r & p & use))
    fp = int(np.sum(~r & p & use))
    fn = int(np.sum(r & ~p & use))
    tn = int(np.sum(~r & ~p & use))
    den = tp + fp + fn
    return {"Dice": math.nan if den == 0 else 2 * tp / (2 * tp + fp + fn),
            "IoU": math.nan if den == 0 else tp / den,
            "TP": tp, "FP": fp, "FN": fn, "TN": tn, "n_pred": fp + tp, "n_ref": fn + tp}
