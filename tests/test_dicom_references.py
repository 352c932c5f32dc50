"""The DICOM / ITK readers where a file is ambiguous about what it refers to, or short: four
weaknesses, each pinned by a regression test on files written with pydicom / highdicom / SimpleITK
(each test failed before its fix):

1. an RTSTRUCT (or SEG) with two ROIs of one name: selecting by that name silently took the first;
2. a DICOM-SEG without ReferencedSeriesSequence on a folder of several series: refused although its
   frames name their source images (or only one series is in its frame of reference);
3. an RTSTRUCT referring to several series: only the first was considered (contours of another
   frame of reference were placed on its grid without a word);
4. a truncated MetaImage: SimpleITK's "File cannot be read" did not say the data is short.
"""
import os

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", minversion="3.0")
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from fastseg import io as fio  # noqa: E402
from fastseg.io import ReadError  # noqa: E402
from tests.test_dicom import (CT_CLASS, PIXEL, RTSTRUCT_CLASS, at, ct_volume, dicom_dataset,  # noqa: E402
                               expected_affine, seg_label, write_rtstruct, write_seg, write_series)

PX = np.array([PIXEL[1], PIXEL[0]])  # mm per index along i, j


def square(i0, i1, j0, j1):
    """In-plane mm offsets of a contour through pixel-boundary midpoints around pixels i0..i1, j0..j1."""
    return np.array([[i0 - .5, j0 - .5], [i1 + .5, j0 - .5], [i1 + .5, j1 + .5], [i0 - .5, j1 + .5]]) * PX


def write_rs(path, study, refs, rois):
    """An RTSTRUCT written with pydicom. ``refs``: [(frame, series uid, [SOPInstanceUIDs])] listed in
    ReferencedFrameOfReferenceSequence in this order (one item per frame, its series' ContourImageSequence
    naming the instances). ``rois``: [(number, name, frame, [(points n x 3 LPS, image SOPInstanceUID)])],
    each contour's ContourImageSequence naming its image."""
    ds = dicom_dataset(RTSTRUCT_CLASS, "RTSTRUCT", study, refs[0][0])
    del ds.FrameOfReferenceUID  # an RTSTRUCT has none of its own
    items = {}
    for frame, series, uids in refs:
        se = Dataset()
        se.SeriesInstanceUID = series
        se.ContourImageSequence = Sequence([_image(u) for u in uids])
        items.setdefault(frame, []).append(se)
    fors = []
    for frame, series_items in items.items():
        st, ref = Dataset(), Dataset()
        st.ReferencedSOPClassUID, st.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", study
        st.RTReferencedSeriesSequence = Sequence(series_items)
        ref.FrameOfReferenceUID, ref.RTReferencedStudySequence = frame, Sequence([st])
        fors.append(ref)
    ds.ReferencedFrameOfReferenceSequence = Sequence(fors)
    ss, rc = [], []
    for number, name, frame, contours in rois:
        r, c = Dataset(), Dataset()
        r.ROINumber, r.ROIName, r.ReferencedFrameOfReferenceUID = number, name, frame
        r.ROIGenerationAlgorithm = "MANUAL"
        c.ReferencedROINumber, c.ROIDisplayColor = number, [255, 0, 0]
        seq = []
        for pts, image in contours:
            item = Dataset()
            if image is not None:
                item.ContourImageSequence = Sequence([_image(image)])
            item.ContourGeometricType, item.NumberOfContourPoints = "CLOSED_PLANAR", len(pts)
            item.ContourData = [f"{v:.6f}" for v in np.asarray(pts, float).ravel()]
            seq.append(item)
        c.ContourSequence = Sequence(seq)
        ss.append(r)
        rc.append(c)
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(ss), Sequence(rc)
    ds.save_as(path, enforce_file_format=True)


def _image(uid):
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = CT_CLASS, uid
    return item


# ---------------------------------------------------------------- 1. two ROIs of one name

