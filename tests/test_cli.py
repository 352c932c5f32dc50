"""The ``fastseg`` command line, end to end through ``python -m fastseg`` on NIfTI cohorts: values,
error rows, exit codes, gates, SIGKILL + --resume, compare, demo. Usage errors are checked in-process.

Every subprocess pays the import and the numba cache load (1-3 s), so their number is kept small.
"""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastseg
from fastseg import cohort as C
from fastseg.cli import main
from fastseg.io import load
from fastseg.phantom import phantom_pair

from tests.conftest import SHAPE, SPACING, save_nifti, write_cohort


def fastseg_cmd(*args):
    return [sys.executable, "-m", "fastseg", *map(str, args)]


def run(*args, timeout=180):
    return subprocess.run(fastseg_cmd(*args), capture_output=True, text=True, timeout=timeout)


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sorted_lines(path):
    return sorted(Path(path).read_text().splitlines())


# ------------------------------------------------------------------------------------- in-process

def test_help_documents_exit_codes(capsys):
    """Each command's help lists its own exit codes (compare's differ from evaluate's: issue 12)."""
    evaluate_codes = ("0  success", "1  a gate failed", "2  usage error", "3  case errors")
    compare_codes = ("0  no regression", "1  a regression", "2  usage error", "3  incomplete")
    for argv, codes, not_there in ((["evaluate", "--help"], evaluate_codes, compare_codes),
                                   (["compare", "--help"], compare_codes, evaluate_codes),
                                   (["--help"], evaluate_codes, ())):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        out = capsys.readouterr().out
        for code in codes:
            assert code in out, (argv, code)
        for code in not_there:
            if code != "2  usage error":
                assert code not in out, (argv, code)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert fastseg.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    ([], []),
    (["evaluate"], ["PRED and REF"]),
    (["evaluate", "nowhere_a", "nowhere_b"], ["PRED must be a folder"]),
    (["evaluate", "{p}", "{r}", "--labels", "1,x"], ["--labels"]),
    (["evaluate", "{p}", "{r}", "--regions", "wt"], ["--regions"]),
    (["evaluate", "{p}", "{r}", "--fail-under", "dice"], ["--fail-under"]),
    (["evaluate", "{p}", "{r}", "--fail-over", "hd99=3"], ["hd99", "does not compute"]),
    (["evaluate", "{p}", "{r}", "--metrics", "dcie"], ["unknown metric 'dcie'"]),
    (["evaluate", "{p}", "{r}", "--resume"], ["--resume needs --out"]),
    (["evaluate", "{p}", "{r}", "--cap-inf", "big"], ["--cap-inf"]),
    (["evaluate", "{p}", "{r}", "--manifest", "m.csv"], ["not both"]),
    (["compare", "nowhere.csv", "nowhere2.csv"], ["cannot read the results file"]),
])
def test_usage_errors_exit_2(argv, words, cohort3, capsys):
    p, r = cohort3
    argv = [a.format(p=p, r=r) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err


def test_existing_output_is_not_overwritten(cohort3, tmp_path, capsys):
    p, r = cohort3
    out = tmp_path / "r.csv"
    out.write_text("precious\n")
    assert main(["evaluate", str(p), str(r), "--out", str(out), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--resume" in err and "--overwrite" in err
    assert out.read_text() == "precious\n"


# ------------------------------------------------------------------------------------- end to end

def test_evaluate_end_to_end_values_errors_and_summary(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=2)
    p, r, _ = phantom_pair(shape=SHAPE, seed=5)
    miss = p.copy()
    miss[miss == 5] = 0  # label 5 missed: infinite distances, NaN precision
    save_nifti(pred_dir / "miss.nii.gz", miss)
    save_nifti(ref_dir / "miss.nii.gz", r)
    save_nifti(pred_dir / "lonely.nii.gz", p)  # no reference
    (pred_dir / "corrupt.nii.gz").write_bytes(b"garbage")
    save_nifti(ref_dir / "corrupt.nii.gz", r)
    save_nifti(pred_dir / "shape.nii.gz", p[:-1])
    save_nifti(ref_dir / "shape.nii.gz", r)
    save_nifti(pred_dir / "geometry.nii.gz", p, origin=(5.0, 0.0, 0.0))
    save_nifti(ref_dir / "geometry.nii.gz", r)
    out, summ = tmp_path / "res.csv", tmp_path / "summary.json"
    proc = run("evaluate", pred_dir, ref_dir, "--tolerance", "1,2", "--out", out, "--summary", summ,
               "--threads", "1", "--cap-inf", "diagonal")
    assert proc.returncode == 3, proc.stderr
    rows = csv_rows(out)
    assert list(rows[0].keys()) == C.COLUMNS
    # values: exactly fastseg.evaluate on the loaded arrays, with the spacing of the headers
    for cid in ("case_00", "case_01", "miss"):
        pv, rv = load(pred_dir / f"{cid}.nii.gz"), load(ref_dir / f"{cid}.nii.gz")
        assert rv.spacing == pytest.approx(SPACING)
        want = fastseg.evaluate(pv.array, rv.array, spacing=rv.spacing, tolerance=[1.0, 2.0]).rows
        got = [row for row in rows if row["case_id"] == cid]
        assert [(g["label"], g["metric"], g["value"], g["empty_state"]) for g in got] == \
            [(str(w["label"]), w["metric"], repr(w["value"]), w["empty_state"]) for w in want]
        assert {g["spacing"] for g in got} == {"x".join(repr(float(s)) for s in rv.spacing)}
        assert {g["shape"] for g in got} == {"24x32x32"} and {g["case_rows"] for g in got} == {str(len(want))}
    miss_rows = {(row["label"], row["metric"]): row["value"] for row in rows if row["case_id"] == "miss"}
    assert miss_rows[("5", "hd95")] == "inf" and miss_rows[("5", "precision")] == "nan"
    # every failure is an error row with its reason, and is reported on stderr
    errors = {row["case_id"]: row["error"] for row in rows if row["metric"] == "error"}
    assert set(errors) == {"lonely", "corrupt", "shape", "geometry"}
    assert "missing ref" in errors["lonely"] and "corrupt.nii.gz" in errors["corrupt"]
    assert "shape mismatch" in errors["shape"] and "affine mismatch" in errors["geometry"]
    for cid in errors:
        assert cid in proc.stderr
    # the summary: table on stdout, JSON with inf counted and capped at each case's diagonal
    assert "hd95" in proc.stdout and "7 cases, 3 ok, 4 errors" in proc.stdout
    s = json.loads(summ.read_text())
    assert s["n_errors"] == 4 and s["cap_inf"] == "diagonal"
    hd5 = next(x for x in s["per_label"] if x["metric"] == "hd95" and x["label"] == 5)
    assert hd5["n"] == 3 and hd5["n_inf"] == 0 and hd5["max"] == pytest.approx(
        math.sqrt(sum((n * sp) ** 2 for n, sp in zip(SHAPE, SPACING))), rel=1e-6)
    assert s["timing"]["cases_run"] == 7


def test_gates_exit_codes(cohort3, tmp_path):
    p, r = cohort3
    out, summ = tmp_path / "r.csv", tmp_path / "s.json"
    ok = run("evaluate", p, r, "--out", out, "--threads", "1", "--fail-under", "dice=0.1",
             "--fail-over", "hd95=1000", "--summary", summ)
    assert ok.returncode == 0, ok.stderr
    assert "ok dice >= 0.1" in ok.stdout and all(g["passed"] for g in json.loads(summ.read_text())["gates"])
    bad = run("evaluate", p, r, "--out", out, "--resume", "--threads", "1", "--fail-under", "dice:1=0.999,iou=0.1",
              "--fail-over", "hd95=0.01")
    assert bad.returncode == 1, bad.stderr
    assert "FAILED dice:1 >= 0.999" in bad.stdout and "FAILED hd95 <= 0.01" in bad.stdout
    assert "ok iou >= 0.1" in bad.stdout and "3 case(s) kept" in bad.stderr


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=80, shape=(40, 96, 96))  # long enough to be killed midway
    out = tmp_path / "killed.csv"
    proc = subprocess.Popen(fastseg_cmd("evaluate", pred_dir, ref_dir, "--tolerance", "1", "--out", out,
                                        "--threads", "1", "--quiet"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len({line.split(",", 1)[0] for line in out.read_text().splitlines()[1:]}) >= 4:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    n_before = len(C.read_results(out))
    assert 0 < n_before
    summary = tmp_path / "summary.json"
    resumed = run("evaluate", pred_dir, ref_dir, "--tolerance", "1", "--out", out, "--resume", "--jobs", "2",
                  "--threads", "1", "--summary", summary)
    assert resumed.returncode == 0, resumed.stderr
    timing = json.loads(summary.read_text())["timing"]
    assert timing["jobs"] == 2  # the CLI process and one worker, forked on Linux (nothing else runs yet)
    assert timing["workers_started_by"] == ("fork" if sys.platform == "linux" else "spawn")
    full = tmp_path / "full.csv"
    C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), tolerance=1.0, out=full, threads=1)
    assert sorted_lines(out) == sorted_lines(full)  # same lines: nothing lost, nothing doubled


def test_compare_passes_identical_and_detects_regression(cohort3, tmp_path):
    p, r = cohort3
    base = tmp_path / "base.csv"
    C.evaluate_cohort(C.pair_folders(p, r), out=base, threads=1)
    same = run("compare", base, base, "--max-drop", "dice=0.01", "--max-rise", "hd95=0.5")
    assert same.returncode == 0, same.stderr
    assert "no regression" in same.stdout
    rows = csv_rows(base)
    for row in rows:
        if row["label"] == "1" and row["metric"] == "dice":
            row["value"] = repr(float(row["value"]) - 0.05)
    new = tmp_path / "new.csv"
    with open(new, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=C.COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    js = tmp_path / "cmp.json"
    worse = run("compare", base, new, "--max-drop", "dice=0.01", "--max-rise", "hd95=0.5", "--json", js)
    assert worse.returncode == 1, worse.stderr
    assert "REGRESSION dice of label 1" in worse.stdout and "label 2" not in worse.stdout.split("REGRESSION", 1)[1]
    d1 = next(x for x in json.loads(js.read_text())["rows"] if x["metric"] == "dice" and x["label"] == 1)
    assert d1["mean_diff"] == pytest.approx(-0.05) and d1["regression"]


def test_demo():
    proc = run("demo", "--cases", "2")
    assert proc.returncode == 0, proc.stderr
    assert "fastseg evaluate" in proc.stdout and "2 cases, 2 ok, 0 errors" in proc.stdout
    assert "nsd@2" in proc.stdout and "spacing (2.5, 0.8, 0.8)" in proc.stdout


def test_dask_scheduler_address(cohort3, tmp_path):
    """--dask ADDRESS runs the cases on a dask.distributed cluster: the same file as a local run."""
    distributed = pytest.importorskip("distributed")
    p, r = cohort3
    local = tmp_path / "local.csv"
    C.evaluate_cohort(C.pair_folders(p, r), metrics=["dice", "hd95"], out=local, threads=1)
    out = tmp_path / "dask.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        proc = run("evaluate", p, r, "--metrics", "dice,hd95", "--out", out, "--dask", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stderr
    assert sorted_lines(out) == sorted_lines(local)
