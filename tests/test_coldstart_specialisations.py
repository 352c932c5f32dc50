"""A short first run (issue 13, part 3): a call compiles only the kernels it needs, in one
specialisation each whatever the caller's dtype, memory order or writability; a cohort run compiles
once in the parent before its workers start, and a worker that dies at the gate never hangs the
parent. Speed itself is measured in ``bench/coldstart.py``; these tests check the counts.

Specialisations are read from the kernels' ``signatures`` in a fresh interpreter (numba's state is
per process; loaded from the cache or compiled, a kernel lists its signature alike, but the kernels it
calls are listed only when it was compiled).
"""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

_SIGNATURES = r'''
import json, sys
import numpy as np
exec(sys.argv[1])
from numba.core.dispatcher import Dispatcher
from fastseg._kernels import confusion as K
out = {}
for name, k in sorted(vars(K).items()):
    if isinstance(k, Dispatcher):
        out[name] = [str(s) for s in k.signatures]
print("RESULT " + json.dumps(out))
'''


def _signatures(code):
    """The signatures of the counting kernels after ``code`` ran in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", _SIGNATURES, textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise AssertionError(proc.stderr[-2000:])


def test_binary_metrics_share_one_specialisation():
    """dice over bool, uint8, int8, float, C and Fortran order, writable and read-only masks: one
    signature of the counting kernel; hd95 and evaluate (label maps of uint8 and bool) one signature
    of the label pass (their tables were read-only for hd95 and writable for evaluate: two)."""
    sig = _signatures('''
        import fastseg
        p = np.zeros((40, 40, 40), bool); p[5:25, 5:25, 5:25] = True
        r = np.zeros_like(p); r[7:27, 5:25, 5:25] = True
        ro = r.copy(); ro.flags.writeable = False
        for a, b in ((p, r), (p.astype(np.uint8), ro), (p.astype(np.int8), r.astype(np.float32)),
                     (np.asfortranarray(p), np.asfortranarray(r)), (p[:, :, :39], r[:, :, :39])):
            fastseg.dice(a, b)
            fastseg.hd95(a, b, spacing=(2.0, 1.0, 1.0))
        fastseg.evaluate(p.astype(np.uint8) * 3, r.astype(np.uint8), metrics=["dice", "hd95"])
        fastseg.evaluate(p, r, metrics=["dice", "hd95"])
        fastseg.confusion_matrix(np.asfortranarray(p.astype(np.uint8)), np.asfortranarray(r.astype(np.uint8)))
    ''')
    assert len(sig["binary_counts"]) == 1
    assert len(sig["label_runs"]) == 1
    assert "uint8" in sig["label_runs"][0]
    assert sig["label_presence"] == [] and sig["soft_sums"] == []
    assert len(sig["_box"]) <= 1  # no Literal[int] specialisation (listed only when compiled, not loaded)


def test_dice_compiles_the_counting_kernels_only():
    """A first ``dice`` compiles the binary counts and nothing of the label or distance passes."""
    sig = _signatures('''
        import fastseg
        p = np.zeros((40, 40, 40), bool); p[5:25, 5:25, 5:25] = True
        fastseg.dice(p, np.roll(p, 2, 0))
        from numba.core.dispatcher import Dispatcher
        import fastseg._kernels.surface as S, fastseg._kernels.nearest as N, fastseg._kernels.edt as E
        for m in (S, N, E):
            for k in vars(m).values():
                if isinstance(k, Dispatcher):
                    assert not k.signatures, k
    ''')
    compiled = {k for k, s in sig.items() if s}  # a kernel loaded from the cache lists no callee
    assert "binary_counts" in compiled and compiled <= {"binary_counts", "_binary_chunk"}


def test_uint16_maps_compile_their_own_path_only_when_given():
    """uint16 label maps need the presence pass and a uint16 label pass; uint8 maps compile neither."""
    sig = _signatures('''
        import fastseg
        a = np.zeros((20, 30, 30), np.uint16); a[2:9, 3:20, 4:20] = 300; a[10:15, 5:9, 5:9] = 7
        fastseg.confusion_matrix(a, np.roll(a, 1, 1))
    ''')
    assert len(sig["label_presence"]) == 1 and len(sig["label_runs"]) == 1
    assert "uint16" in sig["label_runs"][0]


def test_a_cohort_warm_up_compiles_the_uint8_path_only():
    """The cohort warm-up (``prepare``) validates the options on a uint8 phantom: it no longer compiles
    the uint16 label pass (and the presence pass) that uint8 cohorts never use."""
    sig = _signatures('''
        from fastseg.cohort.workers import prepare
        from fastseg.conventions import get_convention
        prepare({"evaluate": dict(metrics=["dice", "hd95"], tolerance=None, convention=get_convention("fastseg"))})
    ''')
    assert len(sig["label_runs"]) == 1 and "uint8" in sig["label_runs"][0]
    assert sig["label_presence"] == []


def test_prepare_refuses_bad_options_before_any_case():
    from fastseg.cohort.workers import prepare
    from fastseg.conventions import get_convention

    with pytest.raises(ValueError, match="tolerance"):
        prepare({"evaluate": dict(metrics=["nsd"], tolerance=None, convention=get_convention("fastseg"))})


def _cohort(folder, n):
    import nibabel as nib

    from fastseg.phantom import phantom_pair

    cases = []
    for i in range(n):
        pred, ref, sp = phantom_pair(shape=(12, 24, 24), spacing=(2.5, 0.8, 0.8), seed=i)
        paths = []
        for name, a in (("pred", pred), ("ref", ref)):
            path = os.path.join(folder, f"{name}_{i}.nii.gz")
            nib.save(nib.Nifti1Image(a, np.diag([*sp, 1.0])), path)
            paths.append(path)
        cases.append((f"case{i}", *paths))
    return cases


@pytest.mark.parametrize("cold", [True, False])
def test_a_pool_opens_its_gate_after_the_parent_scored_the_first_case(tmp_path, monkeypatch, cold):
    """With workers on a fresh install (the parent compiled kernels), the parent scores the first case
    alone, then lets the workers start: they load the kernels that case compiled instead of each
    compiling them at once. With a warm cache the gate opens at once. Every case is still scored
    once, and the values equal an in-process run's."""
    import fastseg.cohort.workers as W
    from fastseg.cohort import evaluate_cohort

    cases = _cohort(str(tmp_path), 4)
    events = []
    real_open = W.Workers.open_gate

    def open_gate(self):
        events.append(("gate",))
        return real_open(self)

    monkeypatch.setattr(W.Workers, "open_gate", open_gate)
    monkeypatch.setattr(W, "compiled_any", lambda: cold)
    monkeypatch.setattr("fastseg.cohort.run.cores", lambda: 2)
    pooled = evaluate_cohort(cases, metrics=["dice", "hd95"], jobs=2, threads=1,
                             on_case=lambda rows: events.append(("case", rows[0]["case_id"])))
    assert events[0] == (("case", "case0") if cold else ("gate",))
    assert events.count(("gate",)) == 1
    assert sorted(e[1] for e in events if e[0] == "case") == ["case0", "case1", "case2", "case3"]
    alone = evaluate_cohort(cases, metrics=["dice", "hd95"], jobs=1, threads=1)
    assert pooled.timing["jobs"] == 2
    key = lambda r: (r["case_id"], str(r["label"]), r["metric"])  # noqa: E731
    assert sorted((key(r), r["value"]) for r in pooled.rows) == sorted((key(r), r["value"]) for r in alone.rows)


