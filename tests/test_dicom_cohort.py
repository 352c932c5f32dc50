"""DICOM cohorts: structures paired by name (case, spaces, aliases), one-sided structures scored as
misses, overlapping ROIs / segments each scored as their own mask, the same masks as DICOM-SEG,
RTSTRUCT and NIfTI giving the same values, and the bad inputs refused with a clear message."""
import csv
import json
import os

import numpy as np
import pytest

pytest.importorskip("pydicom", minversion="3.0")

import fastseg  # noqa: E402
from fastseg import io as fio  # noqa: E402
from fastseg.cli import main  # noqa: E402
from fastseg.cohort import pair_folders, read_manifest  # noqa: E402
from fastseg.io import ReadError  # noqa: E402
from tests.test_dicom import PIXEL, at, expected_affine, write_rtstruct, write_seg, write_series  # noqa: E402

SHAPE = (16, 14, 5)
SPACING = (PIXEL[1], PIXEL[0], 2.5)
PX = np.array([PIXEL[1], PIXEL[0]])
METRICS = ["dice", "hd", "hd95", "assd", "nsd@1", "apl@0", "apl@1", "tn"]


def block_contours(i0, i1, j0, j1, ks):
    """Contours through the pixel-boundary midpoints around the block [i0:i1, j0:j1] on slices ks:
    they rasterise to exactly that block."""
    square = np.array([[i0 - 0.5, j0 - 0.5], [i1 - 0.5, j0 - 0.5], [i1 - 0.5, j1 - 0.5], [i0 - 0.5, j1 - 0.5]]) * PX
    return [at(square, k) for k in ks]


# structure -> (i0, i1, j0, j1, slices) of the reference, and of the prediction
REF_BLOCKS = {"Heart": (2, 8, 3, 9, (1, 2, 3)), "Lung_L": (9, 14, 2, 7, (0, 1, 2))}
PRED_BLOCKS = {"Heart": (3, 8, 3, 10, (1, 2)), "Lung_L": (9, 13, 2, 8, (0, 1, 2, 3))}


def label_map(blocks, values):
    a = np.zeros(SHAPE, np.uint8)
    for name, (i0, i1, j0, j1, ks) in blocks.items():
        for k in ks:
            a[i0:i1, j0:j1, k] = values[name]
    return a


def write_rt(path, info, blocks, names=None):
    names = names or {}
    write_rtstruct(path, info, {names.get(n, n): block_contours(*b) for n, b in blocks.items()})


@pytest.fixture
def rt_cohort(tmp_path):
    """One CT series; the reference an RTSTRUCT; the same prediction as SEG, RTSTRUCT and NIfTI,
    each spelling the structures its own way."""
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref_rs.dcm", info, REF_BLOCKS)
    pred = label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2})
    write_seg(tmp_path / "pred_seg.dcm", pred, {1: "HEART", 2: "LeftLung"}, skip_empty=True, series=info)
    write_rt(tmp_path / "pred_rs.dcm", info, PRED_BLOCKS, {"Heart": " heart ", "Lung_L": "lung left"})
    import nibabel as nib
    nib.save(nib.Nifti1Image(pred, expected_affine()), tmp_path / "pred.nii.gz")
    ct, ref = str(tmp_path / "ct"), str(tmp_path / "ref_rs.dcm")
    cases = [("seg", str(tmp_path / "pred_seg.dcm"), ref, ct), ("rtstruct", str(tmp_path / "pred_rs.dcm"), ref, ct),
             ("nifti", str(tmp_path / "pred.nii.gz"), ref, ct)]
    return tmp_path, cases


ALIASES = {"Lung_L": ["LeftLung", "lung left"]}


def by_case(res):
    out = {}
    for r in res.rows:
        out.setdefault(r["case_id"], {})[(r["label"], r["name"], r["metric"])] = (r["value"], r["empty_state"])
    return out


