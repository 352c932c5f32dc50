"""``evaluate`` (fastseg.evaluate, issue 4): every value of a multi-label evaluation equals the
single-metric function on ``pred == label, ref == label`` under every convention preset; label
selection, regions, the ignore label, defaults and errors; the result table and its conversions; and
invariance to thread count, memory order and dtype.

Reference values always come from the public single-label functions on C-ordered boolean masks, so
the layout and dtype of what ``evaluate`` is given never reach the reference.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastseg
from fastseg.conventions import get_convention
from fastseg.evaluate import EvaluationResult, evaluate

from tests.conftest import same

SETTINGS = settings(max_examples=30, deadline=None, database=None)
RTOL = 1e-12

#: the presets whose empty policy never raises (medpy is tested separately)
CONVENTIONS = ("fastseg", "deepmind", "monai", "metricsreloaded")
COUNT_METRICS = ("dice", "iou", "jaccard", "precision", "recall", "sensitivity", "specificity", "accuracy",
                 "balanced_accuracy", "mcc", "volume_similarity")
VOLUME_METRICS = ("pred_volume", "ref_volume", "pred_volume_ml", "ref_volume_ml", "volume_difference_ml")
TOLERANCES = (1.0, 2.5)
BOUNDARY_WIDTH = 1.5


def band_width(spacing):
    """BOUNDARY_WIDTH, or the smallest spacing when wider (a narrower physical band is refused)."""
    return BOUNDARY_WIDTH if spacing is None else max(BOUNDARY_WIDTH, float(np.min(spacing)))
#: every metric evaluate knows, with several percentile Hausdorff distances and two NSD tolerances
ALL_METRICS = COUNT_METRICS + VOLUME_METRICS + (
    "hd", "hd95", "hd50", "hd99.5", "hd0", "assd", "masd", "nsd", "boundary_iou", "cldice")
#: the rows that request gives, in order ("nsd" expands to one row per tolerance, in place)
ALL_ROW_NAMES = [n for m in ALL_METRICS for n in ((["nsd@1", "nsd@2.5"]) if m == "nsd" else [m])]
DEFAULTS = ["dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd"]
ROW_KEYS = {"label", "metric", "value", "empty_state", "convention"}


#: many small calls: one numba thread; thread independence has its own test with explicit ``threads=``
pytestmark = pytest.mark.usefixtures("one_numba_thread")


# ---------------------------------------------------------------- label maps

def _boxes(rng, shape, values, m, touch_border):
    """Paint 1-2 random boxes of each value into ``m`` (sized to the number of values), some pushed against
    the image border."""
    ndim = len(shape)
    side = [max(1, int(round(n / max(1.0, len(values) ** (1.0 / ndim)))) + 1) for n in shape]
    for value in values:
        for _ in range(int(rng.integers(1, 3))):
            size = [int(rng.integers(1, s + 1)) for s in side]
            lo = [int(rng.integers(0, max(1, n - s + 1))) for n, s in zip(shape, size)]
            if touch_border or rng.random() < 0.3:
                axis = int(rng.integers(ndim))
                lo[axis] = 0 if rng.random() < 0.5 else max(0, shape[axis] - size[axis])
            m[tuple(slice(a, a + s) for a, s in zip(lo, size))] = value


def _cells(rng, shape, values, n_background):
    """A Voronoi partition of the grid among random seeds: one per value and ``n_background`` of 0, so
    every label gets a compact region of its own, many of them on the image border."""
    owners = np.array(list(values) + [0] * n_background, np.int64)
    seeds = rng.random((owners.size, len(shape))) * np.array(shape)
    grid = np.indices(shape).reshape(len(shape), -1).T + 0.5
    d2 = ((grid[:, None, :] - seeds[None]) ** 2).sum(axis=-1)
    return owners[d2.argmin(axis=1)].reshape(shape)


def make_pair(seed, shape, values, *, one_sided=True, noise=0.03):
    """A (pred, ref) pair of int64 label maps over ``values`` (0 is background).

    ``ref``: a Voronoi partition among the labels and some background. ``pred``: ``ref`` shifted by up
    to one voxel per axis, mixed with the unshifted map, plus speckle noise (single-voxel components).
    With ``one_sided``, some labels appear only in ``ref`` and some only in ``pred`` (small boxes).
    """
    rng = np.random.default_rng(seed)
    values = [int(x) for x in values if x != 0]
    k = len(values)
    n_side = k // 6 if one_sided else 0
    order = rng.permutation(k)
    pred_only = [values[i] for i in order[:n_side]]
    ref_only = [values[i] for i in order[n_side:2 * n_side]]
    if one_sided and k >= 2 and not pred_only:  # at least one one-sided label when there is room
        pred_only = [values[order[0]]]
    shared = [x for x in values if x not in pred_only and x not in ref_only]
    ref = _cells(rng, shape, shared + ref_only, max(1, k // 3))
    shift = rng.integers(-1, 2, size=len(shape))
    pred = np.roll(ref, tuple(int(s) for s in shift), axis=tuple(range(len(shape))))
    pred = np.where(rng.random(shape) < 0.85, pred, ref)
    pred[np.isin(pred, ref_only)] = 0
    _boxes(rng, shape, pred_only, pred, touch_border=False)
    if shared and noise:
        speckle = rng.random(shape) < noise
        pred[speckle] = rng.choice(shared + [0], size=int(speckle.sum()))
    return pred, ref


def as_labels(a, dtype):
    """``a`` in the smallest native label dtype (``"native"``) or the given one."""
    if dtype == "native":
        dtype = np.uint8 if a.max(initial=0) < 256 else np.uint16
    return a.astype(dtype)


def present_labels(pred, ref):
    return sorted((set(np.unique(pred).tolist()) | set(np.unique(ref).tolist())) - {0})


# ---------------------------------------------------------------- the single-label reference

def is_distance(metric):
    return metric.startswith(("hd", "nsd@")) or metric in ("assd", "masd", "boundary_iou", "cldice")


def depends_on_convention(metric):
    """Metrics whose value a convention can change (boundary IoU and clDice: MetricsReloaded's band and
    empty rules; Dice and IoU: nnU-Net's NaN for two empty masks)."""
    return metric.startswith(("hd", "nsd@")) or metric in ("assd", "masd", "boundary_iou", "cldice", "dice", "iou",
                                                            "jaccard")


def single(metric, p, r, spacing, convention):
    """The public single-label function that ``metric`` of evaluate must equal, on masks ``p, r``."""
    if metric in COUNT_METRICS:
        if metric in ("dice", "iou", "jaccard") and not (p.any() or r.any()):  # the convention's rule
            return fastseg.get_convention(convention).both_empty_overlap(metric)
        return getattr(fastseg, metric)(p, r)
    if metric in VOLUME_METRICS:
        c = fastseg.confusion(p, r, spacing=spacing)
        if metric == "volume_difference_ml":
            return c.pred_volume_ml - c.ref_volume_ml
        return float(getattr(c, metric))
    kw = dict(spacing=spacing, convention=convention)
    if metric == "hd":
        return fastseg.hausdorff(p, r, **kw)
    if metric.startswith("hd"):
        return fastseg.hausdorff(p, r, percentile=float(metric[2:]), **kw)
    if metric == "assd":
        return fastseg.assd(p, r, **kw)
    if metric == "masd":
        return fastseg.masd(p, r, **kw)
    if metric.startswith("nsd@"):
        return fastseg.nsd(p, r, tolerance=float(metric[4:]), **kw)
    if metric == "boundary_iou":
        return fastseg.boundary_iou(p, r, width=band_width(spacing), spacing=spacing, convention=convention)
    if metric == "cldice":
        return fastseg.cldice(p, r, convention=convention)
    raise AssertionError(f"no single-label function for {metric!r}")


def assert_value(got, want, exact, where=""):
    """``got`` is a Python float equal to ``want`` (:func:`same`), exactly or within RTOL when not ``exact``."""
    assert isinstance(got, float), f"{where}: {type(got).__name__} is not a Python float"
    assert same(got, want, 0.0 if exact else RTOL), f"{where}: got {got!r}, expected {want!r}"


def assert_rows_close(a, b):
    """Same rows; counts exact, distances within RTOL."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert {k: x[k] for k in x if k != "value"} == {k: y[k] for k in y if k != "value"}
        assert_value(x["value"], y["value"], not is_distance(x["metric"]), f"{x}")


def check_against_singles(pred, ref, spacing, *, conventions=CONVENTIONS, metrics=ALL_METRICS,
                          row_names=ALL_ROW_NAMES, structures=None, **kwargs):
    """Evaluate under each convention; every row must equal the single-label function.

    ``structures``: {key: (pred mask, ref mask)} for explicit labels/regions; default every label present,
    its masks in the maps' own memory order: evaluate and the single functions are bit-identical for any
    one order. (Across C and F order values agree to 1e-12, except a percentile whose rank falls on an
    exact tie of the cumulative weights, which the other order's rounding can put on the neighbouring
    distance: hypothesis found HD50 4.33 in F order, 5.0 in C order, on a 12x4x4 map at 2.5 mm.)
    """
    if structures is None:
        structures = {lab: (pred == lab, ref == lab) for lab in present_labels(pred, ref)}
    cache = {}
    for conv in conventions:
        res = evaluate(pred, ref, metrics=metrics, spacing=spacing, tolerance=TOLERANCES,
                       boundary_width=band_width(spacing), convention=conv, threads=1, **kwargs)
        assert res.labels == list(structures)
        assert len(res) == len(structures) * len(row_names)
        assert res.convention == get_convention(conv).name
        for i, row in enumerate(res.rows):
            key, metric = row["label"], row["metric"]
            assert (key, metric) == (list(structures)[i // len(row_names)], row_names[i % len(row_names)])
            assert row["convention"] == get_convention(conv).name
            p, r = structures[key]
            assert row["empty_state"] == fastseg.confusion(p, r).empty_state, (key, metric)
            ck = (key, metric, conv if depends_on_convention(metric) else None)
            if ck not in cache:
                cache[ck] = single(metric, p, r, spacing, conv)
            assert_value(row["value"], cache[ck], not is_distance(metric), f"{conv} label {key!r} {metric}")
    return res


# ---------------------------------------------------------------- every value vs the single functions

@st.composite
def label_pairs(draw):
    """(pred, ref, spacing): 2D/3D, up to 50 labels (compact, scattered up to 1000 for the uint16 path,
    or exactly {0, 3, 17, 255, 1000}), labels on the border and in one map only, any dtype and order."""
    ndim = draw(st.sampled_from([2, 3]))
    if ndim == 2:
        shape = tuple(draw(st.integers(4, 32)) for _ in range(2))
    else:
        first = draw(st.sampled_from([1, 2, 5, 12, 16]))   # 1: a single slice
        shape = (first,) + tuple(draw(st.integers(4, 16)) for _ in range(2))
    style = draw(st.sampled_from(["compact", "scattered", "fixed"]))
    n = draw(st.integers(1, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    if style == "compact":
        values = list(range(1, n + 1))
    elif style == "scattered":
        values = np.random.default_rng(seed).choice(np.arange(1, 1201), size=n, replace=False).tolist()
    else:
        values = [3, 17, 255, 1000]
    pred, ref = make_pair(seed, shape, values, one_sided=draw(st.booleans()))
    dtype = draw(st.sampled_from(["native", "native", np.int32]))
    pred, ref = as_labels(pred, dtype), as_labels(ref, dtype)
    if draw(st.booleans()):
        pred, ref = np.asfortranarray(pred), np.asfortranarray(ref)
    spacing = tuple(draw(st.sampled_from([0.5, 0.8, 1.0, 1.3, 2.5, 3.0])) for _ in range(ndim))
    return pred, ref, spacing


@SETTINGS
@given(label_pairs())
def test_every_value_equals_the_single_label_function(case):
    pred, ref, spacing = case
    check_against_singles(pred, ref, spacing)


@pytest.mark.parametrize("shape, values, dtype, order, spacing", [
    ((12, 16, 14), [3, 17, 255, 1000], "native", "F", (2.5, 0.8, 0.6)),     # uint16 path, F order
    ((12, 16, 14), [3, 17, 255, 1000], "native", "C", (2.5, 0.8, 0.6)),
    ((32, 32), list(range(1, 51)), "native", "C", (0.7, 1.9)),              # 50 labels, uint8
    ((32, 28), list(range(1, 51)), "native", "F", (1.9, 0.7)),
    ((1, 24, 20), [1, 2, 5, 200], "native", "C", (3.0, 1.0, 0.5)),           # a single 3D slice
    ((24, 20), [7, 300, 65535], np.int32, "F", (1.0, 2.0)),                 # int32, the largest label
])
def test_named_cases_equal_the_single_label_functions(shape, values, dtype, order, spacing):
    pred, ref = make_pair(len(values) + sum(shape), shape, values)
    pred, ref = as_labels(pred, dtype), as_labels(ref, dtype)
    if order == "F":
        pred, ref = np.asfortranarray(pred), np.asfortranarray(ref)
    res = check_against_singles(pred, ref, spacing)
    states = set(res.empty_states().values())
    assert "none" in states


def test_uint16_path_reports_the_original_label_values():
    pred, ref = make_pair(5, (16, 16, 16), [3, 17, 255, 1000], one_sided=False, noise=0)
    pred, ref = pred.astype(np.uint16), ref.astype(np.uint16)
    res = evaluate(pred, ref, metrics=["dice"], threads=1)
    assert res.labels == present_labels(pred, ref)
    assert set(res.labels) <= {3, 17, 255, 1000} and 1000 in res.labels
    assert all(type(lab) is int for lab in res.labels)


def one_sided_pair():
    ref = np.zeros((10, 12), np.uint8)
    ref[1:4, 1:4] = 1
    ref[6:9, 0:5] = 2          # only in ref, touching the border
    pred = np.zeros_like(ref)
    pred[1:4, 2:5] = 1
    pred[0:3, 9:12] = 3        # only in pred, in a corner
    return pred, ref


def test_one_sided_labels_follow_the_empty_policy():
    """DESIGN section 5 for labels present in one map only (default convention)."""
    pred, ref = one_sided_pair()
    res = evaluate(pred, ref, tolerance=2.0, metrics=["dice", "iou", "precision", "recall", "hd", "hd95",
                                                      "assd", "masd", "nsd", "boundary_iou", "cldice"],
                   boundary_width=1.0, threads=1)
    d = res.to_dict()
    assert d[2]["empty_state"] == "pred_empty" and d[3]["empty_state"] == "ref_empty"
    for lab in (2, 3):
        for m in ("dice", "iou", "nsd@2", "boundary_iou", "cldice"):
            assert d[lab][m] == 0.0, (lab, m)
        for m in ("hd", "hd95", "assd", "masd"):
            assert d[lab][m] == math.inf, (lab, m)
    assert math.isnan(d[2]["precision"]) and d[2]["recall"] == 0.0
    assert d[3]["precision"] == 0.0 and math.isnan(d[3]["recall"])


# ---------------------------------------------------------------- medpy

def medpy_pair(seed):
    pred, ref = make_pair(seed, (16, 18), list(range(1, 8)), one_sided=False, noise=0.01)
    only_one = (set(np.unique(pred).tolist()) ^ set(np.unique(ref).tolist())) - {0}
    pred[np.isin(pred, list(only_one))] = 0
    ref[np.isin(ref, list(only_one))] = 0
    return pred.astype(np.uint8), ref.astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1])
def test_medpy_works_when_every_label_is_in_both_maps(seed):
    pred, ref = medpy_pair(seed)
    assert set(np.unique(pred).tolist()) - {0} == set(np.unique(ref).tolist()) - {0}
    check_against_singles(pred, ref, (1.5, 0.5), conventions=("medpy",))


def test_medpy_raises_a_clear_error_on_a_missing_label():
    pred, ref = medpy_pair(0)
    lab = present_labels(pred, ref)[0]
    cases = ((np.where(pred == lab, 0, pred), ref, "pred"), (pred, np.where(ref == lab, 0, ref), "ref"))
    for p, r, side in cases:
        with pytest.raises(ValueError, match="medpy") as info:
            evaluate(p, r, metrics=["dice", "hd"], convention="medpy", threads=1)
        assert "empty" in str(info.value) and side in str(info.value)
    with pytest.raises(ValueError, match="empty"):  # a label asked for but absent from both maps
        evaluate(pred, ref, labels=[lab, 99], metrics=["hd95"], convention="medpy", threads=1)


# ---------------------------------------------------------------- labels

def test_labels_none_is_every_nonzero_label_of_either_map_in_increasing_order():
    pred, ref = make_pair(3, (20, 20), [40, 2, 9, 700, 13], noise=0)
    pred, ref = pred.astype(np.uint16), ref.astype(np.uint16)
    res = evaluate(pred, ref, metrics=["dice", "hd"], threads=1)
    want = present_labels(pred, ref)
    assert res.labels == want == sorted(want)
    assert 0 not in res.labels
    only_pred = set(np.unique(pred).tolist()) - set(np.unique(ref).tolist())
    assert only_pred and only_pred <= set(res.labels)


def test_nothing_to_report_gives_an_empty_table():
    z = np.zeros((6, 7), np.uint8)
    res = evaluate(z, z, threads=1)
    assert res.rows == [] and res.labels == [] and res.to_dict() == {}
    assert json.loads(res.to_json())["rows"] == []


def test_absent_labels_passed_explicitly_are_reported_both_empty():
    pred, ref = one_sided_pair()
    labels = [1, 7, 40, 5000]   # 7, 40, 5000: absent from both maps (5000 beyond uint8)
    res = evaluate(pred, ref, labels=labels, tolerance=(1.0, 2.0), boundary_width=1.0, threads=1,
                   metrics=["dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd", "nsd",
                            "boundary_iou", "cldice", "specificity"])
    assert res.labels == labels
    d = res.to_dict()
    for lab in (7, 40, 5000):
        row = d[lab]
        assert row["empty_state"] == "both_empty"
        for m in ("dice", "iou", "nsd@1", "nsd@2", "boundary_iou", "cldice"):
            assert row[m] == 1.0, (lab, m)
        for m in ("hd", "hd95", "assd", "masd"):
            assert row[m] == 0.0, (lab, m)
        assert math.isnan(row["precision"]) and math.isnan(row["recall"])
        assert row["specificity"] == 1.0
    assert d[1]["empty_state"] == "none"
    # default metrics too: nothing dropped, DESIGN section 5 values
    res = evaluate(pred, ref, labels=[40], tolerance=2.0, threads=1)
    assert res.labels == [40]
    assert res["dice"][40] == 1.0 and res["hd"][40] == 0.0 and res["nsd@2"][40] == 1.0


@pytest.mark.parametrize("conv", CONVENTIONS)
def test_absent_labels_equal_the_single_functions_under_each_convention(conv):
    pred, ref = one_sided_pair()
    z = np.zeros(pred.shape, bool)
    structures = {lab: (z, z) for lab in (8, 9)}
    structures.update({lab: (pred == lab, ref == lab) for lab in (1, 2, 3)})
    check_against_singles(pred, ref, (1.0, 2.0), conventions=(conv,), labels=[8, 9, 1, 2, 3],
                          structures=structures)


# ---------------------------------------------------------------- regions

def _isin(a, members):
    """``np.isin`` in ``a``'s own memory order (``np.isin`` answers in C order)."""
    out = np.zeros_like(a, dtype=bool)
    for m in members:
        out |= a == m
    return out


@pytest.mark.parametrize("ndim, order", [(2, "C"), (3, "F")])
def test_regions_equal_the_metric_on_union_masks(ndim, order):
    shape = (24, 26) if ndim == 2 else (10, 14, 12)
    pred, ref = make_pair(11 + ndim, shape, [1, 2, 3, 17, 300])
    pred, ref = pred.astype(np.uint16), ref.astype(np.uint16)
    if order == "F":
        pred, ref = np.asfortranarray(pred), np.asfortranarray(ref)
    regions = {"whole": [1, 2, 3], "core": [3, 2, 2], "odd": [17, 300, 999], "nothing": [999]}
    spacing = (0.9, 2.0) if ndim == 2 else (2.0, 0.9, 1.1)
    labels = present_labels(pred, ref)
    structures = {lab: (pred == lab, ref == lab) for lab in labels}  # the maps' memory order, as evaluate
    structures.update({name: (_isin(pred, m), _isin(ref, m)) for name, m in regions.items()})
    res = check_against_singles(pred, ref, spacing, regions=regions, structures=structures)
    assert res.empty_states()["nothing"] == "both_empty"
    assert res.labels[-4:] == ["whole", "core", "odd", "nothing"]


def test_a_region_of_one_label_equals_the_label():
    pred, ref = make_pair(2, (18, 18), [1, 2, 3])
    pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)
    res = evaluate(pred, ref, regions={"two": [2]}, tolerance=1.0, spacing=(1.0, 1.7), threads=1)
    d = res.to_dict()
    for m in res.metrics:
        assert same(d["two"][m], d[2][m]), m


