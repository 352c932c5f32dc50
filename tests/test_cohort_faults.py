"""Fault injection on the cohort runner (a fresh QA pass after issue 12): races between runs, a run
killed while a program reads its output, Ctrl-C in the middle of a write, file names that are not
UTF-8. Each test failed before its fix (named in its docstring)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastseg import cohort as C
from fastseg.cli import main
from fastseg.cohort import run as RUN
from fastseg.cohort import workers as W
from tests.conftest import break_second_write, write_cohort

SHAPE = (16, 24, 24)


@pytest.fixture(scope="module")
def cohort3(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("faults3"), n=3, shape=SHAPE)


def test_a_run_refused_under_the_lock_keeps_the_winners_options_record(cohort3, tmp_path, monkeypatch):
    """Before: a run that passed the "output exists" check, then took the lock after another run had
    written the file, replaced that run's OUT.options.json with its own options before being refused;
    a later --resume with the loser's options was accepted and mixed two runs' metrics in one file."""
    pred, ref = cohort3
    out = tmp_path / "r.csv"
    real_lock = RUN.ResultsLock

    class RaceLost(real_lock):
        def __init__(self, path):  # the other run starts and finishes between our check and our lock
            monkeypatch.setattr(RUN, "ResultsLock", real_lock)
            C.evaluate_cohort(C.pair_folders(pred, ref), metrics=["dice"], out=out)
            super().__init__(path)

    monkeypatch.setattr(RUN, "ResultsLock", RaceLost)
    with pytest.raises(ValueError, match="exists"):
        C.evaluate_cohort(C.pair_folders(pred, ref), metrics=["hd95"], out=out)
    record = json.loads(Path(str(out) + ".options.json").read_text())
    assert record["options"]["metrics"] == ["dice"]
    with pytest.raises(ValueError, match="other options"):
        C.evaluate_cohort(C.pair_folders(pred, ref), metrics=["hd95"], out=out, resume=True)
    assert {r["metric"] for r in C.read_results(out)} == {"dice"}
    assert not Path(str(out) + ".lock").exists()


def test_ctrl_c_in_the_middle_of_a_write_leaves_no_torn_line(cohort3, tmp_path, monkeypatch, capsys):
    """Before: Ctrl-C arriving while a case was being written left half of it in the file's buffer, and
    closing the file flushed it: a torn last line (only a later --resume repaired it)."""
    pred, ref = cohort3
    out = tmp_path / "r.csv"

    break_second_write(monkeypatch, KeyboardInterrupt())  # half of case 2 written, flushed
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"])
    assert code not in (0, 1, 3)
    assert "interrupted" in capsys.readouterr().err
    text = out.read_text()
    assert text.endswith("\n") and text.count("\n") == 1 + 5
    assert {r["case_id"] for r in C.read_results(out)} == {"case_00"}
    monkeypatch.undo()
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet", "--resume"]) == 0
    assert len(C.read_results(out)) == 3 * 5


def test_a_file_name_that_is_not_utf8_is_a_case_like_any_other(tmp_path, capsys):
    """Before: a case named in Latin-1 on a UTF-8 system (``case\\xff.nii.gz``) raised
    UnicodeEncodeError writing its rows: a traceback, exit 1 (the "gate failed" code), and every
    --resume failed again at that case, so the cohort could never complete."""
    if sys.platform != "linux":  # pragma: no cover - other file systems refuse such names
        pytest.skip("needs a file system that stores raw bytes")
    pred, ref = write_cohort(tmp_path, n=2, shape=SHAPE)
    for folder in (pred, ref):
        os.rename(folder / "case_01.nii.gz", os.fsencode(folder) + b"/case\xff.nii.gz")
    out = tmp_path / "r.csv"
    args = ["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"]
    assert main(args + ["--summary", str(tmp_path / "s.json")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    rows = C.read_results(out)
    assert sorted({r["case_id"] for r in rows}) == ["case\\xff", "case_00"] and len(rows) == 2 * 5
    assert json.loads((tmp_path / "s.json").read_text())["n_cases"] == 2
    before = out.read_text()
    assert main(args + ["--resume"]) == 0  # the case is recognised as done: nothing runs again
    assert out.read_text() == before


def test_two_names_written_alike_are_refused_before_any_case(tmp_path, capsys):
    """Before: ``case\\xff`` (a Latin-1 byte) and a file literally named ``case\\xff`` (a backslash)
    were two cases with one id in the results file: a --resume took the second for done and never
    scored it. Now the run is refused up front, naming both."""
    if sys.platform != "linux":  # pragma: no cover - other file systems refuse such names
        pytest.skip("needs a file system that stores raw bytes")
    pred, ref = write_cohort(tmp_path, n=2, shape=SHAPE)
    for folder in (pred, ref):
        os.rename(folder / "case_00.nii.gz", os.fsencode(folder) + b"/case\xff.nii.gz")
        os.rename(folder / "case_01.nii.gz", os.fsencode(folder) + b"/case\\xff.nii.gz")
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "case ids must be unique" in err and "case\\xff" in err and "Traceback" not in err
    assert not out.exists()


def test_a_killed_parent_not_yet_reaped_is_dead_to_its_workers():
    """Before: ``alive`` took an unreaped (zombie) parent for a live one."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline:  # exited, not reaped
        with open(f"/proc/{proc.pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
        time.sleep(0.01)
    try:
        assert not W.alive(proc.pid)
    finally:
        proc.wait()
    assert W.alive(os.getpid())


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and /proc")
def test_sigkill_while_a_caller_reads_the_output_does_not_hang(tmp_path):
    """Before: ``fastseg evaluate --jobs 2`` killed (SIGKILL: a CI timeout, the OOM killer) under a
    caller that reads its stderr to the end before reaping it (``Popen.communicate``) hung forever:
    the workers held stderr open and waited for the parent, a zombie until the caller reaped it."""
    pred, ref = write_cohort(tmp_path, n=8, shape=SHAPE)
    out = tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "fastseg", "evaluate", str(pred), str(ref), "--out", str(out),
                             "--jobs", "2", "--metrics", "dice,hd95", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                if children.read_text().split():
                    break
            except OSError:
                break
            time.sleep(0.01)
        if proc.poll() is not None:  # pragma: no cover - the run finished before it could be killed
            pytest.skip("the run ended before its workers started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=20)  # reads to end of file first, then reaps
        assert proc.returncode == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started, if anything is left
        except (ProcessLookupError, PermissionError):
            pass
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    rows = C.read_results(out) if out.exists() else []  # whatever was finished is intact; --resume completes it without doubles
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--jobs", "2", "--metrics", "dice,hd95",
                 "--quiet", "--resume"]) == 0
    final = C.read_results(out)
    keys = [(r["case_id"], r["label"], r["metric"]) for r in final]
    assert len(keys) == len(set(keys)) == 8 * 5 * 2 and len(rows) <= len(final)