def test_same_masks_as_seg_rtstruct_and_nifti_give_the_same_values(rt_cohort):
    _, cases = rt_cohort
    res = fastseg.evaluate_cohort(cases, pair_by="name", aliases=ALIASES, metrics=METRICS,
                                  names={1: "Heart", 2: "lung left"})
    assert not res.errors
    got = by_case(res)
    assert got["seg"] == got["rtstruct"] == got["nifti"]  # identical, not within a tolerance
    # and equal to evaluate on the two label maps, structure by structure
    ref = label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2})
    pred = label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2})
    direct = fastseg.evaluate(pred, ref, metrics=METRICS, spacing=SPACING)
    for (label, name, metric), (value, state) in got["seg"].items():
        assert (label, name) in ((1, "Heart"), (2, "Lung_L"))
        assert value == direct[metric][label]
    assert res.options["options"]["structures"] == ["Heart", "Lung_L"]
    assert res.options["options"]["pair_by"] == "name" and res.options["options"]["aliases"] == ALIASES


def test_names_reach_the_summary_and_overall(rt_cohort):
    _, cases = rt_cohort
    res = fastseg.evaluate_cohort(cases[:2], pair_by="name", aliases=ALIASES, metrics=["dice"])
    s = res.summary()
    assert s["names"] == {1: "Heart", 2: "Lung_L"}
    assert [(x["label"], x["name"], x["n"]) for x in s["per_label"]] == [(1, "Heart", 2), (2, "Lung_L", 2)]
    assert s["overall"][0]["n"] == 4  # the named structures are structures: they make 'all'


def test_without_aliases_other_spellings_are_other_structures_scored_as_misses(rt_cohort):
    _, cases = rt_cohort
    res = fastseg.evaluate_cohort(cases[:1], pair_by="name", metrics=["dice", "hd", "apl@1"])
    rows = {(r["name"], r["metric"]): (r["value"], r["empty_state"]) for r in res.rows}
    # HEART pairs with Heart (case ignored); LeftLung and Lung_L do not pair: both kept, as misses
    assert rows[("Heart", "dice")][1] == "none"
    assert rows[("Lung_L", "dice")] == (0.0, "pred_empty")
    assert rows[("Lung_L", "hd")] == (np.inf, "pred_empty")
    assert rows[("LeftLung", "dice")] == (0.0, "ref_empty")
    assert rows[("LeftLung", "apl@1")] == (0.0, "ref_empty")  # nothing to draw
    ref_contour = fastseg.apl(np.zeros(SHAPE, bool), label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2}) == 2,
                              spacing=SPACING)
    assert rows[("Lung_L", "apl@1")] == (ref_contour, "pred_empty") and ref_contour > 0


def test_explicit_structures_every_case_and_absent_ones(rt_cohort):
    _, cases = rt_cohort
    res = fastseg.evaluate_cohort(cases[:1], pair_by="name", aliases=ALIASES, metrics=["dice"],
                                  structures=["lung left", "Kidney_R"])
    assert [(r["label"], r["name"], r["value"], r["empty_state"]) for r in res.rows] == [
        (1, "Lung_L", pytest.approx(2 * 4 * 5 * 3 / (5 * 5 * 3 + 4 * 6 * 4)), "none"), (2, "Kidney_R", 1.0, "both_empty")]
    assert res.summary()["absent_structures"] == [2]


