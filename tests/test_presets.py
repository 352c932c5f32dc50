"""Parity of the presets added in issue 16 with their peers, on the cases of tests/test_parity.py (32
pairs: smooth blobs and noise, 2D and 3D, anisotropic spacing, structures on the image border, small
and thin structures; plus 6 pairs with empty masks):

- ``itk`` against SimpleITK's HausdorffDistanceImageFilter, ``pymia`` against pymia,
  ``plastimatch`` against the ``plastimatch`` command line and ``panoptica`` against panoptica's own
  metric functions (installed from PyPI; each test skips cleanly without its peer);
- ``seg-metrics``, ``torchmetrics``, ``metricsreloaded`` (boundary IoU, clDice) and ``nnunet`` against
  the references of tests/reference_presets.py, written from the peers' published code.

Tolerances: 1e-6 relative against float64 peers and torchmetrics' float32 distances; 1e-5 against
seg-metrics, whose statistics are float32 too (as MONAI's); plastimatch prints 6 decimals, so 1e-6
absolute on top.
"""
import dataclasses
import math

import numpy as np
import pytest

import fastseg
from fastseg.conventions import FLOAT32_MAX, PRESETS, get_convention

from tests import peers
from tests import reference_presets as RP
from tests.conftest import same
from tests.test_parity import ALL, CASES, EMPTY, PERCENTILES, T1, TOLERANCES, compare, flatten

RTOL = 1e-6


def metrics(pred, ref, sp, convention, tolerances=TOLERANCES, percentiles=PERCENTILES):
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=convention, threads=T1)
    return {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd),
            "hdq": {q: fastseg.hausdorff(sd, percentile=q) for q in percentiles},
            "assd": fastseg.assd(sd), "masd": fastseg.masd(sd), "directed_means": fastseg.directed_means(sd),
            "nsd": dict(zip(tolerances, fastseg.nsd(sd, tolerance=list(tolerances))))}


def square_2d_cases():
    """torchmetrics' distance map is right on square images only (see RP.torchmetrics_hd): the 2D
    cases cut square, and square in-plane slices of the 3D cases, with their spacing."""
    out = {}
    for cid, (p, r, sp) in CASES.items():
        if p.ndim == 2:
            n = min(p.shape)
            out[f"{cid}-square"] = (p[:n, :n], r[:n, :n], sp)
        else:
            k = p.shape[0] // 2
            n = min(p.shape[1:])
            out[f"{cid}-slice"] = (p[k, :n, :n], r[k, :n, :n], sp[1:])
    return {c: v for c, v in out.items() if v[0].any() or v[1].any()}


SQUARE = square_2d_cases()
for _cid, _pair in EMPTY.items():
    if _pair[0].ndim == 2:
        _n = min(_pair[0].shape)
        SQUARE[f"{_cid}-square"] = (_pair[0][:_n, :_n], _pair[1][:_n, :_n], _pair[2])
assert len(SQUARE) >= 30


# ------------------------------------------------------------------ itk (SimpleITK)

@pytest.mark.parametrize("case_id", list(CASES))
def test_itk(case_id):
    pytest.importorskip("SimpleITK")
    pred, ref, sp = CASES[case_id]
    want = peers.itk_metrics(pred, ref, sp)
    got = metrics(pred, ref, sp, "itk")
    want["assd"] = want["masd"]  # the preset's ASSD is SimpleITK's average Hausdorff distance
    compare({k: got[k] for k in want}, want, RTOL, case_id)


@pytest.mark.parametrize("case_id", list(EMPTY))
def test_itk_empty_raises_like_simpleitk(case_id):
    pytest.importorskip("SimpleITK")
    pred, ref, sp = EMPTY[case_id]
    with pytest.raises(RuntimeError, match="pixelcount is equal to 0"):
        peers.itk_metrics(pred, ref, sp)
    with pytest.raises(ValueError, match="empty"):
        fastseg.hausdorff(pred, ref, spacing=sp, convention="itk")


# ------------------------------------------------------------------ pymia

@pytest.mark.parametrize("case_id", list(ALL))
def test_pymia(case_id):
    pytest.importorskip("pymia")
    pred, ref, sp = ALL[case_id]
    want = peers.pymia_metrics(pred, ref, sp, TOLERANCES, PERCENTILES)
    got = metrics(pred, ref, sp, "pymia")
    keys = ("hd", "hd95", "hdq", "nsd")
    compare(flatten(got, keys), flatten(want, keys), RTOL, case_id)
    # pymia's AverageDistance is SimpleITK's average Hausdorff distance: the itk preset's
    if case_id in CASES:
        assert same(fastseg.masd(pred, ref, spacing=sp, convention="itk"), want["avgdist"], RTOL)
    else:
        assert want["avgdist"] == math.inf


