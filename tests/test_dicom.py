"""DICOM inputs (the ``dicom`` extra): image series folders, DICOM-SEG and RTSTRUCT, written here with
pydicom from known arrays and polygons, read back through ``fastseg.io.load``."""
import os

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", minversion="3.0")  # the writers here use pydicom 3's API
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from fastseg import io as fio  # noqa: E402
from fastseg.io import ReadError  # noqa: E402

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
IMAGE_CLASSES = {"CT": CT_CLASS, "PT": "1.2.840.10008.5.1.4.1.1.128"}
AXIAL = (1, 0, 0, 0, 1, 0)
CORONAL = (1, 0, 0, 0, 0, -1)
PIXEL = (0.8, 0.6)  # PixelSpacing: (between rows, between columns)
DZ = 2.5


def dicom_dataset(sop_class, modality, study, frame):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = modality, study, generate_uid()
    ds.FrameOfReferenceUID, ds.PatientID = frame, "anon"
    return ds


def ct_volume(shape=(6, 5, 4)):
    """A (i, j, k) array with distinct values, to follow every axis."""
    return (np.arange(np.prod(shape)).reshape(shape) % 997).astype(np.int16)


def write_series(folder, volume, *, orientation=AXIAL, origin=(-30.0, 20.0, 7.0), dz=DZ, positions=None,
                 study=None, frame=None, shuffle=True, slope=None, modality="CT"):
    """One CT file (``modality="PT"``: PET) per slice k of ``volume`` (i, j, k), named
    ``ct_000.dcm`` (``pt_000.dcm``) ...; returns (study, frame, series uid, uids)."""
    os.makedirs(folder, exist_ok=True)
    study, frame = study or generate_uid(), frame or generate_uid()
    r, c = np.array(orientation[:3], float), np.array(orientation[3:], float)
    n = np.cross(r, c)
    series, uids = generate_uid(), []
    ks = list(range(volume.shape[2]))
    if shuffle:
        ks = ks[::2] + ks[1::2]
    for k in ks:
        ds = dicom_dataset(IMAGE_CLASSES[modality], modality, study, frame)
        ds.SeriesInstanceUID = series
        pos = np.asarray(origin) + n * (dz * k if positions is None else positions[k])
        ds.ImagePositionPatient = [f"{x:.4f}" for x in pos]
        ds.ImageOrientationPatient = [str(x) for x in orientation]
        ds.PixelSpacing = [str(PIXEL[0]), str(PIXEL[1])]
        ds.SliceThickness = str(dz)
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        if slope is not None:
            ds.RescaleSlope, ds.RescaleIntercept = str(slope[0]), str(slope[1])
        ds.InstanceNumber = k + 1
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T).astype("<i2").tobytes()
        ds.save_as(os.path.join(folder, f"{modality.lower()}_{k:03d}.dcm"), enforce_file_format=True)
        uids.append((k, ds.SOPInstanceUID))
    return study, frame, series, [u for _, u in sorted(uids)]


def expected_affine(orientation=AXIAL, origin=(-30.0, 20.0, 7.0), dz=DZ):
    """Written independently of the reader: LPS columns scaled, then x, y negated."""
    r, c = np.array(orientation[:3], float), np.array(orientation[3:], float)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = r * PIXEL[1], c * PIXEL[0], np.cross(r, c) * dz, origin
    return np.diag([-1, -1, 1, 1]) @ lps


