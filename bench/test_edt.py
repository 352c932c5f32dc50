"""EDT stage: the exact anisotropic distance transform to a cropped mask's boundary voxels, against
SciPy's ``distance_transform_edt`` and the ``edt`` package."""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("edt"))
def test_edt(run_bench, case, tool):
    run_bench("edt", case, tool)
