"""Surface-distance metrics from the full volumes: HD95 on every case, HD on the organ.

Targets (issue 6): HD95 organ >= 10x DeepMind and MONAI, >= 3x crop + erosion + ``edt`` package;
HD95 lesion >= 4x DeepMind; HD95 MNI grey matter >= 8x DeepMind. Each peer is compared with the
fastseg call under its convention (``versus`` in :mod:`bench.tasks`).
"""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("hd95"))
def test_hd95(run_bench, case, tool):
    run_bench("hd95", case, tool)


@pytest.mark.parametrize("case,tool", params("hd"))
def test_hd(run_bench, case, tool):
    run_bench("hd", case, tool)
