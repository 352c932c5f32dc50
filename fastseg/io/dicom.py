"""DICOM through pydicom (the optional ``dicom`` extra: ``pip install 'fastseg[dicom]'``): image series
folders (the reference grid) and DICOM-SEG label maps. RTSTRUCT contours are in :mod:`.rtstruct`.

Index order and geometry (as for the other readers)
---------------------------------------------------
Axis 0 runs along a slice's rows (``ImageOrientationPatient[:3]``, the column index of the pixel
data), axis 1 down its columns (``ImageOrientationPatient[3:]``), axis 2 through the slices in
increasing position along the slice normal (row direction x column direction): dcm2niix's and
SimpleITK's order. ``spacing = (PixelSpacing[1], PixelSpacing[0], slice step)``, the slice step being
measured from the positions (never from ``SliceThickness``). The affine is DICOM's LPS geometry
converted to RAS+. Slices must be evenly spaced along the normal and stacked on it (no gantry tilt):
gaps, uneven steps, mixed orientations or pixel grids are refused with a :class:`ReadError`,
never resampled.
"""
import os
from typing import NamedTuple

import numpy as np

from ._errors import ReadError

__all__ = ["Grid", "read_series", "read_seg", "seg_structures", "seg_frames", "select", "dicom_kind", "find_series",
           "pydicom_or_error", "SEG_CLASS", "RTSTRUCT_CLASS"]

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
#: positions (mm) closer than this are equal; steps may differ by this fraction of the step
POSITION_TOL = 1e-2
STEP_REL_TOL = 1e-2


