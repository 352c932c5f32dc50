"""Surface stage, on the crop the distance pipeline works in: boundary voxels and surfels."""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("boundary"))
def test_boundary(run_bench, case, tool):
    run_bench("boundary", case, tool)


@pytest.mark.parametrize("case,tool", params("surfels"))
def test_surfels(run_bench, case, tool):
    run_bench("surfels", case, tool)