def test_summary_json_passes_only_when_the_exit_code_does(cohort3, tmp_path, capsys):
    """Before: with a case that could not be scored, the run exited 3 but summary.json's gates said
    "passed": true; a CI job reading only the summary saw a pass. The summary now carries ``passed``,
    true exactly when the run exits 0."""
    pred, ref = cohort3
    ok_summary, bad_summary = tmp_path / "ok.json", tmp_path / "bad.json"
    args = [str(pred), str(ref), "--quiet", "--fail-under", "dice=0.0"]
    assert main(["evaluate", *args, "--summary", str(ok_summary)]) == 0
    assert json.loads(ok_summary.read_text())["passed"] is True
    broken = tmp_path / "pred"
    broken.mkdir()
    for f in sorted(Path(pred).iterdir()):
        (broken / f.name).write_bytes(f.read_bytes())
    victim = sorted(broken.iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated: an error row
    assert main(["evaluate", str(broken), str(ref), "--quiet", "--fail-under", "dice=0.0",
                 "--summary", str(bad_summary)]) == 3
    got = json.loads(bad_summary.read_text())
    assert got["passed"] is False and all(g["passed"] for g in got["gates"])  # the gates alone would pass


@pytest.mark.parametrize("suffix", [".options.json", ".lock"])
def test_outputs_may_not_be_the_runs_own_records(cohort3, tmp_path, capsys, suffix):
    """Before: --summary (or --wide, --report) could name OUT.options.json, which broke every later
    --resume, or OUT.lock, deleted when the run ended."""
    pred, ref = cohort3
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(pred), str(ref), "--quiet", "--out", str(out),
                 "--summary", str(out) + suffix]) == 2
    assert "--summary" in capsys.readouterr().err
