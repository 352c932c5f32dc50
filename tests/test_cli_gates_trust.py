"""Gates and options that could pass or mislead silently (QA review): a compare limit that matches
nothing, a region defined twice, an ignore label that is also scored, a folder named like an image."""
import numpy as np
import pytest

import fastseg
from fastseg import cohort as C
from fastseg._validation import check_ignore_label
from fastseg.cli import main
from fastseg.cohort.results import COLUMNS, rows_to_text
from fastseg.io import ReadError, load

from tests.conftest import SPACING, save_nifti


def _run_rows(shift=0.0, names=None):
    """Rows of a run: 4 cases x labels 1, 2 and region 'kidneys' x dice, hd95."""
    names = names or {}
    rows = []
    structures = (1, 2, "kidneys")
    for i in range(4):
        for label in structures:
            for metric, value in (("dice", 0.9 - 0.01 * i + shift), ("hd95", 2.0 + 0.1 * i)):
                rows.append({"case_id": f"c{i}", "label": label, "name": names.get(label, ""), "metric": metric,
                             "value": value, "empty_state": "none", "convention": "fastseg",
                             "spacing": (1.0, 1.0, 1.0), "shape": (4, 4, 4), "diagonal_mm": 6.9,
                             "case_rows": 2 * len(structures), "error": ""})
    return rows


