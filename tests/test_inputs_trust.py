"""Inputs to the Python API (issue 12): what the public functions accept and refuse, and that what they
accept is computed exactly.

- item 14: integer options (``ignore_label``, ``labels``, region members) refuse bools, strings, floats
  with a fraction (``ignore_label``: any float) and values beyond int64; masked arrays are refused by
  every entry point that takes arrays; spacing given as strings is refused;
- item 15: distances are exact at any finite positive spacing (1e-300 as well as 1e100): every
  distance scales with the spacing, with no warning, and nothing changes at ordinary spacings;
- item 16: ``evaluate`` equals the single-metric functions bit for bit whatever the memory order
  (C, Fortran, non-contiguous, mixed).
"""
import contextlib
import hashlib
import math

import numpy as np
import pytest
from scipy import ndimage

import fastseg
from fastseg import _validation as v
from fastseg.evaluate import evaluate

DISTANCE_METRICS = ["hd", "hd95", "assd", "masd", "nsd"]


def label_case(seed, ndim=3):
    """A random anisotropic pair of label maps (labels 0, 1, 2; 2 nested in 1) and a spacing."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(x) for x in rng.integers(6, 20, ndim))
    f = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5)
    g = f + 0.3 * ndimage.gaussian_filter(rng.standard_normal(shape), 1.0)
    ref = (f > 0.05).astype(np.uint8) + (f > 0.25)
    pred = (g > 0.05).astype(np.uint8) + (g > 0.25)
    sp = tuple(float(x) for x in rng.choice([0.33, 0.5, 0.7, 0.8, 1.0, 1.3, 2.5, 3.0], ndim))
    return pred, ref, sp


@contextlib.contextmanager
def fastseg_error(cls, *fragments):
    """pytest.raises(cls) that also checks the error is a fastseg error whose message holds ``fragments``."""
    with pytest.raises(cls) as info:
        yield info
    assert isinstance(info.value, fastseg.FastsegError), f"{type(info.value).__mro__} is not a FastsegError"
    assert all(f in str(info.value) for f in fragments), (fragments, str(info.value))


# ================================================================ item 14: integer options

SMALL_PRED = np.array([[0, 1, 1, 2], [0, 1, 2, 2], [1, 1, 0, 0]], np.uint8)
SMALL_REF = np.array([[0, 1, 1, 2], [1, 1, 2, 0], [1, 1, 0, 0]], np.uint8)


@pytest.mark.parametrize("bad", [1.5, 1.0, "1", True, np.bool_(True), np.float64(1.0), b"1", [1], object()],
                         ids=["1.5", "1.0", "str", "True", "np.True_", "np.float64", "bytes", "list", "object"])
def test_ignore_label_must_be_an_integer(bad):
    with fastseg_error(TypeError, "ignore_label", "integer"):
        evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], ignore_label=bad)


@pytest.mark.parametrize("good", [1, np.int64(1), np.uint8(1), np.int32(1), np.uint64(1)])
def test_ignore_label_accepts_python_and_numpy_integers(good):
    want = evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "accuracy"], ignore_label=1).rows
    assert evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "accuracy"], ignore_label=good).rows == want
    assert evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], ignore_label=1).labels == [2]


def test_ignore_label_negative_or_huge():
    with fastseg_error(ValueError, "ignore_label", "-1"):
        evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], ignore_label=-1)
    # a label beyond every stored value ignores nothing
    want = evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "accuracy"]).rows
    assert evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "accuracy"], ignore_label=2**70).rows == want


@pytest.mark.parametrize("bad", [[2**64 - 1], np.array([2**64 - 1], np.uint64), [2**63], [1e20], [2.0**63],
                                 np.array([2**63], np.uint64)],
                         ids=["2**64-1", "uint64", "2**63", "1e20", "2.0**63", "uint64-2**63"])
def test_labels_beyond_int64_are_refused(bad):
    assert_refused_as_labels(bad, ValueError)


def assert_refused_as_labels(bad, cls):
    """``labels`` of evaluate and of confusion_matrix, and region members, refuse ``bad`` alike."""
    with fastseg_error(cls, "labels"):
        evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], labels=bad)
    with fastseg_error(cls, "labels"):
        fastseg.confusion_matrix(SMALL_PRED, SMALL_REF, labels=bad)
    with fastseg_error(cls, "region 'r'"):
        evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], regions={"r": bad})


def test_largest_int64_label_is_reported_as_absent():
    res = evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], labels=[1, 2**63 - 1])
    assert res.labels == [1, 2**63 - 1]
    assert res.empty_states()[2**63 - 1] == "both_empty"


@pytest.mark.parametrize("bad, cls", [
    ([1, True], TypeError), ([True], TypeError), ([np.bool_(False), 2], TypeError), (np.array([True]), TypeError),
    (True, TypeError), (["1"], TypeError), ("1", TypeError), ([1, "2"], TypeError), ([b"1"], TypeError),
    ([1, None], TypeError), ([1.5], ValueError), ([1, 2.5], ValueError), (np.array([1.0, 2.5]), ValueError),
    ([float("nan")], ValueError), ([float("inf")], ValueError), ([-1], ValueError), ([1, 1 + 0j], TypeError),
], ids=["1,True", "True", "np.False_,2", "bool-array", "scalar-True", "str", "scalar-str", "1,'2'", "bytes",
        "None", "1.5", "2.5", "float-array", "nan", "inf", "-1", "complex"])
def test_labels_and_region_members_follow_the_integer_rules(bad, cls):
    assert_refused_as_labels(bad, cls)


def test_integer_valued_labels_are_accepted_whatever_their_type():
    want = evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "hd"], labels=[1, 2], regions={"r": [1, 2]})
    for labels in ([1.0, 2.0], np.array([1, 2], np.uint64), (np.int8(1), np.uint16(2)), np.array([1.0, 2.0])):
        got = evaluate(SMALL_PRED, SMALL_REF, metrics=["dice", "hd"], labels=labels, regions={"r": labels})
        assert got.rows == want.rows
    assert evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], labels=2).labels == [2]


def test_regions_must_be_a_mapping():
    with fastseg_error(TypeError, "regions", "dict"):
        evaluate(SMALL_PRED, SMALL_REF, metrics=["dice"], regions=[("r", [1, 2])])


# ================================================================ item 14: masked arrays

def _masked(a):
    m = np.ma.masked_array(a, mask=np.zeros(np.shape(a), bool))
    m.mask.flat[0] = True
    return m


MASK2 = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bool)

MASKED_CALLS = {
    "dice": lambda p, r: fastseg.dice(p, r),
    "confusion": lambda p, r: fastseg.confusion(p, r),
    "mcc": lambda p, r: fastseg.mcc(p, r),
    "hd95": lambda p, r: fastseg.hd95(p, r),
    "hausdorff": lambda p, r: fastseg.hausdorff(p, r),
    "assd": lambda p, r: fastseg.assd(p, r),
    "nsd": lambda p, r: fastseg.nsd(p, r, tolerance=1.0),
    "surface_distances": lambda p, r: fastseg.surface_distances(p, r),
    "boundary_iou": lambda p, r: fastseg.boundary_iou(p, r, width=1.0),
    "cldice": lambda p, r: fastseg.cldice(p, r),
    "confusion_matrix": lambda p, r: fastseg.confusion_matrix(p, r),
    "evaluate": lambda p, r: evaluate(p, r, metrics=["dice", "hd"]),
    "soft_dice": lambda p, r: fastseg.soft_dice(p, r),
    "soft_tversky": lambda p, r: fastseg.soft_tversky(p, r),
}


@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("name", list(MASKED_CALLS))
def test_masked_arrays_are_refused(name, which):
    a = MASK2.astype(np.float64) if name.startswith("soft") and which == "pred" else MASK2
    b = MASK2
    args = (_masked(a), b) if which == "pred" else (a, _masked(b))
    with fastseg_error(TypeError, which, "masked", "np.ma.filled("):
        MASKED_CALLS[name](*args)
    MASKED_CALLS[name](np.ma.filled(args[0], 0), np.ma.filled(args[1], 0))  # the advice works


@pytest.mark.parametrize("call", [lambda m: fastseg.edt(m), lambda m: fastseg.skeletonize(m)], ids=["edt", "skeletonize"])
def test_masked_arrays_are_refused_by_single_mask_functions(call):
    with fastseg_error(TypeError, "mask", "masked", "np.ma.filled("):
        call(_masked(MASK2))
    with fastseg_error(TypeError, "mask", "masked"):  # even with nothing masked: a masked array is refused
        call(np.ma.masked_array(MASK2))


# ================================================================ item 14: spacing

@pytest.mark.parametrize("bad", ["2", b"2", ("1", "1", "1"), ["1", 1, 1], (1, "1", 1), np.array(["1", "1", "1"]),
                                 (True, 1, 1), [1, 1, np.bool_(True)]],
                         ids=["str", "bytes", "str-tuple", "str-first", "str-middle", "str-array", "bool-in-tuple",
                              "np.bool-in-list"])
@pytest.mark.parametrize("call", [
    lambda m, sp: fastseg.hd95(m, m, spacing=sp),
    lambda m, sp: fastseg.surface_distances(m, m, spacing=sp),
    lambda m, sp: fastseg.boundary_iou(m, m, width=1.0, spacing=sp),
    lambda m, sp: fastseg.edt(m, spacing=sp),
    lambda m, sp: fastseg.confusion(m, m, spacing=sp),
    lambda m, sp: evaluate(m.astype(np.uint8), m.astype(np.uint8), metrics=["dice", "hd"], spacing=sp),
], ids=["hd95", "surface_distances", "boundary_iou", "edt", "confusion", "evaluate"])
def test_spacing_must_be_numbers(call, bad):
    m = np.zeros((4, 5, 6), bool)
    m[1:3, 1:4, 2:5] = True
    with fastseg_error(TypeError, "spacing"):
        call(m, bad)


def test_numeric_spacing_forms_still_work():
    m = np.zeros((4, 5, 6), bool)
    m[1:3, 1:4, 2:5] = True
    shifted = np.roll(m, 1, axis=2)
    want = fastseg.hausdorff(m, shifted, spacing=(1.0, 1.0, 2.0))
    for sp in ([1, 1, 2], (np.float32(1), np.int64(1), 2.0), np.array([1, 1, 2]), np.array([1.0, 1.0, 2.0])):
        assert fastseg.hausdorff(m, shifted, spacing=sp) == want
    assert fastseg.hausdorff(m, shifted, spacing=2) == fastseg.hausdorff(m, shifted, spacing=np.float64(2.0)) == 2.0


# ================================================================ item 15: any finite positive spacing

#: factors of the spacing (and of tolerances / widths); powers of two must give exactly scaled values
FACTORS = [1e-100, 1e100, 1e-300, 1e300, 2.0 ** -300, 2.0 ** 300, 2.0 ** -1000, 2.0 ** 1000]
CONVS = ["fastseg", "monai"]


def _distance_values(p, r, sp, conv, f):
    """Every distance value at spacing ``sp * f`` (tolerance and width scaled along), divided by ``f``
    where it is a distance."""
    s = tuple(x * f for x in sp)
    sd = fastseg.surface_distances(p, r, spacing=s, convention=conv)
    out = {
        "hd": fastseg.hausdorff(p, r, spacing=s, convention=conv),
        "hd95": fastseg.hd95(p, r, spacing=s, convention=conv),
        "assd": fastseg.assd(p, r, spacing=s, convention=conv),
        "masd": fastseg.masd(p, r, spacing=s, convention=conv),
        "means": fastseg.directed_means(sd),
        "nsd": fastseg.nsd(p, r, spacing=s, tolerance=[1.0 * f, 2.5 * f], convention=conv),
        "sd_hd95": fastseg.hd95(sd),
        "sets": (sd.pred_to_ref, sd.ref_to_pred),
        "boundary_iou": fastseg.boundary_iou(p, r, spacing=s, width=2.0 * f),
        "edt": fastseg.edt(r, spacing=s),
    }
    res = evaluate(p.view(np.uint8), r.view(np.uint8), spacing=s, convention=conv, tolerance=[1.0 * f, 2.5 * f],
                   metrics=["dice", "hd", "hd95", "assd", "masd", "nsd", "boundary_iou"], boundary_width=2.0 * f)
    out["evaluate"] = [row["value"] for row in res.rows]
    return out


def _is_distance(key, i=None):
    if key == "evaluate":
        return i in (1, 2, 3, 4)  # hd, hd95, assd, masd (dice, nsd@1, nsd@2.5, boundary_iou are ratios)
    return key not in ("nsd", "boundary_iou")


def _scaled(x, f):
    if isinstance(x, tuple):
        return tuple(_scaled(y, f) for y in x)
    return x * f


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("f", FACTORS, ids=[repr(f) for f in FACTORS])
@pytest.mark.parametrize("seed, ndim", [(4, 3), (11, 3), (38, 3), (2, 2), (7, 2)])
def test_distances_scale_with_the_spacing_exactly(seed, ndim, f, conv):
    pred, ref, sp = label_case(seed, ndim)
    p, r = pred == 1, ref == 1
    base = _distance_values(p, r, sp, conv, 1.0)
    got = _distance_values(p, r, sp, conv, f)   # warnings are errors in the test suite
    exact = math.frexp(f)[0] == 0.5
    for key, want in base.items():
        g = got[key]
        if key == "evaluate":
            want = [w * f if _is_distance(key, i) else w for i, w in enumerate(want)]
        elif _is_distance(key):
            want = _scaled(want, f)
        pairs = zip(g, want) if key == "sets" else [(g, want)]
        for a, b in pairs:
            a, b = np.asarray(a, float), np.asarray(b, float)
            if exact:
                np.testing.assert_array_equal(a, b, err_msg=key)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=key)


def test_surfel_weights_keep_their_ratios():
    """Weights are physical areas at ordinary spacings; elsewhere areas at the spacing scaled by a power of
    two (physical ones times distances could leave float64's range): the same ratios, exactly."""
    for ndim, seed in ((3, 4), (2, 2)):
        pred, ref, sp = label_case(seed, ndim)
        p, r = pred == 1, ref == 1
        base = fastseg.surface_distances(p, r, spacing=sp)
        for f in (2.0 ** -100, 2.0 ** 100, 2.0 ** -1000, 1e-300, 1e300):
            sd = fastseg.surface_distances(p, r, spacing=tuple(x * f for x in sp))
            for got, want in ((sd.pred_weights, base.pred_weights), (sd.ref_weights, base.ref_weights)):
                ratio = got / want
                if math.frexp(f)[0] == 0.5:
                    assert np.all(ratio == ratio[0]) and math.frexp(ratio[0])[0] == 0.5, f
                else:
                    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-14)