def test_overlapping_rois_are_scored_each_as_its_own_mask(tmp_path):
    """BODY holds Heart, in both files: each scored on its own binary masks, the overlap kept."""
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    ref_blocks = {"BODY": (1, 15, 1, 13, (0, 1, 2, 3, 4)), "Heart": (4, 9, 4, 9, (1, 2, 3))}
    pred_blocks = {"BODY": (1, 15, 2, 13, (0, 1, 2, 3)), "Heart": (5, 10, 4, 8, (1, 2, 3, 4))}
    write_rt(tmp_path / "ref.dcm", info, ref_blocks)
    write_rt(tmp_path / "pred.dcm", info, pred_blocks)
    with pytest.raises(ReadError, match="overlap"):  # a label map cannot hold them
        fio.load(tmp_path / "ref.dcm", reference=tmp_path / "ct")
    res = fastseg.evaluate_cohort([("c", tmp_path / "pred.dcm", tmp_path / "ref.dcm", tmp_path / "ct")],
                                  pair_by="name", metrics=METRICS)
    assert not res.errors
    for label, name in ((1, "BODY"), (2, "Heart")):
        ref = label_map({name: ref_blocks[name]}, {name: 1}).astype(bool)
        pred = label_map({name: pred_blocks[name]}, {name: 1}).astype(bool)
        assert res.value("c", label, "dice") == fastseg.dice(pred, ref)
        assert res.value("c", label, "hd95") == fastseg.hd95(pred, ref, spacing=SPACING)
        assert res.value("c", label, "nsd@1") == fastseg.nsd(pred, ref, spacing=SPACING, tolerance=1.0)
        assert res.value("c", label, "apl@1") == fastseg.apl(pred, ref, spacing=SPACING, tolerance=1.0)
        assert res.value("c", label, "tn") == np.count_nonzero(~pred & ~ref)


def test_overlapping_seg_segments_load_as_structures(tmp_path):
    label = np.zeros((6, 5, 4), np.uint8)
    label[1:4, 1:3, 1:3] = 1
    outer = np.zeros((6, 5), bool)
    outer[0:5, 0:4] = True
    frames = [(1, k, label[:, :, k] == 1) for k in range(4)] + [(3, k, outer) for k in (1, 2)]
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Body"}, frames=frames)
    with pytest.raises(ReadError, match=r"segments 3 \('Body'\) and 1 \('Liver'\) overlap|segments 1 .* overlap"):
        fio.load(tmp_path / "seg.dcm")
    s = fio.load_structures(tmp_path / "seg.dcm")
    assert s.names == ["Liver", "Body"] and s.shape == (6, 5, 4)
    np.testing.assert_array_equal(s.mask(0), label == 1)
    body = np.zeros((6, 5, 4), bool)
    body[:, :, 1:3] = outer[:, :, None]
    np.testing.assert_array_equal(s.mask(1), body)


def test_layers_pack_disjoint_structures_into_one_label_map(tmp_path):
    """Nothing overlaps: one pair of label maps, one evaluate call (the label-map path)."""
    from fastseg.cohort.structures import layers
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref.dcm", info, REF_BLOCKS)
    ref = fio.load_structures(tmp_path / "ref.dcm", reference=tmp_path / "ct")
    pairs = [(i + 1, n, item, item) for i, (n, item) in enumerate(zip(ref.names, ref.items))]
    assert len(layers(ref, ref, pairs)) == 1
    body = ("BODY", (slice(0, 16), slice(0, 14), slice(0, 5)), np.ones(SHAPE, bool))
    assert [nums for _, _, nums in layers(ref, ref, pairs + [(3, "BODY", body, body)])] == [[1, 2], [3]]


def test_two_structures_of_one_file_with_one_name_is_an_error_row(tmp_path):
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref.dcm", info, REF_BLOCKS)
    write_rtstruct(tmp_path / "pred.dcm", info, {"Heart": block_contours(*REF_BLOCKS["Heart"]),
                                                 "HEART ": block_contours(*REF_BLOCKS["Lung_L"])})
    res = fastseg.evaluate_cohort([("c", tmp_path / "pred.dcm", tmp_path / "ref.dcm", tmp_path / "ct")],
                                  pair_by="name", metrics=["dice"])
    (cid, err), = res.errors
    assert "holds 'Heart' and 'HEART'" in err and str(tmp_path / "pred.dcm") in err


def test_seg_pairs_without_their_series_and_the_hint(tmp_path):
    pred = label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2})
    ref = label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2})
    write_seg(tmp_path / "p.dcm", pred, {1: "Heart", 2: "Lung_L"}, skip_empty=True)  # slices 0-3
    write_seg(tmp_path / "r.dcm", ref, {1: "Heart", 2: "Lung_L"}, skip_empty=True)  # slices 0-3
    write_seg(tmp_path / "r_full.dcm", ref, {1: "Heart", 2: "Lung_L"})  # slices 0-4
    res = fastseg.evaluate_cohort([("same", tmp_path / "p.dcm", tmp_path / "r.dcm"),
                                   ("other", tmp_path / "p.dcm", tmp_path / "r_full.dcm")],
                                  pair_by="name", metrics=["dice"])
    assert res.value("same", 1, "dice") == fastseg.dice(pred[:, :, :4] == 1, ref[:, :, :4] == 1)
    (cid, err), = res.errors
    assert cid == "other" and "shape mismatch" in err and "give the series" in err


