"""Shared fixtures of the benchmarks.

Two modes, chosen by :func:`bench.cases.bench_size`:

* smoke (the normal test run: ``--benchmark-disable`` is in the project's addopts): ``small``
  cases, every benchmark runs once, peers that are not installed are skipped, values are still
  checked against the matching peer or baseline (a tool with nothing to check against fails).
  Takes seconds.
* benchmark (``--benchmark-enable``, or ``python -m bench.report``): ``full`` cases, every tool
  timed with pytest-benchmark's pedantic mode (warm-up and the value check outside the timed
  region; rounds chosen from a first timing so that slow peers run 1-3 times).

``FASTSEG_BENCH_SIZE=full|small`` overrides the size; ``FASTSEG_BENCH_BUDGET`` (seconds, default 3)
is the time aimed at per benchmark.
"""
import os
import time

import pytest

from bench import cases
from bench.tasks import TASKS, reference_value, tool_available
from tests.conftest import same


@pytest.fixture(scope="session")
def bench_size(pytestconfig):
    return cases.bench_size(pytestconfig)


_INPUTS = {}


def _input(task, case):
    key = (task.name if task.prepare is not None else "", case.name, case.size)
    if key not in _INPUTS:
        _INPUTS[key] = task.input(case)
    return _INPUTS[key]


def params(task_name):
    """``pytest.param(case, tool)`` for every case and tool of a task, with readable ids."""
    task = TASKS[task_name]
    return [pytest.param(c, t, id=f"{c}-{t}") for c in task.cases for t in task.tools]


def _rounds(seconds, slow):
    budget = float(os.environ.get("FASTSEG_BENCH_BUDGET", "3"))
    if seconds > 1.0 or slow:
        return max(1, min(3, int(3 * budget / max(seconds, 1e-9))))
    return max(5, min(50, int(budget / max(seconds, 1e-6))))


@pytest.fixture
def run_bench(benchmark, bench_size):
    """``run_bench(task, case, tool)``: check the tool's value, then time it. Fails when the tool has no
    reference installed to check its value against."""

    def run(task_name, case_name, tool_name):
        task = TASKS[task_name]
        tool = task.tools[tool_name]
        if not tool_available(tool):
            pytest.skip(f"{tool_name}: {', '.join(tool.needs)} not installed")
        if case_name == "mni" and not cases.mni_available():
            pytest.skip("the MNI case needs nilearn")
        case = cases.get_case(case_name, bench_size)
        inp = _input(task, case)
        # 1. the value, checked before anything is timed (this call is also the warm-up: numba
        #    kernels load or compile here, never in the timed region)
        t0 = time.perf_counter()
        if benchmark.disabled:  # smoke run: pytest-benchmark calls the tool once, untimed
            value = benchmark.pedantic(tool.run, args=(inp,), rounds=1, iterations=1)
        else:
            value = tool.run(inp)
        first = time.perf_counter() - t0
        ref = reference_value(task, tool, inp, cheap=benchmark.disabled)
        if ref is None:  # an unchecked value is never reported
            pytest.fail(f"{task_name}/{case_name}/{tool_name}: nothing to check {tool.label}'s value against "
                        f"({'no reference installed' if tool.reference else 'the tool has no reference'})",
                        pytrace=False)
        expected, rtol, source = ref
        assert same(value, expected, rtol), (
            f"{task_name}/{case_name}: {tool.label} gives {_short(value, task)}, the reference "
            f"({source}) {_short(expected, task)} (rtol {rtol})")
        benchmark.group = f"{task_name} / {case_name}"
        benchmark.extra_info.update(
            task=task_name, case=case_name, size=case.size, tool=tool_name, label=tool.label,
            versus=tool.versus, voxels=task.n_voxels(inp), shape=list(getattr(inp, "shape", case.shape)),
            checked_against=source, value=_short(value, task), note=tool.note, first_call_s=first)
        # 2. timing: one more untimed call to estimate the time of a warm call, then the rounds
        if benchmark.disabled:
            return value
        if first < 1.0 and not tool.slow:
            t0 = time.perf_counter()
            tool.run(inp)
            first = time.perf_counter() - t0
        benchmark.pedantic(tool.run, args=(inp,), rounds=_rounds(first, tool.slow), iterations=1,
                           warmup_rounds=0)
        return value

    return run


def _short(value, task):
    if task.summary is not None:
        try:
            value = task.summary(value)
        except Exception:  # noqa: BLE001 - a summary is only for display
            pass
    if hasattr(value, "shape") and getattr(value, "size", 0) > 16:
        return f"array{tuple(value.shape)}"
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value
    if isinstance(value, tuple):
        return list(value)
    return value
