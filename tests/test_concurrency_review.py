"""Faults and concurrency never corrupt results: the Python API as ML teams call it.

- several Python threads at once (a ``ThreadPoolExecutor``), each call with its own inputs and its own
  ``threads=``: every result bit-identical to the serial call's, no deadlock (timeouts), and one
  thread's ``threads=1`` does not change another thread's count (numba's count is per thread, and
  fastseg keeps no process-wide thread state, caches of mutable arrays or scratch buffers);
- a process forked after fastseg ran (numba's GNU OpenMP pool started; a user's ``multiprocessing``
  pool with the 'fork' start method, as a PyTorch DataLoader's workers): the child's calls work and
  give the parent's values (before the fix numba killed the child at its first parallel kernel and
  the pool waited forever);
- Ctrl-C (SIGINT) during long multi-threaded calls: the KeyboardInterrupt reaches the caller, no
  helper thread is left behind, the thread count is restored and later calls give the same values;
- numba's workqueue threading layer (numba's fallback when neither TBB nor an OpenMP runtime is
  available) aborts the interpreter on concurrent parallel kernel launches: fastseg launched them
  concurrently itself (before the fix), and calls from several user threads must not either.

Fork and Ctrl-C run in a fresh interpreter (``subprocess``, with a timeout): process-wide state (the
fork, the signal) stays out of pytest's process.
"""
import os
import random
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import fastseg
from fastseg import conventions
from fastseg._kernels import tuning
from fastseg._kernels._jit import max_threads, num_threads, serial_if_small, thread_limit
from fastseg.phantom import phantom_pair
from tests.conftest import same

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds: a deadlock fails the test instead of hanging the run


def canon(result):
    """A result as plain Python values (compared exactly by ``same``; NaN equals NaN)."""
    if isinstance(result, fastseg.EvaluationResult):
        return result.to_dict()
    if isinstance(result, fastseg.LesionResult):
        return result.to_dict()
    if hasattr(result, "records") and hasattr(result, "errors"):  # conventions.table
        return {"rows": [(row.metric, row.values) for row in result.rows], "errors": result.errors,
                "empty_state": result.empty_state}
    return float(result)


def _pairs():
    """Label-map pairs: two small (one thread whatever ``threads=``), one above ``SMALL_WORK`` (the
    two-thread paths: chunks side by side, the shared-surface tasks, structures side by side)."""
    out = [phantom_pair(shape=(12, 24, 24), spacing=(2.5, 0.8, 0.8), seed=3),
           phantom_pair(shape=(20, 36, 30), spacing=(1.0, 1.0, 1.0), seed=4),
           phantom_pair(shape=(40, 120, 120), spacing=(2.0, 0.8, 0.8), seed=5)]
    assert out[-1][0].size >= tuning.SMALL_WORK
    return out


def _jobs():
    jobs = []
    for i, (p, r, sp) in enumerate(_pairs()):
        b_p, b_r = p == 1, r == 1
        jobs += [
            (f"hd95-{i}", lambda t, b_p=b_p, b_r=b_r, sp=sp: fastseg.hd95(b_p, b_r, spacing=sp, threads=t)),
            (f"evaluate-{i}", lambda t, p=p, r=r, sp=sp: fastseg.evaluate(
                p, r, spacing=sp, metrics=["dice", "hd", "hd95", "assd", "masd", "nsd", "boundary_iou"],
                tolerance=1.0, boundary_width=1.5, threads=t)),
            (f"table-{i}", lambda t, b_p=b_p, b_r=b_r, sp=sp: conventions.table(
                b_p, b_r, spacing=sp, tolerance=1.0, threads=t)),
            (f"lesions-{i}", lambda t, p=p, r=r, sp=sp: fastseg.lesions(p > 0, r > 0, spacing=sp, threads=t)),
        ]
    return jobs