def test_empty_and_one_voxel_cases_at_extreme_spacing():
    a = np.zeros((3, 4, 5), bool)
    b = a.copy()
    b[1, 2, 3] = True
    for s in (1e-300, 1e300, 5e-324, 1.7e308):
        assert fastseg.hd95(b, b, spacing=s) == 0.0
        assert fastseg.hausdorff(a, b, spacing=s) == math.inf
        assert fastseg.nsd(a, a, spacing=s, tolerance=0.0) == 1.0
        assert fastseg.assd(a, a, spacing=s) == 0.0
    c = np.zeros((3, 4, 5), bool)
    c[1, 2, 1] = True
    assert fastseg.hausdorff(b, c, spacing=1e-300) == 2e-300
    assert fastseg.hausdorff(b, c, spacing=1e300) == 2e300
    assert fastseg.hausdorff(b, c, spacing=(1.0, 1.0, 1e70)) == 2e70
    assert fastseg.hausdorff(b, c, spacing=(1e-70, 1e-70, 1.0)) == 2.0
    assert fastseg.hausdorff(b, c, spacing=1.7e308) == math.inf  # 3.4e308 is beyond float64
    assert fastseg.edt(~b, spacing=1e-300)[1, 2, 0] == 3e-300
    assert fastseg.edt(~b, spacing=(2e-300, 3e-300, 1e-300))[1, 2, 0] == 3e-300


