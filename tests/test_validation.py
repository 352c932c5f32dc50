"""Bad input (DESIGN section 2): every case raises the right class, a fastseg exception, with a message
that names the argument and what was received. Plus the normalisation helpers of fastseg._validation.
"""
import math
import re

import numpy as np
import pytest

import fastseg
from fastseg import _validation as v


BINARY_FUNCS = [
    fastseg.confusion, fastseg.dice, fastseg.jaccard, fastseg.iou, fastseg.precision, fastseg.recall,
    fastseg.sensitivity, fastseg.specificity, fastseg.accuracy, fastseg.balanced_accuracy, fastseg.fbeta,
    fastseg.mcc, fastseg.volume_similarity, fastseg.tversky,
]
SOFT_FUNCS = [fastseg.soft_dice, fastseg.soft_jaccard, fastseg.soft_tversky]
ALL_FUNCS = BINARY_FUNCS + SOFT_FUNCS + [fastseg.confusion_matrix]


#: many tiny calls: one thread
pytestmark = pytest.mark.usefixtures("one_numba_thread")


def fid(f):
    return f.__name__


def raises(cls, *fragments):
    """pytest.raises for ``cls`` that also checks the error is a fastseg error and the message holds every
    fragment (plain substrings)."""
    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(cls)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            out = self.ctx.__exit__(*exc)
            err = self.info.value
            assert isinstance(err, fastseg.FastsegError), f"{type(err).__mro__} is not a FastsegError"
            msg = str(err)
            for f in fragments:
                assert f in msg, f"{f!r} not in message {msg!r}"
            return out

    return _Ctx()


# ------------------------------------------------------------------ exception classes

def test_exception_hierarchy():
    assert fastseg.FastsegError is v.FastsegError
    assert issubclass(fastseg.FastsegError, Exception)
    assert issubclass(v.InputTypeError, TypeError) and issubclass(v.InputTypeError, fastseg.FastsegError)
    assert issubclass(v.InputValueError, ValueError) and issubclass(v.InputValueError, fastseg.FastsegError)


# ------------------------------------------------------------------ wrong kind of object / dtype

BAD_TYPES = {
    "None": None,
    "strings": np.array(["a", "b", "c"]),
    "str": "abc",
    "complex": np.array([1 + 0j, 0j, 1 + 0j]),
    "object": np.array([1, None, 0], dtype=object),
    "object-ints": np.array([1, 0, 1], dtype=object),
    "datetime": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    "dict": {"a": 1},
    "ragged": [[1, 0], [1]],
}


@pytest.mark.parametrize("bad", list(BAD_TYPES))
@pytest.mark.parametrize("func", ALL_FUNCS, ids=fid)
@pytest.mark.parametrize("which", ["pred", "ref"])
def test_wrong_kind_is_type_error(func, bad, which):
    good = np.array([1, 0, 1])
    args = (BAD_TYPES[bad], good) if which == "pred" else (good, BAD_TYPES[bad])
    with raises(TypeError, which) as exc:
        func(*args)
    assert not isinstance(exc.value, ValueError)


def test_type_error_names_the_dtype():
    with raises(TypeError, "pred", "complex128"):
        fastseg.dice(np.array([1 + 0j]), np.array([1]))
    with raises(TypeError, "ref", "<U1"):
        fastseg.dice(np.array([1]), np.array(["a"]))
    with raises(TypeError, "ref", "object"):
        fastseg.confusion_matrix(np.array([1]), np.array([None]))
    with raises(TypeError, "pred", "NoneType"):
        fastseg.soft_dice(None, np.array([1]))


# ------------------------------------------------------------------ shapes

@pytest.mark.parametrize("func", ALL_FUNCS, ids=fid)
@pytest.mark.parametrize("shapes", [((3, 4), (4, 3)), ((5,), (6,)), ((2, 3, 4), (2, 3)), ((1, 4), (4,))],
                         ids=str)
def test_shape_mismatch(func, shapes):
    sp, sr = shapes
    pred = np.zeros(sp, np.float64 if func in SOFT_FUNCS else np.uint8)
    ref = np.zeros(sr, np.uint8)
    with raises(ValueError, str(sp), str(sr), "shape"):
        func(pred, ref)


# ------------------------------------------------------------------ non-binary masks