# ------------------------------------------------------------------ plastimatch

def boundary_sizes(pred, ref):
    sd = fastseg.surface_distances(pred, ref, convention="plastimatch")
    return sd.pred_to_ref.size, sd.ref_to_pred.size


# plastimatch reads element -1 of its distance list for the percentile of a single boundary voxel
# (floor(0.95 * 1 - 1) = -1): undefined, so pairs with a one-voxel boundary are left out.
PLASTIMATCH = {c: v for c, v in {**CASES, **SQUARE}.items()
               if v[0].any() and v[1].any() and min(boundary_sizes(*v[:2])) >= 2}
assert len(PLASTIMATCH) >= 30


@pytest.mark.parametrize("case_id", list(PLASTIMATCH))
def test_plastimatch(case_id):
    if not peers.plastimatch_command():
        pytest.skip("plastimatch is not installed")
    pred, ref, sp = PLASTIMATCH[case_id]
    want = peers.plastimatch_metrics(pred, ref, sp)
    got = metrics(pred, ref, sp, "plastimatch")
    got["max_directed_mean"] = max(got["directed_means"])
    compare({k: got[k] for k in want}, want, RTOL, case_id, atol={k: 1e-6 for k in want})


@pytest.mark.parametrize("case_id", list(EMPTY))
def test_plastimatch_empty(case_id):
    """One empty mask: plastimatch's distance map of an empty mask is the float32 maximum everywhere:
    HD that maximum, the percentile and the average half of it. Two empty masks: it fails."""
    if not peers.plastimatch_command():
        pytest.skip("plastimatch is not installed")
    pred, ref, sp = EMPTY[case_id]
    if case_id.startswith("both"):
        with pytest.raises(RuntimeError, match="plastimatch failed"):
            peers.plastimatch_metrics(pred, ref, sp)
        with pytest.raises(ValueError, match="empty"):
            fastseg.hd95(pred, ref, spacing=sp, convention="plastimatch")
        return
    want = peers.plastimatch_metrics(pred, ref, sp)
    got = metrics(pred, ref, sp, "plastimatch")
    assert want["hd"] == got["hd"] == FLOAT32_MAX
    assert want["hd95"] == got["hd95"] == want["masd"] == got["masd"] == FLOAT32_MAX / 2


# ------------------------------------------------------------------ seg-metrics (reference)

# a mask filling the image has no contour (the image edge is none): SimpleITK's distance map from no
# contour is its sentinel, about 1.8e19 mm; fastseg gives inf (tested below)
SEGMETRICS_CASES = [c for c in ALL if c != "full-vs-cube3d"]


@pytest.mark.parametrize("case_id", SEGMETRICS_CASES)
def test_segmetrics(case_id):
    pytest.importorskip("SimpleITK")
    pred, ref, sp = ALL[case_id]
    want = RP.segmetrics(pred, ref, sp)
    got = metrics(pred, ref, sp, "seg-metrics")
    # seg-metrics works in float32 throughout (distances, percentile, mean): 1e-5, as for MONAI; and
    # SimpleITK's Maurer map gives a contour voxel up to ~1.4e-6 mm instead of 0 (identical masks)
    compare({"hd": got["hd"], "hd95": got["hd95"], "msd": got["assd"]}, want, 1e-5, case_id,
            atol={"hd": 2e-6, "hd95": 2e-6, "msd": 2e-6})


def test_segmetrics_mask_filling_the_image():
    pytest.importorskip("SimpleITK")
    pred, ref, sp = ALL["full-vs-cube3d"]
    want = RP.segmetrics(pred, ref, sp)
    assert 1e19 < want["hd"] < 2e19 and 1e19 < want["hd95"] < 2e19
    got = metrics(pred, ref, sp, "seg-metrics")
    assert got["hd"] == got["hd95"] == got["assd"] == math.inf


def test_segmetrics_contour_is_full_connectivity_without_the_image_edge():
    """The pixel with only a diagonal background neighbour is on the contour; the image edge is not."""
    pytest.importorskip("SimpleITK")
    m = np.zeros((7, 8), bool)
    m[0:4, 2:6] = True
    m[4, 3] = True
    other = np.zeros_like(m)
    other[6, 0] = True
    sd = fastseg.surface_distances(m, other, convention="seg-metrics")
    assert sd.pred_to_ref.size == 11  # (0..3, 2), (0..3, 5), (3, 3), (3, 4), (4, 3)
    assert same(fastseg.hausdorff(m, other, convention="seg-metrics"), RP.segmetrics(m, other, (1.0, 1.0))["hd"], 1e-6)