@pytest.mark.parametrize("call", [
    lambda m, sp: fastseg.hd95(m, m, spacing=sp),
    lambda m, sp: fastseg.boundary_iou(m, m, width=1.0, spacing=sp),
    lambda m, sp: fastseg.edt(m, spacing=sp),
    lambda m, sp: evaluate(m.view(np.uint8), m.view(np.uint8), metrics=["hd"], spacing=sp),
], ids=["hd95", "boundary_iou", "edt", "evaluate"])
def test_axes_differing_beyond_float64_are_refused_for_distances(call):
    """Voxel sizes 1e300 apart cannot both be squared in float64: a clear error, not NaN or 0."""
    m = np.zeros((3, 4, 5), bool)
    m[1, 1:3, 1:4] = True
    for sp in ((1.0, 1.0, 1e300), (1e-200, 1e-200, 1e100), (1.0, 2.0 ** -251, 1.0)):
        with fastseg_error(ValueError, "spacing", "2**250"):
            call(m, sp)
    call(m, (1.0, 2.0 ** -250, 1.0))
    # overlap metrics and clDice do not square distances: any spacing
    assert evaluate(m.view(np.uint8), m.view(np.uint8), metrics=["dice", "cldice"], spacing=(1.0, 1.0, 1e300)).rows
    assert fastseg.confusion(m, m, spacing=(1.0, 1.0, 1e300)).pred_volume == 6e300


