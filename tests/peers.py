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
import os
import shutil
import sys
import warnings

import numpy as np

__all__ = ["PEERS", "available", "deepmind_metrics", "medpy_metrics", "monai_metrics", "itk_metrics",
           "pymia_metrics", "plastimatch_metrics"]


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


# ---------------------------------------------------------------- SimpleITK

def sitk_image(mask, spacing):
    """A SimpleITK image of a numpy mask: SimpleITK reverses the axes, so the spacing is reversed."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(mask).astype(np.uint8))
    img.SetSpacing([float(s) for s in spacing][::-1])
    return img


def itk_metrics(pred, ref, spacing):
    """SimpleITK's ``HausdorffDistanceImageFilter``: distances between all object voxels (not
    surfaces); ``hd`` its Hausdorff distance, ``masd`` its average Hausdorff distance (the mean of the
    two directed means). Raises RuntimeError when a mask is empty ("pixelcount is equal to 0")."""
    import SimpleITK as sitk

    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(sitk_image(pred, spacing), sitk_image(ref, spacing))
    return {"hd": float(f.GetHausdorffDistance()), "masd": float(f.GetAverageHausdorffDistance())}


# ---------------------------------------------------------------- pymia

def pymia_metrics(pred, ref, spacing, tolerance=(), percentile=(95.0,)):
    """pymia's ``HausdorffDistance`` (DeepMind's surfels, per-direction nearest rank, the larger;
    a 2D image as a 3D slab with spacing 1.0 along an added last axis), ``SurfaceDiceOverlap`` and
    ``AverageDistance`` (``avgdist``: SimpleITK's average Hausdorff distance over object voxels).
    Empty masks give what pymia gives (inf; surface Dice -inf when both are empty, 0.0 when one is).
    The metric objects are fed as pymia's ``Evaluator`` feeds them."""
    from pymia.evaluation import metric as pm

    p = np.asarray(pred).astype(np.uint8)
    r = np.asarray(ref).astype(np.uint8)
    sp = tuple(float(s) for s in spacing)
    with quiet():
        dist = pm.Distances(p, r, sp)

        def run(metric):
            metric.distances = dist
            return float(metric.calculate())

        out = {"hd": run(pm.HausdorffDistance(100.0)), "hd95": run(pm.HausdorffDistance(95.0)),
               "hdq": {q: run(pm.HausdorffDistance(q)) for q in _as_list(percentile)},
               "nsd": {t: run(pm.SurfaceDiceOverlap(t)) for t in _as_list(tolerance)}}
        avg = pm.AverageDistance()
        avg.prediction, avg.reference, avg.spacing = p, r, sp
        out["avgdist"] = float(avg.calculate())
    return out


# ---------------------------------------------------------------- plastimatch

def plastimatch_metrics(pred, ref, spacing):
    """``plastimatch dice --hausdorff REF PRED`` (the command line of the ``plastimatch`` wheel): its
    boundary distances (boundary voxels; ``hd`` the larger directed maximum, ``hd95`` the mean of the
    two directed 95th percentiles, ``masd`` the mean of the directed means, ``max_directed_mean`` the
    larger one). A 2D mask is written as one slice. plastimatch prints 6 decimals. Raises
    RuntimeError when it fails (two empty masks)."""
    import re
    import subprocess
    import tempfile

    import SimpleITK as sitk

    def as3d(m):
        m = np.asarray(m)
        return (m[None], (1.0,) + tuple(spacing)) if m.ndim == 2 else (m, tuple(spacing))

    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, m in (("ref", ref), ("pred", pred)):
            path = os.path.join(d, f"{name}.mha")
            sitk.WriteImage(sitk_image(*as3d(m)), path)
            paths.append(path)
        run = subprocess.run([plastimatch_command(), "dice", "--hausdorff", *paths], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"plastimatch failed ({run.returncode}): {run.stderr.strip()[-200:]}")
    got = {}
    for line in run.stdout.splitlines():
        m = re.match(r"\s*(.*?) = (\S+)\s*$", line)
        if m:
            got[m.group(1)] = float(m.group(2))
    return {"hd": got["Hausdorff distance (boundary)"],
            "hd95": got["Percent (0.95) Hausdorff distance (boundary)"],
            "masd": got["Avg average Hausdorff distance (boundary)"],
            "max_directed_mean": got["Max average Hausdorff distance (boundary)"]}


def plastimatch_command():
    """The ``plastimatch`` command line: the wheel installs it next to Python (else on PATH), or None."""
    here = os.path.join(os.path.dirname(sys.executable), "plastimatch")
    return here if os.path.exists(here) else shutil.which("plastimatch")


PEERS = {
    "deepmind": {"module": "surface_distance", "convention": "deepmind", "metrics": deepmind_metrics},
    "medpy": {"module": "medpy", "convention": "medpy", "metrics": medpy_metrics},
    "monai": {"module": "monai", "convention": "monai", "metrics": monai_metrics},
    "itk": {"module": "SimpleITK", "convention": "itk", "metrics": itk_metrics},
    "pymia": {"module": "pymia", "convention": "pymia", "metrics": pymia_metrics},
    "plastimatch": {"module": "plastimatch", "convention": "plastimatch", "metrics": plastimatch_metrics},
}
