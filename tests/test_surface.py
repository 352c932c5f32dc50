"""Distance engine (fastseg.surface): every metric against the brute-force references of
``tests/reference_surface.py``, hand-derived cases that pin the conventions, the empty-mask policies,
errors, and invariants (spacing scale, symmetry, threads, memory order, dtype).

Parity with the peer libraries themselves is in ``tests/test_parity.py``.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

import fastseg
from fastseg import Convention, get_convention

from tests import reference_surface as RS
from tests.conftest import same

RTOL = 1e-12
# Bulk comparisons run on one thread: on a shared 2-core machine numba's OpenMP parallel regions
# sporadically cost 10-300 ms each (threads spin-waiting for a busy core), which made this file
# several times slower. Results do not depend on the thread count (test_threads_* checks it, and the
# hand-derived cases run on the default).
T1 = 1
PERCENTILES = (0.0, 33.3, 90.0, 95.0, 99.0, 100.0)
TOLERANCES = (0.0, 0.5, 1.0, 2.0, 3.3)
PRESETS = ("fastseg", "deepmind", "monai", "medpy", "metricsreloaded")

# Presets plus custom conventions, so that every surface x connectivity x percentile rule x ASSD rule
# combination that matters is compared with the brute force.
CONVENTIONS = {name: get_convention(name) for name in PRESETS}
CONVENTIONS.update({
    "surfel-linear-mean": Convention(name="surfel-linear-mean", percentile="linear_per_direction",
                                     assd="mean_of_directed"),
    "surfel-pooled": Convention(name="surfel-pooled", percentile="linear_pooled"),
    "voxel-c2-rank": Convention(name="voxel-c2-rank", surface="voxel", connectivity=2),
    "voxel-c2-linear": Convention(name="voxel-c2-linear", surface="voxel", connectivity=2,
                                  percentile="linear_per_direction"),
    "voxel-c3-pooled-mean": Convention(name="voxel-c3-pooled-mean", surface="voxel", connectivity=3,
                                       percentile="linear_pooled", assd="mean_of_directed"),
})


# ------------------------------------------------------------------ helpers

def all_metrics(pred, ref=None, tolerances=(1.0,), percentiles=(95.0,), **kw):
    """Every derived metric as a flat dict (from a SurfaceDistances, or from masks)."""
    if ref is not None:
        kw.setdefault("threads", T1)
    sd = pred if ref is None else fastseg.surface_distances(pred, ref, **kw)
    out = {f"hd{q:g}": fastseg.hausdorff(sd, percentile=q) for q in percentiles}
    out["hd"] = fastseg.hausdorff(sd)
    out["hd95"] = fastseg.hd95(sd)
    out["assd"] = fastseg.assd(sd)
    out["masd"] = fastseg.masd(sd)
    out["mean_pr"], out["mean_rp"] = fastseg.directed_means(sd)
    for t, v in zip(tolerances, fastseg.nsd(sd, tolerance=list(tolerances))):
        out[f"nsd{t:g}"] = v
    return out


def assert_all_same(got, want, rtol=RTOL, what=""):
    assert got.keys() == want.keys()
    bad = {k: (got[k], want[k]) for k in got if not same(got[k], want[k], rtol)}
    assert not bad, f"{what}: {bad}"


def blob(rng, shape, sigma=1.5, level=0.0):
    return ndimage.gaussian_filter(rng.standard_normal(shape), sigma) > level


def correlated_pair(rng, shape, sigma=1.5, noise=0.6):
    """A smooth reference blob and a prediction from a perturbed version of the same field."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    field /= field.std()
    other = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    other /= other.std()
    ref = field > 0.2
    pred = field + noise * other > rng.uniform(0.0, 0.4)
    return pred, ref


def single(shape, *idx):
    m = np.zeros(shape, bool)
    m[idx] = True
    return m


def make_cases():
    """Non-empty test pairs: id -> (pred, ref, spacing)."""
    rng = np.random.default_rng(20240601)
    cases = {}
    for i, (shape, sp) in enumerate([((14, 20, 18), (2.5, 0.8, 0.8)), ((16, 12, 15), (0.7, 1.9, 1.3)),
                                     ((10, 22, 20), (3.0, 0.25, 1.1)), ((12, 12, 12), (1.0, 1.0, 1.0))]):
        cases[f"blob3d-{i}"] = (*correlated_pair(rng, shape), sp)
    for i, (shape, sp) in enumerate([((30, 36), (0.7, 1.9)), ((25, 40), (2.5, 0.8)), ((32, 32), (1.0, 1.0))]):
        cases[f"blob2d-{i}"] = (*correlated_pair(rng, shape, sigma=2.0), sp)
    # independent blobs, far apart in places
    cases["independent3d"] = (blob(rng, (12, 16, 14)), blob(rng, (12, 16, 14)), (2.5, 0.8, 0.8))
    cases["independent2d"] = (blob(rng, (28, 24), 2.5), blob(rng, (28, 24), 2.5), (0.7, 1.9))
    # random noise: many tiny components, everything touches the image border
    cases["noise3d"] = (rng.random((9, 11, 10)) < 0.4, rng.random((9, 11, 10)) < 0.6, (2.5, 0.8, 0.8))
    cases["noise2d"] = (rng.random((20, 17)) < 0.5, rng.random((20, 17)) < 0.3, (0.7, 1.9))
    cases["dense-noise3d"] = (rng.random((8, 9, 10)) < 0.9, rng.random((8, 9, 10)) < 0.85, (0.7, 1.9, 1.3))
    # masks that fill the image or cover whole faces of it
    full = np.ones((6, 7, 8), bool)
    slab = full.copy()
    slab[4:] = False
    cases["full-vs-slab3d"] = (full, slab, (2.5, 0.8, 0.8))
    half = np.zeros((9, 12), bool)
    half[:, :5] = True
    cases["border-slab2d"] = (half, np.roll(half, 2, axis=1), (0.7, 1.9))
    # single voxels, in the interior, at a corner of the image, the same voxel
    cases["single3d"] = (single((7, 8, 9), 2, 3, 4), single((7, 8, 9), 5, 1, 4), (2.5, 0.8, 0.8))
    cases["single-corner3d"] = (single((5, 6, 7), 0, 0, 0), single((5, 6, 7), 4, 5, 6), (0.7, 1.9, 1.3))
    cases["single-same2d"] = (single((6, 7), 3, 3), single((6, 7), 3, 3), (0.7, 1.9))
    cases["single-vs-blob2d"] = (single((20, 20), 10, 4), blob(rng, (20, 20), 2.0), (2.5, 0.8))
    # thin structures: one-voxel lines and sheets
    line = np.zeros((9, 10, 11), bool)
    line[4, 5, 1:10] = True
    line2 = np.zeros_like(line)
    line2[2:8, 3, 6] = True
    cases["lines3d"] = (line, line2, (2.5, 0.8, 0.8))
    sheet = np.zeros((8, 9, 10), bool)
    sheet[3, 1:8, 2:9] = True
    sheet2 = np.zeros_like(sheet)
    sheet2[1:7, 1:8, 5] = True
    cases["sheets3d"] = (sheet, sheet2, (0.7, 1.9, 1.3))
    line2d = np.zeros((15, 12), bool)
    line2d[7, :] = True
    diag = np.eye(15, 12, k=-2, dtype=bool)
    cases["lines2d"] = (line2d, diag, (0.7, 1.9))
    # a one-voxel-thick axis of the image
    cases["flat-image3d"] = (rng.random((1, 12, 13)) < 0.5, rng.random((1, 12, 13)) < 0.5, (2.5, 0.8, 0.8))
    cases["thin-image2d"] = (rng.random((1, 25)) < 0.5, rng.random((1, 25)) < 0.5, (0.7, 1.9))
    for name, (p, r, _) in cases.items():
        assert p.any() and r.any(), name
    return cases


