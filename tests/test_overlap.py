"""Overlap engine (fastseg.overlap): every metric against the brute-force references in
``tests/reference.py``, hand-worked cases, the empty-mask policy, invariance to layout / dtype / thread
count, and the multi-label confusion matrix with bounding boxes.
"""
import math

import numpy as np
import pytest

import fastseg
from fastseg import _validation as v

from tests import reference as R
from tests.conftest import same

TOL = 1e-12


#: many tiny calls: one thread by default; the thread tests below pass ``threads=2`` explicitly
pytestmark = pytest.mark.usefixtures("one_numba_thread")

METRICS = R.metric_table()
SOFT_METRICS = R.soft_metric_table()
SHAPES = [(1,), (7,), (8,), (13,), (64,), (1001,), (9, 11), (16, 8), (5, 6, 7), (3, 4, 5, 6)]


def counts(c):
    return (c.tp, c.fp, c.fn, c.tn)


def random_pair(shape, seed, density=None):
    rng = np.random.default_rng(seed)
    dp = rng.uniform(0.02, 0.98) if density is None else density
    dr = rng.uniform(0.02, 0.98) if density is None else density
    pred = rng.random(shape) < dp
    # correlate ref with pred so that the scores are not all near the chance level
    ref = np.where(rng.random(shape) < 0.7, pred, rng.random(shape) < dr)
    return pred, ref


def random_cases():
    cases = []
    for i, shape in enumerate(SHAPES):
        for j in range(3):
            cases.append(random_pair(shape, 100 * i + j))
    return cases


RANDOM_CASES = random_cases()


def call(name, pred, ref, kwargs, **extra):
    return getattr(fastseg, name)(pred, ref, **kwargs, **extra)


def assert_same(got, want, what=""):
    assert isinstance(got, float), f"{what}: expected a Python float, got {type(got).__name__}"
    assert same(got, want, TOL, TOL), f"{what}: got {got!r}, reference {want!r}"


# ------------------------------------------------------------------ brute-force references

@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 0.95, 1.0])
def test_confusion_counts_match_reference(shape, density):
    pred, ref = random_pair(shape, 7, density)
    c = fastseg.confusion(pred, ref)
    assert counts(c) == R.confusion_counts(pred, ref)
    assert all(type(x) is int for x in counts(c))
    assert c.n == pred.size
    assert c.pred_count == np.count_nonzero(pred)
    assert c.ref_count == np.count_nonzero(ref)
    assert c.voxel_volume == 1.0
    assert c.empty_state == R.empty_state(pred, ref)


@pytest.mark.parametrize("row", METRICS, ids=[m[0] for m in METRICS])
def test_metric_matches_reference(row):
    _, name, kwargs, ref_fn = row
    for k, (pred, ref) in enumerate(RANDOM_CASES):
        assert_same(call(name, pred, ref, kwargs), ref_fn(pred, ref), f"case {k} shape {pred.shape}")
        # pred/ref swapped
        assert_same(call(name, ref, pred, kwargs), ref_fn(ref, pred), f"case {k} swapped")


