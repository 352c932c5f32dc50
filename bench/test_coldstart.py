"""Cold start: ``import fastseg`` in a fresh interpreter, and (benchmark runs only) the first calls
with an empty and a warm numba cache. Figures go to the report; see :mod:`bench.coldstart`."""
import pytest

from bench import coldstart


def test_import_time(benchmark):
    med, runs = benchmark.pedantic(coldstart.import_time, args=(1 if benchmark.disabled else 5,), rounds=1,
                                   iterations=1)
    assert med > 0
    benchmark.group = "coldstart"
    benchmark.extra_info.update(task="coldstart", case="import", tool="fastseg", import_runs=runs)


def test_first_calls(benchmark):
    if benchmark.disabled:
        pytest.skip("compiling every kernel takes minutes: benchmark runs only")
    res = benchmark.pedantic(coldstart.first_calls, rounds=1, iterations=1)
    assert all(r["warm"] > 0 for r in res.values())
    benchmark.group = "coldstart"
    benchmark.extra_info.update(task="coldstart", case="first_calls", tool="fastseg", first_calls=res)