CASES = make_cases()
_REFERENCE = {}


def reference(case_id, conv_id):
    key = (case_id, conv_id)
    if key not in _REFERENCE:
        pred, ref, sp = CASES[case_id]
        _REFERENCE[key] = RS.metrics(pred, ref, sp, CONVENTIONS[conv_id], PERCENTILES, TOLERANCES)
    return _REFERENCE[key]


def reference_flat(want):
    out = {f"hd{q:g}": want["hdq"][q] for q in PERCENTILES}
    out["hd"] = want["hdq"][100.0]
    out["hd95"] = want["hdq"][95.0]
    out["assd"] = want["assd"]
    out["masd"] = want["masd"]
    out["mean_pr"], out["mean_rp"] = want["directed_means"]
    for t in TOLERANCES:
        out[f"nsd{t:g}"] = want["nsd"][t]
    return out


# ------------------------------------------------------------------ 1. brute force

@pytest.mark.parametrize("conv_id", list(CONVENTIONS))
@pytest.mark.parametrize("case_id", list(CASES))
def test_matches_brute_force(case_id, conv_id):
    pred, ref, sp = CASES[case_id]
    conv = CONVENTIONS[conv_id]
    want = reference(case_id, conv_id)
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv, threads=T1)
    assert sd.empty_state == "none" and sd.convention == conv and sd.spacing == tuple(sp)
    # the raw sets: same sorted distances, same weights (as multisets: ties may be ordered either way)
    dp, wp, dr, wr = want["sets"]
    for got, exp in ((sd.pred_to_ref, dp), (sd.ref_to_pred, dr)):
        assert got.dtype == np.float64 and got.shape == exp.shape
        np.testing.assert_allclose(got, exp, rtol=RTOL, atol=0)
        assert np.all(np.diff(got) >= 0)
    np.testing.assert_allclose(np.sort(sd.pred_weights), np.sort(wp), rtol=RTOL, atol=0)
    np.testing.assert_allclose(np.sort(sd.ref_weights), np.sort(wr), rtol=RTOL, atol=0)
    got = all_metrics(sd, tolerances=TOLERANCES, percentiles=PERCENTILES)
    assert all(isinstance(v, float) for v in got.values())
    assert_all_same(got, reference_flat(want), what=f"{case_id}/{conv_id}")


@pytest.mark.parametrize("conv_id", PRESETS)
@pytest.mark.parametrize("case_id", ["blob3d-0", "lines2d"])
def test_mask_path_equals_precomputed_path(case_id, conv_id):
    """The metric functions called with masks give what they give from a SurfaceDistances."""
    pred, ref, sp = CASES[case_id]
    want = all_metrics(pred, ref, tolerances=TOLERANCES, spacing=sp, convention=conv_id)
    assert fastseg.hausdorff(pred, ref, percentile=95, spacing=sp, convention=conv_id, threads=T1) == want["hd95"]
    got = {
        "hd95": fastseg.hd95(pred, ref, spacing=sp, convention=conv_id, threads=T1),
        "hd": fastseg.hausdorff(pred, ref, spacing=sp, convention=conv_id, threads=T1),
        "assd": fastseg.assd(pred, ref, spacing=sp, convention=conv_id, threads=T1),
        "masd": fastseg.masd(pred, ref, spacing=sp, convention=conv_id, threads=T1),
    }
    got["mean_pr"], got["mean_rp"] = fastseg.directed_means(pred, ref, spacing=sp, convention=conv_id, threads=T1)
    nsds = fastseg.nsd(pred, ref, tolerance=TOLERANCES, spacing=sp, convention=conv_id, threads=T1)
    assert isinstance(nsds, list) and len(nsds) == len(TOLERANCES)
    for t, v in zip(TOLERANCES, nsds):
        got[f"nsd{t:g}"] = v
        assert fastseg.nsd(pred, ref, tolerance=t, spacing=sp, convention=conv_id, threads=T1) == v  # scalar -> float
    want = {k: want[k] for k in got}
    assert_all_same(got, want, rtol=0)


def test_default_convention_is_fastseg():
    pred, ref, sp = CASES["blob3d-1"]
    sd = fastseg.surface_distances(pred, ref, spacing=sp)
    assert sd.convention == get_convention("fastseg") and sd.convention.surface == "surfel"
    assert fastseg.hd95(pred, ref, spacing=sp) == fastseg.hd95(sd)
    assert fastseg.hd95(sd, convention="fastseg") == fastseg.hd95(sd)


# ------------------------------------------------------------------ 2. hand-derived cases

SHIFTS_3D = [(0, 1), (0, 3), (2, 2), (1, 4)]  # (axis, k)
SP3 = (2.5, 0.8, 1.3)


@pytest.mark.parametrize("conv_id", ["monai", "medpy", "metricsreloaded", "voxel-c2-rank"])
@pytest.mark.parametrize("axis,k", SHIFTS_3D)
def test_single_voxel_shift_voxel_mode(axis, k, conv_id):
    """A voxel is its own boundary: every distance is k * spacing[axis] (exactly)."""
    ref = single((9, 9, 9), 2, 2, 2)
    idx = [2, 2, 2]
    idx[axis] += k
    pred = single((9, 9, 9), *idx)
    sd = fastseg.surface_distances(pred, ref, spacing=SP3, convention=CONVENTIONS[conv_id])
    d = k * SP3[axis]
    assert sd.pred_to_ref.tolist() == [d] and sd.ref_to_pred.tolist() == [d]
    assert sd.pred_weights.tolist() == [1.0] and sd.ref_weights.tolist() == [1.0]
    for q in (0, 50, 95, 100):
        assert fastseg.hausdorff(sd, percentile=q) == d
    assert fastseg.assd(sd) == d and fastseg.masd(sd) == d and fastseg.directed_means(sd) == (d, d)
    # NSD is inclusive: a distance exactly equal to the tolerance counts
    assert fastseg.nsd(sd, tolerance=d) == 1.0
    assert fastseg.nsd(sd, tolerance=np.nextafter(d, 0)) == 0.0


