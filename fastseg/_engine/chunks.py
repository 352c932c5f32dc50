"""Serial chunk kernels run side by side on threads: the engine's parallelism without numba's
parallel loops.

A numba ``parallel=True`` kernel costs about a second of compilation on a first run (and more with
every loop in it), which a fresh CI runner pays every time. The surface and search kernels are
therefore serial kernels over a range of rows or queries (``fastseg._kernels.surface``,
``nearest``, ``label_surface``, ``confusion``), compiled with ``nogil=True``; :func:`run_chunks` runs
their ranges on :func:`fastseg._kernels._jit.num_threads` threads (threads started for the call: a
pool kept across calls would not survive the cohort's forked workers), a fixed share each
(:func:`side_by_side`). The ranges are fixed (``tuning.NCHUNKS``), so results never depend on the
number of threads.
"""
import threading

from .._kernels import tuning
from .._kernels._jit import num_threads

__all__ = ["chunk_ranges", "run_chunks", "side_by_side"]


def chunk_ranges(n, size):
    """``[(lo, hi), ...]``: ``n`` items (rows, queries) in ``tuning.NCHUNKS`` consecutive ranges, or
    one range when the work is small (``size`` below ``tuning.SMALL_WORK``, e.g. voxels) or one
    thread is allowed (nothing to share)."""
    if num_threads() < 2 or size < tuning.SMALL_WORK or n < 2:
        return [(0, n)]
    b = [n * c // tuning.NCHUNKS for c in range(tuning.NCHUNKS + 1)]
    return list(zip(b[:-1], b[1:]))


def run_chunks(work, ranges):
    """``[work(*r) for r in ranges]`` (a range: ``(lo, hi)``, perhaps with more arguments), side by
    side on the calling thread's ``num_threads()`` threads (the kernels release the GIL)."""
    out = [None] * len(ranges)

    def one(c):
        out[c] = work(*ranges[c])

    side_by_side(one, len(ranges), num_threads())
    return out


def side_by_side(work, n, threads):
    """``work(c)`` for ``c`` in ``range(n)``: chunk ``c`` on thread ``c % threads``, this thread taking
    its share. A fixed share per thread, as numba's parallel loops schedule: a pool's threads take
    tasks as they come, and the first, started while the second is still starting, often took them
    all (a short pass then ran on one thread). An exception in any share is raised here."""
    if threads < 2 or n < 2:
        for c in range(n):
            work(c)
        return
    failed = []

    def share(t):
        try:
            for c in range(t, n, threads):
                work(c)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            failed.append(exc)

    helpers = [threading.Thread(target=share, args=(t,), name="fastseg-chunks", daemon=True)
               for t in range(1, min(threads, n))]
    for h in helpers:
        h.start()
    share(0)
    for h in helpers:
        h.join()
    if failed:
        raise failed[0]
