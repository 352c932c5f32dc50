"""Cold start: ``import fastseg`` in a fresh interpreter, and (benchmark runs only) the first calls
with an empty and a warm numba cache, and the first ``fastseg demo``. Figures go to the report; see
:mod:`bench.coldstart`."""
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


def test_first_dice_lists_its_kernels(capsys):
    """Smoke test of the per-kernel compile table: a cold ``dice`` compiles the counting kernel (about
    a second), and the before/after table prints every figure."""
    fig = coldstart.first_call("dice", kernels=True)
    assert fig["cold"] > 0 and fig["warm"] > 0
    assert "fastseg._kernels.confusion.binary_counts" in fig["kernels"]
    coldstart.print_kernels("dice", fig["kernels"])
    res = {"before": {"dice": {"cold": [1.5, 1.25], "warm": [0.5]}}, "after": {"dice": {"cold": [0.75]}}}
    coldstart.print_comparison(res, ("dice",))
    out = capsys.readouterr().out
    assert "binary_counts" in out and "1.38 (1.25-1.50)" in out and "0.75" in out


def test_first_demo(benchmark):
    if benchmark.disabled:
        pytest.skip("compiling every kernel the demo needs takes a while: benchmark runs only")
    res = benchmark.pedantic(coldstart.first_call, args=("demo",), rounds=1, iterations=1)
    assert res["cold"] > res["warm"] > 0
    benchmark.group = "coldstart"
    benchmark.extra_info.update(task="coldstart", case="demo", tool="fastseg", first_demo=res)