@pytest.mark.parametrize("conv_id", ["fastseg", "deepmind"])
@pytest.mark.parametrize("axis,k", SHIFTS_3D)
def test_single_voxel_shift_surfel_mode(axis, k, conv_id):
    """Surfel mode: a voxel's surface is its 8 corners, equal weights (the corner triangle, area
    sqrt((s0 s1)^2 + (s0 s2)^2 + (s1 s2)^2) / 8). Shifted by k voxels along an axis, the 4 corners on
    the near face are (k - 1) * s from the other voxel's far face, the 4 on the far face k * s. So
    HD = k * s, any percentile <= 50 gives (k - 1) * s and above it k * s, ASSD = MASD = (k - 1/2) * s,
    NSD = 1/2 at tolerance (k - 1) * s, 1 at k * s."""
    ref = single((9, 9, 9), 2, 2, 2)
    idx = [2, 2, 2]
    idx[axis] += k
    pred = single((9, 9, 9), *idx)
    s = SP3[axis]
    near, far = (k - 1) * s, k * s
    sd = fastseg.surface_distances(pred, ref, spacing=SP3, convention=CONVENTIONS[conv_id])
    assert sd.pred_to_ref.tolist() == [near] * 4 + [far] * 4
    assert sd.ref_to_pred.tolist() == [near] * 4 + [far] * 4
    a, b, c = SP3
    w = math.sqrt((a * b) ** 2 + (a * c) ** 2 + (b * c) ** 2) / 8
    np.testing.assert_allclose(sd.pred_weights, w, rtol=1e-14)
    np.testing.assert_allclose(sd.ref_weights, w, rtol=1e-14)
    assert fastseg.hausdorff(sd) == far
    assert fastseg.hd95(sd) == far
    assert fastseg.hausdorff(sd, percentile=40) == near
    assert fastseg.hausdorff(sd, percentile=60) == far
    assert fastseg.hausdorff(sd, percentile=0) == near
    assert fastseg.assd(sd) == pytest.approx((k - 0.5) * s, rel=1e-14)
    assert fastseg.masd(sd) == pytest.approx((k - 0.5) * s, rel=1e-14)
    assert fastseg.nsd(sd, tolerance=[near, far, np.nextafter(far, 0)]) == pytest.approx(
        [0.5, 1.0, 0.5], rel=1e-14)
    if k > 1:
        assert fastseg.nsd(sd, tolerance=np.nextafter(near, 0)) == 0.0


@pytest.mark.parametrize("k", [1, 2, 5])
def test_single_pixel_shift_2d_both_modes(k):
    """2D, shift along axis 1 (spacing 1.9). Voxel mode: k * 1.9 everywhere. Surfel mode: 4 corners,
    2 at (k - 1) * 1.9 and 2 at k * 1.9, each of length hypot(0.7, 1.9) / 2 (a side of the diamond
    through the 4 edge midpoints of the pixel)."""
    sp = (0.7, 1.9)
    ref = single((7, 12), 3, 2)
    pred = single((7, 12), 3, 2 + k)
    d = k * 1.9
    assert fastseg.hausdorff(pred, ref, spacing=sp, convention="medpy") == d
    assert fastseg.assd(pred, ref, spacing=sp, convention="monai") == d
    sd = fastseg.surface_distances(pred, ref, spacing=sp)
    near = (k - 1) * 1.9
    assert sd.pred_to_ref.tolist() == [near, near, d, d]
    np.testing.assert_allclose(sd.pred_weights, math.hypot(0.7, 1.9) / 2, rtol=1e-14)
    assert fastseg.hausdorff(sd) == d
    assert fastseg.hausdorff(sd, percentile=40) == near
    assert fastseg.hausdorff(sd, percentile=60) == d
    assert fastseg.assd(sd) == pytest.approx((k - 0.5) * 1.9, rel=1e-14)
    assert fastseg.nsd(sd, tolerance=[near, d]) == pytest.approx([0.5, 1.0], rel=1e-14)


def ball(shape, spacing, radius):
    """Voxels whose centre lies within ``radius`` (physical units) of the image centre."""
    idx = np.indices(shape).astype(float)
    d2 = sum(((idx[a] - (n - 1) / 2) * spacing[a]) ** 2 for a, n in enumerate(shape))
    return d2 <= radius * radius


@pytest.mark.parametrize("conv_id", ["fastseg", "monai", "medpy"])
@pytest.mark.parametrize("shape,spacing,r1,r2", [
    ((24, 40, 40), (2.0, 0.9, 0.9), 6.0, 14.0),
    ((20, 30, 26), (1.5, 1.0, 1.2), 8.0, 11.0),
    ((60, 40), (0.6, 0.9), 8.0, 11.0),
])
def test_concentric_spheres(shape, spacing, r1, r2, conv_id):
    """Every point of either sphere is r2 - r1 from the other one, up to the discretisation of the
    two surfaces (within one voxel diagonal)."""
    inner, outer = ball(shape, spacing, r1), ball(shape, spacing, r2)
    diag = math.hypot(*spacing)
    sd = fastseg.surface_distances(inner, outer, spacing=spacing, convention=conv_id, threads=T1)
    for d in (sd.pred_to_ref, sd.ref_to_pred):
        assert abs(d.min() - (r2 - r1)) <= diag and abs(d.max() - (r2 - r1)) <= diag
    for value in (fastseg.hausdorff(sd), fastseg.hd95(sd), fastseg.assd(sd), fastseg.masd(sd)):
        assert abs(value - (r2 - r1)) <= diag
    assert fastseg.hausdorff(sd) >= fastseg.hd95(sd) >= fastseg.assd(sd) > 0
    assert fastseg.nsd(sd, tolerance=r2 - r1 + diag) == 1.0
    assert fastseg.nsd(sd, tolerance=r2 - r1 - diag) <= 0.1
    swapped = fastseg.surface_distances(outer, inner, spacing=spacing, convention=conv_id, threads=T1)
    assert fastseg.hausdorff(swapped) == fastseg.hausdorff(sd)


def test_slab_on_image_faces_2d_voxel_mode():
    """The image border counts as background, so pixels on the image edge are boundary pixels.

    ref: columns 0-2 of a 5x8 image, pred: columns 0-3, spacing (0.7, 1.9). Boundary of ref: column 0
    (image edge), column 2, rows 0 and 4 (image edges) -> 12 pixels; of pred: columns 0 and 3, rows 0
    and 4 -> 14 pixels. pred -> ref: column 3 (5 pixels) at 1.9, the rest 0. ref -> pred: pixels
    (1, 2), (3, 2) at 0.7 (from row 0 / row 4 of pred), (2, 2) at 1.4, the rest 0. Were the border
    not background, the boundaries would be columns 2 and 3 only and every distance 1.9.
    """
    ref = np.zeros((5, 8), bool)
    ref[:, :3] = True
    pred = np.zeros((5, 8), bool)
    pred[:, :4] = True
    sp = (0.7, 1.9)
    for conv in ("monai", "medpy", "metricsreloaded"):
        sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv)
        np.testing.assert_allclose(sd.pred_to_ref, [0.0] * 9 + [1.9] * 5, rtol=1e-15)
        np.testing.assert_allclose(sd.ref_to_pred, [0.0] * 9 + [0.7, 0.7, 1.4], rtol=1e-15)
        assert fastseg.hausdorff(sd) == 1.9
        assert fastseg.assd(sd) == pytest.approx((5 * 1.9 + 2.8) / 26, rel=1e-14)
        assert fastseg.masd(sd) == pytest.approx(0.5 * (9.5 / 14 + 2.8 / 12), rel=1e-14)
        assert fastseg.directed_means(sd) == pytest.approx((9.5 / 14, 2.8 / 12), rel=1e-14)
        assert fastseg.nsd(sd, tolerance=1.0) == pytest.approx((9 + 11) / 26, rel=1e-14)
    # hd95: medpy pools the 26 values (index 23.75 of the sorted list: 1.9); per direction the ref
    # side gives 0.7 + 0.45 * 0.7 but the pred side 1.9 wins
    assert fastseg.hd95(pred, ref, spacing=sp, convention="medpy") == 1.9
    assert fastseg.hd95(pred, ref, spacing=sp, convention="monai") == 1.9


