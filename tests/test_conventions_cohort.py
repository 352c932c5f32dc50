"""Per-preset values of a label map (``fastseg.conventions_table.by_structure``) and of a cohort run
(``evaluate_cohort(conventions=...)``, ``fastseg evaluate --conventions``): each value equals a
separate run under that preset (``fastseg.evaluate(..., convention=preset)``), to the bit; labels,
regions, ignore label, 2D, anisotropic spacing, structures on the image border, absent and one-sided
empty structures, Fortran order; rows named ``metric/preset`` that gates, summaries and ``compare``
take; the options record makes ``--resume`` refuse another selection."""
import json
import math

import nibabel as nib
import numpy as np
import pytest

import fastseg
from fastseg.conventions import PRESETS
from fastseg.conventions_table import by_structure, check_presets, preset_metric, split_preset_metric

from tests.conftest import same

METRICS = ["hd", "hd95", "hd50", "assd", "masd", "nsd"]
TOLS = (1.0, 2.5)


def label_maps(seed, shape=(9, 20, 22)):
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    ref[1:6, 3:12, 4:14] = 1
    pred[2:7, 4:13, 3:13] = 1
    ref[:, 14:, 15:] = 2  # on the image border (the foreground-edge rule of seg-metrics matters)
    pred[:, 15:, 14:] = 2
    ref[rng.random(shape) < 0.01] = 3  # noise; label 4 in pred only, 5 absent from both
    pred[rng.random(shape) < 0.01] = 4
    pred[0, 0, 0] = 3
    ref[-1, -1, 0] = 7  # the ignore label
    return pred, ref


CASES = {
    "3d-aniso": (*label_maps(0), (2.5, 0.8, 0.8)),
    "3d-iso": (*label_maps(1, (7, 15, 16)), (1.0, 1.0, 1.0)),
    "2d": (*(m[3] for m in label_maps(2)), (0.7, 1.9)),
    "thin-slab": (*(m[2:3] for m in label_maps(3)), (3.0, 0.9, 0.9)),
}


def separately(pred, ref, sp, preset, **kw):
    """{(label, metric): value} of evaluate under one preset (a structure it cannot score: NaN)."""
    out = {}
    structures = kw.pop("structures")
    for key, members in structures:
        opts = dict(kw)
        if isinstance(key, str):
            opts["regions"] = {key: members}
            opts["labels"] = []
        else:
            opts["labels"] = [key]
        try:
            res = fastseg.evaluate(pred, ref, spacing=sp, convention=preset, metrics=METRICS, tolerance=TOLS,
                                   percentiles=(95, 50), **opts)
        except ValueError as exc:
            assert "empty" in str(exc)
            out.update({(key, m): math.nan for m in ("hd", "hd95", "hd50", "assd", "masd", "nsd@1", "nsd@2.5")})
            continue
        for r in res.rows:
            out[(r["label"], r["metric"])] = r["value"]
    return out


STRUCTURES = [(1, [1]), (2, [2]), (3, [3]), (4, [4]), (5, [5]), ("both", [1, 2])]


@pytest.mark.parametrize("case_id", list(CASES))
def test_values_equal_separate_runs_per_preset(case_id):
    pred, ref, sp = CASES[case_id]
    rows = by_structure(pred, ref, presets="all", spacing=sp, labels=[1, 2, 3, 4, 5], regions={"both": [1, 2]},
                        ignore_label=7, metrics=METRICS, tolerance=TOLS, percentiles=(95, 50))
    got = {}
    for r in rows:
        metric, preset = split_preset_metric(r["metric"])
        assert r["convention"] == preset
        got[(preset, r["label"], metric)] = r["value"]
    assert len(got) == len(rows) == len(PRESETS) * len(STRUCTURES) * 7
    for preset in PRESETS:
        want = separately(pred, ref, sp, preset, ignore_label=7, structures=STRUCTURES)
        for (label, metric), value in want.items():
            assert same(got[(preset, label, metric)], value), (case_id, preset, label, metric)


def test_fortran_order_and_automatic_labels():
    """Fortran-ordered maps are processed transposed, as evaluate does: equal to evaluate on the same
    arrays (plastimatch's float32 propagation follows the axis order, so C and Fortran order may differ
    there in the last digits, alone as here)."""
    pred, ref, sp = CASES["3d-aniso"]
    fp, fr = np.asfortranarray(pred), np.asfortranarray(ref)
    presets = ["monai", "plastimatch", "seg-metrics", "itk"]
    a = by_structure(pred, ref, presets=presets, spacing=sp, metrics=["hd95", "assd"])
    b = by_structure(fp, fr, presets=presets, spacing=sp, metrics=["hd95", "assd"])
    assert [r["label"] for r in a][::8] == [1, 2, 3, 4, 7]  # every non-zero label present, ignore label too
    for x, y in zip(a, b):
        assert x["label"] == y["label"] and x["metric"] == y["metric"]
        assert same(x["value"], y["value"], 1e-12 if "plastimatch" not in x["metric"] else 1e-6)
    for preset in presets:
        res = fastseg.evaluate(fp, fr, spacing=sp, convention=preset, metrics=["hd95", "assd"], labels=[1, 2, 3])
        for r in res.rows:
            want = next(y["value"] for y in b if y["label"] == r["label"] and y["metric"] == preset_metric(r["metric"], preset))
            assert same(r["value"], want), (preset, r)


