"""Lesion-wise evaluation inside evaluate() and cohort runs: the per-case rows equal fastseg.lesions on
each structure's masks, the per-lesion file is written case by case, kept in step with the main
results file on resume (also after a run killed between the two files), and the rule is part of the
options a resume must match."""
import csv

import numpy as np
import pytest

import fastseg
from fastseg import cohort as C
from fastseg.cli import main
from fastseg.phantom import phantom_pair
from tests.conftest import write_cohort


def test_evaluate_lesions_equal_lesions_per_structure():
    p, r, sp = phantom_pair(shape=(20, 48, 48), seed=3)
    res = fastseg.evaluate(p, r, spacing=sp, metrics=["dice"], lesions="brats2023-met", tolerance=1.0,
                           regions={"kidneys": [3, 4]})
    for key, members in ((1, [1]), (3, [3]), ("kidneys", [3, 4])):
        want = fastseg.lesions(np.isin(p, members), np.isin(r, members), spacing=sp, rule="brats2023-met",
                               tolerance=1.0)
        got = {row["metric"]: row["value"] for row in res.rows if row["label"] == key}
        for name, value in want.metric_items():
            assert got[name] == value or (np.isnan(got[name]) and np.isnan(value)), (key, name)
        assert len(res.lesions[key].instances) == len(want.instances)
    assert fastseg.evaluate(p, r, spacing=sp, metrics=["dice"]).lesions is None
    with pytest.raises(ValueError, match="rule must be one of"):
        fastseg.evaluate(p, r, lesions="nope")


def _lesion_lines(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_cohort_lesion_file_resumes_in_step(tmp_path):
    pred, ref = write_cohort(tmp_path, n=4)
    cases = C.pair_folders(pred, ref)
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    full = C.evaluate_cohort(cases, metrics=["dice"], lesions="fastseg", out=out, lesions_out=lo)
    rows = _lesion_lines(lo)
    assert {r["case_id"] for r in rows} == {c.case_id for c in cases}
    assert all(r["status"] in ("tp", "fn", "fp") for r in rows)
    want = sorted(tuple(r.values()) for r in rows)
    assert any(r["metric"] == "lesion_f1" for r in full.rows)
    # a run killed after a case's lesion rows but before its main rows: that case runs again, once
    main_lines = out.read_text().splitlines(keepends=True)
    keep = [line for line in main_lines if not line.startswith("case_03")]
    out.write_text("".join(keep))
    ran = []
    C.evaluate_cohort(cases, metrics=["dice"], lesions="fastseg", out=out, lesions_out=lo, resume=True,
                      on_case=lambda rows: ran.append(rows[0]["case_id"]))
    assert ran == ["case_03"]
    assert sorted(tuple(r.values()) for r in _lesion_lines(lo)) == want
    # another rule is another definition: refused
    with pytest.raises(ValueError, match="other options"):
        C.evaluate_cohort(cases, metrics=["dice"], lesions="wmh", out=out, lesions_out=lo, resume=True)
    with pytest.raises(ValueError, match="lesions_out needs lesions"):
        C.evaluate_cohort(cases, metrics=["dice"], lesions_out=tmp_path / "x.csv")


def test_cli_lesions_and_gates(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=2)
    lo = tmp_path / "l.csv"
    code = main(["evaluate", str(pred), str(ref), "--metrics", "dice", "--lesions", "wmh", "--lesions-out", str(lo),
                 "--fail-under", "lesion_f1=0.2", "--quiet"])
    assert code == 0
    assert _lesion_lines(lo)
    assert main(["evaluate", str(pred), str(ref), "--metrics", "dice", "--fail-under", "lesion_f1=0.2"]) == 2
    assert "does not compute" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        main(["evaluate", str(pred), str(ref), "--lesions", "nope"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err
