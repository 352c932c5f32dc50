"""The DICOM readers against independent references: RTSTRUCT contours traced through pixel
centres (as OpenCV's ``findContours`` gives them, which rt-utils writes) against a brute-force
rasterisation in exact integer arithmetic, DICOM's CLOSEDPLANAR_XOR contours, generic contours against
plastimatch (when its CLI is installed), one-slice series. Files are written here with pydicom."""
import os
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", minversion="3.0")
from pydicom.uid import generate_uid  # noqa: E402

from fastseg import io as fio  # noqa: E402
from fastseg.io import ReadError  # noqa: E402
from tests.test_dicom import dicom_dataset  # noqa: E402
from tests.test_dicom import write_rtstruct as dicom_write_rtstruct  # noqa: E402

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
ORIGIN = np.array([-249.51171875, -120.3, 17.25])
ORIENTATIONS = {
    "HFS": (1, 0, 0, 0, 1, 0),
    "FFP": (1, 0, 0, 0, -1, 0),
    "coronal": (1, 0, 0, 0, 0, -1),
    "oblique": (np.cos(0.3), np.sin(0.3), 0, -np.sin(0.3), np.cos(0.3), 0),
}


def _ds(x):
    """A DS string of at most 16 characters (as careful writers format them)."""
    return pydicom.valuerep.format_number_as_ds(float(x))


def write_series(folder, shape, *, orientation=ORIENTATIONS["HFS"], pixel=(0.8, 0.6), dz=2.5, thickness=True,
                 spacing_between=None):
    """A zero CT of ``shape`` (i, j, k), one file per slice in shuffled order; returns
    ``(study, frame, series uid, index -> LPS function)``. ``pixel`` is PixelSpacing (between rows,
    between columns)."""
    os.makedirs(folder, exist_ok=True)
    study, frame, series = generate_uid(), generate_uid(), generate_uid()
    r, c = np.array(orientation[:3], float), np.array(orientation[3:], float)
    n = np.cross(r, c)
    for k in list(range(shape[2]))[::-2] + list(range(shape[2]))[-2::-2]:
        ds = dicom_dataset(CT_CLASS, "CT", study, frame)
        ds.SeriesInstanceUID = series
        ds.ImagePositionPatient = [_ds(v) for v in ORIGIN + n * dz * k]
        ds.ImageOrientationPatient = [_ds(v) for v in orientation]
        ds.PixelSpacing = [_ds(pixel[0]), _ds(pixel[1])]
        if thickness:
            ds.SliceThickness = _ds(dz)
        if spacing_between is not None:
            ds.SpacingBetweenSlices = _ds(spacing_between)
        ds.Rows, ds.Columns = shape[1], shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.zeros((shape[1], shape[0]), "<i2").tobytes()
        ds.save_as(os.path.join(folder, f"ct_{k:03d}.dcm"), enforce_file_format=True)

    def to_lps(ijk):
        """Pixel (i, j, k) indices -> LPS mm, written independently of the reader."""
        ijk = np.asarray(ijk, float)
        origin = np.array([float(_ds(v)) for v in ORIGIN])
        return origin + ijk[:, :1] * r * pixel[1] + ijk[:, 1:2] * c * pixel[0] + ijk[:, 2:] * n * dz

    return study, frame, series, to_lps


def write_rtstruct(path, series_info, rois, *, kind="CLOSED_PLANAR"):
    """An RTSTRUCT on ``series_info``; ``rois``: {name: [n x 3 LPS points]}, written as careful writers
    write DS values (:func:`_ds`)."""
    dicom_write_rtstruct(path, series_info, rois, kind=kind, fmt=_ds)


def on_slice(to_lps, ij, k):
    """Contour points at pixel indices ``ij`` (integers: pixel centres) of slice ``k``, in LPS mm."""
    ij = np.asarray(ij, float)
    return to_lps(np.column_stack([ij, np.full(len(ij), k)]))