def test_rtstruct_duplicate_roi_name_is_ambiguous_not_the_first(tmp_path):
    """Two ROIs named 'Heart' (numbers 2 and 5, as some planning systems export): rois=['Heart'] is an
    error listing both numbers and how to pick one (rois=[5]); a number selects that ROI; unique
    names still load; loading every ROI keeps both."""
    shape = (12, 10, 3)
    info = write_series(tmp_path / "ct", np.zeros(shape, np.int16))
    study, frame, series, uids = info
    first, second, lung = square(1, 3, 1, 3), square(6, 9, 5, 8), square(1, 3, 6, 8)
    write_rs(tmp_path / "rs.dcm", study, [(frame, series, uids)], [
        (2, "Heart", frame, [(at(first, 1), uids[1])]),
        (3, "Lung", frame, [(at(lung, 1), uids[1])]),
        (5, "HEART", frame, [(at(second, 1), uids[1])]),
    ])
    rs, ct = str(tmp_path / "rs.dcm"), tmp_path / "ct"
    with pytest.raises(ReadError, match=rf"{rs}: 2 ROIs are named 'Heart' \(ROI numbers 2, 5: 'Heart', 'HEART'\)"
                                        r".*rois=\[2\] or rois=\[5\]"):
        fio.load(rs, reference=ct, rois=["Heart"])
    with pytest.raises(ReadError, match="2 ROIs are named ' heart'"):
        fio.load(rs, reference=ct, rois=["Lung", " heart"])
    got = fio.load(rs, reference=ct, rois=[5, "lung"])  # by ROINumber, and by a unique name
    assert got.names == {1: "HEART", 2: "Lung"}
    want = np.zeros(shape, np.uint8)
    want[6:10, 5:9, 1], want[1:4, 6:9, 1] = 1, 2
    np.testing.assert_array_equal(got.array, want)
    assert fio.load(rs, reference=ct, rois=np.int64(2)).array[1:4, 1:4, 1].all()
    assert fio.load(rs, reference=ct).names == {1: "Heart", 2: "Lung", 3: "HEART"}
    with pytest.raises(ReadError, match=r"no ROI number 4 \(rois=\[4\]\); its ROI numbers are 2, 3, 5"):
        fio.load(rs, reference=ct, rois=[4])


def test_seg_duplicate_segment_label_is_ambiguous_not_the_first(tmp_path):
    """The same for a DICOM-SEG whose segments 1 and 3 are both labelled 'Liver'."""
    label = seg_label()
    write_seg(tmp_path / "seg.dcm", label, {1: "Liver", 3: "Liver"})
    with pytest.raises(ReadError, match=r"2 segments are named 'liver' \(segment numbers 1, 3: 'Liver', 'Liver'\)"):
        fio.load(tmp_path / "seg.dcm", rois=["liver"])
    got = fio.load(tmp_path / "seg.dcm", rois=[3])
    assert got.names == {1: "Liver"}
    np.testing.assert_array_equal(got.array, (label == 3).astype(np.uint8))


# ---------------------------------------------------------------- 2. SEG without ReferencedSeriesSequence

def for_highdicom(info, folder, modality="CT"):
    """The slices of series ``info`` in ``folder`` with the patient / study attributes highdicom needs,
    sorted along k."""
    out = []
    for uid in info[3]:
        p = next(os.path.join(folder, n) for n in sorted(os.listdir(folder))
                 if pydicom.dcmread(os.path.join(folder, n), stop_before_pixels=True).SOPInstanceUID == uid)
        ds = pydicom.dcmread(p)
        ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "Anon^Test", "", ""
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", ""
        ds.ReferringPhysicianName, ds.SeriesNumber = "", 1
        ds.save_as(p)
        out.append(ds)
    return out


def highdicom_seg(path, sources, label, names):
    """A DICOM-SEG written by highdicom from ``sources`` (the series' slices along k), then without
    its ReferencedSeriesSequence (as some exporters write it)."""
    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes
    desc = [hd.seg.SegmentDescription(segment_number=n, segment_label=name, segmented_property_category=codes.SCT.Organ,
                                      segmented_property_type=codes.SCT.Organ,
                                      algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
            for n, name in enumerate(names, start=1)]
    values = sorted(int(v) for v in np.unique(label) if v)
    pixels = np.stack([label == v for v in values], axis=-1).transpose(2, 1, 0, 3).astype(np.uint8)  # k, j, i, segment
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=desc, series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="fastseg", manufacturer_model_name="tests", software_versions="1",
        device_serial_number="1")
    del seg.ReferencedSeriesSequence
    seg.save_as(path)
    return seg


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_seg_without_referenced_series_finds_its_source_series(tmp_path):
    """A SEG without ReferencedSeriesSequence on a folder of a CT and a PET of one frame of reference:
    the series holding its frames' source images (DerivationImageSequence / SourceImageSequence) is
    the grid, through load and load_structures. Without source images either, the one series of the
    folder in the SEG's frame of reference is; two such series are a clear error."""
    folder = tmp_path / "petct"
    ct = write_series(folder, ct_volume())
    pet = write_series(folder, ct_volume((3, 3, 2)), study=ct[0], frame=ct[1], modality="PT")
    label = seg_label()
    seg = highdicom_seg(tmp_path / "seg.dcm", for_highdicom(ct, folder), label, ["Liver", "Spleen"])
    assert "ReferencedSeriesSequence" not in seg and "SourceImageSequence" in seg.PerFrameFunctionalGroupsSequence[0] \
        .DerivationImageSequence[0]
    got = fio.load(tmp_path / "seg.dcm", reference=folder)
    np.testing.assert_array_equal(got.array, np.choose(label, [0, 1, 0, 2]))
    np.testing.assert_allclose(got.affine, expected_affine(), atol=1e-6)
    assert fio.load_structures(tmp_path / "seg.dcm", reference=folder).grid.uids == tuple(ct[3])

    # no source images: the folder's one series in the SEG's frame of reference (an MR of another frame beside)
    mixed = tmp_path / "mixed"
    ct2 = write_series(mixed, ct_volume())
    write_series(mixed, ct_volume((3, 3, 2)), study=ct2[0], modality="PT")  # its own frame of reference
    write_seg(tmp_path / "bare.dcm", label, {1: "Liver", 3: "Spleen"}, frame=ct2[1])
    np.testing.assert_array_equal(fio.load(tmp_path / "bare.dcm", reference=mixed).array, label)
    write_seg(tmp_path / "two.dcm", label, {1: "Liver", 3: "Spleen"}, frame=pet[1])  # CT and PET in its frame
    with pytest.raises(ReadError, match=rf"{folder}: holds 2 image series .*put one series per folder"):
        fio.load(tmp_path / "two.dcm", reference=folder)
    other = generate_uid()
    write_seg(tmp_path / "none.dcm", label, {1: "Liver", 3: "Spleen"}, frame=other)
    with pytest.raises(ReadError, match=rf"holds 2 image series .*none of them in the frame of reference {other}"):
        fio.load(tmp_path / "none.dcm", reference=mixed)


