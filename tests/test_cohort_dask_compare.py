"""Trust under faults: the Dask path of a cohort run (a worker killed in the middle of a case, a case the
cluster cannot finish, a scheduler that goes away, Ctrl-C, resume after each) and ``compare``'s gates
(a case errored or missing in new, NaN and inf, a structure in one run only, label names, conventions)."""
import math
import os
import signal
import threading
import time

import numpy as np
import pytest

from fastseg import cohort as C
from fastseg.cli import main
from fastseg.cohort.results import COLUMNS, rows_to_text

from tests.conftest import write_cohort

# ----------------------------------------------------------------------------------- helpers


def _row(case, label, metric, value, state="none", name="", convention="fastseg"):
    return {"case_id": case, "label": label, "name": name, "metric": metric, "value": value, "empty_state": state,
            "convention": convention, "spacing": (1.0, 1.0, 1.0), "shape": (4, 4, 4), "diagonal_mm": 6.9,
            "case_rows": 1, "error": ""}


def _run(n=5, dice=0.9, hd=2.0, labels=(1, 2), **kw):
    rows = []
    for i in range(n):
        for label in labels:
            rows += [_row(f"c{i}", label, "dice", dice - 0.01 * i, **kw), _row(f"c{i}", label, "hd95", hd + 0.1 * i, **kw)]
    return _fix_counts(rows)


def _fix_counts(rows):
    counts = {}
    for r in rows:
        counts[r["case_id"]] = counts.get(r["case_id"], 0) + 1
    return [dict(r, case_rows=counts[r["case_id"]]) for r in rows]


def _write(path, rows):
    path.write_text(",".join(COLUMNS) + "\n" + rows_to_text(rows), encoding="utf-8")
    return str(path)


def _compare_cli(tmp_path, base, new, *limits):
    return main(["compare", _write(tmp_path / "base.csv", base), _write(tmp_path / "new.csv", new),
                 "--n-boot", "50", *limits])


# ----------------------------------------------------------------- compare: what was already right

def test_compare_finite_to_inf_is_a_regression(tmp_path, capsys):
    base = _run()
    new = [dict(r, value=math.inf, empty_state="pred_empty") if (r["case_id"], r["label"], r["metric"]) == ("c2", 2, "hd95")
           else r for r in base]
    res = C.compare(base, new, max_rise=[("hd95", None, 0.5)], n_boot=50)
    assert [r["regression"] for r in res["rows"] if r["metric"] == "hd95"] == [False, True]
    assert _compare_cli(tmp_path, base, new, "--max-rise", "hd95=0.5") == 1
    # capped, the miss still counts
    assert _compare_cli(tmp_path, base, new, "--max-rise", "hd95=0.5", "--cap-inf", "diagonal") == 1


def test_compare_case_errored_or_missing_in_new_never_passes(tmp_path, capsys):
    base = _run()
    errored = [r for r in base if r["case_id"] != "c3"] + [
        dict(_row("c3", "", "error", math.nan, state=""), error="corrupt file")]
    missing = [r for r in base if r["case_id"] != "c3"]
    for new in (errored, missing):
        res = C.compare(base, new, max_drop=[("dice", None, 0.01)], n_boot=50)
        assert not res["regressions"] and not res["complete"] and res["missing_in_new"] == ["c3"]
        assert _compare_cli(tmp_path, base, new, "--max-drop", "dice=0.01") == 3
    # extra cases in new only: compared on the common ones, and passing
    extra = base + _fix_counts([_row("c9", 1, "dice", 0.1), _row("c9", 1, "hd95", 50.0)])
    res = C.compare(base, extra, max_drop=[("dice", None, 0.01)], n_boot=50)
    assert not res["regressions"] and res["complete"] and res["missing_in_base"] == ["c9"]


def test_compare_result_says_whether_it_passed():
    """``regressions`` alone was empty for a comparison missing a case (only ``complete`` told): an API
    caller now has one ``passed`` to check."""
    base = _run()
    missing = [r for r in base if r["case_id"] != "c3"]
    assert C.compare(base, missing, max_drop=[("dice", None, 0.01)], n_boot=50)["passed"] is False
    assert C.compare(base, base, max_drop=[("dice", None, 0.01)], n_boot=50)["passed"] is True
    worse = [dict(r, value=r["value"] - 0.1) if r["metric"] == "dice" else r for r in base]
    assert C.compare(base, worse, max_drop=[("dice", None, 0.01)], n_boot=50)["passed"] is False