def test_slab_on_image_faces_3d_voxel_mode():
    """ref fills a 4x5x6 image, pred its slices 0-2; spacing (2.5, 0.8, 0.8). Every voxel on an image
    face is a boundary voxel: ref's boundary is its shell (96 voxels), pred's the shell of a 3x5x6 box
    (78). pred -> ref: the 12 voxels of pred's top face off the image border are 0.8 * (distance in
    voxels to the nearest side face of the image), i.e. 8 at 0.8 and 4 at (0.8, 1.6, 1.6, 0.8) (sum
    11.2); the rest lie on ref's shell (0). ref -> pred: the 30 voxels of slice 3 are 2.5 from slice 2;
    the rest lie on pred's shell (0)."""
    ref = np.ones((4, 5, 6), bool)
    pred = ref.copy()
    pred[3] = False
    sp = (2.5, 0.8, 0.8)
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention="monai")
    assert sd.pred_to_ref.size == 78 and sd.ref_to_pred.size == 96
    assert sorted(set(sd.pred_to_ref.round(12).tolist())) == [0.0, 0.8, 1.6]
    assert sd.pred_to_ref.sum() == pytest.approx(11.2, rel=1e-14)
    assert sd.ref_to_pred.tolist() == [0.0] * 66 + [2.5] * 30
    assert fastseg.hausdorff(sd) == 2.5
    assert fastseg.directed_means(sd) == pytest.approx((11.2 / 78, 75.0 / 96), rel=1e-14)
    assert fastseg.assd(sd) == pytest.approx(86.2 / 174, rel=1e-14)


def test_full_image_surface():
    """A mask filling the image: its surface is the image border (voxel mode: the shell; surfel
    mode: the border of the corner lattice), and it is at distance 0 from itself."""
    full = np.ones((4, 5, 6), bool)
    sd = fastseg.surface_distances(full, full, spacing=(2.5, 0.8, 0.8), convention="monai")
    assert sd.pred_to_ref.size == 4 * 5 * 6 - 2 * 3 * 4 and not sd.pred_to_ref.any()
    sd = fastseg.surface_distances(full, full, spacing=(2.5, 0.8, 0.8))
    assert sd.pred_to_ref.size == 5 * 6 * 7 - 3 * 4 * 5 and not sd.pred_to_ref.any()
    assert fastseg.hausdorff(sd) == 0.0 and fastseg.nsd(sd, tolerance=0.0) == 1.0


@pytest.mark.parametrize("conv_id", PRESETS)
def test_identical_masks(conv_id):
    pred, _, sp = CASES["blob3d-0"]
    m = all_metrics(pred, pred, tolerances=(0.0,), spacing=sp, convention=conv_id)
    assert m == {**{k: 0.0 for k in m}, "nsd0": 1.0}


# ------------------------------------------------------------------ 3. empty masks

def empty_pair(state, ndim):
    shape = (6, 7, 8)[:ndim] if ndim == 3 else (9, 10)
    some = np.zeros(shape, bool)
    some[(slice(2, 4),) * ndim] = True
    none = np.zeros(shape, bool)
    return {"both_empty": (none, none), "ref_empty": (some, none), "pred_empty": (none, some)}[state]


def metrics_of(pred, ref, conv, sp=None, tolerances=(0.0, 2.0)):
    return all_metrics(pred, ref, tolerances=tolerances, percentiles=(50.0,), spacing=sp, convention=conv)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("state", ["both_empty", "ref_empty", "pred_empty"])
def test_empty_default_policy(state, ndim):
    """DESIGN section 5: both empty -> distances 0.0, NSD 1.0; one empty -> +inf, NSD 0.0; never NaN."""
    pred, ref = empty_pair(state, ndim)
    sd = fastseg.surface_distances(pred, ref)
    assert sd.empty_state == state
    got = metrics_of(pred, ref, "fastseg")
    distance = 0.0 if state == "both_empty" else math.inf
    overlap = 1.0 if state == "both_empty" else 0.0
    assert got == {k: (overlap if k.startswith("nsd") else distance) for k in got}
    assert fastseg.nsd(pred, ref, tolerance=1.0) == overlap  # scalar
    assert fastseg.directed_means(pred, ref) == (distance, distance)


