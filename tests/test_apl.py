"""Added path length: a hand-worked case, a brute-force reference (every pair of contour pixels),
empty slices, anisotropic pixels, invalid input."""
import numpy as np
import pytest

import fastseg
from fastseg._validation import InputValueError


def contour_reference(mask):
    """Pixels of a 2D mask with a 4-neighbour outside it (loops, the border padded with background)."""
    m = np.pad(mask.astype(bool), 1)
    out = np.zeros(mask.shape, bool)
    for i in range(mask.shape[0]):
        for j in range(mask.shape[1]):
            if m[i + 1, j + 1]:
                out[i, j] = not (m[i, j + 1] and m[i + 2, j + 1] and m[i + 1, j] and m[i + 1, j + 2])
    return out


def apl_reference(pred, ref, spacing, tolerance):
    """Brute force: each reference contour pixel against every predicted contour pixel of its slice."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.ndim == 2:
        pred, ref, spacing = pred[None], ref[None], (1.0,) + tuple(spacing)
    s = np.asarray(spacing[1:], float)
    added = 0
    for k in range(ref.shape[0]):
        rc, pc = np.argwhere(contour_reference(ref[k])), np.argwhere(contour_reference(pred[k]))
        for x in rc:
            if len(pc) == 0 or np.min(np.sqrt((((pc - x) * s) ** 2).sum(axis=1))) > tolerance:
                added += 1
    return added * s.mean()


def square_pair():
    ref = np.zeros((10, 10), bool)
    ref[2:6, 2:6] = True
    pred = np.zeros((10, 10), bool)
    pred[2:6, 3:7] = True
    return pred, ref


def test_hand_worked_square_shifted_by_one_column():
    # the reference's 4x4 square has 12 contour pixels; the shifted square's contour covers 6 of them
    # (rows 2 and 5, columns 3-5): 6 pixels to add, each 1 mm; within 1 mm every one is covered
    pred, ref = square_pair()
    assert fastseg.apl(pred, ref, spacing=(1.0, 1.0)) == 6.0
    assert fastseg.apl(pred, ref, spacing=(1.0, 1.0), tolerance=0.99) == 6.0
    assert fastseg.apl(pred, ref, spacing=(1.0, 1.0), tolerance=1.0) == 0.0
    assert fastseg.apl(pred, ref, spacing=(0.5, 1.5)) == 6.0  # pixel size: mean of the in-plane spacings
    # along rows 0.5 apart the shifted column is 1.5 away: tolerance 1.0 leaves the 4 side pixels...
    # ...of column 2 (rows 3, 4 -> nearest predicted (3, 3) at 1.5) and column 5 (-> (3, 6) at 1.5)
    assert fastseg.apl(pred, ref, spacing=(0.5, 1.5), tolerance=1.0) == 4.0


def test_empty_cases():
    pred, ref = square_pair()
    empty = np.zeros_like(ref)
    assert fastseg.apl(pred, empty, spacing=1.0) == 0.0
    assert fastseg.apl(empty, empty, spacing=1.0) == 0.0
    assert fastseg.apl(empty, ref, spacing=1.0, tolerance=5.0) == 12.0  # nothing predicted: draw it all
    assert fastseg.apl(ref, ref, spacing=1.0) == 0.0
    one = np.zeros((3, 3), bool)
    one[1, 1] = True
    assert fastseg.apl(np.zeros_like(one), one, spacing=2.0) == 2.0


def test_3d_sums_slices_along_axis_0():
    pred, ref = square_pair()
    ref3 = np.stack([ref, ref, np.zeros_like(ref)])
    pred3 = np.stack([pred, np.zeros_like(pred), pred])
    # slice 0: 6 pixels, slice 1: all 12, slice 2: no reference
    assert fastseg.apl(pred3, ref3, spacing=(3.0, 1.0, 1.0), slice_axis=0) == 18.0
    # the default slice axis is the last (fastseg.io's (i, j, k) order): the same stack moved there
    assert fastseg.apl(np.moveaxis(pred3, 0, -1), np.moveaxis(ref3, 0, -1), spacing=(1.0, 1.0, 3.0)) == 18.0
    assert fastseg.apl(np.moveaxis(pred3, 0, 1), np.moveaxis(ref3, 0, 1), spacing=(1.0, 3.0, 1.0),
                       slice_axis=1) == 18.0


def test_slice_axis_matters():
    """A block shifted along the slice axis adds contour only on the slice it leaves uncovered; cut
    across the slices, the same pair adds much more."""
    ref = np.zeros((6, 8, 8), bool)
    ref[1:4, 2:6, 2:6] = True
    pred = np.roll(ref, 1, axis=0)
    assert fastseg.apl(pred, ref, slice_axis=0) == 12.0  # slice 1: no prediction, its 12 pixels
    assert fastseg.apl(pred, ref, slice_axis=-1) > 12.0


@pytest.mark.parametrize("seed", range(6))
def test_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (3, 14, 12)
    ref = rng.random(shape) < 0.5
    pred = ref ^ (rng.random(shape) < 0.2)
    pred[1] = False  # a slice without prediction
    ref[2, :, :3] = True  # a contour on the image border
    spacing = (2.0, 0.7, 1.3)
    for tol in (0.0, 0.7, 1.3, 2.0):
        assert fastseg.apl(pred, ref, spacing=spacing, tolerance=tol, slice_axis=0) == pytest.approx(
            apl_reference(pred, ref, spacing, tol), rel=1e-12)
        t = (1, 2, 0)  # the slices along the last axis, the default
        assert fastseg.apl(pred.transpose(t), ref.transpose(t), spacing=np.take(spacing, t),
                           tolerance=tol) == pytest.approx(apl_reference(pred, ref, spacing, tol), rel=1e-12)
    assert fastseg.apl(pred[0], ref[0], spacing=spacing[1:], tolerance=0.7) == pytest.approx(
        apl_reference(pred[0], ref[0], spacing[1:], 0.7), rel=1e-12)


def test_invalid_input():
    pred, ref = square_pair()
    with pytest.raises(InputValueError, match="tolerance"):
        fastseg.apl(pred, ref, spacing=1.0, tolerance=-1.0)
    with pytest.raises(InputValueError, match="tolerance"):
        fastseg.apl(pred, ref, spacing=1.0, tolerance=float("inf"))
    with pytest.raises(InputValueError):
        fastseg.apl(pred, ref, spacing=(1.0, 0.0))
    with pytest.raises(InputValueError):
        fastseg.apl(pred, ref[:5], spacing=1.0)
    with pytest.raises(InputValueError):
        fastseg.apl(pred.astype(np.uint8) * 2, ref, spacing=1.0)
    with pytest.raises(InputValueError):
        fastseg.apl(pred[None, None], ref[None, None], spacing=1.0)
    for bad in (3, -4, 1.0, True, "k"):
        with pytest.raises(InputValueError, match=f"slice_axis must be an axis of the 3D masks .*got {bad!r}"):
            fastseg.apl(pred[None], ref[None], spacing=1.0, slice_axis=bad)
