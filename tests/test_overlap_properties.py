"""Properties of the overlap metrics (hypothesis): symmetry, bounds, the Dice/Jaccard identity,
precision/recall duality, soft == hard on binary input, Tversky/F-beta special cases, agreement with the
brute-force references, and invariance to thread count, memory order and dtype.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastseg

from tests import reference as R
from tests.conftest import same

SETTINGS = settings(max_examples=60, deadline=None, database=None)
TOL = 1e-12

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7)
weights = st.floats(min_value=0.01, max_value=10.0, allow_nan=False, allow_infinity=False)
probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, width=64)


densities = st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.8, 1.0])


@st.composite
def mask_pairs(draw, shape=shapes):
    """Two bool masks of one shape: random with drawn densities (numpy, seeded by hypothesis, so large
    examples stay cheap), then possibly forced to an edge case."""
    s = draw(shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pred = rng.random(s) < draw(densities)
    ref = rng.random(s) < draw(densities)
    mode = draw(st.sampled_from(["free", "pred_empty", "ref_empty", "same", "subset", "correlated"]))
    if mode == "pred_empty":
        pred[...] = False
    elif mode == "ref_empty":
        ref[...] = False
    elif mode == "same":
        ref = pred.copy()
    elif mode == "subset":
        ref = ref & pred
    elif mode == "correlated":
        ref = np.where(rng.random(s) < 0.8, pred, ref)
    return pred, ref


@st.composite
def soft_pairs(draw):
    s = draw(shapes)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    prob = rng.random(s).astype(dtype)
    prob[rng.random(s) < draw(densities)] = 0.0
    prob[rng.random(s) < draw(densities)] = 1.0
    ref = rng.random(s) < draw(densities)
    return prob, ref


#: many tiny calls: one thread by default; the invariance test below passes ``threads=2`` explicitly
pytestmark = pytest.mark.usefixtures("one_numba_thread")


@SETTINGS
@given(mask_pairs())
def test_matches_reference(pair):
    pred, ref = pair
    c = fastseg.confusion(pred, ref)
    assert (c.tp, c.fp, c.fn, c.tn) == R.confusion_counts(pred, ref)
    for name, fn, kwargs, ref_fn in R.metric_table():
        assert same(getattr(fastseg, fn)(pred, ref, **kwargs), ref_fn(pred, ref), TOL, TOL), name


@SETTINGS
@given(mask_pairs())
def test_symmetry(pair):
    pred, ref = pair
    for name in ("dice", "jaccard", "mcc", "volume_similarity", "accuracy"):
        f = getattr(fastseg, name)
        assert same(f(pred, ref), f(ref, pred), TOL, TOL), name
    assert same(fastseg.tversky(pred, ref, alpha=0.3, beta=0.7), fastseg.tversky(ref, pred, alpha=0.7, beta=0.3),
                TOL, TOL)
    # specificity is the recall of the complements
    assert same(fastseg.specificity(pred, ref), fastseg.recall(~pred, ~ref), TOL, TOL)


@SETTINGS
@given(mask_pairs(), weights, weights)
def test_bounds(pair, a, b):
    pred, ref = pair
    values = [fastseg.dice(pred, ref), fastseg.jaccard(pred, ref), fastseg.precision(pred, ref),
              fastseg.recall(pred, ref), fastseg.specificity(pred, ref), fastseg.accuracy(pred, ref),
              fastseg.balanced_accuracy(pred, ref), fastseg.volume_similarity(pred, ref),
              fastseg.fbeta(pred, ref, beta=a), fastseg.tversky(pred, ref, alpha=a, beta=b)]
    for x in values:
        assert math.isnan(x) or 0.0 <= x <= 1.0
    m = fastseg.mcc(pred, ref)
    assert math.isnan(m) == (pred.size == 0)
    assert math.isnan(m) or -1.0 - TOL <= m <= 1.0 + TOL
    # the Dice family is never NaN
    for x in values[:2] + values[7:]:
        assert not math.isnan(x)


@SETTINGS
@given(mask_pairs())
def test_dice_jaccard_identity(pair):
    pred, ref = pair
    d = fastseg.dice(pred, ref)
    j = fastseg.jaccard(pred, ref)
    assert same(d, 2 * j / (1 + j), TOL, TOL)
    assert same(j, d / (2 - d), TOL, TOL)
    assert j <= d
    assert fastseg.iou(pred, ref) == j


@SETTINGS
@given(mask_pairs())
def test_precision_recall_duality(pair):
    p, r = pair
    assert same(fastseg.precision(p, r), fastseg.recall(r, p), TOL, TOL)
    assert same(fastseg.sensitivity(p, r), fastseg.precision(r, p), TOL, TOL)
    # Dice is the harmonic mean of precision and recall when both are positive
    pr, rc = fastseg.precision(p, r), fastseg.recall(p, r)
    if pr > 0 and rc > 0:
        assert same(fastseg.dice(p, r), 2 * pr * rc / (pr + rc), TOL, TOL)


@SETTINGS
@given(mask_pairs())
def test_special_cases_of_tversky_and_fbeta(pair):
    p, r = pair
    d = fastseg.dice(p, r)
    assert same(fastseg.tversky(p, r, alpha=0.5, beta=0.5), d, TOL, TOL)
    assert same(fastseg.fbeta(p, r, beta=1.0), d, TOL, TOL)
    assert same(fastseg.tversky(p, r, alpha=1.0, beta=1.0), fastseg.jaccard(p, r), TOL, TOL)
    for beta in (0.5, 2.0):
        # F-beta is Tversky with alpha = 1 / (1 + b^2), beta = b^2 / (1 + b^2)
        b2 = beta * beta
        assert same(fastseg.fbeta(p, r, beta=beta),
                    fastseg.tversky(p, r, alpha=1 / (1 + b2), beta=b2 / (1 + b2)), TOL, TOL)
    c = fastseg.confusion(p, r)
    if c.tp > 0:
        # beta = 0 is precision, alpha = 0 and beta = 1 is recall (well defined when TP > 0)
        assert same(fastseg.fbeta(p, r, beta=0.0), fastseg.precision(p, r), TOL, TOL)
        assert same(fastseg.tversky(p, r, alpha=0.0, beta=1.0), fastseg.recall(p, r), TOL, TOL)
        assert same(fastseg.tversky(p, r, alpha=1.0, beta=0.0), fastseg.precision(p, r), TOL, TOL)


@SETTINGS
@given(mask_pairs(), st.sampled_from([np.float32, np.float64, np.uint8, bool]), weights, weights)
def test_soft_equals_hard_on_binary_input(pair, dtype, a, b):
    p, r = pair
    prob = p.astype(dtype)
    assert same(fastseg.soft_dice(prob, r), fastseg.dice(p, r), TOL, TOL)
    assert same(fastseg.soft_jaccard(prob, r), fastseg.jaccard(p, r), TOL, TOL)
    assert same(fastseg.soft_tversky(prob, r, alpha=a, beta=b), fastseg.tversky(p, r, alpha=a, beta=b), TOL, TOL)


@SETTINGS
@given(soft_pairs(), weights, weights)
def test_soft_matches_reference(pair, a, b):
    prob, ref = pair
    assert same(fastseg.soft_dice(prob, ref), R.soft_dice(prob, ref), TOL, TOL)
    assert same(fastseg.soft_jaccard(prob, ref), R.soft_jaccard(prob, ref), TOL, TOL)
    assert same(fastseg.soft_tversky(prob, ref, alpha=a, beta=b), R.soft_tversky(prob, ref, a, b), TOL, TOL)
    for x in (fastseg.soft_dice(prob, ref), fastseg.soft_jaccard(prob, ref)):
        assert 0.0 <= x <= 1.0 + TOL
    assert same(fastseg.soft_tversky(prob, ref), fastseg.soft_dice(prob, ref), TOL, TOL)


@SETTINGS
@given(mask_pairs(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=9)),
       st.sampled_from(["C", "F", "strided", "readonly", "transposed"]),
       st.sampled_from([bool, np.uint8, np.int8, np.int64, np.float32, ">i4", ">f8"]),
       st.sampled_from([None, 1, 2]))
def test_invariance_to_layout_dtype_threads(pair, layout, dtype, threads):
    pred, ref = pair
    want = fastseg.confusion(pred, ref)

    def prepare(a):
        a = a.astype(dtype)
        if layout == "F":
            return np.asfortranarray(a)
        if layout == "strided":
            big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
            sl = tuple(slice(1, None, 2) for _ in a.shape)
            big[sl] = a
            return big[sl]
        if layout == "readonly":
            a = a.copy()
            a.flags.writeable = False
            return a
        if layout == "transposed":
            return np.ascontiguousarray(a.T).T
        return a

    got = fastseg.confusion(prepare(pred), prepare(ref), threads=threads)
    assert got == want
    assert fastseg.dice(prepare(pred), prepare(ref), threads=threads) == fastseg.dice(pred, ref)
    prob = pred.astype(np.float64) * 0.75
    assert fastseg.soft_dice(prob, prepare(ref), threads=threads) == fastseg.soft_dice(prob, ref)


@st.composite
def label_pairs(draw):
    s = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=7))
    values = np.array(draw(st.sampled_from([
        [0, 1, 2], list(range(0, 256, 5)), [0, 3, 17, 255, 1000], list(range(0, 3000, 10)),
        [0, 70000, 10**6, 5],
    ])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pred = values[rng.integers(0, values.size, s)]
    ref = np.where(rng.random(s) < draw(st.sampled_from([0.0, 0.5, 0.9])), pred,
                   values[rng.integers(0, values.size, s)])
    dtype = np.uint8 if values.max() < 256 else (np.uint16 if values.max() < 65536 else np.int64)
    return pred.astype(dtype), ref.astype(dtype)


@settings(max_examples=40, deadline=None, database=None)
@given(label_pairs(), st.sampled_from(["C", "F"]), st.sampled_from([1, 2]))
def test_label_confusion_properties(pair, order, threads):
    pred, ref = pair
    p = np.asarray(pred, order=order)
    r = np.asarray(ref, order=order)
    cm = fastseg.confusion_matrix(p, r, threads=threads)
    labels, m = R.label_confusion(pred, ref)
    assert cm.labels.tolist() == labels.tolist()
    assert np.array_equal(cm.matrix, m)
    assert cm.matrix.sum() == pred.size
    if pred.ndim <= 3:
        for i, lab in enumerate(cm.labels):
            for box, mask in ((cm.bbox_pred[i], pred == lab), (cm.bbox_ref[i], ref == lab)):
                want = R.bbox(mask)
                if want is None:
                    assert np.all(box[0::2] > box[1::2])
                else:
                    assert box.tolist() == want
    # each label's binary counts agree with the binary engine
    for lab in cm.labels[:4]:
        c = fastseg.confusion(pred == lab, ref == lab)
        assert cm.binary(lab) == c
