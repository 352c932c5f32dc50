"""Lesion-wise cohort runs (``--lesions RULE --lesions-out LESIONS.csv``) under faults and resumes.

The rules: a run never loses a finished result, never writes over an input, never leaves the results
file and the per-lesion file disagreeing about which cases are done, and a gate never passes when it
should fail. Runs killed (SIGKILL of the CLI, an OSError or Ctrl-C in the middle of a write) between
or inside the two files' writes resume to exactly a clean run's lines; resumes that change the
lesion file, and lesion files that are not one, are refused; gates on lesion metrics fail on
misses, spurious lesions and errored cases under every rule.
"""
import csv
import errno
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastseg
from fastseg import cohort as C
from fastseg.cli import main
from fastseg.cohort import lesion_file as LF
from fastseg.cohort import results as R
from fastseg.metrics.lesions import RULES
from tests.conftest import break_second_write, save_nifti, write_cohort

ROOT = Path(__file__).resolve().parents[1]
KW = dict(metrics=["dice"], lesions="fastseg")
CLI = ["--metrics", "dice", "--lesions", "fastseg", "--jobs", "1", "--quiet"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Three phantom cases, and the sorted lines of a clean run's results and lesion files."""
    root = tmp_path_factory.mktemp("lesion_faults")
    pred, ref = write_cohort(root, n=3)
    out, lo = root / "clean.csv", root / "clean_lesions.csv"
    C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, **KW)
    return pred, ref, _lines(out), _lines(lo)


def _lines(path):
    text = Path(path).read_text()
    assert text.endswith("\n")
    head, *rows = text.splitlines(keepends=True)
    return head, sorted(rows)


def _lesion_cases(path):
    with open(path, newline="") as f:
        return {r["case_id"] for r in csv.DictReader(f)}


def _assert_clean(cohort, out, lo):
    """Both files equal the clean run's (as sets of lines: every case once, no torn line)."""
    *_, clean_out, clean_lo = cohort
    assert _lines(out) == clean_out
    assert _lines(lo) == clean_lo


def _break_lesion_write(monkeypatch, error, n=2):
    """The lesion file's ``n``-th case write writes half of its text, flushes it, then raises ``error``."""
    break_second_write(monkeypatch, error, cls=LF.LesionFile, n=n)


# ------------------------------------------------------------------------ faults, then --resume

@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["full-disk", "ctrl-c"])
def test_fault_inside_the_lesion_write_then_resume(cohort, tmp_path, monkeypatch, error):
    pred, ref, *_ = cohort
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    with monkeypatch.context() as m:
        _break_lesion_write(m, error)
        with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else R.OutputError):
            C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, **KW)
    # cut back to the last whole case; the results file never got the broken case
    assert _lesion_cases(lo) == {"case_00"} and {r["case_id"] for r in C.read_results(out)} == {"case_00"}
    assert lo.read_text().endswith("\n")
    ran = []
    C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, resume=True,
                      on_case=lambda rows: ran.append(rows[0]["case_id"]), **KW)
    assert ran == ["case_01", "case_02"]
    _assert_clean(cohort, out, lo)


def test_fault_inside_the_results_write_then_resume(cohort, tmp_path, monkeypatch):
    """The lesion rows of case_01 are written, its results write fails half way: on resume case_01's
    lesion rows are dropped and the case runs again, once."""
    pred, ref, *_ = cohort
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    with monkeypatch.context() as m:
        break_second_write(m, OSError(errno.ENOSPC, "No space left on device"))
        with pytest.raises(R.OutputError):
            C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, **KW)
    assert _lesion_cases(lo) == {"case_00", "case_01"}
    assert {r["case_id"] for r in C.read_results(out)} == {"case_00"}
    C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, resume=True, **KW)
    _assert_clean(cohort, out, lo)


DRIVER = r"""
import os, signal, sys
from fastseg.cohort import lesion_file as L, results as R
mode, args = sys.argv[1], sys.argv[2:]
count = [0]

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

def patch(cls, text_of):
    def write_case(self, rows):
        count[0] += 1
        text = text_of(self, rows)
        if count[0] == 2:  # the second case
            if mode == "between":
                kill()
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            kill()
        self.append(text)
    cls.write_case = write_case

if mode in ("between", "mid-results"):
    patch(R.ResultsFile, lambda self, rows: R.rows_to_text(rows))
else:
    patch(L.LesionFile, lambda self, rows: L._text(rows, self.columns))
from fastseg.cli import main
sys.exit(main(args))
"""