# what each preset documents for empty masks: (hd, hdq, assd, masd, directed means, nsd)
NAN, INF = math.nan, math.inf
PRESET_EMPTY = {
    # surface-distance: both sets empty -> HD inf, means 0/0 = NaN, surface Dice 0/0 = NaN; one set
    # empty -> HD inf, the empty side's mean NaN and the other's inf, surface Dice 0
    ("deepmind", "both_empty"): dict(hd=INF, hdq=INF, assd=NAN, masd=NAN, means=(NAN, NAN), nsd=NAN),
    ("deepmind", "ref_empty"): dict(hd=INF, hdq=INF, assd=NAN, masd=NAN, means=(INF, NAN), nsd=0.0),
    ("deepmind", "pred_empty"): dict(hd=INF, hdq=INF, assd=NAN, masd=NAN, means=(NAN, INF), nsd=0.0),
    # MONAI: NaN when both are empty; one empty: max of infs, torch.quantile of infs is NaN, mean inf
    ("monai", "both_empty"): dict(hd=NAN, hdq=NAN, assd=NAN, masd=NAN, means=(NAN, NAN), nsd=NAN),
    ("monai", "ref_empty"): dict(hd=INF, hdq=NAN, assd=INF, masd=INF, means=(INF, INF), nsd=0.0),
    ("monai", "pred_empty"): dict(hd=INF, hdq=NAN, assd=INF, masd=INF, means=(INF, INF), nsd=0.0),
    # MetricsReloaded: measured_distance returns 0 for both empty, NSD 0/0; one empty is inf here
    ("metricsreloaded", "both_empty"): dict(hd=0.0, hdq=0.0, assd=0.0, masd=0.0, means=(0.0, 0.0), nsd=NAN),
    ("metricsreloaded", "ref_empty"): dict(hd=INF, hdq=INF, assd=INF, masd=INF, means=(INF, INF), nsd=0.0),
    ("metricsreloaded", "pred_empty"): dict(hd=INF, hdq=INF, assd=INF, masd=INF, means=(INF, INF), nsd=0.0),
}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("conv_id,state", list(PRESET_EMPTY))
def test_empty_preset_policy(conv_id, state, ndim):
    pred, ref = empty_pair(state, ndim)
    e = PRESET_EMPTY[conv_id, state]
    sd = fastseg.surface_distances(pred, ref, convention=conv_id)
    assert sd.empty_state == state
    checks = {
        "hd": (fastseg.hausdorff(sd), e["hd"]),
        "hd95": (fastseg.hd95(sd), e["hdq"]),
        "hd50": (fastseg.hausdorff(sd, percentile=50), e["hdq"]),
        "assd": (fastseg.assd(sd), e["assd"]),
        "masd": (fastseg.masd(sd), e["masd"]),
        "mean_pr": (fastseg.directed_means(sd)[0], e["means"][0]),
        "mean_rp": (fastseg.directed_means(sd)[1], e["means"][1]),
        "nsd": (fastseg.nsd(sd, tolerance=1.0), e["nsd"]),
        "nsd_list": (fastseg.nsd(sd, tolerance=[0.0, 5.0])[1], e["nsd"]),
    }
    bad = {k: v for k, v in checks.items() if not same(*v, RTOL)}
    assert not bad, bad


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("state", ["both_empty", "ref_empty", "pred_empty"])
def test_empty_medpy_raises(state, ndim):
    pred, ref = empty_pair(state, ndim)
    calls = [
        lambda: fastseg.surface_distances(pred, ref, convention="medpy"),
        lambda: fastseg.hausdorff(pred, ref, convention="medpy"),
        lambda: fastseg.hd95(pred, ref, convention="medpy"),
        lambda: fastseg.assd(pred, ref, convention="medpy"),
        lambda: fastseg.masd(pred, ref, convention="medpy"),
        lambda: fastseg.directed_means(pred, ref, convention="medpy"),
        lambda: fastseg.nsd(pred, ref, tolerance=1.0, convention="medpy"),
    ]
    side = {"both_empty": "both masks are", "ref_empty": "ref is", "pred_empty": "pred is"}[state]
    for call in calls:
        with pytest.raises(ValueError, match=f"{side} empty.*'medpy'") as info:
            call()
        assert isinstance(info.value, fastseg.FastsegError)


@pytest.mark.parametrize("state", ["both_empty", "ref_empty", "pred_empty"])
def test_empty_custom_convention_uses_its_policy(state):
    """A custom convention with the fastseg empty policy but medpy-like rules gives section 5 values."""
    pred, ref = empty_pair(state, 3)
    conv = get_convention("medpy").replace(empty="fastseg")
    got = metrics_of(pred, ref, conv)
    want = metrics_of(pred, ref, "fastseg")
    assert got == want


# ------------------------------------------------------------------ 4. errors

M2 = single((5, 6), 2, 3)
M3 = single((4, 5, 6), 1, 2, 3)


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "needs a tolerance"),
    (dict(tolerance=None), "needs a tolerance"),
    (dict(tolerance=-1.0), r"tolerance must be a finite number >= 0.*-1"),
    (dict(tolerance=math.nan), r"tolerance must be a finite number.*nan"),
    (dict(tolerance=math.inf), r"tolerance must be a finite number.*inf"),
    (dict(tolerance=[1.0, -2.0]), r"tolerance must be a finite number.*-2"),
    (dict(tolerance=[]), "non-empty sequence"),
])
def test_nsd_tolerance_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastseg.nsd(M3, M3, **kwargs)
    sd = fastseg.surface_distances(M3, M3)
    with pytest.raises(ValueError, match=match):
        fastseg.nsd(sd, **kwargs)


def test_nsd_tolerance_type_error():
    with pytest.raises(TypeError, match="tolerance must be a real number"):
        fastseg.nsd(M3, M3, tolerance="1mm")


@pytest.mark.parametrize("percentile", [-1, -1e-9, 100.0001, 101, math.nan, math.inf])
def test_percentile_errors(percentile):
    with pytest.raises(ValueError, match=r"percentile must be a finite number >= 0.0 and <= 100.0; got"):
        fastseg.hausdorff(M3, M3, percentile=percentile)
    sd = fastseg.surface_distances(M3, M3)
    with pytest.raises(ValueError, match="percentile"):
        fastseg.hausdorff(sd, percentile=percentile)


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 5), (1, 1, 1, 1)])
@pytest.mark.parametrize("func", ["surface_distances", "hausdorff", "hd95", "assd", "masd", "directed_means"])
def test_dimension_errors(shape, func):
    m = np.ones(shape, bool)
    with pytest.raises(ValueError, match=rf"2D or 3D inputs; got pred with {len(shape)} dimensions"):
        getattr(fastseg, func)(m, m)
    with pytest.raises(ValueError, match="2D or 3D"):
        fastseg.nsd(m, m, tolerance=1.0)


def test_scalar_input_is_refused():
    with pytest.raises(ValueError, match="2D or 3D inputs"):
        fastseg.hausdorff(np.bool_(True), np.bool_(True))


def test_scalar_input_message_reports_0_dimensions():
    with pytest.raises(ValueError, match=r"got pred with 0 dimensions \(shape \(\)\)"):
        fastseg.hausdorff(np.bool_(True), np.bool_(True))


@pytest.mark.parametrize("mask,spacing,match", [
    (M3, (1.0, 1.0), r"one positive value per axis \(3\); got \(1.0, 1.0\)"),
    (M3, (1.0, 1.0, 1.0, 1.0), r"one positive value per axis \(3\)"),
    (M2, (1.0, 2.0, 3.0), r"one positive value per axis \(2\)"),
    (M3, (1.0, 0.0, 1.0), r"positive finite value per axis \(3\); got \(1.0, 0.0, 1.0\)"),
    (M3, (1.0, -0.8, 1.0), r"positive finite.*-0.8"),
    (M3, (1.0, math.nan, 1.0), "positive finite"),
    (M2, 0.0, "positive finite"),
    (M2, -2.0, "positive finite"),
])
def test_spacing_errors(mask, spacing, match):
    with pytest.raises(ValueError, match=match):
        fastseg.hausdorff(mask, mask, spacing=spacing)
    with pytest.raises(ValueError, match=match):
        fastseg.nsd(mask, mask, tolerance=1.0, spacing=spacing)


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape; got \(4, 5, 6\) and \(4, 5, 7\)"):
        fastseg.hausdorff(M3, np.zeros((4, 5, 7), bool))
    with pytest.raises(ValueError, match="same shape"):
        fastseg.surface_distances(M2, M2.T)


@pytest.mark.parametrize("dtype,value", [(np.uint8, 2), (np.uint8, 255), (np.int8, 2), (np.int8, -1),
                                         (np.int16, 2), (np.int64, -1), (np.float32, 2), (np.float64, 0.5)])
