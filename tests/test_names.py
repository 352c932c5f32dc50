"""Label names (issue 15) in the Python API: ``evaluate(names=...)`` and its rows, DataFrames (long
and wide), JSON and text; nnU-Net's ``dataset.json`` (:mod:`fastseg.labels`). Every refused input has
its test. The cohort's names and tables: ``test_cohort_tables.py``; the command line: ``test_cli_tables.py``."""
import json

import numpy as np
import pytest

import fastseg
from fastseg.labels import labels_from_dataset, read_labels_json


@pytest.fixture(scope="module")
def pair():
    ref = np.zeros((12, 12), np.uint8)
    ref[1:5, 1:5] = 1
    ref[6:10, 6:10] = 2
    ref[1:3, 8:11] = 3
    pred = np.roll(ref, 1, axis=0)
    return pred, ref


# ------------------------------------------------------------------------------------- evaluate(names=)

def test_names_reach_rows_dict_json_and_dataframes(pair):
    pred, ref = pair
    res = fastseg.evaluate(pred, ref, metrics=["dice", "tp"], names={1: "liver", 2: "spleen"},
                           regions={"both": [1, 2]})
    assert res.names == {1: "liver", 2: "spleen", 3: "", "both": "both"}
    assert [(r["label"], r["name"]) for r in res.rows[::2]] == [(1, "liver"), (2, "spleen"), (3, ""), ("both", "both")]
    assert res.to_dict()[1]["name"] == "liver"
    data = json.loads(res.to_json())
    assert data["names"]["1"] == "liver" and data["rows"][0]["name"] == "liver"
    text = repr(res)
    assert "1 liver" in text and "2 spleen" in text
    pd = pytest.importorskip("pandas")
    long = res.to_pandas()
    assert list(long.columns) == ["label", "name", "metric", "value", "empty_state", "convention"]
    wide = res.to_pandas(wide=True)
    assert isinstance(wide, pd.DataFrame)
    assert list(wide.columns) == ["label", "name", "empty_state", "convention", "dice", "tp"]
    assert wide["dice"].tolist() == list(res["dice"].values()) and wide["name"].tolist()[:2] == ["liver", "spleen"]


def test_without_names_the_rows_are_unchanged(pair):
    pred, ref = pair
    res = fastseg.evaluate(pred, ref, metrics=["dice"])
    assert res.names is None and all(set(r) == {"label", "metric", "value", "empty_state", "convention"}
                                     for r in res.rows)
    pytest.importorskip("pandas")
    assert list(res.to_pandas(wide=True).columns) == ["label", "empty_state", "convention", "dice"]


@pytest.mark.parametrize("names, error, words", [
    ([(1, "liver")], TypeError, ["names must be a dict", "list"]),
    ({"1": "liver"}, TypeError, ["a label in names", "'1'"]),
    ({-1: "liver"}, ValueError, ["a label in names", "-1"]),
    ({1: ""}, ValueError, ["name of label 1", "non-empty"]),
    ({1: 7}, ValueError, ["name of label 1", "7"]),
    ({1: "12"}, ValueError, ["not a number", "'12'"]),
    ({1: "a\nb"}, ValueError, ["one line"]),
    ({1: "organ", 2: "organ"}, ValueError, ["labels 1 and 2", "'organ'"]),
])
def test_bad_names_are_refused(pair, names, error, words):
    pred, ref = pair
    with pytest.raises(error) as info:
        fastseg.evaluate(pred, ref, metrics=["dice"], names=names)
    for w in words:
        assert w in str(info.value)


def test_a_label_named_like_a_region_is_refused(pair):
    pred, ref = pair
    with pytest.raises(ValueError, match="region 'liver' has the name of label 1"):
        fastseg.evaluate(pred, ref, metrics=["dice"], names={1: "liver"}, regions={"liver": [1, 2]})


# ------------------------------------------------------------------------------------- dataset.json

def test_dataset_json_labels_names_and_ignore(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {
        "background": 0, "liver": 1, "spleen": [2], "kidneys": [3, 4], "ignore": 9}}))
    spec = read_labels_json(path)
    assert spec.names == {1: "liver", 2: "spleen"} and spec.labels == [1, 2]
    assert spec.regions == {"kidneys": [3, 4]} and spec.ignore_label == 9
    assert spec.evaluate_kwargs() == {"labels": [1, 2], "regions": {"kidneys": [3, 4]},
                                      "names": {1: "liver", 2: "spleen"}, "ignore_label": 9}


def test_regions_class_order_is_honoured():
    """nnU-Net's region-based BraTS declaration: regions and single labels are the structures, and
    regions_class_order gives the label each region is painted with in the predictions."""
    brats = {"labels": {"background": 0, "whole_tumor": [1, 2, 3], "tumor_core": [2, 3], "enhancing_tumor": 3},
             "regions_class_order": [1, 2, 3]}
    spec = labels_from_dataset(brats)
    assert spec.regions == {"whole_tumor": [1, 2, 3], "tumor_core": [2, 3]}
    assert spec.labels == [3] and spec.names == {3: "enhancing_tumor"} and spec.regions_class_order == [1, 2, 3]


@pytest.mark.parametrize("data, words", [
    ([], ['"labels" object']),
    ({"name": "x"}, ['"labels" object']),
    ({"labels": {"background": 0, "liver": "one"}}, ["label 'liver'", "'one'"]),
    ({"labels": {"background": 0, "liver": []}}, ["label 'liver'", "non-empty"]),
    ({"labels": {"background": 0, "liver": 1.5}}, ["label 'liver'", "1.5"]),
    ({"labels": {"background": 0, "7": 1}}, ["label '7'", "not a number"]),
    ({"labels": {"background": 0, "ignore": [4, 5]}}, ["ignore label", "[4, 5]"]),
    ({"labels": {"background": 0, "wt": [1, 2], "et": 2}, "regions_class_order": 1}, ["one label per structure"]),
    ({"labels": {"background": 0, "wt": [1, 2], "et": 2}, "regions_class_order": [1]},
     ["one label per structure (2: wt, et)", "[1]"]),
    ({"labels": {"background": 0, "wt": [1, 2], "et": 2}, "regions_class_order": [1, 3]},
     ["paints 'et' with label 3", "[2]"]),
])
def test_bad_dataset_json_is_refused(data, words):
    with pytest.raises(ValueError) as info:
        labels_from_dataset(data, "ds.json")
    assert "ds.json" in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_unreadable_dataset_json(tmp_path):
    with pytest.raises(ValueError, match="cannot read the labels file .*nowhere.json"):
        read_labels_json(tmp_path / "nowhere.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{labels: 1")
    with pytest.raises(ValueError, match="bad.json is not a JSON file"):
        read_labels_json(bad)
