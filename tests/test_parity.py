"""Parity of each convention preset with the library it reproduces (DESIGN.md section 4), on the same
set of cases: smooth blobs and random noise, 2D and 3D, anisotropic spacing, structures touching the
image border, small and thin structures, and empty masks.

The peers are called through ``tests/peers.py`` (shared with the benchmarks) and are optional: each
test skips when its peer is not installed. Tolerances: 1e-6 relative against DeepMind and MedPy
(float64 peers), 1e-5 against MONAI (float32).

MetricsReloaded cannot be installed here: the ``"metricsreloaded"`` preset is pinned instead against
the brute-force reference (tests/reference_surface.py) under the rules read from MetricsReloaded's
``BinaryPairwiseMeasures.measured_distance`` / ``normalised_surface_distance``, spelled out below
independently of fastseg's preset.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

import fastseg
from fastseg import get_convention

from tests import peers, reference_surface as RS
from tests.conftest import same

TOLERANCES = (0.0, 1.05, 2.35, 4.45)  # odd values: float32 peers must not sit on a distance
PERCENTILES = (33.3, 90.0, 95.0, 99.0, 100.0)
MONAI_PERCENTILES = (90.0, 99.0)
# One thread: numba's OpenMP regions are slow to schedule on a loaded 2-core machine, and results do
# not depend on the thread count (tests/test_surface.py checks that).
T1 = 1


# ------------------------------------------------------------------ cases

def smooth(rng, shape, sigma):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return f / f.std()


def blob_pair(rng, shape, sigma, noise=0.5):
    field = smooth(rng, shape, sigma)
    ref = field > rng.uniform(-0.3, 0.6)
    pred = field + noise * smooth(rng, shape, sigma) > rng.uniform(-0.3, 0.6)
    return pred, ref


def make_cases():
    """id -> (pred, ref, spacing)."""
    rng = np.random.default_rng(31337)
    cases = {}
    specs_3d = [((16, 24, 22), (2.5, 0.8, 0.8), 1.5), ((20, 18, 20), (0.7, 1.9, 1.3), 2.0),
                ((12, 28, 26), (3.0, 0.6, 0.6), 2.0), ((18, 18, 18), (1.0, 1.0, 1.0), 1.2),
                ((14, 22, 24), (5.0, 0.45, 0.9), 1.8), ((22, 16, 14), (0.5, 0.5, 2.2), 1.5),
                ((16, 20, 20), (1.5, 1.2, 0.8), 3.0), ((10, 26, 26), (4.0, 0.7, 0.7), 1.0)]
    for i, (shape, sp, sigma) in enumerate(specs_3d):
        cases[f"blob3d-{i}"] = (*blob_pair(rng, shape, sigma), sp)
    specs_2d = [((30, 40), (0.7, 1.9), 2.0), ((36, 28), (2.5, 0.8), 1.5), ((40, 40), (1.0, 1.0), 3.0),
                ((24, 38), (0.3, 1.1), 2.0), ((32, 32), (1.6, 0.9), 1.2), ((28, 36), (3.0, 3.0), 2.5)]
    for i, (shape, sp, sigma) in enumerate(specs_2d):
        cases[f"blob2d-{i}"] = (*blob_pair(rng, shape, sigma), sp)
    cases["noise3d-sparse"] = (rng.random((10, 12, 11)) < 0.15, rng.random((10, 12, 11)) < 0.2, (2.5, 0.8, 0.8))
    cases["noise3d-dense"] = (rng.random((9, 10, 12)) < 0.7, rng.random((9, 10, 12)) < 0.8, (0.7, 1.9, 1.3))
    cases["noise2d"] = (rng.random((22, 19)) < 0.5, rng.random((22, 19)) < 0.4, (0.7, 1.9))
    cases["noise2d-sparse"] = (rng.random((25, 25)) < 0.05, rng.random((25, 25)) < 0.08, (1.0, 2.0))
    # touching the image border: a blob cut by the image, whole-face slabs, the full image
    pred, ref = blob_pair(rng, (14, 18, 18), 2.0)
    cases["border-blob3d"] = (np.pad(pred, 3)[:14, :18, 6:24], np.pad(ref, 3)[:14, :18, 6:24], (2.5, 0.8, 0.8))
    slab_p = np.zeros((10, 12, 14), bool)
    slab_p[:, :, :6] = True
    slab_r = np.zeros_like(slab_p)
    slab_r[:, :5, :8] = True
    cases["border-slabs3d"] = (slab_p, slab_r, (0.7, 1.9, 1.3))
    full = np.ones((8, 9, 10), bool)
    cube = np.zeros_like(full)
    cube[2:6, 2:7, 3:8] = True
    cases["full-vs-cube3d"] = (full, cube, (2.5, 0.8, 0.8))
    half = np.zeros((20, 16), bool)
    half[:12] = True
    cases["border-half2d"] = (half, np.roll(half, 3, axis=0) | np.eye(20, 16, dtype=bool), (0.7, 1.9))
    # small structures
    one = np.zeros((9, 10, 11), bool)
    one[4, 5, 5] = True
    other = np.zeros_like(one)
    other[2, 7, 3] = True
    cases["single-voxels3d"] = (one, other, (2.5, 0.8, 0.8))
    corner = np.zeros((7, 8, 9), bool)
    corner[0, 0, 0] = True
    cube2 = np.zeros_like(corner)
    cube2[1:4, 1:4, 1:4] = True
    cases["corner-vs-cube3d"] = (corner, cube2, (0.7, 1.9, 1.3))
    px = np.zeros((12, 13), bool)
    px[6, 6] = True
    sq = np.zeros_like(px)
    sq[5:8, 7:9] = True
    cases["pixel-vs-square2d"] = (px, sq, (2.5, 0.8))
    cases["tiny-blobs3d"] = (smooth(rng, (12, 12, 12), 1.0) > 1.6, smooth(rng, (12, 12, 12), 1.0) > 1.6,
                             (1.5, 1.0, 0.7))
    # thin structures: one voxel thick lines and sheets
    line = np.zeros((12, 14, 16), bool)
    line[6, 7, 2:14] = True
    line2 = np.zeros_like(line)
    line2[3:10, 4, 9] = True
    cases["lines3d"] = (line, line2, (2.5, 0.8, 0.8))
    sheet = np.zeros((10, 12, 12), bool)
    sheet[4, 2:10, 1:11] = True
    sheet2 = np.zeros_like(sheet)
    sheet2[1:9, 1:11, 6] = True
    cases["sheets3d"] = (sheet, sheet2, (0.7, 1.9, 1.3))
    cases["line-diagonal2d"] = (np.eye(18, 20, k=1, dtype=bool), np.eye(18, 20, k=-2, dtype=bool)[::-1],
                                (0.7, 1.9))
    ring = ndimage.binary_dilation(px, iterations=4) & ~ndimage.binary_dilation(px, iterations=3)
    cases["ring-vs-pixel2d"] = (ring, px, (1.0, 1.3))
    # identical masks, disjoint masks far apart
    pred, _ = blob_pair(rng, (14, 16, 16), 1.5)
    cases["identical3d"] = (pred, pred.copy(), (2.5, 0.8, 0.8))
    far_p = np.zeros((8, 30, 30), bool)
    far_p[1:3, 1:5, 2:6] = True
    far_r = np.zeros_like(far_p)
    far_r[5:8, 24:29, 22:28] = True
    cases["far-apart3d"] = (far_p, far_r, (2.5, 0.8, 0.8))
    for name, (p, r, sp) in cases.items():
        assert p.any() and r.any() and p.ndim == len(sp), name
    return cases


def empty_cases():
    some3 = np.zeros((8, 9, 10), bool)
    some3[2:5, 3:7, 4:6] = True
    some2 = np.zeros((12, 11), bool)
    some2[3:7, 2:8] = True
    none3, none2 = np.zeros_like(some3), np.zeros_like(some2)
    return {
        "both-empty3d": (none3, none3, (2.5, 0.8, 0.8)),
        "pred-empty3d": (none3, some3, (2.5, 0.8, 0.8)),
        "ref-empty3d": (some3, none3, (0.7, 1.9, 1.3)),
        "both-empty2d": (none2, none2, (0.7, 1.9)),
        "pred-empty2d": (none2, some2, (0.7, 1.9)),
        "ref-empty2d": (some2, none2, (2.5, 0.8)),
    }


CASES = make_cases()
EMPTY = empty_cases()
ALL = {**CASES, **EMPTY}
assert len(CASES) >= 30


# ------------------------------------------------------------------ helpers

def compare(got, want, rtol, what, atol=None):
    """``got`` and ``want``: dicts of floats (or tuples of floats); every key of ``got`` checked, to
    ``rtol`` plus an optional absolute slack per key (``atol``)."""
    slack = atol or {}
    bad = {k: (g, want[k]) for k, g in got.items() if not same(g, want[k], rtol, slack.get(k, 0.0))}
    assert not bad, f"{what}: fastseg vs peer {bad}"


def monai_rank_slack(sd, q):
    """MONAI's torch.quantile computes the rank q * (n - 1) in float32: the interpolation weight is
    off by up to half a float32 ulp of the rank, which moves the result by that much of the gap
    between the two neighbouring distances (2e-5 relative on a few thousand elements). Twice that
    bound, the larger over the two directions."""
    slack = 0.0
    for d in (sd.pred_to_ref, sd.ref_to_pred):
        if d.size < 2 or not np.all(np.isfinite(d)):
            continue
        pos = q / 100.0 * (d.size - 1)
        lo = min(int(pos), d.size - 2)
        slack = max(slack, 2 * (d[lo + 1] - d[lo]) * pos * 2.0 ** -24)
    return slack


def directed_overlap(sd, t):
    """(fraction of pred's surface weight within t of ref, the same for ref), from fastseg's sets."""
    with np.errstate(invalid="ignore"):
        a = np.sum(sd.pred_weights[sd.pred_to_ref <= t]) / np.sum(sd.pred_weights)
        b = np.sum(sd.ref_weights[sd.ref_to_pred <= t]) / np.sum(sd.ref_weights)
    return float(a), float(b)


def fastseg_metrics(pred, ref, sp, convention, tolerances=TOLERANCES, percentiles=PERCENTILES):
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=convention, threads=T1)
    return sd, {
        "hd": fastseg.hausdorff(sd),
        "hd95": fastseg.hd95(sd),
        "hdq": {q: fastseg.hausdorff(sd, percentile=q) for q in percentiles},
        "assd": fastseg.assd(sd),
        "masd": fastseg.masd(sd),
        "directed_means": fastseg.directed_means(sd),
        "nsd": dict(zip(tolerances, fastseg.nsd(sd, tolerance=list(tolerances)))),
    }


def flatten(m, keys):
    out = {}
    for k in keys:
        v = m[k]
        if isinstance(v, dict):
            out.update({f"{k}@{x:g}": y for x, y in v.items()})
        else:
            out[k] = v
    return out


def assert_tolerances_well_posed(sd, tolerances, rtol):
    """A float32 peer rounds distances: no distance may sit within rtol of a tolerance (or the
    comparison d <= t could flip). Guards the case design, not fastseg."""
    d = np.concatenate([sd.pred_to_ref, sd.ref_to_pred])
    for t in tolerances:
        if t > 0:
            assert not np.any(np.isclose(d, t, rtol=rtol, atol=0)), f"a distance sits on tolerance {t}"


# ------------------------------------------------------------------ DeepMind surface-distance

@pytest.mark.parametrize("case_id", list(ALL))
def test_deepmind(case_id):
    pytest.importorskip("surface_distance")
    pred, ref, sp = ALL[case_id]
    want = peers.deepmind_metrics(pred, ref, sp, TOLERANCES, PERCENTILES)
    sd, got = fastseg_metrics(pred, ref, sp, "deepmind")
    # the sets themselves (DeepMind sorts by (distance, area) as fastseg does)
    for g, w in zip((sd.pred_to_ref, sd.pred_weights, sd.ref_to_pred, sd.ref_weights), want["sets"]):
        assert g.shape == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0)
    got["overlap"] = {t: directed_overlap(sd, t) for t in TOLERANCES}
    keys = ("hd", "hd95", "hdq", "assd", "masd", "directed_means", "nsd", "overlap")
    compare(flatten(got, keys), flatten(want, keys), 1e-6, case_id)


# ------------------------------------------------------------------ MedPy

MEDPY_KEYS = ("hd", "hd95", "assd", "directed_means")


@pytest.mark.parametrize("case_id", list(CASES))
def test_medpy(case_id):
    pytest.importorskip("medpy")
    pred, ref, sp = CASES[case_id]
    want = peers.medpy_metrics(pred, ref, sp)
    _, got = fastseg_metrics(pred, ref, sp, "medpy")
    compare(flatten(got, MEDPY_KEYS), flatten(want, MEDPY_KEYS), 1e-6, case_id)


CONNECTIVITY_CASES = ["blob3d-0", "blob3d-4", "blob2d-0", "blob2d-4", "noise3d-dense", "noise2d",
                      "border-blob3d", "tiny-blobs3d", "lines3d", "line-diagonal2d", "sheets3d"]


@pytest.mark.parametrize("connectivity", [2, 3])
@pytest.mark.parametrize("case_id", CONNECTIVITY_CASES)
def test_medpy_connectivity(case_id, connectivity):
    pytest.importorskip("medpy")
    pred, ref, sp = CASES[case_id]
    conv = get_convention("medpy").replace(connectivity=connectivity)
    want = peers.medpy_metrics(pred, ref, sp, connectivity=connectivity, which=("hd", "hd95", "assd"))
    _, got = fastseg_metrics(pred, ref, sp, conv)
    compare(flatten(got, want.keys()), want, 1e-6, f"{case_id} connectivity={connectivity}")


@pytest.mark.parametrize("case_id", list(EMPTY))
def test_medpy_empty_raises_like_medpy(case_id):
    pytest.importorskip("medpy")
    pred, ref, sp = EMPTY[case_id]
    with pytest.raises(RuntimeError, match="does not contain any binary object"):
        peers.medpy_metrics(pred, ref, sp)
    with pytest.raises(ValueError, match="empty"):
        fastseg.hd95(pred, ref, spacing=sp, convention="medpy")


# ------------------------------------------------------------------ MONAI

MONAI_KEYS = ("hd", "hd95", "hdq", "assd", "directed_means", "nsd")


@pytest.mark.parametrize("case_id", list(ALL))
def test_monai(case_id):
    pytest.importorskip("monai")
    pred, ref, sp = ALL[case_id]
    want = peers.monai_metrics(pred, ref, sp, TOLERANCES, MONAI_PERCENTILES)
    sd, got = fastseg_metrics(pred, ref, sp, "monai", percentiles=MONAI_PERCENTILES)
    assert_tolerances_well_posed(sd, TOLERANCES, 1e-5)
    atol = {f"hdq@{q:g}": monai_rank_slack(sd, q) for q in MONAI_PERCENTILES}
    atol["hd95"] = monai_rank_slack(sd, 95.0)
    compare(flatten(got, MONAI_KEYS), flatten(want, MONAI_KEYS), 1e-5, case_id, atol)
    if case_id in CASES:
        # MONAI's use_subvoxels=True surface Dice is the area-weighted surfel NSD of the default
        sd_surfel = fastseg.surface_distances(pred, ref, spacing=sp, threads=T1)
        assert_tolerances_well_posed(sd_surfel, TOLERANCES, 1e-5)
        nsd = dict(zip(TOLERANCES, fastseg.nsd(sd_surfel, tolerance=TOLERANCES)))
        compare(nsd, want["nsd_surfel"], 1e-5, f"{case_id} use_subvoxels")


# ------------------------------------------------------------------ MetricsReloaded (no peer here)

# MetricsReloaded's rules, read from BinaryPairwiseMeasures: border_map = boundary voxels (face
# connectivity, outside the image is background); distance_transform_edt(sampling=pixdim);
# hd = max of both; hd_perc = max of the two np.percentile (linear) per direction; assd = pooled sum
# over both borders / number of border voxels; masd = mean of the two directed means; nsd = border
# voxels within tau (<=) of the other border, counted, over the number of border voxels.
METRICSRELOADED_RULES = SimpleNamespace(surface="voxel", connectivity=1, percentile="linear_per_direction",
                                        assd="pooled")


@pytest.mark.parametrize("case_id", list(CASES))
def test_metricsreloaded_rules(case_id):
    pred, ref, sp = CASES[case_id]
    want = RS.metrics(pred, ref, sp, METRICSRELOADED_RULES, PERCENTILES, TOLERANCES)
    want["hd"], want["hd95"] = want["hdq"][100.0], want["hdq"][95.0]
    _, got = fastseg_metrics(pred, ref, sp, "metricsreloaded")
    keys = ("hd", "hd95", "hdq", "assd", "masd", "directed_means", "nsd")
    compare(flatten(got, keys), flatten(want, keys), 1e-12, case_id)


@pytest.mark.parametrize("case_id", list(EMPTY))
def test_metricsreloaded_empty(case_id):
    """measured_distance returns (0, 0, 0, 0) when both masks are empty; NSD is then 0/0. With one
    mask empty MetricsReloaded has no defined value (its EDT has no feature); fastseg gives inf/0."""
    pred, ref, sp = EMPTY[case_id]
    _, got = fastseg_metrics(pred, ref, sp, "metricsreloaded")
    both = case_id.startswith("both")
    d = 0.0 if both else math.inf
    want = {"hd": d, "hd95": d, "hdq": {q: d for q in PERCENTILES}, "assd": d, "masd": d,
            "directed_means": (d, d), "nsd": {t: (math.nan if both else 0.0) for t in TOLERANCES}}
    keys = tuple(want)
    compare(flatten(got, keys), flatten(want, keys), 0.0, case_id)


# ------------------------------------------------------------------ the registry itself

def test_registry_lists_the_presets():
    assert {"deepmind", "medpy", "monai"} <= set(peers.PEERS)
    for name, entry in peers.PEERS.items():
        assert get_convention(entry["convention"]).name == name
        assert callable(entry["metrics"])


def test_deepmind_argument_order_is_handled():
    """DeepMind takes (mask_gt, mask_pred) and returns its means as (gt -> pred, pred -> gt): the
    registry must hand them back in fastseg's order. pred is a ring of radius ~3.5 around the single
    pixel ref: from the ring to the pixel is ~3.1 on average, from the pixel's corners to the ring's
    inner edge ~1.6."""
    pytest.importorskip("surface_distance")
    pred, ref, sp = CASES["ring-vs-pixel2d"]
    got = peers.deepmind_metrics(pred, ref, sp, (1.0,))
    raw = peers.deepmind_sets(pred, ref, sp)
    d, w = raw["distances_pred_to_gt"], raw["surfel_areas_pred"]
    assert got["directed_means"][0] == pytest.approx(np.sum(d * w) / np.sum(w), rel=1e-12)
    assert 2.5 < got["directed_means"][0] < 3.5 and 1.0 < got["directed_means"][1] < 2.0
    assert fastseg.directed_means(pred, ref, spacing=sp, convention="deepmind") == pytest.approx(
        got["directed_means"], rel=1e-6)
