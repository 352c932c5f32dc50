"""Soft overlap metrics, added path length (APL) and clDice against independent references.

References written here, from the published definitions:

- soft Dice / Jaccard / Tversky as MONAI (``DiceLoss``, ``TverskyLoss`` with zero smoothing) and nnU-Net
  (``SoftDiceLoss``) compute them on one channel of one sample: ``tp = sum(p r)``, ``fp = sum(p (1 - r))``,
  ``fn = sum((1 - p) r)``, sums in exact (``math.fsum``) arithmetic;
- APL as Vaassen et al. (2020) define it and the MAASTRO script computes it at tolerance 0: per slice,
  the reference contour pixels that are not predicted contour pixels (within ``tolerance``, ``<=``),
  times the pixel size; brute force over every pair of contour pixels;
- clDice as MetricsReloaded's ``centreline_dsc`` (its current code, re-stated below): scikit-image's
  ``skeletonize``, NaN when a skeleton is empty (so when a mask is, both included) or when nothing
  overlaps (0 / 0).
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from skimage.morphology import skeletonize as sk_skeletonize

import fastseg
from fastseg._validation import InputValueError
from fastseg.topology import cldice, skeletonize

SETTINGS = settings(max_examples=40, deadline=None, database=None)


# ---------------------------------------------------------------- references

def soft_reference(p, r, alpha, beta):
    """MONAI / nnU-Net soft Tversky of one channel, exact sums; 1.0 for two all-zero maps."""
    p = np.asarray(p, np.float64).ravel()
    r = np.asarray(r, bool).ravel()
    tp, fp, fn = math.fsum(p[r]), math.fsum(p[~r]), math.fsum(1.0 - p[r])
    den = tp + alpha * fp + beta * fn
    if den == 0:
        return 1.0 if tp + fp + fn == 0 else 0.0
    return tp / den


def contour(mask2d):
    """Pixels of a 2D mask with a 4-neighbour outside it (outside the image counts as outside)."""
    m = np.pad(np.asarray(mask2d, bool), 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return m[1:-1, 1:-1] & ~inner


def apl_reference(pred, ref, plane, tolerance):
    """Brute force APL of a stack of slices ``[k, i, j]`` with in-plane spacing ``plane``."""
    plane = np.asarray(plane, float)
    added = 0
    for k in range(ref.shape[0]):
        rc, pc = np.argwhere(contour(ref[k])), np.argwhere(contour(pred[k]))
        for x in rc:
            if len(pc) == 0 or np.sqrt((((pc - x) * plane) ** 2).sum(axis=1)).min() > tolerance:
                added += 1
    return added * plane.mean()


def metricsreloaded_cldice(pred, ref):
    """MetricsReloaded ``BinaryPairwiseMeasures.centreline_dsc`` (2025 code), re-stated: its "both empty"
    test compares the bound methods ``n_pos_pred``/``n_pos_ref`` to 0, so it never fires."""
    sp, sr = sk_skeletonize(pred), sk_skeletonize(ref)
    prec = np.nan if sp.sum() == 0 else np.sum(sp * ref) / np.sum(sp)
    sens = np.nan if sr.sum() == 0 else np.sum(sr * pred) / np.sum(sr)
    with np.errstate(invalid="ignore"):
        return float(np.float64(2 * sens * prec) / np.float64(sens + prec))


# ---------------------------------------------------------------- soft metrics

@st.composite
def prob_pairs(draw):
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    r = rng.random(shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    kind = draw(st.sampled_from(["uniform", "binary", "zeros", "ones", "extreme"]))
    p = {"uniform": lambda: rng.random(shape), "binary": lambda: (rng.random(shape) < 0.5) * 1.0,
         "zeros": lambda: np.zeros(shape), "ones": lambda: np.ones(shape),
         "extreme": lambda: rng.choice([0.0, 5e-324, 1e-300, 0.5, np.nextafter(1.0, 0), 1.0], shape)}[kind]()
    return p.astype(draw(st.sampled_from([np.float32, np.float64]))), r


@SETTINGS
@given(prob_pairs(), st.sampled_from([(0.5, 0.5), (1.0, 1.0), (0.3, 0.7), (0.0, 1.0), (2.0, 0.0)]))
def test_soft_metrics_equal_the_monai_nnunet_formulas(pair, ab):
    p, r = pair
    alpha, beta = ab
    got = fastseg.soft_tversky(p, r, alpha=alpha, beta=beta)
    assert got == pytest.approx(soft_reference(p, r, alpha, beta), rel=1e-12, abs=1e-300)
    assert 0.0 <= got <= 1.0
    assert fastseg.soft_dice(p, r) == pytest.approx(soft_reference(p, r, 0.5, 0.5), rel=1e-12, abs=1e-300)
    assert fastseg.soft_jaccard(p, r) == pytest.approx(soft_reference(p, r, 1.0, 1.0), rel=1e-12, abs=1e-300)
    # identity and monotonicity: the reference as a prediction scores 1; raising p on the reference
    # (or lowering it elsewhere) never lowers soft Dice
    assert fastseg.soft_dice(r.astype(p.dtype), r) == 1.0
    better = np.where(r, np.maximum(p, 0.9), np.minimum(p, 0.1)).astype(p.dtype)
    assert fastseg.soft_dice(better, r) >= fastseg.soft_dice(p, r) - 1e-12


def test_soft_sums_are_exact_enough_on_large_float32_maps():
    """float32 probabilities summed over millions of voxels: float64 accumulation (a float32
    accumulator would be off in the 4th digit here)."""
    rng = np.random.default_rng(3)
    n = 3_000_000
    p = rng.random(n, dtype=np.float32)
    r = rng.random(n) < 0.4
    assert fastseg.soft_dice(p, r) == pytest.approx(soft_reference(p, r, 0.5, 0.5), rel=1e-12)
    assert fastseg.soft_tversky(p, r, alpha=0.2, beta=0.8) == pytest.approx(soft_reference(p, r, 0.2, 0.8),
                                                                            rel=1e-12)
    # every value 0.1 (float32): the float32 value, not 0.1, is summed
    p = np.full(n, 0.1, np.float32)
    assert fastseg.soft_dice(p, np.ones(n, bool)) == pytest.approx(
        2 * float(np.float32(0.1)) / (float(np.float32(0.1)) + 1.0), rel=1e-12)


def test_soft_metrics_pool_every_axis():
    """A (channel, x, y) map is pooled (one global value), not MONAI's mean over channels: documented."""
    p = np.array([[[1.0, 0.0]], [[0.5, 0.5]]])
    r = np.array([[[1, 0]], [[1, 1]]], bool)
    assert fastseg.soft_dice(p, r) == pytest.approx(2 * 2.0 / (3.0 + 2.0), rel=1e-15)
    assert "pool" in fastseg.soft_dice.__doc__