# ---------------------------------------------------------------- ignore label

IGNORE_METRICS = ["dice", "iou", "precision", "recall", "specificity", "accuracy", "balanced_accuracy", "mcc",
                  "volume_similarity", "pred_volume", "ref_volume", "hd", "hd95", "assd", "masd", "nsd",
                  "boundary_iou", "cldice"]


def ignore_case(seed, ndim, ignore):
    shape = (22, 24) if ndim == 2 else (10, 12, 14)
    rng = np.random.default_rng(seed)
    pred, ref = make_pair(seed, shape, [1, 2, 3, 6])
    box = tuple(slice(int(rng.integers(0, n // 2)), int(rng.integers(n // 2, n))) for n in shape)
    ref[box] = ignore
    ref[rng.random(shape) < 0.03] = ignore
    outside = ref != ignore
    pred[outside & (rng.random(shape) < 0.02)] = ignore  # pred may also hold the ignore label elsewhere
    return pred, ref


@pytest.mark.parametrize("seed, ndim, ignore, dtype", [
    (0, 2, 255, np.uint8), (1, 3, 9, np.uint8), (2, 3, 1000, np.uint16), (3, 2, 4, np.int32)])
def test_ignore_label(seed, ndim, ignore, dtype):
    pred, ref = ignore_case(seed, ndim, ignore)
    pred, ref = pred.astype(dtype), ref.astype(dtype)
    ignored = ref == ignore
    assert ignored.any() and ((pred == ignore) & ~ignored).any()
    spacing = (1.0, 2.0) if ndim == 2 else (2.0, 1.0, 0.7)
    kw = dict(metrics=IGNORE_METRICS, spacing=spacing, tolerance=TOLERANCES, boundary_width=BOUNDARY_WIDTH,
              ignore_label=ignore, threads=1)
    res = evaluate(pred, ref, **kw)

    # whatever pred holds in the ignored region changes nothing
    rng = np.random.default_rng(seed + 100)
    for fill in (0, ignore, None):
        other = pred.copy()
        other[ignored] = rng.integers(0, ignore + 20, size=int(ignored.sum())) if fill is None else fill
        assert same(evaluate(other, ref, **kw).rows, res.rows)

    # the ignore label is not reported; the labels are those left once the ignored voxels are dropped
    valid = ~ignored
    p_valid = np.where(valid, pred, 0)
    assert ignore not in res.labels
    assert res.labels == sorted(set(present_labels(p_valid, ref)) - {ignore})

    n = int(valid.sum())
    for lab in res.labels:
        p, r = (pred == lab) & valid, (ref == lab)
        tp = int(np.sum(p & r))
        fp = int(np.sum(p & ~r))
        fn = int(np.sum(~p & r))
        tn = int(np.sum(~p & ~r & valid))   # ignored voxels are not true negatives
        assert tp + fp + fn + tn == n
        d = {m: res[m][lab] for m in res.metrics}
        assert_value(d["specificity"], float(tn) / (tn + fp), True, f"{lab} specificity")
        assert_value(d["accuracy"], float(tp + tn) / n, True, f"{lab} accuracy")
        recall = tp / (tp + fn) if tp + fn else math.nan
        assert_value(d["balanced_accuracy"], 0.5 * (recall + float(tn) / (tn + fp)), True, f"{lab} bacc")
        num = tp * tn - fp * fn
        den = math.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
        if den:
            assert_value(d["mcc"], num / den, False, f"{lab} mcc")
        for m in ("dice", "iou", "precision", "recall", "volume_similarity"):
            assert_value(d[m], single(m, p, r, spacing, "fastseg"), True, f"{lab} {m}")
        assert d["pred_volume"] == float(p.sum()) * float(np.prod(spacing))
        assert d["ref_volume"] == float(r.sum()) * float(np.prod(spacing))
        # surfaces: ignored voxels are background in both maps
        for m in res.metrics:
            if is_distance(m):
                assert_value(d[m], single(m, p, r, spacing, "fastseg"), False, f"{lab} {m}")


def test_ignore_label_applies_to_regions_and_explicit_labels():
    pred, ref = ignore_case(5, 2, 200)
    pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)
    valid = ref != 200
    res = evaluate(pred, ref, labels=[1, 2, 50], regions={"all": [1, 2, 3, 6]}, ignore_label=200,
                   metrics=["dice", "specificity", "hd"], spacing=(1.0, 1.5), threads=1)
    p, r = np.isin(pred, [1, 2, 3, 6]) & valid, np.isin(ref, [1, 2, 3, 6])
    assert_value(res["dice"]["all"], fastseg.dice(p, r), True)
    assert_value(res["hd"]["all"], fastseg.hausdorff(p, r, spacing=(1.0, 1.5)), False)
    tn, fp = int(np.sum(~p & ~r & valid)), int(np.sum(p & ~r))
    assert_value(res["specificity"]["all"], float(tn) / (tn + fp), True)
    assert res.empty_states()[50] == "both_empty"
    assert res["specificity"][50] == 1.0


def test_ignore_label_not_in_the_maps_changes_nothing():
    pred, ref = make_pair(8, (16, 16), [1, 2, 3])
    pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)
    kw = dict(metrics=["dice", "specificity", "accuracy", "hd"], threads=1)
    want = evaluate(pred, ref, **kw).rows
    assert same(evaluate(pred, ref, ignore_label=77, **kw).rows, want)
    assert same(evaluate(pred, ref, ignore_label=70000, **kw).rows, want)


# ---------------------------------------------------------------- defaults and errors

@pytest.fixture(scope="module")
def small_pair():
    pred, ref = make_pair(21, (14, 15), [1, 2, 3])
    return pred.astype(np.uint8), ref.astype(np.uint8)


def test_default_metrics(small_pair):
    pred, ref = small_pair
    assert evaluate(pred, ref, threads=1).metrics == DEFAULTS
    assert evaluate(pred, ref, tolerance=2.0, threads=1).metrics == DEFAULTS + ["nsd@2"]
    assert evaluate(pred, ref, tolerance=(1, 2.5), threads=1).metrics == DEFAULTS + ["nsd@1", "nsd@2.5"]
    assert evaluate(pred, ref, percentiles=(90, 95), threads=1).metrics == [
        "dice", "iou", "precision", "recall", "hd", "hd90", "hd95", "assd", "masd"]
    res = evaluate(pred, ref, percentiles=(90, 95), tolerance=1.0, spacing=(1.0, 2.0), threads=1)
    for lab in res.labels:
        p, r = pred == lab, ref == lab
        assert_value(res["hd90"][lab], fastseg.hausdorff(p, r, percentile=90, spacing=(1.0, 2.0)), False)
        assert_value(res["hd95"][lab], fastseg.hd95(p, r, spacing=(1.0, 2.0)), False)
        assert_value(res["nsd@1"][lab], fastseg.nsd(p, r, tolerance=1.0, spacing=(1.0, 2.0)), False)


def test_metric_names_are_case_insensitive_and_deduplicated(small_pair):
    pred, ref = small_pair
    res = evaluate(pred, ref, metrics=["Dice", "dice", "HD95", "nsd@2.0", "nsd@2"], threads=1)
    assert res.metrics == ["dice", "hd95", "nsd@2"]
    assert len(res.rows) == 3 * len(res.labels)
    assert evaluate(pred, ref, metrics="hd", threads=1).metrics == ["hd"]


def test_nsd_without_tolerance_raises(small_pair):
    pred, ref = small_pair
    with pytest.raises(ValueError, match="tolerance"):
        evaluate(pred, ref, metrics=["dice", "nsd"])


def test_unknown_metric_raises_listing_valid_names(small_pair):
    pred, ref = small_pair
    with pytest.raises(ValueError) as info:
        evaluate(pred, ref, metrics=["dice", "haussdorf"])
    msg = str(info.value)
    assert "haussdorf" in msg
    for name in ("dice", "iou", "precision", "recall", "specificity", "mcc", "hd", "assd", "masd", "nsd",
                 "boundary_iou", "cldice", "hdNN", "nsd@T"):
        assert name in msg, name


def test_boundary_iou_needs_a_width(small_pair):
    pred, ref = small_pair
    with pytest.raises(ValueError, match="boundary_width"):
        evaluate(pred, ref, metrics=["boundary_iou"])
    with pytest.raises(ValueError):
        evaluate(pred, ref, metrics=["boundary_iou"], boundary_width=0.0)


@pytest.mark.parametrize("shape", [(30,), (4, 5, 3, 4)])
@pytest.mark.parametrize("metric", ["hd", "hd95", "assd", "masd", "nsd@1", "boundary_iou", "cldice", None])
def test_distance_metrics_refuse_1d_and_4d(shape, metric):
    pred, ref = make_pair(1, shape, [1, 2])
    with pytest.raises(ValueError, match="2D or 3D"):
        evaluate(pred.astype(np.uint8), ref.astype(np.uint8), metrics=metric, boundary_width=1.0)


@pytest.mark.parametrize("shape", [(30,), (4, 5, 3, 4)])
def test_overlap_metrics_work_in_any_dimension(shape):
    pred, ref = make_pair(2, shape, [1, 2, 5])
    pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)
    metrics = COUNT_METRICS + VOLUME_METRICS
    check_against_singles(pred, ref, 0.5, conventions=("fastseg",), metrics=metrics, row_names=list(metrics))


@pytest.mark.parametrize("bad", [
    dict(ref=np.zeros((5, 6), np.uint8)),
    dict(pred=-np.ones((5, 5), np.int32)),
    dict(ref=np.full((5, 5), -3, np.int64)),
    dict(labels=[1, -2]),
    dict(ignore_label=-1),
    dict(regions={"r": [1, -1]}),
    dict(regions={"r": []}),
    dict(spacing=(1.0, -1.0)),
    dict(spacing=(1.0, 1.0, 1.0)),
    dict(convention="medpyy"),
])
def test_invalid_input_raises_value_error(bad):
    args = dict(pred=np.ones((5, 5), np.uint8), ref=np.ones((5, 5), np.uint8))
    args.update(bad)
    with pytest.raises(ValueError):
        evaluate(args.pop("pred"), args.pop("ref"), metrics=["dice", "hd"], **args)


def test_labels_above_65535_raise_clearly():
    pred = np.zeros((4, 4), np.int32)
    pred[0, 0] = 70000
    with pytest.raises(ValueError, match="65535"):
        evaluate(pred, np.zeros((4, 4), np.int32))


# ---------------------------------------------------------------- the result table

@pytest.fixture(scope="module")
def result():
    pred, ref = make_pair(4, (16, 18), [1, 3, 12, 40])
    pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)
    ref[0, 0], pred[15, 17] = 77, 88   # one-sided labels: inf and NaN values in the table
    res = evaluate(pred, ref, tolerance=(1.0, 2.0), spacing=(0.8, 1.2), regions={"whole": [1, 3, 12]},
                   labels=present_labels(pred, ref) + [200], threads=1)
    return pred, ref, res