def test_rtstruct_prediction_without_series_uses_the_reference_series(tmp_path):
    """Case folders: the reference's folder holds its CT series; the predicted RTSTRUCT stands alone
    and is placed on the reference's series."""
    os.makedirs(tmp_path / "pred")
    info = write_series(tmp_path / "ref" / "c1", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref" / "c1" / "rs.dcm", info, REF_BLOCKS)
    write_rt(tmp_path / "pred" / "c1.dcm", info, PRED_BLOCKS)
    cases = pair_folders(tmp_path / "pred", tmp_path / "ref", folders=True)
    assert [(c.case_id, os.path.basename(c.pred), os.path.basename(c.ref)) for c in cases] == [("c1", "c1.dcm", "c1")]
    res = fastseg.evaluate_cohort(tmp_path / "pred", tmp_path / "ref", pair_by="name", metrics=["dice"])
    ref = label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2})
    pred = label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2})
    assert res.value("c1", 2, "dice") == fastseg.dice(pred == 2, ref == 2)


def test_case_folder_with_two_structure_files_is_an_error_row(tmp_path):
    info = write_series(tmp_path / "ref" / "c1", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref" / "c1" / "a.dcm", info, REF_BLOCKS)
    write_rt(tmp_path / "ref" / "c1" / "b.dcm", info, REF_BLOCKS)
    os.makedirs(tmp_path / "ref" / "c2")
    write_rt(tmp_path / "ref" / "c2" / "pred.dcm", info, REF_BLOCKS)
    res = fastseg.evaluate_cohort([("c1", tmp_path / "ref" / "c2" / "pred.dcm", tmp_path / "ref" / "c1",
                                    tmp_path / "ref" / "c1")], pair_by="name")
    (_, err), = res.errors
    assert "2 DICOM-SEG / RTSTRUCT files (a.dcm, b.dcm)" in err


def test_manifest_image_column(tmp_path, rt_cohort):
    _, cases = rt_cohort
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "pred", "ref", "image"])
        w.writerow(["seg", os.path.relpath(cases[0][1], tmp_path), os.path.relpath(cases[0][2], tmp_path), "ct"])
        w.writerow(["nifti", cases[2][1], cases[2][2], ""])
    got = read_manifest(tmp_path / "m.csv")
    assert got[0].image == str(tmp_path / "ct") and got[1].image is None


@pytest.mark.parametrize("aliases, error, words", [
    ({"Lung_L": ["LeftLung"], "Lung_R": ["leftlung "]}, ValueError,
     "the name 'leftlung' is given for two structures, 'Lung_L' and 'Lung_R'"),
    ({"Lung_L": ["LeftLung"], "LeftLung": ["x"]}, ValueError, "given for two structures"),
    ({"Lung_L": 3}, ValueError, "aliases: 'Lung_L': each entry maps a structure name"),
    ({"Lung_L": [""]}, ValueError, "aliases: 'Lung_L'"),
    (["Lung_L"], TypeError, "aliases must map each structure name to its other names"),
])
def test_bad_aliases_refused(rt_cohort, aliases, error, words):
    _, cases = rt_cohort
    with pytest.raises(error, match=words.replace("(", r"\(")):
        fastseg.evaluate_cohort(cases, pair_by="name", aliases=aliases)