@pytest.mark.parametrize("bad, shown", [(1.5, "1.5"), (-0.25, "-0.25"), (np.nan, "nan"), (np.inf, "inf"),
                                        (255.0, "255")])
@pytest.mark.parametrize("func", [fastseg.soft_dice, fastseg.soft_jaccard, fastseg.soft_tversky])
def test_soft_errors_name_the_argument_and_the_value(func, bad, shown):
    """Before: the message said how many values were out of [0, 1], not which."""
    p = np.full((2, 3), 0.5)
    p[1, 2] = bad
    with pytest.raises(InputValueError) as info:
        func(p, np.ones((2, 3), bool))
    msg = str(info.value)
    assert "pred" in msg and "1 of 6" in msg and shown in msg and "(1, 2)" in msg, msg


# ---------------------------------------------------------------- APL

@st.composite
def apl_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    ref = rng.random(shape) < draw(st.sampled_from([0.0, 0.4, 0.8, 1.0]))
    pred = ref ^ (rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.5])))
    if draw(st.booleans()):
        pred[rng.integers(shape[0])] = False  # a slice without prediction
    plane = (draw(st.sampled_from([0.5, 0.8, 1.0, 1.3])), draw(st.sampled_from([0.5, 0.8, 2.0])))
    # tolerances on pixel distances (ties) and between them; 12 reaches the distance-transform path
    tol = draw(st.sampled_from([0.0, 0.5, 0.8, 1.0, 1.3, float(np.sqrt(0.8 ** 2 + 0.5 ** 2)), 2.6, 12.0]))
    return pred, ref, plane, tol


