"""``fastseg.conventions.table``: every distance metric under every preset for one pair equals calling
each preset separately; one surface computation per distinct surface model; spread and reasons. And
the preset table: generated once from the presets' fields, shown by the module docstring and README."""
import math
import pathlib
import re

import numpy as np
import pytest

import fastseg
import fastseg.conventions as fc
import fastseg.conventions_table
from fastseg.conventions import PRESETS, get_convention, preset_table, table

from tests.conftest import same
from tests.test_parity import CASES, EMPTY

TABLE_CASES = ["blob3d-0", "blob3d-4", "blob2d-0", "blob2d-3", "noise3d-dense", "border-slabs3d", "border-half2d",
               "full-vs-cube3d", "lines3d", "single-voxels3d", "identical3d", "far-apart3d", *EMPTY]
TOLS = (1.05, 2.35)


def separately(pred, ref, sp, conv):
    """The metrics of one preset by the public single-metric functions (None where it raises)."""
    try:
        sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv)
    except ValueError:
        return None
    out = {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd), "assd": fastseg.assd(sd),
           "masd": fastseg.masd(sd)}
    out.update({f"nsd@{t:g}": x for t, x in zip(TOLS, fastseg.nsd(sd, tolerance=list(TOLS)))})
    return out


@pytest.mark.parametrize("case_id", TABLE_CASES)
def test_table_equals_each_preset_separately(case_id):
    pred, ref, sp = {**CASES, **EMPTY}[case_id]
    t = table(pred, ref, spacing=sp, tolerance=TOLS)
    assert [r.metric for r in t.rows] == ["hd", "hd95", "assd", "masd", "nsd@1.05", "nsd@2.35"]
    for name in PRESETS:
        want = separately(pred, ref, sp, name)
        for row in t.rows:
            got = row.values[name]
            if want is None:
                assert got is None and name in t.errors
            else:
                assert same(got, want[row.metric]), (case_id, name, row.metric, got, want[row.metric])  # bits
    # one surface computation per distinct surface model, not one per preset
    keys = {get_convention(n).surface_key(pred.ndim) for n in PRESETS}
    assert t.surface_computations == (len(keys) if (pred.any() or ref.any()) else 0)
    assert t.surface_computations < len(PRESETS)
    for row in t.rows:
        numbers = [x for x in row.values.values() if x is not None and not math.isnan(x)]
        if numbers and max(numbers) > min(numbers):
            assert row.spread == max(numbers) - min(numbers)
        elif numbers:
            assert row.spread == 0.0
        listed = {d.preset for d in row.differences}
        for name, x in row.values.items():
            differs = not same(x, row.values["fastseg"]) if x is not None else True
            assert (name in listed) == (differs and name != "fastseg"), (row.metric, name)
        for d in row.differences:
            assert d.reasons and all(isinstance(w, str) and w for w in d.reasons)


def test_reasons_in_words():
    pred, ref, sp = CASES["blob3d-0"]
    t = table(pred, ref, spacing=sp)
    why = {d.preset: " ".join(d.reasons) for d in t["hd95"].differences}
    assert "surface model: boundary voxels" in why["monai"]
    assert "direction aggregation: pooled" in why["medpy"] and "surface model" in why["medpy"]
    assert "direction aggregation: mean" in why["plastimatch"] and "floor(q n - 1)" in why["plastimatch"]
    assert "every object voxel" in why["itk"]
    assert "deepmind" not in why  # same surfels, same quantile rule: same HD95
    assert {d.preset for d in t["assd"].differences} >= {"deepmind", "monai", "itk"}
    assert "ASSD: mean of the two directed means" in " ".join(
        d for x in t["assd"].differences if x.preset == "deepmind" for d in x.reasons)
    text = str(t)
    assert "spread" in text and "hd95 monai" in text
    recs = t.records()
    assert len(recs) == 4 * len(PRESETS) and {"metric", "preset", "value", "spread", "reasons", "error"} <= set(recs[0])


def test_empty_pairs_name_the_empty_rule_and_the_presets_that_raise():
    pred, ref, sp = EMPTY["pred-empty3d"]
    t = table(pred, ref, spacing=sp)
    assert t.empty_state == "pred_empty"
    assert set(t.errors) == {"medpy", "itk"}
    hd = t["hd"]
    assert hd.values["fastseg"] == math.inf and hd.values["seg-metrics"] == 0.0 and hd.values["medpy"] is None
    why = {d.preset: " ".join(d.reasons) for d in hd.differences}
    assert why["seg-metrics"].startswith("empty rule: 0 mm")
    assert why["medpy"].startswith("raises:")
    assert hd.spread == math.inf
    both = table(*EMPTY["both-empty2d"][:2], spacing=EMPTY["both-empty2d"][2])
    assert set(both.errors) == {"medpy", "itk", "torchmetrics", "plastimatch"} and both.surface_computations == 0