def test_empty_structures_follow_each_presets_policy():
    pred, ref, sp = CASES["3d-iso"]
    rows = {(r["label"], r["metric"]): r for r in by_structure(pred, ref, presets="all", spacing=sp, labels=[4, 5],
                                                                metrics=["hd", "nsd"], tolerance=1.0)}
    assert rows[(4, "hd/fastseg")]["value"] == math.inf and rows[(4, "hd/fastseg")]["empty_state"] == "ref_empty"
    assert math.isnan(rows[(4, "hd/medpy")]["value"]) and math.isnan(rows[(4, "hd/itk")]["value"])  # raise alone
    assert rows[(4, "hd/seg_metrics")]["value"] == 0.0 and rows[(4, "nsd@1/seg_metrics")]["value"] == 1.0
    assert rows[(4, "hd/plastimatch")]["value"] == fastseg.conventions.FLOAT32_MAX
    assert rows[(5, "hd/fastseg")]["value"] == 0.0 and rows[(5, "nsd@1/fastseg")]["value"] == 1.0
    assert math.isnan(rows[(5, "hd/monai")]["value"]) and math.isnan(rows[(5, "hd/torchmetrics")]["value"])
    assert rows[(5, "nsd@1/pymia")]["value"] == -math.inf


def test_names_and_names_of_rows():
    pred, ref, sp = CASES["2d"]
    rows = by_structure(pred, ref, presets="medpy", spacing=sp, labels=[1], regions={"all": [1, 2]},
                        metrics=["hd95"], names={1: "liver"})
    assert [(r["label"], r["name"], r["metric"]) for r in rows] == [(1, "liver", "hd95/medpy"),
                                                                  ("all", "all", "hd95/medpy")]
    assert preset_metric("nsd@2", "seg-metrics") == "nsd@2/seg_metrics"
    assert split_preset_metric("nsd@2/seg_metrics") == ("nsd@2", "seg-metrics")
    assert split_preset_metric("tversky@0.3/0.7") == ("tversky@0.3/0.7", None)
    assert split_preset_metric("hd95") == ("hd95", None)


@pytest.mark.parametrize("bad, exc, match", [
    ("monai,nope", ValueError, "convention must be one of"),
    ("", ValueError, "at least one preset"),
    (["fastseg"], ValueError, "at least one preset other than"),
    (3, TypeError, "conventions must be"),
    ([PRESETS["monai"].replace(connectivity=2)], TypeError, "custom Convention"),
])
def test_bad_preset_selections(bad, exc, match):
    with pytest.raises(exc, match=match):
        check_presets(bad, exclude="fastseg")


def test_selection_order_and_all():
    assert check_presets("all", exclude="fastseg") == [n for n in PRESETS if n != "fastseg"]
    assert check_presets("medpy, MONAI,medpy") == ["medpy", "monai"]
    assert check_presets("seg_metrics") == ["seg-metrics"]


@pytest.mark.parametrize("regions, exc, match", [([1, 2], TypeError, "dict of region name"),
                                                  ({3: [1]}, TypeError, "region names must be strings"),
                                                  ({"none": []}, ValueError, "at least one label")])
def test_bad_regions(regions, exc, match):
    pred, ref, sp = CASES["2d"]
    with pytest.raises(exc, match=match):
        by_structure(pred, ref, presets="monai", metrics=["hd"], spacing=sp, regions=regions)
    with pytest.raises(exc, match=match):  # as evaluate refuses them
        fastseg.evaluate(pred, ref, metrics=["hd"], spacing=sp, regions=regions)


def test_no_surface_metric_is_refused():
    pred, ref, sp = CASES["2d"]
    with pytest.raises(ValueError, match="surface-distance metrics"):
        by_structure(pred, ref, presets="monai", metrics=["dice", "boundary_iou"], spacing=sp)
    with pytest.raises(ValueError, match="2D or 3D"):
        by_structure(np.zeros((2, 2, 2, 2), np.uint8), np.zeros((2, 2, 2, 2), np.uint8), presets="monai")


# ---------------------------------------------------------------- the cohort


