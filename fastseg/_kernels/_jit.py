"""The house jit decorator: every numba option set in one place, and the two things fastseg does to
numba's process-wide machinery.

numba's on-disk cache
    Kernels are cached on disk (where numba puts its cache: ``NUMBA_CACHE_DIR``, else the package's
    ``__pycache__``, else the user's cache folder), but the cache never makes a call fail. When no
    folder is writable (numba would refuse to decorate: "no locator available"), the kernels are
    compiled in memory; when reading or writing a cache file fails (a full disk, a folder that became
    unwritable) caching stops for that kernel; a damaged cache file (truncated, unreadable) is
    compiled again and its entry rewritten. Either way one line on stderr per process, naming
    ``NUMBA_CACHE_DIR``. The kernels stay plain numba dispatchers (callable from other kernels, no
    wrapper on the call path): only their cache object is fastseg's (``_Cache``), whose load and save
    catch the errors; numba consults it only when it compiles.

``OMP_WAIT_POLICY``
    numba's OpenMP threading layer (libgomp) keeps idle worker threads spinning after each parallel
    region. fastseg alternates short parallel kernels with numpy work on the calling thread, and on
    small or hyper-threaded machines the spinning threads steal the cycles that work needs: measured
    here, HD95 of an organ pair took 0.34 s with spinning and 0.16 s without. So idle OpenMP threads
    sleep, unless the user chose a policy. fastseg does not change the environment on import: libgomp
    reads ``OMP_WAIT_POLICY`` once, when numba loads it as it starts its thread pool (when a parallel
    kernel is first compiled or loaded from the cache, or the thread count first read or set), and
    fastseg starts the pool itself just before the first of these moments (:func:`_start_pool`), with
    ``OMP_WAIT_POLICY=PASSIVE`` set for the start only and removed right after. The host's environment
    is the same before and after, and the pool starts no earlier than it would have. A pool started
    by someone else (numba, or another library's libgomp, already loaded) is left as it is, and with
    numba's other threading layers (tbb, workqueue) the variable does nothing.

a fork after the pool started
    GNU OpenMP is not fork-safe: a forked child's first parallel region would wait for the parent's
    worker threads, which the child does not have. numba therefore kills (``SIGTERM``) a process
    forked by the one that started its OpenMP pool as soon as it runs a parallel kernel, and a user's
    ``multiprocessing.Pool`` (fork, Linux's default start method) then waits forever for the dead
    worker's task. fastseg starts the pool at its first call (it reads numba's thread count), so
    one call in the parent was enough. In such a child (``os.register_at_fork``) fastseg runs every
    parallel kernel on one thread: libgomp runs a one-thread region on the calling thread without
    its thread pool, which is safe after a fork, and numba's pool is told that this process owns it
    (so numba's check passes, and the child's own forks are handled the same way). Results do not
    depend on the thread count; the child is as fast as with ``threads=1``. Other threading layers
    (tbb, workqueue), other OpenMP runtimes, and a child forked before the pool started are left
    alone.

numba's workqueue layer
    numba's fallback where neither TBB nor an OpenMP runtime loads (a slim container without
    libgomp) aborts the whole process ("Concurrent access has been detected") when two threads
    launch parallel kernels at once. Under it fastseg runs none of its own work side by side
    (:func:`num_threads` is one), and its calls take one process-wide lock (in :class:`thread_limit`,
    which every public call enters), so that calls from several user threads run one after the
    other. Parallel kernels still use numba's threads.
"""
import ctypes
import os
import sys
import threading

import numba
import numpy
from numba.core.caching import FunctionCache, NullCache
from numba.core.dispatcher import Dispatcher

from . import tuning


def jit(func=None, *, parallel=False):
    """``numba.njit`` with the house options (cached, ``nogil=True``, no fastmath).

    Use as ``@jit`` or ``@jit(parallel=True)``. Cached as with numba's ``cache=True``, but through
    fastseg's cache object, which falls back to compiling in memory instead of failing (module
    docstring).
    """
    def wrap(f):
        kernel = numba.njit(nogil=True, parallel=parallel, fastmath=False)(f)
        if isinstance(kernel, Dispatcher):  # else NUMBA_DISABLE_JIT: the plain function
            # what cache=True does (Dispatcher.enable_caching), with fastseg's cache class
            try:
                kernel._cache = _Cache(kernel.py_func, parallel)
            except Exception as e:  # "no locator available": no writable folder; or no source file
                kernel._cache = _NoCache(_reason(e), parallel)
        return kernel

    if func is not None:
        return wrap(func)
    return wrap


prange = numba.prange

# --- numba's cache ------------------------------------------------------------------------------

_warned = False


def _warn(message):
    """One line on stderr, the first time only (per process)."""
    global _warned
    if _warned:
        return
    _warned = True
    try:
        sys.stderr.write(f"fastseg: {message}\n")
        sys.stderr.flush()
    except Exception:  # pragma: no cover - no stderr (pythonw) or closed
        pass