def test_concurrent_calls_are_bit_identical_to_serial_calls():
    jobs = _jobs()
    want = {name: canon(call(None)) for name, call in jobs}
    threads_before = num_threads()
    runs = [(name, call, t) for name, call in jobs for t in (None, 1, 2)]
    random.Random(0).shuffle(runs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [(name, t, pool.submit(lambda c=call, t=t: canon(c(t)))) for name, call, t in runs]
        for name, t, fut in futures:
            got = fut.result(timeout=TIMEOUT)
            assert same(got, want[name]), f"{name} with threads={t} from a pool thread differs from the serial call"
    assert num_threads() == threads_before


def test_one_threads_thread_limit_leaves_another_threads_count_alone():
    if max_threads() < 2:
        pytest.skip("one thread allowed: nothing to tell apart")
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def limited():
        with thread_limit(1):
            seen["limited"] = num_threads()
            with serial_if_small(10):
                inside.set()
                release.wait(TIMEOUT)
        seen["after"] = num_threads()

    worker = threading.Thread(target=limited)
    worker.start()
    try:
        assert inside.wait(TIMEOUT)
        seen["other"] = num_threads()  # this thread, while the other holds thread_limit(1)
        with thread_limit(2):
            seen["other-2"] = num_threads()
    finally:
        release.set()
        worker.join(TIMEOUT)
    assert seen == {"limited": 1, "other": max_threads(), "other-2": 2, "after": max_threads()}


def _run_script(tmp_path, text, timeout, env=None):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(text))
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    try:
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                              env=full_env, cwd=str(tmp_path))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the script hung (no end within {timeout} s); its output so far: {e.stdout!r} {e.stderr!r}")


FORK_SCRIPT = """
    import multiprocessing, os, sys
    import numpy as np
    import fastseg
    from fastseg import conventions
    from fastseg.phantom import phantom_pair
    from fastseg._kernels._jit import pool_started, num_threads

    P, R, SP = phantom_pair(shape=(64, 96, 96), spacing=(2.0, 0.8, 0.8), seed=2)
    assert P.size >= (1 << 18)  # parallel kernels on several threads in the parent

    def job(i):
        p, r = P, R
        return repr([
            float(fastseg.dice(p == 1, r == 1)),  # binary counts: a parallel kernel
            float(fastseg.hd95(p == 1, r == 1, spacing=SP)),
            fastseg.evaluate(p, r, spacing=SP, metrics=["dice", "hd95", "nsd", "boundary_iou"], tolerance=1.0,
                             boundary_width=1.5).to_dict(),  # the transform: a parallel kernel
            [(row.metric, row.values) for row in conventions.table(p == 2, r == 2, spacing=SP, tolerance=1.0).rows],
            fastseg.lesions(p > 0, r > 0, spacing=SP).to_dict(),  # components: parallel kernels
        ])

    if __name__ == "__main__":
        want = job(0)
        assert pool_started() and num_threads() >= 1
        # a user's pool, forked (Linux's default): as a DataLoader's workers
        with multiprocessing.get_context("fork").Pool(2) as pool:
            try:
                got = pool.map_async(job, range(4)).get(timeout=90)
            except multiprocessing.TimeoutError:
                print("HANG: the forked pool's workers never answered")
                sys.exit(3)
        assert got == [want] * 4, "a forked worker's values differ from the parent's"
        # a plain fork, and a fork of that child (the grandchild)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if job(1) != want:
                    code = 4
                gpid = os.fork()
                if gpid == 0:
                    os._exit(0 if job(2) == want else 4)
                _, status = os.waitpid(gpid, 0)
                code = code or (os.waitstatus_to_exitcode(status) and 5)
            except BaseException:
                code = 6
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, f"forked child: {os.waitstatus_to_exitcode(status)}"
        # and the parent still works, on its threads
        assert job(3) == want
        print("OK")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_children_work_after_the_parent_ran_parallel_kernels(tmp_path):
    """Before the fix: numba's GNU OpenMP layer kills (SIGTERM) a direct fork child of the process
    that started its pool at the child's first parallel kernel ("Terminating: fork() called from a
    process already using GNU OpenMP"), fastseg starts the pool at its first call, and a
    ``multiprocessing.Pool`` then waits forever for the dead workers' tasks."""
    res = _run_script(tmp_path, FORK_SCRIPT, timeout=180)
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), res.stdout + res.stderr