def write_seg(path, label, names, *, orientation=AXIAL, origin=(-30.0, 20.0, 7.0), dz=DZ, fractional=False,
              skip_empty=False, frames=None, fraction=200, series=None, frame=None):
    """A DICOM-SEG of ``label`` (i, j, k): one frame per (segment, slice); ``frames`` overrides the
    list of (segment, k, 2D mask (i, j)). ``series``: the (study, frame, series uid, uids) of
    :func:`write_series` the SEG segments: its study and frame of reference, and named in its
    ReferencedSeriesSequence. ``frame``: the FrameOfReferenceUID (default the series', else a new one:
    a SEG of no series)."""
    study, series_frame, series_uid, instances = series if series is not None else (generate_uid(), None, None, ())
    ds = dicom_dataset(SEG_CLASS, "SEG", study, frame or series_frame or generate_uid())
    if series is not None:
        ref = Dataset()
        ref.SeriesInstanceUID = series_uid
        items = []
        for uid in instances:
            item = Dataset()
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = CT_CLASS, uid
            items.append(item)
        ref.ReferencedInstanceSequence = Sequence(items)
        ds.ReferencedSeriesSequence = Sequence([ref])
    r, c = np.array(orientation[:3], float), np.array(orientation[3:], float)
    n = np.cross(r, c)
    ds.Rows, ds.Columns = label.shape[1], label.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.SegmentationType = "FRACTIONAL" if fractional else "BINARY"
    if fractional:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.SegmentationFractionalType, ds.MaximumFractionalValue = "PROBABILITY", 200
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    segs = []
    for number, name in names.items():
        s = Dataset()
        s.SegmentNumber, s.SegmentLabel, s.SegmentAlgorithmType = number, name, "MANUAL"
        segs.append(s)
    ds.SegmentSequence = Sequence(segs)
    shared = Dataset()
    ori, meas = Dataset(), Dataset()
    ori.ImageOrientationPatient = [str(x) for x in orientation]
    meas.PixelSpacing, meas.SliceThickness, meas.SpacingBetweenSlices = [str(PIXEL[0]), str(PIXEL[1])], str(dz), str(dz)
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = Sequence([ori]), Sequence([meas])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    if frames is None:
        frames = [(s, k, label[:, :, k] == s) for s in names for k in range(label.shape[2])
                  if not (skip_empty and not (label[:, :, k] == s).any())]
    per, pixels = [], []
    for s, k, mask in frames:
        g, pos, ident = Dataset(), Dataset(), Dataset()
        pos.ImagePositionPatient = [f"{x:.4f}" for x in np.asarray(origin) + n * dz * k]
        ident.ReferencedSegmentNumber = s
        g.PlanePositionSequence, g.SegmentIdentificationSequence = Sequence([pos]), Sequence([ident])
        per.append(g)
        pixels.append(mask.T)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.NumberOfFrames = len(frames)
    stack = np.stack(pixels).astype(np.uint8)
    if fractional:
        ds.PixelData = np.where(stack > 0, fraction, 0).astype(np.uint8).tobytes()
    else:
        ds.PixelData = pydicom.pixels.pack_bits(stack.ravel())
    ds.save_as(path, enforce_file_format=True)
    return ds


SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def seg_label(shape=(6, 5, 4)):
    a = np.zeros(shape, np.uint8)
    a[1:4, 1:3, 1:3] = 1
    a[4:6, 3:5, 0:2] = 3
    return a


# ---------------------------------------------------------------- image series

@pytest.mark.parametrize("orientation", [AXIAL, CORONAL], ids=["axial", "coronal"])
def test_series_geometry_and_values(tmp_path, orientation):
    vol = ct_volume()
    write_series(tmp_path / "ct", vol, orientation=orientation)
    got = fio.load(tmp_path / "ct")
    np.testing.assert_array_equal(got.array, vol)
    assert got.spacing == pytest.approx((PIXEL[1], PIXEL[0], DZ))
    np.testing.assert_allclose(got.affine, expected_affine(orientation), atol=1e-6)


def test_series_matches_simpleitk_through_nifti(tmp_path):
    """The same series read by SimpleITK (GDCM's ordering), saved as NIfTI and loaded: same array,
    spacing and affine."""
    sitk = pytest.importorskip("SimpleITK")
    vol = ct_volume()
    write_series(tmp_path / "ct", vol, orientation=CORONAL)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    sitk.WriteImage(reader.Execute(), str(tmp_path / "ct.nii.gz"))
    nii, dcm = fio.load(tmp_path / "ct.nii.gz"), fio.load(tmp_path / "ct")
    np.testing.assert_array_equal(dcm.array, nii.array)
    np.testing.assert_allclose(dcm.spacing, nii.spacing, atol=1e-5)
    np.testing.assert_allclose(dcm.affine, nii.affine, atol=1e-4)


def test_series_rescale(tmp_path):
    vol = ct_volume()
    write_series(tmp_path / "ct", vol, slope=(2, -1024))
    np.testing.assert_array_equal(fio.load(tmp_path / "ct").array, vol.astype(np.int64) * 2 - 1024)