def test_alias_file_not_json_or_missing(rt_cohort, tmp_path):
    _, cases = rt_cohort
    (tmp_path / "aliases.json").write_text("Lung_L: LeftLung\n")
    with pytest.raises(ValueError, match=f"aliases: {tmp_path / 'aliases.json'} is not a JSON file"):
        fastseg.evaluate_cohort(cases, pair_by="name", aliases=tmp_path / "aliases.json")
    with pytest.raises(ValueError, match="aliases: cannot read .*nope.json"):
        fastseg.evaluate_cohort(cases, pair_by="name", aliases=str(tmp_path / "nope.json"))
    (tmp_path / "a2.json").write_text(json.dumps(ALIASES))
    res = fastseg.evaluate_cohort(cases[:1], pair_by="name", aliases=tmp_path / "a2.json", metrics=["dice"])
    assert [r["name"] for r in res.rows] == ["Heart", "Lung_L"]


@pytest.mark.parametrize("kwargs, words", [
    (dict(pair_by="names"), "pair_by must be one of ('label', 'name'); got 'names'"),
    (dict(aliases=ALIASES), "aliases pairs structures by name: it needs pair_by='name'"),
    (dict(structures=["Heart"]), "structures pairs structures by name"),
    (dict(pair_by="name", labels=[1]), "labels selects label values; with pair_by='name'"),
    (dict(pair_by="name", regions={"lungs": [1, 2]}), "regions selects label values"),
    (dict(pair_by="name", structures=["Lung_L", "lung left"], aliases=ALIASES),
     "structures: 'lung left' names the structure 'Lung_L' a second time"),
])
def test_bad_pairing_options_refused(rt_cohort, kwargs, words):
    _, cases = rt_cohort
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fastseg.evaluate_cohort(cases, **kwargs)


def test_cli_dicom_cohort_resume_refuses_other_aliases(rt_cohort, tmp_path, capsys):
    _, cases = rt_cohort
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "pred", "ref", "image"])
        w.writerows(cases[:2])
    (tmp_path / "aliases.json").write_text(json.dumps(ALIASES))
    out = str(tmp_path / "res.csv")
    argv = ["evaluate", "--manifest", str(tmp_path / "m.csv"), "--pair-by", "name", "--aliases",
            str(tmp_path / "aliases.json"), "--metrics", "dice,hd95,apl@1", "--out", out, "-q",
            "--summary", str(tmp_path / "s.json"), "--fail-under", "dice:Heart=0.5"]
    assert main(argv) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["label"], r["name"]) for r in rows} == {("1", "Heart"), ("2", "Lung_L")}
    assert {r["metric"] for r in rows} == {"dice", "hd95", "apl@1"}
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["names"] == {"1": "Heart", "2": "Lung_L"}
    capsys.readouterr()
    assert main(argv + ["--resume"]) == 0  # the same pairing: resumed (nothing left to run)
    with open(out) as fh:
        assert list(csv.DictReader(fh)) == rows
    (tmp_path / "aliases.json").write_text(json.dumps({"Lung_L": ["LeftLung"]}))
    assert main(argv + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "other options (aliases:" in err
    label_run = ["evaluate", "--manifest", str(tmp_path / "m.csv"), "--metrics", "dice,hd95,apl@1", "--out", out,
                 "-q", "--resume"]
    assert main(label_run) == 2  # a run pairing by label cannot resume it
    err = capsys.readouterr().err
    assert "pair_by: 'name' then, None now" in err
    (tmp_path / "aliases.json").write_text("{not json")
    assert main(argv + ["--overwrite"]) == 2
    assert "aliases: " + str(tmp_path / "aliases.json") + " is not a JSON file" in capsys.readouterr().err


def test_label_map_with_an_unnamed_label_is_an_error_row(rt_cohort):
    tmp_path, cases = rt_cohort
    res = fastseg.evaluate_cohort([cases[2]], pair_by="name", names={1: "Heart"}, metrics=["dice"])
    (_, err), = res.errors
    assert "pred.nii.gz: label(s) 2 have no name; pairing structures by name needs a name" in err
    s = fio.load_structures(tmp_path / "pred.nii.gz", names={2: "Lung_L", 1: "Heart"})
    assert s.names == ["Lung_L", "Heart"] and s.kind == "labels"
    np.testing.assert_array_equal(s.mask(1), label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2}) == 1)