def test_table_arguments():
    pred, ref, sp = CASES["blob2d-0"]
    t = table(pred, ref, spacing=sp, presets=["monai", fastseg.Convention(name="mine", surface="object")])
    assert t.reference == "monai" and list(t["hd"].values) == ["monai", "mine"]
    assert t["hd"].values["mine"] == fastseg.hausdorff(pred, ref, spacing=sp, convention="itk")
    with pytest.raises(ValueError, match="distinct names"):
        table(pred, ref, presets=["monai", "monai"])
    with pytest.raises(ValueError, match="convention must be one of"):
        table(pred, ref, presets=["nope"])
    assert fc.table is not None and fastseg.conventions_table.table(pred, ref, spacing=sp)["hd"].values == \
        table(pred, ref, spacing=sp)["hd"].values


# ------------------------------------------------------------------ the generated preset table

def test_docstring_shows_the_generated_table():
    assert preset_table() in fc.__doc__
    assert "{PRESET_TABLE}" not in fc.__doc__
    for name in PRESETS:
        assert f"| `{name}` |" in preset_table()


def test_readme_shows_the_generated_table():
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- preset-table: generated by fastseg\.conventions\.preset_table\(\) -->\n(.*?)\n<!-- /preset-table -->",
                  readme, re.S)
    assert m, "README's Conventions section lacks the generated preset table markers"
    assert m.group(1) == preset_table(), (
        "README's preset table is stale: replace it by the output of "
        "python -c 'import fastseg.conventions as c; print(c.preset_table())'")


def test_existing_presets_keep_their_fields():
    """The fields added in issue 16 default to the choices of fastseg 0.1, so the earlier presets
    compute the same bits (bench.fingerprint checks the numbers)."""
    d = fastseg.Convention()
    assert (d.edge, d.transform, d.plane, d.aggregate, d.band, d.skeleton) == \
        ("background", "exact", "2d", "max", "physical", "fastseg")
    for name in ("fastseg", "deepmind", "monai", "medpy"):
        c = PRESETS[name]
        assert (c.edge, c.transform, c.plane, c.aggregate, c.band, c.skeleton) == \
            ("background", "exact", "2d", "max", "physical", "fastseg")
    with pytest.raises(ValueError, match="danielsson"):
        fastseg.Convention(transform="danielsson")
    with pytest.raises(ValueError, match="Convention.edge"):
        fastseg.Convention(surface="voxel", edge="nowhere")


def test_the_html_report_describes_every_preset():
    """A cohort run under any preset gets its convention explained in the HTML report."""
    from fastseg.report.html import convention_text

    for name in PRESETS:
        texts = dict(convention_text(name))
        assert set(texts) == {"surface", "HD percentile", "ASSD", "empty masks"} and all(texts.values())
    assert "Danielsson" in dict(convention_text("plastimatch"))["surface"]


def test_a_crop_without_its_position_is_refused_where_the_image_edge_matters():
    """seg-metrics' contour needs to know which crop faces are the image's edge: the engine refuses to
    guess; evaluate passes the crop's position and equals the single-metric function."""
    from fastseg._engine.distances import distances_in_crop

    pred, ref, sp = CASES["border-blob3d"]
    crop = (np.ascontiguousarray(pred.view(np.uint8)), np.ascontiguousarray(ref.view(np.uint8)))
    with pytest.raises(ValueError, match="where the crop lies"):
        distances_in_crop(*crop, np.asarray(sp, float), get_convention("seg-metrics"))
    res = fastseg.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), spacing=sp, convention="seg-metrics",
                           metrics=["hd"])
    assert res["hd"][1] == fastseg.hausdorff(pred, ref, spacing=sp, convention="seg-metrics")
    d = distances_in_crop(*crop, np.asarray(sp, float), get_convention("seg-metrics"), ((True, True),) * 3)
    assert d[0].size == fastseg.surface_distances(pred, ref, spacing=sp, convention="seg-metrics").pred_to_ref.size


def test_benchmark_smoke(capsys):
    """bench.conventions_table once on the small organ case: it checks the table against every preset
    called alone before timing, and returns 1 on any difference."""
    from bench import conventions_table as bench

    assert bench.main(["--size", "small", "--repeat", "1"]) == 0
    assert "x one preset" in capsys.readouterr().out