@pytest.mark.parametrize("positions, message", [
    ([0, 2.5, 5.0, 10.0], "1 missing slice"),
    ([0, 2.5, 5.0, 8.2], "uneven slice spacing"),
    ([0, 2.5, 2.5, 5.0], "share a position"),
])
def test_series_gaps_and_uneven_spacing_refused(tmp_path, positions, message):
    write_series(tmp_path / "ct", ct_volume(), positions=positions)
    with pytest.raises(ReadError, match=message) as err:
        fio.load(tmp_path / "ct")
    assert str(tmp_path / "ct") in str(err.value)


def test_series_mixed_orientation_refused(tmp_path):
    vol = ct_volume()
    write_series(tmp_path / "ct", vol)
    ds = pydicom.dcmread(tmp_path / "ct" / "ct_002.dcm")
    ds.ImageOrientationPatient = [str(x) for x in (0.8, 0.6, 0, -0.6, 0.8, 0)]
    ds.save_as(tmp_path / "ct" / "ct_002.dcm")
    with pytest.raises(ReadError, match="mixed orientations"):
        fio.load(tmp_path / "ct")


def test_two_series_in_one_folder_refused(tmp_path):
    os.makedirs(tmp_path / "two")
    write_series(tmp_path / "two" / "a", ct_volume())
    write_series(tmp_path / "two" / "b", ct_volume())
    for sub in ("a", "b"):
        for name in os.listdir(tmp_path / "two" / sub):
            os.rename(tmp_path / "two" / sub / name, tmp_path / "two" / f"{sub}_{name}")
    with pytest.raises(ReadError, match="holds 2 image series"):
        fio.load(tmp_path / "two")


def test_wrong_modality_and_non_image_inputs(tmp_path):
    ds = dicom_dataset("1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN", generate_uid(), generate_uid())
    os.makedirs(tmp_path / "plan")
    ds.save_as(tmp_path / "plan" / "plan.dcm", enforce_file_format=True)
    with pytest.raises(ReadError, match="a DICOM RTPLAN object"):
        fio.load(tmp_path / "plan" / "plan.dcm")
    with pytest.raises(ReadError, match=r"no DICOM image series \(found RTPLAN\)"):
        fio.load(tmp_path / "plan")
    write_series(tmp_path / "ct", ct_volume())
    with pytest.raises(ReadError, match="single DICOM image slice"):
        fio.load(tmp_path / "ct" / "ct_000.dcm")
    (tmp_path / "junk").write_bytes(b"not dicom at all")
    with pytest.raises(ReadError, match="unsupported file type"):
        fio.load(tmp_path / "junk")
    with pytest.raises(ReadError, match="not a DICOM-SEG"):
        from fastseg.io.dicom import read_seg
        read_seg(str(tmp_path / "ct" / "ct_000.dcm"))


# ---------------------------------------------------------------- DICOM-SEG

@pytest.mark.parametrize("fractional", [False, True], ids=["binary", "fractional"])
@pytest.mark.parametrize("orientation", [AXIAL, CORONAL], ids=["axial", "coronal"])
def test_seg_reads_back_the_label_map_and_names(tmp_path, fractional, orientation):
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, fractional=fractional, orientation=orientation)
    got = fio.load(tmp_path / "seg.dcm")
    assert isinstance(got, fio.LabelVolume)
    np.testing.assert_array_equal(got.array, label)
    assert got.names == {1: "Liver", 3: "Spleen"}
    assert got.spacing == pytest.approx((PIXEL[1], PIXEL[0], DZ))
    np.testing.assert_allclose(got.affine, expected_affine(orientation), atol=1e-6)
    array, spacing, affine = got  # unpacks like a Volume


def test_seg_same_as_nifti_of_the_same_data(tmp_path):
    import nibabel as nib
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"})
    nib.save(nib.Nifti1Image(label, expected_affine()), tmp_path / "seg.nii.gz")
    a, b = fio.load(tmp_path / "seg.dcm"), fio.load(tmp_path / "seg.nii.gz")
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-6)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-5)
    fio.check_geometry(a, b)