# values at ordinary spacing before the change (float.hex): nothing may move by a bit
PINNED = {'11/3/deepmind': ['0x1.1b0d01c379596p+1', '0x1.999999999999ap-1', '0x1.d9dad6b0c9b45p-4', '0x1.d9dad6b0c9b45p-4',
                   '0x1.f5dbce9d9a682p-1', '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', '0x1.1b0d01c379596p+1',
                   '0x1.999999999999ap-1', '0x1.d9dad6b0c9b45p-4', '0x1.d9dad6b0c9b45p-4', '0x1.f5dbce9d9a682p-1',
                   '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', 'ea5521822f2fdf6a78acf48efb90d2ddac740a6b'],
 '11/3/fastseg': ['0x1.1b0d01c379596p+1', '0x1.999999999999ap-1', '0x1.d9f8b6b74aa17p-4', '0x1.d9dad6b0c9b45p-4',
                  '0x1.f5dbce9d9a682p-1', '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', '0x1.1b0d01c379596p+1',
                  '0x1.999999999999ap-1', '0x1.d9f8b6b74aa17p-4', '0x1.d9dad6b0c9b45p-4', '0x1.f5dbce9d9a682p-1',
                  '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', 'ea5521822f2fdf6a78acf48efb90d2ddac740a6b'],
 '11/3/monai': ['0x1.1b0d01c379596p+1', '0x1.21a1851ff630bp+0', '0x1.02df0f16e7067p-2', '0x1.02dbc6d287ef2p-2',
                '0x1.e345422e2c1edp-1', '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', '0x1.1b0d01c379596p+1',
                '0x1.21a1851ff630bp+0', '0x1.02df0f16e7067p-2', '0x1.02dbc6d287ef2p-2', '0x1.e345422e2c1edp-1',
                '0x1.0000000000000p+0', '0x1.544fb66b4e2e0p-1', 'ea5521822f2fdf6a78acf48efb90d2ddac740a6b'],
 '2/2/deepmind': ['0x1.7414eb0abf141p+1', '0x1.4cccccccccccdp+1', '0x1.78bd45c5085bap-1', '0x1.78bd45c5085bap-1',
                  '0x1.146c04abdb133p-1', '0x1.e020d713aec40p-1', '0x1.7303b5cc0ed73p-2', '0x1.7414eb0abf141p+1',
                  '0x1.4cccccccccccdp+1', '0x1.78bd45c5085bap-1', '0x1.78bd45c5085bap-1', '0x1.146c04abdb133p-1',
                  '0x1.e020d713aec40p-1', '0x1.7303b5cc0ed73p-2', '96904bade69db3bd78adc24bbcb76f31e2f55265'],
 '2/2/fastseg': ['0x1.7414eb0abf141p+1', '0x1.4cccccccccccdp+1', '0x1.78ac9b2d4a5e0p-1', '0x1.78bd45c5085bap-1',
                 '0x1.146c04abdb133p-1', '0x1.e020d713aec40p-1', '0x1.7303b5cc0ed73p-2', '0x1.7414eb0abf141p+1',
                 '0x1.4cccccccccccdp+1', '0x1.78ac9b2d4a5e0p-1', '0x1.78bd45c5085bap-1', '0x1.146c04abdb133p-1',
                 '0x1.e020d713aec40p-1', '0x1.7303b5cc0ed73p-2', '96904bade69db3bd78adc24bbcb76f31e2f55265'],
 '2/2/monai': ['0x1.7414eb0abf141p+1', '0x1.70274e6af3a68p+1', '0x1.e3d70dbafc84ep-1', '0x1.e09462fb1859ap-1',
               '0x1.a895da895da89p-2', '0x1.ce0c7ce0c7ce1p-1', '0x1.7303b5cc0ed73p-2', '0x1.7414eb0abf141p+1',
               '0x1.70274e6af3a68p+1', '0x1.e3d70dbafc84ep-1', '0x1.e09462fb1859ap-1', '0x1.a895da895da89p-2',
               '0x1.ce0c7ce0c7ce1p-1', '0x1.7303b5cc0ed73p-2', '96904bade69db3bd78adc24bbcb76f31e2f55265'],
 '38/3/deepmind': ['0x1.fae147ae147aep+0', '0x1.32baf57057491p-1', '0x1.bc1970796459bp-4', '0x1.bc1970796459bp-4',
                   '0x1.f92a04c5a3472p-1', '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', '0x1.fae147ae147aep+0',
                   '0x1.32baf57057491p-1', '0x1.bc1970796459bp-4', '0x1.bc1970796459bp-4', '0x1.f92a04c5a3472p-1',
                   '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', 'b6c87f611c4d61b235f65b68a2aa8273973a52fd'],
 '38/3/fastseg': ['0x1.fae147ae147aep+0', '0x1.32baf57057491p-1', '0x1.bd0620394591cp-4', '0x1.bc1970796459bp-4',
                  '0x1.f92a04c5a3472p-1', '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', '0x1.fae147ae147aep+0',
                  '0x1.32baf57057491p-1', '0x1.bd0620394591cp-4', '0x1.bc1970796459bp-4', '0x1.f92a04c5a3472p-1',
                  '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', 'b6c87f611c4d61b235f65b68a2aa8273973a52fd'],
 '38/3/monai': ['0x1.fae147ae147aep+0', '0x1.2be3d6e92f835p+0', '0x1.a0784fc2c62dfp-3', '0x1.9cff1e54ed5a9p-3',
                '0x1.f13280dee95c5p-1', '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', '0x1.fae147ae147aep+0',
                '0x1.2be3d6e92f835p+0', '0x1.a0784fc2c62dfp-3', '0x1.9cff1e54ed5a9p-3', '0x1.f13280dee95c5p-1',
                '0x1.0000000000000p+0', '0x1.fecb986531fedp-2', 'b6c87f611c4d61b235f65b68a2aa8273973a52fd'],
 '4/3/deepmind': ['0x1.c000000000000p+1', '0x1.387ce204a35d2p+0', '0x1.b6d36a9040c68p-3', '0x1.b6d36a9040c68p-3',
                  '0x1.ef5c703da4931p-1', '0x1.febd50a47612ep-1', '0x1.1e03ea3ff2147p-1', '0x1.c000000000000p+1',
                  '0x1.387ce204a35d2p+0', '0x1.b6d36a9040c68p-3', '0x1.b6d36a9040c68p-3', '0x1.ef5c703da4931p-1',
                  '0x1.febd50a47612ep-1', '0x1.1e03ea3ff2147p-1', '0a2c0d8f339a7e98d438327f902feb914dff84e4'],
 '4/3/fastseg': ['0x1.c000000000000p+1', '0x1.387ce204a35d2p+0', '0x1.c3c21eabdd46fp-3', '0x1.b6d36a9040c68p-3',
                 '0x1.ef5c703da4931p-1', '0x1.febd50a47612ep-1', '0x1.1e03ea3ff2147p-1', '0x1.c000000000000p+1',
                 '0x1.387ce204a35d2p+0', '0x1.c3c21eabdd46fp-3', '0x1.b6d36a9040c68p-3', '0x1.ef5c703da4931p-1',
                 '0x1.febd50a47612ep-1', '0x1.1e03ea3ff2147p-1', '0a2c0d8f339a7e98d438327f902feb914dff84e4'],
 '4/3/monai': ['0x1.c000000000000p+1', '0x1.6694f999ad775p+0', '0x1.a26678cabc1c5p-2', '0x1.99edbc2b86984p-2',
               '0x1.d9081e4f04df0p-1', '0x1.fda79987204b1p-1', '0x1.1e03ea3ff2147p-1', '0x1.c000000000000p+1',
               '0x1.6694f999ad775p+0', '0x1.a26678cabc1c5p-2', '0x1.99edbc2b86984p-2', '0x1.d9081e4f04df0p-1',
               '0x1.fda79987204b1p-1', '0x1.1e03ea3ff2147p-1', '0a2c0d8f339a7e98d438327f902feb914dff84e4'],
 '7/2/deepmind': ['0x1.2b854b87e857dp+3', '0x1.1000000000000p+3', '0x1.a452531369746p-1', '0x1.a452531369746p-1',
                  '0x1.b77c5e23a6979p-1', '0x1.e4a1dbd0660e3p-1', '0x1.7d05f417d05f4p-2', '0x1.2b854b87e857dp+3',
                  '0x1.1000000000000p+3', '0x1.a452531369746p-1', '0x1.a452531369746p-1', '0x1.b77c5e23a6979p-1',
                  '0x1.e4a1dbd0660e3p-1', '0x1.7d05f417d05f4p-2', 'b22b0553cb36e329d42b57201bc7a6f23541ba96'],
 '7/2/fastseg': ['0x1.2b854b87e857dp+3', '0x1.1000000000000p+3', '0x1.a91b82830a674p-1', '0x1.a452531369746p-1',
                 '0x1.b77c5e23a6979p-1', '0x1.e4a1dbd0660e3p-1', '0x1.7d05f417d05f4p-2', '0x1.2b854b87e857dp+3',
                 '0x1.1000000000000p+3', '0x1.a91b82830a674p-1', '0x1.a452531369746p-1', '0x1.b77c5e23a6979p-1',
                 '0x1.e4a1dbd0660e3p-1', '0x1.7d05f417d05f4p-2', 'b22b0553cb36e329d42b57201bc7a6f23541ba96'],
 '7/2/monai': ['0x1.2b854b87e857dp+3', '0x1.d36a69bc42d7ep+2', '0x1.cc6fc6f620a17p-1', '0x1.c60cf47a72156p-1',
               '0x1.999999999999ap-1', '0x1.eb851eb851eb8p-1', '0x1.7d05f417d05f4p-2', '0x1.2b854b87e857dp+3',
               '0x1.d36a69bc42d7ep+2', '0x1.cc6fc6f620a17p-1', '0x1.c60cf47a72156p-1', '0x1.999999999999ap-1',
               '0x1.eb851eb851eb8p-1', '0x1.7d05f417d05f4p-2', 'b22b0553cb36e329d42b57201bc7a6f23541ba96']}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_ordinary_spacings_are_bit_identical_to_before(key):
    seed, ndim, conv = key.split("/")
    pred, ref, sp = label_case(int(seed), int(ndim))
    assert _pin_values(pred == 1, ref == 1, sp, conv) == PINNED[key]


