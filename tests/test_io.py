"""fastseg.io: spacing from headers in array-axis order for each reader, native byte order, float label
maps to integers, clear errors naming the file, geometry checks."""
import functools
import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import fastseg
from fastseg import io as fio

from tests.conftest import affine_of, save_nifti as _save_nifti

SPACING = (2.5, 0.8, 1.2)
ORIGIN = (10.0, -20.0, 5.0)
save_nifti = functools.partial(_save_nifti, spacing=SPACING, origin=ORIGIN)


def label_map(shape=(6, 7, 8)):
    a = np.zeros(shape, np.uint8)
    a[1:4, 2:5, 3:7] = 2
    a[0, 0, 0] = 1
    a[5, 6, 7] = 7
    return a


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nifti_spacing_affine_and_array(tmp_path, ext):
    a = label_map()
    vol = fio.load(save_nifti(tmp_path / f"c{ext}", a))
    assert isinstance(vol, fio.Volume)
    array, spacing, affine = vol  # a plain named tuple
    np.testing.assert_array_equal(array, a)
    assert array.dtype == np.uint8
    np.testing.assert_allclose(spacing, SPACING, rtol=1e-6)  # float32 header
    np.testing.assert_allclose(affine, affine_of(SPACING, ORIGIN), rtol=1e-6)


def test_spacing_follows_array_axes_for_permuted_affine(tmp_path):
    """Spacing is per array axis even when the affine permutes axes (column norms, not the diagonal)."""
    aff = np.array([[0, 0, -1.2, 0], [0, 2.5, 0, 0], [0.8, 0, 0, 0], [0, 0, 0, 1.0]])
    nib.save(nib.Nifti1Image(label_map(), aff), str(tmp_path / "p.nii.gz"))
    vol = fio.load(tmp_path / "p.nii.gz")
    np.testing.assert_allclose(vol.spacing, (0.8, 2.5, 1.2), rtol=1e-6)


def test_big_endian_becomes_native(tmp_path):
    a = label_map().astype(">i2")
    vol = fio.load(save_nifti(tmp_path / "be.nii", a))
    assert vol.array.dtype.isnative
    np.testing.assert_array_equal(vol.array, a)


def test_float_label_map_becomes_integer(tmp_path):
    a = label_map().astype(np.float32)
    vol = fio.load(save_nifti(tmp_path / "f.nii.gz", a))
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, a)
    big = a.copy()
    big[0, 0, 1] = 300
    assert fio.load(save_nifti(tmp_path / "g.nii.gz", big)).array.dtype == np.uint16
    assert fio.load(tmp_path / "g.nii.gz", integer=False).array.dtype.kind == "f"
    frac = a.copy()
    frac[0, 0, 1] = 0.5
    assert fio.load(save_nifti(tmp_path / "h.nii.gz", frac)).array.dtype.kind == "f"  # not a label map


def test_scaled_integers_become_integer(tmp_path):
    """scl_slope makes nibabel return floats; integral values come back as integers."""
    img = nib.Nifti1Image(label_map().astype(np.int16), affine_of(SPACING, ORIGIN))
    img.header.set_slope_inter(1.0, 0.0)
    img.header["scl_slope"] = 2.0
    nib.save(img, str(tmp_path / "s.nii.gz"))
    vol = fio.load(tmp_path / "s.nii.gz")
    assert vol.array.dtype.kind == "u"
    np.testing.assert_array_equal(vol.array, 2 * label_map())


def test_trailing_singleton_axis_dropped(tmp_path):
    a = label_map()[..., None]
    img = nib.Nifti1Image(a, affine_of(SPACING, ORIGIN))
    nib.save(img, str(tmp_path / "t.nii.gz"))
    vol = fio.load(tmp_path / "t.nii.gz")
    assert vol.array.shape == a.shape[:3] and len(vol.spacing) == 3


def test_loaded_volume_evaluates_like_the_array(tmp_path):
    a = label_map()
    b = a.copy()
    b[1, 2, 3] = 0
    pv = fio.load(save_nifti(tmp_path / "p.nii.gz", b))
    rv = fio.load(save_nifti(tmp_path / "r.nii.gz", a))
    got = fastseg.evaluate(pv.array, rv.array, spacing=rv.spacing)
    want = fastseg.evaluate(b, a, spacing=np.float32(SPACING).astype(float))
    assert got.rows == want.rows


# ------------------------------------------------------------------------------------- errors

def _assert_read_error(path, *fragments):
    with pytest.raises(fio.ReadError) as info:
        fio.load(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, fastseg.FastsegError)
    msg = str(info.value)
    assert os.fspath(path) in msg
    for f in fragments:
        assert f in msg
    return msg