# ------------------------------------------------------------------ torchmetrics (reference, 2D)



@pytest.mark.parametrize("case_id", list(SQUARE))
def test_torchmetrics(case_id):
    pred, ref, sp = SQUARE[case_id]
    if not (pred.any() or ref.any()):
        with pytest.raises(RuntimeError):
            RP.torchmetrics_hd(pred, ref, sp)
        with pytest.raises(ValueError, match="empty"):
            fastseg.hausdorff(pred, ref, spacing=sp, convention="torchmetrics")
        return
    want = RP.torchmetrics_hd(pred, ref, sp)
    got = fastseg.hausdorff(pred, ref, spacing=sp, convention="torchmetrics")
    assert same(got, want, RTOL), (case_id, got, want)


def test_torchmetrics_non_square_images_are_its_bug():
    """On a non-square image torchmetrics' map is filled at ``i * h + j``: values land elsewhere (or the
    index leaves the map). The preset gives the intended distance: that of the image cut square."""
    pred, ref, sp = CASES["blob2d-0"]  # (30, 40): h < w
    n = min(pred.shape)
    intended = fastseg.hausdorff(pred, ref, spacing=sp, convention="torchmetrics")
    assert intended == fastseg.hausdorff(pred, ref, spacing=sp, convention="monai")
    tall = (pred.T.copy(), ref.T.copy(), sp[::-1])  # (40, 30): h > w
    with pytest.raises(IndexError):
        RP.torchmetrics_hd(*tall)
    assert same(RP.torchmetrics_hd(pred[:n, :n], ref[:n, :n], sp),
                fastseg.hausdorff(pred[:n, :n], ref[:n, :n], spacing=sp, convention="torchmetrics"), RTOL)


# ------------------------------------------------------------------ MetricsReloaded: boundary IoU, clDice

@pytest.mark.parametrize("case_id", list(ALL))
def test_metricsreloaded_boundary_iou(case_id):
    pred, ref, sp = ALL[case_id]
    for width in (1, 2, 3.5):
        want = RP.mr_boundary_iou(pred, ref, width)
        got = fastseg.boundary_iou(pred, ref, width=width, spacing=sp, convention="metricsreloaded")
        assert same(got, float(want), 1e-12), (case_id, width, got, want)


@pytest.mark.parametrize("case_id", list(ALL))
def test_metricsreloaded_cldice(case_id):
    pytest.importorskip("skimage")
    pred, ref, sp = ALL[case_id]
    want = RP.mr_cldice(pred, ref)
    got = fastseg.cldice(pred, ref, convention="metricsreloaded")
    assert same(got, want, 1e-12), (case_id, got, want)


def test_metricsreloaded_cldice_degenerate_cases():
    """NaN where MetricsReloaded gives NaN: both empty, one empty, skeletons that miss each other."""
    a = np.zeros((9, 9), bool)
    a[1:3, 1:8] = True
    b = np.zeros_like(a)
    b[6:8, 1:8] = True
    for p, r in ((a, b), (a, np.zeros_like(a)), (np.zeros_like(a), a), (np.zeros_like(a),) * 2):
        want = RP.mr_cldice(p, r)
        assert math.isnan(want) and math.isnan(fastseg.cldice(p, r, convention="metricsreloaded"))
    assert fastseg.cldice(a, b) == 0.0 and fastseg.cldice(a, np.zeros_like(a)) == 0.0


def test_cldice_method_overrides_the_convention():
    pred, ref, _ = CASES["blob3d-0"]
    assert fastseg.cldice(pred, ref, method="fastseg", convention="metricsreloaded") == \
        fastseg.cldice(pred, ref)
    assert fastseg.cldice(pred, ref, convention="metricsreloaded") == fastseg.cldice(pred, ref, method="skimage")


# ------------------------------------------------------------------ nnU-Net (reference)

@pytest.mark.parametrize("case_id", list(ALL))
def test_nnunet(case_id):
    pred, ref, _ = ALL[case_id]
    want = RP.nnunet_metrics(pred, ref)
    conv = get_convention("nnunet")
    c = fastseg.confusion(pred, ref)
    both_empty = c.empty_state == "both_empty"
    got = {"Dice": fastseg.dice(pred, ref, convention="nnunet"), "IoU": fastseg.iou(pred, ref, convention=conv),
           "TP": c.tp, "FP": c.fp, "FN": c.fn, "TN": c.tn, "n_pred": c.tp + c.fp, "n_ref": c.tp + c.fn}
    compare(got, want, 1e-12, case_id)
    if both_empty:  # and nnunet's distances of two empty masks: NaN, left out of means like its Dice
        assert math.isnan(fastseg.hd95(pred, ref, convention="nnunet"))
        assert get_convention("fastseg").both_empty_overlap() == 1.0