@pytest.mark.parametrize("row", SOFT_METRICS, ids=[m[0] for m in SOFT_METRICS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_metric_matches_reference(row, dtype):
    _, name, kwargs, ref_fn = row
    rng = np.random.default_rng(3)
    for k, shape in enumerate(SHAPES):
        prob = rng.random(shape).astype(dtype)
        prob[rng.random(shape) < 0.2] = 0.0
        prob[rng.random(shape) < 0.1] = 1.0
        ref = rng.random(shape) < 0.4
        assert_same(call(name, prob, ref, kwargs), ref_fn(prob, ref), f"shape {shape}")
        # float32 input is read as float32: the result is that of its exact float64 values
        assert_same(call(name, prob.astype(np.float64), ref, kwargs), ref_fn(prob, ref))


@pytest.mark.parametrize("row", SOFT_METRICS, ids=[m[0] for m in SOFT_METRICS])
def test_soft_metric_special_maps(row):
    _, name, kwargs, ref_fn = row
    shape = (4, 5)
    zeros = np.zeros(shape)
    ones = np.ones(shape)
    empty = np.zeros(shape, bool)
    full = np.ones(shape, bool)
    half = np.full(shape, 0.5)
    for prob, ref in [(zeros, empty), (zeros, full), (ones, empty), (ones, full), (half, full),
                      (half, empty), (np.zeros(0), np.zeros(0, bool))]:
        assert_same(call(name, prob, ref, kwargs), ref_fn(prob, ref), f"{prob.flat[:1]} {ref.flat[:1]}")
    assert call(name, zeros, empty, kwargs) == 1.0
    assert call(name, zeros, full, kwargs) == 0.0
    assert call(name, ones, empty, kwargs) == 0.0
    assert call(name, ones, full, kwargs) == 1.0


def test_soft_dice_worked_example():
    # sum p r = 1.5, sum p = 1.5, sum r = 2: 3 / 3.5 ; jaccard 1.5 / 2
    assert fastseg.soft_dice([0.5, 1.0, 0.0], [1, 1, 0]) == 3 / 3.5
    assert fastseg.soft_jaccard([0.5, 1.0, 0.0], [1, 1, 0]) == 0.75
    assert same(fastseg.soft_tversky([0.5, 1.0, 0.0], [1, 1, 0], alpha=0.3, beta=0.7),
                1.5 / (1.5 + 0.3 * 0 + 0.7 * 0.5), TOL, TOL)


# ------------------------------------------------------------------ hand-worked cases

def square_pair():
    ref = np.zeros((10, 10), bool)
    ref[2:6, 2:6] = True
    pred = np.zeros((10, 10), bool)
    pred[2:6, 3:7] = True  # the same square shifted one column
    return pred, ref


def test_shifted_square_iou_and_dice_exact():
    pred, ref = square_pair()
    c = fastseg.confusion(pred, ref)
    assert counts(c) == (12, 4, 4, 80)
    assert fastseg.jaccard(pred, ref) == 0.6
    assert fastseg.iou(pred, ref) == 0.6
    assert fastseg.dice(pred, ref) == 0.75
    assert fastseg.fbeta(pred, ref, beta=1.0) == 0.75
    assert fastseg.tversky(pred, ref, alpha=0.5, beta=0.5) == 0.75
    assert fastseg.precision(pred, ref) == 0.75
    assert fastseg.recall(pred, ref) == 0.75
    assert fastseg.sensitivity(pred, ref) == 0.75
    assert fastseg.specificity(pred, ref) == 80 / 84
    assert fastseg.accuracy(pred, ref) == 0.92
    assert fastseg.volume_similarity(pred, ref) == 1.0
    assert same(fastseg.mcc(pred, ref), (12 * 80 - 16) / math.sqrt(16 * 16 * 84 * 84), TOL, TOL)
    # the same case in 3D with an anisotropic shift, and uint8 / float input
    p3 = np.repeat(pred[None], 3, axis=0)
    r3 = np.repeat(ref[None], 3, axis=0)
    assert fastseg.dice(p3.astype(np.uint8), r3.astype(np.float32)) == 0.75
    assert fastseg.jaccard(p3.astype(np.int64), r3) == 0.6


def test_small_worked_examples():
    p = [1, 1, 0, 0]
    r = [1, 0, 1, 0]
    assert counts(fastseg.confusion(p, r)) == (1, 1, 1, 1)
    assert fastseg.mcc(p, r) == 0.0
    assert fastseg.accuracy(p, r) == 0.5
    assert fastseg.balanced_accuracy(p, r) == 0.5
    # fbeta(2): (5 * 1) / (5 * 1 + 4 * 1 + 1) = 0.5 ; tversky(0.3, 0.7) = 1 / (1 + 0.3 + 0.7)
    assert fastseg.fbeta(p, r, beta=2.0) == 0.5
    assert fastseg.tversky(p, r, alpha=0.3, beta=0.7) == 0.5
    # volume similarity: FP = 3, FN = 0, TP = 1 -> 1 - 3 / 5
    assert fastseg.volume_similarity([1, 1, 1, 1, 0], [1, 0, 0, 0, 0]) == 1 - 3 / 5
    # tversky weighs FP with alpha: pred ⊃ ref
    assert fastseg.tversky([1, 1, 1, 0], [1, 0, 0, 0], alpha=1.0, beta=0.0) == 1 / 3
    assert fastseg.tversky([1, 1, 1, 0], [1, 0, 0, 0], alpha=0.0, beta=1.0) == 1.0


# ------------------------------------------------------------------ empty masks (DESIGN section 5)

NAN = math.nan
SECTION5 = {
    # state: (dice/iou, precision, recall)
    "both_empty": (1.0, NAN, NAN),
    "ref_empty": (0.0, 0.0, NAN),
    "pred_empty": (0.0, NAN, 0.0),
}


def empty_pair(state, shape):
    full = np.zeros(shape, bool)
    full.flat[::3] = True
    empty = np.zeros(shape, bool)
    return {"both_empty": (empty, empty), "ref_empty": (full, empty), "pred_empty": (empty, full)}[state]


@pytest.mark.parametrize("state", list(SECTION5))
@pytest.mark.parametrize("shape", [(10, 10), (4, 5, 6), (17,)], ids=str)
def test_empty_masks_section5(state, shape):
    pred, ref = empty_pair(state, shape)
    overlap, prec, rec = SECTION5[state]
    for name in ("dice", "jaccard", "iou"):
        assert same(getattr(fastseg, name)(pred, ref), overlap, TOL, TOL), name
    assert same(fastseg.precision(pred, ref), prec, TOL, TOL)
    assert same(fastseg.recall(pred, ref), rec, TOL, TOL)
    assert same(fastseg.sensitivity(pred, ref), rec, TOL, TOL)
    assert fastseg.confusion(pred, ref).empty_state == state
    # the Dice family follows the Dice column
    for beta in (0.5, 1.0, 2.0):
        assert same(fastseg.fbeta(pred, ref, beta=beta), overlap, TOL, TOL)
    for a, b in ((0.5, 0.5), (0.3, 0.7), (1.0, 1.0)):
        assert same(fastseg.tversky(pred, ref, alpha=a, beta=b), overlap, TOL, TOL)
    assert same(fastseg.volume_similarity(pred, ref), overlap, TOL, TOL)
    # soft metrics on the same masks (as probabilities)
    for name in ("soft_dice", "soft_jaccard", "soft_tversky"):
        assert same(getattr(fastseg, name)(pred.astype(np.float64), ref), overlap, TOL, TOL), name


@pytest.mark.parametrize("state", list(SECTION5))
@pytest.mark.parametrize("row", METRICS, ids=[m[0] for m in METRICS])
def test_empty_masks_every_metric(state, row):
    _, name, kwargs, ref_fn = row
    pred, ref = empty_pair(state, (6, 7))
    assert_same(call(name, pred, ref, kwargs), ref_fn(pred, ref), state)


ZERO_WEIGHT_BUG = ("BUG: with a zero weight (fbeta beta=0, tversky/soft_tversky alpha=0 or beta=0) a total "
                   "miss has a zero denominator and _ratio / soft_tversky_from return the both-empty value "
                   "1.0; it must be 0.0 (DESIGN section 5: a miss is never a perfect score)")


@pytest.mark.parametrize("case", ["fbeta0-pred-empty", "tversky-a0-ref-empty", "tversky-b0-pred-empty",
                                  "tversky-00-disjoint", "soft_tversky-a0-ref-empty"])
def test_zero_weights_never_score_a_miss_as_perfect(case):
    empty = np.zeros(6, bool)
    one = np.zeros(6, bool)
    one[1] = True
    other = np.roll(one, 2)
    got = {
        "fbeta0-pred-empty": lambda: fastseg.fbeta(empty, one, beta=0.0),
        "tversky-a0-ref-empty": lambda: fastseg.tversky(one, empty, alpha=0.0, beta=0.5),
        "tversky-b0-pred-empty": lambda: fastseg.tversky(empty, one, alpha=0.5, beta=0.0),
        "tversky-00-disjoint": lambda: fastseg.tversky(one, other, alpha=0.0, beta=0.0),
        "soft_tversky-a0-ref-empty": lambda: fastseg.soft_tversky(one.astype(float), empty, alpha=0.0),
    }[case]()
    assert not got == 1.0


def test_empty_masks_other_metrics_values():
    empty = np.zeros((3, 4), bool)
    full = np.ones((3, 4), bool)
    # both empty: every voxel is a true negative
    assert fastseg.specificity(empty, empty) == 1.0
    assert fastseg.accuracy(empty, empty) == 1.0
    assert math.isnan(fastseg.balanced_accuracy(empty, empty))  # recall undefined
    assert fastseg.mcc(empty, empty) == 1.0  # pred == ref
    # pred everything, ref nothing
    assert fastseg.specificity(full, empty) == 0.0
    assert fastseg.accuracy(full, empty) == 0.0
    assert fastseg.mcc(full, empty) == 0.0
    # pred nothing, ref everything: no negatives in ref
    assert math.isnan(fastseg.specificity(empty, full))
    assert fastseg.mcc(empty, full) == 0.0


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2), (2, 0, 3, 4)], ids=str)
@pytest.mark.parametrize("row", METRICS, ids=[m[0] for m in METRICS])
def test_zero_size_arrays(shape, row):
    _, name, kwargs, ref_fn = row
    pred = np.zeros(shape, bool)
    ref = np.zeros(shape, bool)
    assert counts(fastseg.confusion(pred, ref)) == (0, 0, 0, 0)
    assert_same(call(name, pred, ref, kwargs), ref_fn(pred, ref))
    assert_same(call(name, pred.astype(np.float32), ref.astype(np.int64), kwargs), ref_fn(pred, ref))


