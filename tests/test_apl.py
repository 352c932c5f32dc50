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


# ---------------------------------------------------------------- in evaluate's registry

def _label_pair(seed, shape):
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, np.uint8)
    ref[rng.random(shape) < 0.35] = 1
    ref[rng.random(shape) < 0.15] = 2
    pred = ref.copy()
    flip = rng.random(shape) < 0.1
    pred[flip] = rng.integers(0, 3, int(flip.sum()))
    return pred, ref


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape, spacing", [((4, 13, 11), (0.7, 1.3, 2.5)), ((13, 11), (0.7, 1.3))],
                         ids=["3d", "2d"])
def test_evaluate_equals_apl_per_label(shape, spacing, order):
    """evaluate's apl@T equals fastseg.apl on each label's masks (slices along the last axis; a 2D
    image is one slice), whatever the memory order."""
    pred, ref = _label_pair(1, shape)
    res = fastseg.evaluate(np.asarray(pred, order=order), np.asarray(ref, order=order), spacing=spacing,
                           metrics=["apl", "apl@0"], tolerance=(0.7, 2.0))
    assert res.metrics == ["apl@0.7", "apl@2", "apl@0"]
    for label in (1, 2):
        for t in (0.0, 0.7, 2.0):
            expected = apl_reference(np.moveaxis(pred == label, -1, 0), np.moveaxis(ref == label, -1, 0),
                                     (1.0,) + tuple(spacing[:-1]), t) if len(shape) == 3 else \
                apl_reference(pred == label, ref == label, spacing, t)
            assert res[f"apl@{t:g}"][label] == fastseg.apl(pred == label, ref == label, spacing=spacing, tolerance=t)
            assert res[f"apl@{t:g}"][label] == pytest.approx(expected, rel=1e-12)


def test_evaluate_apl_empty_and_one_sided():
    ref = np.zeros((3, 10, 10), np.uint8)
    ref[:, 2:6, 2:6] = 1  # label 1 in ref only
    pred = np.zeros_like(ref)
    pred[1, 6:9, 6:9] = 2  # label 2 in pred only
    res = fastseg.evaluate(pred, ref, labels=[1, 2, 3], metrics=["apl@1", "dice"], spacing=(1.0, 1.0, 2.0))
    rows = {(r["label"], r["metric"]): (r["value"], r["empty_state"]) for r in res.rows}
    # nothing predicted: the whole reference contour; slices along the last axis: 4 of them (k = 2..5)
    # hold a 3 x 4 rectangle, whose contour is all but its 1 x 2 inside: 10 pixels of 1 mm each
    assert rows[(1, "apl@1")] == (fastseg.apl(pred == 1, ref == 1, spacing=(1.0, 1.0, 2.0)), "pred_empty")
    assert rows[(1, "apl@1")][0] == 4 * 10 * 1.0
    assert rows[(2, "apl@1")] == (0.0, "ref_empty")  # nothing to draw
    assert rows[(3, "apl@1")] == (0.0, "both_empty")


@pytest.mark.parametrize("metrics, kwargs, words", [
    (["apl"], {}, "metric 'apl' needs a tolerance"),
    (["apl@x"], {}, "metric 'apl@x': the tolerance after '@' must be a number"),
    (["apl@-1"], {}, "the tolerance of metric 'apl@-1' must be a finite number >= 0"),
])
def test_evaluate_apl_bad_requests(metrics, kwargs, words):
    pred, ref = _label_pair(0, (3, 6, 6))
    with pytest.raises(InputValueError, match=words):
        fastseg.evaluate(pred, ref, metrics=metrics, **kwargs)
    with pytest.raises(InputValueError, match="distance and topology metrics supports 2D or 3D"):
        fastseg.evaluate(pred[None], ref[None], metrics=["apl@1"])