def test_result_indexing_and_rows(result):
    pred, ref, res = result
    assert isinstance(res, EvaluationResult)
    assert res["dice"][3] == fastseg.dice(pred == 3, ref == 3)
    assert_value(res["hd"][3], fastseg.hausdorff(pred == 3, ref == 3, spacing=(0.8, 1.2)), False)
    assert res.metrics == DEFAULTS + ["nsd@1", "nsd@2"]
    assert res.labels == present_labels(pred, ref) + [200, "whole"]
    assert len(res) == len(res.rows) == len(res.labels) * len(res.metrics)
    assert list(res) == res.rows
    for i, row in enumerate(res.rows):
        assert set(row) == ROW_KEYS
        assert row["label"] == res.labels[i // len(res.metrics)]
        assert row["metric"] == res.metrics[i % len(res.metrics)]
        assert row["convention"] == "fastseg"
        assert isinstance(row["value"], float)
    values = [row["value"] for row in res.rows]
    assert any(math.isinf(x) for x in values) and any(math.isnan(x) for x in values)
    assert res.empty_states()[77] == "pred_empty" and res.empty_states()[88] == "ref_empty"
    with pytest.raises(KeyError, match="hd99"):
        res["hd99"]


def test_to_dict(result):
    _, _, res = result
    d = res.to_dict()
    assert list(d) == res.labels
    for row in res.rows:
        assert same(d[row["label"]][row["metric"]], row["value"])
        assert d[row["label"]]["empty_state"] == row["empty_state"]
    for lab, entry in d.items():
        assert set(entry) == set(res.metrics) | {"empty_state"}


def test_to_json_is_valid_json_and_round_trips(result):
    _, _, res = result
    text = res.to_json()

    def refuse(token):
        raise AssertionError(f"bare {token} is not valid JSON")

    data = json.loads(text, parse_constant=refuse)
    assert data["convention"] == "fastseg"
    assert data["spacing"] == [0.8, 1.2]
    assert {"inf", "nan"} <= {row["value"] for row in data["rows"] if isinstance(row["value"], str)}

    def decode(x):
        return float(x) if isinstance(x, str) else x

    back = [dict(row, value=decode(row["value"])) for row in data["rows"]]
    assert same(back, res.rows)
    assert json.loads(res.to_json(indent=2)) == data


def test_to_pandas(result):
    pd = pytest.importorskip("pandas")
    _, _, res = result
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["label", "metric", "value", "empty_state", "convention"]
    assert len(df) == len(res)
    assert same(df.to_dict("records"), res.rows)


def test_repr_names_every_label_and_metric(result):
    _, _, res = result
    text = repr(res)
    assert "fastseg" in text
    for lab in res.labels:
        assert str(lab) in text
    for m in res.metrics:
        assert m in text
    for state in set(res.empty_states().values()):
        assert state in text


@pytest.mark.parametrize("conv", CONVENTIONS + ("medpy",))
def test_convention_is_recorded_in_every_row(conv):
    pred, ref = medpy_pair(3)
    res = evaluate(pred, ref, metrics=["dice", "hd95"], convention=conv, threads=1)
    assert res.convention == conv and {row["convention"] for row in res.rows} == {conv}
    assert json.loads(res.to_json())["convention"] == conv


def test_custom_convention_is_recorded_and_used():
    pred, ref = medpy_pair(4)
    conv = get_convention("monai").replace(connectivity=2)
    res = evaluate(pred, ref, metrics=["hd", "assd"], convention=conv, spacing=(1.0, 2.0), threads=1)
    assert {row["convention"] for row in res.rows} == {"monai*"}
    for lab in res.labels:
        p, r = pred == lab, ref == lab
        assert_value(res["hd"][lab], fastseg.hausdorff(p, r, convention=conv, spacing=(1.0, 2.0)), False)
        assert_value(res["assd"][lab], fastseg.assd(p, r, convention=conv, spacing=(1.0, 2.0)), False)


# ---------------------------------------------------------------- invariance

INVARIANCE_METRICS = ["dice", "specificity", "mcc", "pred_volume", "hd", "hd95", "assd", "masd", "nsd",
                      "boundary_iou"]


def test_thread_count_does_not_change_anything():
    """A map above the serial threshold (2**18 voxels; 2**19 for two label-presence chunks) so that
    threads=2 really runs in parallel."""
    pred, ref = make_pair(9, (128, 64, 64), [3, 17, 300, 1000], noise=0.01)
    pred, ref = pred.astype(np.uint16), ref.astype(np.uint16)
    kw = dict(metrics=INVARIANCE_METRICS, tolerance=1.0, boundary_width=2.0, spacing=(2.5, 0.8, 0.8),
              regions={"all": [3, 17, 300, 1000]})
    one = evaluate(pred, ref, threads=1, **kw)
    two = evaluate(pred, ref, threads=2, **kw)
    assert same(two.rows, one.rows)
    assert one.labels == present_labels(pred, ref) + ["all"]


@pytest.mark.parametrize("shape, spacing", [((20, 23), (0.7, 1.6)), ((9, 13, 11), (2.5, 0.8, 1.1)),
                                            ((1, 14, 17), (3.0, 1.0, 0.6))])
def test_memory_order_does_not_change_anything(shape, spacing):
    pred, ref = make_pair(sum(shape), shape, [2, 5, 9, 255, 400])
    pred, ref = pred.astype(np.uint16), ref.astype(np.uint16)
    metrics = INVARIANCE_METRICS + ["cldice"]
    kw = dict(metrics=metrics, tolerance=TOLERANCES, boundary_width=BOUNDARY_WIDTH, spacing=spacing,
              regions={"r": [2, 9, 400]}, threads=1)
    c = evaluate(pred, ref, **kw)
    f = evaluate(np.asfortranarray(pred), np.asfortranarray(ref), **kw)
    mixed = evaluate(np.asfortranarray(pred), ref, **kw)
    strided = evaluate(np.repeat(pred, 2, axis=-1)[..., ::2], np.repeat(ref, 2, axis=-1)[..., ::2], **kw)
    assert_rows_close(f.rows, c.rows)
    assert_rows_close(mixed.rows, c.rows)
    assert_rows_close(strided.rows, c.rows)
    # F order with an ignore label (the ignored voxels are zeroed on a copy of F-ordered arrays)
    ref_ign = ref.copy()
    ref_ign[..., :3] = 7
    ci = evaluate(pred, ref_ign, ignore_label=7, **kw)
    fi = evaluate(np.asfortranarray(pred), np.asfortranarray(ref_ign), ignore_label=7, **kw)
    assert_rows_close(fi.rows, ci.rows)


@pytest.mark.parametrize("ndim", [2, 3])
def test_dtype_does_not_change_anything(ndim):
    shape = (22, 19) if ndim == 2 else (8, 11, 10)
    pred, ref = make_pair(30 + ndim, shape, [1, 2, 7, 200])
    kw = dict(metrics=INVARIANCE_METRICS + ["cldice", "accuracy"], tolerance=1.5, boundary_width=1.0,
              spacing=(1.2,) * (ndim - 1) + (0.5,), regions={"r": [1, 7]}, threads=1)
    want = evaluate(pred.astype(np.uint8), ref.astype(np.uint8), **kw)
    for dtype in (np.uint16, np.int32, np.int64, np.uint32, np.int16):
        got = evaluate(pred.astype(dtype), ref.astype(dtype), **kw)
        assert same(got.rows, want.rows)
    got = evaluate(pred.astype(np.uint8), ref.astype(np.int32), **kw)   # mixed dtypes
    assert same(got.rows, want.rows)


def test_structures_run_side_by_side_in_order_and_raise_the_first_error(monkeypatch):
    """With several threads, structures of some size run in parallel (one numba thread each): the
    rows keep the structure order, and the error a serial run would raise first is the one raised."""
    import sys
    import threading

    E = sys.modules["fastseg.evaluate"]
    from fastseg._kernels._jit import thread_limit

    seen = set()

    def task(i):
        def run():
            seen.add(threading.current_thread().name)
            if i in (1, 3):
                raise ValueError(f"structure {i}")
            return i
        return run

    from fastseg._kernels.tuning import SMALL_STRUCTURE

    big = [SMALL_STRUCTURE] * 4
    with thread_limit(2):
        assert E._run_structures([task(0), task(2)], big[:2]) == [0, 2]
        assert any(name.startswith("fastseg-structure") for name in seen)
        with pytest.raises(ValueError, match="structure 1"):
            E._run_structures([task(i) for i in range(4)], big)
    seen.clear()
    with thread_limit(2):  # small structures stay in the calling thread
        assert E._run_structures([task(0), task(2)], [10, 10]) == [0, 2]
    assert seen == {threading.current_thread().name}

    # end to end: a medpy-convention error (a label missing from pred) is the serial run's error
    pred, ref = make_pair(9, (96, 64, 64), [3, 17, 300], noise=0.01)
    pred = np.where(pred == 17, 0, pred)
    msgs = []
    for threads in (1, 2):
        with pytest.raises(ValueError, match="empty") as info:
            evaluate(pred, ref, metrics=["dice", "hd"], convention="medpy", threads=threads)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]