def test_zero_size_soft():
    for name in ("soft_dice", "soft_jaccard", "soft_tversky"):
        assert getattr(fastseg, name)(np.zeros((0, 3), np.float32), np.zeros((0, 3), bool)) == 1.0


@pytest.mark.parametrize("shape", [(1,), (5, 5), (4, 5, 6), (2, 3, 4, 5)], ids=str)
def test_single_voxels(shape):
    rng = np.random.default_rng(len(shape))
    a = np.zeros(shape, bool)
    b = np.zeros(shape, bool)
    i = tuple(int(rng.integers(s)) for s in shape)
    a[i] = True
    b[i] = True
    assert counts(fastseg.confusion(a, b)) == (1, 0, 0, a.size - 1)
    assert fastseg.dice(a, b) == 1.0
    assert fastseg.jaccard(a, b) == 1.0
    assert fastseg.mcc(a, b) == 1.0
    for _, name, kwargs, ref_fn in METRICS:
        assert_same(call(name, a, b, kwargs), ref_fn(a, b), name)
    if a.size > 1:
        c = np.zeros(shape, bool)
        c.flat[(np.ravel_multi_index(i, shape) + 1) % a.size] = True  # a different voxel
        assert counts(fastseg.confusion(c, b)) == (0, 1, 1, a.size - 2)
        assert fastseg.dice(c, b) == 0.0
        assert fastseg.precision(c, b) == 0.0
        assert fastseg.recall(c, b) == 0.0
        for _, name, kwargs, ref_fn in METRICS:
            assert_same(call(name, c, b, kwargs), ref_fn(c, b), name)
    # single voxel against nothing, in both directions
    empty = np.zeros(shape, bool)
    for _, name, kwargs, ref_fn in METRICS:
        assert_same(call(name, a, empty, kwargs), ref_fn(a, empty), name)
        assert_same(call(name, empty, a, kwargs), ref_fn(empty, a), name)


