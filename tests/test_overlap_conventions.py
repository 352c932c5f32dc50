"""``fastseg.dice`` / ``jaccard`` / ``iou`` take ``convention=``: nnU-Net's rule (NaN when both masks
are empty) against nnU-Net's published ``compute_metrics`` (tests/reference_presets.py), every other
preset fastseg's 1.0; the single functions equal ``evaluate`` under every preset; bad conventions are
refused before anything is counted."""
import math

import numpy as np
import pytest

import fastseg
from fastseg.conventions import PRESETS

from tests import reference_presets as RP
from tests.test_parity import ALL


def pairs():
    out = dict(ALL)
    empty1 = np.zeros(7, bool)
    one = empty1.copy()
    one[3] = True
    out["1d-one-sided"] = (one, empty1, (1.0,))
    out["1d-both-empty"] = (empty1, empty1, (1.0,))
    out["4d-both-empty"] = (np.zeros((2, 2, 2, 2), bool), np.zeros((2, 2, 2, 2), bool), (1.0,) * 4)
    full = np.ones((3, 4), bool)
    out["full-image-2d"] = (full, full, (1.0, 1.0))
    return out


PAIRS = pairs()


@pytest.mark.parametrize("case_id", list(PAIRS))
def test_nnunet_rule_against_nnunets_code(case_id):
    pred, ref, _ = PAIRS[case_id]
    want = RP.nnunet_metrics(pred, ref)
    for name, key in (("dice", "Dice"), ("jaccard", "IoU"), ("iou", "IoU")):
        got = getattr(fastseg, name)(pred, ref, convention="nnunet")
        assert (math.isnan(got) and math.isnan(want[key])) or got == pytest.approx(want[key], rel=1e-12, abs=0)


@pytest.mark.parametrize("case_id", list(PAIRS))
def test_every_preset_equals_evaluate(case_id):
    pred, ref, sp = PAIRS[case_id]
    if pred.ndim not in (2, 3):
        pytest.skip("evaluate takes 2D and 3D label maps")
    both_empty = not pred.any() and not ref.any()
    for name in PRESETS:
        dice = fastseg.dice(pred, ref, convention=name)
        iou = fastseg.iou(pred, ref, convention=name)
        if both_empty:
            want = math.nan if name == "nnunet" else 1.0
            assert (math.isnan(dice) and math.isnan(want)) or dice == want
            assert (math.isnan(iou) and math.isnan(want)) or iou == want
            continue
        # not both empty: every preset is fastseg's formula, to the bit
        assert dice == fastseg.dice(pred, ref) and iou == fastseg.jaccard(pred, ref)
        res = fastseg.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), labels=[1], metrics=["dice", "iou"],
                               spacing=sp, convention=name).to_dict()
        assert res[1]["dice"] == dice and res[1]["iou"] == iou, name


def test_one_sided_empty_is_a_miss_under_every_preset():
    ref = np.zeros((5, 6), bool)
    ref[1:3, 2:4] = True
    empty = np.zeros_like(ref)
    for name in PRESETS:
        assert fastseg.dice(empty, ref, convention=name) == 0.0
        assert fastseg.dice(ref, empty, convention=name) == 0.0
        assert fastseg.jaccard(empty, ref, convention=name) == 0.0


def test_convention_object_and_default():
    e = np.zeros((3, 3, 3), bool)
    assert math.isnan(fastseg.dice(e, e, convention=PRESETS["nnunet"].replace(name="mine")))
    assert fastseg.dice(e, e, convention=PRESETS["nnunet"].replace(empty="fastseg")) == 1.0
    assert fastseg.dice(e, e) == 1.0 and fastseg.jaccard(e, e) == 1.0
    assert fastseg.dice(e, e, convention=None) == 1.0  # None: the default, as for the distance functions


@pytest.mark.parametrize("bad, exc, match", [("nnUNet-v3", ValueError, "convention must be one of"),
                                             (3, TypeError, "preset name or a fastseg.Convention")])
def test_bad_convention_is_refused(bad, exc, match):
    m = np.ones((2, 2), bool)
    for f in (fastseg.dice, fastseg.jaccard):
        with pytest.raises(exc, match=match):
            f(m, m, convention=bad)


def test_bad_convention_is_refused_before_the_masks_are_read():
    with pytest.raises(ValueError, match="convention must be one of"):
        fastseg.dice(np.zeros((2, 2)), np.zeros((3, 3)), convention="nope")
