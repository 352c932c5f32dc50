"""The same distance metrics in other libraries: one registry for the parity tests and the benchmarks.

Each ``*_metrics`` function imports its peer lazily (none of them is a dependency of fastseg), calls
it the way its authors intend, works around its known traps (PEERS.md), silences the warnings it
emits (the test suite turns warnings into errors), and returns a dict with fastseg's names and
fastseg's argument order ``(pred, ref)``:

========================  ==========================================================================
key                       meaning
========================  ==========================================================================
``hd``                    Hausdorff distance
``hd95``                  95th-percentile Hausdorff distance
``hdq``                   {percentile: percentile Hausdorff distance}
``assd``                  average symmetric surface distance as the peer defines it
``masd``                  mean of the two directed mean distances
``directed_means``        ``(mean pred -> ref, mean ref -> pred)``
``nsd``                   {tolerance: surface Dice}
``overlap``               {tolerance: (fraction of pred's surface within it, same for ref)}
``nsd_surfel``            {tolerance: MONAI's surface Dice with ``use_subvoxels=True``}
``sets``                  DeepMind's raw sets ``(d_pred_to_ref, w_pred, d_ref_to_pred, w_ref)``
========================  ==========================================================================

Only the keys a peer can compute are present. Peers raise what they raise (MedPy: RuntimeError on
an empty mask). ``PEERS`` maps a peer to its importable module and the fastseg convention that
reproduces it.
"""
import contextlib
import importlib.util
import warnings

import numpy as np

__all__ = ["PEERS", "available", "deepmind_metrics", "medpy_metrics", "monai_metrics"]


@contextlib.contextmanager
def quiet():
    """Silence the peers' warnings (deprecated scipy names, empty-mask warnings, 0/0)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def available(peer):
    """True when the peer's module can be imported (without importing it)."""
    return importlib.util.find_spec(PEERS[peer]["module"]) is not None


def _as_list(x):
    return [] if x is None else [float(v) for v in np.atleast_1d(x)]


# ---------------------------------------------------------------- DeepMind surface-distance

def deepmind_sets(pred, ref, spacing):
    """``surface_distance.compute_surface_distances`` in fastseg's order: ``(d_pred_to_ref, w_pred,
    d_ref_to_pred, w_ref)``. Traps: its argument order is ``(mask_gt, mask_pred)``, it takes bool
    arrays and a spacing list, and it uses ``np.Inf``/``np.NaN`` (gone in NumPy 2)."""
    import surface_distance as sdm

    if not hasattr(np, "Inf"):  # only if missing: NumPy 1.x still has them
        np.Inf = np.inf
    if not hasattr(np, "NaN"):
        np.NaN = np.nan
    pred = np.asarray(pred).astype(bool)
    ref = np.asarray(ref).astype(bool)
    with quiet():
        raw = sdm.compute_surface_distances(ref, pred, [float(s) for s in spacing])
    return raw


def deepmind_metrics(pred, ref, spacing, tolerance=(), percentile=(95.0,)):
    """DeepMind's ``surface-distance`` (0.1): surfels weighted by area, nearest-rank percentiles.

    ``directed_means`` is DeepMind's ``compute_average_surface_distance`` pair, which comes in the
    order (gt -> pred, pred -> gt): swapped here. ``assd`` is the mean of that pair (the usual
    reduction; fastseg's ``"deepmind"`` convention uses it). Empty masks give what DeepMind gives
    (inf, NaN, 0.0).
    """
    import surface_distance as sdm

    raw = deepmind_sets(pred, ref, spacing)
    out = {"sets": (raw["distances_pred_to_gt"], raw["surfel_areas_pred"],
                    raw["distances_gt_to_pred"], raw["surfel_areas_gt"])}
    with quiet():
        out["hd"] = float(sdm.compute_robust_hausdorff(raw, 100))
        out["hd95"] = float(sdm.compute_robust_hausdorff(raw, 95))
        out["hdq"] = {q: float(sdm.compute_robust_hausdorff(raw, q)) for q in _as_list(percentile)}
        gt_to_pred, pred_to_gt = sdm.compute_average_surface_distance(raw)
        out["directed_means"] = (float(pred_to_gt), float(gt_to_pred))
        out["masd"] = out["assd"] = 0.5 * (float(pred_to_gt) + float(gt_to_pred))
        out["nsd"] = {}
        out["overlap"] = {}
        for t in _as_list(tolerance):
            out["nsd"][t] = float(sdm.compute_surface_dice_at_tolerance(raw, t))
            gt_frac, pred_frac = sdm.compute_surface_overlap_at_tolerance(raw, t)
            out["overlap"][t] = (float(pred_frac), float(gt_frac))
    return out


