"""Single metrics beyond HD, each timed on its own from the full volumes: ASSD, NSD (surface Dice) at
2 mm, Boundary IoU (2 mm band) and clDice, against every installed peer and a NumPy/SciPy baseline.
Each peer is compared with the fastseg call under its convention (``versus`` in :mod:`bench.tasks`).
"""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("assd"))
def test_assd(run_bench, case, tool):
    run_bench("assd", case, tool)


@pytest.mark.parametrize("case,tool", params("nsd"))
def test_nsd(run_bench, case, tool):
    run_bench("nsd", case, tool)


@pytest.mark.parametrize("case,tool", params("boundary_iou"))
def test_boundary_iou(run_bench, case, tool):
    run_bench("boundary_iou", case, tool)


@pytest.mark.parametrize("case,tool", params("cldice"))
def test_cldice(run_bench, case, tool):
    run_bench("cldice", case, tool)
