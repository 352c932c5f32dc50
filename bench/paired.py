"""Paired, interleaved timing of two tools on one input: the robust way to get a ratio on a noisy
machine.

pytest-benchmark times one tool's rounds, then the next tool's; on a machine shared with other jobs,
load that comes and goes between the two skews their ratio. Here the two tools alternate (A B, B A,
A B, ...) in the same process, after one untimed call of each that also checks that their values
agree, so a change of load hits both alike. Used by the regression gate and by the report's target
table.
"""
import statistics
import time
from dataclasses import dataclass

from bench import cases
from bench.tasks import TASKS
from tests.conftest import same


@dataclass
class Paired:
    task: str
    case: str
    fastseg: str
    other: str
    fastseg_s: float  # median seconds
    other_s: float
    repeats: int

    @property
    def ratio(self):
        return self.other_s / self.fastseg_s


def _time(fn, inp):
    t0 = time.perf_counter()
    fn(inp)
    return time.perf_counter() - t0


def paired(task_name, case_name, fs_name, other_name, *, size="full", repeats=7, threads=None, max_seconds=None):
    """Median times of ``fs_name`` and ``other_name`` timed alternately on ``case_name``.

    Raises AssertionError when ``fs_name`` is not among ``other_name``'s references (nothing would check
    their values), or when the two values differ (under that reference's rtol).
    ``max_seconds``: fewer repeats (at least 1) when the slower tool would exceed this budget.
    """
    from fastseg._kernels._jit import thread_limit

    task = TASKS[task_name]
    fs, other = task.tools[fs_name], task.tools[other_name]
    case = cases.get_case(case_name, size)
    inp = task.input(case)
    with thread_limit(threads):
        t0 = time.perf_counter()
        got = fs.run(inp)  # warm-up: numba kernels compiled or loaded here
        t1 = time.perf_counter()
        want = other.run(inp)
        t2 = time.perf_counter()
        rtol = dict(other.reference).get(fs_name)
        if rtol is None:
            raise AssertionError(f"{task_name}/{case_name}: {fs.label} is not a reference of {other.label}: "
                                 f"nothing checks their values; no timing.")
        if not same(want, got, rtol):
            raise AssertionError(f"{task_name}/{case_name}: {other.label} and {fs.label} give different values; "
                                 f"no timing.")
        if max_seconds:
            slowest = max(t1 - t0, t2 - t1)
            repeats = max(1, min(repeats, int(max_seconds / max(slowest, 1e-9))))
        ta, tb = [], []
        for i in range(repeats):
            if i % 2:
                tb.append(_time(other.run, inp))
                ta.append(_time(fs.run, inp))
            else:
                ta.append(_time(fs.run, inp))
                tb.append(_time(other.run, inp))
    return Paired(task_name, case_name, fs_name, other_name, statistics.median(ta), statistics.median(tb),
                  repeats)