@pytest.mark.parametrize("which", ["pred", "ref"])
def test_non_binary_masks(dtype, value, which):
    bad = M3.astype(dtype)
    bad[0, 0, 0] = value
    bad[3, 4, 5] = value
    args = (bad, M3) if which == "pred" else (M3, bad)
    for func in (fastseg.surface_distances, fastseg.hausdorff, fastseg.assd):
        with pytest.raises(ValueError, match=rf"{which} must be a binary mask.*2 of 120 voxels.*labels="):
            func(*args)


def test_nan_mask():
    bad = M3.astype(float)
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"pred must be a binary mask.*1 of them NaN"):
        fastseg.hausdorff(bad, M3)


def test_non_numeric_masks():
    with pytest.raises(TypeError, match="pred must be a boolean, integer or float array"):
        fastseg.hausdorff(np.full((3, 3), "a"), np.zeros((3, 3)))


def test_precomputed_with_other_convention():
    sd = fastseg.surface_distances(M3, M3, convention="monai")
    for func in (fastseg.hausdorff, fastseg.hd95, fastseg.assd, fastseg.masd, fastseg.directed_means):
        with pytest.raises(ValueError, match="convention 'fastseg' differs.*'monai'"):
            func(sd, convention="fastseg")
        with pytest.raises(ValueError, match="convention 'monai\\*' differs"):
            func(sd, convention=get_convention("monai").replace(connectivity=2))
        value = func(sd, convention="monai")  # the same convention is fine
        assert value == ((0.0, 0.0) if func is fastseg.directed_means else 0.0)
    with pytest.raises(ValueError, match="differs"):
        fastseg.nsd(sd, tolerance=1.0, convention="deepmind")


def test_precomputed_misuse():
    sd = fastseg.surface_distances(M3, M3)
    with pytest.raises(ValueError, match="spacing is fixed"):
        fastseg.hausdorff(sd, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(TypeError, match="SurfaceDistances alone"):
        fastseg.hausdorff(sd, M3)
    with pytest.raises(TypeError, match="ref is missing"):
        fastseg.assd(M3)


def test_convention_errors():
    with pytest.raises(ValueError, match="convention must be one of"):
        fastseg.hausdorff(M3, M3, convention="no-such-preset")
    with pytest.raises(TypeError, match="preset name or a fastseg.Convention"):
        fastseg.hausdorff(M3, M3, convention=1)
    with pytest.raises(ValueError, match="connectivity must be 1, 2 or 3"):
        get_convention("medpy").replace(connectivity=0)
    with pytest.raises(ValueError, match="Convention.surface"):
        Convention(surface="mesh")


def test_threads_errors():
    with pytest.raises(ValueError, match="threads"):
        fastseg.hausdorff(M3, M3, threads=0)
    with pytest.raises(TypeError, match="threads"):
        fastseg.hausdorff(M3, M3, threads=1.5)


# ------------------------------------------------------------------ 5. invariants

def masks(ndim, max_side):
    """Two bool masks of one random shape (sides 1..max_side)."""
    return hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=1, max_side=max_side).flatmap(
        lambda shape: st.tuples(hnp.arrays(bool, shape), hnp.arrays(bool, shape)))


def spacings(ndim):
    return st.tuples(*[st.floats(0.2, 5.0) for _ in range(ndim)])


@st.composite
def pairs(draw):
    ndim = draw(st.sampled_from([2, 3]))
    pred, ref = draw(masks(ndim, 9 if ndim == 3 else 14))
    return pred, ref, draw(spacings(ndim))


def medpy_would_raise(conv_id, pred, ref):
    """The medpy preset raises on empty masks (tested elsewhere): such draws are skipped."""
    return conv_id == "medpy" and not (pred.any() and ref.any())


@settings(max_examples=25, deadline=None)
@given(case=pairs(), conv_id=st.sampled_from(PRESETS), k=st.sampled_from([0.25, 0.5, 2.0, 4.0]))
def test_spacing_scale_exact(case, conv_id, k):
    """Scaling the spacing by a power of two scales every distance exactly (and NSD at the scaled
    tolerance is unchanged)."""
    pred, ref, sp = case
    if medpy_would_raise(conv_id, pred, ref):
        return
    tols = (0.0, 1.0, 2.5)
    base = all_metrics(pred, ref, tolerances=tols, percentiles=(50.0, 90.0), spacing=sp, convention=conv_id)
    scaled = all_metrics(pred, ref, tolerances=[k * t for t in tols], percentiles=(50.0, 90.0),
                         spacing=[k * s for s in sp], convention=conv_id)
    for (n1, v1), (n2, v2) in zip(base.items(), scaled.items()):
        want = v1 if n1.startswith("nsd") else k * v1
        assert same(v2, want, rtol=0), (n1, v1, v2)


@settings(max_examples=20, deadline=None)
@given(case=pairs(), conv_id=st.sampled_from(PRESETS), k=st.floats(0.1, 10.0))
def test_spacing_scale_relative(case, conv_id, k):
    """Any positive factor: HD, ASSD, MASD and the directed means scale to 1e-12 relative (percentile
    rules that interpolate too: the interpolation is linear)."""
    pred, ref, sp = case
    if medpy_would_raise(conv_id, pred, ref):
        return
    sd1 = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv_id, threads=T1)
    sd2 = fastseg.surface_distances(pred, ref, spacing=[k * s for s in sp], convention=conv_id, threads=T1)
    names = ["hausdorff", "assd", "masd"]
    for name in names:
        a, b = getattr(fastseg, name)(sd1), getattr(fastseg, name)(sd2)
        assert same(b, k * a, RTOL), (name, a, b)
    for a, b in zip(fastseg.directed_means(sd1), fastseg.directed_means(sd2)):
        assert same(b, k * a, RTOL)
    if get_convention(conv_id).percentile != "weighted_nearest_rank":
        assert same(fastseg.hd95(sd2), k * fastseg.hd95(sd1), RTOL)


@pytest.mark.parametrize("k", [0.3, 1.7, 3.0])
@pytest.mark.parametrize("case_id", ["blob3d-1", "blob2d-0", "sheets3d"])
def test_spacing_scale_explicit(case_id, k):
    pred, ref, sp = CASES[case_id]
    for conv_id in PRESETS:
        a = fastseg.hausdorff(pred, ref, spacing=sp, convention=conv_id, threads=T1)
        b = fastseg.hausdorff(pred, ref, spacing=[k * s for s in sp], convention=conv_id, threads=T1)
        assert b == pytest.approx(k * a, rel=RTOL)
        a = fastseg.assd(pred, ref, spacing=sp, convention=conv_id, threads=T1)
        b = fastseg.assd(pred, ref, spacing=[k * s for s in sp], convention=conv_id, threads=T1)
        assert b == pytest.approx(k * a, rel=RTOL)


def symmetric_metrics(pred, ref, conv_id, sp):
    tols = (0.0, 1.0, 2.5)
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv_id, threads=T1)
    out = {f"hd{q:g}": fastseg.hausdorff(sd, percentile=q) for q in (0, 50, 90, 95, 100)}
    out.update(assd=fastseg.assd(sd), masd=fastseg.masd(sd))
    out.update({f"nsd{t:g}": v for t, v in zip(tols, fastseg.nsd(sd, tolerance=tols))})
    return out, fastseg.directed_means(sd)


