"""evaluate() under every convention preset equals the single-metric functions under it (DESIGN:
"every value equals the single-metric function"), including the presets' own boundary IoU, clDice
and empty rules (nnU-Net's NaN Dice for two empty masks)."""
import math

import numpy as np
import pytest

import fastseg
from fastseg.conventions import PRESETS


def _maps(seed, shape):
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    out = []
    for _ in range(2):
        m = np.zeros(shape, np.uint8)
        for lab in (1, 2):
            c = [rng.integers(1, s - 1) for s in shape]
            r = rng.uniform(1.5, min(shape) / 3)
            m[sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r] = lab
        out.append(m)
    out[0][out[0] == 2] = 0 if seed % 3 == 0 else 2  # sometimes label 2 is missed
    return out


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("seed, shape, spacing", [(0, (24, 24), (0.8, 1.3)), (1, (10, 16, 16), (2.5, 0.8, 0.8)),
                                                  (3, (12, 14, 14), (1.0, 1.0, 1.0))])
def test_evaluate_equals_single_functions(preset, seed, shape, spacing):
    pred, ref = _maps(seed, shape)
    metrics = ["dice", "iou", "hd", "hd95", "assd", "masd", "nsd@1", "boundary_iou", "cldice"]
    kw = dict(spacing=spacing, convention=preset)
    try:
        res = fastseg.evaluate(pred, ref, metrics=metrics, boundary_width=1.5, labels=[1, 2, 3], **kw)
    except ValueError:  # a preset with no distance for empty masks (MedPy, ITK): label 3 is in neither map
        with pytest.raises(ValueError):
            fastseg.hd95(pred == 3, ref == 3, **kw)
        return
    for lab in (1, 2, 3):
        p, r = pred == lab, ref == lab
        want = {"hd": fastseg.hausdorff(p, r, **kw), "hd95": fastseg.hd95(p, r, **kw),
                "assd": fastseg.assd(p, r, **kw), "masd": fastseg.masd(p, r, **kw),
                "nsd@1": fastseg.nsd(p, r, tolerance=1.0, **kw),
                "boundary_iou": fastseg.boundary_iou(p, r, width=1.5, **kw),
                "cldice": fastseg.cldice(p, r, convention=preset)}
        for name, value in want.items():
            assert _same(res[name][lab], value), (preset, lab, name, res[name][lab], value)
    both_empty_dice = res["dice"][3]
    assert math.isnan(both_empty_dice) if PRESETS[preset].empty == "nnunet" else both_empty_dice == 1.0