INTERRUPT_SCRIPT = """
    import os, signal, threading, time
    import numpy as np
    import fastseg
    from fastseg import conventions
    from fastseg.phantom import ellipsoid, phantom_pair
    from fastseg._kernels._jit import max_threads, num_threads

    # ten organs on a 128 x 256 x 256 grid (one label map pair of 8 Mvox): long multi-threaded calls
    shape, sp = (128, 256, 256), (2.0, 0.8, 0.8)
    rng = np.random.default_rng(0)
    ref = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for k in range(10):
        centre = (0.3 + 0.4 * rng.random(), 0.2 + 0.6 * rng.random(), 0.2 + 0.6 * rng.random())
        axes = tuple(rng.uniform(15, 40, 3))
        ref[ellipsoid(shape, sp, centre, axes)] = k + 1
        pred[ellipsoid(shape, sp, tuple(c + rng.normal(0, 0.01) for c in centre),
                       tuple(a * rng.uniform(0.9, 1.1) for a in axes))] = k + 1

    def ev():
        return fastseg.evaluate(pred, ref, spacing=sp, metrics=["dice", "hd95", "assd", "nsd", "boundary_iou"],
                                tolerance=1.0, boundary_width=1.5).to_dict()

    def tb():
        t = conventions.table(pred == 1, ref == 1, spacing=sp, tolerance=1.0)
        return repr([(row.metric, row.values) for row in t.rows])

    def les():
        return fastseg.lesions(pred > 0, ref > 0, spacing=sp).to_dict()

    # the brief's long call: conventions.table on a 256 x 512 x 512 pair (about 1 s here)
    big_shape, big_sp = (256, 512, 512), (1.0, 0.6, 0.6)
    big_ref = ellipsoid(big_shape, big_sp, (0.5, 0.5, 0.5), (100.0, 120.0, 110.0))
    big_pred = ellipsoid(big_shape, big_sp, (0.51, 0.5, 0.49), (97.0, 125.0, 108.0))

    def big_tb():
        t = conventions.table(big_pred, big_ref, spacing=big_sp, tolerance=1.0)
        return repr([(row.metric, row.values) for row in t.rows])

    calls = [ev, tb, les, big_tb]
    want, took = {}, {}
    for f in calls:
        f()
        t0 = time.perf_counter()
        want[f.__name__] = f()
        took[f.__name__] = time.perf_counter() - t0
    base = {t.ident for t in threading.enumerate()}
    interrupted = 0
    for f in calls:
        for share in (0.1, 0.3, 0.5, 0.7, 0.9):
            delay = took[f.__name__] * share
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            t0 = time.perf_counter()
            timer.start()
            try:
                f()
                time.sleep(took[f.__name__] + 2.0)  # the call ended first: the interrupt lands here
                raise SystemExit(f"no KeyboardInterrupt ({f.__name__}, {share})")
            except KeyboardInterrupt:
                late = time.perf_counter() - t0 - delay
                assert late < took[f.__name__] + 2.0, (f.__name__, share, late)
                interrupted += 1
            timer.join()
            assert num_threads() == max_threads(), "the thread count was not restored"
            assert f() == want[f.__name__], f"{f.__name__} differs after an interrupt"
    deadline = time.time() + 10
    while time.time() < deadline and {t.ident for t in threading.enumerate()} - base:
        time.sleep(0.05)
    left = [t.name for t in threading.enumerate() if t.ident not in base]
    assert not left, f"helper threads left running: {left}"
    for f in calls:
        assert f() == want[f.__name__]
    print("OK", interrupted, {k: round(v, 2) for k, v in took.items()})
"""