@settings(max_examples=25, deadline=None)
@given(case=pairs(), conv_id=st.sampled_from(list(CONVENTIONS)))
def test_symmetry(case, conv_id):
    pred, ref, sp = case
    if medpy_would_raise(conv_id, pred, ref):
        return
    a, means_a = symmetric_metrics(pred, ref, CONVENTIONS[conv_id], sp)
    b, means_b = symmetric_metrics(ref, pred, CONVENTIONS[conv_id], sp)
    assert_all_same(a, b, what=conv_id)
    assert same(means_a[0], means_b[1], RTOL) and same(means_a[1], means_b[0], RTOL)


@pytest.mark.parametrize("conv_id", list(CONVENTIONS))
@pytest.mark.parametrize("case_id", ["blob3d-2", "noise2d", "lines3d"])
def test_symmetry_explicit(case_id, conv_id):
    pred, ref, sp = CASES[case_id]
    a, means_a = symmetric_metrics(pred, ref, CONVENTIONS[conv_id], sp)
    b, means_b = symmetric_metrics(ref, pred, CONVENTIONS[conv_id], sp)
    assert_all_same(a, b, what=conv_id)
    assert means_a == pytest.approx(means_b[::-1], rel=RTOL)


def assert_same_sets(a, b):
    for name in ("pred_to_ref", "ref_to_pred", "pred_weights", "ref_weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.empty_state == b.empty_state and a.convention == b.convention


@pytest.mark.parametrize("conv_id", ["fastseg", "monai", "voxel-c3-pooled-mean"])
@pytest.mark.parametrize("case_id", ["blob3d-0", "blob2d-2", "noise3d", "full-vs-slab3d"])
def test_threads_do_not_change_results(case_id, conv_id):
    pred, ref, sp = CASES[case_id]
    conv = CONVENTIONS[conv_id]
    one = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv, threads=1)
    two = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv, threads=2)
    default = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv)
    assert_same_sets(one, two)
    assert_same_sets(one, default)
    assert fastseg.hd95(pred, ref, spacing=sp, convention=conv, threads=1) == fastseg.hd95(
        pred, ref, spacing=sp, convention=conv, threads=2)
    assert fastseg.nsd(pred, ref, tolerance=1.0, spacing=sp, convention=conv, threads=1) == fastseg.nsd(
        pred, ref, tolerance=1.0, spacing=sp, convention=conv, threads=2)


STRONG = (5.0, 0.3, 1.1)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("conv_id", ["fastseg", "monai"])
def test_fortran_order_applies_spacing_to_the_right_axis(axis, conv_id):
    """F-ordered input is transposed internally with its spacing reversed; a shift along array axis
    ``axis`` must still be measured with spacing[axis]."""
    ref = single((6, 7, 8), 2, 2, 2)
    idx = [2, 2, 2]
    idx[axis] += 2
    pred = single((6, 7, 8), *idx)
    pf, rf = np.asfortranarray(pred), np.asfortranarray(ref)
    assert pf.flags.f_contiguous and not pf.flags.c_contiguous
    assert fastseg.hausdorff(pf, rf, spacing=STRONG, convention=conv_id) == 2 * STRONG[axis]
    assert fastseg.assd(pf, rf, spacing=STRONG, convention="monai") == 2 * STRONG[axis]
    sd = fastseg.surface_distances(pf, rf, spacing=STRONG, convention=conv_id)
    assert sd.spacing == STRONG
    # 2D as well
    p2, r2 = np.asfortranarray(pred[2]), np.asfortranarray(ref[2])
    if axis:
        assert fastseg.hausdorff(p2, r2, spacing=STRONG[1:], convention=conv_id) == 2 * STRONG[axis]


@pytest.mark.parametrize("conv_id", [*PRESETS, "voxel-c3-pooled-mean"])
@pytest.mark.parametrize("case_id", ["blob3d-1", "blob2d-1", "sheets3d"])
def test_fortran_order_equals_c_order(case_id, conv_id):
    pred, ref, _ = CASES[case_id]
    sp = STRONG[:pred.ndim]
    conv = CONVENTIONS[conv_id]
    want = all_metrics(pred, ref, tolerances=TOLERANCES, percentiles=PERCENTILES, spacing=sp, convention=conv)
    pf, rf = np.asfortranarray(pred), np.asfortranarray(ref)
    got = all_metrics(pf, rf, tolerances=TOLERANCES, percentiles=PERCENTILES, spacing=sp, convention=conv)
    assert_all_same(got, want, what="F order")
    # mixed layouts and non-contiguous views too
    got = all_metrics(pf, ref, tolerances=TOLERANCES, percentiles=PERCENTILES, spacing=sp, convention=conv)
    assert_all_same(got, want, what="mixed order")
    big_p = np.zeros((2 * pred.shape[0],) + pred.shape[1:], bool)
    big_r = big_p.copy()
    big_p[::2], big_r[::2] = pred, ref
    got = all_metrics(big_p[::2], big_r[::2], tolerances=TOLERANCES, percentiles=PERCENTILES, spacing=sp,
                      convention=conv)
    assert_all_same(got, want, what="strided view")
    # against the brute force directly
    direct = RS.metrics(pred, ref, sp, conv, PERCENTILES, TOLERANCES)
    assert_all_same(want, reference_flat(direct), what="vs reference")


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int8, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("conv_id", ["fastseg", "monai"])
def test_dtype_does_not_change_results(dtype, conv_id):
    pred, ref, sp = CASES["blob3d-0"]
    want = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv_id, threads=T1)
    got = fastseg.surface_distances(pred.astype(dtype), ref.astype(dtype), spacing=sp, convention=conv_id, threads=T1)
    assert_same_sets(got, want)
    mixed = fastseg.surface_distances(pred.astype(dtype), ref, spacing=sp, convention=conv_id, threads=T1)
    assert_same_sets(mixed, want)


def test_read_only_and_big_endian_input():
    pred, ref, sp = CASES["blob3d-0"]
    want = fastseg.surface_distances(pred, ref, spacing=sp)
    p = pred.astype(">i4")
    r = ref.astype(">f8")
    p.flags.writeable = False
    assert_same_sets(fastseg.surface_distances(p, r, spacing=sp), want)
    # lists work too (array_like)
    p2, r2, sp2 = CASES["single-same2d"]
    assert fastseg.hausdorff(p2.tolist(), r2.astype(int).tolist(), spacing=list(sp2)) == 0.0


@pytest.mark.parametrize("spacing", [None, 1.0, 2, (1.0, 1.0, 1.0), np.array([1.0, 1.0, 1.0])])
def test_spacing_forms(spacing):
    pred, ref, _ = CASES["blob3d-3"]
    base = fastseg.hausdorff(pred, ref)
    k = 2.0 if spacing is not None and np.all(np.asarray(spacing) == 2) else 1.0
    assert fastseg.hausdorff(pred, ref, spacing=spacing) == k * base
    sd = fastseg.surface_distances(pred, ref, spacing=spacing)
    assert sd.spacing == (k, k, k) and all(isinstance(s, float) for s in sd.spacing)