# ------------------------------------------------------ compare: bugs (each failed before the fix)

def test_compare_miss_undefined_in_new_fails_the_gate(tmp_path, capsys):
    """MONAI's HD95 (DeepMind's ASSD) is NaN on a miss: a case finite in the baseline and a miss in new
    was dropped as a NaN pair, and the gate passed on the other cases."""
    base = _run(convention="monai")
    new = [dict(r, value=math.nan, empty_state="pred_empty") if (r["case_id"], r["label"]) == ("c1", 2)
           and r["metric"] == "hd95" else (dict(r, value=0.0, empty_state="pred_empty")
                                           if (r["case_id"], r["label"]) == ("c1", 2) else r) for r in base]
    assert _compare_cli(tmp_path, base, new, "--max-rise", "hd95=0.5") == 1
    assert "REGRESSION hd95 of label 2" in capsys.readouterr().out
    res = C.compare(base, new, max_rise=[("hd95", None, 0.5)], n_boot=50)
    row = [r for r in res["rows"] if (r["metric"], r["label"]) == ("hd95", 2)][0]
    assert row["n_unscored_new"] == 1 and row["regression"] and not res["passed"]
    assert any("c1" in m and "does not score as one" in m for m in res["regressions"])
    # label 1 has no miss: a gate on it alone passes; NaN where the baseline was NaN too is left out
    assert C.compare(base, new, max_rise=[("hd95", 1, 0.5)], n_boot=50)["passed"]
    both = [dict(r, value=math.nan, empty_state="pred_empty") if (r["case_id"], r["label"], r["metric"])
            == ("c1", 2, "hd95") else r for r in base]
    assert C.compare(both, new, max_rise=[("hd95", None, 0.5)], n_boot=50)["passed"]
    # seg-metrics scores a miss 0 mm: a perfect value in new where the baseline had 3 mm is a regression
    sm = [dict(r, value=0.0, empty_state="pred_empty") if (r["case_id"], r["label"]) == ("c1", 2) else r
          for r in base]
    got = C.compare(base, sm, max_rise=[("hd95", None, 0.5)], n_boot=50)
    assert not got["passed"] and [r["n_unscored_new"] for r in got["rows"] if r["metric"] == "hd95"] == [0, 1]
    # precision is NaN on an empty prediction by definition (Dice carries the miss): not a regression
    pb = [_row(f"c{i}", 1, "precision", 0.9) for i in range(4)]
    pn = pb[:3] + [_row("c3", 1, "precision", math.nan, state="pred_empty")]
    assert C.compare(pb, pn, max_drop=[("precision", None, 0.05)], n_boot=50)["passed"]


def test_compare_structure_in_new_only_fails_the_gate(tmp_path, capsys):
    """A new false-positive label (scored in new only: the baseline's maps did not have it) was left
    out of the pairing: a gate on every label passed."""
    base = _run()
    fp = [_row("c1", 7, "dice", 0.0, state="ref_empty"), _row("c1", 7, "hd95", math.inf, state="ref_empty")]
    new = _fix_counts(base + fp)
    assert _compare_cli(tmp_path, base, new, "--max-drop", "dice=0.01") == 1
    res = C.compare(base, new, max_drop=[("dice", None, 0.01)], n_boot=50)
    assert not res["passed"] and res["new_only"] == [{"metric": "dice", "label": 7, "case_ids": ["c1"]},
                                                     {"metric": "hd95", "label": 7, "case_ids": ["c1"]}]
    assert any("label 7" in m and "new only" in m for m in res["regressions"])
    # in some cases of a label both runs score: that label's row is the regression
    new2 = _fix_counts(base + [_row("c9", 1, "dice", 0.5)])
    base_c1_l2 = [r for r in base if not (r["case_id"] == "c1" and r["label"] == 2)]
    res = C.compare(_fix_counts(base_c1_l2), base, max_drop=[("dice", 2, 0.01)], n_boot=50)
    assert [r["regression"] for r in res["rows"] if r["metric"] == "dice"] == [False, True]
    assert res["rows"][1]["n_new_only"] == 1 and not res["passed"]
    # the other way (the baseline's false positive is gone in new): an improvement, passes, listed
    res = C.compare(new, base, max_drop=[("dice", None, 0.01)], n_boot=50)
    assert res["passed"] and res["base_only"][0]["label"] == 7
    assert C.compare(base, new2, max_drop=[("dice", None, 0.01)], n_boot=50)["passed"]  # c9: new case only


