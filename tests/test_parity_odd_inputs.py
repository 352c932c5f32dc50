"""Parity of the presets with their peers on odd inputs the main parity tests do not cover: length-1
axes ((1, N, M), (N, 1, M), (1, 1)), masks filling the image, one-voxel sheets and lines spanning
the image, single voxels, extreme anisotropy (0.1 x 0.1 x 10), very large and very small spacings
(1000 mm, 1e-3 mm), percentiles 0 / 50 / 99.9 / 100, NSD tolerances 0 and exactly on a distance,
and the input's dtype and memory layout.

Known discrepancies are ``xfail(strict=True)`` with the reason; everything else must agree (1e-9
relative against float64 peers; as tests/test_presets.py against float32 ones).
"""
import math
import warnings

import numpy as np
import pytest

import fastseg
from fastseg.conventions import PRESETS

from tests import peers
from tests import reference_presets as RP
from tests import reference_surface as RS
from tests.conftest import same
from tests.test_parity import METRICSRELOADED_RULES

RTOL = 1e-9
PCTS = (0.0, 50.0, 95.0, 99.9, 100.0)


# ------------------------------------------------------------------ cases

def hand_cases():
    out = {}
    z = np.zeros((5, 6, 7), bool)
    a = z.copy()
    a[2, 3, 3] = True
    out["same-voxel"] = (a, a.copy(), (1.0, 1.0, 1.0))
    b = z.copy()
    b[0, 0, 0] = True
    out["voxel-vs-corner-aniso"] = (a, b, (0.1, 0.1, 10.0))
    full = np.ones((4, 5, 6), bool)
    part = full.copy()
    part[0] = False
    out["full-vs-missing-face"] = (full, part, (1.0, 2.0, 3.0))
    s = np.zeros((6, 7, 8), bool)
    s[3] = True
    s2 = np.zeros_like(s)
    s2[:, :, 4] = True
    out["image-spanning-sheets-1000mm"] = (s, s2, (1000.0, 1000.0, 1000.0))
    out["image-spanning-sheets-1um"] = (s, s2, (1e-3, 1e-3, 1e-3))
    line = np.zeros((6, 7, 8), bool)
    line[:, 3, 4] = True
    line2 = np.zeros_like(line)
    line2[2, :, 1] = True
    out["image-spanning-lines-aniso"] = (line, line2, (0.1, 0.1, 10.0))
    flat = np.zeros((1, 9, 8), bool)
    flat[0, 2:7, 1:5] = True
    flat2 = np.zeros_like(flat)
    flat2[0, 3:9, 3:8] = True
    out["slice-1xNxM"] = (flat, flat2, (2.5, 0.8, 0.8))
    out["slice-Nx1xM"] = (flat.transpose(1, 0, 2).copy(), flat2.transpose(1, 0, 2).copy(), (0.8, 2.5, 0.8))
    row = np.zeros((1, 9), bool)
    row[0, 1:4] = True
    row2 = np.zeros_like(row)
    row2[0, 5:9] = True
    out["row-1xN"] = (row, row2, (1.3, 0.7))
    return out


def random_cases(seed=2024, n=40):
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n):
        nd = int(rng.choice([2, 3]))
        shape = [int(rng.integers(1, 9)) for _ in range(nd)]
        if rng.random() < 0.4:
            shape[int(rng.integers(nd))] = 1
        p = rng.random(shape) < rng.uniform(0.05, 0.9)
        r = rng.random(shape) < rng.uniform(0.05, 0.9)
        if not p.any():
            p.flat[rng.integers(p.size)] = True
        if not r.any():
            r.flat[rng.integers(r.size)] = True
        if p.all() and r.all():  # both filling the image: see test_segmetrics_both_masks_fill_the_image
            continue
        sp = tuple(float(x) for x in rng.choice([0.1, 1.0, 10.0, 0.7, 2.5, 1000.0, 1e-3, 1.3], nd))
        out[f"rand{k}-{'x'.join(map(str, shape))}"] = (p, r, sp)
    return out