# ---------------------------------------------------------------- 3. RTSTRUCT referring to several series

def ct_and_mr(folder, shape=(12, 10, 3)):
    """A CT and an 'MR' (written as PT: another modality, other file names) in one folder, each in its
    own frame of reference, on the same slice positions; the MR's origin is 4 pixels lower along i and
    j and its grid larger, so that CT coordinates fall on it too (misplaced by 4 pixels)."""
    ct = write_series(folder, np.zeros(shape, np.int16))
    mr = write_series(folder, np.zeros((shape[0] + 6, shape[1] + 6, shape[2]), np.int16), study=ct[0],
                      modality="PT", origin=(-30.0 - 4 * PX[0], 20.0 - 4 * PX[1], 7.0))
    assert ct[1] != mr[1]
    return ct, mr


def test_rtstruct_of_several_series_places_each_roi_on_its_own_series(tmp_path):
    """An RTSTRUCT listing an MR (first) and a CT, with 'Brain' drawn on the MR and 'Heart' on the CT:
    rois=['Heart'] on a folder of both is placed on the CT (the series of its contours' images), not
    on the first listed; a folder holding the CT alone takes it; 'Heart' on the MR (a folder or a
    Grid of the MR) is an error naming the ROI and both frames of reference, not a misplaced mask;
    both ROIs at once, in two frames of reference, are an error saying how to read each."""
    from fastseg.io.dicom import find_series
    from fastseg.io.rtstruct import rtstruct_structures
    ct, mr = ct_and_mr(tmp_path / "both")
    heart = square(2, 6, 3, 7)
    write_rs(tmp_path / "rs.dcm", ct[0], [(mr[1], mr[2], mr[3]), (ct[1], ct[2], ct[3])], [
        (1, "Brain", mr[1], [(at(square(8, 12, 8, 12) - 4 * PX, 2), mr[3][2])]),
        (2, "Heart", ct[1], [(at(heart, 1), ct[3][1])]),
    ])
    rs = str(tmp_path / "rs.dcm")
    for modality in ("ct", "pt"):  # each series alone in a folder too
        os.makedirs(tmp_path / modality)
        for name in os.listdir(tmp_path / "both"):
            if name.startswith(modality):
                os.link(tmp_path / "both" / name, tmp_path / modality / name)
    want = np.zeros((12, 10, 3), np.uint8)
    want[2:7, 3:8, 1] = 1
    got = fio.load(rs, reference=tmp_path / "both", rois=["Heart"])
    np.testing.assert_array_equal(got.array, want)
    np.testing.assert_allclose(got.affine, expected_affine(), atol=1e-6)
    np.testing.assert_array_equal(fio.load(rs, reference=tmp_path / "ct", rois=["heart"]).array, want)
    brain = fio.load(rs, reference=tmp_path / "both", rois=["Brain"])
    assert brain.array.shape == (18, 16, 3) and brain.array[8:13, 8:13, 2].all() and brain.array.sum() == 25
    words = rf"{rs}: ROI 'Heart' \(number 2\) lies in frame of reference {ct[1]}, not the series' \({mr[1]}\)"
    with pytest.raises(ReadError, match=words):
        fio.load(rs, reference=tmp_path / "pt", rois=["Heart"])
    with pytest.raises(ReadError, match=words):
        rtstruct_structures(rs, find_series(str(tmp_path / "pt"))[0], rois=["Heart"])
    for reference in ("both", "pt", "ct"):
        with pytest.raises(ReadError, match=rf"{rs}: its ROIs lie in 2 frames of reference \({mr[1]}: 'Brain'; "
                                            rf"{ct[1]}: 'Heart'\).*rois="):
            fio.load_structures(rs, reference=tmp_path / reference)