def test_seg_without_empty_frames_on_the_reference_series(tmp_path):
    label = np.zeros((6, 5, 6), np.uint8)
    label[1:3, 1:3, 2] = 2
    info = write_series(tmp_path / "ct", ct_volume((6, 5, 6)))
    write_seg(tmp_path / "seg.dcm", label, {2: "Lesion"}, skip_empty=True, series=info)
    own = fio.load(tmp_path / "seg.dcm")  # its own grid: the one slice that holds the segment
    assert own.array.shape == (6, 5, 1)
    on_ct = fio.load(tmp_path / "seg.dcm", reference=tmp_path / "ct")
    np.testing.assert_array_equal(on_ct.array, label)
    np.testing.assert_allclose(on_ct.affine, fio.load(tmp_path / "ct").affine)


def test_seg_gap_between_frames_is_background(tmp_path):
    label = np.zeros((6, 5, 5), np.uint8)
    label[1:3, 1:3, 0] = 1
    label[2:4, 1:3, 3] = 1
    write_seg(tmp_path / "seg.dcm", label, {1: "Node"}, skip_empty=True)
    got = fio.load(tmp_path / "seg.dcm")
    np.testing.assert_array_equal(got.array, label[:, :, :4])


def test_seg_overlapping_segments_refused_by_name(tmp_path):
    label = seg_label()
    frames = [(1, 1, label[:, :, 1] == 1), (3, 1, label[:, :, 1] != 0)]
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, frames=frames)
    with pytest.raises(ReadError, match=r"segments 1 \('Liver'\) and 3 \('Spleen'\) overlap"):
        fio.load(tmp_path / "seg.dcm")


def test_seg_off_the_reference_grid_refused(tmp_path):
    info = write_series(tmp_path / "ct", ct_volume())
    write_seg(tmp_path / "seg.dcm", seg_label(), {1: "Liver", 3: "Spleen"}, origin=(-30.0, 20.0, 8.0), series=info)
    with pytest.raises(ReadError, match="off the reference series' slices"):
        fio.load(tmp_path / "seg.dcm", reference=tmp_path / "ct")
    write_seg(tmp_path / "seg2.dcm", seg_label(), {1: "Liver", 3: "Spleen"}, orientation=CORONAL, series=info)
    with pytest.raises(ReadError, match="orientation differs"):
        fio.load(tmp_path / "seg2.dcm", reference=tmp_path / "ct")


def test_seg_frames_off_a_regular_grid_refused(tmp_path):
    label = seg_label((6, 5, 4))
    frames = [(1, 0, label[:, :, 1] == 1), (1, 1, label[:, :, 1] == 1)]
    ds = write_seg(tmp_path / "seg.dcm", label, {1: "Liver"}, frames=frames)
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient = ["-30", "20", "10.7"]
    ds.save_as(tmp_path / "seg.dcm", enforce_file_format=True)
    with pytest.raises(ReadError, match="not on a grid of step 2.5"):
        fio.load(tmp_path / "seg.dcm")


# ---------------------------------------------------------------- RTSTRUCT

RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(path, series_info, rois, *, kind="CLOSED_PLANAR", fmt="{:.6f}".format):
    """An RTSTRUCT referring to the series ``series_info`` (study, frame, series uid, ...);
    ``rois``: {name: [n x 3 LPS contour point arrays]}, each contour of ContourGeometricType ``kind``,
    its coordinates written by ``fmt``."""
    study, frame, series, _ = series_info
    ds = dicom_dataset(RTSTRUCT_CLASS, "RTSTRUCT", study, frame)
    ref, st, se = Dataset(), Dataset(), Dataset()
    se.SeriesInstanceUID = series
    st.RTReferencedSeriesSequence = Sequence([se])
    ref.FrameOfReferenceUID, ref.RTReferencedStudySequence = frame, Sequence([st])
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    ss, rc = [], []
    for number, (name, polys) in enumerate(rois.items(), start=1):
        r = Dataset()
        r.ROINumber, r.ROIName, r.ReferencedFrameOfReferenceUID = number, name, frame
        ss.append(r)
        c = Dataset()
        c.ReferencedROINumber = number
        items = []
        for p in polys:
            item = Dataset()
            item.ContourGeometricType = kind
            item.NumberOfContourPoints = len(p)
            item.ContourData = [fmt(v) for v in np.asarray(p, float).ravel()]
            items.append(item)
        c.ContourSequence = Sequence(items)
        rc.append(c)
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(ss), Sequence(rc)
    ds.save_as(path, enforce_file_format=True)