@pytest.mark.parametrize("func", BINARY_FUNCS, ids=fid)
@pytest.mark.parametrize("which", ["pred", "ref"])
def test_value_2_in_uint8_mask(func, which):
    bad = np.zeros((4, 5, 7), np.uint8)
    bad.flat[[0, 17, 139]] = 2  # head, middle, tail (140 voxels = 17 words + 4)
    good = np.zeros((4, 5, 7), np.uint8)
    args = (bad, good) if which == "pred" else (good, bad)
    with raises(ValueError, which, "3 of 140", "labels") as exc:
        func(*args)
    assert not isinstance(exc.value, TypeError)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("which", ["pred", "ref"])
def test_negative_or_fractional_values_in_mask(dtype, which):
    bad = np.zeros(11, dtype)
    bad[3] = -1
    if np.dtype(dtype).kind == "f":
        bad[5] = 0.5
    n = np.count_nonzero(bad)
    good = np.ones(11, np.uint8)
    args = (bad, good) if which == "pred" else (good, bad)
    with raises(ValueError, which, f"{n} of 11", "labels"):
        fastseg.dice(*args)
    with raises(ValueError, which, f"{n} of 11"):
        fastseg.confusion(*args)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("func", BINARY_FUNCS, ids=fid)
def test_nan_in_float_mask(func, dtype, which):
    bad = np.zeros((3, 4), dtype)
    bad[1, 2] = np.nan
    bad[2, 3] = np.nan
    good = np.zeros((3, 4), bool)
    args = (bad, good) if which == "pred" else (good, bad)
    with raises(ValueError, which, "NaN", "2 of 12"):
        func(*args)


def test_inf_in_float_mask():
    with raises(ValueError, "pred", "1 of 3"):
        fastseg.dice(np.array([np.inf, 0.0, 1.0]), np.array([1, 0, 1]))


def test_value_2_in_binary_int_mask_other_dtypes():
    with raises(ValueError, "ref", "1 of 4", "labels"):
        fastseg.dice(np.array([0, 1, 1, 0], np.int64), np.array([0, 1, 2, 0], np.int64))
    with raises(ValueError, "pred", "2 of 4"):
        fastseg.jaccard(np.array([0, 3, 2, 0], ">i4"), np.array([0, 1, 1, 0]))


# ------------------------------------------------------------------ soft metrics

@pytest.mark.parametrize("func", SOFT_FUNCS, ids=fid)
@pytest.mark.parametrize("bad, dtype", [
    (bad, dtype)
    for bad in (-0.1, 1.1, np.nan, np.inf, -np.inf, -1e-300, 1 + 1e-15)
    for dtype in (np.float32, np.float64)
    if not (dtype == np.float32 and abs(bad) in (1e-300, 1 + 1e-15))  # would round into [0, 1]
], ids=str)
def test_probabilities_out_of_range(func, bad, dtype):
    prob = np.full(9, 0.5, dtype)
    prob[8] = bad
    ref = np.ones(9, bool)
    with raises(ValueError, "pred", "[0, 1]", "NaN", "1 of 9"):
        func(prob, ref)


@pytest.mark.parametrize("func", SOFT_FUNCS, ids=fid)
def test_soft_reference_must_be_binary(func):
    prob = np.full(5, 0.5)
    with raises(ValueError, "ref", "1 of 5"):
        func(prob, np.array([0, 1, 2, 0, 1], np.uint8))
    with raises(ValueError, "ref", "NaN"):
        func(prob, np.array([0, 1, np.nan, 0, 1]))
    with raises(ValueError, "ref", "1 of 5"):
        func(prob, np.array([0, 1, -1, 0, 1], np.int8))
    with raises(ValueError, "pred", "1 of 5"):
        func(np.array([0, 1, 2, 0, 1], np.int64), np.ones(5, bool))


# ------------------------------------------------------------------ label maps

@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.float64, ">i4"])
def test_negative_labels(which, dtype):
    bad = np.array([0, 1, -3, 2], dtype)
    good = np.array([0, 1, 1, 2], np.uint8)
    args = (bad, good) if which == "pred" else (good, bad)
    with raises(ValueError, which, "negative", "-3"):
        fastseg.confusion_matrix(*args)


@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_labels(which, bad, dtype):
    labels = np.array([0, 1, bad, 2], dtype)
    good = np.array([0, 1, 1, 2], np.uint8)
    args = (labels, good) if which == "pred" else (good, labels)
    with raises(ValueError, which, "NaN"):
        fastseg.confusion_matrix(*args)