def test_compare_reports_label_names_that_differ():
    base = _run()
    base = [dict(r, name={1: "liver", 2: "spleen"}[r["label"]]) for r in base]
    new = [dict(r, name={1: "spleen", 2: "liver"}[r["label"]]) for r in base]
    res = C.compare(base, new, n_boot=50)
    assert res["renamed_labels"] == [{"label": 1, "base": "liver", "new": "spleen"},
                                     {"label": 2, "base": "spleen", "new": "liver"}]
    assert C.compare(base, base, n_boot=50)["renamed_labels"] == []


def test_compare_conventions_are_reported(tmp_path, capsys):
    """Runs under different conventions: reported (the command line warns) without limits; a limit on a
    distance scored under two conventions compares two definitions: refused (exit 2), never passed."""
    base, new = _run(), _run(convention="monai")
    res = C.compare(base, new, n_boot=50)
    assert res["conventions"] == {"base": ["fastseg"], "new": ["monai"]}
    assert _compare_cli(tmp_path, base, new) == 0
    assert "different conventions" in capsys.readouterr().err
    assert _compare_cli(tmp_path, base, new, "--max-rise", "hd95=0.5") == 2
    err = capsys.readouterr().err
    assert "a limit on hd95 compares values of different conventions" in err and "monai" in err
    with pytest.raises(ValueError, match="different conventions"):
        C.compare(base, new, max_rise=[("hd95", None, 0.5)], n_boot=50)
    res = C.compare(base, new, max_rise=[("hd95", None, 0.5)], n_boot=50, strict=False)
    assert res["convention_mismatch"] == [{"metric": "hd95", "base": ["fastseg"], "new": ["monai"]}]
    assert not res["passed"]


def test_compare_with_limits_refuses_renamed_labels(tmp_path, capsys):
    """Label 1 is the liver in one run and the spleen in the other: a limit would compare two organs."""
    base = [dict(r, name={1: "liver", 2: "spleen"}[r["label"]]) for r in _run()]
    new = [dict(r, name={1: "spleen", 2: "liver"}[r["label"]]) for r in base]
    assert _compare_cli(tmp_path, base, new, "--max-drop", "dice=0.01") == 2
    assert "label 1 is 'liver' in BASELINE and 'spleen' in NEW" in capsys.readouterr().err
    with pytest.raises(ValueError, match="label 1 is 'liver'"):
        C.compare(base, new, max_drop=[("dice", None, 0.01)], n_boot=50)
    assert _compare_cli(tmp_path, base, new) == 0  # without limits: compared, with a warning
    assert "warning: label 1 is 'liver' in BASELINE and 'spleen' in NEW" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- Dask

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cohort(tmp_path_factory):
    """Four cases: ``c0``..``c2`` and ``slow`` (a copy of c0, made slow or fatal on the workers)."""
    p, r = write_cohort(tmp_path_factory.mktemp("dask"), n=3)
    cases = [(f"c{i}", str(p / f"case_{i:02d}.nii.gz"), str(r / f"case_{i:02d}.nii.gz")) for i in range(3)]
    cases.insert(1, ("slow", str(p / "case_00.nii.gz"), str(r / "case_00.nii.gz")))
    return cases


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as cl:
        yield cl


@pytest.fixture(scope="module")
def local_rows(dask_cohort):
    return C.evaluate_cohort(dask_cohort, metrics=["dice", "hd95"], threads=1).rows


def _slow_workers(seconds, fatal=False, log=None):
    """In a worker process: the case ``slow`` sleeps ``seconds`` (or kills its worker) while read; with
    ``log``, each case read is appended to that file."""
    import os as _os
    import signal as _signal
    import time as _time

    import fastseg.cohort.score as S

    real = getattr(S, "_review9_real", S.read_case)
    S._review9_real = real

    def read(case, opts):
        if case.case_id == "slow":
            if fatal:
                _os.kill(_os.getpid(), _signal.SIGKILL)
            _time.sleep(seconds)
        if log is not None:
            with open(log, "a") as f:
                f.write(case.case_id + "\n")
        return real(case, opts)

    S.read_case = read
    return _os.getpid()


def _restore_workers():
    import fastseg.cohort.score as S

    S.read_case = getattr(S, "_review9_real", S.read_case)