def _write_run(path, rows):
    path.write_text(",".join(COLUMNS) + "\n" + rows_to_text(rows), encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------- 1. compare: a limit on nothing

@pytest.mark.parametrize("limit, words", [
    (["--max-drop", "nsd=0.01"], ["--max-drop nsd=0.01", "no metric 'nsd'", "dice, hd95"]),
    (["--max-drop", "dice:9=0.01"], ["--max-drop dice:9=0.01", "no label or region 9", "1, 2, kidneys"]),
    (["--max-rise", "hd95:liver=0.5"], ["--max-rise hd95:liver=0.5", "'liver'", "1, 2, kidneys"]),
    (["--max-drop", "dice=0.01,dice:7=0.01"], ["--max-drop dice:7=0.01"]),
])
def test_compare_limit_matching_nothing_is_a_usage_error(tmp_path, capsys, limit, words):
    run = _write_run(tmp_path / "a.csv", _run_rows())
    assert main(["compare", run, run, "--n-boot", "50", *limit]) == 2
    captured = capsys.readouterr()
    assert "no regression" not in captured.out
    err = captured.err
    assert "fastseg compare: error:" in err and "checks nothing" in err and "BASELINE and NEW" in err
    for w in words:
        assert w in err, (w, err)


def test_compare_limit_that_matches_still_passes_and_fails(tmp_path, capsys):
    base = _write_run(tmp_path / "a.csv", _run_rows())
    worse = _write_run(tmp_path / "b.csv", _run_rows(shift=-0.05))
    assert main(["compare", base, base, "--n-boot", "50", "--max-drop", "dice:kidneys=0.01"]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", base, worse, "--n-boot", "50", "--max-drop", "dice:2=0.01"]) == 1


def test_compare_limit_may_name_a_label_by_its_name(tmp_path, capsys):
    """A limit naming a label by name (as evaluate's gates may) is checked, not dropped."""
    base = _write_run(tmp_path / "a.csv", _run_rows(names={1: "liver"}))
    worse = _write_run(tmp_path / "b.csv", _run_rows(shift=-0.05, names={1: "liver"}))
    assert main(["compare", base, worse, "--n-boot", "50", "--max-drop", "dice:liver=0.01"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION dice of label 1 liver" in out and "label 2" not in out.split("REGRESSION", 1)[1]


def test_compare_api_refuses_a_limit_matching_nothing():
    base = _run_rows()
    with pytest.raises(ValueError, match=r"max_drop dice:9=0\.01 checks nothing.*1, 2, kidneys"):
        C.compare(base, base, max_drop=[("dice", 9, 0.01)], n_boot=50)
    with pytest.raises(ValueError, match=r"max_rise nsd=0\.5 checks nothing.*metric 'nsd'"):
        C.compare(base, base, max_rise=[("nsd", None, 0.5)], n_boot=50)
    other = [dict(r, case_id="x" + r["case_id"]) for r in base]
    with pytest.raises(ValueError, match="no scored case in common"):
        C.compare(base, other, max_drop=[("dice", None, 0.01)], n_boot=50)
    # strict=False: listed, for a caller that refuses them itself; a matching limit is unaffected
    res = C.compare(base, base, max_drop=[("dice", 9, 0.01), ("dice", 1, 0.01)], n_boot=50, strict=False)
    assert res["unmatched_limits"] == ["dice:9"] and not res["regressions"]
    assert C.compare(base, base, max_drop=[("dice", None, 0.01)], n_boot=50)["unmatched_limits"] == []


# ------------------------------------------------------------------- 2. a region defined twice

@pytest.fixture
def tiny_cohort(tmp_path):
    """One case: labels 1 and 2 in both maps."""
    ref = np.zeros((6, 8, 8), np.uint8)
    ref[1:4, 1:4, 1:4] = 1
    ref[3:5, 5:7, 5:7] = 2
    pred = ref.copy()
    pred[1, 1, 1] = 0
    for folder, arr in (("p", pred), ("r", ref)):
        (tmp_path / folder).mkdir()
        save_nifti(tmp_path / folder / "case_01.nii.gz", arr, SPACING)
    return tmp_path / "p", tmp_path / "r"


def test_region_defined_twice_is_a_usage_error(tiny_cohort, tmp_path, capsys):
    p, r = tiny_cohort
    out = tmp_path / "out.csv"
    assert main(["evaluate", str(p), str(r), "--regions", "a=1,2", "--regions", "a=2", "--metrics", "dice",
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--regions a is defined twice" in err and "a=1,2" in err and "a=2" in err
    assert not out.exists()  # refused before the run
    # the same definition twice loses nothing: accepted
    assert main(["evaluate", str(p), str(r), "--regions", "a=1,2", "--regions", "a=2,1", "--metrics", "dice",
                 "--quiet", "--threads", "1"]) == 0


# ------------------------------------------------------------------- 3. ignore label also scored

@pytest.mark.parametrize("argv, words", [
    (["--labels", "1,2"], ["--ignore-label 2 is also in --labels 1,2", "Drop 2"]),
    (["--regions", "both=1,2"], ["--ignore-label 2 is also in --regions both=1,2", "Drop 2 from the region"]),
])
def test_ignore_label_also_scored_is_a_usage_error(tiny_cohort, capsys, argv, words):
    p, r = tiny_cohort
    assert main(["evaluate", str(p), str(r), "--ignore-label", "2", "--metrics", "dice", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert "absent from pred and ref" not in err
    for w in words:
        assert w in err, (w, err)


def test_ignore_label_from_labels_json_also_in_labels(tiny_cohort, tmp_path, capsys):
    p, r = tiny_cohort
    js = tmp_path / "dataset.json"
    js.write_text('{"labels": {"background": 0, "liver": 1, "ignore": 2}}')
    assert main(["evaluate", str(p), str(r), "--labels-json", str(js), "--labels", "1,2", "--metrics", "dice",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"the ignore label 2 of --labels-json {js} is also in --labels 1,2" in err
    # the file's own labels leave its ignore label out: accepted
    assert main(["evaluate", str(p), str(r), "--labels-json", str(js), "--metrics", "dice", "--quiet",
                 "--threads", "1"]) == 0


def test_ignore_label_not_scored_still_runs(tiny_cohort, capsys):
    p, r = tiny_cohort
    assert main(["evaluate", str(p), str(r), "--ignore-label", "2", "--labels", "1", "--regions", "one=1",
                 "--metrics", "dice", "--quiet", "--threads", "1"]) == 0


def test_check_ignore_label_names_both_arguments():
    """The rule for the Python API (fastseg.evaluate gave label 2 a Dice of 0, 'ref_empty', from one
    stray predicted voxel, although label 2 fills the reference and is only ignored)."""
    with pytest.raises(ValueError, match=r"ignore_label=2 is also in labels=\[1, 2\]"):
        check_ignore_label(2, [1, 2])
    with pytest.raises(ValueError, match=r"ignore_label=2 is also in the region 'wt' of regions \(\[2, 1\]\)"):
        check_ignore_label(np.uint8(2), None, {"wt": [2, 1]})
    assert check_ignore_label(2, [1, 3], {"wt": [1, 3]}) == 2 and check_ignore_label(None, [1, 2]) is None


def test_evaluate_api_refuses_ignore_label_in_labels():
    ref = np.zeros((10, 10), np.uint8)
    ref[2:5, 2:5] = 1
    ref[6:8, 6:8] = 2
    pred = ref.copy()
    pred[0, 0] = 2
    with pytest.raises(ValueError, match="ignore_label=2 is also in labels"):
        fastseg.evaluate(pred, ref, labels=[1, 2], ignore_label=2, metrics=["dice"])


# ------------------------------------------------------------------- 4. a folder named like an image

def test_load_folder_named_like_an_image(tmp_path):
    folder = tmp_path / "x.nii.gz"
    folder.mkdir()
    with pytest.raises(ReadError, match=r"x\.nii\.gz: a folder, not an image file.*holds no DICOM file"):
        load(folder)
    save_nifti(folder / "inner.nii.gz", np.zeros((2, 2, 2), np.uint8), (1.0, 1.0, 1.0))
    with pytest.raises(ReadError, match=r"Pass the image file itself \(it holds inner\.nii\.gz\)"):
        load(folder)
    # a missing file is still "no such file"
    with pytest.raises(ReadError, match="no such file"):
        load(tmp_path / "missing.nii.gz")


def test_load_dicom_series_folder_named_like_an_image_is_read_as_dicom(tmp_path):
    """load's contract: a folder holding a DICOM series is read whatever its name; such a folder is
    not refused as 'a folder, not an image file'."""
    folder = tmp_path / "ct.nii.gz"
    folder.mkdir()
    (folder / "slice1.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)  # a broken DICOM file
    with pytest.raises(ReadError) as err:
        load(folder)
    assert "a folder, not an image file" not in str(err.value) and "no such file" not in str(err.value)


def test_cohort_api_refuses_ignore_label_in_regions_before_any_case(tmp_path):
    """evaluate_cohort checks its options once, before the first case: the same refusal, not an error
    row per case."""
    from fastseg.cohort import evaluate_cohort

    with pytest.raises(ValueError, match="ignore_label=2 is also in the region"):
        evaluate_cohort([("c1", str(tmp_path / "p.nii.gz"), str(tmp_path / "r.nii.gz"))],
                        regions={"both": [1, 2]}, ignore_label=2, metrics=["dice"])


# ------------------------------------------- 5. a distance a convention leaves undefined on a miss

@pytest.fixture
def missed_label(tmp_path):
    """Two cases: label 1 scored well in both, label 2 missed in case_02 (pred empty there)."""
    ref = np.zeros((6, 8, 8), np.uint8)
    ref[1:4, 1:4, 1:4] = 1
    ref[3:5, 5:7, 5:7] = 2
    for folder in ("p", "r"):
        (tmp_path / folder).mkdir()
    for case, miss in (("case_01", False), ("case_02", True)):
        pred = ref.copy()
        if miss:
            pred[pred == 2] = 0
        save_nifti(tmp_path / "p" / f"{case}.nii.gz", pred, SPACING)
        save_nifti(tmp_path / "r" / f"{case}.nii.gz", ref, SPACING)
    return tmp_path / "p", tmp_path / "r"


@pytest.mark.parametrize("argv, gate", [
    (["--conventions", "medpy", "--metrics", "hd95"], "hd95/medpy=5"),  # MedPy raises: NaN in the preset rows
    (["--conventions", "itk", "--metrics", "hd"], "hd/itk=5"),
    (["--convention", "monai", "--metrics", "hd95"], "hd95=5"),  # MONAI's HD is NaN on a miss
    (["--convention", "deepmind", "--metrics", "assd"], "assd=5"),  # DeepMind's ASSD too
    (["--conventions", "medpy", "--metrics", "hd95"], "hd95/medpy:2=5"),  # a gate on the label
    (["--convention", "seg-metrics", "--metrics", "hd95"], "hd95=5"),  # seg-metrics: 0 mm on a miss
])
def test_a_miss_a_convention_leaves_undefined_fails_the_distance_gate(missed_label, tmp_path, capsys, argv, gate):
    p, r = missed_label
    code = main(["evaluate", str(p), str(r), "--out", str(tmp_path / "o.csv"), "--quiet", *argv, "--fail-over", gate])
    out = capsys.readouterr()
    assert code == 1, out
    assert "FAILED" in out.out + out.err and "does not score as one" in out.out + out.err


def test_a_miss_scored_perfect_fails_an_nsd_gate(missed_label, tmp_path, capsys):
    """seg-metrics gives NSD 1 where the prediction is empty: a --fail-under gate on it fails."""
    p, r = missed_label
    code = main(["evaluate", str(p), str(r), "--out", str(tmp_path / "o.csv"), "--quiet", "--conventions",
                 "seg-metrics", "--metrics", "nsd", "--tolerance", "2", "--fail-under", "nsd@2/seg_metrics=0.5"])
    assert code == 1 and "1 value(s) where one mask is empty" in capsys.readouterr().out


def test_undefined_values_on_a_label_without_misses_do_not_fail(missed_label, tmp_path, capsys):
    """Only the gate whose values hold the miss fails: label 1 is scored in both cases."""
    p, r = missed_label
    code = main(["evaluate", str(p), str(r), "--out", str(tmp_path / "o.csv"), "--quiet", "--conventions", "medpy",
                 "--metrics", "hd95", "--fail-over", "hd95/medpy:1=5"])
    assert code == 0, capsys.readouterr()


def test_unscored_counts_only_distances_on_one_sided_empties():
    """Precision of an empty prediction is NaN by definition (recall and Dice carry the miss); a
    distance NaN where both masks are empty (torchmetrics, plastimatch) is left out as both-empty
    values are; a distance NaN on a miss fails, as does a perfect one (seg-metrics), but not inf or
    plastimatch's float32 maximum."""
    def row(metric, value, state, case="c0"):
        return {"case_id": case, "label": 1, "name": "", "metric": metric, "value": value, "empty_state": state,
                "convention": "fastseg", "spacing": (1.0, 1.0, 1.0), "shape": (4, 4, 4), "diagonal_mm": 6.9,
                "case_rows": 1, "error": ""}
    rows = [row("precision", 0.9, "none"), row("precision", np.nan, "pred_empty", "c1"),
            row("hd95/torchmetrics", 1.0, "none"), row("hd95/torchmetrics", np.nan, "both_empty", "c1"),
            row("nsd@2/medpy", 0.9, "none"), row("nsd@2/medpy", np.nan, "ref_empty", "c1"),
            row("hd/plastimatch", 3.4e38, "pred_empty"), row("hd", np.inf, "pred_empty"),
            row("assd/seg_metrics", 0.0, "pred_empty"), row("dice", 0.0, "pred_empty")]
    summary = C.summarize(rows)
    unscored = {s["metric"]: s["n_unscored"] for s in summary["per_label"]}
    assert unscored == {"precision": 0, "hd95/torchmetrics": 0, "nsd@2/medpy": 1, "hd/plastimatch": 0, "hd": 0,
                        "assd/seg_metrics": 1, "dice": 0}
    gates = C.check_gates(summary, fail_under=[("precision", None, 0.5), ("nsd@2/medpy", None, 0.5)],
                          fail_over=[("hd95/torchmetrics", 1, 5.0)])
    assert [g["passed"] for g in gates] == [True, False, True]
    assert "1 value(s) where one mask is empty" in gates[1]["message"]


@pytest.mark.parametrize("gate, words", [
    (["--fail-under", "lesion_f1=80"], "lesion_f1 lies in [0, 1]"),
    (["--fail-over", "lesionwise_dice=2"], "could never fail"),
    (["--fail-over", "lesion_fp=-1"], "lesion_fp lies in [0, inf]"),
    (["--max-drop", "lesion_pq=1.5"], None),
])
def test_impossible_lesion_gate_thresholds_are_refused(tiny_cohort, tmp_path, capsys, gate, words):
    """Before: lesion-wise rows had no range, so --fail-under lesion_f1=80 (a percentage typed for a
    fraction) failed every run and --fail-over lesionwise_dice=2 passed every run."""
    from fastseg.cohort.stats import check_limits, check_thresholds, parse_gates

    if gate[0] == "--max-drop":
        with pytest.raises(ValueError, match="a limit is a change of the mean, between 0 and 1"):
            check_limits(parse_gates([gate[1]], gate[0]), gate[0])
        return
    p, r = tiny_cohort
    code = main(["evaluate", str(p), str(r), "--out", str(tmp_path / "o.csv"), "--quiet", "--metrics", "dice",
                 "--lesions", "fastseg", *gate])
    assert code == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert parse_gates(["lesion_f1=0.8"], "--fail-under") and check_thresholds(
        parse_gates(["lesion_f1=0.8"], "--fail-under"), "--fail-under") is None