def _pin_values(p, r, sp, conv):
    out = [fastseg.hausdorff(p, r, spacing=sp, convention=conv), fastseg.hd95(p, r, spacing=sp, convention=conv),
           fastseg.assd(p, r, spacing=sp, convention=conv), fastseg.masd(p, r, spacing=sp, convention=conv),
           *fastseg.nsd(p, r, spacing=sp, tolerance=[1.0, 2.5], convention=conv),
           fastseg.boundary_iou(p, r, width=2.0, spacing=sp)]
    res = evaluate(p.view(np.uint8), r.view(np.uint8), spacing=sp, convention=conv, tolerance=[1.0, 2.5],
                   metrics=["hd", "hd95", "assd", "masd", "nsd", "boundary_iou"], boundary_width=2.0)
    out += [row["value"] for row in res.rows]
    e = fastseg.edt(r, spacing=sp)
    return [float(x).hex() for x in out] + [hashlib.sha1(e.tobytes()).hexdigest()]


# ================================================================ item 16: memory order

def _singles(p, r, sp):
    return {"hd": fastseg.hausdorff(p, r, spacing=sp), "hd95": fastseg.hd95(p, r, spacing=sp),
            "assd": fastseg.assd(p, r, spacing=sp), "masd": fastseg.masd(p, r, spacing=sp),
            "nsd@1": fastseg.nsd(p, r, spacing=sp, tolerance=1.0),
            "boundary_iou": fastseg.boundary_iou(p, r, width=max(1.5, float(np.min(sp))), spacing=sp)}