def _ids(path):
    """The case id of every line of a results file, in order (a torn line would fail to parse)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == COLUMNS
    return [line.split(",", 1)[0] for line in lines[1:]]


def _case_counts(path):
    """{case_id: rows} of a results file; each case once and whole (its case_rows)."""
    rows = C.read_results(path)
    counts = {}
    for r in rows:
        counts[r["case_id"]] = counts.get(r["case_id"], 0) + 1
    for r in rows:
        assert counts[r["case_id"]] == r["case_rows"], r
    ids = _ids(path)
    assert len(ids) == len(rows)  # no torn or dropped line
    blocks = [cid for i, cid in enumerate(ids) if i == 0 or ids[i - 1] != cid]
    assert len(blocks) == len(set(blocks)), blocks  # each case written once, in one block
    return counts


def _run_timed(limit, fn, *a, **kw):
    """``fn(*a, **kw)`` in a thread, failing the test (not hanging it) after ``limit`` seconds."""
    box = {}

    def go():
        try:
            box["value"] = fn(*a, **kw)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"hung for {limit} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_dask_worker_killed_in_the_middle_of_a_case(client, dask_cohort, local_rows, tmp_path):
    """SIGKILL of the worker while it scores a case: the nanny restarts it, the case runs again; every
    case once in the file, values as a local run; resume then runs nothing."""
    pids = client.run(_slow_workers, 60)
    out = tmp_path / "out.csv"
    killed = []

    def on_case(rows):
        if not killed:  # c0 is done: slow is on the worker now (one thread, cases in order)
            time.sleep(0.5)
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    res = _run_timed(60, C.evaluate_cohort, dask_cohort, metrics=["dice", "hd95"], dask=client, out=out,
                     on_case=on_case)
    assert killed and not res.errors
    assert sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]
    from tests.conftest import same
    assert same(res.rows, local_rows)
    again = C.evaluate_cohort(dask_cohort, metrics=["dice", "hd95"], dask=client, out=out, resume=True)
    assert again.timing["cases_run"] == 0 and same(again.rows, local_rows)


def test_dask_case_killing_its_workers_is_an_error_row_then_retried(client, dask_cohort, local_rows, tmp_path):
    """A case that kills every worker it runs on (out of memory): an error row after dask's retries,
    the others scored; resume with retry_errors scores it once the cause is gone."""
    client.register_plugin(_FatalPlugin(), name="review9-fatal")
    try:
        out = tmp_path / "out.csv"
        res = _run_timed(90, C.evaluate_cohort, dask_cohort, metrics=["dice", "hd95"], dask=client, out=out)
    finally:
        client.unregister_worker_plugin("review9-fatal")
    assert [cid for cid, _ in res.errors] == ["slow"]
    assert "KilledWorker" in res.errors[0][1] and "retry_errors" in res.errors[0][1]
    assert sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]
    res = C.evaluate_cohort(dask_cohort, metrics=["dice", "hd95"], dask=client, out=out, resume=True,
                            retry_errors=True)
    assert res.timing["cases_run"] == 1 and not res.errors
    assert sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]
    from tests.conftest import same
    assert same(res.rows, local_rows)


class _FatalPlugin(distributed.WorkerPlugin):
    def setup(self, worker):
        _slow_workers(0, fatal=True)

    def teardown(self, worker):
        _restore_workers()


def test_dask_interrupt_cancels_the_cases_left_on_the_cluster(client, dask_cohort, local_rows, tmp_path):
    """Ctrl-C in the client (here: raised by on_case): the run stops, the finished case is kept, and
    the cluster of a client the caller keeps stops scoring the run's other cases (it went on before)."""
    log = tmp_path / "read.log"
    client.run(_slow_workers, 2, False, str(log))  # a cancelled task still finishes its running case
    out = tmp_path / "out.csv"

    def on_case(rows):
        raise KeyboardInterrupt

    try:
        # the exception kept, as an interactive session keeps the last one (sys.last_value): its frames
        # hold the run's futures, which used to keep the cluster scoring the run's other cases
        with pytest.raises(KeyboardInterrupt) as interrupted:
            C.evaluate_cohort(dask_cohort, metrics=["dice", "hd95"], dask=client, out=out, on_case=on_case)
        assert list(_case_counts(out)) == ["c0"]  # written before on_case ran
        deadline = time.time() + 10
        while "slow" not in (log.read_text() if log.exists() else "") and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        assert log.read_text().split() == ["c0", "slow"]  # c1 and c2 were never started
        assert interrupted.value is not None
    finally:
        client.run(_restore_workers)
    res = _run_timed(60, C.evaluate_cohort, dask_cohort, metrics=["dice", "hd95"], dask=client, out=out, resume=True)
    assert not res.errors and sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]