CASES = {**hand_cases(), **random_cases()}


def quiet():
    return warnings.catch_warnings()


def fs(p, r, sp, conv, tols=()):
    sd = fastseg.surface_distances(p, r, spacing=sp, convention=conv, threads=1)
    out = {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd),
           "hdq": {q: fastseg.hausdorff(sd, percentile=q) for q in PCTS},
           "assd": fastseg.assd(sd), "masd": fastseg.masd(sd), "directed_means": tuple(fastseg.directed_means(sd))}
    if tols:
        out["nsd"] = dict(zip(tols, fastseg.nsd(sd, tolerance=list(tols))))
    return sd, out


def check(got, want, keys, what, rtol=RTOL, atol=0.0):
    bad = {k: (got[k], want[k]) for k in keys if not same(got[k], want[k], rtol, atol)}
    assert not bad, f"{what}: fastseg vs peer {bad}"


def tolerances(sp):
    """0, and tolerances that sit exactly on a distance (one spacing step)."""
    return tuple(sorted({0.0, 1.0, float(sp[0]), float(sp[-1])}))


# ------------------------------------------------------------------ agreeing peers

#: preset -> (the peer's module, its values of a pair at tolerances, whether it takes tolerances, the keys
#: compared)
PEER_CHECKS = {
    "deepmind": ("surface_distance", lambda p, r, sp, tols: peers.deepmind_metrics(p, r, sp, tols, PCTS), True,
                 ("hd", "hd95", "hdq", "assd", "directed_means", "nsd")),
    "medpy": ("medpy", lambda p, r, sp, tols: peers.medpy_metrics(p, r, sp), False,
              ("hd", "hd95", "assd", "directed_means")),
    "itk": ("SimpleITK", lambda p, r, sp, tols: peers.itk_metrics(p, r, sp), False, ("hd", "masd")),
    "pymia": ("pymia", lambda p, r, sp, tols: peers.pymia_metrics(p, r, sp, tols, PCTS), True,
              ("hd", "hd95", "hdq", "nsd")),
}


@pytest.mark.parametrize("preset", list(PEER_CHECKS))
@pytest.mark.parametrize("case_id", list(CASES))
def test_peer_odd(case_id, preset):
    module, values, with_tolerances, keys = PEER_CHECKS[preset]
    pytest.importorskip(module)
    p, r, sp = CASES[case_id]
    tols = tolerances(sp) if with_tolerances else ()
    want = values(p, r, sp, tols)
    _, got = fs(p, r, sp, preset, tols)
    check(got, want, keys, case_id)


@pytest.mark.parametrize("case_id", list(CASES))
def test_panoptica_odd(case_id):
    pytest.importorskip("panoptica")
    from tests.test_presets import panoptica_metrics
    from tests.test_parity import TOLERANCES

    p, r, sp = CASES[case_id]
    want = panoptica_metrics(p, r, sp)
    _, got = fs(p, r, sp, "panoptica", TOLERANCES)
    got["dice"] = fastseg.dice(p, r, convention="panoptica")
    check(got, want, ("hd", "hd95", "assd", "dice", "nsd"), case_id)


@pytest.mark.parametrize("case_id", list(CASES))
def test_segmetrics_odd(case_id):
    pytest.importorskip("SimpleITK")
    p, r, sp = CASES[case_id]
    want = RP.segmetrics(p, r, sp)
    _, got = fs(p, r, sp, "seg-metrics")
    if want["hd"] > 1e18:  # a mask filling the image: SimpleITK's sentinel, fastseg's inf
        assert got["hd"] == math.inf
        return
    got["msd"] = got["assd"]
    check(got, want, ("hd", "hd95", "msd"), case_id, 1e-5, 2e-6 * max(sp))


@pytest.mark.parametrize("case_id", list(CASES))
def test_metricsreloaded_rules_odd(case_id):
    p, r, sp = CASES[case_id]
    tols = tolerances(sp)
    want = RS.metrics(p, r, sp, METRICSRELOADED_RULES, PCTS, tols)
    _, got = fs(p, r, sp, "metricsreloaded", tols)
    check(got, want, ("hdq", "assd", "masd", "directed_means", "nsd"), case_id)