# ------------------------------------------------------------------ panoptica

def panoptica_metrics(pred, ref, sp):
    """panoptica's metric functions on a semantic pair, as its instance evaluation calls them on a
    matched pair (``reference``, ``prediction``, ``voxelspacing``, connectivity 1): HD, HD95 (the
    95th percentile of both directions pooled), ASSD (the mean of the two directed means), Dice, and
    NSD at each tolerance (the mean of the two directed fractions within it)."""
    import warnings

    from panoptica.metrics.assd import _average_symmetric_surface_distance
    from panoptica.metrics.dice import _compute_dice_coefficient
    from panoptica.metrics.hausdorff_distance import _compute_hausdorff_distance, _compute_hausdorff_distance95
    from panoptica.metrics.normalized_surface_dice import _compute_normalized_surface_dice

    r, p = np.asarray(ref, bool), np.asarray(pred, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # panoptica warns when a tolerance is 0.5
        nsd = {t: float(_compute_normalized_surface_dice(r, p, sp, 1, t)) for t in TOLERANCES}
    return {"hd": float(_compute_hausdorff_distance(r, p, sp)), "hd95": float(_compute_hausdorff_distance95(r, p, sp)),
            "assd": float(_average_symmetric_surface_distance(r, p, sp)), "dice": float(_compute_dice_coefficient(r, p)),
            "nsd": nsd}


@pytest.mark.parametrize("case_id", list(CASES))
def test_panoptica(case_id):
    pytest.importorskip("panoptica")
    pred, ref, sp = CASES[case_id]
    want = panoptica_metrics(pred, ref, sp)
    got = metrics(pred, ref, sp, "panoptica")
    got["dice"] = fastseg.dice(pred, ref, convention="panoptica")
    compare({k: got[k] for k in want}, want, RTOL, case_id)


def reference_panoptica_nsd(d_pr, d_rp, t):
    """panoptica's NSD written out from its published code (``normalized_surface_dice.py``): each
    surface's fraction within and beyond ``t`` (``<=``), the reference's first, summed in its order."""
    tr, fr = np.sum(d_rp <= t) / d_rp.size, np.sum(d_rp > t) / d_rp.size
    tp, fp = np.sum(d_pr <= t) / d_pr.size, np.sum(d_pr > t) / d_pr.size
    return (tr + tp) / (tr + tp + fr + fp + np.finfo(float).tiny)


@pytest.mark.parametrize("case_id", list(CASES))
def test_panoptica_nsd_is_the_mean_of_the_directed_fractions(case_id):
    """Without panoptica installed too: the preset's NSD from its own distance sets, to the bit, and
    different from the pooled NSD of the same sets where the two surfaces differ in size."""
    pred, ref, sp = CASES[case_id]
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention="panoptica", threads=T1)
    pooled = fastseg.nsd(dataclasses.replace(sd, convention=get_convention("monai")), tolerance=list(TOLERANCES))
    for t, got, other in zip(TOLERANCES, fastseg.nsd(sd, tolerance=list(TOLERANCES)), pooled):
        assert got == reference_panoptica_nsd(np.asarray(sd.pred_to_ref), np.asarray(sd.ref_to_pred), t)
        if sd.pred_to_ref.size == sd.ref_to_pred.size:
            assert math.isclose(got, other, rel_tol=1e-12)


@pytest.mark.parametrize("case_id", list(EMPTY))
def test_panoptica_empty_has_no_value_there(case_id):
    """An empty mask never reaches panoptica's instance metrics (matched instances are not empty); its
    functions have no defined value there (HD raises, ASSD is NaN), so the preset follows fastseg's
    empty policy (DESIGN section 5)."""
    pytest.importorskip("panoptica")
    from panoptica.metrics.hausdorff_distance import _compute_hausdorff_distance

    pred, ref, sp = EMPTY[case_id]
    with pytest.raises(ValueError):
        _compute_hausdorff_distance(ref, pred, sp)
    got, want = metrics(pred, ref, sp, "panoptica"), metrics(pred, ref, sp, "fastseg")
    keys = ("hd", "hd95", "assd")
    assert all(got[k] == want[k] for k in keys)
    assert got["hd"] == (0.0 if case_id.startswith("both") else math.inf)


# ------------------------------------------------------------------ the registry

def test_registry_lists_the_new_peers():
    for name in ("itk", "pymia", "plastimatch"):
        assert peers.PEERS[name]["convention"] in PRESETS