def test_missing_file(tmp_path):
    _assert_read_error(tmp_path / "nope.nii.gz", "no such file")


def test_unsupported_extension(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG")
    _assert_read_error(p, "unsupported file type", ".nii.gz")


def test_garbage_file(tmp_path):
    p = tmp_path / "bad.nii.gz"
    p.write_bytes(b"this is not an image at all" * 20)
    _assert_read_error(p, "cannot read")


def test_truncated_gzip_data(tmp_path):
    """A valid header followed by truncated voxel data fails on read, not later."""
    path = save_nifti(tmp_path / "full.nii.gz", np.arange(40 * 40 * 40, dtype=np.int32).reshape(40, 40, 40) % 7)
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    _assert_read_error(cut, "cannot read")


def test_truncated_uncompressed(tmp_path):
    path = save_nifti(tmp_path / "full.nii", label_map((20, 20, 20)))
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.nii"
    cut.write_bytes(data[: 352 + 100])
    _assert_read_error(cut, "cannot read")


def test_header_only_gzip_garbage(tmp_path):
    p = tmp_path / "g.nii.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x00" * 100)
    _assert_read_error(p, "cannot read")


def test_bad_reader_name(tmp_path):
    with pytest.raises(ValueError, match="reader"):
        fio.load(save_nifti(tmp_path / "a.nii", label_map()), reader="itk")


# ------------------------------------------------------------------------------------- geometry

def vol(shape=(4, 5, 6), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)):
    return fio.Volume(np.zeros(shape, np.uint8), spacing, affine_of(spacing, origin))


def test_geometry_ok_within_tolerance():
    fio.check_geometry(vol(), vol(spacing=(1.0, 1.0, 2.0 + 1e-5), origin=(1e-4, 0, 0)))


@pytest.mark.parametrize("other, words", [
    (vol(shape=(4, 5, 7)), ["shape mismatch", "(4, 5, 6)", "(4, 5, 7)"]),
    (vol(spacing=(1.0, 1.0, 2.5)), ["spacing mismatch", "2.5"]),
    (vol(origin=(0.0, 3.0, 0.0)), ["affine mismatch", "origin"]),
])
def test_geometry_mismatch_messages(other, words):
    with pytest.raises(fio.GeometryError) as info:
        fio.check_geometry(vol(), other)
    assert isinstance(info.value, ValueError)
    for w in words:
        assert w in str(info.value)


def test_geometry_flipped_orientation():
    a, b = vol(), vol()
    b.affine[0, 0] = -1.0
    with pytest.raises(fio.GeometryError, match="orientation"):
        fio.check_geometry(a, b)
    fio.check_geometry(a, b, check_affine=False)


def test_case_id():
    assert fio.case_id("a/b/case_01.nii.gz") == "case_01"
    assert fio.case_id("case.v2.NII") == "case.v2"
    assert fio.case_id("x.mha") == "x"
    assert fio.case_id("notes.txt") is None
    assert fio.case_id(".nii.gz") is None


# ------------------------------------------------------------------------------------- SimpleITK

def test_simpleitk_file_in_reversed_axis_order(tmp_path):
    """SimpleITK stores arrays (z, y, x) with spacing (x, y, z): load gives the index-order array with
    its spacing per array axis, the same as the NIfTI of the same image."""
    sitk = pytest.importorskip("SimpleITK")
    a = label_map()  # index order (i, j, k)
    img = sitk.GetImageFromArray(np.ascontiguousarray(a.transpose(2, 1, 0)))  # numpy (k, j, i)
    img.SetSpacing(SPACING)  # (i, j, k)
    img.SetOrigin((-10.0, 20.0, 5.0))  # LPS: (10, -20, 5) in RAS
    img.SetDirection((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))  # RAS identity, as in the NIfTI
    for ext in (".nrrd", ".mha"):
        path = str(tmp_path / f"s{ext}")
        sitk.WriteImage(img, path)
        v = fio.load(path)
        np.testing.assert_array_equal(v.array, a)
        assert v.spacing == pytest.approx(SPACING)
        np.testing.assert_allclose(v.affine, affine_of(SPACING, ORIGIN), atol=1e-9)
    nii = fio.load(save_nifti(tmp_path / "n.nii.gz", a))
    fio.check_geometry(nii, fio.load(str(tmp_path / "s.nrrd")))