def test_apl_is_described_for_reports():
    from fastseg.evaluate import metric_info
    info = metric_info("apl@2")
    assert info.unit == "mm" and info.better == "lower" and "2 mm" in info.plain


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 2.6, 9.0])
def test_wide_and_narrow_tolerances_agree_with_the_brute_force(tolerance):
    """Narrow tolerances look the predicted contour up at a few in-plane offsets; wide ones (more than
    MAX_OFFSETS offsets: 9 mm at 0.7 x 1.3 mm) take a distance transform per slice: both exact."""
    from fastseg.metrics.apl import MAX_OFFSETS, _offsets
    spacing = (2.0, 0.7, 1.3)
    assert (_offsets(np.array(spacing[1:]), tolerance) is None) == (tolerance == 9.0)
    assert MAX_OFFSETS == 64
    rng = np.random.default_rng(7)
    ref = np.zeros((4, 40, 30), bool)
    ref[:, 5:30, 4:25] = True
    ref[1, 10:20, 10:15] = False  # a hole
    ref[3, :, :] = rng.random((40, 30)) < 0.5
    pred = np.roll(ref, (3, 2), axis=(1, 2)) ^ (rng.random(ref.shape) < 0.05)
    pred[2] = False
    assert fastseg.apl(pred, ref, spacing=spacing, tolerance=tolerance, slice_axis=0) == pytest.approx(
        apl_reference(pred, ref, spacing, tolerance), rel=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_evaluate_slice_axis_for_zyx_arrays(order, axis):
    """Before: evaluate always sliced along the last axis, so (z, y, x) arrays (SimpleITK's order) were
    cut along x without a word. ``slice_axis`` is evaluate's too, whatever the memory order."""
    pred, ref = _label_pair(3, (5, 12, 9))
    spacing = (2.5, 0.8, 1.1)
    res = fastseg.evaluate(np.asarray(pred, order=order), np.asarray(ref, order=order), spacing=spacing,
                           metrics=["apl"], tolerance=1.0, slice_axis=axis)
    for label in (1, 2):
        got = res["apl@1"][label]
        assert got == fastseg.apl(pred == label, ref == label, spacing=spacing, tolerance=1.0, slice_axis=axis)
        want = apl_reference(np.moveaxis(pred == label, axis, 0), np.moveaxis(ref == label, axis, 0),
                             (1.0,) + tuple(np.delete(spacing, axis % 3)), 1.0)
        assert got == pytest.approx(want, rel=1e-12)


def test_evaluate_warns_like_apl_when_the_default_slice_axis_looks_wrong():
    pred, ref = _label_pair(4, (5, 12, 9))
    zyx = (5.0, 0.8, 0.8)  # a 0.8 x 0.8 x 5 mm CT in SimpleITK's order
    with pytest.warns(UserWarning, match="pass slice_axis=0"):
        fastseg.evaluate(pred, ref, spacing=zyx, metrics=["apl"], tolerance=1.0)
    with pytest.warns(UserWarning, match="pass slice_axis=0"):
        fastseg.apl(pred == 1, ref == 1, spacing=zyx, tolerance=1.0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastseg.evaluate(pred, ref, spacing=zyx, metrics=["apl"], tolerance=1.0, slice_axis=0)
        fastseg.evaluate(pred, ref, spacing=zyx, metrics=["dice", "hd95"])  # no APL: no warning
        fastseg.evaluate(pred, ref, spacing=zyx[::-1], metrics=["apl"], tolerance=1.0)
    with pytest.raises(InputValueError, match="slice_axis must be an axis of the 3D masks"):
        fastseg.evaluate(pred, ref, spacing=zyx, metrics=["dice"], slice_axis=3)


def test_cli_slice_axis_for_files_written_from_zyx_arrays(tmp_path, capsys):
    """``fastseg evaluate --slice-axis 0`` scores APL across the first axis of the files (written from
    (z, y, x) arrays: 5 mm along it), as ``evaluate(slice_axis=0)``; without it the run warns, and a
    resume with another slice axis is refused (the option is in the run's record)."""
    from fastseg import cohort as C
    from fastseg.cli import main
    from tests.conftest import save_nifti

    pred, ref = _label_pair(5, (6, 14, 12))
    spacing = (5.0, 0.8, 0.8)
    for folder, arr in (("p", pred), ("r", ref)):
        (tmp_path / folder).mkdir()
        save_nifti(tmp_path / folder / "c1.nii.gz", arr, spacing)
    out = tmp_path / "o.csv"
    args = ["evaluate", str(tmp_path / "p"), str(tmp_path / "r"), "--metrics", "apl", "--tolerance", "1",
            "--labels", "1,2", "--out", str(out), "--quiet"]
    assert main(args + ["--slice-axis", "0"]) == 0
    assert "slice_axis" not in capsys.readouterr().err
    got = {r["label"]: r["value"] for r in C.read_results(out)}
    read = tuple(float(np.float32(x)) for x in spacing)  # as NIfTI holds it
    want = fastseg.evaluate(pred, ref, spacing=read, metrics=["apl"], tolerance=1.0, labels=[1, 2], slice_axis=0)
    assert got == {1: want["apl@1"][1], 2: want["apl@1"][2]}
    assert main(args + ["--resume"]) == 2  # the default slice axis is another option
    assert "options" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="--slice-axis 0 on the command line"):
        assert main(args + ["--overwrite"]) == 0
    assert main(args + ["--resume", "--slice-axis", "2"]) == 0  # the default, named: the same options


def test_cohort_refuses_a_bad_slice_axis_before_any_case(tmp_path):
    from fastseg import cohort as C
    from tests.conftest import write_cohort

    p, r = write_cohort(tmp_path, n=1)
    with pytest.raises(InputValueError, match="slice_axis must be an axis of the 3D masks"):
        C.evaluate_cohort(p, r, metrics=["apl"], tolerance=1.0, slice_axis=5, out=str(tmp_path / "o.csv"))
    assert not (tmp_path / "o.csv").exists()