def test_ctrl_c_during_long_multithreaded_calls(tmp_path):
    """Long by design (about 18 s here): SIGINT must land inside the calls, at several points (10% ..
    90% of each call), while helper threads run kernels; the long one is conventions.table on a
    256 x 512 x 512 pair (about 1 s), the others evaluate / table / lesions of a 10-organ map."""
    res = _run_script(tmp_path, INTERRUPT_SCRIPT, timeout=240)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr


KERNEL_INTERRUPT_SCRIPT = """
    import os, signal, threading, time
    import numpy as np
    import fastseg
    from fastseg._engine import components

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 200, (128, 256, 256)).astype(np.int32)
    want = components.component_stats(labels, 199)
    t0 = time.perf_counter()
    components.component_stats(labels, 199)
    took = time.perf_counter() - t0
    kinds = []
    for i in range(8):
        timer = threading.Timer(took / 2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            components.component_stats(labels, 199)
            time.sleep(took + 2.0)
            kinds.append("none")
        except KeyboardInterrupt:
            kinds.append("KeyboardInterrupt")
        except BaseException as e:
            kinds.append(type(e).__name__)
        timer.join()
    got = components.component_stats(labels, 199)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    print(kinds)
    assert set(kinds) == {"KeyboardInterrupt"}, kinds
    print("OK")
"""


def test_ctrl_c_inside_a_kernel_is_a_keyboard_interrupt(tmp_path):
    """Before the fix: SIGINT while the connected-components statistics kernel (lesions, instances)
    runs came out as ``SystemError: CPUDispatcher(<function component_stats>) returned a result with
    an exception set`` every time (numba handles the signal in the Python code it calls to box the
    kernel's tuple of arrays), which ``except KeyboardInterrupt`` (a training loop saving its state on
    Ctrl-C) does not catch."""
    res = _run_script(tmp_path, KERNEL_INTERRUPT_SCRIPT, timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr


WORKQUEUE_SCRIPT = """
    import numba
    import fastseg
    from fastseg.phantom import phantom_pair

    p, r, sp = phantom_pair(shape=(64, 160, 160), spacing=(2.0, 0.8, 0.8), seed=1)
    assert numba.config.THREADING_LAYER == "workqueue"
    # one call: the structures run side by side on fastseg's threads, each with the parallel transform
    res = fastseg.evaluate(p, r, spacing=sp, metrics=["dice", "boundary_iou"], boundary_width=1.5)
    print("layer", numba.threading_layer())
    # calls from several user threads at once: one after the other, the same values as alone
    from concurrent.futures import ThreadPoolExecutor
    calls = [lambda: fastseg.evaluate(p, r, spacing=sp, metrics=["dice", "hd95", "boundary_iou"],
                                      boundary_width=1.5).to_dict(),
             lambda: fastseg.hd95(p > 0, r > 0, spacing=sp),
             lambda: [(row.metric, row.values) for row in fastseg.conventions.table(p > 0, r > 0, spacing=sp).rows],
             lambda: fastseg.lesions(p > 0, r > 0, spacing=sp).to_dict()]
    alone = [repr(c()) for c in calls]
    with ThreadPoolExecutor(4) as pool:
        together = [repr(f.result(timeout=100)) for f in [pool.submit(c) for c in calls * 2]]
    assert together == alone * 2
    print("OK")
"""


def test_workqueue_layer_survives_one_evaluate(tmp_path):
    """numba's workqueue layer aborts the process on concurrent parallel kernel launches. Before:
    evaluate ran structures side by side, each launching the parallel transform, and one call aborted
    the interpreter; calls from several user threads too."""
    res = _run_script(tmp_path, WORKQUEUE_SCRIPT, timeout=120, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