@pytest.mark.parametrize("shape", [(1,), (9,), (8, 8), (3, 5, 7)], ids=str)
def test_all_ones(shape):
    ones = np.ones(shape, bool)
    assert counts(fastseg.confusion(ones, ones)) == (ones.size, 0, 0, 0)
    assert fastseg.dice(ones, ones) == 1.0
    assert fastseg.accuracy(ones, ones) == 1.0
    assert fastseg.mcc(ones, ones) == 1.0
    assert math.isnan(fastseg.specificity(ones, ones))
    assert math.isnan(fastseg.balanced_accuracy(ones, ones))
    half = ones.copy()
    half.flat[::2] = False
    for a, b in [(ones, ones), (ones, half), (half, ones)]:
        for _, name, kwargs, ref_fn in METRICS:
            assert_same(call(name, a, b, kwargs), ref_fn(a, b), name)


def test_all_ones_many_words():
    # exercises the SWAR byte lanes: blocks of 255 words of all-ones bytes in every chunk, plus a tail
    n = 8 * 255 * 64 * 2 + 8 * 37 + 5
    ones = np.ones(n, np.uint8)
    assert counts(fastseg.confusion(ones, ones)) == (n, 0, 0, 0)
    half = np.zeros(n, bool)
    half[::2] = True
    assert counts(fastseg.confusion(ones, half)) == R.confusion_counts(ones.astype(bool), half)


# ------------------------------------------------------------------ volumes

def test_volumes_from_spacing():
    pred, ref = random_pair((6, 7, 8), 11)
    c = fastseg.confusion(pred, ref, spacing=(0.8, 0.8, 2.5))
    n_p = int(np.count_nonzero(pred))
    n_r = int(np.count_nonzero(ref))
    assert same(c.voxel_volume, 0.8 * 0.8 * 2.5, TOL, TOL)
    assert same(c.pred_volume_ml, n_p * 0.8 * 0.8 * 2.5 / 1000, TOL, TOL)
    assert same(c.ref_volume_ml, n_r * 0.8 * 0.8 * 2.5 / 1000, TOL, TOL)
    assert same(c.pred_volume, n_p * 1.6, TOL, TOL)
    assert same(c.ref_volume, n_r * 1.6, TOL, TOL)
    assert counts(c) == R.confusion_counts(pred, ref)
    # scalar spacing applies to every axis; no spacing means voxels
    c2 = fastseg.confusion(pred, ref, spacing=2.0)
    assert c2.voxel_volume == 8.0
    assert c2.pred_volume == n_p * 8.0
    c1 = fastseg.confusion(pred, ref)
    assert c1.pred_volume == n_p
    assert c1.ref_volume_ml == n_r / 1000


def test_volume_2d_spacing():
    pred = np.ones((3, 4), bool)
    c = fastseg.confusion(pred, pred, spacing=[0.5, 0.25])
    assert c.pred_volume == 12 * 0.125
    assert same(c.pred_volume_ml, 12 * 0.125 / 1000, TOL, TOL)


# ------------------------------------------------------------------ layout, dtype, threads

def all_results(pred, ref, **kw):
    """Counts and every metric of a pair, as exact values (for bit-identity comparisons)."""
    out = [counts(fastseg.confusion(pred, ref, **kw))]
    for _, name, kwargs, _ in METRICS:
        out.append(call(name, pred, ref, kwargs, **kw))
    return out


@pytest.mark.parametrize("shape", [(1001,), (33, 47), (20, 30, 41), (3, 5, 7, 11)], ids=str)
def test_threads_do_not_change_results(shape):
    pred, ref = random_pair(shape, 5)
    r1 = all_results(pred, ref, threads=1)
    r2 = all_results(pred, ref, threads=2)
    r0 = all_results(pred, ref)
    assert same(r1, r2) and same(r1, r0)
    assert r1[0] == R.confusion_counts(pred, ref)
    prob = np.random.default_rng(1).random(shape)
    for name in ("soft_dice", "soft_jaccard", "soft_tversky"):
        s1 = getattr(fastseg, name)(prob, ref, threads=1)
        s2 = getattr(fastseg, name)(prob, ref, threads=2)
        assert s1 == s2  # bit-identical, not just close
        assert s1 == getattr(fastseg, name)(prob, ref)


def test_threads_argument_restores_numba_setting():
    import numba
    before = numba.get_num_threads()
    pred, ref = random_pair((100,), 0)
    for t in (1, 2):
        fastseg.dice(pred, ref, threads=t)
        assert numba.get_num_threads() == before
        fastseg.confusion_matrix(pred.astype(np.uint8), ref.astype(np.uint8), threads=t)
        assert numba.get_num_threads() == before
        fastseg.soft_dice(pred.astype(float), ref, threads=t)
        assert numba.get_num_threads() == before
    # restored even when the call raises
    with pytest.raises(ValueError):
        fastseg.dice(pred.astype(np.uint8) * 2, ref, threads=2)
    assert numba.get_num_threads() == before


def layouts(a):
    """The same mask in several memory layouts: name -> array."""
    out = {
        "C": np.ascontiguousarray(a),
        "F": np.asfortranarray(a),
    }
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    big[tuple(slice(None, None, 2) for _ in a.shape)] = a
    out["strided[::2]"] = big[tuple(slice(None, None, 2) for _ in a.shape)]
    out["reversed"] = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if a.ndim >= 3:
        out["transposed"] = np.ascontiguousarray(np.moveaxis(a, 0, 1)).swapaxes(0, 1)  # neither C nor F
    ro = np.array(a)
    ro.flags.writeable = False
    out["readonly"] = ro
    return out