def exact_reference(shape_ij, polys):
    """Pixel centres inside (even-odd over the polygons) or on the path of any polygon, with integer
    vertices: exact rational arithmetic, independent of the reader's scan conversion."""
    inside = np.zeros(shape_ij, bool)
    on = np.zeros(shape_ij, bool)
    for i in range(shape_ij[0]):
        for j in range(shape_ij[1]):
            for p in polys:
                p = [tuple(int(x) for x in v) for v in p]
                odd = False
                for (a0, b0), (a1, b1) in zip(p, p[1:] + p[:1]):
                    if (a1 - a0) * (j - b0) == (b1 - b0) * (i - a0) and min(a0, a1) <= i <= max(a0, a1) \
                            and min(b0, b1) <= j <= max(b0, b1):
                        on[i, j] = True
                    if (b0 <= j) != (b1 <= j):  # the edge crosses row j: left of the centre?
                        odd ^= a0 + Fraction(j - b0, b1 - b0) * (a1 - a0) < i
                inside[i, j] ^= odd
    return inside | on


# polygons with vertices on pixel centres (i, j), as boundary tracing of a mask gives them
BLOCK = [(3, 2), (9, 2), (9, 6), (3, 6)]
L_SHAPE = [(2, 8), (6, 8), (6, 10), (4, 10), (4, 13), (2, 13)]
TRIANGLE = [(10, 8), (16, 8), (10, 14)]  # its hypotenuse runs through centres
RING, RING_HOLE = [(12, 1), (18, 1), (18, 6), (12, 6)], [(14, 2), (16, 2), (16, 5), (14, 5)]


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_rtstruct_contours_through_pixel_centres_keep_their_boundary_pixels(tmp_path, orientation):
    """DICOM PS3.3 C.8.8.6.3: points along a contour's path are part of the ROI. A contour traced
    through the centres of a mask's boundary pixels gives back the whole mask, whatever the float
    noise of the orientation (a half-open rule dropped the right and bottom boundary pixels: a 7 x 5
    block read as 6 x 4)."""
    shape = (20, 16, 4)
    info = write_series(tmp_path / "ct", shape, orientation=ORIENTATIONS[orientation])
    to_lps = info[3]
    polys = {1: [BLOCK, L_SHAPE, TRIANGLE], 2: [RING, RING_HOLE]}
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info,
                   {"Organ": [on_slice(to_lps, p, k) for k, ps in polys.items() for p in ps]})
    got = fio.load(tmp_path / "ct" / "rs.dcm")
    for k in range(shape[2]):
        expected = exact_reference(shape[:2], polys.get(k, []))
        np.testing.assert_array_equal(got.array[:, :, k] == 1, expected, err_msg=f"slice {k}")
    assert (got.array[3:10, 2:7, 1] == 1).all() and got.array[:, :, 1].sum() == 35 + 24 + 28
    assert not got.array[15, 3:5, 2].any() and got.array[12:19, 1:7, 2].sum() == 42 - 2  # the hole's inside


def test_rtstruct_one_and_two_point_contours_hold_the_centres_on_them(tmp_path):
    """A closed contour of one point (a one-pixel island traced by findContours) or two (a line one
    pixel wide) encloses no area; the centres on its path are part of the ROI."""
    shape = (12, 10, 3)
    info = write_series(tmp_path / "ct", shape, pixel=(1.0, 0.7))
    to_lps = info[3]
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, {"Dot": [on_slice(to_lps, [(4, 5)], 1)],
                                                       "Line": [on_slice(to_lps, [(2, 2), (2, 7)], 2)]})
    got = fio.load(tmp_path / "ct" / "rs.dcm")
    expected = np.zeros(shape, np.uint8)
    expected[4, 5, 1] = 1
    expected[2, 2:8, 2] = 2
    np.testing.assert_array_equal(got.array, expected)