def _evaluate(pred, ref, sp, **kw):
    return evaluate(pred, ref, spacing=sp, metrics=DISTANCE_METRICS + ["boundary_iou"], tolerance=1.0,
                    boundary_width=max(1.5, float(np.min(sp))), **kw)


def _layouts(pred, ref):
    """The same maps in several memory layouts: (name, pred, ref)."""
    big_p = np.zeros((2 * pred.shape[0],) + pred.shape[1:], pred.dtype, order="F")
    big_r = np.zeros_like(big_p, order="F")
    big_p[::2], big_r[::2] = pred, ref
    big_c = np.zeros(pred.shape[:-1] + (2 * pred.shape[-1],), pred.dtype)
    big_d = big_c.copy()
    big_c[..., ::2], big_d[..., ::2] = pred, ref
    return [("C", pred, ref), ("F", np.asfortranarray(pred), np.asfortranarray(ref)),
            ("F-strided", big_p[::2], big_r[::2]), ("C-strided", big_c[..., ::2], big_d[..., ::2]),
            ("mixed", np.asfortranarray(pred), ref), ("F-int32", np.asfortranarray(pred.astype(np.int32)),
                                                       np.asfortranarray(ref.astype(np.int32)))]


@pytest.mark.parametrize("seeds", [range(0, 20), range(20, 40), range(40, 60)], ids=["0-19", "20-39", "40-59"])
def test_evaluate_equals_the_single_metric_functions_in_every_memory_order(seeds):
    for seed in seeds:
        pred, ref, sp = label_case(seed)
        for name, pm, rm in _layouts(pred, ref):
            res = _evaluate(pm, rm, sp)
            for lab in res.labels:
                want = _singles(pm == lab, rm == lab, sp)
                for metric, value in want.items():
                    assert res[metric][lab] == value, (seed, name, lab, metric, res[metric][lab], value)


