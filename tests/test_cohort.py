"""fastseg.cohort (Python API): values equal fastseg.evaluate on the loaded files, every per-case failure
becomes an error row, resume loses and repeats nothing, summaries, gates and run comparison."""
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastseg
from fastseg import cohort as C
from fastseg.cohort import workers as W
from fastseg.io import load
from fastseg.phantom import phantom_pair

from tests.conftest import SHAPE, SPACING, same, save_nifti, write_cohort


def expected_rows(pred_path, ref_path, **kw):
    pv, rv = load(pred_path), load(ref_path)
    return fastseg.evaluate(pv.array, rv.array, spacing=rv.spacing, **kw).rows


def strip(rows):
    keys = ("label", "metric", "value", "empty_state", "convention")
    return [{k: r[k] for k in keys} for r in rows]


# ------------------------------------------------------------------------------------- values

def test_values_equal_evaluate_on_loaded_files(cohort3, tmp_path):
    pred_dir, ref_dir = cohort3
    out = tmp_path / "res.csv"
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), tolerance=[1.0, 2.0], out=out)
    assert res.case_ids == ["case_00", "case_01", "case_02"] and not res.errors
    for cid in res.case_ids:
        want = expected_rows(pred_dir / f"{cid}.nii.gz", ref_dir / f"{cid}.nii.gz", tolerance=[1.0, 2.0])
        got = [r for r in res.rows if r["case_id"] == cid]
        assert same(strip(got), want)
        r0 = got[0]
        assert r0["shape"] == SHAPE and r0["spacing"] == pytest.approx(SPACING)
        diagonal = math.sqrt(sum((n * s) ** 2 for n, s in zip(SHAPE, SPACING)))
        assert r0["diagonal_mm"] == pytest.approx(diagonal, rel=1e-6)
        assert all(r["case_rows"] == len(got) for r in got)
    assert same(C.read_results(out), res.rows)  # the CSV round-trips exactly


def test_options_pass_through(cohort3):
    pred_dir, ref_dir = cohort3
    kw = dict(labels=[1, 2, 9], metrics=["dice", "hd95", "nsd@1.5", "volume_similarity"],
              regions={"abdomen": [1, 2, 3, 4]}, ignore_label=5, convention="monai")
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), **kw)
    got = [r for r in res.rows if r["case_id"] == "case_01"]
    assert same(strip(got), expected_rows(pred_dir / "case_01.nii.gz", ref_dir / "case_01.nii.gz", **kw))
    assert {r["label"] for r in got} == {1, 2, 9, "abdomen"}
    assert {r["convention"] for r in got} == {"monai"}


def test_nii_and_nii_gz_variants_pair(tmp_path):
    p, r, _ = phantom_pair(shape=SHAPE, seed=3)
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    save_nifti(tmp_path / "p" / "a.nii", p)
    save_nifti(tmp_path / "r" / "a.nii.gz", r)
    (tmp_path / "p" / "notes.txt").write_text("ignored")
    cases = C.pair_folders(tmp_path / "p", tmp_path / "r")
    assert [(c.case_id, bool(c.problem)) for c in cases] == [("a", False)]
    res = C.evaluate_cohort(cases, metrics=["dice"])
    assert same(strip(res.rows), expected_rows(tmp_path / "p" / "a.nii", tmp_path / "r" / "a.nii.gz", metrics=["dice"]))


def test_mixed_formats_same_values(tmp_path):
    """A .nrrd prediction (written by SimpleITK, reversed axes) against a NIfTI reference."""
    sitk = pytest.importorskip("SimpleITK")
    p, r, _ = phantom_pair(shape=SHAPE, seed=4)
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    ref = save_nifti(tmp_path / "r" / "a.nii.gz", r)
    nii_pred = save_nifti(tmp_path / "a_pred.nii.gz", p)
    img = sitk.GetImageFromArray(np.ascontiguousarray(p.transpose(2, 1, 0)))
    img.SetSpacing(SPACING)
    img.SetOrigin((30.0, 12.8, -12.8))  # RAS (-30, -12.8, -12.8) in LPS
    img.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    sitk.WriteImage(img, str(tmp_path / "p" / "a.nrrd"))
    res = C.evaluate_cohort(C.pair_folders(tmp_path / "p", tmp_path / "r"), tolerance=1.0)
    assert not res.errors
    assert same(strip(res.rows), expected_rows(nii_pred, ref, tolerance=1.0))


# ------------------------------------------------------------------------------------- failures