@pytest.mark.parametrize("shape", [(37,), (9, 13), (5, 7, 9), (3, 4, 5, 3)], ids=str)
def test_memory_layouts(shape):
    pred, ref = random_pair(shape, 21)
    want = all_results(pred, ref)
    assert want[0] == R.confusion_counts(pred, ref)
    lp = layouts(pred)
    lr = layouts(ref)
    for kp in lp:
        for kr in lr:
            assert same(all_results(lp[kp], lr[kr]), want), (kp, kr)
    prob = np.random.default_rng(2).random(shape)
    want_soft = fastseg.soft_dice(prob, ref)
    for k, p in layouts(prob).items():
        assert fastseg.soft_dice(p, lr[k]) == want_soft, k


def test_non_contiguous_views_of_a_bigger_array():
    rng = np.random.default_rng(8)
    a = rng.random((20, 21, 22)) < 0.4
    b = rng.random((20, 21, 22)) < 0.4
    for sl in [np.s_[::2], np.s_[1::3, :, ::2], np.s_[:, 5], np.s_[..., 3:17], np.s_[::-1, ::2, 1:]]:
        p = a[sl]
        r = b[sl]
        assert counts(fastseg.confusion(p, r)) == R.confusion_counts(p, r), sl
        assert fastseg.dice(p.astype(np.uint8)[...], r) == R.dice(p, r)