def _reason(e):
    return str(e) if isinstance(e, (OSError, RuntimeError)) else f"{type(e).__name__}: {e}"


def _warn_unusable(reason):
    _warn(f"numba cannot use its cache ({reason}); kernels are compiled in memory this run, which costs "
          "time at each start. Set NUMBA_CACHE_DIR to a writable folder.")


class _Cache(FunctionCache):
    """numba's on-disk cache of one kernel (``cache=True``), except that an error never reaches the
    call: a cache file that cannot be read or written (``OSError``) turns this kernel's cache off; a
    damaged one (unpickling fails) is dropped, so that the compile which follows rewrites it. Both
    warn once (:func:`_warn`). numba calls ``load_overload`` before it compiles a signature and
    ``save_overload`` after, and nothing on the call path, which stays numba's own."""

    def __init__(self, py_func, parallel):
        super().__init__(py_func)
        self._parallel = parallel

    def load_overload(self, sig, target_context):
        if self._parallel:
            _start_pool()  # compiling or loading a parallel kernel starts numba's thread pool
        try:
            data = super().load_overload(sig, target_context)
        except Exception as e:
            _compiling()
            if isinstance(e, OSError):
                self._give_up(e)
                return None
            try:
                self._cache_file.flush()  # an empty index: the compile that follows saves afresh
            except Exception as e2:
                self._give_up(e2)
                return None
            _warn(f"numba's cache had a damaged file ({_reason(e)}); the kernels concerned are compiled "
                  f"again and their cache entries rewritten. If this repeats, delete {self.cache_path} or "
                  "set NUMBA_CACHE_DIR to another folder.")
            return None
        if data is None:
            _compiling()
        return data

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as e:
            self._give_up(e)

    def flush(self):  # Dispatcher.recompile
        try:
            super().flush()
        except Exception as e:
            self._give_up(e)

    def _give_up(self, e):
        self.disable()  # numba's switch: load and save do nothing from now on
        _warn_unusable(_reason(e))


class _NoCache(NullCache):
    """In place of numba's cache when it has no folder: says so (once) at the first compile."""

    def __init__(self, reason, parallel):
        self._reason = reason
        self._parallel = parallel

    def load_overload(self, sig, target_context):
        if self._parallel:
            _start_pool()
        _compiling()
        _warn_unusable(self._reason)
        return None


_first_compile = []  # callbacks waiting for the first compile of this process
_compiled = []  # not empty once this process has compiled a kernel


def on_first_compile(callback):
    """Call ``callback()`` once, just before the first kernel of this process is compiled (a kernel
    not found in numba's cache: the first run after an install or an upgrade, or a run without a
    cache). The command line uses it to say why the first run takes a while."""
    _first_compile.append(callback)


def compiled_any():
    """Whether this process has compiled a kernel so far (one missing from numba's cache, or every
    kernel when there is no usable cache): a cohort then compiles what its first case needs before
    its workers start (:func:`fastseg.cohort.workers.run_pool`)."""
    return bool(_compiled)


def _compiling():
    if not _compiled:
        _compiled.append(True)
    while _first_compile:
        callback = _first_compile.pop()
        try:
            callback()
        except Exception:  # pragma: no cover - a notice must never fail a compile
            pass


# --- threads ------------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool_checked = False


def _start_pool():
    """Start numba's thread pool, once, with idle OpenMP threads sleeping unless the user chose a
    policy, and the environment restored (module docstring). Called just before whatever would start
    the pool: the first compile or cache load of a parallel kernel, or the first get/set of numba's
    thread count through this module."""
    global _pool_checked
    if _pool_checked:
        return
    with _pool_lock:
        if _pool_checked:
            return
        try:
            if "OMP_WAIT_POLICY" not in os.environ and not pool_started():
                os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
                try:
                    numba.get_num_threads()  # loads the threading layer: libgomp reads the policy now
                except Exception:
                    pass  # no usable threading layer: numba says so itself at the parallel call
                finally:
                    del os.environ["OMP_WAIT_POLICY"]
        finally:
            _pool_checked = True


class thread_limit:
    """Context manager: run numba parallel kernels on ``n`` threads, restoring the previous count.

    ``n=None`` leaves numba's setting alone. Values above numba's configured maximum are clipped.
    In a child forked after numba's GNU OpenMP pool started, every count (``None`` too) is one
    (module docstring). Ctrl-C inside leaves as a KeyboardInterrupt, also when numba wrapped it in a
    ``SystemError`` (:func:`_interrupted`).
    """

    def __init__(self, n):
        self.n = n
        self.previous = None
        self.locked = False

    def __enter__(self):
        if workqueue_layer():  # one fastseg call at a time in this process (module docstring)
            _launch_lock.acquire()
            self.locked = True
        n = 1 if _fork_single else self.n
        if n is not None:
            _start_pool()
            self.previous = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(n), max_threads())))
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.previous is not None:
            numba.set_num_threads(self.previous)
        if self.locked:
            self.locked = False
            _launch_lock.release()
        if isinstance(exc, SystemError) and _interrupted(exc):
            raise KeyboardInterrupt from exc
        return False