def test_rtstruct_closedplanar_xor_contours_are_filled(tmp_path):
    """CLOSEDPLANAR_XOR (DICOM 2024, the XOR technique made explicit) encloses an area like
    CLOSED_PLANAR: an outer and an inner contour make a ring (they were skipped: an empty ROI)."""
    shape = (20, 16, 3)
    info = write_series(tmp_path / "ct", shape)
    to_lps = info[3]
    outer = on_slice(to_lps, np.array([(1.5, 1.5), (10.5, 1.5), (10.5, 8.5), (1.5, 8.5)]), 1)
    inner = on_slice(to_lps, np.array([(4.5, 3.5), (6.5, 3.5), (6.5, 5.5), (4.5, 5.5)]), 1)
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, {"Ring": [outer, inner]}, kind="CLOSEDPLANAR_XOR")
    got = fio.load_structures(tmp_path / "ct" / "rs.dcm")
    expected = np.zeros(shape, bool)
    expected[2:11, 2:9, 1] = True
    expected[5:7, 4:6, 1] = False
    np.testing.assert_array_equal(got.mask(0), expected)


def test_one_slice_series_takes_its_step_from_spacing_between_slices(tmp_path):
    """A one-slice series without SliceThickness but with SpacingBetweenSlices (the error message
    offered either) reads with that step."""
    write_series(tmp_path / "ct", (6, 5, 1), thickness=False, spacing_between=3.0)
    vol = fio.load(tmp_path / "ct")
    assert vol.array.shape == (6, 5, 1) and vol.spacing == pytest.approx((0.6, 0.8, 3.0))
    write_series(tmp_path / "ct2", (6, 5, 1), thickness=False)
    with pytest.raises(ReadError, match="single slice without SliceThickness or SpacingBetweenSlices"):
        fio.load(tmp_path / "ct2")


@pytest.mark.skipif(shutil.which("plastimatch") is None, reason="plastimatch CLI not installed")
def test_rtstruct_generic_contours_match_plastimatch(tmp_path):
    """Contours off the pixel centres (ellipses, several per slice, a hole, anisotropic pixels, a
    feet-first prone series): voxel for voxel plastimatch's rasterisation (``--xor-contours``)."""
    sitk = pytest.importorskip("SimpleITK")
    shape = (40, 30, 5)
    info = write_series(tmp_path / "ct", shape, orientation=ORIENTATIONS["FFP"], pixel=(0.8, 0.6), dz=3.0)
    to_lps = info[3]
    theta = np.linspace(0, 2 * np.pi, 37, endpoint=False)

    def ellipse(ci, cj, ri, rj, k):
        return on_slice(to_lps, np.column_stack([ci + ri * np.cos(theta + 0.1), cj + rj * np.sin(theta + 0.1)]), k)

    rois = {"A": [ellipse(17.3, 13.1, 11.2, 7.7, k) for k in (1, 2, 3)],
            "B": [ellipse(16.2, 14.4, 12.1, 10.3, 4), ellipse(16.9, 14.1, 4.3, 3.1, 4),  # a hole
                  ellipse(33.1, 6.2, 3.4, 4.6, 4)]}
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, rois)
    out = tmp_path / "plm"
    run = subprocess.run(["plastimatch", "convert", "--input", str(tmp_path / "ct" / "rs.dcm"), "--referenced-ct",
                          str(tmp_path / "ct"), "--output-prefix", str(out), "--prefix-format", "nrrd",
                          "--xor-contours"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    got = fio.load_structures(tmp_path / "ct" / "rs.dcm")
    lps = got.grid.lps
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    points = idx @ lps[:3, :3].T + lps[:3, 3]
    for number, name in enumerate(rois):
        img = sitk.ReadImage(str(out / f"{name}.nrrd"))
        theirs = sitk.GetArrayFromImage(img).transpose(2, 1, 0) != 0
        where = np.array([img.TransformPhysicalPointToIndex(tuple(map(float, p))) for p in points])
        mine = got.mask(number)
        assert mine.sum() > 100
        np.testing.assert_array_equal(mine.ravel(), theirs[tuple(where.T)], err_msg=name)
