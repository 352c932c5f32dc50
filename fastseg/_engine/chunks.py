"""Serial chunk kernels run side by side on threads: the engine's parallelism without numba's
parallel loops.

A numba ``parallel=True`` kernel costs about a second of compilation on a first run (and more with
every loop in it), which a fresh CI runner pays every time. The surface and search kernels are
therefore serial kernels over a range of rows or queries (``fastseg._kernels.surface``,
``nearest``, ``label_surface``), compiled with ``nogil=True``; :func:`run_chunks` runs their ranges on
:func:`fastseg._kernels._jit.num_threads` threads (a thread pool for the call: a pool kept across
calls would not survive the cohort's forked workers). The ranges are fixed (``tuning.NCHUNKS``), so
results never depend on the number of threads.
"""
from concurrent.futures import ThreadPoolExecutor

from .._kernels import tuning
from .._kernels._jit import num_threads

__all__ = ["chunk_ranges", "run_chunks"]


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
    threads = min(num_threads(), len(ranges))
    if threads < 2:
        return [work(*r) for r in ranges]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fastseg-chunks") as pool:
        return list(pool.map(lambda r: work(*r), ranges))
