"""``evaluate`` on the 10-organ label maps (Dice, HD95, ASSD, NSD@2 mm for every label).

Targets (issue 6): >= 10x a per-label loop with DeepMind, >= 50x a per-label MONAI loop, >= 2x
fastseg's own single-metric functions called per label and per metric.
"""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("evaluate"))
def test_evaluate(run_bench, case, tool):
    run_bench("evaluate", case, tool)