@pytest.mark.parametrize("case_id", [c for c, (p, _, _) in CASES.items() if p.ndim == 2 and p.shape[0] == p.shape[1]])
def test_torchmetrics_odd(case_id):
    p, r, sp = CASES[case_id]
    assert same(fastseg.hausdorff(p, r, spacing=sp, convention="torchmetrics"), RP.torchmetrics_hd(p, r, sp), 1e-6)


PLASTIMATCH_IDS = ["image-spanning-sheets-1000mm", "image-spanning-lines-aniso", "full-vs-missing-face",
                   "slice-1xNxM", "slice-Nx1xM", "rand5-4x6x8", "rand6-8x2x5", "rand15-1x5x2",
                   "rand21-8x5", "rand26-5x4x8"]


@pytest.mark.parametrize("case_id", PLASTIMATCH_IDS)
def test_plastimatch_odd(case_id):
    if not peers.plastimatch_command():
        pytest.skip("plastimatch is not installed")
    p, r, sp = CASES[case_id]
    sd, got = fs(p, r, sp, "plastimatch")
    assert min(sd.pred_to_ref.size, sd.ref_to_pred.size) >= 2  # plastimatch's percentile needs two
    want = peers.plastimatch_metrics(p, r, sp)
    got["max_directed_mean"] = max(got["directed_means"])
    check(got, want, tuple(want), case_id, 1e-6, 1e-6)


# ------------------------------------------------------------------ dtype and layout

LAYOUT_IDS = ["image-spanning-lines-aniso", "slice-Nx1xM", "row-1xN", "rand5-4x6x8", "rand21-8x5", "rand38-6x5x8"]


@pytest.mark.parametrize("case_id", LAYOUT_IDS)
def test_dtype_and_layout_do_not_change_any_preset(case_id):
    p, r, sp = CASES[case_id]
    wide_p = np.zeros(tuple(2 * s for s in p.shape), bool)
    wide_r = np.zeros_like(wide_p)
    every_other = tuple(slice(None, None, 2) for _ in p.shape)
    wide_p[every_other], wide_r[every_other] = p, r
    variants = {"strided view": (wide_p[every_other], wide_r[every_other]),
                "uint8": (p.astype(np.uint8), r.astype(np.uint8)),
                "float 0/1": (p.astype(np.float64), r.astype(np.float32)),
                "Fortran order": (np.asfortranarray(p), np.asfortranarray(r))}

    def values(a, b, conv):
        sd = fastseg.surface_distances(a, b, spacing=sp, convention=conv, threads=1)
        return (fastseg.hausdorff(sd), fastseg.hd95(sd), fastseg.hausdorff(sd, percentile=0),
                fastseg.hausdorff(sd, percentile=99.9), fastseg.assd(sd), fastseg.masd(sd),
                fastseg.nsd(sd, tolerance=1.0))

    for conv in PRESETS:
        base = values(p, r, conv)
        assert all(not math.isnan(v) for v in base), (conv, base)
        for name, (a, b) in variants.items():
            # not bit for bit: a Fortran-ordered input gets surfel areas 1 ulp off the C-ordered
            # one's (the area table is built for the permuted spacing), e.g. ASSD ...148 vs ...155
            assert same(values(a, b, conv), base, 1e-12), (conv, name)


# ------------------------------------------------------------------ known discrepancies

# A tie on the cumulative surface weight: pred is 1 voxel of a (3, 1, 1) column that ref fills. ref's
# 16 surfels: 8 at 0 mm (4 of area a, 4 of area b), 4 at 0.7 mm (b) and 4 at 1.4 mm (a); the weight
# at 0 mm is exactly half the total, so the 50th percentile is 0.0 in exact arithmetic.
TIE_PRED = np.array([True, False, False]).reshape(3, 1, 1)
TIE_REF = np.ones((3, 1, 1), bool)
TIE_SPACING = (0.7, 1.3, 1.0)