@settings(max_examples=20, deadline=None)
@given(case=pairs(), conv_id=st.sampled_from(["fastseg", "monai", "medpy"]))
def test_brute_force_property(case, conv_id):
    """Random small masks (any shape, often touching the border, often tiny) against the brute force."""
    pred, ref, sp = case
    if not (pred.any() and ref.any()):
        return
    conv = get_convention(conv_id)
    want = reference_flat(RS.metrics(pred, ref, sp, conv, PERCENTILES, TOLERANCES))
    got = all_metrics(pred, ref, tolerances=TOLERANCES, percentiles=PERCENTILES, spacing=sp, convention=conv)
    assert_all_same(got, want, what=conv_id)


@settings(max_examples=20, deadline=None)
@given(case=pairs(), conv_id=st.sampled_from(list(CONVENTIONS)))
def test_bounds(case, conv_id):
    """0 <= HDq <= HD, the directed means <= HD, 0 <= NSD <= 1, and NSD is non-decreasing in the
    tolerance and reaches 1 at the Hausdorff distance."""
    pred, ref, sp = case
    if pred.any() and ref.any():
        sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=CONVENTIONS[conv_id], threads=T1)
        hd = fastseg.hausdorff(sd)
        assert 0.0 <= fastseg.hd95(sd) <= hd
        assert 0.0 <= fastseg.hausdorff(sd, percentile=50) <= fastseg.hd95(sd)
        top = hd * (1 + 1e-12)  # a weighted mean of equal values may round one ulp above them
        assert max(fastseg.directed_means(sd)) <= top
        assert 0.0 <= fastseg.assd(sd) <= top and 0.0 <= fastseg.masd(sd) <= top
        values = fastseg.nsd(sd, tolerance=[0.0, 0.5, 1.0, 2.0, hd])
        assert all(0.0 <= v <= 1.0 for v in values)
        assert values == sorted(values) and values[-1] == 1.0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(0, 300), levels=st.integers(1, 40),
       n_weights=st.integers(1, 6))
def test_sorted_pairs_equal_two_key_sort(seed, n, levels, n_weights):
    """Distance then weight, as ``np.lexsort((w, d))`` orders them: ties, long runs, inf, and codes
    of equal weight included (surfel weights are ``table[code]``)."""
    from fastseg._engine.sets import sort_by_distance as _sorted

    rng = np.random.default_rng(seed)
    table = np.zeros(256)
    table[1:255] = rng.choice(rng.uniform(0.1, 2.0, n_weights), 254)
    codes = rng.integers(1, 255, n).astype(np.uint8)
    d = rng.integers(0, levels, n).astype(float) * 0.8
    d[rng.random(n) < 0.1] = np.inf
    w = table[codes]
    order = np.lexsort((w, d))
    ds, ws = _sorted(d.copy(), w.copy(), codes, table)
    assert np.array_equal(ds, d[order]) and np.array_equal(ws, w[order])
    du, wu = _sorted(d.copy(), np.ones(n))
    assert np.array_equal(du, np.sort(d)) and np.array_equal(wu, np.ones(n))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), sizes=st.tuples(st.integers(0, 40), st.integers(0, 40)),
       kind=st.sampled_from(["continuous", "lattice", "ties", "inf", "nan", "huge"]),
       q=st.one_of(st.sampled_from([0.0, 1.0, 50.0, 95.0, 99.0, 99.9, 100.0]), st.floats(0.0, 100.0)))
def test_linear_percentiles_equal_numpys(seed, sizes, kind, q):
    """The linear percentiles (per direction: MONAI's rule; pooled over both directions: MedPy's) read
    from the sorted sets equal ``np.percentile`` of the sets (their concatenation when pooled) to the
    bit: one or both sets empty, ties, lattice distances, infinite and NaN distances."""
    rng = np.random.default_rng(seed)

    def values(n):
        if kind == "lattice":
            d = np.sqrt(rng.integers(0, 30, n) * 0.64 + rng.integers(0, 4, n) * 6.25)
        elif kind == "ties":
            d = rng.choice([0.0, 0.8, 1.6, 2.5], n)
        elif kind == "huge":
            d = rng.uniform(0, 1e300, n)
        else:
            d = rng.exponential(3.0, n)
        if kind in ("inf", "nan") and n:
            d[rng.random(n) < 0.3] = np.inf if kind == "inf" else np.nan
        return np.sort(d)  # NaN last, as the sets are kept

    a, b = values(sizes[0]), values(sizes[1])
    sd = {c: fastseg.SurfaceDistances(a, b, np.ones(a.size), np.ones(b.size), "none", get_convention(c))
          for c in ("monai", "medpy")}
    got = fastseg.metrics.surface.directed_hausdorff(sd["monai"], q)

    def want(d, conv="monai"):
        if d.size == 0:
            return math.nan
        with np.errstate(invalid="ignore"):
            x = float(np.percentile(d, get_convention(conv).hd_percentile(q)))  # MONAI: 0 is the maximum
        return math.inf if math.isnan(x) and not np.isnan(d).any() else x  # inf - inf: inf

    assert same(got[0], want(a)) and same(got[1], want(b))
    pooled = fastseg.metrics.surface.directed_hausdorff(sd["medpy"], q)
    w = want(np.concatenate([a, b]), "medpy")
    assert same(pooled[0], w) and same(pooled[1], w)


@pytest.mark.parametrize("convention", ["monai", "medpy", "itk", "seg-metrics", "plastimatch"])
def test_voxel_weights_are_unit_and_means_keep_their_bits(convention):
    """Boundary and object voxels weigh 1.0 each, held as one read-only element (no memory for the
    object model's million voxels); the means skip the multiplication by them and give the bits of
    ``np.sum(d * w) / np.sum(w)`` with the weights as a real array of ones."""
    from fastseg._engine.sets import is_unit

    rng = np.random.default_rng(7)
    ref = ndimage.binary_dilation(rng.random((14, 17, 19)) < 0.02, iterations=2)
    pred = np.roll(ref, 2, axis=1) | (rng.random(ref.shape) < 0.01)
    sd = fastseg.surface_distances(pred, ref, spacing=(2.5, 0.8, 0.7), convention=convention)
    assert is_unit(sd.pred_weights) and is_unit(sd.ref_weights)
    assert not sd.pred_weights.flags.writeable and sd.pred_weights.size == sd.pred_to_ref.size
    ones = fastseg.SurfaceDistances(sd.pred_to_ref, sd.ref_to_pred, np.ones(sd.pred_to_ref.size),
                                    np.ones(sd.ref_to_pred.size), sd.empty_state, sd.convention, sd.spacing)
    assert not is_unit(ones.pred_weights)
    for f in (fastseg.assd, fastseg.masd, fastseg.directed_means):
        assert same(f(sd), f(ones))
    d = np.concatenate([sd.pred_to_ref, sd.ref_to_pred])
    w = np.ones(d.size)
    pooled = float(np.sum(d * w) / float(np.sum(w)))
    if get_convention(convention).assd == "pooled":
        assert same(fastseg.assd(sd), pooled)
