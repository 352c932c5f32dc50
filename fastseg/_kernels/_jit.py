"""The house jit decorator: every numba option set in one place."""
import os

# numba's OpenMP threading layer (libgomp) keeps idle worker threads spinning after each parallel
# region. fastseg alternates short parallel kernels with numpy work on the calling thread, and on
# small or hyper-threaded machines the spinning threads steal the cycles that work needs: measured
# here, HD95 of an organ pair took 0.34 s with spinning and 0.16 s without. So unless the user chose a
# policy, idle OpenMP threads sleep. libgomp reads this when numba loads it at the first parallel call.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy  # noqa: E402


def jit(func=None, *, parallel=False):
    """``numba.njit`` with the house options (``cache=True``, ``nogil=True``, no fastmath).

    Use as ``@jit`` or ``@jit(parallel=True)``.
    """
    def wrap(f):
        return numba.njit(cache=True, nogil=True, parallel=parallel, fastmath=False)(f)

    if func is not None:
        return wrap(func)
    return wrap


prange = numba.prange


class thread_limit:
    """Context manager: run numba parallel kernels on ``n`` threads, restoring the previous count.

    ``n=None`` leaves numba's setting alone. Values above numba's configured maximum are clipped.
    """

    def __init__(self, n):
        self.n = n
        self.previous = None

    def __enter__(self):
        if self.n is not None:
            self.previous = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(self.n), numba.config.NUMBA_NUM_THREADS)))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            numba.set_num_threads(self.previous)
        return False


def num_threads():
    """The number of threads numba's parallel kernels use now in this thread (see ``thread_limit``)."""
    return numba.get_num_threads()


def max_threads():
    """The number of threads numba may use in this process."""
    return numba.config.NUMBA_NUM_THREADS


#: below this many voxels a kernel runs on one thread: starting a parallel region costs more than the
#: work (milliseconds on a busy machine with the OpenMP layer), and results never depend on threads
SMALL_WORK = 1 << 18


def serial_if_small(n_voxels):
    """``thread_limit(1)`` when the work is small, else a no-op context."""
    return thread_limit(1 if n_voxels < SMALL_WORK else None)


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