@pytest.mark.xfail(strict=True, reason=(
    "fastseg's surfel area table differs from surface-distance's by 1 ulp on some codes (here area "
    "0x1.bc00d1b6e5d1ep-3 vs DeepMind's 0x1.bc00d1b6e5d1fp-3 at spacing (0.7, 1.3, 1.0)); on an exact "
    "tie of the cumulative weight DeepMind's cumsum/sum is 0.49999999999999994 and its searchsorted "
    "takes the next distance (0.7 mm), fastseg's is 0.5 (0.0 mm)"))
def test_deepmind_percentile_on_a_weight_tie():
    pytest.importorskip("surface_distance")
    want = peers.deepmind_metrics(TIE_PRED, TIE_REF, TIE_SPACING, (), (50.0,))["hdq"][50.0]
    got = fastseg.hausdorff(TIE_PRED, TIE_REF, spacing=TIE_SPACING, percentile=50, convention="deepmind")
    assert want == 0.7 and got == want


@pytest.mark.xfail(strict=True, reason=(
    "pymia's 2D slab: same 1-ulp surfel area difference as the deepmind preset; pymia gives 0.7 mm "
    "for the 50th percentile, the pymia preset 0.0 mm"))
def test_pymia_percentile_on_a_weight_tie():
    pytest.importorskip("pymia")
    p, r, sp = TIE_PRED[..., 0], TIE_REF[..., 0], TIE_SPACING[:2]
    want = peers.pymia_metrics(p, r, sp, (), (50.0,))["hdq"][50.0]
    got = fastseg.hausdorff(p, r, spacing=sp, percentile=50, convention="pymia")
    assert want == 0.7 and got == want


def test_fastseg_tie_is_the_exact_nearest_rank():
    """fastseg's own answer on the tie is the exact-arithmetic one: half the weight is at 0 mm."""
    sd = fastseg.surface_distances(TIE_PRED, TIE_REF, spacing=TIE_SPACING, convention="deepmind")
    w, d = np.asarray(sd.ref_weights), np.asarray(sd.ref_to_pred)
    assert math.isclose(np.sum(w[d == 0]), np.sum(w) / 2, rel_tol=1e-15)
    assert fastseg.hausdorff(sd, percentile=50) == 0.0


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 3), (2, 2, 2), (4, 5, 6)])
def test_segmetrics_both_masks_fill_the_image(shape):
    """Two masks filling the image have no LabelContour (the image edge is not a contour) on either
    side: seg-metrics 1.2.8's computeQualityMeasures returns 0 for hd, hd95 and msd when its pooled
    list is empty. The preset gave NaN (found by this review); as two empty surfaces it gives 0 mm,
    and evaluate the same."""
    pytest.importorskip("SimpleITK")
    full = np.ones(shape, bool)
    sp = (1.0,) * len(shape)
    want = RP.segmetrics(full, full, sp)
    sd = fastseg.surface_distances(full, full, spacing=sp, convention="seg-metrics")
    got = {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd), "msd": fastseg.assd(sd)}
    assert want == {"hd": 0.0, "hd95": 0.0, "msd": 0.0}
    assert got == want
    res = fastseg.evaluate(full.astype(np.uint8), full.astype(np.uint8), spacing=sp, convention="seg-metrics",
                           metrics=["hd", "hd95", "assd"])
    assert [res[m][1] for m in ("hd", "hd95", "assd")] == [0.0, 0.0, 0.0]
    # the fastseg policy under the same image-edge rule: two empty surfaces, 0 mm and NSD 1
    conv = fastseg.conventions.get_convention("fastseg").replace(surface="voxel", edge="foreground")
    sd = fastseg.surface_distances(full, full, spacing=sp, convention=conv)
    assert (fastseg.hausdorff(sd), fastseg.assd(sd), fastseg.nsd(sd, tolerance=1.0)) == (0.0, 0.0, 1.0)