def test_workers_and_report_carry_the_names(rt_cohort, tmp_path):
    """Worker processes get the pairing options (aliases, structure list) and give the same rows; the
    HTML report shows the structures' names and how they were paired."""
    pytest.importorskip("matplotlib")
    from fastseg.report import write_report
    _, cases = rt_cohort
    one = fastseg.evaluate_cohort(cases, pair_by="name", aliases=ALIASES, names={1: "Heart", 2: "lung left"},
                                  metrics=["dice", "apl@1"])
    two = fastseg.evaluate_cohort(cases, pair_by="name", aliases=ALIASES, names={1: "Heart", 2: "lung left"},
                                  metrics=["dice", "apl@1"], jobs=2)
    assert two.timing["jobs"] == 2 and not two.errors
    assert [(r["case_id"], r["label"], r["name"], r["value"]) for r in one.rows] == \
        [(r["case_id"], r["label"], r["name"], r["value"]) for r in two.rows]
    write_report(one.rows, tmp_path / "r.html", options=one.options)
    page = (tmp_path / "r.html").read_text()
    assert "Lung_L" in page and "paired by name" in page and "Lung_L = LeftLung, lung left" in page
    assert "added path length" in page or "draw anew" in page


def test_cli_nifti_cohort_named_by_labels_json(rt_cohort, tmp_path):
    """A label map with names from nnU-Net's dataset.json pairs by name with an RTSTRUCT (its json's
    labels do not turn into a label selection)."""
    _, cases = rt_cohort
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "Heart": 1, "LeftLung": 2}}))
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["case_id", "pred", "ref", "image"], cases[2]])
    out = tmp_path / "res.csv"
    assert main(["evaluate", "--manifest", str(tmp_path / "m.csv"), "--pair-by", "name", "--labels-json",
                 str(tmp_path / "dataset.json"), "--metrics", "dice", "--out", str(out), "-q"]) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["label"], r["name"], r["empty_state"]) for r in rows] == [
        ("1", "Heart", "none"), ("2", "Lung_L", "pred_empty"), ("3", "LeftLung", "ref_empty")]


def test_pairing_by_label_places_segs_on_the_image_series(tmp_path):
    """Without pairing by name, a SEG is a label map: the case's image series is still its grid (a SEG
    that leaves out empty frames then matches a NIfTI of the whole volume)."""
    import nibabel as nib
    label = label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2})
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    write_seg(tmp_path / "seg.dcm", label, {1: "Heart", 2: "Lung_L"}, skip_empty=True, series=info)  # slices 0-3 of 0-4
    nib.save(nib.Nifti1Image(label, expected_affine()), tmp_path / "ref.nii.gz")
    res = fastseg.evaluate_cohort([("with", tmp_path / "seg.dcm", tmp_path / "ref.nii.gz", tmp_path / "ct"),
                                   ("without", tmp_path / "seg.dcm", tmp_path / "ref.nii.gz")], metrics=["dice"])
    assert res.value("with", 1, "dice") == 1.0 and res.value("with", 2, "dice") == 1.0
    (cid, err), = res.errors
    assert cid == "without" and "shape mismatch" in err


def test_numbering_puts_every_reference_structure_first(tmp_path):
    """Case 1's prediction has an extra structure, case 2's reference one more: the references'
    structures are numbered first, so another model's run on these references numbers them alike."""
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    heart, lung = block_contours(*REF_BLOCKS["Heart"]), block_contours(*REF_BLOCKS["Lung_L"])
    write_rtstruct(tmp_path / "r1.dcm", info, {"Heart": heart})
    write_rtstruct(tmp_path / "p1.dcm", info, {"Spleen": lung, "heart": heart})
    write_rtstruct(tmp_path / "r2.dcm", info, {"Heart": heart, "Kidney": lung})
    write_rtstruct(tmp_path / "p2.dcm", info, {"Heart": heart})
    ct = tmp_path / "ct"
    res = fastseg.evaluate_cohort([("1", tmp_path / "p1.dcm", tmp_path / "r1.dcm", ct),
                                   ("2", tmp_path / "p2.dcm", tmp_path / "r2.dcm", ct)], pair_by="name", metrics=["dice"])
    assert res.options["options"]["structures"] == ["Heart", "Kidney", "Spleen"]
    assert [(r["case_id"], r["label"], r["name"], r["empty_state"]) for r in res.rows] == [
        ("1", 1, "Heart", "none"), ("1", 3, "Spleen", "ref_empty"),
        ("2", 1, "Heart", "none"), ("2", 2, "Kidney", "pred_empty")]