def test_rtstruct_contour_on_an_image_of_another_frame_is_refused(tmp_path):
    """A contour whose ContourImageSequence names an image of a listed series in another frame of
    reference (its ROI claiming the grid's frame) is refused, naming the ROI and the contour."""
    ct, mr = ct_and_mr(tmp_path / "both")
    write_rs(tmp_path / "rs.dcm", ct[0], [(ct[1], ct[2], ct[3]), (mr[1], mr[2], mr[3])], [
        (1, "Heart", ct[1], [(at(square(2, 6, 3, 7), 1), ct[3][1]), (at(square(2, 6, 3, 7), 2), mr[3][2])]),
    ])
    with pytest.raises(ReadError, match=rf"contour 2 of ROI 'Heart' lies on an image of series {mr[2]} "
                                        rf"\(frame of reference {mr[1]}\)"):
        fio.load(tmp_path / "rs.dcm", reference=tmp_path / "both")


def test_rtstruct_of_one_series_unchanged(tmp_path):
    """The usual RTSTRUCT (one series, test_dicom's writer, no ContourImageSequence) reads as before."""
    info = write_series(tmp_path / "ct", np.zeros((12, 10, 3), np.int16))
    write_rtstruct(tmp_path / "ct" / "rs.dcm", info, {"Heart": [at(square(2, 6, 3, 7), 1)]})
    assert fio.load(tmp_path / "ct" / "rs.dcm").array[2:7, 3:8, 1].all()


# ---------------------------------------------------------------- 4. truncated MetaImage

@pytest.mark.parametrize("name, compress", [("t.mhd", False), ("t.mhd", True), ("t.mha", False)])
def test_truncated_metaimage_names_the_file_and_says_short(tmp_path, name, compress):
    """SimpleITK says only 'File cannot be read'; the error names the file, says it is truncated and
    gives the sizes."""
    sitk = pytest.importorskip("SimpleITK")
    a = np.zeros((6, 5, 4), np.int16)
    a[1:3, 1:3, 1:3] = 2
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(a), str(path), compress)
    data = path if name.endswith(".mha") else tmp_path / ("t.zraw" if compress else "t.raw")
    blob = data.read_bytes()
    cut = len(blob) // 2 if compress else len(blob) - 30
    data.write_bytes(blob[:cut])
    if compress:
        words = rf"{path}: truncated: its compressed voxel data file t.zraw holds {cut} bytes, the header says " \
                rf"{len(blob)}"
    elif data == path:
        words = rf"{path}: truncated: its voxel data holds {a.nbytes - 30} bytes, the header says {a.nbytes}"
    else:
        words = rf"{path}: truncated: its voxel data file t.raw holds {cut} bytes, the header says {a.nbytes}"
    with pytest.raises(ReadError, match=words):
        fio.load(path)


def test_metaimage_without_its_data_file(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.uint8)), str(tmp_path / "t.mhd"))
    os.remove(tmp_path / "t.raw")
    with pytest.raises(ReadError, match=rf"{tmp_path / 't.mhd'}: its voxel data file t.raw \(ElementDataFile\) "
                                        r"is missing"):
        fio.load(tmp_path / "t.mhd")


def test_rtstruct_roi_contours_in_two_items_are_merged_and_a_repeated_number_refused(tmp_path):
    """An ROI whose contours come in two ROIContourSequence items kept only the last item's contours
    (a dict keyed by ROI number); two ROIs given one ROINumber were one of them, silently."""
    shape = (12, 10, 3)
    study, frame, series, uids = write_series(tmp_path / "ct", np.zeros(shape, np.int16))
    a, b = square(1, 3, 1, 3), square(6, 9, 5, 8)
    rs, ct = tmp_path / "rs.dcm", tmp_path / "ct"
    write_rs(rs, study, [(frame, series, uids)], [(4, "Heart", frame, [(at(a, 1), uids[1])]),
                                                  (4, "Heart", frame, [(at(b, 2), uids[2])])])
    ds = pydicom.dcmread(rs)
    with pytest.raises(ReadError, match=r"ROI number\(s\) 4 given to several ROIs"):
        fio.load(str(rs), reference=ct)
    del ds.StructureSetROISequence[1]  # one ROI, its contours in two items
    ds.save_as(rs)
    got = fio.load(str(rs), reference=ct)
    want = np.zeros(shape, np.uint8)
    want[1:4, 1:4, 1], want[6:10, 5:9, 2] = 1, 1
    np.testing.assert_array_equal(got.array, want)