# ---------------------------------------------------------------- MedPy

def medpy_metrics(pred, ref, spacing, connectivity=1, which=("hd", "hd95", "assd", "directed_means")):
    """``medpy.metric.binary`` (>= 0.5.2): boundary voxels; ``hd95`` is the percentile of both
    directions pooled; ``assd`` pools both directions; ``directed_means`` from ``asd``. Raises
    RuntimeError when a mask is empty."""
    from medpy.metric import binary as mb

    pred = np.asarray(pred).astype(bool)
    ref = np.asarray(ref).astype(bool)
    kw = dict(voxelspacing=[float(s) for s in spacing], connectivity=connectivity)
    out = {}
    with quiet():
        if "hd" in which:
            out["hd"] = float(mb.hd(pred, ref, **kw))
        if "hd95" in which:
            out["hd95"] = float(mb.hd95(pred, ref, **kw))
        if "assd" in which:
            out["assd"] = float(mb.assd(pred, ref, **kw))
        if "directed_means" in which:
            out["directed_means"] = (float(mb.asd(pred, ref, **kw)), float(mb.asd(ref, pred, **kw)))
    return out


# ---------------------------------------------------------------- MONAI

def monai_onehot(mask):
    """MONAI wants one-hot float tensors ``[batch, class, *spatial]`` (not bool: some of its metrics
    miscount torch.bool); class 0 (background) is dropped by ``include_background=False``."""
    import torch

    a = np.asarray(mask).astype(np.float32)
    return torch.tensor(np.stack([1.0 - a, a])[None])


def monai_metrics(pred, ref, spacing, tolerance=(), percentile=(95.0,),
                  which=("hd", "hd95", "hdq", "assd", "directed_means", "nsd", "nsd_surfel")):
    """MONAI's ``compute_hausdorff_distance`` / ``compute_average_surface_distance`` /
    ``compute_surface_dice``: boundary voxels, torch's linear quantile per direction, float32
    results. Empty masks give what MONAI gives (NaN, inf, 0.0)."""
    from monai.metrics import (compute_average_surface_distance, compute_hausdorff_distance,
                               compute_surface_dice)

    p, r = monai_onehot(pred), monai_onehot(ref)
    sp = [float(s) for s in spacing]
    tols = _as_list(tolerance)
    out = {}
    with quiet():
        if "hd" in which:
            out["hd"] = compute_hausdorff_distance(p, r, spacing=sp).item()
        if "hd95" in which:
            out["hd95"] = compute_hausdorff_distance(p, r, spacing=sp, percentile=95).item()
        if "hdq" in which:
            out["hdq"] = {q: compute_hausdorff_distance(p, r, spacing=sp, percentile=q).item()
                          for q in _as_list(percentile)}
        if "assd" in which:
            out["assd"] = compute_average_surface_distance(p, r, symmetric=True, spacing=sp).item()
        if "directed_means" in which:
            out["directed_means"] = (
                compute_average_surface_distance(p, r, symmetric=False, spacing=sp).item(),
                compute_average_surface_distance(r, p, symmetric=False, spacing=sp).item(),
            )
        if "nsd" in which:
            out["nsd"] = {t: compute_surface_dice(p, r, [t], spacing=sp).item() for t in tols}
        if "nsd_surfel" in which:
            out["nsd_surfel"] = {t: compute_surface_dice(p, r, [t], spacing=sp, use_subvoxels=True).item()
                                 for t in tols}
    return out


PEERS = {
    "deepmind": {"module": "surface_distance", "convention": "deepmind", "metrics": deepmind_metrics},
    "medpy": {"module": "medpy", "convention": "medpy", "metrics": medpy_metrics},
    "monai": {"module": "monai", "convention": "monai", "metrics": monai_metrics},
}