class Grid(NamedTuple):
    """The voxel grid of an image series: ``shape`` (i, j, k), ``spacing``, ``lps`` (4x4 index to
    LPS mm), ``uids`` (SOPInstanceUID of each slice along k), ``frame`` (FrameOfReferenceUID)."""

    shape: tuple
    spacing: tuple
    lps: np.ndarray
    uids: tuple
    frame: str

    @property
    def affine(self):
        """Index to RAS+ mm (nibabel's convention)."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.lps


def pydicom_or_error(path):
    try:
        import pydicom
    except ImportError:
        raise ReadError(f"{path}: reading DICOM needs pydicom: pip install 'fastseg[dicom]' (or pydicom).") from None
    return pydicom


def dicom_kind(path):
    """``"series"`` for a folder, ``"seg"``, ``"rtstruct"`` or ``"image"`` for a DICOM file, the
    file's modality for other DICOM objects, None when ``path`` is not DICOM."""
    if os.path.isdir(path):
        return "series"
    pydicom = pydicom_or_error(path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not a DICOM file
        return None
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", ""))
    if sop == SEG_CLASS or modality == "SEG":
        return "seg"
    if sop == RTSTRUCT_CLASS or modality == "RTSTRUCT":
        return "rtstruct"
    if "ImagePositionPatient" in ds:
        return "image"
    return modality or "unknown"


def _floats(value, n, path, what):
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise ReadError(f"{path}: {what} is not numeric ({value!r}).") from None
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        raise ReadError(f"{path}: {what} must hold {n} finite numbers; got {value!r}.")
    return out


def _axes(orientation, path):
    """Row direction, column direction, normal from ImageOrientationPatient (checked orthonormal)."""
    o = _floats(orientation, 6, path, "ImageOrientationPatient")
    r, c = o[:3], o[3:]
    if abs(np.linalg.norm(r) - 1) > 1e-3 or abs(np.linalg.norm(c) - 1) > 1e-3 or abs(r @ c) > 1e-3:
        raise ReadError(f"{path}: ImageOrientationPatient {o.tolist()} is not two orthogonal unit vectors.")
    r, c = r / np.linalg.norm(r), c / np.linalg.norm(c)
    return r, c, np.cross(r, c)


def plane_grid(path, orientation, positions, pixel_spacing, rows, cols, *, uids=(), frame="",
               step=None, gaps=False, thickness=None):
    """The :class:`Grid` of planes at ``positions`` (n x 3, LPS mm). Returns ``(grid, k)``: the slice
    index of each position. ``gaps=False`` refuses missing slices; ``gaps=True`` (DICOM-SEG, whose
    empty frames may be left out) places the planes on a grid of step ``step`` (default: the smallest
    step between positions) from the first to the last."""
    r, c, n = _axes(orientation, path)
    ps = _floats(pixel_spacing, 2, path, "PixelSpacing")
    if np.any(ps <= 0):
        raise ReadError(f"{path}: PixelSpacing {ps.tolist()} must be positive.")
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    d = positions @ n
    inplane = positions @ np.stack([r, c], axis=1)
    if np.max(np.abs(inplane - inplane[0])) > POSITION_TOL * 10:
        raise ReadError(f"{path}: the slices are not stacked along their normal (their in-plane origins "
                        f"differ by up to {np.max(np.abs(inplane - inplane[0])):.4g} mm: gantry tilt or "
                        f"shifted slices); fastseg does not resample.")
    levels = np.unique(np.round(d / POSITION_TOL)) * POSITION_TOL
    levels = np.sort(np.array([d[np.argmin(np.abs(d - v))] for v in levels]))
    if len(levels) > 1 and np.min(np.diff(levels)) <= POSITION_TOL:  # rounding put a level twice
        levels = levels[np.concatenate([[True], np.diff(levels) > POSITION_TOL])]
    if not gaps and len(levels) != len(d):
        raise ReadError(f"{path}: {len(d) - len(levels) + 1} slices share a position along the normal; "
                        f"a series holds one slice per position.")
    steps = np.diff(levels)
    if len(levels) == 1:
        dz = step if step is not None else thickness
        if dz is None or not dz > 0:
            raise ReadError(f"{path}: a single slice without SliceThickness or SpacingBetweenSlices: "
                            f"its thickness is unknown.")
    else:
        dz = float(step) if step is not None else (float(np.min(steps)) if gaps else float(np.median(steps)))
        tol = max(POSITION_TOL, STEP_REL_TOL * dz)
        if gaps:
            off = (levels - levels[0]) / dz
            if np.max(np.abs(off - np.rint(off))) * dz > tol:
                raise ReadError(f"{path}: frame positions {_fmt(levels)} mm along the normal are not on a "
                                f"grid of step {dz:.6g} mm; fastseg does not resample.")
        else:
            bad = np.flatnonzero(np.abs(steps - dz) > tol)
            if bad.size:
                a, b = levels[bad[0]], levels[bad[0] + 1]
                ratio = (b - a) / dz
                what = (f"{round(ratio) - 1} missing slice(s) between positions {a:.6g} and {b:.6g} mm"
                        if abs(ratio - round(ratio)) * dz <= tol and round(ratio) >= 2 else
                        f"uneven slice spacing: steps from {np.min(steps):.6g} to {np.max(steps):.6g} mm")
                raise ReadError(f"{path}: {what} along the slice normal; fastseg does not resample.")
    nk = int(round((levels[-1] - levels[0]) / dz)) + 1
    k = np.rint((d - levels[0]) / dz).astype(np.int64)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = r * ps[1], c * ps[0], n * dz
    lps[:3, 3] = positions[int(np.argmin(d))]  # the first slice along the normal
    grid = Grid((int(cols), int(rows), nk), (float(ps[1]), float(ps[0]), float(dz)), lps, tuple(uids), str(frame))
    return grid, k


def _fmt(v):
    return "[" + ", ".join(f"{x:.6g}" for x in v[:6]) + (", ...]" if len(v) > 6 else "]")


def _image_datasets(folder, pixels):
    """Every image slice (with a position) under ``folder``, non-recursive, and the kinds of the rest."""
    pydicom = pydicom_or_error(folder)
    images, other = [], []
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if not os.path.isfile(p):
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=not pixels)
        except Exception:  # noqa: BLE001 - not DICOM: skipped
            continue
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds and "PixelData" in ds or (
                not pixels and "ImagePositionPatient" in ds and "Rows" in ds):
            images.append((p, ds))
        else:
            other.append(str(ds.get("Modality", "unknown")))
    return images, other