@SETTINGS
@given(apl_cases(), st.sampled_from([0, 1, 2]))
def test_apl_equals_the_brute_force_on_any_slice_axis(case, axis):
    pred, ref, plane, tol = case
    spacing = np.insert(np.asarray(plane), axis, 5.0)  # thick slices: never used
    p, r = np.moveaxis(pred, 0, axis), np.moveaxis(ref, 0, axis)
    want = apl_reference(pred, ref, plane, tol)
    assert fastseg.apl(p, r, spacing=spacing, tolerance=tol, slice_axis=axis) == pytest.approx(want, rel=1e-12)
    # a single slice as a 2D image
    assert fastseg.apl(pred[0], ref[0], spacing=plane, tolerance=tol) == pytest.approx(
        apl_reference(pred[:1], ref[:1], plane, tol), rel=1e-12)
    # monotone in the tolerance; nothing to add against itself; bounded by the whole contour
    assert fastseg.apl(p, r, spacing=spacing, tolerance=tol + 1.0, slice_axis=axis) <= want + 1e-9
    assert fastseg.apl(r, r, spacing=spacing, tolerance=tol, slice_axis=axis) == 0.0
    assert want <= fastseg.apl(np.zeros_like(r), r, spacing=spacing, slice_axis=axis) + 1e-9


def test_apl_on_0_8_x_0_8_x_5_mm_ct():
    """(i, j, k) order, as fastseg.io.load gives: the default slice axis (the last) is the axial one,
    and the pixel size is 0.8 mm. A 10 x 10 pixel square on 3 axial slices, predicted one column off:
    per slice 18 of its 36 contour pixels are off the predicted contour: 3 * 18 * 0.8 mm."""
    ref = np.zeros((20, 20, 5), bool)
    ref[5:15, 5:15, 1:4] = True
    pred = np.roll(ref, 1, axis=1)
    assert fastseg.apl(pred, ref, spacing=(0.8, 0.8, 5.0)) == pytest.approx(3 * 18 * 0.8, rel=1e-12)
    assert fastseg.apl(pred, ref, spacing=(0.8, 0.8, 5.0), tolerance=0.8) == 0.0
    # the same arrays in SimpleITK's (k, j, i) order need slice_axis=0 ...
    t = (2, 1, 0)
    assert fastseg.apl(pred.transpose(t), ref.transpose(t), spacing=(5.0, 0.8, 0.8), slice_axis=0) == \
        pytest.approx(3 * 18 * 0.8, rel=1e-12)


def test_apl_warns_when_the_default_slice_axis_looks_wrong():
    """New: (k, j, i) arrays passed without slice_axis cut 0.8 x 5 mm "pixels" across the
    axial slices and give a silently different number; a warning says so. Square in-plane pixels, or
    an explicit slice_axis, do not warn."""
    ref = np.zeros((5, 20, 20), bool)
    ref[1:4, 5:15, 5:15] = True
    pred = np.roll(ref, 1, axis=2)
    with pytest.warns(UserWarning, match=r"slice_axis=0"):
        wrong = fastseg.apl(pred, ref, spacing=(5.0, 0.8, 0.8))
    assert wrong != pytest.approx(3 * 18 * 0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastseg.apl(pred, ref, spacing=(5.0, 0.8, 0.8), slice_axis=-1)  # explicit: the caller's choice
        fastseg.apl(pred, ref, spacing=(5.0, 0.8, 0.8), slice_axis=0)
        fastseg.apl(pred.T, ref.T, spacing=(0.8, 0.8, 5.0))
        fastseg.apl(pred, ref, spacing=(0.5, 0.98, 0.98))  # thin-slice CT, (i, j, k) order: square pixels
        fastseg.apl(pred[2], ref[2], spacing=(5.0, 0.8))  # 2D: no slice axis to choose


@pytest.mark.parametrize("tolerance, spacing", [(1e300, 1.0), (1e20, 1.0), (1.0, 1e-300), (1.0, 1e-20)])
def test_apl_huge_tolerance_or_tiny_pixels(tolerance, spacing):
    """Before: the offset table's size overflowed int64 and numpy raised 'Maximum allowed
    dimension exceeded'. Every reference contour pixel lies within such a tolerance."""
    ref = np.zeros((10, 10), bool)
    ref[2:6, 2:6] = True
    pred = np.roll(ref, 3, axis=1)
    assert fastseg.apl(pred, ref, spacing=spacing, tolerance=tolerance) == 0.0
    assert fastseg.apl(np.zeros_like(ref), ref, spacing=spacing, tolerance=tolerance) == 12 * spacing


def test_apl_border_touching_structures():
    """The image edge counts as outside: a structure filling the image has its border as contour."""
    ref = np.ones((2, 6, 5), bool)
    assert fastseg.apl(np.zeros_like(ref), ref, slice_axis=0) == 2 * (6 * 5 - 4 * 3)
    pred = ref.copy()
    pred[:, 0, :] = False  # the predicted contour moves one row inward: row 0's 5 pixels are added
    want = apl_reference(pred, ref, (1.0, 1.0), 0.0)
    assert fastseg.apl(pred, ref, slice_axis=0) == want == 2 * 5.0


# ---------------------------------------------------------------- clDice

def _pairs_2d_3d(rng, ndim):
    shape = (7, 8) if ndim == 2 else (4, 6, 7)
    ref = rng.random(shape) < rng.choice([0.0, 0.2, 0.6])
    pred = ref ^ (rng.random(shape) < rng.choice([0.0, 0.15]))
    return pred, ref


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]))
def test_cldice_metricsreloaded_convention_equals_metricsreloaded(seed, ndim):
    pred, ref = _pairs_2d_3d(np.random.default_rng(seed), ndim)
    want = metricsreloaded_cldice(pred, ref)
    got = cldice(pred, ref, convention="metricsreloaded")
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12), (got, want)
    # the default: the same ratios with the topology-preserving skeleton, never NaN, symmetric
    d = cldice(pred, ref)
    assert 0.0 <= d <= 1.0 and d == cldice(ref, pred)
    if ref.any():
        assert cldice(ref, ref) == 1.0