def write_cohort(tmp_path, n=3):
    pdir, rdir = tmp_path / "pred", tmp_path / "ref"
    pdir.mkdir()
    rdir.mkdir()
    for i in range(n):
        pred, ref = label_maps(10 + i, (8, 14, 15))
        if i == 2:
            pred[pred == 2] = 0  # label 2 missed: one-sided empty
        aff = np.diag([2.5, 0.8, 0.8, 1.0])
        nib.save(nib.Nifti1Image(pred, aff), str(pdir / f"c{i}.nii.gz"))
        nib.save(nib.Nifti1Image(ref, aff), str(rdir / f"c{i}.nii.gz"))
    return pdir, rdir


def test_cohort_rows_equal_separate_runs(tmp_path):
    pdir, rdir = write_cohort(tmp_path)
    kw = dict(labels=[1, 2], metrics=["dice", "hd95", "assd", "nsd"], tolerance=2.0)
    res = fastseg.evaluate_cohort(pdir, rdir, conventions="monai,medpy,plastimatch", out=tmp_path / "r.csv", **kw)
    assert not res.errors
    for preset in ("monai", "plastimatch"):
        alone = fastseg.evaluate_cohort(pdir, rdir, convention=preset, **kw)
        for r in alone.rows:
            if r["metric"] in ("hd95", "assd", "nsd@2"):
                assert same(res.value(r["case_id"], r["label"], preset_metric(r["metric"], preset)), r["value"])
    medpy = [r for r in res.rows if r["metric"] == "hd95/medpy"]
    assert math.isnan(next(r["value"] for r in medpy if r["case_id"] == "c2" and r["label"] == 2))  # one empty
    # the run's own rows are unchanged
    plain = fastseg.evaluate_cohort(pdir, rdir, **kw)
    for r in plain.rows:
        assert same(res.value(r["case_id"], r["label"], r["metric"]), r["value"])
    record = json.loads((tmp_path / "r.csv.options.json").read_text())["options"]
    assert record["conventions"] == ["monai", "medpy", "plastimatch"]
    assert "hd95/monai" in record["metrics"]


def test_cohort_summary_gates_and_compare(tmp_path):
    from fastseg.cohort.compare import compare
    from fastseg.cohort.stats import check_gates, parse_gates

    pdir, rdir = write_cohort(tmp_path)
    res = fastseg.evaluate_cohort(pdir, rdir, labels=[1], metrics=["hd95"], conventions="all")
    summary = res.summary()
    means = {s["metric"]: s["mean"] for s in summary["overall"]}
    assert {"hd95", "hd95/monai", "hd95/seg_metrics", "hd95/plastimatch"} <= set(means)
    gates = parse_gates(["hd95/monai=100", "hd95/seg_metrics=100"])
    assert [g["passed"] for g in check_gates(summary, fail_over=gates)] == [True, True]
    out = compare(res.rows, res.rows, max_rise=parse_gates(["hd95/monai=0.5"], "--max-rise"))
    assert out is not None
    wide = res.to_pandas(wide=True) if _has_pandas() else None
    if wide is not None:
        assert "hd95/itk" in wide.columns


def _has_pandas():
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def test_resume_refuses_another_selection(tmp_path):
    pdir, rdir = write_cohort(tmp_path, n=2)
    out = tmp_path / "r.csv"
    kw = dict(labels=[1], metrics=["hd95"])
    fastseg.evaluate_cohort(pdir, rdir, conventions="monai", out=out, **kw)
    with pytest.raises(ValueError, match="conventions|metrics"):
        fastseg.evaluate_cohort(pdir, rdir, conventions="medpy", out=out, resume=True, **kw)
    with pytest.raises(ValueError, match="conventions|metrics"):
        fastseg.evaluate_cohort(pdir, rdir, out=out, resume=True, **kw)
    again = fastseg.evaluate_cohort(pdir, rdir, conventions=["monai"], out=out, resume=True, **kw)
    assert len(again.case_ids) == 2


def test_cohort_refusals(tmp_path):
    pdir, rdir = write_cohort(tmp_path, n=1)
    with pytest.raises(ValueError, match="surface-distance metrics"):
        fastseg.evaluate_cohort(pdir, rdir, metrics=["dice"], conventions="monai")
    with pytest.raises(ValueError, match="convention must be one of"):
        fastseg.evaluate_cohort(pdir, rdir, metrics=["hd"], conventions="monai,bogus")


def test_cli(tmp_path):
    from fastseg.cli import main

    pdir, rdir = write_cohort(tmp_path, n=2)
    out = tmp_path / "cli.csv"
    code = main(["evaluate", str(pdir), str(rdir), "--metrics", "hd95", "--labels", "1", "--conventions",
                 "monai,seg-metrics", "--out", str(out), "--fail-over", "hd95/monai=1000"])
    assert code == 0
    text = out.read_text()
    assert "hd95/monai" in text and "hd95/seg_metrics" in text
    code = main(["evaluate", str(pdir), str(rdir), "--metrics", "hd95", "--labels", "1", "--conventions",
                 "all", "--out", str(out), "--overwrite", "--fail-over", "hd95/monai=0"])
    assert code != 0