def find_series(folder, series_uid=None, *, pixels=False, prefer=(), instances=(), frame=None):
    """``(grid, datasets sorted along k, paths)`` of the one image series in ``folder`` (or of the
    series ``series_uid``). Among several series, in this order: ``prefer`` (SeriesInstanceUIDs, e.g.
    those a DICOM-SEG refers to) keeps those named; ``instances`` (SOPInstanceUIDs, e.g. a SEG's
    source images, or a function giving them, called only then) those holding one of them; ``frame``
    (a FrameOfReferenceUID) those in it. A folder holding one series gives it whatever they say;
    more than one left is a :class:`ReadError`."""
    if not os.path.isdir(folder):
        raise ReadError(f"{folder}: not a folder (a DICOM image series is read from its folder).")
    images, other = _image_datasets(folder, pixels)
    groups = {}
    for p, ds in images:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((p, ds))
    if series_uid is not None:
        if series_uid not in groups:
            raise ReadError(f"{folder}: holds no slice of the referenced series {series_uid} "
                            f"({len(groups)} other series); pass the folder of the series as reference=.")
        groups = {series_uid: groups[series_uid]}
    if not groups:
        found = f" (found {', '.join(sorted(set(other)))})" if other else ""
        raise ReadError(f"{folder}: holds no DICOM image series{found}.")
    if len(groups) > 1 and prefer:
        chosen = {uid: v for uid, v in groups.items() if uid in set(prefer)}
        if not chosen:
            raise ReadError(f"{folder}: holds {len(groups)} image series ({_listing(groups)}), none of them the "
                            f"referenced series {', '.join(prefer)}; pass the folder of the series as reference=.")
        groups = chosen
    if len(groups) > 1 and instances:
        wanted = set(instances() if callable(instances) else instances)
        groups = {uid: v for uid, v in groups.items()
                  if any(str(ds.get("SOPInstanceUID", "")) in wanted for _, ds in v)} or groups
    if len(groups) > 1 and frame:
        chosen = {uid: v for uid, v in groups.items() if str(v[0][1].get("FrameOfReferenceUID", "")) == frame}
        if not chosen:
            raise ReadError(f"{folder}: holds {len(groups)} image series ({_listing(groups)}), none of them in the "
                            f"frame of reference {frame}; pass the folder of the series as reference=.")
        groups = chosen
    if len(groups) > 1:
        raise ReadError(f"{folder}: holds {len(groups)} image series ({_listing(groups)}); put one series per folder.")
    items = next(iter(groups.values()))
    first = items[0][1]
    for key in ("ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
        values = {tuple(np.round(np.atleast_1d(np.asarray(ds.get(key), float)), 4)) if ds.get(key) is not None
                  else None for _, ds in items}
        if len(values) > 1:
            raise ReadError(f"{folder}: the slices differ in {key} ({len(values)} values): mixed "
                            f"{'orientations' if key == 'ImageOrientationPatient' else 'pixel grids'}; "
                            f"fastseg does not resample.")
    positions = [_floats(ds.ImagePositionPatient, 3, p, "ImagePositionPatient") for p, ds in items]
    thickness = _single_slice_step(first)
    grid, k = plane_grid(folder, first.ImageOrientationPatient, positions, first.PixelSpacing, first.Rows,
                         first.Columns, frame=first.get("FrameOfReferenceUID", ""), thickness=thickness)
    order = np.argsort(k)
    items = [items[i] for i in order]
    grid = grid._replace(uids=tuple(str(ds.get("SOPInstanceUID", "")) for _, ds in items))
    return grid, [ds for _, ds in items], [p for p, _ in items]


def _listing(groups):
    return "; ".join(f"{uid} ({len(v)} slices)" for uid, v in groups.items())


def _single_slice_step(ds):
    """The slice step of a one-slice series: its SliceThickness, else its SpacingBetweenSlices (the
    first of them that is a positive number), else None."""
    for key in ("SliceThickness", "SpacingBetweenSlices"):
        try:
            value = float(ds.get(key))
        except (TypeError, ValueError):
            continue
        if value > 0 and np.isfinite(value):
            return value
    return None


def read_series(folder):
    """``(array, spacing, affine)`` of the DICOM image series in ``folder`` (rescaled by
    RescaleSlope / RescaleIntercept when they are not 1 / 0)."""
    grid, datasets, paths = find_series(folder, pixels=True)
    slices = []
    for p, ds in zip(paths, datasets):
        a = ds.pixel_array
        if a.shape != (grid.shape[1], grid.shape[0]):
            raise ReadError(f"{p}: pixel data of shape {a.shape}; expected {(grid.shape[1], grid.shape[0])}.")
        slope, inter = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
        slices.append(a * slope + inter if (slope, inter) != (1.0, 0.0) else a)
    return np.stack([s.T for s in slices], axis=-1), grid.spacing, grid.affine


def _item(ds, f, seq, shared):
    """The functional-group item ``seq`` of frame ``f`` (per-frame first, then shared), or None."""
    per = ds.get("PerFrameFunctionalGroupsSequence")
    for groups in ((per[f] if per is not None and f < len(per) else None), shared):
        items = groups.get(seq) if groups is not None else None
        if items is not None and len(items) > 0:
            return items[0]
    return None


def read_seg(path, reference=None, *, rois=None):
    """``(array, spacing, affine, names)`` of a DICOM-SEG file: a label map whose value is the segment
    number (``names`` maps it to the SegmentLabel).

    Binary segments are taken as they are; fractional ones are thresholded (a voxel belongs to the
    segment when its fraction is >= 0.5 of MaximumFractionalValue). Overlapping segments are refused
    (a :class:`ReadError` naming them): a label map holds one label per voxel
    (:func:`seg_structures` keeps each segment as its own mask). Frames are placed by their
    per-frame ImagePositionPatient; frames the SEG leaves out (empty ones) are background. The grid
    is ``reference`` (a :class:`Grid`, e.g. the referenced CT series, or the folder of that series:
    see :func:`seg_frames`) when given, else the SEG's own, from its first to its last frame; a SEG
    in another frame of reference than ``reference`` is a :class:`ReadError`. ``rois``: the segments
    to read, label ``n`` the n-th: by SegmentLabel (case-insensitive, surrounding spaces ignored) or
    by SegmentNumber (an int); a label the SEG lacks, or gives two segments, is a :class:`ReadError`
    (see :func:`select`)."""
    grid, k, segments, frames, names = seg_frames(path, reference)
    if rois is not None:
        chosen = select(path, names, rois, "segment")
        renumber = {s: i + 1 for i, s in enumerate(chosen)}
        segments = [renumber.get(s, 0) for s in segments]
        names = {i + 1: names[s] for i, s in enumerate(chosen)}
    top = max(segments, default=0)
    label = np.zeros(grid.shape, dtype=np.uint8 if top < 256 else np.uint16)
    for f in range(len(frames)):
        if not segments[f] or not frames[f].any():
            continue
        plane = label[:, :, k[f]]
        mask = frames[f].T
        clash = np.unique(plane[mask & (plane != 0) & (plane != segments[f])])
        if clash.size:
            a = int(clash[0])
            raise ReadError(f"{path}: segments {a} ({names.get(a)!r}) and {segments[f]} ({names[segments[f]]!r}) "
                            f"overlap (slice {k[f]}); a label map holds one segment per voxel (fastseg.io."
                            f"load_structures keeps each segment as its own mask).")
        plane[mask] = segments[f]
    return label, grid.spacing, grid.affine, names


def select(path, names, rois, what):
    """The keys of ``names`` ({number: name}) chosen by ``rois``, in ``rois``' order: a string by
    name (case-insensitive, surrounding spaces ignored), an int by number (ROINumber,
    SegmentNumber). A name the file lacks, or holds more than once (some planning systems export two
    ROIs of one name), is a :class:`ReadError` listing what it holds (the numbers of the namesakes)."""
    if isinstance(rois, (str, int, np.integer)):
        rois = [rois]
    rois = list(rois)
    by_name = {}
    for num, name in names.items():
        by_name.setdefault(str(name).strip().casefold(), []).append(num)
    chosen, missing = [], []
    for r in rois:
        if isinstance(r, (int, np.integer)) and not isinstance(r, bool):
            if int(r) not in names:
                raise ReadError(f"{path}: no {what} number {int(r)} (rois={rois!r}); its {what} numbers are "
                                f"{', '.join(map(str, names)) or 'none'}.")
            chosen.append(int(r))
            continue
        nums = by_name.get(str(r).strip().casefold())
        if nums is None:
            missing.append(r)
        elif len(nums) > 1:
            raise ReadError(f"{path}: {len(nums)} {what}s are named {r!r} ({what} numbers "
                            f"{', '.join(map(str, nums))}: {', '.join(repr(names[n]) for n in nums)}); a name that "
                            f"picks several is ambiguous: choose one by its number (an int), e.g. "
                            f"{' or '.join(f'rois=[{n}]' for n in nums)}.")
        else:
            chosen.append(nums[0])
    if missing:
        raise ReadError(f"{path}: no {what} named {', '.join(map(repr, missing))} (rois={rois!r}); it holds "
                        f"{', '.join(map(repr, names.values())) or 'none'}.")
    return list(dict.fromkeys(chosen))


def seg_structures(path, reference=None):
    """``(grid, [(name, box, mask)])``: every segment of a DICOM-SEG as its own binary mask (so
    overlapping segments keep their overlap), in segment-number order; ``box`` is a tuple of three
    slices of the grid and ``mask`` the bool crop inside it (None and None for an empty segment).
    Same thresholds and grid as :func:`read_seg`."""
    grid, k, segments, frames, names = seg_frames(path, reference)
    segments = np.asarray(segments)
    out = []
    for s, name in names.items():
        fs = [f for f in np.flatnonzero(segments == s) if frames[f].any()]
        if not fs:
            out.append((name, None, None))
            continue
        rows = np.flatnonzero(np.any([frames[f].any(axis=1) for f in fs], axis=0))  # j (rows of a frame)
        cols = np.flatnonzero(np.any([frames[f].any(axis=0) for f in fs], axis=0))  # i
        ks = k[fs]
        box = (slice(int(cols[0]), int(cols[-1]) + 1), slice(int(rows[0]), int(rows[-1]) + 1),
               slice(int(ks.min()), int(ks.max()) + 1))
        mask = np.zeros(tuple(b.stop - b.start for b in box), bool)
        for f in fs:
            mask[:, :, k[f] - box[2].start] |= frames[f][box[1], box[0]].T
        out.append((name, box, mask))
    return grid, out


def seg_referenced_series(ds):
    """The SeriesInstanceUIDs a DICOM-SEG dataset names in its ReferencedSeriesSequence (in order)."""
    uids = (str(item.get("SeriesInstanceUID", "") or "") for item in ds.get("ReferencedSeriesSequence", None) or [])
    return tuple(dict.fromkeys(u for u in uids if u))


def seg_source_images(ds):
    """The SOPInstanceUIDs a DICOM-SEG's frames are derived from (DerivationImageSequence >
    SourceImageSequence, per frame or shared) and those its ReferencedSeriesSequence lists."""
    groups = list(ds.get("PerFrameFunctionalGroupsSequence", None) or [])
    groups += list(ds.get("SharedFunctionalGroupsSequence", None) or [])
    items = [src for g in groups for der in g.get("DerivationImageSequence", None) or []
             for src in der.get("SourceImageSequence", None) or []]
    items += [i for s in ds.get("ReferencedSeriesSequence", None) or []
              for i in s.get("ReferencedInstanceSequence", None) or []]
    return {str(i.get("ReferencedSOPInstanceUID", "") or "") for i in items} - {""}


def seg_frames(path, reference=None):
    """The parsed frames of a DICOM-SEG: ``(grid, k, segments, frames, names)``: the slice index and
    segment number of each frame, the frames as bools ``(n, rows, columns)`` (fractional ones
    thresholded at >= 0.5), ``{segment number: SegmentLabel}``.

    ``reference``: a :class:`Grid`, or the folder of an image series; when the folder holds several,
    the one the SEG's ReferencedSeriesSequence names, else the one holding its frames' source images
    (DerivationImageSequence), else its one series in the SEG's frame of reference (several left: a
    :class:`ReadError`). A SEG whose FrameOfReferenceUID differs from the reference's is refused (a
    SEG or series without one is placed on the grid, as RTSTRUCT)."""
    pydicom = pydicom_or_error(path)
    ds = pydicom.dcmread(path)
    if str(ds.get("SOPClassUID", "")) != SEG_CLASS and ds.get("Modality") != "SEG":
        raise ReadError(f"{path}: not a DICOM-SEG (modality {ds.get('Modality', 'unknown')}).")
    own_frame = str(ds.get("FrameOfReferenceUID", "") or "")
    if reference is not None:
        if not isinstance(reference, Grid):  # a folder: the series the SEG refers to, or its one series
            reference = find_series(os.fspath(reference), prefer=seg_referenced_series(ds),
                                    instances=lambda: seg_source_images(ds), frame=own_frame)[0]
        if own_frame and reference.frame and own_frame != reference.frame:
            raise ReadError(f"{path}: its frame of reference {own_frame} is not the series' ({reference.frame}).")
    names = {int(s.SegmentNumber): str(s.get("SegmentLabel", f"segment {int(s.SegmentNumber)}"))
             for s in ds.get("SegmentSequence", [])}
    kind = str(ds.get("SegmentationType", "BINARY")).upper()
    if kind not in ("BINARY", "FRACTIONAL"):
        raise ReadError(f"{path}: SegmentationType {kind!r} is neither BINARY nor FRACTIONAL.")
    frames = np.asarray(ds.pixel_array)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    frames = frames.reshape(n, int(ds.Rows), int(ds.Columns))
    if kind == "FRACTIONAL":
        top = float(ds.get("MaximumFractionalValue", 255) or 255)
        frames = frames.astype(np.float64) >= 0.5 * top
    else:
        frames = frames != 0
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    positions, segments, orientations, spacings = [], [], set(), set()
    for f in range(n):
        pos, ori = _item(ds, f, "PlanePositionSequence", shared), _item(ds, f, "PlaneOrientationSequence", shared)
        meas, ident = _item(ds, f, "PixelMeasuresSequence", shared), _item(ds, f, "SegmentIdentificationSequence", shared)
        if pos is None or ori is None or meas is None or ident is None:
            raise ReadError(f"{path}: frame {f + 1} lacks its plane position, orientation, pixel measures "
                            f"or segment identification (functional groups).")
        positions.append(_floats(pos.ImagePositionPatient, 3, path, "ImagePositionPatient"))
        orientations.add(tuple(np.round(_floats(ori.ImageOrientationPatient, 6, path, "ImageOrientationPatient"), 4)))
        spacings.add(tuple(np.round(_floats(meas.PixelSpacing, 2, path, "PixelSpacing"), 5)))
        segments.append(int(ident.ReferencedSegmentNumber))
    if len(orientations) > 1 or len(spacings) > 1:
        raise ReadError(f"{path}: frames of mixed orientation or pixel spacing; fastseg does not resample.")
    for s in set(segments) - set(names):
        names[s] = f"segment {s}"
    orientation, ps = next(iter(orientations)), next(iter(spacings))
    step = None
    if meas.get("SpacingBetweenSlices") not in (None, ""):
        step = float(meas.SpacingBetweenSlices)
    if reference is None:
        thick = float(meas.SliceThickness) if meas.get("SliceThickness") not in (None, "") else None
        grid, k = plane_grid(path, orientation, positions, ps, ds.Rows, ds.Columns, step=step, gaps=True,
                             thickness=thick, frame=own_frame)
    else:
        grid, k = reference, on_grid(path, reference, orientation, ps, ds.Rows, ds.Columns, positions)
    return grid, np.asarray(k), segments, frames, {s: names[s] for s in sorted(names)}


def on_grid(path, grid, orientation, pixel_spacing, rows, cols, positions):
    """The slice index in ``grid`` of each plane (refusing planes not on it)."""
    r, c, n = _axes(orientation, path)
    if not (np.allclose(grid.lps[:3, 0] / grid.spacing[0], r, atol=1e-3)
            and np.allclose(grid.lps[:3, 1] / grid.spacing[1], c, atol=1e-3)):
        raise ReadError(f"{path}: its orientation differs from the reference series'; fastseg does not resample.")
    ps = _floats(pixel_spacing, 2, path, "PixelSpacing")
    if (int(cols), int(rows)) != grid.shape[:2] or np.max(np.abs(ps[::-1] - grid.spacing[:2])) > 1e-3:
        raise ReadError(f"{path}: its pixel grid ({cols}x{rows}, spacing {ps[::-1].tolist()}) differs from the "
                        f"reference series' ({grid.shape[0]}x{grid.shape[1]}, {list(grid.spacing[:2])}).")
    idx = (np.asarray(positions, float).reshape(-1, 3) - grid.lps[:3, 3]) @ np.linalg.inv(grid.lps[:3, :3]).T
    k = np.rint(idx[:, 2]).astype(np.int64)
    off = np.abs(idx - np.stack([np.zeros_like(k), np.zeros_like(k), k], axis=1)) * np.asarray(grid.spacing)
    if np.any(off > max(POSITION_TOL * 10, 0.01 * grid.spacing[2])) or np.any((k < 0) | (k >= grid.shape[2])):
        raise ReadError(f"{path}: frames lie off the reference series' slices; fastseg does not resample.")
    return k