ORIGIN = np.array([-30.0, 20.0, 7.0])


def at(xy, k, dz=DZ):
    """Axial contour points: in-plane (x, y) mm offsets from the series origin, on slice k."""
    xy = np.asarray(xy, float)
    return np.column_stack([ORIGIN[0] + xy[:, 0], ORIGIN[1] + xy[:, 1], np.full(len(xy), ORIGIN[2] + k * dz)])


def even_odd_reference(shape_ij, polys_ij):
    """Brute force: each pixel centre (i, j) against every edge of every polygon (indices)."""
    i, j = np.meshgrid(np.arange(shape_ij[0]), np.arange(shape_ij[1]), indexing="ij")
    inside = np.zeros(shape_ij, bool)
    for p in polys_ij:
        for (a0, b0), (a1, b1) in zip(p, np.roll(p, -1, axis=0)):
            crosses = (np.minimum(b0, b1) <= j) & (j < np.maximum(b0, b1))
            with np.errstate(divide="ignore", invalid="ignore"):
                x = a0 + (j - b0) * (a1 - a0) / (b1 - b0)
            inside ^= crosses & (x <= i)
    return inside


def polygon_area_perimeter(p):
    x, y = p[:, 0], p[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return area, np.sum(np.hypot(*(np.roll(p, -1, axis=0) - p).T))


def test_rtstruct_polygon_area_hole_and_names(tmp_path):
    shape = (40, 30, 4)
    info = write_series(tmp_path / "ct", np.zeros(shape, np.int16))
    theta = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    disk = np.column_stack([12.3 + 7.1 * np.cos(theta), 9.2 + 5.3 * np.sin(theta)])  # mm
    outer = np.array([[2.13, 1.07], [20.31, 1.51], [19.77, 14.29], [3.01, 13.83]])
    hole = np.array([[7.17, 4.21], [13.29, 4.43], [12.91, 9.37], [7.53, 9.11]])
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, {
        "GTV": [at(disk, 1), at(disk * [1, 1.1], 2)],
        "Ring": [at(outer, 3), at(hole, 3)],
    })
    got = fio.load(tmp_path / "ct" / "rs.dcm")  # the series found beside it
    assert got.names == {1: "GTV", 2: "Ring"}
    assert got.array.shape == shape
    np.testing.assert_allclose(got.affine, expected_affine(), atol=1e-6)
    px = np.array([PIXEL[1], PIXEL[0]])  # mm per index along i, j
    for k, polys, value in [(1, [disk], 1), (2, [disk * [1, 1.1]], 1), (3, [outer, hole], 2)]:
        mask = got.array[:, :, k] == value
        np.testing.assert_array_equal(mask, even_odd_reference(shape[:2], [p / px for p in polys]))
        area = polygon_area_perimeter(polys[0])[0] - sum(polygon_area_perimeter(p)[0] for p in polys[1:])
        perimeter = sum(polygon_area_perimeter(p / px)[1] for p in polys)  # in voxels
        assert abs(mask.sum() - area / np.prod(px)) <= perimeter  # one voxel per unit of perimeter
    assert not got.array[:, :, 0].any()
    assert not got.array[13:21, 6:11, 3].any()  # inside the hole (mm 7.6-12.9 x 4.5-9.1)
    assert (got.array[13:21, 3:5, 3] == 2).all()  # the ring below it


def test_rtstruct_roi_selection_and_overlap(tmp_path):
    info = write_series(tmp_path / "ct", np.zeros((20, 20, 3), np.int16))
    body = at([[0.3, 0.3], [11.1, 0.3], [11.1, 11.1], [0.3, 11.1]], 1)
    organ = at([[2.3, 2.3], [5.1, 2.3], [5.1, 5.1], [2.3, 5.1]], 1)
    write_rtstruct(tmp_path / "rs.dcm", info, {"BODY": [body], "Heart": [organ], "Empty": []})
    with pytest.raises(ReadError, match="ROIs 'BODY' and 'Heart' overlap"):
        fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct")
    got = fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct", rois=["heart", "empty"])
    assert got.names == {1: "Heart", 2: "Empty"}
    assert set(np.unique(got.array)) == {0, 1}
    with pytest.raises(ReadError, match="no ROI named 'Lung'"):
        fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct", rois=["Lung"])