@pytest.mark.parametrize("mode", ["between", "mid-lesions", "mid-results"])
def test_sigkill_of_the_cli_then_resume(cohort, tmp_path, mode):
    """SIGKILL after case_01's lesion rows and before its results rows, or half way through either
    write: ``--resume`` gives the clean run's two files."""
    pred, ref, *_ = cohort
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    args = ["evaluate", str(pred), str(ref), *CLI, "--out", str(out), "--lesions-out", str(lo)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", DRIVER, mode, *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert {r["case_id"] for r in C.read_results(out)} == {"case_00"}
    assert main([*args, "--resume"]) == 0
    _assert_clean(cohort, out, lo)


# ------------------------------------------------------------------------ resumes that change the files

def test_lesion_file_refuses_a_kept_case_without_its_rows(cohort, tmp_path):
    """LesionFile itself (given the main file's kept rows): a resume whose lesion file lacks a kept
    case's rows, or is not a lesion file, is refused before anything is written."""
    pred, ref, *_ = cohort
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    C.evaluate_cohort(C.pair_folders(pred, ref), out=out, lesions_out=lo, **KW)
    kept = C.read_results(out)
    done = {r["case_id"] for r in kept}
    units = LF.expected_units(kept)
    assert set(units) == done and sum(units.values()) == len(LF.read_lesion_rows(lo)) > 0
    before = lo.read_bytes()
    LF.LesionFile(lo, None, resume=True, keep=done, results=kept).close()  # in step: kept as it was
    assert lo.read_bytes() == before
    lines = lo.read_text().splitlines(keepends=True)
    lo.write_text("".join(line for line in lines if not line.startswith("case_01")))
    with pytest.raises(ValueError, match="does not hold the lesion rows of 1 case.*case_01"):
        LF.LesionFile(lo, None, resume=True, keep=done, results=kept)
    with pytest.raises(ValueError, match="does not hold the lesion rows of 3 case"):
        LF.LesionFile(tmp_path / "new.csv", None, resume=True, keep=done, results=kept)
    assert not (tmp_path / "new.csv").exists()
    # an unreadable or foreign file named as the lesion file is refused, not replaced or a traceback
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(ValueError, match="not UTF-8"):
        LF.LesionFile(binary, None, resume=True, keep=set())
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own,header\n")
    with pytest.raises(ValueError, match="not a fastseg lesion results file"):
        LF.LesionFile(notes, None, resume=True, keep=set())
    assert binary.read_bytes() == b"\xff\xfe\x00 not text" and notes.read_text() == "my,own,header\n"


def test_lesion_file_fsync(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    lf = LF.LesionFile(tmp_path / "l.csv", None, resume=False, keep=set(), fsync=True)
    lf.write_case([])
    lf.close()
    assert [os.path.basename(p) for p in synced] == ["l.csv.tmp", "l.csv"]


def test_cohort_fsync_covers_the_lesion_file(cohort, tmp_path, monkeypatch):
    """With fsync (survive a power cut), the lesion rows must be on disk before the results rows that
    claim the case, else a case the results file holds can lack its lesion rows."""
    pred, ref, *_ = cohort
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))),
                                                  real(fd)))
    C.evaluate_cohort(C.pair_folders(pred, ref), out=tmp_path / "r.csv", lesions_out=tmp_path / "l.csv", fsync=True,
                      **KW)
    order = [name for name in synced if name in ("l.csv", "r.csv")]
    assert order == ["r.csv"] + ["l.csv", "r.csv"] * 3  # the header, then each case: its lesion rows first


@pytest.mark.parametrize("how", ["added", "moved"])
def test_resume_that_changes_the_lesion_file_is_refused(cohort, tmp_path, how):
    """A resume with --lesions-out added, or naming another file, would leave the lesion file without
    the kept cases' rows while the results file holds them."""
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    first = None if how == "added" else tmp_path / "first.csv"
    C.evaluate_cohort(cases[:2], out=out, lesions_out=first, **KW)
    with pytest.raises(ValueError, match="does not hold the lesion rows|other options"):
        C.evaluate_cohort(cases, out=out, lesions_out=lo, resume=True, **KW)
    assert {r["case_id"] for r in C.read_results(out)} == {"case_00", "case_01"}  # nothing finished lost
    assert not lo.exists() or _lesion_cases(lo) == set()