@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("bad", [0.5, 2.25, 1e6 + 0.5])
def test_non_integer_float_labels(which, bad):
    labels = np.array([0, 1, bad, 2])
    good = np.array([0, 1, 1, 2], np.uint8)
    args = (labels, good) if which == "pred" else (good, labels)
    with raises(ValueError, which, "non-integer"):
        fastseg.confusion_matrix(*args)


def test_labels_argument_negative():
    pred = np.array([0, 1, 2])
    with raises(ValueError, "labels", "-1"):
        fastseg.confusion_matrix(pred, pred, labels=[1, -1])


LABELS_ARG_BUG = ("BUG: confusion_matrix(labels=...) converts with np.asarray(labels, dtype=np.int64): "
                  "non-integer floats are silently truncated (1.5 -> 1) and NaN / strings / None raise "
                  "numpy's own ValueError/TypeError (not FastsegError, message does not name `labels`)")


@pytest.mark.parametrize("bad, cls", [([1.5], ValueError), ([np.nan], ValueError), (["a"], TypeError),
                                      ([None], TypeError)], ids=["1.5", "nan", "str", "None"])
def test_labels_argument_bad_values(bad, cls):
    pred = np.array([0, 1, 2])
    with raises(cls, "labels"):
        fastseg.confusion_matrix(pred, pred, labels=bad)


# ------------------------------------------------------------------ scalar options

@pytest.mark.parametrize("bad, cls", [(-0.5, ValueError), (-1, ValueError), (math.nan, ValueError),
                                      (math.inf, ValueError), (np.float32("nan"), ValueError),
                                      ("1.0", TypeError), (None, TypeError), ([0.5], TypeError),
                                      (1 + 0j, TypeError)],
                         ids=["-0.5", "-1", "nan", "inf", "np-nan", "str", "None", "list", "complex"])
@pytest.mark.parametrize("call", [
    ("fbeta", "beta", lambda p, r, x: fastseg.fbeta(p, r, beta=x)),
    ("tversky", "alpha", lambda p, r, x: fastseg.tversky(p, r, alpha=x)),
    ("tversky", "beta", lambda p, r, x: fastseg.tversky(p, r, beta=x)),
    ("soft_tversky", "alpha", lambda p, r, x: fastseg.soft_tversky(p.astype(float), r, alpha=x)),
    ("soft_tversky", "beta", lambda p, r, x: fastseg.soft_tversky(p.astype(float), r, beta=x)),
], ids=lambda c: f"{c[0]}-{c[1]}")
def test_bad_weights(call, bad, cls):
    _, name, fn = call
    p = np.array([1, 0, 1, 1], bool)
    r = np.array([1, 1, 0, 1], bool)
    with raises(cls, name, repr(bad) if cls is ValueError else name) as exc:
        fn(p, r, bad)
    other = TypeError if cls is ValueError else ValueError
    assert not isinstance(exc.value, other)


def test_good_weights_are_accepted():
    p = np.array([1, 0, 1, 1], bool)
    r = np.array([1, 1, 0, 1], bool)
    assert fastseg.fbeta(p, r, beta=np.float32(2.0)) == fastseg.fbeta(p, r, beta=2)
    assert fastseg.tversky(p, r, alpha=np.int64(1), beta=0) == fastseg.precision(p, r)


@pytest.mark.parametrize("func", [fastseg.confusion, fastseg.dice, fastseg.fbeta, fastseg.soft_dice,
                                  fastseg.confusion_matrix], ids=fid)
@pytest.mark.parametrize("bad, cls", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError),
                                      (2.0, TypeError), ([2], TypeError)],
                         ids=["0", "-1", "1.5", "str", "2.0", "list"])
def test_bad_threads(func, bad, cls):
    p = np.array([1, 0, 1, 1], np.uint8)
    with raises(cls, "threads", repr(bad)):
        func(p, p, threads=bad)


@pytest.mark.parametrize("threads", [1, 2, np.int64(2), 64])
def test_good_threads(threads):
    p = np.array([1, 0, 1, 1], np.uint8)
    assert fastseg.dice(p, p, threads=threads) == 1.0


# ------------------------------------------------------------------ spacing

SHAPE3 = (3, 4, 5)