def test_rtstruct_contour_off_slice_refused(tmp_path):
    info = write_series(tmp_path / "ct", np.zeros((20, 20, 3), np.int16))
    square = [[2.3, 2.3], [5.1, 2.3], [5.1, 5.1], [2.3, 5.1]]
    write_rtstruct(tmp_path / "rs.dcm", info, {"Heart": [at(square, 1.5)]})
    with pytest.raises(ReadError, match="contour 1 of ROI 'Heart' .* lies off every slice"):
        fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct")
    write_rtstruct(tmp_path / "rs2.dcm", info, {"Heart": [at(square, 5)]})  # beyond the last slice
    with pytest.raises(ReadError, match="lies off every slice"):
        fio.load(tmp_path / "rs2.dcm", reference=tmp_path / "ct")


def test_rtstruct_needs_its_series(tmp_path):
    info = write_series(tmp_path / "ct", np.zeros((20, 20, 3), np.int16))
    write_series(tmp_path / "other", np.zeros((20, 20, 3), np.int16))
    square = [[2.3, 2.3], [5.1, 2.3], [5.1, 5.1], [2.3, 5.1]]
    os.makedirs(tmp_path / "rs")
    write_rtstruct(tmp_path / "rs" / "rs.dcm", info, {"Heart": [at(square, 1)]})
    with pytest.raises(ReadError, match="no slice of the referenced series .*reference="):
        fio.load(tmp_path / "rs" / "rs.dcm")
    with pytest.raises(ReadError, match="no slice of the referenced series"):
        fio.load(tmp_path / "rs" / "rs.dcm", reference=tmp_path / "other")
    assert fio.load(tmp_path / "rs" / "rs.dcm", reference=tmp_path / "ct").array.sum() > 0


def test_same_mask_as_seg_rtstruct_and_nifti(tmp_path):
    """A contour drawn through pixel-boundary midpoints around a block of voxels rasterises to that block:
    the same mask from SEG, RTSTRUCT and NIfTI, so the same metrics."""
    import nibabel as nib
    import fastseg
    shape = (12, 10, 4)
    label = np.zeros(shape, np.uint8)
    label[2:7, 3:8, 1:3] = 1
    info = write_series(tmp_path / "ct", np.zeros(shape, np.int16))
    px = np.array([PIXEL[1], PIXEL[0]])
    square = np.array([[1.5, 2.5], [6.5, 2.5], [6.5, 7.5], [1.5, 7.5]]) * px  # around i 2..6, j 3..7
    write_rtstruct(tmp_path / "rs.dcm", info, {"Cord": [at(square, 1), at(square, 2)]})
    write_seg(tmp_path / "seg.dcm", label, {1: "Cord"}, series=info)
    nib.save(nib.Nifti1Image(label, expected_affine()), tmp_path / "m.nii.gz")
    rs = fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct")
    seg, nii = fio.load(tmp_path / "seg.dcm"), fio.load(tmp_path / "m.nii.gz")
    for v in (rs, seg):
        np.testing.assert_array_equal(v.array, nii.array)
        fio.check_geometry(v, nii)
    assert fastseg.hd95(rs.array == 1, seg.array == 1, spacing=rs.spacing) == 0.0


@pytest.mark.parametrize("fraction, inside", [(99, False), (100, True), (101, True)])
def test_seg_fractional_threshold_is_half(tmp_path, fraction, inside):
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, fractional=True, fraction=fraction)
    np.testing.assert_array_equal(fio.load(tmp_path / "seg.dcm").array, label if inside else 0 * label)


def test_folder_with_series_and_rtstruct_loads_the_series_and_names_pickle(tmp_path):
    import pickle
    vol = ct_volume((8, 8, 3))
    info = write_series(tmp_path / "ct", vol)
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, {"Heart": [at([[0.3, 0.3], [3.1, 0.3], [3.1, 3.1]], 1)]})
    np.testing.assert_array_equal(fio.load(tmp_path / "ct").array, vol)
    got = fio.load(tmp_path / "ct" / "rs.dcm")
    again = pickle.loads(pickle.dumps(got))
    assert again.names == {1: "Heart"} and isinstance(again, fio.LabelVolume)
    np.testing.assert_array_equal(again.array, got.array)


