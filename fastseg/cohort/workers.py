"""Worker processes and clusters: the local pool (forked, forkserver or spawned; numba's cache filled
once by the parent), its supervision (a dead worker fails only its cases) and Dask; and what the parent
compiles before any of them starts (:func:`prepare`)."""
import multiprocessing
import os
import sys
import time
import warnings
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .._kernels._jit import compiled_any, load_runtime, pool_started
from .results import error_row
from .score import local_worker, run_case

__all__ = ["prepare", "worker_init", "wait_gate", "alive", "fork_is_safe", "start_method", "Workers", "run_pool",
           "dask_case", "dask_client", "run_dask"]


def prepare(opts):
    """Evaluate a tiny phantom (a uint8 label map) with the run's options, on one thread: validates
    them, raising before any case runs, and compiles (or loads from numba's cache) the kernels of
    that path. Returns the metric names.

    Only what cases are likely to need: a uint16 map would compile a second specialisation of the
    label kernels (about 2.5 s on a fresh install, for kernels most cohorts never use), and the
    phantom, being tiny, does not reach every kernel a real case does (the distance search picks its
    method by size). Cases compile what they need when they first need it; with worker processes
    the parent scores the first case before the workers may start (:func:`run_pool`), so that they
    load its kernels instead of each compiling them.
    """
    import numpy as np

    from ..evaluate import evaluate
    from ..phantom import phantom_pair

    pred, ref, spacing = phantom_pair(shape=(10, 14, 14), spacing=(2.5, 0.8, 0.8), seed=0)
    with warnings.catch_warnings():  # about the phantom (APL's slice axis), not the user's data
        warnings.simplefilter("ignore")
        res = evaluate(pred.astype(np.uint8), ref.astype(np.uint8), spacing=spacing, threads=1, **opts["evaluate"])
    return res.metrics


def worker_init(parent_pid, gate):
    """In each worker: leave Ctrl-C to the parent, exit when the parent dies (even by SIGKILL, which
    would otherwise leave the worker waiting on its queue forever), start numba's runtime, and wait at
    ``gate`` until the parent has filled the numba cache (its warm-up and its first case, see
    :func:`run_pool`), so that workers started early load the kernels instead of each compiling them.

    The gate is a shared byte the worker polls (:func:`wait_gate`), not a ``multiprocessing.Event``:
    ``Event.set`` waits until every process waiting on it has woken, and a worker killed while it
    waited (out of memory, a signal) would never wake, hanging the parent forever."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    forked_by_run = os.getppid() == parent_pid  # forked by the run itself (not by a forkserver)

    def watch():
        while True:
            time.sleep(0.5)
            if (forked_by_run and os.getppid() != parent_pid) or not alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="fastseg-parent-watch", daemon=True).start()
    load_runtime()  # numba's own start-up, while the parent warms up
    wait_gate(gate)


def wait_gate(gate, poll=0.01):
    """Wait until the shared byte ``gate`` (a ``RawValue``) is set, polling every ``poll`` seconds."""
    while not gate.value:
        time.sleep(poll)


def alive(pid):
    """Whether the process ``pid`` (the run's parent; a forkserver worker's own parent is the
    server) still runs. A killed process its own parent has not reaped yet (a zombie) is dead: a
    caller that reads the run's output until end of file before reaping it (``Popen.communicate``)
    would otherwise wait forever on the workers, which hold that output open while they wait on it."""
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, another user's (a reused pid)
        return True
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:  # no /proc (not Linux), or gone meanwhile
        return sys.platform != "linux" or os.path.exists(f"/proc/{int(pid)}")
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _started():
    return True


def fork_is_safe():
    """Whether worker processes may be forked: on Linux, while this process runs no other Python
    thread, numba's thread pool is not started and no OpenMP runtime is loaded (another library's
    OpenMP team, e.g. torch's, would hang a forked child's first parallel region; BLAS pools, started
    at import, re-create themselves after a fork)."""
    import threading

    if sys.platform != "linux" or threading.active_count() != 1 or pool_started():
        return False
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            maps = fh.read()
    except OSError:
        return False
    return not any(lib in maps for lib in ("libgomp", "libiomp", "libomp"))


def start_method():
    if fork_is_safe():
        return "fork"
    return "forkserver" if sys.platform == "linux" else "spawn"


class Workers:
    """``n`` worker processes, started at once, before the parent's warm-up; they wait at a gate until
    the parent has filled the numba cache (see :func:`worker_init`, :func:`run_pool`).

    Forked when that is safe (:func:`fork_is_safe`), after this process has loaded numba's runtime:
    a worker then inherits the imports and the runtime (about 1 s of CPU per worker here) and is ready
    once it has loaded the kernels. Otherwise, on Linux, forked by a forkserver that has loaded them
    once (:mod:`fastseg._forkserver`; the server lives as long as this process, so later runs start
    their workers at once); elsewhere, and for a pool restarted after a worker died, spawned.
    """

    def __init__(self, n):
        self.n = n
        self.pool = None
        method = start_method()
        if method == "fork":
            load_runtime()  # before the fork: the workers inherit it
        elif method == "forkserver":
            multiprocessing.get_context("forkserver").set_forkserver_preload(["fastseg._forkserver"])
        self.restart(method)

    def restart(self, method="spawn"):
        """A new pool (the first, or after a worker died)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        ctx = multiprocessing.get_context(method)
        self.method = method
        self.gate = ctx.RawValue("b", 0)  # see worker_init: why not an Event
        if self.pool is not None:
            self.open_gate()
        self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=ctx, initializer=worker_init,
                                        initargs=(os.getpid(), self.gate))
        for _ in range(self.n):  # a pool spawns a process per submitted task while none is idle
            self.pool.submit(_started)

    def open_gate(self):
        self.gate.value = 1

    def terminate(self):
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            proc.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self):
        self.pool.shutdown(wait=True)


