"""Review of ``fastseg explain`` / ``fastseg.conventions.table``: the stated reasons are true for the
pair, the printed report fits 80 columns, raising presets are shown once, bad options are usage errors."""
import numpy as np

import fastseg
from fastseg.cli import main
from fastseg.conventions import PRESETS, get_convention, table
from fastseg.conventions_table import reasons
from tests.conftest import write_cohort


def _cube3d():
    pred = np.zeros((12, 12, 12), bool)
    pred[2:9, 3:10, 1:8] = True
    ref = np.zeros((12, 12, 12), bool)
    ref[3:11, 2:9, 2:10] = True
    return pred, ref


def _why(t, metric, preset):
    return [w.partition(":")[0] for d in t[metric].differences if d.preset == preset for w in d.reasons]


def test_pymia_slab_is_no_surface_reason_in_3d():
    # pymia's slab surfels only concern 2D masks: in 3D its surface model is fastseg's
    pred, ref = _cube3d()
    assert get_convention("pymia").surface_key(3) == get_convention("fastseg").surface_key(3)
    t = table(pred, ref, spacing=(1.0, 1.0, 1.0))
    assert _why(t, "assd", "pymia") == ["ASSD"]
    assert "surface model" not in [w.partition(":")[0] for w in reasons(
        "assd", get_convention("pymia"), get_convention("fastseg"), 3, "none")]


def test_quantile_rule_not_given_when_the_surface_model_alone_differs_for_the_pair():
    # noise: fastseg's HD95 is 0; medpy's differs by its boundary voxels, not by its quantile rule
    rng = np.random.default_rng(0)
    pred, ref = rng.random((16, 18, 14)) > 0.5, rng.random((16, 18, 14)) > 0.6
    sp = (2.5, 0.8, 1.1)
    t = table(pred, ref, spacing=sp)
    for name in ("medpy", "seg-metrics", "panoptica"):
        assert "direction aggregation" not in _why(t, "hd95", name), name
        assert fastseg.hd95(pred, ref, spacing=sp, convention=get_convention(name).replace(
            percentile="linear_per_direction")) == t["hd95"].values[name]  # pooling has no effect here


def test_single_voxels_assd_rule_without_effect_is_not_a_reason():
    # one surface element each side: pooled and mean-of-directed ASSD agree
    a = np.zeros((9, 9, 9), bool); a[4, 4, 4] = True
    b = np.zeros((9, 9, 9), bool); b[1, 2, 7] = True
    t = table(a, b, spacing=(0.5, 1.0, 2.0))
    for name in ("itk", "plastimatch", "panoptica"):
        assert _why(t, "assd", name) == ["surface model"], name


def test_empty_pairs_give_no_surface_or_quantile_reason():
    z = np.zeros((10, 10, 10), bool)
    ref = z.copy(); ref[2:6, 2:6, 2:6] = True
    for pred, r in ((z, z), (z, ref)):
        t = table(pred, r, tolerance=2.0)
        for row in t.rows:
            for d in row.differences:
                if d.value is not None:
                    why = [w.partition(":")[0] for w in d.reasons]
                    assert "empty rule" in why and "surface model" not in why and "quantile rule" not in why, d


def test_every_difference_has_a_reason_and_panoptica_nsd_rule():
    pred, ref = _cube3d()
    t = table(pred, ref, spacing=(1.0, 1.0, 2.0), tolerance=(1.0, 2.5))
    for row in t.rows:
        for d in row.differences:
            assert d.reasons
    assert "NSD" in _why(t, "nsd@1", "panoptica")


def test_report_fits_80_columns_and_raising_presets_once(tmp_path):
    z = np.zeros((10, 10), bool)
    text = str(table(z, z, tolerance=(1.0, 2.0, 3.0)))
    assert max(len(line) for line in text.splitlines()) <= 80
    for name in ("medpy", "itk", "plastimatch", "torchmetrics"):
        assert sum(line.startswith(f"{name} raises") for line in text.splitlines()) == 1
        assert f"hd {name} (" not in text  # not repeated per metric
    assert all(name in text for name in PRESETS)


def test_explain_cli_80_columns_and_bad_tolerance(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=1)
    p, r = str(pred / "case_00.nii.gz"), str(ref / "case_00.nii.gz")
    assert main(["explain", p, r, "--label", "3", "--tolerance", "1,2"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 + len(p)  # only a long path may overflow
    assert all(len(line) <= 80 for line in out.splitlines()[1:] if p not in line and r not in line)
    for bad in ("abc", "2,,x"):
        assert main(["explain", p, r, "--tolerance", bad]) == 2
        assert "--tolerance" in capsys.readouterr().err
    # without --tolerance (no NSD rows): the most common call (the first version of this check refused it)
    assert main(["explain", p, r, "--label", "3"]) == 0
    out = capsys.readouterr().out
    assert "hd95" in out and "nsd@" not in out


def test_explain_help_names_every_preset(capsys):
    try:
        main(["explain", "--help"])
    except SystemExit:
        pass
    text = " ".join(capsys.readouterr().out.split())
    for name in PRESETS:
        assert name in text, name


def test_one_row_per_tolerance_name():
    pred, ref = _cube3d()
    t = table(pred, ref, spacing=(1.0, 1.0, 1.0), tolerance=[2, 1, 2.0, 1])
    assert [r.metric for r in t.rows] == ["hd", "hd95", "assd", "masd", "nsd@2", "nsd@1"]
    assert t["nsd@2"].values == table(pred, ref, spacing=(1.0, 1.0, 1.0), tolerance=2)["nsd@2"].values


def test_printed_differences_show_two_different_numbers():
    """plastimatch's float32 distances differ from fastseg's in the 9th digit on anisotropic voxels:
    each printed difference shows digits that tell the two values apart."""
    ref = np.zeros((10, 20, 20), np.uint8)
    ref[3:7, 5:12, 5:12] = 1
    pred = ref.copy()
    pred[3:7, 6:13, 5:12] = ref[3:7, 5:12, 5:12]
    t = table(pred, ref, spacing=(2.5, 0.8, 0.8))
    assert t["hd"].values["plastimatch"] != t["hd"].values["fastseg"]
    lines = [ln for ln in str(t).splitlines() if " vs fastseg " in ln]
    assert lines
    for ln in lines:
        a, _, b = ln.partition("(")[2].partition(")")[0].partition(" vs fastseg ")
        assert a != b, ln