MASK_DTYPES = [bool, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.int64, np.uint64,
               np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", MASK_DTYPES, ids=lambda d: np.dtype(d).name)
def test_input_dtypes(dtype):
    pred, ref = random_pair((6, 7, 9), 31)
    want = all_results(pred, ref)
    assert same(all_results(pred.astype(dtype), ref.astype(dtype)), want)
    assert same(all_results(pred.astype(dtype), ref), want)
    assert same(all_results(pred, ref.astype(dtype)), want)


@pytest.mark.parametrize("dtype", [">i2", ">i4", ">i8", ">u2", ">f4", ">f8", "<i4", "<f8"])
def test_byte_order(dtype):
    pred, ref = random_pair((5, 6, 11), 41)
    want = all_results(pred, ref)
    p = pred.astype(dtype)
    r = ref.astype(dtype)
    assert p.dtype.byteorder in "<>=|"
    assert same(all_results(p, r), want)
    assert same(all_results(np.asfortranarray(p), r), want)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_soft_byte_order(dtype):
    rng = np.random.default_rng(4)
    prob = rng.random((6, 7)).astype(dtype)
    ref = rng.random((6, 7)) < 0.5
    want = fastseg.soft_dice(prob.astype(prob.dtype.newbyteorder("=")), ref)
    assert fastseg.soft_dice(prob, ref) == want
    assert same(want, R.soft_dice(prob.astype(np.float64), ref), TOL, TOL)
    assert fastseg.soft_jaccard(prob, ref.astype(">i4")) == fastseg.soft_jaccard(prob.astype(np.float64), ref)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
def test_memmap_readonly(tmp_path, dtype):
    pred, ref = random_pair((7, 8, 9), 51)
    files = []
    for name, a in (("pred", pred), ("ref", ref)):
        path = tmp_path / f"{name}.raw"
        a.astype(dtype).tofile(path)
        files.append(np.memmap(path, dtype=dtype, mode="r", shape=a.shape))
    mp, mr = files
    assert not mp.flags.writeable
    assert same(all_results(mp, mr), all_results(pred, ref))
    if dtype != np.float32:
        fp, fr = v.binary_pair(mp, mr, flat=True)
        assert np.shares_memory(fp, mp) and np.shares_memory(fr, mr)
        del fp, fr
    prob = np.memmap(tmp_path / "pred.raw", dtype=dtype, mode="r", shape=pred.shape)
    assert fastseg.soft_dice(prob, ref) == fastseg.soft_dice(pred.astype(np.float64), ref)
    cm = fastseg.confusion_matrix(mp, mr)
    assert np.array_equal(cm.matrix, R.label_confusion(pred, ref)[1])
    del mp, mr, prob, files


@pytest.mark.parametrize("n", list(range(1, 26)) + [63, 64, 65, 127, 1023, 1025, 4093])
def test_sizes_not_multiple_of_8(n):
    pred, ref = random_pair((n,), n)
    assert counts(fastseg.confusion(pred, ref)) == R.confusion_counts(pred, ref)
    assert counts(fastseg.confusion(pred.astype(np.uint8), ref.astype(np.uint8))) == R.confusion_counts(pred, ref)
    # foreground only in the tail (last n % 8 voxels) or only in the head
    tail = np.zeros(n, bool)
    tail[n // 8 * 8:] = True
    head = np.zeros(n, bool)
    head[: n // 8 * 8] = True
    for a, b in [(tail, tail), (tail, head), (head, tail), (tail, ref), (pred, tail)]:
        assert counts(fastseg.confusion(a, b)) == R.confusion_counts(a, b)
        assert fastseg.dice(a, b) == R.dice(a, b)


@pytest.mark.parametrize("offset", range(1, 8))
@pytest.mark.parametrize("n", [5, 8, 29, 1000])
def test_misaligned_contiguous_views(offset, n):
    """uint8 views starting at an odd byte address: contiguous, but not aligned to 8."""
    pred, ref = random_pair((n,), 1000 * offset + n)
    bp = np.zeros(n + 16, np.uint8)
    br = np.zeros(n + 16, np.uint8)
    bp[offset:offset + n] = pred
    br[8 - offset // 2:8 - offset // 2 + n] = ref
    p = bp[offset:offset + n]
    r = br[8 - offset // 2:8 - offset // 2 + n]
    assert counts(fastseg.confusion(p, r)) == R.confusion_counts(pred, ref)
    assert counts(fastseg.confusion(p.view(bool), r.view(bool))) == R.confusion_counts(pred, ref)


@pytest.mark.parametrize("n", [7, 8, 13, 16, 1003])
@pytest.mark.parametrize("where", ["head", "tail", "both"])
@pytest.mark.parametrize("which", ["pred", "ref"])
@pytest.mark.parametrize("bad", [2, 255])
def test_non_binary_value_in_head_or_tail(n, where, which, bad):
    """A value above 1 anywhere (packed words or the unpacked tail) is refused and counted."""
    ok = np.zeros(n, np.uint8)
    ok[::3] = 1
    m = ok.copy()
    pos = {"head": [0], "tail": [n - 1], "both": [0, n - 1]}[where]
    m[pos] = bad
    args = (m, ok) if which == "pred" else (ok, m)
    with pytest.raises(ValueError, match=rf"{which} must be a binary mask.*{len(pos)} of {n} voxels") as exc:
        fastseg.confusion(*args)
    assert "labels" in str(exc.value)
    for fn in (fastseg.dice, fastseg.jaccard, fastseg.mcc):
        with pytest.raises(ValueError, match=which):
            fn(*args)
    # the same through an int8 view (-1) and a non-contiguous view
    m8 = m.view(np.int8).copy()
    m8[pos] = -1
    args = (m8, ok) if which == "pred" else (ok, m8)
    with pytest.raises(ValueError, match=rf"{len(pos)} of {n} voxels"):
        fastseg.confusion(*args)
    big = np.zeros(2 * n, np.uint8)
    big[::2] = m
    okbig = np.zeros(2 * n, np.uint8)
    okbig[::2] = ok
    args = (big[::2], okbig[::2]) if which == "pred" else (okbig[::2], big[::2])
    with pytest.raises(ValueError, match=rf"{len(pos)} of {n} voxels"):
        fastseg.confusion(*args)


# ------------------------------------------------------------------ no copies

@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int8])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(17,), (6, 9), (4, 5, 7), (2, 3, 4, 5)], ids=str)
def test_binary_pair_does_not_copy(dtype, order, shape):
    pred, ref = random_pair(shape, 61)
    p = np.array(pred, dtype=dtype, order=order)
    r = np.array(ref, dtype=dtype, order=order)
    fp, fr = v.binary_pair(p, r, flat=True)
    assert np.shares_memory(fp, p) and np.shares_memory(fr, r)
    assert fp.dtype == np.uint8 and fr.dtype == np.uint8
    assert fp.ndim == 1 and fp.size == p.size
    assert not fp.flags.writeable and not fr.flags.writeable
    assert p.flags.writeable and r.flags.writeable  # the caller's arrays are untouched
    # both flattened in the same element order
    assert np.array_equal(fp.astype(bool), fr.astype(bool)) == np.array_equal(pred, ref)
    assert int(np.count_nonzero(fp & fr)) == int(np.count_nonzero(pred & ref))
    # the non-flat form gives C-contiguous arrays of the original shape
    cp, cr = v.binary_pair(p, r)
    assert cp.shape == shape and cp.flags.c_contiguous and cr.flags.c_contiguous
    if order == "C":
        assert np.shares_memory(cp, p)


def test_binary_pair_other_dtypes_are_checked_and_converted():
    p = np.array([[0, 1], [1, 0]], dtype=np.float64)
    fp, fr = v.binary_pair(p, p.astype(np.int64), flat=True)
    assert fp.dtype == np.uint8 and fp.tolist() == [0, 1, 1, 0] and fr.tolist() == [0, 1, 1, 0]


# ------------------------------------------------------------------ multi-label confusion matrix

def bincount_reference(pred, ref):
    """Labels present in either map, the compacted ``np.bincount(ref * K + pred)`` matrix, per-label
    counts in each map."""
    p = np.asarray(pred).astype(np.int64).ravel()
    r = np.asarray(ref).astype(np.int64).ravel()
    labels = np.unique(np.concatenate([p, r]))
    k = labels.size
    pc = np.searchsorted(labels, p)
    rc = np.searchsorted(labels, r)
    m = np.bincount(rc * k + pc, minlength=k * k).reshape(k, k)
    return labels, m


def check_boxes(cm, pred, ref):
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.ndim > 3:
        assert cm.bbox_pred is None and cm.bbox_ref is None
        return
    assert cm.bbox_pred.shape == (cm.labels.size, 2 * pred.ndim)
    assert cm.bbox_ref.shape == (cm.labels.size, 2 * pred.ndim)
    for i, lab in enumerate(cm.labels):
        for box, m in ((cm.bbox_pred[i], pred == lab), (cm.bbox_ref[i], ref == lab)):
            want = R.bbox(m)
            if want is None:
                assert np.all(box[0::2] > box[1::2]), (lab, box)
            else:
                assert box.tolist() == want, (lab, box.tolist(), want)


def check_label_confusion(pred, ref, **kw):
    cm = fastseg.confusion_matrix(pred, ref, **kw)
    labels, m = bincount_reference(pred, ref)
    assert cm.labels.tolist() == labels.tolist()
    assert cm.labels.dtype == np.int64
    assert cm.matrix.dtype == np.int64
    assert np.array_equal(cm.matrix, m)
    assert np.array_equal(cm.pred_counts, m.sum(axis=0))
    assert np.array_equal(cm.ref_counts, m.sum(axis=1))
    assert cm.shape == np.shape(pred)
    check_boxes(cm, pred, ref)
    return cm


def random_labels(shape, values, seed, p_same=0.6):
    rng = np.random.default_rng(seed)
    values = np.asarray(values)
    pred = values[rng.integers(0, values.size, shape)]
    ref = np.where(rng.random(shape) < p_same, pred, values[rng.integers(0, values.size, shape)])
    return pred, ref


LABEL_SHAPES = [(50,), (9, 13), (5, 7, 9), (3, 4, 5, 6)]


@pytest.mark.parametrize("shape", LABEL_SHAPES, ids=str)
@pytest.mark.parametrize("nvalues", [2, 5, 40, 256])
def test_label_confusion_uint8(shape, nvalues):
    values = np.sort(np.random.default_rng(nvalues).choice(256, nvalues, replace=False)).astype(np.uint8)
    pred, ref = random_labels(shape, values, nvalues)
    assert pred.dtype == np.uint8
    check_label_confusion(pred, ref)
    check_label_confusion(np.asfortranarray(pred), np.asfortranarray(ref))


@pytest.mark.parametrize("shape", LABEL_SHAPES, ids=str)
def test_label_confusion_uint16_300_labels(shape):
    pred, ref = random_labels(shape, np.arange(300, dtype=np.uint16) * 7, 3, p_same=0.3)
    assert pred.dtype == np.uint16
    check_label_confusion(pred, ref)
    check_label_confusion(np.asfortranarray(pred), np.asfortranarray(ref))
    check_label_confusion(pred.astype(np.int32), ref.astype(np.int64))


@pytest.mark.parametrize("shape", LABEL_SHAPES, ids=str)
@pytest.mark.parametrize("values, dtype", [
    (values, dtype)
    for values in ([0, 3, 17, 255, 1000], [0, 1, 70000, 10**6], [5, 65535, 65536], [0, 2**40, 7])
    for dtype in (np.int64, np.uint32, np.uint64, np.float64)
    if not (dtype == np.uint32 and max(values) >= 2**32)
], ids=str)
def test_label_confusion_sparse_and_large_values(shape, values, dtype):
    pred, ref = random_labels(shape, np.array(values, dtype=dtype), sum(shape))
    cm = check_label_confusion(pred, ref)
    assert set(cm.labels.tolist()) <= set(values)
    check_label_confusion(np.asfortranarray(pred), np.asfortranarray(ref))


def test_label_confusion_mixed_dtypes_and_ranges():
    rng = np.random.default_rng(9)
    small = rng.integers(0, 4, (6, 7)).astype(np.uint8)
    large = np.where(rng.random((6, 7)) < 0.5, small, 10**6).astype(np.int64)
    mid = np.where(rng.random((6, 7)) < 0.5, small, 1000).astype(np.uint16)
    for p, r in [(small, large), (large, small), (small, mid), (mid, large), (mid, small)]:
        check_label_confusion(p, r)


@pytest.mark.parametrize("dtype", [bool, np.int8, np.int16, ">i4", ">u2", ">i8", np.float32, ">f8"])
def test_label_confusion_dtypes(dtype):
    values = {bool: [0, 1], np.int8: [0, 1, 4, 9, 120]}.get(dtype, [0, 1, 4, 9, 120, 1000])
    pred, ref = random_labels((6, 8, 5), np.array(values), 13)
    p = pred.astype(dtype)
    r = ref.astype(dtype)
    cm = check_label_confusion(p, r)
    assert cm.labels.tolist() == sorted(set(pred.ravel().tolist()) | set(ref.ravel().tolist()))


@pytest.mark.parametrize("shape", [(11,), (7, 9), (5, 6, 7), (2, 3, 4, 5)], ids=str)
def test_label_confusion_views_and_threads(shape):
    pred, ref = random_labels(tuple(2 * s for s in shape), np.array([0, 3, 17, 255, 1000]), 17)
    sl = tuple(slice(None, None, 2) for _ in shape)
    p, r = pred[sl], ref[sl]
    assert not p.flags.c_contiguous
    a = check_label_confusion(p, r, threads=1)
    b = check_label_confusion(p, r, threads=2)
    assert np.array_equal(a.matrix, b.matrix)
    if len(shape) <= 3:
        assert np.array_equal(a.bbox_pred, b.bbox_pred) and np.array_equal(a.bbox_ref, b.bbox_ref)
    ro = np.array(p)
    ro.flags.writeable = False
    check_label_confusion(ro, r[...])
    # a transposed view (neither C nor F when ndim >= 3)
    check_label_confusion(p.T, r.T)


def test_label_confusion_docstring_example_and_boxes_by_hand():
    cm = fastseg.confusion_matrix(np.array([0, 3, 3, 17]), np.array([0, 3, 17, 17]))
    assert cm.labels.tolist() == [0, 3, 17]
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert cm.bbox_pred.tolist() == [[0, 0], [1, 2], [3, 3]]
    assert cm.bbox_ref.tolist() == [[0, 0], [1, 1], [2, 3]]
    pred = np.zeros((4, 5, 6), np.uint8)
    ref = np.zeros((4, 5, 6), np.uint8)
    pred[1:3, 0, 2:6] = 7
    ref[3, 4, 5] = 7
    ref[0, 1:4, 0] = 2
    cm = fastseg.confusion_matrix(pred, ref)
    assert cm.labels.tolist() == [0, 2, 7]
    i7 = cm.index(7)
    i2 = cm.index(2)
    assert cm.bbox_pred[i7].tolist() == [1, 2, 0, 0, 2, 5]
    assert cm.bbox_ref[i7].tolist() == [3, 3, 4, 4, 5, 5]
    assert cm.bbox_ref[i2].tolist() == [0, 0, 1, 3, 0, 0]
    assert np.all(cm.bbox_pred[i2][0::2] > cm.bbox_pred[i2][1::2])  # absent from pred
    assert cm.bbox(7).tolist() == [1, 3, 0, 4, 2, 5]  # union of both maps
    assert cm.bbox(7, "pred").tolist() == [1, 2, 0, 0, 2, 5]
    assert cm.bbox(2, "pred") is None
    assert cm.bbox(99) is None
    # F-order: the same boxes in input-axis order
    cmf = fastseg.confusion_matrix(np.asfortranarray(pred), np.asfortranarray(ref))
    assert np.array_equal(cmf.bbox_pred, cm.bbox_pred) and np.array_equal(cmf.bbox_ref, cm.bbox_ref)


def test_label_confusion_structures_touching_edges():
    pred = np.zeros((6, 7, 8), np.uint16)
    pred[0] = 300
    pred[:, :, -1] = 2
    ref = np.zeros_like(pred)
    ref[-1, -1, -1] = 300
    ref[:, 0, 0] = 1
    check_label_confusion(pred, ref)
    check_label_confusion(np.ones((3, 4), np.uint8), np.ones((3, 4), np.uint8))  # one label only


@pytest.mark.parametrize("values", [[0, 1, 2, 5], [0, 3, 17, 255, 1000], [0, 4, 70000, 10**6]], ids=str)
@pytest.mark.parametrize("shape", [(40,), (7, 9), (4, 6, 5), (2, 3, 4, 5)], ids=str)
def test_labels_argument(values, shape):
    pred, ref = random_labels(shape, np.array(values, dtype=np.int64), 23)
    full = fastseg.confusion_matrix(pred, ref)
    absent = 999_999_999
    want = sorted({values[1], values[-1], absent})
    cm = fastseg.confusion_matrix(pred, ref, labels=[values[-1], absent, values[1], values[1]])
    assert cm.labels.tolist() == want
    _, m = R.label_confusion(pred, ref, labels=want)
    assert np.array_equal(cm.matrix, m)
    ia = cm.index(absent)
    assert not cm.matrix[ia].any() and not cm.matrix[:, ia].any()
    assert cm.pred_counts[ia] == 0 and cm.ref_counts[ia] == 0
    if pred.ndim <= 3:
        assert np.all(cm.bbox_pred[ia][0::2] > cm.bbox_pred[ia][1::2])
        assert np.all(cm.bbox_ref[ia][0::2] > cm.bbox_ref[ia][1::2])
        for lab in want[:2]:
            i = cm.index(lab)
            for box, m in ((cm.bbox_pred[i], pred == lab), (cm.bbox_ref[i], ref == lab)):
                if m.any():
                    assert box.tolist() == R.bbox(m)
                else:
                    assert np.all(box[0::2] > box[1::2])
    # .binary still counts FP/FN against voxels of unlisted labels
    for lab in want:
        assert counts(cm.binary(lab)) == counts(fastseg.confusion(pred == lab, ref == lab)), lab
        assert counts(full.binary(lab)) == counts(fastseg.confusion(pred == lab, ref == lab)), lab
    pair = want[:2]
    union = counts(fastseg.confusion(np.isin(pred, pair), np.isin(ref, pair)))
    assert counts(cm.binary(pair)) == union
    assert counts(full.binary(pair)) == union
    assert counts(full.binary(values[1:])) == counts(fastseg.confusion(pred != values[0], ref != values[0]))
    assert counts(cm.binary([absent])) == (0, 0, 0, pred.size)


def test_labels_argument_empty_list():
    pred, ref = random_labels((5, 5), np.array([0, 1, 2]), 1)
    cm = fastseg.confusion_matrix(pred, ref, labels=[])
    assert cm.labels.size == 0 and cm.matrix.shape == (0, 0)


def test_label_confusion_zero_size_uint8():
    cm = fastseg.confusion_matrix(np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8))
    assert cm.labels.size == 0 and cm.matrix.shape == (0, 0)


def test_label_confusion_zero_size_uint16():
    cm = fastseg.confusion_matrix(np.zeros((0, 4), np.uint16), np.zeros((0, 4), np.uint16))
    assert cm.labels.size == 0 and cm.matrix.shape == (0, 0)


def test_label_confusion_zero_size_4d():
    cm = fastseg.confusion_matrix(np.zeros((2, 3, 0, 4), np.uint8), np.zeros((2, 3, 0, 4), np.uint8))
    assert cm.labels.size == 0 and cm.matrix.shape == (0, 0)


def test_binary_and_label_paths_agree():
    pred, ref = random_pair((6, 7, 8), 71)
    cm = fastseg.confusion_matrix(pred, ref)
    assert counts(cm.binary(1)) == counts(fastseg.confusion(pred, ref))
    assert counts(cm.binary(0)) == counts(fastseg.confusion(~pred, ~ref))
