"""A run you can trust (issue 12): faults and concurrency never corrupt results, pass a gate that
should fail, or end in a traceback. Each test reproduces one failure of fastseg 0.1 (named in its
docstring) by fault injection: injected ``OSError``, paths that cannot be created (a regular file as
a folder: refused even to root), two concurrent processes, a closed stdout.
"""
import errno
import gzip
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from fastseg import cohort as C
from fastseg.cli import main
from tests.conftest import SPACING, break_second_write, write_cohort

SHAPE = (16, 24, 24)


def _cohort(root, n=4):
    return write_cohort(root, n=n, shape=SHAPE)


@pytest.fixture(scope="module")
def cohort4(tmp_path_factory):
    return _cohort(tmp_path_factory.mktemp("trust4"))


def _run(*args):
    return subprocess.run([sys.executable, "-m", "fastseg", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _one_line_error(err, *fragments):
    """stderr holds a one-line ``error:`` message with every fragment, and no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


# ----------------------------------------------------------------------------------- the results file

def test_a_second_writer_is_refused(cohort4, tmp_path, capsys):
    """0.1: two runs writing one --out at once both exited 0, with duplicated and torn rows."""
    pred, ref = cohort4
    out = tmp_path / "r.csv"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from fastseg.cohort.guard import ResultsLock; "
         f"lock = ResultsLock({str(out)!r}); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2
        _one_line_error(err, str(out), "another fastseg run is writing", f"process {holder.pid}")
        assert not out.exists()  # nothing written, not even the options record of the refused run
        assert not Path(str(out) + ".options.json").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder died without releasing: the kernel dropped its lock, the next run proceeds
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"]) == 0
    assert not Path(str(out) + ".lock").exists()


def test_two_concurrent_runs_never_mix_rows(cohort4, tmp_path):
    """Two processes started together on one --out with --resume: one writes, the other is refused
    (exit 2) or, if it starts after the first ended, resumes a complete file; never a doubled row."""
    pred, ref = cohort4
    out = tmp_path / "r.csv"
    args = [sys.executable, "-m", "fastseg", "evaluate", str(pred), str(ref), "--out", str(out), "--resume",
            "--metrics", "dice,hd95", "--quiet"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            assert "another fastseg run is writing" in err and "Traceback" not in err
    rows = C.read_results(out)
    keys = [(r["case_id"], r["label"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * 5 * 2
    text = out.read_text()
    assert text.endswith("\n") and text.count("case_id,label") == 1


def test_resume_without_options_record_is_refused(cohort4, tmp_path, capsys):
    """0.1: --resume on a results file whose OUT.options.json was missing mixed nsd@2 and nsd@1 rows."""
    pred, ref = cohort4
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--tolerance", "2", "--quiet"]) == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[: 1 + (len(lines) - 1) // 2]))  # a run killed half way
    Path(str(out) + ".options.json").unlink()
    before = out.read_text()
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--tolerance", "1", "--resume", "--quiet"])
    assert code == 2
    _one_line_error(capsys.readouterr().err, str(out), "options", "missing")
    assert out.read_text() == before


def test_full_disk_mid_run_loses_nothing_and_resume_completes(cohort4, tmp_path, monkeypatch, capsys):
    """0.1: a full disk left a torn last CSV line and a traceback with exit 1 ("gate failed")."""
    pred, ref = cohort4
    out = tmp_path / "r.csv"
    break_second_write(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))  # half way through case 2
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice,hd95", "--quiet"])
    assert code == 2
    _one_line_error(capsys.readouterr().err, str(out), "No space left on device")
    text = out.read_text()
    assert text.endswith("\n")  # the torn half line was cut off again
    kept = C.read_results(out)
    assert {r["case_id"] for r in kept} == {"case_00"} and len(kept) == 5 * 2
    monkeypatch.undo()  # the disk has room again
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice,hd95", "--quiet",
                 "--resume"]) == 0
    assert len(C.read_results(out)) == 4 * 5 * 2


def test_resume_repairs_a_torn_line(cohort4, tmp_path):
    """A torn last line (the process killed mid-write, or a disk that could not even be cut back) is
    dropped by the next --resume, and its case runs again."""
    pred, ref = cohort4
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet"]) == 0
    full = out.read_text()
    out.write_text(full[: len(full) - 7])
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet",
                 "--resume"]) == 0
    assert sorted(out.read_text().splitlines()) == sorted(full.splitlines())


@pytest.mark.parametrize("case", ["missing_folder", "under_a_file", "is_a_folder"])
def test_output_paths_that_cannot_be_written(cohort4, tmp_path, capsys, case):
    """0.1: --out in a missing folder (while --summary made its folder), under a file, or naming a
    folder gave raw tracebacks with exit 1 (and a stray options file for a folder)."""
    pred, ref = cohort4
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"missing_folder": tmp_path / "new" / "deeper" / "r.csv", "under_a_file": blocker / "r.csv",
           "is_a_folder": tmp_path}[case]
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice", "--quiet", "--overwrite"])
    err = capsys.readouterr().err
    if case == "missing_folder":  # created, as for --summary
        assert code == 0 and len(C.read_results(out)) == 4 * 5
        return
    assert code == 2
    _one_line_error(err, str(out))
    assert not Path(str(out) + ".options.json").exists()  # 0.1 left one next to a folder given as --out


def test_summary_that_cannot_be_written(cohort4, tmp_path, capsys, monkeypatch):
    """0.1: an unwritable --summary raised after every row was written (traceback, exit 1). Now a
    --summary that cannot be created is refused before any case runs, and one that fails at the end
    is a one-line error (exit 2) with every row kept."""
    pred, ref = cohort4
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = tmp_path / "r.csv"
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--summary", str(blocker / "s.json"),
                 "--metrics", "dice", "--quiet"])
    assert code == 2
    _one_line_error(capsys.readouterr().err, str(blocker / "s.json"))
    assert not out.exists()

    import fastseg.cli as cli

    def full_disk(path, data, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cli, "write_json_atomic", full_disk)
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--summary", str(tmp_path / "s.json"),
                 "--metrics", "dice", "--quiet"])
    assert code == 2
    _one_line_error(capsys.readouterr().err, "s.json", "No space left on device", str(out))
    assert len(C.read_results(out)) == 4 * 5


def test_stdout_closed_early_still_writes_the_summary(cohort4, tmp_path):
    """0.1: ``fastseg evaluate ... | head -1`` raised BrokenPipeError and never wrote --summary."""
    pred, ref = cohort4
    summary = tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "fastseg", "evaluate", str(pred), str(ref), "--summary",
                             str(summary), "--metrics", "dice,hd95", "--fail-under", "dice=0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `head -1` does once it has its line: every later write gets EPIPE
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    data = json.loads(summary.read_text())
    assert data["n_cases"] == 4 and data["gates"][0]["passed"]


def test_manifest_not_utf8(tmp_path, capsys):
    """0.1: a --manifest in Latin-1 raised UnicodeDecodeError with a traceback."""
    m = tmp_path / "pairs.csv"
    m.write_bytes("case_id,pred,ref\ncas\xe9,p.nii.gz,r.nii.gz\n".encode("latin-1"))
    assert main(["evaluate", "--manifest", str(m), "--quiet"]) == 2
    _one_line_error(capsys.readouterr().err, str(m), "UTF-8")


@pytest.mark.parametrize("which", ["--out", "--summary"])
def test_output_that_is_an_input_is_refused_even_with_overwrite(cohort4, tmp_path, capsys, which):
    """0.1: ``--out ref/case000.nii.gz --overwrite`` replaced a reference image with CSV text."""
    pred, ref = cohort4
    target = ref / "case_01.nii.gz"
    before = target.read_bytes()
    args = ["evaluate", str(pred), str(ref), "--metrics", "dice", "--quiet", "--overwrite"]
    args += [which, str(target)] if which == "--out" else ["--out", str(tmp_path / "r.csv"), which, str(target)]
    assert main(args) == 2
    _one_line_error(capsys.readouterr().err, str(target), "input")
    assert target.read_bytes() == before
    with pytest.raises(ValueError, match="input"):
        C.evaluate_cohort(C.pair_folders(pred, ref), metrics=["dice"], out=pred / "case_00.nii.gz",
                          overwrite=True)


def test_header_claiming_more_data_than_the_file_holds(tmp_path):
    """0.1: a 1.3 KB NIfTI whose header claims 1500^3 voxels allocated 3.5 GB before failing."""
    pred_dir, ref_dir = _cohort(tmp_path, n=1)
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.uint8)
    hdr.set_data_shape((1500, 1500, 1500))
    hdr.set_zooms(SPACING)
    hdr["vox_offset"] = 352
    for name, data in (("case_00.nii.gz", gzip.compress(hdr.binaryblock + b"\0" * 1000)),
                       ("case_00.nii", hdr.binaryblock + b"\0" * 1000)):
        for old in pred_dir.iterdir():
            old.unlink()
        (pred_dir / name).write_bytes(data)
        tracemalloc.start()
        try:
            res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 200e6, peak
        (cid, msg), = res.errors
        assert cid == "case_00" and "1500x1500x1500" in msg and "holds" in msg


# ----------------------------------------------------------------------------------- gates and summaries

def _write_run(tmp_path, name, pred, ref, *extra):
    out = tmp_path / name
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--metrics", "dice,hd95", "--quiet",
                 *extra]) in (0, 3)
    return out


def test_compare_never_passes_on_missing_or_failed_cases(cohort4, tmp_path, capsys):
    """0.1: ``compare BASE NEW`` exited 0 ("no regression") when NEW lacked most cases."""
    pred, ref = cohort4
    base = _write_run(tmp_path, "base.csv", pred, ref)
    rows = base.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.csv"  # NEW scored only the first case
    partial.write_text("".join(r for r in rows if r.startswith(("case_id", "case_00"))))
    capsys.readouterr()
    assert main(["compare", str(base), str(partial), "--max-drop", "dice=0.5"]) == 3
    err = capsys.readouterr().err
    assert "3 case(s)" in err and "case_01" in err and "case_03" in err and "does not pass" in err
    # an error row in NEW is not a pass either
    lost = tmp_path / "lost"
    lp, lr = _cohort(lost, n=4)
    (lp / "case_02.nii.gz").unlink()
    errored = _write_run(tmp_path, "errored.csv", lp, lr)
    assert main(["compare", str(base), str(errored), "--max-drop", "dice=0.5"]) == 3
    assert "case_02 (error row)" in capsys.readouterr().err
    assert main(["compare", str(base), str(base), "--max-drop", "dice=0.5"]) == 0


def test_compare_of_two_infinite_means_is_undefined():
    """0.1: the difference of two infinite means was reported as a finite number."""
    def rows(values):
        return [{"case_id": f"c{i}", "label": 1, "metric": "hd95", "value": x, "empty_state": "none",
                 "convention": "fastseg", "spacing": None, "shape": None, "diagonal_mm": 100.0, "case_rows": 1,
                 "error": ""} for i, x in enumerate(values)]

    res = C.compare(rows([np.inf, 1.0, 2.0]), rows([np.inf, 1.5, 2.5]), max_rise=[("hd95", None, 1.0)])
    row, = res["rows"]
    assert np.isinf(row["base_mean"]) and np.isinf(row["new_mean"]) and np.isnan(row["mean_diff"])
    assert row["regression"] and "undefined" in res["regressions"][0]
    capped = C.compare(rows([np.inf, 1.0, 2.0]), rows([np.inf, 1.5, 2.5]), max_rise=[("hd95", None, 1.0)],
                       cap_inf="diagonal")
    assert capped["rows"][0]["mean_diff"] == pytest.approx(1.0 / 3) and not capped["regressions"]


def test_all_pools_labels_only(cohort4, tmp_path):
    """0.1: ``--labels 1 --regions liver=1`` gave n=12 for 6 cases in the 'all' row."""
    pred, ref = cohort4
    res = C.evaluate_cohort(C.pair_folders(pred, ref), labels=[1], regions={"liver": [1]}, metrics=["dice"])
    s = res.summary()
    overall, = s["overall"]
    assert overall["label"] == "all" and overall["n"] == 4
    assert {(x["label"], x["n"]) for x in s["per_label"]} == {(1, 4), ("liver", 4)}


def test_label_absent_everywhere_is_warned_and_left_out_of_all(cohort4, capsys):
    """0.1: a label typo (scored 1.0 / 0 mm in every case, both empty) raised the overall mean silently."""
    pred, ref = cohort4
    base = C.evaluate_cohort(C.pair_folders(pred, ref), labels=[1, 2], metrics=["dice"]).summary()
    typo = C.evaluate_cohort(C.pair_folders(pred, ref), labels=[1, 2, 22], metrics=["dice"]).summary()
    assert typo["overall"][0]["mean"] == base["overall"][0]["mean"]
    assert typo["n_both_empty"] == 4 and typo["absent_structures"] == [22]
    per = {x["label"]: x for x in typo["per_label"]}
    assert per[22]["mean"] == 1.0 and per[22]["n_both_empty"] == 4
    assert main(["evaluate", str(pred), str(ref), "--labels", "1,2,22", "--metrics", "dice"]) == 0
    out, err = capsys.readouterr()
    assert "label 22 is absent from pred and ref in every case" in err
    assert "4 values of structures absent from both" in out


@pytest.mark.parametrize("gate, message", [
    ("--fail-under=dice=85", "did you mean 0.85"),
    ("--fail-over=hd95=-1", "hd95 lies in [0, inf]"),
    ("--fail-under=mcc=1.5", "mcc lies in [-1, 1]"),
    ("--fail-under=dice:7=0.5", "label 7 is not scored"),
    ("--fail-under=dice:kidneys=0.5", "no region named 'kidneys'"),
])
def test_gates_that_cannot_mean_anything_are_usage_errors(cohort4, capsys, gate, message):
    """0.1: ``--fail-under dice=85`` was accepted (and always failed); a gate on a missing label
    exited 1 like a failed gate."""
    pred, ref = cohort4
    opt, spec = gate.split("=", 1)
    assert main(["evaluate", str(pred), str(ref), "--labels", "1,2", "--metrics", "dice,hd95,mcc", opt, spec]) == 2
    _one_line_error(capsys.readouterr().err, message)


def test_gate_on_a_label_no_case_has_is_a_usage_error(cohort4, capsys):
    pred, ref = cohort4
    assert main(["evaluate", str(pred), str(ref), "--metrics", "dice", "--fail-under", "dice:9=0.5"]) == 2
    assert "no case has the label or region" in capsys.readouterr().err
    assert main(["compare", "x.csv", "y.csv", "--max-drop", "dice=2"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_quiet_prints_only_what_failed(cohort4, capsys):
    """0.1: --quiet still printed the whole summary table."""
    pred, ref = cohort4
    assert main(["evaluate", str(pred), str(ref), "--metrics", "dice", "--quiet", "--fail-under", "dice=0.5"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["evaluate", str(pred), str(ref), "--metrics", "dice", "--quiet", "--fail-under", "dice=0.99"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED dice >= 0.99") and "metric" not in out


# ----------------------------------------------------------------------------------- pairing

def test_nnunet_channel_suffix_hint(tmp_path, capsys):
    """0.1: ``case_000_0000.nii.gz`` against ``case_000.nii.gz`` gave two unrelated 'missing' rows."""
    pred, ref = _cohort(tmp_path, n=2)
    for f in pred.iterdir():  # named as nnU-Net names its input images
        f.rename(pred / f.name.replace(".nii.gz", "_0000.nii.gz"))
    cases = C.pair_folders(pred, ref)
    assert len(cases) == 4
    for c in cases:
        assert "Did you mean" in c.problem and "channel suffix" in c.problem
    assert main(["evaluate", str(pred), str(ref), "--quiet"]) == 3
    assert "Did you mean 'case_00' in REF?" in capsys.readouterr().err


def test_evaluate_cohort_takes_two_folders(cohort4):
    """0.1: ``fastseg.evaluate_cohort(pred_dir, ref_dir)`` raised TypeError."""
    import fastseg

    pred, ref = cohort4
    a = fastseg.evaluate_cohort(pred, ref, metrics=["dice"])
    b = fastseg.evaluate_cohort(C.pair_folders(pred, ref), metrics=["dice"])
    assert a.rows == b.rows and len(a.case_ids) == 4
    with pytest.raises(TypeError, match="two folders"):
        fastseg.evaluate_cohort(C.pair_folders(pred, ref), ref, metrics=["dice"])


# ----------------------------------------------------------------------------------- first run

def test_first_compile_is_announced_once(cohort4, tmp_path):
    """0.1: the first run compiled kernels for 15-25 s in silence. A fresh numba cache: the CLI says
    so on stderr; the second run, from the cache, does not."""
    pred, ref = cohort4
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    args = [sys.executable, "-m", "fastseg", "evaluate", str(pred), str(ref), "--metrics", "dice"]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("compiling the numba kernels") == 1
    t0 = time.perf_counter()
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0 and "compiling" not in second.stderr, second.stderr
    assert time.perf_counter() - t0 < 60


def test_compare_shows_label_names(cohort4, tmp_path, capsys):
    """Names reach compare's table and its regression messages (issue 15: names in every output)."""
    pred, ref = cohort4
    runs = []
    for name in ("a.csv", "b.csv"):
        runs.append(tmp_path / name)
        assert main(["evaluate", str(pred), str(ref), "--out", str(runs[-1]), "--metrics", "dice", "--quiet",
                     "--label-names", "1=liver,2=spleen"]) == 0
    capsys.readouterr()
    rows = C.read_results(runs[1])
    worse = [dict(r, value=r["value"] - 0.5) if r["label"] == 1 else r for r in rows]
    res = C.compare(C.read_results(runs[0]), worse, max_drop=[("dice", None, 0.1)])
    assert res["rows"][0]["name"] == "liver"
    assert any("of label 1 liver" in m for m in res["regressions"])
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    assert "1 liver" in capsys.readouterr().out