@pytest.mark.parametrize("name", ["both empty", "pred empty", "ref empty", "vanished skeleton",
                                  "disjoint lines", "single voxel", "same line", "line along slices"])
def test_cldice_degenerate_cases_in_both_conventions(name):
    z = np.zeros((6, 7, 7), bool)
    line = z.copy()
    line[2, 3, 1:6] = True
    bar = z.copy()
    bar[1:5, 1:5, 1:6] = True  # scikit-image's 3D skeleton of it is empty (its issue #3757)
    one = z.copy()
    one[2, 3, 3] = True
    pred, ref, fastseg_value, skimage_value, mr_value = {
        "both empty": (z, z, 1.0, 1.0, math.nan),
        "pred empty": (z, line, 0.0, 0.0, math.nan),
        "ref empty": (line, z, 0.0, 0.0, math.nan),
        "vanished skeleton": (bar, bar, 1.0, 0.0, math.nan),
        "disjoint lines": (line, np.roll(line, 2, axis=1), 0.0, 0.0, math.nan),
        "single voxel": (one, one, 1.0, 1.0, 1.0),
        "same line": (line, line, 1.0, 1.0, 1.0),
        "line along slices": (line, np.roll(line, 1, axis=0), 0.0, 0.0, math.nan),
    }[name]
    assert cldice(pred, ref) == fastseg_value
    assert cldice(pred, ref, method="skimage") == skimage_value
    got = cldice(pred, ref, convention="metricsreloaded")
    assert math.isnan(got) if math.isnan(mr_value) else got == mr_value
    want = metricsreloaded_cldice(pred, ref)
    assert math.isnan(want) if math.isnan(mr_value) else want == mr_value
    # 2D: the middle slice, same values (no vanishing in 2D)
    if name not in ("vanished skeleton", "line along slices"):
        assert cldice(pred[2], ref[2]) == fastseg_value


def test_cldice_ignores_spacing_and_one_pixel_lines_are_their_own_skeleton():
    """clDice counts voxels (as the paper and MetricsReloaded): evaluate's spacing changes nothing; a
    1-pixel line (4- or 8-connected) is its own skeleton in 2D, for both methods."""
    rng = np.random.default_rng(5)
    pred, ref = _pairs_2d_3d(rng, 3)
    base = fastseg.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), metrics=["cldice"])["cldice"][1]
    aniso = fastseg.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), metrics=["cldice"],
                             spacing=(5.0, 0.8, 0.8))["cldice"][1]
    assert base == aniso == cldice(pred, ref)
    for line in (np.eye(9, dtype=bool), np.pad(np.ones((1, 7), bool), 1)):
        for method in ("fastseg", "skimage"):
            np.testing.assert_array_equal(skeletonize(line, method=method), line)
            np.testing.assert_array_equal(sk_skeletonize(line), line)