def test_opening_the_gate_does_not_wait_for_a_worker_killed_at_it():
    """Regression: the gate was a ``multiprocessing.Event``, whose ``set`` waits for every waiting
    process to wake; a worker killed while it waited (now possible for a whole first case) hung the
    parent forever. The gate is a shared byte now."""
    from fastseg.cohort.workers import Workers

    workers = Workers(1)
    try:
        deadline = time.monotonic() + 120
        procs = []
        while not procs and time.monotonic() < deadline:
            procs = [p for p in (getattr(workers.pool, "_processes", None) or {}).values() if p.is_alive()]
            time.sleep(0.05)
        assert procs, "the worker did not start"
        time.sleep(0.5)  # at the gate (or about to be)
        for p in procs:
            p.kill()
            p.join(30)
        opened = threading.Event()
        t = threading.Thread(target=lambda: (workers.open_gate(), opened.set()), daemon=True)
        t.start()
        t.join(30)
        assert opened.is_set(), "open_gate hung on a dead worker"
    finally:
        workers.terminate()


def test_compiled_any_says_whether_this_process_compiled():
    """A fresh interpreter with a warm cache compiles nothing; with an empty cache it compiles."""
    import tempfile

    code = ("import numpy as np, fastseg\nfrom fastseg._kernels._jit import compiled_any\n"
            "a = np.zeros((40, 40, 40), bool); a[5:20] = True\nassert not compiled_any()\n"
            "fastseg.dice(a, a)\nprint('RESULT', compiled_any())")

    def run(cache):
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        if cache:
            env["NUMBA_CACHE_DIR"] = cache
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.split("RESULT")[-1].strip()

    with tempfile.TemporaryDirectory() as cache:
        assert run(cache) == "True"  # empty cache: compiled
        assert run(cache) == "False"  # the same cache, now warm