@pytest.mark.parametrize("bad, fragments", [
    ((0.8, 0.8), ["(3)", "(0.8, 0.8)"]),
    ((0.8, 0.8, 2.5, 1.0), ["(3)", "(0.8, 0.8, 2.5, 1.0)"]),
    ((), ["(3)"]),
    ([[1, 1, 1]], ["(3)"]),
    ((0.8, 0.0, 2.5), ["positive", "0.0"]),
    ((0.8, -1.0, 2.5), ["positive", "-1.0"]),
    ((0.8, math.nan, 2.5), ["finite", "nan"]),
    ((0.8, math.inf, 2.5), ["finite", "inf"]),
    (0.0, ["positive", "0.0"]),
    (-2.0, ["positive", "-2.0"]),
    (math.nan, ["nan"]),
    (np.array([1.0, 1.0]), ["(3)"]),
], ids=str)
def test_bad_spacing_values(bad, fragments):
    p = np.zeros(SHAPE3, bool)
    with raises(ValueError, "spacing", *fragments):
        fastseg.confusion(p, p, spacing=bad)


@pytest.mark.parametrize("bad", ["abc", ("a", 1, 1), {"x": 1}], ids=str)
def test_bad_spacing_types(bad):
    p = np.zeros(SHAPE3, bool)
    with raises(TypeError, "spacing"):
        fastseg.confusion(p, p, spacing=bad)


def test_good_spacing_forms():
    p = np.ones(SHAPE3, bool)
    for sp, vol in [(None, 1.0), (2.0, 8.0), (2, 8.0), (np.float32(0.5), 0.125), ([1, 2, 3], 6.0),
                    (np.array([1.0, 2.0, 0.5]), 1.0), ((1.0, 1.0, 1.0), 1.0)]:
        assert fastseg.confusion(p, p, spacing=sp).voxel_volume == vol, sp


# ------------------------------------------------------------------ helpers

def test_normalize_spacing():
    out = v.normalize_spacing(None, 3)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 1.0, 1.0]
    assert v.normalize_spacing(2, 2).tolist() == [2.0, 2.0]
    assert v.normalize_spacing((0.8, 0.8, 2.5), 3).tolist() == [0.8, 0.8, 2.5]
    assert v.normalize_spacing(np.array(1.5), 2).tolist() == [1.5, 1.5]
    with pytest.raises(ValueError, match=re.escape("sampling must have one positive value per axis (2)")):
        v.normalize_spacing((1.0, 1.0, 1.0), 2, name="sampling")


def test_bool_spacing_is_refused():
    p = np.zeros(SHAPE3, bool)
    with raises(TypeError, "spacing", "True"):
        fastseg.confusion(p, p, spacing=True)


def test_check_threads_and_fraction():
    assert v.check_threads(None) is None
    assert v.check_threads(3) == 3
    assert v.check_threads(np.int32(2)) == 2
    assert v.check_fraction(0, "beta") == 0.0
    assert v.check_fraction(np.float64(0.3), "alpha") == 0.3
    with pytest.raises(v.InputTypeError, match="beta"):
        v.check_fraction(True, "beta")
    with pytest.raises(v.InputValueError, match="x must be a finite number > 0"):
        v.check_fraction(0.0, "x", inclusive_low=False)
    with pytest.raises(v.InputValueError, match="<= 1"):
        v.check_fraction(1.5, "x", high=1)


def test_check_ndim():
    with raises(ValueError, "2D or 3D", "4 dimensions", "(1, 2, 3, 4)", "pred"):
        v.check_ndim(np.zeros((1, 2, 3, 4)), (2, 3), "hausdorff")


def test_as_array_accepts_numbers_and_lists():
    assert v.as_array([1, 0, 1], "pred").dtype.kind in "iu"
    assert v.as_array(np.float32(1.0), "pred").shape == ()
    assert v.as_array([True, False], "pred").dtype == bool


def test_label_pair_normalises_dtypes():
    p, r, values = v.label_pair(np.array([0, 3, 300]), np.array([0, 1, 2]))
    assert p.dtype == r.dtype == np.uint16 and values is None
    assert p.tolist() == [0, 3, 300]
    p, r, values = v.label_pair(np.array([0, 3, 70000]), np.array([0, 1, 2], np.uint8))
    assert p.dtype == r.dtype == np.uint8
    assert values.tolist() == [0, 1, 2, 3, 70000]
    assert values[p].tolist() == [0, 3, 70000] and values[r].tolist() == [0, 1, 2]
    p, r, values = v.label_pair(np.array([True, False]), np.array([1, 0], ">u2"))
    assert p.dtype == r.dtype and p.tolist() == [1, 0] and r.tolist() == [1, 0]


def test_errors_are_raised_before_any_work_on_threads():
    """A bad threads value is refused even for 0-size input (validation is not skipped)."""
    e = np.zeros(0, bool)
    with raises(ValueError, "threads"):
        fastseg.dice(e, e, threads=0)