def test_resume_that_drops_the_lesion_file_is_refused(cohort, tmp_path):
    """A resume without the --lesions-out of the run it continues leaves that file without the new
    cases (and a later resume naming it again would keep it so)."""
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    C.evaluate_cohort(cases[:1], out=out, lesions_out=lo, **KW)
    with pytest.raises(ValueError, match="other options"):
        C.evaluate_cohort(cases, out=out, resume=True, **KW)
    assert {r["case_id"] for r in C.read_results(out)} == {"case_00"} and _lesion_cases(lo) == {"case_00"}


def test_resume_with_stale_lesion_rows_of_an_older_run_is_refused(cohort, tmp_path):
    """An overwrite without --lesions-out, then a resume naming the older lesion file: its rows (same
    case ids, same counts) come from another run and must not be kept as this run's."""
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    C.evaluate_cohort(cases[:2], out=out, lesions_out=lo, **KW)
    C.evaluate_cohort(cases[:2], out=out, overwrite=True, **KW)
    with pytest.raises(ValueError, match="other options"):
        C.evaluate_cohort(cases, out=out, lesions_out=lo, resume=True, **KW)


def test_retry_errors_and_overwrite_keep_the_files_in_step(cohort, tmp_path):
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    out, lo = tmp_path / "r.csv", tmp_path / "l.csv"
    broken = [cases[0], C.Case("case_01", str(tmp_path / "missing.nii.gz"), cases[1].ref), cases[2]]
    first = C.evaluate_cohort(broken, out=out, lesions_out=lo, **KW)
    assert [cid for cid, _ in first.errors] == ["case_01"] and _lesion_cases(lo) == {"case_00", "case_02"}
    ran = []
    C.evaluate_cohort(cases, out=out, lesions_out=lo, resume=True, retry_errors=True,
                      on_case=lambda rows: ran.append(rows[0]["case_id"]), **KW)
    assert ran == ["case_01"]
    _assert_clean(cohort, out, lo)
    # overwrite replaces both files, nothing of the run before kept
    C.evaluate_cohort(cases[:1], out=out, lesions_out=lo, overwrite=True, **KW)
    assert _lesion_cases(lo) == {"case_00"} and {r["case_id"] for r in C.read_results(out)} == {"case_00"}
    with pytest.raises(ValueError, match="exists"):
        C.evaluate_cohort(cases, out=tmp_path / "other.csv", lesions_out=lo, **KW)


def test_two_runs_sharing_a_lesion_file_are_refused(cohort, tmp_path):
    """Another run (another results file, --overwrite) naming the same lesion file while this one runs
    replaces the file under it: this run's lesion rows are lost."""
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    lo = tmp_path / "l.csv"
    second = []

    def on_case(rows):
        if not second:
            try:
                C.evaluate_cohort(cases[:1], out=tmp_path / "other.csv", lesions_out=lo, overwrite=True, **KW)
                second.append("ran")
            except ValueError as exc:
                second.append(str(exc))

    C.evaluate_cohort(cases, out=tmp_path / "r.csv", lesions_out=lo, on_case=on_case, **KW)
    assert "another fastseg run" in second[0]
    assert _lesion_cases(lo) == {"case_00", "case_01", "case_02"}


def test_lesions_out_naming_an_input_or_the_results_file(cohort, tmp_path):
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    out = tmp_path / "r.csv"
    before = Path(cases[0].ref).read_bytes()
    for target in (cases[0].ref, cases[1].pred, out):
        with pytest.raises(ValueError, match="input files"):
            C.evaluate_cohort(cases, out=out, lesions_out=target, overwrite=True, **KW)
    assert Path(cases[0].ref).read_bytes() == before