def test_cli_case_folders(tmp_path, capsys):
    """fastseg evaluate PRED REF --pair-by name: REF holds a folder per case (CT series and RTSTRUCT),
    PRED a SEG per case named after it."""
    info = write_series(tmp_path / "ref" / "c1", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref" / "c1" / "rs.dcm", info, REF_BLOCKS)
    os.makedirs(tmp_path / "pred")
    write_seg(tmp_path / "pred" / "c1.dcm", label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2}), {1: "Heart", 2: "Lung_L"},
              skip_empty=True, series=info)
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "--pair-by", "name", "--metrics",
                 "dice,apl@1", "--structures", "Lung_L,Heart", "--fail-under", "dice:Heart=0.5"]) == 0
    out = capsys.readouterr().out
    assert "1 Lung_L" in out and "2 Heart" in out and "apl@1" in out
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "--aliases", "x.json"]) == 2
    assert "aliases pairs structures by name: it needs pair_by='name' (--pair-by name)" in capsys.readouterr().err


def test_names_unreadable_before_the_run_give_an_error_row(rt_cohort, monkeypatch):
    """A file whose names the pre-run scan could not read, but which reads when the case runs: its
    structures have no number, and the case says how to list them (with structures=, it runs)."""
    import fastseg.cohort.structures as cs
    _, cases = rt_cohort
    real = cs.structure_names
    monkeypatch.setattr(cs, "structure_names", lambda path, names=None: None if "pred" in str(path) else real(path, names))
    res = fastseg.evaluate_cohort(cases[:1], pair_by="name", metrics=["dice"])
    (_, err), = res.errors
    assert "structure 'LeftLung' is not in the run's structure list" in err and "structures=" in err
    ok = fastseg.evaluate_cohort(cases[:1], pair_by="name", metrics=["dice"], aliases=ALIASES,
                                 structures=["Heart", "Lung_L"])
    assert not ok.errors and len(ok.rows) == 2


def test_seg_prediction_in_another_frame_of_reference_is_an_error_row(tmp_path):
    """Paired by name, a SEG prediction is placed on the grid of the reference RTSTRUCT's series: in
    another frame of reference it is an error row naming the SEG and both frames, not a mask."""
    from pydicom.uid import generate_uid
    info = write_series(tmp_path / "ct", np.zeros(SHAPE, np.int16))
    write_rt(tmp_path / "ref.dcm", info, REF_BLOCKS)
    pred = label_map(PRED_BLOCKS, {"Heart": 1, "Lung_L": 2})
    other = generate_uid()
    write_seg(tmp_path / "other.dcm", pred, {1: "Heart", 2: "Lung_L"}, series=info, frame=other)
    write_seg(tmp_path / "same.dcm", pred, {1: "Heart", 2: "Lung_L"}, series=info)
    res = fastseg.evaluate_cohort([("other", tmp_path / "other.dcm", tmp_path / "ref.dcm", tmp_path / "ct"),
                                   ("same", tmp_path / "same.dcm", tmp_path / "ref.dcm", tmp_path / "ct")],
                                  pair_by="name", metrics=["dice"])
    (cid, err), = res.errors
    assert cid == "other" and str(tmp_path / "other.dcm") in err
    assert f"its frame of reference {other} is not the series' ({info[1]})" in err
    ref = label_map(REF_BLOCKS, {"Heart": 1, "Lung_L": 2})
    assert res.value("same", 1, "dice") == fastseg.dice(pred == 1, ref == 1)