def test_rtstruct_other_frame_of_reference_refused(tmp_path):
    study, frame, series, uids = write_series(tmp_path / "ct", np.zeros((8, 8, 3), np.int16))
    write_rtstruct(tmp_path / "rs.dcm", (study, generate_uid(), series, uids), {"Heart": []})
    with pytest.raises(ReadError, match="frame of reference"):
        fio.load(tmp_path / "rs.dcm", reference=tmp_path / "ct")


def test_without_pydicom_a_clear_error(tmp_path, monkeypatch):
    import sys
    write_series(tmp_path / "ct", ct_volume())
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ReadError, match=r"needs pydicom: pip install 'fastseg\[dicom\]'"):
        fio.load(tmp_path / "ct")


def test_seg_rois_select_and_renumber_segments(tmp_path):
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"})
    got = fio.load(tmp_path / "seg.dcm", rois=[" spleen", "LIVER"])
    assert got.names == {1: "Spleen", 2: "Liver"}
    np.testing.assert_array_equal(got.array, np.choose(label, [0, 2, 0, 1]))
    with pytest.raises(ReadError, match=r"no segment named 'Heart' \(rois=\['Heart'\]\); it holds 'Liver', 'Spleen'"):
        fio.load(tmp_path / "seg.dcm", rois=["Heart"])
    with pytest.raises(ValueError, match="rois and reference are for DICOM-SEG and RTSTRUCT files; got rois=\\['x'\\]"):
        import nibabel as nib
        nib.save(nib.Nifti1Image(label, np.eye(4)), tmp_path / "m.nii.gz")
        fio.load(tmp_path / "m.nii.gz", rois=["x"])


# ---------------------------------------------------------------- frames of reference, several series

def test_seg_other_frame_of_reference_refused(tmp_path):
    """A SEG in another frame of reference than its reference series is refused (as RTSTRUCT is),
    through load, load_structures and a Grid reference (the cohort's), naming the file and both
    frames; the same SEG in the series' frame reads."""
    from fastseg.io.dicom import find_series, read_seg
    info = write_series(tmp_path / "ct", ct_volume())
    label = seg_label()
    other = generate_uid()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, series=info, frame=other)
    seg = str(tmp_path / "seg.dcm")
    words = rf"{seg}: its frame of reference {other} is not the series' \({info[1]}\)"
    with pytest.raises(ReadError, match=words):
        fio.load(seg, reference=tmp_path / "ct")
    with pytest.raises(ReadError, match=words):
        fio.load_structures(seg, reference=tmp_path / "ct")
    with pytest.raises(ReadError, match=words):
        read_seg(seg, find_series(str(tmp_path / "ct"))[0])
    assert fio.load(seg).array.shape == label.shape  # on its own grid: no series to disagree with
    write_seg(tmp_path / "same.dcm", label, {1: "Liver", 3: "Spleen"}, series=info)
    np.testing.assert_array_equal(fio.load(tmp_path / "same.dcm", reference=tmp_path / "ct").array, label)


def test_seg_without_frame_of_reference_is_placed_on_the_reference(tmp_path):
    """No FrameOfReferenceUID in the SEG: nothing to compare, it is placed on the reference's grid
    (as an RTSTRUCT without one is)."""
    info = write_series(tmp_path / "ct", ct_volume())
    label = seg_label()
    ds = write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, series=info)
    del ds.FrameOfReferenceUID
    ds.save_as(tmp_path / "seg.dcm", enforce_file_format=True)
    assert "FrameOfReferenceUID" not in pydicom.dcmread(tmp_path / "seg.dcm", stop_before_pixels=True)
    got = fio.load(tmp_path / "seg.dcm", reference=tmp_path / "ct")
    np.testing.assert_array_equal(got.array, label)
    np.testing.assert_allclose(got.affine, fio.load(tmp_path / "ct").affine)
    np.testing.assert_array_equal(fio.load_structures(tmp_path / "seg.dcm", reference=tmp_path / "ct").mask(0),
                                  label == 1)