@pytest.mark.parametrize("target", ["manifest", "summary", "options"])
def test_cli_lesions_out_naming_the_manifest_or_another_output(cohort, tmp_path, target):
    """``--lesions-out`` naming the manifest (an input) with --overwrite replaced it; naming --summary
    lost the lesion rows; naming OUT.options.json lost the record every resume needs."""
    pred, ref, *_ = cohort
    cases = C.pair_folders(pred, ref)
    man, out, summary = tmp_path / "pairs.csv", tmp_path / "r.csv", tmp_path / "s.json"
    man.write_text("case_id,pred,ref\n" + "".join(f"{c.case_id},{c.pred},{c.ref}\n" for c in cases))
    text = man.read_text()
    lo = {"manifest": man, "summary": summary, "options": Path(str(out) + ".options.json")}[target]
    code = main(["evaluate", "--manifest", str(man), *CLI, "--out", str(out), "--summary", str(summary),
                 "--lesions-out", str(lo), "--overwrite"])
    assert man.read_text() == text
    assert code == 2


# ------------------------------------------------------------------------ gates on lesion metrics

def _gate_rows(rule, cases):
    rows = []
    for cid, (p, r) in cases.items():
        res = fastseg.evaluate(p, r, spacing=(1.0, 1.0, 1.0), metrics=["dice"], labels=[1], lesions=rule)
        rows += [dict(x, case_id=cid, diagonal_mm=math.sqrt(3) * 16) for x in res.rows]
    return rows


def _blob(at):
    a = np.zeros((16, 16, 16), np.uint8)
    a[at:at + 4, at:at + 4, at:at + 4] = 1  # 64 mm^3: scored by every rule (BraTS leaves out <= 50 mm^3)
    return a


@pytest.mark.parametrize("rule", sorted(RULES))
def test_gates_on_lesion_metrics_with_empty_cases(rule):
    """Both empty (no lesion on either side) is left out of the pooled mean (it says nothing); a miss
    and a spurious lesion each make lesion_f1 0 and lesionwise_hd95 the rule's penalty, so the gates
    fail; precision / recall with nothing to count are NaN (or 1 where the rule says so)."""
    empty, blob = np.zeros((16, 16, 16), np.uint8), _blob(4)
    good = {"perfect": (blob, blob), "none": (empty, empty)}
    gates = dict(fail_under=[("lesion_f1", None, 0.8)], fail_over=[("lesionwise_hd95", None, 5.0)])
    rows = _gate_rows(rule, good)
    by = {(r["case_id"], r["metric"]): r["value"] for r in rows}
    assert by[("none", "lesion_f1")] == 1.0 and by[("none", "lesionwise_hd95")] == 0.0
    assert all(g["passed"] for g in C.check_gates(C.summarize(rows), **gates))
    empty_detection = 1.0 if RULES[rule].empty_detection == "one" else math.nan
    for name, pair, undefined in (("miss", (empty, blob), "lesion_precision"),
                                  ("spurious", (blob, empty), "lesion_recall")):
        bad = _gate_rows(rule, {name: pair})
        got = {r["metric"]: r["value"] for r in bad}
        assert got["lesion_f1"] == 0.0 and got["lesionwise_hd95"] > 5.0, (name, got)
        assert got[undefined] == empty_detection or (math.isnan(got[undefined]) and math.isnan(empty_detection))
        results = C.check_gates(C.summarize(rows + bad), **gates)
        assert [g["passed"] for g in results] == [False, False], (name, results)


def test_cli_gates_fail_on_a_miss_and_on_an_errored_case(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=2)
    ref_arr = np.asarray(__import__("nibabel").load(str(ref / "case_01.nii.gz")).dataobj)
    save_nifti(pred / "case_01.nii.gz", np.zeros_like(ref_arr))  # every lesion missed
    gates = ["--fail-under", "lesion_f1=0.8", "--fail-over", "lesionwise_hd95=5"]
    assert main(["evaluate", str(pred), str(ref), *CLI, *gates]) == 1
    err = capsys.readouterr().out
    assert "FAILED lesion_f1 >= 0.8" in err and "FAILED lesionwise_hd95 <= 5" in err
    # an errored case: exit 3 even when the gates pass on the cases left, and the summary says failed
    save_nifti(pred / "case_01.nii.gz", np.zeros((5, 5, 5), np.uint8))
    summary = tmp_path / "s.json"
    assert main(["evaluate", str(pred), str(ref), *CLI, "--fail-under", "lesion_f1=0.0", "--summary",
                 str(summary)]) == 3
    import json
    assert json.loads(summary.read_text())["passed"] is False
