"""Reading files and pairing cases: NIfTI quirks of real pipelines (a 4th axis with pixdim 0,
misnamed gzip files), SimpleITK reading truncated NIfTI as zeros, SimpleITK's affines of 2D and 4D
images, SimpleITK's error messages, broken links and Unicode forms in case folders, and hand-written
manifests. Each expectation comes from nibabel / SimpleITK reading the same data or is written by hand."""
import gzip
import os
import unicodedata

import nibabel as nib
import numpy as np
import pytest

from fastseg import io as fio
from fastseg.cohort import evaluate_cohort, pair_folders, read_manifest

AFFINE = np.array([[0.8, 0, 0, -3.0], [0, 0.9, 0, 4.0], [0, 0, 2.5, 1.5], [0, 0, 0, 1]])


def label_map(shape=(6, 7, 8)):
    a = np.zeros(shape, np.uint8)
    a[1:4, 2:5, 3:7] = 2
    a[0, 0, 0] = 1
    return a


# ------------------------------------------------------------------------------------- NIfTI (nibabel)

@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_singleton_4th_axis_with_pixdim_0_reads(tmp_path, ext):
    """(X, Y, Z, 1) files often leave pixdim[4] (the time step) at 0; the axis is dropped, its
    pixdim is no voxel size: the file reads as nibabel reads it. (It was refused: 'pixdim is 0
    along axis 3'.)"""
    img = nib.Nifti1Image(label_map()[..., None], AFFINE)
    img.header["pixdim"][4] = 0.0
    path = tmp_path / f"t{ext}"
    nib.save(img, path)
    want = nib.load(path)
    assert want.header["pixdim"][4] == 0.0
    vol = fio.load(path)
    np.testing.assert_array_equal(vol.array, np.asanyarray(want.dataobj)[..., 0])
    assert vol.spacing == tuple(float(z) for z in want.header.get_zooms()[:3])
    np.testing.assert_array_equal(vol.affine, want.affine)


def test_singleton_4th_axis_with_spatial_pixdim_0_still_refused(tmp_path):
    img = nib.Nifti1Image(label_map()[..., None], AFFINE)
    raw = bytearray(img.to_bytes())
    pixdim = np.frombuffer(raw, dtype="<f4", count=8, offset=76).copy()
    pixdim[3] = 0.0  # the third spatial axis
    raw[76:108] = pixdim.tobytes()
    path = tmp_path / "z.nii"
    path.write_bytes(bytes(raw))
    with pytest.raises(fio.ReadError, match=r"pixdim\) is 0 along axis 2"):
        fio.load(path)


@pytest.mark.parametrize("writable", [True, False])
def test_gzip_content_named_nii_and_plain_content_named_nii_gz(tmp_path, writable):
    """The content decides, not the name: a gzipped file saved as ``.nii`` and an uncompressed one
    saved as ``.nii.gz`` read as nibabel reads the correctly named copy (both were refused:
    'Cannot work out file type', 'Not a gzipped file')."""
    img = nib.Nifti1Image(label_map(), AFFINE)
    nib.save(img, tmp_path / "good.nii.gz")
    nib.save(img, tmp_path / "good.nii")
    (tmp_path / "gz.nii").write_bytes((tmp_path / "good.nii.gz").read_bytes())
    (tmp_path / "plain.nii.gz").write_bytes((tmp_path / "good.nii").read_bytes())
    want = nib.load(tmp_path / "good.nii")
    for name in ("gz.nii", "plain.nii.gz"):
        vol = fio.load(tmp_path / name, writable=writable)
        np.testing.assert_array_equal(vol.array, np.asanyarray(want.dataobj))
        assert vol.spacing == tuple(float(z) for z in want.header.get_zooms())
        np.testing.assert_array_equal(vol.affine, want.affine)


def test_misnamed_files_still_checked_for_truncation(tmp_path):
    nib.save(nib.Nifti1Image(label_map((20, 20, 20)), AFFINE), tmp_path / "good.nii")
    data = (tmp_path / "good.nii").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[:352 + 100])  # uncompressed and truncated
    with pytest.raises(fio.ReadError, match="truncated"):
        fio.load(tmp_path / "cut.nii.gz")
    (tmp_path / "cutgz.nii").write_bytes(gzip.compress(data)[:-40])  # gzipped, stream cut short
    with pytest.raises(fio.ReadError, match="cutgz.nii"):
        fio.load(tmp_path / "cutgz.nii")
    (tmp_path / "gztext.nii").write_bytes(gzip.compress(b"not an image" * 50))
    with pytest.raises(fio.ReadError, match="gzip-compressed but its content is not a NIfTI"):
        fio.load(tmp_path / "gztext.nii")