def test_every_failure_kind_is_an_error_row(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=1)  # case_00 is fine
    p, r, _ = phantom_pair(shape=SHAPE, seed=7)
    save_nifti(pred_dir / "only_pred.nii.gz", p)
    save_nifti(ref_dir / "only_ref.nii.gz", r)
    (pred_dir / "corrupt.nii.gz").write_bytes(b"\x1f\x8b\x08 definitely not gzip data" * 10)
    save_nifti(ref_dir / "corrupt.nii.gz", r)
    save_nifti(pred_dir / "shape.nii.gz", p[:, :, :-1])
    save_nifti(ref_dir / "shape.nii.gz", r)
    save_nifti(pred_dir / "spacing.nii.gz", p, spacing=(2.0, 0.8, 0.8))
    save_nifti(ref_dir / "spacing.nii.gz", r)
    save_nifti(pred_dir / "origin.nii.gz", p, origin=(0.0, 0.0, 0.0))
    save_nifti(ref_dir / "origin.nii.gz", r)
    save_nifti(pred_dir / "negative.nii.gz", p.astype(np.int16) - 1)
    save_nifti(ref_dir / "negative.nii.gz", r)
    save_nifti(pred_dir / "dup.nii", p)
    save_nifti(pred_dir / "dup.nii.gz", p)
    save_nifti(ref_dir / "dup.nii.gz", r)
    out = tmp_path / "res.csv"
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice", "hd95"], out=out)
    errors = dict(res.errors)
    expect = {
        "only_pred": ["missing ref", "only_pred"],
        "only_ref": ["missing pred", "only_ref"],
        "corrupt": ["cannot read", str(pred_dir / "corrupt.nii.gz")],
        "shape": ["shape mismatch", "(24, 32, 31)", "(24, 32, 32)"],
        "spacing": ["spacing mismatch", "(2, 0.8, 0.8)", "(2.5, 0.8, 0.8)"],
        "origin": ["affine mismatch", "origin"],
        "negative": ["negative label"],
        "dup": ["ambiguous", "dup.nii", "dup.nii.gz"],
    }
    assert set(errors) == set(expect)
    for cid, words in expect.items():
        for w in words:
            assert w in errors[cid], (cid, errors[cid])
    assert "case_00" in res.case_ids and res.value("case_00", 1, "dice") > 0.5
    back = C.read_results(out)
    assert same(sorted(back, key=lambda r: r["case_id"]), sorted(res.rows, key=lambda r: r["case_id"]))
    err = [r for r in back if r["metric"] == "error"]
    assert len(err) == len(expect) and all(r["label"] == "" and math.isnan(r["value"]) for r in err)
    text = out.read_text()
    assert ",error,,," in text  # metric "error", empty value
    s = C.summarize(res.rows)
    assert s["n_cases"] == 9 and s["n_errors"] == 8 and s["n_ok"] == 1
    # the affine check can be switched off; spacing and shape are always checked
    res2 = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"], check_affine=False)
    assert "origin" not in dict(res2.errors) and "spacing" in dict(res2.errors)


def test_bad_options_raise_before_any_case(cohort3, tmp_path):
    pred_dir, ref_dir = cohort3
    out = tmp_path / "r.csv"
    with pytest.raises(ValueError, match="unknown metric"):
        C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dcie"], out=out)
    with pytest.raises(ValueError, match="tolerance"):
        C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["nsd"], out=out)
    assert not out.exists()
    with pytest.raises(ValueError, match="unique"):
        C.evaluate_cohort([("a", "x.nii", "y.nii"), ("a", "z.nii", "w.nii")])
    with pytest.raises(ValueError, match="region names"):
        C.evaluate_cohort([], regions={"3": [1, 2]})


