"""Every metric of the Python API in ``evaluate`` and ``--metrics`` (issue 15): confusion counts,
F-beta (``beta=``, ``fbeta@B``), Tversky (``tversky=``, ``tversky@A/B``), and the registry that
defines them for people (plain meaning, unit, direction, range) and for gates."""
import math

import numpy as np
import pytest

import fastseg
from fastseg.cohort.stats import check_thresholds, metric_range, parse_gates
from fastseg.evaluate import METRICS, REGISTRY, metric_info, metric_names

from tests.conftest import same


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 4, (20, 24)).astype(np.uint8)
    pred = ref.copy()
    flip = rng.random(ref.shape) < 0.2
    pred[flip] = rng.integers(0, 4, int(flip.sum()))
    pred[pred == 3] = 0  # label 3 missed: the empty-prediction values too
    return pred, ref


def test_counts_fbeta_tversky_equal_the_single_metric_functions(labels):
    pred, ref = labels
    res = fastseg.evaluate(pred, ref, spacing=(0.5, 2.0), ignore_label=None,
                           metrics=["tp", "fp", "fn", "tn", "fbeta", "fbeta@0.5", "tversky", "tversky@0.7/0.3",
                                    "specificity", "accuracy", "balanced_accuracy", "mcc", "volume_similarity",
                                    "pred_volume_ml", "ref_volume_ml", "volume_difference_ml"],
                           beta=[2, 1], tversky=[(0.3, 0.7)])
    assert res.metrics == ["tp", "fp", "fn", "tn", "fbeta@2", "fbeta@1", "fbeta@0.5", "tversky@0.3/0.7",
                           "tversky@0.7/0.3", "specificity", "accuracy", "balanced_accuracy", "mcc",
                           "volume_similarity", "pred_volume_ml", "ref_volume_ml", "volume_difference_ml"]
    for lab in (1, 2, 3):
        p, r = pred == lab, ref == lab
        c = fastseg.confusion(p, r, spacing=(0.5, 2.0))
        assert (res["tp"][lab], res["fp"][lab], res["fn"][lab], res["tn"][lab]) == (c.tp, c.fp, c.fn, c.tn)
        assert res["fbeta@2"][lab] == fastseg.fbeta(p, r, beta=2.0)
        assert res["fbeta@1"][lab] == fastseg.dice(p, r)
        assert res["fbeta@0.5"][lab] == fastseg.fbeta(p, r, beta=0.5)
        assert res["tversky@0.3/0.7"][lab] == fastseg.tversky(p, r, alpha=0.3, beta=0.7)
        assert res["tversky@0.7/0.3"][lab] == fastseg.tversky(p, r, alpha=0.7, beta=0.3)
        for m in ("specificity", "accuracy", "balanced_accuracy", "mcc", "volume_similarity"):
            assert same(res[m][lab], getattr(fastseg, m)(p, r)), (m, lab)
        assert res["volume_difference_ml"][lab] == c.pred_volume_ml - c.ref_volume_ml
    assert res.empty_states()[3] == "pred_empty" and res["tp"][3] == 0.0


def test_counts_leave_ignored_voxels_out(labels):
    pred, ref = labels
    ref = ref.copy()
    ref[:2] = 9
    res = fastseg.evaluate(pred, ref, metrics=["tp", "fp", "fn", "tn"], labels=[1], ignore_label=9)
    keep = ref != 9
    c = fastseg.confusion(pred[keep] == 1, ref[keep] == 1)
    assert [res[m][1] for m in ("tp", "fp", "fn", "tn")] == [c.tp, c.fp, c.fn, c.tn]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(metrics=["fbeta"]), ValueError, ["metric 'fbeta' needs beta=", "'fbeta@2'"]),
    (dict(metrics=["tversky"]), ValueError, ["metric 'tversky' needs tversky=(alpha, beta)"]),
    (dict(metrics=["fbeta"], beta=-1), ValueError, ["beta must be a finite number >= 0", "-1"]),
    (dict(metrics=["fbeta"], beta=[]), ValueError, ["beta must be a number or a non-empty sequence"]),
    (dict(metrics=["fbeta"], beta="2"), TypeError, ["beta must be a real number", "'2'"]),
    (dict(metrics=["tversky"], tversky=(0.3,)), ValueError, ["tversky must be an (alpha, beta) pair", "(0.3,)"]),
    (dict(metrics=["tversky"], tversky="ab"), ValueError, ["tversky must be an (alpha, beta) pair"]),
    (dict(metrics=["tversky"], tversky=[(0.3, math.inf)]), ValueError, ["tversky beta", "inf"]),
    (dict(metrics=["fbeta@two"]), ValueError, ["'fbeta@two'", "write 'fbeta@B'"]),
    (dict(metrics=["tversky@0.3"]), ValueError, ["'tversky@0.3'", "'tversky@A/B'"]),
    (dict(metrics=["f2"]), ValueError, ["unknown metric 'f2'", "'fbeta@B'", "tp"]),
])
def test_bad_metric_options_are_refused(labels, kwargs, error, words):
    pred, ref = labels
    with pytest.raises(error) as info:
        fastseg.evaluate(pred, ref, **kwargs)
    for w in words:
        assert w in str(info.value)


def test_metric_names_and_every_name_is_defined_for_people():
    assert metric_names(["fbeta", "tversky", "tp"], beta=(1, 2.5), tversky=(0.3, 0.7)) == \
        ["fbeta@1", "fbeta@2.5", "tversky@0.3/0.7", "tp"]
    assert set(METRICS) <= set(REGISTRY)
    for name, info in REGISTRY.items():
        assert info.plain and info.definition and info.better in ("higher", "lower", "")
        assert info.low < info.high
    for row, unit, better, words in (("hd95", "mm", "lower", "95%"), ("nsd@2", "", "higher", "within 2 mm"),
                                     ("fbeta@2", "", "higher", "recall 2 times"), ("tp", "voxels", "", "true positives"),
                                     ("tversky@0.3/0.7", "", "higher", "by 0.3 and false negatives by 0.7"),
                                     ("volume_difference_ml", "mL", "", "over-segmentation")):
        info = metric_info(row)
        assert (info.name, info.unit, info.better) == (row, unit, better) and words in info.plain, info
    assert metric_info("nsd").plain.startswith("share of both surfaces within T mm")
    assert metric_info("no_such_metric") is None


def test_gate_ranges_follow_the_registry():
    assert metric_range("tp") == (0.0, math.inf) and metric_range("fbeta@2") == (0.0, 1.0)
    assert metric_range("tversky@0.3/0.7") == (0.0, 1.0) and metric_range("mcc") == (-1.0, 1.0)
    assert metric_range("volume_difference_ml") == (-math.inf, math.inf) and metric_range("hd99") == (0.0, math.inf)
    assert metric_range("lesion_f1") == (0.0, 1.0) and metric_range("lesion_recall@[0,0.01)ml") == (0.0, 1.0)
    assert metric_range("lesionwise_hd95") == (0.0, math.inf) and metric_range("lesion_tp") == (0.0, math.inf)
    assert metric_range("no_such_metric") == (-math.inf, math.inf)
    assert parse_gates(["tversky@0.3/0.7=0.8"]) == [("tversky@0.3/0.7", None, 0.8)]
    with pytest.raises(ValueError, match="fbeta@2 lies in \\[0, 1\\]"):
        check_thresholds(parse_gates(["fbeta@2=80"]))
    with pytest.raises(ValueError, match="tp lies in \\[0, inf\\]"):
        check_thresholds(parse_gates(["tp=-1"]))