_launch_lock = threading.RLock()
_workqueue = None


def workqueue_layer():
    """Whether numba's parallel kernels run on its workqueue threading layer (its fallback where
    neither TBB nor an OpenMP runtime loads, e.g. a slim container without libgomp), which aborts the
    process when two threads launch parallel kernels at once (module docstring)."""
    global _workqueue
    if _workqueue is None:
        _start_pool()
        try:
            numba.get_num_threads()  # loads the layer
            _workqueue = numba.threading_layer() == "workqueue"
        except Exception:  # noqa: BLE001 - no usable layer yet: numba says so at the parallel call
            return False
    return _workqueue


def _interrupted(exc):
    """Whether ``exc`` wraps a KeyboardInterrupt: Ctrl-C while a kernel runs is handled when the
    kernel, returning, calls Python code (numba unpickles a constant to box some results, e.g. a
    tuple of arrays), and numba then raises ``SystemError: CPUDispatcher(...) returned a result
    with an exception set`` with the KeyboardInterrupt as its cause. :class:`thread_limit` raises
    the KeyboardInterrupt the user pressed instead."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def num_threads():
    """The number of threads numba's parallel kernels use now in this thread (see ``thread_limit``):
    the threads fastseg's own work may run side by side on; one under numba's workqueue layer."""
    if _fork_single or workqueue_layer():
        return 1
    _start_pool()
    return numba.get_num_threads()


def max_threads():
    """The number of threads numba may use in this process (one in a child forked after numba's GNU
    OpenMP pool started: module docstring)."""
    return 1 if _fork_single else numba.config.NUMBA_NUM_THREADS



def serial_if_small(n_voxels):
    """``thread_limit(1)`` when the work is small, else a no-op context."""
    return thread_limit(1 if n_voxels < tuning.SMALL_WORK else None)


@jit
def _runtime_probe(n):
    out = numpy.empty(n, numpy.int64)  # an allocation: loads numba's runtime (NRT) too
    for i in range(n):
        out[i] = i
    return out


def load_runtime():
    """Load numba's per-process machinery (target registries, the NRT, numba's BLAS probe) by calling
    one tiny cached kernel. About 0.4 s per process here, most of a warm-cache first call; it does not
    depend on fastseg's own kernels being in the cache, so a worker process does it while it waits."""
    _runtime_probe(2)


def pool_started():
    """Whether numba's thread pool runs in this process (started by the first parallel kernel or
    ``set_num_threads``); unknown (a numba without the flag) counts as started."""
    from numba.np.ufunc import parallel

    return getattr(parallel, "_is_initialized", True) is not False


_fork_single = False  # this process was forked after numba's GNU OpenMP pool started: one thread


def _gnu_openmp_pool():
    """numba's OpenMP layer module when numba's thread pool runs on GNU OpenMP (libgomp) in this
    process, else None. Only reads modules already imported (it runs in a freshly forked child)."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is None or getattr(parallel, "_is_initialized", False) is not True:
        return None
    if getattr(parallel, "_threading_layer", None) != "omp":
        return None
    omp = sys.modules.get("numba.np.ufunc.omppool")
    if omp is None or getattr(omp, "openmp_vendor", None) != "GNU":
        return None
    return omp


def _after_fork_in_child():
    """In a child forked after numba's GNU OpenMP pool started: parallel kernels on one thread, and
    this process recorded as the pool's owner (module docstring). numba's own functions are not
    called here (they take locks another thread of the parent may have held at the fork): the
    layer's C functions are, as numba calls them (``launch_threads`` records the calling process
    and the default count of new threads; ``set_num_threads`` is this thread's count)."""
    global _fork_single
    try:
        omp = _gnu_openmp_pool()
        if omp is None:
            return
        ctypes.CFUNCTYPE(None, ctypes.c_int)(omp.launch_threads)(1)
        ctypes.CFUNCTYPE(None, ctypes.c_int)(omp.set_num_threads)(1)
        _fork_single = True
    except Exception:  # pragma: no cover - a numba without these: numba's own check stays
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- bit counts ----------------------------------------------------------------------------------

# The count of trailing / leading zero bits of a non-zero uint64, for kernels that walk the set bits
# of a word: LLVM's cttz / ctlz (one instruction on current CPUs), which numba keeps in an internal
# module; a numba without them gets the same counts by the loops below (slower; tested against them).
@jit
def trailing_zeros_loop(m):
    n = numpy.uint64(0)
    while not (m >> n) & numpy.uint64(1):
        n += numpy.uint64(1)
    return n


@jit
def leading_zeros_loop(m):
    n = numpy.uint64(0)
    while not (m << n) >> numpy.uint64(63):
        n += numpy.uint64(1)
    return n


try:
    from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros
except ImportError:  # pragma: no cover - depends on the numba version
    trailing_zeros, leading_zeros = trailing_zeros_loop, leading_zeros_loop