def test_simpleitk_reads_nifti_like_nibabel(tmp_path):
    pytest.importorskip("SimpleITK")
    aff = np.array([[0, 0, -1.2, 3.0], [0, 2.5, 0, -4.0], [0.8, 0, 0, 7.0], [0, 0, 0, 1.0]])
    nib.save(nib.Nifti1Image(label_map().astype(np.int16), aff), str(tmp_path / "o.nii.gz"))
    a = fio.load(tmp_path / "o.nii.gz", reader="nibabel")
    b = fio.load(tmp_path / "o.nii.gz", reader="simpleitk")
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-6)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-5)


def test_simpleitk_corrupt_file(tmp_path):
    pytest.importorskip("SimpleITK")
    p = tmp_path / "bad.nrrd"
    p.write_bytes(b"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n\n" + b"\x00" * 50)
    _assert_read_error(p, "cannot read")


@pytest.mark.parametrize("cls", ["Nifti1Image", "Nifti2Image"])
@pytest.mark.parametrize("dtype", ["<i2", ">i2", "<f4", "u1"])
def test_gzip_reader_equals_nibabel(tmp_path, cls, dtype):
    """The one-call gzip path gives nibabel's own array, zooms and affine (scaling, byte order, NIfTI-2)."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 9, size=(7, 5, 6)).astype(dtype)
    affine = np.array([[0.8, 0, 0, -3], [0, 0.9, 0, 4], [0, 0, 2.5, 1.5], [0, 0, 0, 1]])
    img = getattr(nib, cls)(arr, affine)
    if dtype == "<f4":
        img.header.set_slope_inter(2.0, 1.0)
    path = tmp_path / "x.nii.gz"
    nib.save(img, path)
    want = nib.load(path)
    vol = fio.load(path, integer=False)
    np.testing.assert_array_equal(vol.array, np.asanyarray(want.dataobj))
    assert vol.array.flags.writeable
    view = fio.load(path, integer=False, writable=False)  # the cohort's read: no copy when unscaled
    np.testing.assert_array_equal(view.array, vol.array)
    assert view.array.dtype == vol.array.dtype and view.spacing == vol.spacing
    assert vol.array.dtype == np.asanyarray(want.dataobj).dtype.newbyteorder("=")
    assert vol.spacing == tuple(float(z) for z in want.header.get_zooms())
    np.testing.assert_array_equal(vol.affine, want.affine)


@pytest.mark.parametrize("cut", [100, 348, 2000])
def test_multi_member_gzip_reads_every_member(tmp_path, cut):
    """A ``.nii.gz`` of several gzip members (concatenated streams, as some tools write) reads whole:
    the fast path inflates only the first member, sees that it is short and reads them all."""
    import nibabel as nib

    arr = (np.arange(20 * 16 * 12) % 5).astype(np.uint8).reshape(20, 16, 12)
    img = nib.Nifti1Image(arr, np.diag([0.8, 0.8, 2.5, 1.0]))
    raw = img.to_bytes()
    path = tmp_path / "multi.nii.gz"
    path.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    vol = fio.load(path)
    np.testing.assert_array_equal(vol.array, arr)
    np.testing.assert_array_equal(fio.load(path, writable=False).array, arr)
    np.testing.assert_allclose(vol.spacing, (0.8, 0.8, 2.5), rtol=1e-6)


def test_gzip_trailer_claiming_a_huge_size_is_not_trusted(tmp_path):
    arr = np.ones((8, 8, 8), np.uint8)
    path = save_nifti(tmp_path / "x.nii.gz", arr)
    data = bytearray(Path(path).read_bytes())
    data[-4:] = (0xFFFFFFF0).to_bytes(4, "little")  # ISIZE: the trailer now lies (and fails zlib's check)
    Path(path).write_bytes(bytes(data))
    _assert_read_error(path, "cannot read")


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_zero_voxel_size_in_header_is_an_error(tmp_path, ext):
    """nibabel reads a stored pixdim of 0 as 1.0 (with a log message): fastseg refuses the file
    instead of measuring that axis in voxels."""
    import nibabel as nib

    arr = np.zeros((4, 5, 6), np.uint8)
    img = nib.Nifti1Image(arr, np.diag([0.8, 0.8, 2.5, 1.0]))
    raw = bytearray(img.to_bytes())
    pixdim = np.frombuffer(raw, dtype="<f4", count=8, offset=76).copy()  # NIfTI-1: pixdim at byte 76
    pixdim[2] = 0.0
    raw[76:108] = pixdim.tobytes()
    path = tmp_path / f"zero{ext}"
    path.write_bytes(gzip.compress(bytes(raw)) if ext == ".nii.gz" else bytes(raw))
    assert nib.load(path).header.get_zooms()[1] == 1.0  # what nibabel makes of it
    with pytest.raises(fio.ReadError, match=r"pixdim\) is 0 along axis 1"):
        fio.load(path)