def test_evaluate_with_an_ignore_label_in_fortran_order():
    for seed in range(10):
        pred, ref, sp = label_case(seed)
        ref = ref.copy()
        ref[:, :2] = 7
        pf, rf = np.asfortranarray(pred), np.asfortranarray(ref)
        res = _evaluate(pf, rf, sp, ignore_label=7)
        keep = rf != 7
        for lab in res.labels:
            want = _singles((pf == lab) & keep, (rf == lab) & keep, sp)
            for metric, value in want.items():
                assert res[metric][lab] == value, (seed, lab, metric)


def test_memory_order_of_the_masks_alone():
    """The single-metric functions on Fortran-ordered masks take the same decision as evaluate; against
    C order they agree to 1e-12 (the squared distance sums the axes in another order)."""
    for seed in range(20):
        pred, ref, sp = label_case(seed)
        for lab in (1, 2):
            c = _singles(pred == lab, ref == lab, sp)
            f = _singles(np.asfortranarray(pred == lab), np.asfortranarray(ref == lab), sp)
            for metric in c:
                assert f[metric] == pytest.approx(c[metric], rel=1e-12, abs=0)


def test_c_layout_decides_on_the_layout_numpy_gives_a_comparison():
    """Non-contiguous arrays are made contiguous in their own order first, as ``a == label`` would be."""
    base = np.asfortranarray(np.arange(6 * 7 * 8, dtype=np.uint8).reshape(6, 7, 8))
    sp = np.array([1.0, 2.0, 3.0])
    for view in (base[::2], base[:, ::-1], base[1:-1, ::3], base[:1], base[:, :1], np.transpose(base, (1, 0, 2))):
        (a,), s, transposed = v.c_layout([view], sp)
        (b,), s2, transposed2 = v.c_layout([view == 3], sp)
        assert transposed == transposed2
        assert a.flags.c_contiguous and b.flags.c_contiguous and s.tolist() == s2.tolist()
        np.testing.assert_array_equal(a == 3, b)