# ------------------------------------------------------------------------------------- SimpleITK

sitk = pytest.importorskip("SimpleITK")


def _truncated(tmp_path, ext, cut):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 5, (30, 20, 24)).astype(np.uint8)
    nib.save(nib.Nifti1Image(arr, AFFINE), tmp_path / f"full{ext}")
    data = (tmp_path / f"full{ext}").read_bytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[:-cut])
    return path, arr


@pytest.mark.parametrize("ext,cut", [(".nii", 1000), (".nii.gz", 1000), (".nii.gz", 3000)])
def test_simpleitk_reader_refuses_a_truncated_nifti(tmp_path, ext, cut):
    """SimpleITK reads a truncated NIfTI without an error, the missing voxels as zeros (checked
    below); with reader='simpleitk' fastseg scored that silently. It is a ReadError now."""
    path, arr = _truncated(tmp_path, ext, cut)
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).T  # what SimpleITK itself makes of it
    assert got.shape == arr.shape and not np.array_equal(got, arr)
    with pytest.raises(fio.ReadError) as info:
        fio.load(path, reader="simpleitk")
    assert str(path) in str(info.value)
    with pytest.raises(fio.ReadError):  # nibabel's reader agrees
        fio.load(path)


def test_simpleitk_reader_truncated_nifti_is_an_error_row(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    path, arr = _truncated(tmp_path, ".nii.gz", 10)
    os.replace(path, tmp_path / "p" / "c1.nii.gz")
    nib.save(nib.Nifti1Image(arr, AFFINE), tmp_path / "r" / "c1.nii.gz")
    res = evaluate_cohort(tmp_path / "p", tmp_path / "r", metrics=["dice"], reader="simpleitk")
    assert [cid for cid, _ in res.errors] == ["c1"]
    assert "c1.nii.gz" in res.errors[0][1]


def test_simpleitk_reads_whole_nifti_like_nibabel(tmp_path):
    """The completeness check refuses nothing whole: one file of two gzip members, and zero padding."""
    arr = label_map((20, 16, 12))
    raw = nib.Nifti1Image(arr, AFFINE).to_bytes()
    path = tmp_path / "multi.nii.gz"
    path.write_bytes(gzip.compress(raw[:500]) + gzip.compress(raw[500:]) + b"\x00" * 16)
    a, b = fio.load(path), fio.load(path, reader="simpleitk")
    np.testing.assert_array_equal(a.array, arr)
    np.testing.assert_array_equal(b.array, arr)


def test_simpleitk_4d_singleton_and_2d_affines_match_nibabel(tmp_path):
    """A (X, Y, Z, 1) MetaImage read by SimpleITK had a 5x5 affine and a 2D one a 3x3 affine, so
    check_geometry refused a pair of the same grid ('affine mismatch: pred is 5x5, ref is 4x4').
    Affines are 4x4 now, equal to nibabel's of the same image written as NIfTI."""
    a = label_map()
    img4 = sitk.GetImageFromArray(a.T[None], isVector=False)  # sitk order (t, z, y, x): size (6, 7, 8, 1)
    img4.SetSpacing((0.8, 0.9, 2.5, 1.0))
    img4.SetOrigin((1.0, 2.0, 3.0, 0.0))
    assert img4.GetDimension() == 4
    sitk.WriteImage(img4, str(tmp_path / "four.mha"))
    img3 = sitk.GetImageFromArray(a.T, isVector=False)
    img3.SetSpacing((0.8, 0.9, 2.5))
    img3.SetOrigin((1.0, 2.0, 3.0))
    sitk.WriteImage(img3, str(tmp_path / "three.nii.gz"))
    four, three = fio.load(tmp_path / "four.mha"), fio.load(tmp_path / "three.nii.gz")
    np.testing.assert_array_equal(four.array, a)
    np.testing.assert_allclose(four.affine, nib.load(tmp_path / "three.nii.gz").affine, atol=1e-5)
    fio.check_geometry(four, three)

    b = a[:, :, 3]
    img2 = sitk.GetImageFromArray(b.T, isVector=False)
    img2.SetSpacing((0.7, 0.9))
    img2.SetOrigin((5.0, 6.0))
    sitk.WriteImage(img2, str(tmp_path / "two.mha"))
    sitk.WriteImage(img2, str(tmp_path / "two.nii.gz"))
    want = nib.load(tmp_path / "two.nii.gz").affine
    for vol in (fio.load(tmp_path / "two.mha"), fio.load(tmp_path / "two.nii.gz", reader="simpleitk")):
        np.testing.assert_array_equal(vol.array, b)
        np.testing.assert_allclose(vol.affine, want, atol=1e-5)
    fio.check_geometry(fio.load(tmp_path / "two.mha"), fio.load(tmp_path / "two.nii.gz"))


def test_simpleitk_error_messages_say_why(tmp_path):
    """SimpleITK's exceptions begin with a line naming only its own source file; fastseg showed that
    line alone ('... sitkImageReaderBase.cxx:99:'). The reason is in the message now."""
    empty = tmp_path / "empty.nrrd"
    empty.write_bytes(b"")
    with pytest.raises(fio.ReadError) as info:
        fio.load(empty)
    assert "Unable to determine ImageIO reader" in str(info.value) and str(empty) in str(info.value)
    assert ".cxx" not in str(info.value)

    a = label_map()
    sitk.WriteImage(sitk.GetImageFromArray(a.T, isVector=False), str(tmp_path / "ok.nrrd"))
    data = (tmp_path / "ok.nrrd").read_bytes()
    cut = tmp_path / "cut.nrrd"
    cut.write_bytes(data[:-100])
    with pytest.raises(fio.ReadError) as info:
        fio.load(cut)
    assert "fread got only" in str(info.value) and ".cxx" not in str(info.value)


# ------------------------------------------------------------------------------------- pairing cases

def _save(path):
    nib.save(nib.Nifti1Image(label_map(), AFFINE), path)


def test_broken_symlink_is_named_not_missing(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    _save(tmp_path / "r" / "c1.nii.gz")
    os.symlink(tmp_path / "elsewhere" / "c1.nii.gz", tmp_path / "p" / "c1.nii.gz")
    (case,) = pair_folders(tmp_path / "p", tmp_path / "r")
    assert case.case_id == "c1"
    assert "broken symbolic link" in case.problem and "elsewhere" in case.problem
    assert "missing pred" not in case.problem


def test_unicode_forms_pair(tmp_path):
    """A name written decomposed (NFD, as macOS may store it) pairs with the same name composed."""
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    nfc, nfd = unicodedata.normalize("NFC", "patiënt_01"), unicodedata.normalize("NFD", "patiënt_01")
    assert nfc != nfd
    _save(tmp_path / "p" / f"{nfd}.nii.gz")
    _save(tmp_path / "r" / f"{nfc}.nii.gz")
    cases = pair_folders(tmp_path / "p", tmp_path / "r")
    assert [(c.case_id, c.problem) for c in cases] == [(nfc, "")]


# ------------------------------------------------------------------------------------- manifests

def _manifest(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("header,sep", [("case_id, pred, ref", ","), ("Case_ID,Pred,Ref", ","),
                                        ("case_id;pred;ref", ";"), ("case_id\tpred\tref", "\t")])
def test_manifest_headers_people_write(tmp_path, header, sep):
    m = _manifest(tmp_path, f"{header}\nc1{sep}p/c1.nii.gz{sep}r/c1.nii.gz\n")
    (case,) = read_manifest(m)
    assert (case.case_id, case.pred, case.ref, case.problem) == \
        ("c1", str(tmp_path / "p" / "c1.nii.gz"), str(tmp_path / "r" / "c1.nii.gz"), "")


def test_manifest_blank_rows_skipped_and_line_numbers_right(tmp_path):
    m = _manifest(tmp_path, "case_id,pred,ref\n\nc1,p1.nii.gz,r1.nii.gz\n,,\nc2,p2.nii.gz,\n")
    c1, c2 = read_manifest(m)  # Excel's row of empty cells is no case
    assert c1.case_id == "c1" and c1.problem == ""
    assert c2.problem.startswith("missing ref") and "line 5" in c2.problem
    bad = _manifest(tmp_path, "case_id,pred,ref\n\nc1,p1.nii.gz,r1.nii.gz\n,p.nii.gz,r.nii.gz\n", "bad.csv")
    with pytest.raises(ValueError, match="line 4: empty case_id"):  # line 3 before: blank lines were not counted
        read_manifest(bad)


def test_manifest_repeated_column_refused(tmp_path):
    m = _manifest(tmp_path, "case_id,pred,ref,pred\nc1,a.nii.gz,b.nii.gz,c.nii.gz\n")
    with pytest.raises(ValueError, match="column pred more than once"):
        read_manifest(m)


def test_manifest_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    m = _manifest(tmp_path, "case_id,pred,ref\nc1,~/p.nii.gz,/data/r.nii.gz\n")
    (case,) = read_manifest(m)
    assert case.pred == str(tmp_path / "home" / "p.nii.gz") and case.ref == "/data/r.nii.gz"
