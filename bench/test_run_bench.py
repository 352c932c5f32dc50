"""The benchmark machinery: ``run_bench`` fails a benchmark whose value nothing checks (no reference, or
none installed) instead of timing and reporting it."""
import pytest

import fastseg

from bench import peers_extra as px
from bench.tasks import TASKS, Task, Tool, _named

ABSENT = Tool("absent-peer", "a peer that is not installed", lambda c: 0.0, needs=("fastseg_no_such_peer",))
NUMPY_DICE = _named("NumPy Dice", lambda c: px.numpy_dice(c.pred, c.ref))


@pytest.mark.parametrize("reference, error", [
    ((), "the tool has no reference"),
    ((("absent-peer", 1e-12),), "no reference installed"),
    (((NUMPY_DICE, 1e-12),), None),  # the control: a checked value passes
], ids=["no-reference", "reference-not-installed", "checked"])
def test_a_value_nothing_checks_fails(run_bench, benchmark, monkeypatch, reference, error):
    if not benchmark.disabled:
        pytest.skip("checks the machinery, times nothing: smoke runs only")
    tool = Tool("fastseg", "fastseg.dice", lambda c: fastseg.dice(c.pred, c.ref), reference=reference)
    monkeypatch.setitem(TASKS, "unchecked", Task(name="unchecked", title="Dice", cases=("organ",),
                                                 tools={"fastseg": tool, "absent-peer": ABSENT}))
    if error is None:
        run_bench("unchecked", "organ", "fastseg")
        return
    with pytest.raises(pytest.fail.Exception,
                       match=rf"^unchecked/organ/fastseg: nothing to check fastseg\.dice's value against \({error}\)$"):
        run_bench("unchecked", "organ", "fastseg")