SLOW_PRELOAD = """
import threading
import fastseg.cohort.score as S

_real = S.read_case


def dask_setup(worker):
    def read(case, opts):
        if case.case_id == "slow":
            threading.Event().wait(30)
        return _real(case, opts)

    S.read_case = read
"""


def test_dask_scheduler_killed_is_honest_and_resumable(client, dask_cohort, local_rows, tmp_path, capsys):
    """``fastseg evaluate --dask ADDRESS`` and the scheduler process is killed in the middle of the run:
    no hang; the cases it did not finish are error rows saying how to continue (exit 3, listed), never
    silently missing; resume with retry_errors on another cluster completes the file, each case once."""
    import subprocess
    import sys

    (tmp_path / "review9_slow.py").write_text(SLOW_PRELOAD, encoding="utf-8")
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", "127.0.0.1:0",
                               "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.time() + 30
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.05)
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                       str(sched_file), "--nthreads", "1", "--no-nanny", "--preload", "review9_slow",
                                       "--dashboard-address", "127.0.0.1:0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        import json

        address = json.loads(sched_file.read_text())["address"]
        manifest = tmp_path / "cases.csv"
        manifest.write_text("case_id,pred,ref\n" + "".join(f"{c},{p},{r}\n" for c, p, r in dask_cohort))
        out = tmp_path / "out.csv"

        def kill_when_slow_runs():
            while time.time() < deadline + 30:
                if out.exists() and "c0," in out.read_text():
                    time.sleep(0.3)
                    procs[0].kill()
                    return
                time.sleep(0.05)

        threading.Thread(target=kill_when_slow_runs, daemon=True).start()
        code = _run_timed(60, main, ["evaluate", "--manifest", str(manifest), "--metrics", "dice,hd95",
                                     "--out", str(out), "--dask", address, "--quiet"])
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    err = capsys.readouterr().err
    assert code == 3 and "could not be scored" in err and "slow:" in err and "retry_errors" in err
    assert sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]
    lost = {r["case_id"] for r in C.read_results(out) if r["metric"] == "error"}
    assert "slow" in lost and "c0" not in lost
    res = C.evaluate_cohort(dask_cohort, metrics=["dice", "hd95"], dask=client, out=out, resume=True,
                            retry_errors=True)
    from tests.conftest import same
    assert not res.errors and same(res.rows, local_rows)
    assert sorted(_case_counts(out)) == ["c0", "c1", "c2", "slow"]


def test_dask_worker_with_another_fastseg_version_is_an_error_row(client, dask_cohort, tmp_path):
    """A worker running another fastseg version could score differently: its cases are error rows, not
    rows mixed into the file (they were scored before)."""
    def set_version(v):
        import fastseg._version as V

        old, V.__version__ = V.__version__, v
        return old

    old = list(client.run(set_version, "0.0.0-other").values())[0]
    try:
        res = C.evaluate_cohort(dask_cohort[:1], metrics=["dice"], dask=client)
    finally:
        client.run(set_version, old)
    assert len(res.errors) == 1 and "fastseg 0.0.0-other" in res.errors[0][1]


def test_dask_timing_reports_the_threads_cases_ran_with(client, dask_cohort, tmp_path, capsys):
    res = C.evaluate_cohort(dask_cohort[:1], metrics=["dice"], dask=client)
    assert res.timing["threads"] == 1 and res.timing["cases_run"] == 1
    manifest = tmp_path / "cases.csv"
    manifest.write_text("case_id,pred,ref\n" + "".join(f"{c},{p},{r}\n" for c, p, r in dask_cohort[:1]))
    assert main(["evaluate", "--manifest", str(manifest), "--metrics", "dice", "--dask", client.scheduler.address,
                 "--out", str(tmp_path / "o.csv")]) == 0
    assert "cases/s, on the Dask cluster, 1 thread(s) a case" in capsys.readouterr().err  # not "1 process(es)"


def test_dask_address_that_answers_nothing_leaves_no_file(tmp_path, capsys):
    """Before: the results file (and its options record) were made before the client connected, so a
    wrong --dask address left a header-only file that the rerun refused without --resume/--overwrite."""
    import dask

    p, r = write_cohort(tmp_path, n=1)
    out = tmp_path / "out.csv"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = _run_timed(60, main, ["evaluate", str(p), str(r), "--metrics", "dice", "--out", str(out),
                                     "--dask", "tcp://127.0.0.1:9", "--quiet"])
    assert code == 2, capsys.readouterr()
    assert not out.exists() and not list(tmp_path.glob("out.csv*"))