def pet_ct_folder(folder):
    """CT (6 x 5 x 4) and PET (3 x 3 x 2) series of one study and frame of reference in one folder;
    returns their series infos."""
    ct = write_series(folder, ct_volume())
    pet = write_series(folder, ct_volume((3, 3, 2)), study=ct[0], frame=ct[1], modality="PT")
    assert len(os.listdir(folder)) == 6
    return ct, pet


def test_rtstruct_with_ct_and_pet_in_the_reference_folder(tmp_path):
    """load(rtstruct, reference=folder) takes the series the RTSTRUCT names, as read_rtstruct does
    (load refused the folder: 'holds 2 image series')."""
    from fastseg.io.rtstruct import read_rtstruct
    ct, pet = pet_ct_folder(tmp_path / "petct")
    square = [[0.7, 0.9], [2.6, 0.9], [2.6, 2.5], [0.7, 2.5]]
    os.makedirs(tmp_path / "rs")
    write_rtstruct(tmp_path / "rs" / "ct.dcm", ct, {"Heart": [at(square, 1)]})
    write_rtstruct(tmp_path / "rs" / "pet.dcm", pet, {"Heart": [at(square, 1)]})
    for name, shape in (("ct.dcm", (6, 5, 4)), ("pet.dcm", (3, 3, 2))):
        got = fio.load(tmp_path / "rs" / name, reference=tmp_path / "petct")
        direct = read_rtstruct(str(tmp_path / "rs" / name), str(tmp_path / "petct"))
        assert got.array.shape == shape and got.array.sum() > 0
        np.testing.assert_array_equal(got.array, direct[0])
        assert fio.load_structures(tmp_path / "rs" / name, reference=tmp_path / "petct").shape == shape


def test_seg_with_ct_and_pet_in_the_reference_folder_takes_its_referenced_series(tmp_path):
    """A SEG placed on a folder of two series takes the one its ReferencedSeriesSequence names
    (load and load_structures); a SEG naming none of them, or no series, is refused listing them."""
    ct, pet = pet_ct_folder(tmp_path / "petct")
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, series=ct, skip_empty=True)
    got = fio.load(tmp_path / "seg.dcm", reference=tmp_path / "petct")
    np.testing.assert_array_equal(got.array, label)
    np.testing.assert_allclose(got.affine, expected_affine(), atol=1e-6)
    s = fio.load_structures(tmp_path / "seg.dcm", reference=tmp_path / "petct")
    assert s.names == ["Liver", "Spleen"] and s.shape == label.shape and s.grid.uids == tuple(ct[3])
    np.testing.assert_array_equal(s.mask(1), label == 3)
    elsewhere = (ct[0], ct[1], generate_uid(), ())
    write_seg(tmp_path / "elsewhere.dcm", label, {1: "Liver", 3: "Spleen"}, series=elsewhere)
    with pytest.raises(ReadError, match=rf"holds 2 image series .*none of them the referenced series {elsewhere[2]}"):
        fio.load(tmp_path / "elsewhere.dcm", reference=tmp_path / "petct")
    write_seg(tmp_path / "nameless.dcm", label, {1: "Liver", 3: "Spleen"}, frame=ct[1])  # no ReferencedSeriesSequence
    with pytest.raises(ReadError, match=rf"{tmp_path / 'petct'}: holds 2 image series .*put one series per folder"):
        fio.load_structures(tmp_path / "nameless.dcm", reference=tmp_path / "petct")


def test_seg_on_a_one_series_folder_takes_that_series(tmp_path):
    """A folder of one series is the grid whatever series the SEG names (as before the SEG's
    ReferencedSeriesSequence was read)."""
    study, frame, _, _ = write_series(tmp_path / "ct", ct_volume())
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Spleen"}, series=(study, frame, generate_uid(), ()))
    np.testing.assert_array_equal(fio.load(tmp_path / "seg.dcm", reference=tmp_path / "ct").array, label)
    write_seg(tmp_path / "bare.dcm", label, {1: "Liver", 3: "Spleen"}, frame=frame)
    np.testing.assert_array_equal(fio.load_structures(tmp_path / "bare.dcm", reference=tmp_path / "ct").mask(0),
                                  label == 1)