def test_the_distance_transform_compiles_one_entry_point_once():
    """``fastseg.edt`` (square roots) and the engine's squared transform, on writable and read-only,
    serial-size and parallel-size inputs, share one compiled transform (the public kernel functions
    are Python; three compiled entry points each linked the whole transform again)."""
    code = textwrap.dedent('''
        import json, numpy as np, fastseg
        from fastseg._kernels import edt as E
        from fastseg._kernels.tuning import SMALL_TRANSFORM
        a = np.zeros((30, 40, 50), bool); a[5:20, 8:30, 10:40] = True
        b = a.copy(); b.flags.writeable = False
        fastseg.edt(a, spacing=(2.0, 1.0, 1.0)); fastseg.edt(b[:2, :5, :5])
        out = np.empty(a.shape)
        E.sq_distance_to_features_into(a.view(np.uint8), np.ones(3), out, SMALL_TRANSFORM)
        E.distance_to_features_into(b.view(np.uint8), np.array([2.0, 1.0, 1.0]), out, SMALL_TRANSFORM)
        print("RESULT " + json.dumps([str(s) for s in E._transform_into.signatures]))
    ''')
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    sigs = json.loads(proc.stdout.split("RESULT ")[-1])
    assert len(sigs) == 1


def test_connected_components_compile_one_union_kernel():
    """Labelling 2D and 3D masks at every connectivity compiles one specialisation of the run union
    (a literal 0 among its arguments made a second) and of the labelling pass."""
    code = textwrap.dedent('''
        import json, tempfile, os, numpy as np
        from fastseg._engine.components import label_components, component_stats
        from fastseg._kernels import components as K
        rng = np.random.default_rng(1)
        for shape in ((30, 40, 50), (1, 40, 50)):
            m = (rng.random(shape) < 0.3).astype(np.uint8)
            for conn in ((6, 18, 26) if shape[0] > 1 else (4, 8)):
                lab, n = label_components(m if shape[0] > 1 else m[0], conn)
                component_stats(lab, n)
        print("RESULT " + json.dumps({k: [str(s) for s in getattr(K, k).signatures]
                                      for k in ("label_into", "component_stats", "_link_rows")}))
    ''')
    with tempfile_dir() as cache:  # compiled afresh: the kernels' callees list their signatures
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                              env=dict(os.environ, PYTHONWARNINGS="ignore", NUMBA_CACHE_DIR=cache))
    assert proc.returncode == 0, proc.stderr[-2000:]
    sigs = json.loads(proc.stdout.split("RESULT ")[-1])
    assert len(sigs["label_into"]) == 1 and len(sigs["component_stats"]) == 1
    assert len(sigs["_link_rows"]) == 1


def tempfile_dir():
    import tempfile

    return tempfile.TemporaryDirectory(prefix="fastseg-test-numba-cache-")


def test_label_pass_on_threads_equals_one_thread_and_raises_a_helper_failure():
    """The label-map pass runs its serial chunk kernel side by side on threads (no numba parallel
    kernel to compile): the same matrix and boxes on 1, 2 and 3 threads; a failure in a helper thread
    reaches the caller instead of being lost."""
    import fastseg
    from fastseg._engine.chunks import side_by_side

    rng = np.random.default_rng(4)
    pred = rng.integers(0, 5, (64, 64, 80)).astype(np.uint8)  # above SMALL_WORK: threads are used
    ref = np.where(rng.random(pred.shape) < 0.1, 7, pred).astype(np.uint8)
    results = [fastseg.confusion_matrix(pred, ref, threads=t) for t in (1, 2, 3)]
    for res in results[1:]:
        assert np.array_equal(res.matrix, results[0].matrix)
        assert np.array_equal(res.bbox_pred, results[0].bbox_pred)
        assert np.array_equal(res.bbox_ref, results[0].bbox_ref)
    done = []

    def work(c):
        if c == 3:
            raise RuntimeError("chunk 3")
        done.append(c)

    with pytest.raises(RuntimeError, match="chunk 3"):
        side_by_side(work, 4, 2)  # chunk 3 runs on the helper thread
    assert sorted(done) == [0, 1, 2]
