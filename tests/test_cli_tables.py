"""The command line's label names, wide table and new metrics (issue 15): ``--labels-json``,
``--label-names``, ``--wide``, ``--beta``, ``--tversky``, gates on a named label; every usage error
exits 2 with a one-line message."""
import csv
import json
from pathlib import Path

import pytest

from fastseg import cohort as C
from fastseg.cli import main

from tests.conftest import write_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tables")
    pred, ref = write_cohort(root, n=2)
    ds = root / "dataset.json"
    ds.write_text(json.dumps({"labels": {"background": 0, "liver": 1, "spleen": 2, "kidneys": [3, 4], "lesion": 5},
                              "regions_class_order": [1, 2, 3, 5]}))
    return root, pred, ref, ds


def test_labels_json_end_to_end(cohort, tmp_path, capsys):
    """--labels-json: its labels and regions are scored, and the names are in the results CSV, the
    options record, the wide table, the summary JSON and the text table; a gate can name a label."""
    _, pred, ref, ds = cohort
    out, wide, summ = tmp_path / "r.csv", tmp_path / "w.csv", tmp_path / "s.json"
    code = main(["evaluate", str(pred), str(ref), "--labels-json", str(ds), "--label-names", "5=tumour",
                 "--metrics", "dice,hd95", "--out", str(out), "--wide", str(wide), "--summary", str(summ),
                 "--fail-under", "dice:liver=0.5", "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == C.COLUMNS
    assert {(r["label"], r["name"]) for r in rows} == {("1", "liver"), ("2", "spleen"), ("5", "tumour"),
                                                       ("kidneys", "kidneys")}
    assert json.loads(Path(str(out) + ".options.json").read_text())["options"]["names"] == {
        "1": "liver", "2": "spleen", "5": "tumour"}
    with open(wide, newline="") as f:
        wrows = list(csv.DictReader(f))
    assert len(wrows) == 2 * 4 and list(wrows[0])[:7] == ["case_id", "label", "name", "empty_state", "convention",
                                                          "spacing", "shape"]
    assert wrows[0]["spacing"] == "2.5x0.8x0.8" and wrows[0]["name"] == "liver"
    assert float(wrows[0]["dice"]) == float(next(r["value"] for r in rows if r["metric"] == "dice"))
    s = json.loads(summ.read_text())
    assert s["names"] == {"1": "liver", "2": "spleen", "5": "tumour", "kidneys": "kidneys"}
    assert "1 liver" in captured.out and "5 tumour" in captured.out and "ok dice:liver >= 0.5" in captured.out


@pytest.mark.parametrize("argv, words", [
    (["--label-names", "liver"], ["--label-names expects LABEL=NAME", "'liver'"]),
    (["--label-names", "x=liver"], ["--label-names expects LABEL=NAME", "'x=liver'"]),
    (["--label-names", "1=a,2=a"], ["labels 1 and 2 have the same name 'a'"]),
    (["--labels-json", "{root}/nowhere.json"], ["cannot read the labels file"]),
    (["--labels-json", "{ds}", "--regions", "kidneys=3"], ["--regions kidneys=3 differs from the region 'kidneys'"]),
    (["--labels-json", "{ignore}", "--ignore-label", "8"], ["--ignore-label 8 differs from the ignore label 9"]),
    (["--fail-under", "dice:pancreas=0.5", "--labels", "1"], ["no region named 'pancreas', and no label has that name"]),
    (["--wide", "{pred}/case_00.nii.gz"], ["--wide", "is one of the run's input files"]),
    (["--wide", "{root}"], ["--wide", "is a folder"]),
])
def test_cli_label_and_output_errors_exit_2(cohort, argv, words, capsys):
    root, pred, ref, ds = cohort
    ignore = root / "ignore.json"
    ignore.write_text(json.dumps({"labels": {"background": 0, "liver": 1, "ignore": 9}}))
    argv = [a.format(root=root, ds=ds, ignore=ignore, pred=pred) for a in argv]
    assert main(["evaluate", str(pred), str(ref), "--metrics", "dice", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err


def test_cli_beta_and_tversky(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=1)
    out = tmp_path / "r.csv"
    code = main(["evaluate", str(pred), str(ref), "--metrics", "fbeta,tversky,tp,fn", "--beta", "2",
                 "--tversky", "0.3,0.7", "--labels", "1", "--out", str(out), "--fail-under", "fbeta@2=0.5",
                 "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for m in ("fbeta@2", "tversky@0.3/0.7", "tp", "fn"):
        assert m in captured.out
    assert main(["evaluate", str(pred), str(ref), "--metrics", "tversky", "--tversky", "0.3"]) == 2
    assert "--tversky expects ALPHA,BETA" in capsys.readouterr().err
    assert main(["evaluate", str(pred), str(ref), "--metrics", "fbeta", "--beta", "x"]) == 2
    assert "--beta expects numbers" in capsys.readouterr().err