def run_pool(todo, opts, workers, threads, emit):
    """Cases on the spawned ``workers`` and, at the same time, in this process. When this process
    had to compile kernels (a fresh install: the warm-up compiled), the first case is scored here
    alone, before the workers' gate opens: it compiles the kernels a real case needs (the warm-up's
    tiny phantom does not reach them all), once, and the workers then load them from numba's cache
    instead of each compiling the same kernels at the same time. With a warm cache the gate opens at
    once. A worker that dies (killed, out of memory) fails the cases it held (error rows) and the
    pool is restarted."""
    import threading

    pending = deque(todo)
    lock = threading.Lock()  # guards pending and emit
    stop = threading.Event()
    failure = []

    def take():
        with lock:
            return pending.popleft() if pending else None

    def emit_locked(*res):
        with lock:
            if not stop.is_set():
                emit(*res)

    def local():
        try:
            local_worker(take, opts, threads, emit_locked, stop)
        except BaseException as exc:  # noqa: BLE001 - e.g. the output cannot be written: stop the run
            failure.append(exc)
            stop.set()

    def worker_died(case):
        return [error_row(case.case_id, "the worker process died while this case ran (killed, or out of "
                           "memory?); rerun with resume and retry_errors.", opts["convention_name"])], 0.0, 0.0

    here = threading.Thread(target=local, name="fastseg-local-worker", daemon=True)
    try:
        first = take() if compiled_any() else None
        if first is not None:
            emit_locked(*run_case(first, opts, threads))
        workers.open_gate()
        here.start()
        while not stop.is_set():
            inflight = {}
            broken = False
            while not stop.is_set():
                while not broken and len(inflight) < 2 * workers.n:
                    case = take()
                    if case is None:
                        break
                    try:
                        inflight[workers.pool.submit(run_case, case, opts, threads)] = case
                    except BrokenProcessPool:
                        with lock:
                            pending.appendleft(case)
                        broken = True
                if not inflight:
                    break
                finished, _ = wait(inflight, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    case = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        res = worker_died(case)
                    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        res = [error_row(case.case_id, f"{type(exc).__name__}: {exc}",
                                          opts["convention_name"])], 0.0, 0.0
                    emit_locked(*res)
            if not (broken and pending):
                break
            workers.restart()
        here.join()
        if failure:
            raise failure[0]
    except BaseException:  # Ctrl-C, or the output cannot be written: stop the workers now
        with lock:
            stop.set()
        workers.terminate()
        raise
    workers.close()


def dask_case(case, opts, threads, version):
    """:func:`run_case` on a Dask worker: an error row instead when the worker's fastseg is another
    version than the run's (``version``), whose values could differ from the others' in one file."""
    from .. import _version

    if _version.__version__ != version:
        return [error_row(case.case_id, f"the Dask worker runs fastseg {_version.__version__}, this run fastseg "
                          f"{version}: install the same version on every worker, then rerun with resume and "
                          f"retry_errors.", opts["convention_name"])], 0.0, 0.0
    return run_case(case, opts, threads)


def dask_client(scheduler):
    """``(client, owned)``: a ``distributed.Client`` for ``scheduler`` (an address, connected here:
    before a run creates its files, so that an address that answers nothing leaves none behind; or a
    Client, used as given), and whether the caller must close it."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("dask needs the 'dask' extra: pip install 'fastseg[dask]'.") from None
    return (scheduler, False) if isinstance(scheduler, Client) else (Client(scheduler), True)


def run_dask(todo, opts, threads, scheduler, emit):
    """Cases on a Dask cluster (``scheduler``: an address or a ``distributed.Client``), emitted as they
    finish. A case the cluster could not finish (its workers died, the scheduler went away, a worker
    without fastseg) is an error row naming the cause. Leaving early (Ctrl-C, an output that cannot be
    written) cancels the cases still on the cluster, also on a client the caller keeps."""
    client, owned = dask_client(scheduler)
    from dask.distributed import as_completed

    from .._version import __version__

    futures = {}
    try:
        for case in todo:
            futures[client.submit(dask_case, case, opts, threads, __version__, pure=False)] = case
        for fut in as_completed(futures):
            case = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker or scheduler becomes an error row
                res = ([error_row(case.case_id, f"{type(exc).__name__}: {exc} (the case did not finish on the Dask "
                                  f"cluster; rerun with resume and retry_errors)", opts["convention_name"])], 0.0, 0.0)
            emit(*res)
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:  # left early: the cluster must not go on scoring a run nobody reads
            try:
                client.cancel(unfinished)
            except Exception:  # noqa: BLE001 - the scheduler is gone: nothing runs there any more
                pass
        if owned:
            client.close()