def test_manifest(tmp_path, cohort3):
    pred_dir, ref_dir = cohort3
    man = tmp_path / "pairs.csv"
    rel = os.path.relpath(ref_dir / "case_01.nii.gz", tmp_path)
    man.write_text(f"case_id,pred,ref,site\nA,{pred_dir / 'case_01.nii.gz'},{rel},x\n"
                   f"B,{pred_dir / 'case_02.nii.gz'},,y\nC,{tmp_path / 'nowhere.nii.gz'},{rel},z\n")
    res = C.evaluate_cohort(C.read_manifest(man), metrics=["dice"])
    errs = dict(res.errors)
    assert set(errs) == {"B", "C"} and "missing ref" in errs["B"] and "no such file" in errs["C"]
    assert same(strip([r for r in res.rows if r["case_id"] == "A"]),
         expected_rows(pred_dir / "case_01.nii.gz", ref_dir / "case_01.nii.gz", metrics=["dice"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,pred,ref\nA,a.nii,b.nii\n")
    with pytest.raises(ValueError, match="case_id"):
        C.read_manifest(bad)


# ------------------------------------------------------------------------------------- resume

def _lines(path):
    return sorted(Path(path).read_text().splitlines())


def test_resume_after_any_cut_gives_the_uninterrupted_file(tmp_path):
    """A run killed anywhere (mid-line, between lines of one case, between cases) resumes to the same
    set of lines: partial lines and incomplete cases are dropped and run again, nothing is doubled."""
    pred_dir, ref_dir = write_cohort(tmp_path, n=4)
    (pred_dir / "case_03.nii.gz").unlink()  # an error row too
    cases = C.pair_folders(pred_dir, ref_dir)
    full = tmp_path / "full.csv"
    C.evaluate_cohort(cases, tolerance=1.0, out=full)
    data = full.read_bytes()
    header_end = data.index(b"\n") + 1
    line_ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    first_case_end = line_ends[int(C.read_results(full)[0]["case_rows"])]
    cuts = sorted({0, header_end, header_end + 7, first_case_end, first_case_end - 1, first_case_end + 3,
                   line_ends[len(line_ends) // 2], line_ends[len(line_ends) // 2] + 11, len(data) - 2, len(data)})
    ran = []
    for cut in cuts:
        part = tmp_path / f"part_{cut}.csv"
        part.write_bytes(data[:cut])
        # a killed run leaves its options record (resuming without it is refused: issue 12)
        (tmp_path / f"part_{cut}.csv.options.json").write_bytes((tmp_path / "full.csv.options.json").read_bytes())
        ran.clear()
        C.evaluate_cohort(cases, tolerance=1.0, out=part, resume=True,
                          on_case=lambda rows: ran.append(rows[0]["case_id"]))
        assert _lines(part) == _lines(full), cut
        assert len(ran) == len(set(ran))
        if cut == len(data):
            assert ran == []  # everything was done: nothing runs again


def test_existing_output_needs_resume_or_overwrite(cohort3, tmp_path):
    pred_dir, ref_dir = cohort3
    out = tmp_path / "r.csv"
    cases = C.pair_folders(pred_dir, ref_dir)
    C.evaluate_cohort(cases, metrics=["dice"], out=out)
    with pytest.raises(ValueError, match="resume"):
        C.evaluate_cohort(cases, metrics=["dice"], out=out)
    C.evaluate_cohort(cases, metrics=["dice"], out=out, overwrite=True)
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="not a fastseg results file"):
        C.evaluate_cohort(cases, metrics=["dice"], out=other, resume=True)


def test_retry_errors(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=2)
    moved = tmp_path / "case_01.nii.gz"
    shutil.move(ref_dir / "case_01.nii.gz", moved)
    out = tmp_path / "r.csv"
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"], out=out)
    assert [c for c, _ in res.errors] == ["case_01"]
    shutil.move(moved, ref_dir / "case_01.nii.gz")
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"], out=out, resume=True)
    assert [c for c, _ in res.errors] == ["case_01"]  # resume alone keeps the recorded error
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"], out=out, resume=True,
                            retry_errors=True)
    assert not res.errors and not C.summarize(C.read_results(out))["n_errors"]


# ------------------------------------------------------------------------------------- parallel

def test_worker_processes_give_the_same_rows(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=4)
    (ref_dir / "case_02.nii.gz").write_bytes(b"broken")
    cases = C.pair_folders(pred_dir, ref_dir)
    one = C.evaluate_cohort(cases, tolerance=1.0, jobs=1)
    two = C.evaluate_cohort(cases, tolerance=1.0, jobs=2, threads=1, out=tmp_path / "two.csv")
    assert two.timing["jobs"] == 2 and two.timing["threads"] == 1
    assert same(one.rows, two.rows)
    assert same(sorted(C.read_results(tmp_path / "two.csv"), key=lambda r: r["case_id"]), two.rows)


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_workers_started_each_way_give_the_same_rows(tmp_path, monkeypatch, method):
    # where forking this process is not safe (threads running, numba's pool started): a forkserver on
    # Linux, spawn elsewhere
    if method == "forkserver" and sys.platform != "linux":
        pytest.skip("forkserver: Linux only here")
    monkeypatch.setattr(W, "start_method", lambda: method)
    pred_dir, ref_dir = write_cohort(tmp_path, n=4)
    cases = C.pair_folders(pred_dir, ref_dir)
    two = C.evaluate_cohort(cases, metrics=["dice", "hd95", "nsd"], tolerance=1.0, jobs=2, threads=1)
    assert two.timing["jobs"] == 2 and two.timing["workers_started_by"] == method
    assert same(C.evaluate_cohort(cases, metrics=["dice", "hd95", "nsd"], tolerance=1.0).rows, two.rows)


def test_start_method_in_a_busy_process():
    # numba's pool runs in this test process by now, or another thread does: fork is not safe
    from fastseg._kernels._jit import thread_limit

    with thread_limit(1):  # starts numba's pool if nothing has yet
        pass
    assert W.start_method() == ("forkserver" if sys.platform == "linux" else "spawn")


def test_fork_needs_a_quiet_process():
    import threading

    if sys.platform == "linux" and not W.pool_started():  # as a fresh CLI process sees it
        assert W.fork_is_safe() == (threading.active_count() == 1 and "gomp" not in Path("/proc/self/maps").read_text())
    t = threading.Thread(target=time.sleep, args=(0.5,))
    t.start()
    try:
        assert not W.fork_is_safe()  # another thread: forking could copy a held lock
    finally:
        t.join()


def test_a_killed_worker_fails_its_cases_and_the_run_goes_on(tmp_path):
    import multiprocessing
    import signal

    pred_dir, ref_dir = write_cohort(tmp_path, n=8)
    cases = C.pair_folders(pred_dir, ref_dir)
    killed = []

    def kill_workers(rows):
        if not killed:
            for proc in multiprocessing.active_children():
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)

    res = C.evaluate_cohort(cases, metrics=["dice", "hd"], jobs=2, threads=1, on_case=kill_workers,
                            out=tmp_path / "out.csv")
    assert killed
    assert res.case_ids == [c.case_id for c in cases]  # every case has its rows, failed or not
    for _, message in res.errors:
        assert "worker process died" in message
    ok = {cid for cid in res.case_ids} - {cid for cid, _ in res.errors}
    assert len(ok) >= 4  # the parent scores cases too, and the pool is restarted
    want = C.evaluate_cohort(cases, metrics=["dice", "hd"]).rows
    assert same([r for r in want if r["case_id"] in ok], [r for r in res.rows if r["case_id"] in ok])
    assert sorted(C.read_results(tmp_path / "out.csv"), key=lambda r: r["case_id"]) == \
        sorted(res.rows, key=lambda r: r["case_id"])


def test_dask_local_cluster_same_rows(cohort3):
    distributed = pytest.importorskip("distributed")
    pred_dir, ref_dir = cohort3
    cases = C.pair_folders(pred_dir, ref_dir)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got = C.evaluate_cohort(cases, metrics=["dice", "hd95"], dask=client)
    assert same(got.rows, C.evaluate_cohort(cases, metrics=["dice", "hd95"]).rows)


# ------------------------------------------------------------------------------------- summary

def row(cid, label, metric, value, diag=100.0):
    return {"case_id": cid, "label": label, "metric": metric, "value": value, "empty_state": "none",
            "convention": "fastseg", "spacing": (1.0, 1.0), "shape": (10, 10), "diagonal_mm": diag,
            "case_rows": 1, "error": ""}


def test_summary_statistics_match_numpy():
    vals = [0.5, 0.9, 0.7, 0.8, 0.95]
    rows = [row(f"c{i}", 1, "dice", x) for i, x in enumerate(vals)]
    s = C.summarize(rows)["per_label"][0]
    assert s["n"] == 5 and s["n_inf"] == 0 and s["n_nan"] == 0
    assert s["mean"] == pytest.approx(np.mean(vals)) and s["std"] == pytest.approx(np.std(vals, ddof=1))
    assert s["median"] == pytest.approx(np.median(vals))
    assert s["iqr"] == pytest.approx(np.subtract(*np.percentile(vals, [75, 25])))
    assert (s["min"], s["max"]) == (0.5, 0.95)


def test_summary_counts_inf_and_nan_and_caps_at_the_diagonal():
    rows = [row("a", 1, "hd95", 2.0, diag=50.0), row("b", 1, "hd95", math.inf, diag=40.0),
            row("c", 1, "hd95", 4.0, diag=60.0), row("a", 1, "precision", math.nan), row("b", 1, "precision", 0.5),
            {**row("d", "", "error", math.nan), "error": "boom"}]
    s = C.summarize(rows)
    hd = s["per_label"][0]
    assert (hd["metric"], hd["n"], hd["n_inf"]) == ("hd95", 3, 1)
    assert hd["mean"] == hd["max"] == hd["std"] == math.inf
    assert hd["median"] == 4.0 and hd["min"] == 2.0
    prec = s["per_label"][1]
    assert (prec["n"], prec["n_nan"], prec["mean"]) == (1, 1, 0.5)
    assert s["n_errors"] == 1 and s["errors"] == [{"case_id": "d", "error": "boom"}] and s["n_cases"] == 4
    capped = C.summarize(rows, cap_inf="diagonal")["per_label"][0]
    assert capped["mean"] == pytest.approx((2.0 + 40.0 + 4.0) / 3) and capped["n_inf"] == 0 and capped["max"] == 40.0
    assert C.summarize(rows, cap_inf=10)["per_label"][0]["max"] == 10.0
    with pytest.raises(ValueError, match="cap_inf"):
        C.summarize(rows, cap_inf="huge")
    text = C.format_summary(s)
    assert "hd95" in text and "inf" in text and "1 errors" in text


# ------------------------------------------------------------------------------------- gates

def test_parse_gates():
    assert C.parse_gates(["dice=0.85", "hd95:3=5,iou:whole_tumor=0.7"]) == [
        ("dice", None, 0.85), ("hd95", 3, 5.0), ("iou", "whole_tumor", 0.7)]
    for bad in ("dice", "dice=x", "=3", "dice:=1"):
        with pytest.raises(ValueError, match="--fail-under"):
            C.parse_gates([bad])


def test_check_gates():
    rows = [row("a", 1, "dice", 0.9), row("a", 2, "dice", 0.7), row("b", 1, "dice", 0.8), row("b", 2, "dice", 0.6),
            row("a", 1, "hd95", 3.0), row("b", 1, "hd95", math.inf), row("a", 1, "precision", math.nan)]
    s = C.summarize(rows)
    res = C.check_gates(s, fail_under=C.parse_gates(["dice=0.75", "dice:1=0.86", "dice:2=0.6", "precision=0.1"]),
                        fail_over=C.parse_gates(["hd95=5", "dice:7=1"]))
    passed = {g["gate"]: g["passed"] for g in res}
    assert passed == {"dice >= 0.75": True, "dice:1 >= 0.86": False, "dice:2 >= 0.6": True,
                      "precision >= 0.1": False, "hd95 <= 5": False, "dice:7 <= 1": False}
    msgs = " ".join(g["message"] for g in res)
    assert "FAILED dice:1 >= 0.86: dice of label 1 (mean) = 0.85" in msgs
    assert "no values for dice of label 7" in msgs and "1 inf" in msgs
    capped = C.check_gates(C.summarize(rows, cap_inf=4.0), fail_over=C.parse_gates(["hd95=5"]))
    assert capped[0]["passed"]


# ------------------------------------------------------------------------------------- compare

def _runs(n=12, seed=1):
    rng = np.random.default_rng(seed)
    base = []
    for i in range(n):
        for label in (1, 2):
            base.append(row(f"c{i}", label, "dice", float(rng.uniform(0.7, 0.95))))
            base.append(row(f"c{i}", label, "hd95", float(rng.uniform(1, 6))))
    return base


def test_compare_identical_runs_pass():
    base = _runs()
    res = C.compare(base, [dict(r) for r in base], max_drop=C.parse_gates(["dice=0"]),
                    max_rise=C.parse_gates(["hd95=0"]))
    assert not res["regressions"] and res["n_paired"] == 12
    for r in res["rows"]:
        assert r["mean_diff"] == 0.0 and r["p_value"] == 1.0 and (r["ci_low"], r["ci_high"]) == (0.0, 0.0)


def test_compare_detects_an_injected_regression():
    from scipy import stats

    base = _runs()
    new = [dict(r) for r in base]
    for r in new:
        if r["label"] == 2 and r["metric"] == "dice":
            r["value"] -= 0.05
        if r["label"] == 1 and r["metric"] == "hd95":
            r["value"] += 1.0
    res = C.compare(base, new, max_drop=C.parse_gates(["dice=0.01"]), max_rise=C.parse_gates(["hd95=0.5"]))
    flagged = {(r["metric"], r["label"]) for r in res["rows"] if r["regression"]}
    assert flagged == {("dice", 2), ("hd95", 1)}
    assert len(res["regressions"]) == 2 and "dice of label 2" in " ".join(res["regressions"])
    d2 = next(r for r in res["rows"] if (r["metric"], r["label"]) == ("dice", 2))
    assert d2["mean_diff"] == pytest.approx(-0.05)
    assert d2["ci_low"] == pytest.approx(-0.05) and d2["ci_high"] == pytest.approx(-0.05)
    # all 12 differences equal (tied): the normal approximation with tie correction
    assert d2["p_value"] == pytest.approx(stats.wilcoxon(np.full(12, -0.05), method="asymptotic").pvalue)
    assert d2["p_value"] < 0.01
    # a limit on another label, a large limit, or requiring significance at a tiny alpha: no regression
    assert not C.compare(base, new, max_drop=C.parse_gates(["dice:1=0.01"]))["regressions"]
    assert not C.compare(base, new, max_drop=C.parse_gates(["dice=0.1"]))["regressions"]
    assert not C.compare(base, new, max_drop=C.parse_gates(["dice=0.01"]), alpha=1e-6)["regressions"]


def test_compare_bootstrap_is_seeded_and_handles_inf_and_missing_cases():
    base = _runs(seed=2)
    rng = np.random.default_rng(5)
    new = [dict(r, value=r["value"] + float(rng.normal(0, 0.02))) for r in base if r["case_id"] != "c0"]
    new[1]["value"] = math.inf  # c1 label 1 hd95: a miss in the new run
    a = C.compare(base, new, n_boot=500, seed=3)
    b = C.compare(base, new, n_boot=500, seed=3)
    assert a == b
    assert a["missing_in_new"] == ["c0"] and a["n_paired"] == 11
    hd1 = next(r for r in a["rows"] if (r["metric"], r["label"]) == ("hd95", 1))
    assert hd1["mean_diff"] == math.inf and 0 <= hd1["p_value"] <= 1
    assert C.compare(base, new, max_rise=C.parse_gates(["hd95=1"]))["regressions"]
    capped = C.compare(base, new, cap_inf=7.0, max_rise=C.parse_gates(["hd95=1"]))
    assert math.isfinite(next(r for r in capped["rows"] if (r["metric"], r["label"]) == ("hd95", 1))["mean_diff"])
    assert "paired cases" in C.format_comparison(a)


def test_to_pandas(cohort3):
    pd = pytest.importorskip("pandas")
    pred_dir, ref_dir = cohort3
    res = C.evaluate_cohort(C.pair_folders(pred_dir, ref_dir), metrics=["dice"], threads=1)
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == C.COLUMNS and len(df) == len(res.rows)


def test_resume_refuses_other_options(tmp_path):
    pred_dir, ref_dir = write_cohort(tmp_path, n=3)
    cases = C.pair_folders(pred_dir, ref_dir)
    out = tmp_path / "out.csv"
    C.evaluate_cohort(cases[:2], metrics=["dice", "nsd"], tolerance=1.0, out=out)
    record = __import__("json").loads(Path(str(out) + ".options.json").read_text())
    assert record["options"]["metrics"] == ["dice", "nsd@1"]
    with pytest.raises(ValueError, match=r"other options \(metrics: \['dice', 'nsd@1'\] then, \['dice', 'nsd@2'\] now\)"):
        C.evaluate_cohort(cases, metrics=["dice", "nsd"], tolerance=2.0, out=out, resume=True)
    with pytest.raises(ValueError, match="convention: 'fastseg' then, 'deepmind' now"):
        C.evaluate_cohort(cases, metrics=["dice", "nsd"], tolerance=1.0, convention="deepmind", out=out, resume=True)
    assert len(C.read_results(out)) == 2 * 2 * len(C.evaluate_cohort(cases[:1], metrics=["dice"]).rows)  # untouched
    res = C.evaluate_cohort(cases, metrics=["dice", "nsd"], tolerance=1.0, out=out, resume=True)  # same: goes on
    assert res.case_ids == [c.case_id for c in cases]
    # overwrite starts afresh with the new options
    C.evaluate_cohort(cases[:1], metrics=["dice"], out=out, overwrite=True)
    C.evaluate_cohort(cases, metrics=["dice"], out=out, resume=True)


def test_workers_watch_the_run_not_their_own_parent():
    """A forkserver's worker has the server as its parent: it watches the run's process instead, and
    exits when that is gone."""
    import subprocess

    assert W.alive(os.getpid()) and W.alive(os.getppid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not W.alive(proc.pid)
