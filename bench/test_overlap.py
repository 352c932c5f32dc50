"""Overlap stage: confusion counts and Dice of binary pairs, the confusion matrix of label maps.

Targets (issue 6): ``confusion`` >= 4x the NumPy ``count_nonzero`` expressions (one
``count_nonzero`` over one array is the floor); ``confusion_matrix`` of the 10-organ uint8 maps
>= 10x ``np.bincount``.
"""
import pytest

from bench.conftest import params


@pytest.mark.parametrize("case,tool", params("confusion"))
def test_confusion(run_bench, case, tool):
    run_bench("confusion", case, tool)


@pytest.mark.parametrize("case,tool", params("dice"))
def test_dice(run_bench, case, tool):
    run_bench("dice", case, tool)


@pytest.mark.parametrize("case,tool", params("confusion_matrix"))
def test_confusion_matrix(run_bench, case, tool):
    run_bench("confusion_matrix", case, tool)
