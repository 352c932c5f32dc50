"""RTSTRUCT contours rasterised onto the grid of their CT (or other image) series, through pydicom
(the optional ``dicom`` extra).

Each CLOSED_PLANAR (or CLOSEDPLANAR_XOR) contour is taken to continuous voxel indices through the
series' orientation, spacing and position (patient coordinates, LPS mm), matched to the slice it lies
on, and filled by the even-odd rule: a pixel whose centre lies inside an odd number of a structure's
contours on that slice belongs to the structure, so a contour inside another (a hole) stays a hole
(DICOM's XOR technique). A pixel centre is inside when a ray from it along +i crosses the contour an
odd number of times (edges half-open along j). A pixel centre lying on a contour's path (within
:data:`ON_CONTOUR_TOL` mm along i or j, to absorb the rounding of ContourData) belongs to the
structure: "points in space lying along the path defined by the contour are considered to be part
of the ROI" (DICOM PS3.3 C.8.8.6.3). So a contour traced through the centres of a mask's boundary
pixels (OpenCV's ``findContours``, as rt-utils writes them) gives back that mask, and a keyhole
channel drawn through pixel centres keeps them. Other contour types (POINT, OPEN_PLANAR,
OPEN_NONPLANAR) carry no area and are skipped.

Series and frames of reference: a structure set may list several series (a CT and an MR, say). The
grid is the series given (a :class:`~fastseg.io.dicom.Grid`, or a folder holding one series), else,
in a folder of several, the listed series the selected ROIs' contours lie on (their
ContourImageSequence), else the one in their frame of reference. An ROI in another frame of
reference than the grid's (its ReferencedFrameOfReferenceUID, or that of the images its contours lie
on) is a :class:`ReadError` naming it, never placed by coordinates that mean something else there;
so are ROIs of several frames read together, and a contour on an image of another frame than its ROI's.
"""
import os

import numpy as np

from ._errors import ReadError
from .dicom import RTSTRUCT_CLASS, Grid, find_series, pydicom_or_error, select

__all__ = ["read_rtstruct", "rtstruct_structures", "rasterise"]

#: contour types that enclose an area (CLOSEDPLANAR_XOR: DICOM's explicit XOR technique, 2024)
CLOSED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
#: a pixel centre this close (mm, along i or j) to a contour's path lies on it, so inside the ROI: the
#: rounding of coordinates written with four decimals (or more), far below any pixel
ON_CONTOUR_TOL = 1e-4


def _references(ds):
    """``[(FrameOfReferenceUID, SeriesInstanceUID, {SOPInstanceUIDs})]``: every series the structure
    set refers to (ReferencedFrameOfReferenceSequence > RTReferencedStudySequence >
    RTReferencedSeriesSequence, with the images its ContourImageSequence lists), in order; '' when absent."""
    out = []
    for ref in ds.get("ReferencedFrameOfReferenceSequence", None) or []:
        frame = str(ref.get("FrameOfReferenceUID", "") or "")
        series = [se for st in ref.get("RTReferencedStudySequence", None) or []
                  for se in st.get("RTReferencedSeriesSequence", None) or []]
        out += ([(frame, str(se.get("SeriesInstanceUID", "") or ""), _images(se)) for se in series]
                or [(frame, "", set())])
    return out


def _images(item):
    """The SOPInstanceUIDs of an item's ContourImageSequence."""
    items = item.get("ContourImageSequence", None) or []
    return {str(i.get("ReferencedSOPInstanceUID", "") or "") for i in items} - {""}


def read_rtstruct(path, reference=None, *, rois=None, tolerance=None):
    """``(array, spacing, affine, names)``: the ROIs of an RTSTRUCT as a label map on their series' grid.

    Parameters
    ----------
    path : str
        The RTSTRUCT file.
    reference : str or Grid, optional
        The folder of the referenced image series (or its :class:`~fastseg.io.dicom.Grid`); default
        the RTSTRUCT's own folder (the series named by the structure set is looked for there; see the
        module's docstring when it names several).
    rois : sequence of str or int, optional
        ROIs to read in this order, label ``n`` the n-th: by ROIName (case-insensitive) or by
        ROINumber (an int). A name two ROIs share is a :class:`ReadError` listing their numbers (pick
        one by number). Default: every ROI in the structure set's order.
    tolerance : float, optional
        Largest distance (mm) between a contour point and the slice it is matched to; default 10%
        of the slice step. A contour farther from every slice is a :class:`ReadError`.

    Overlapping ROIs (a voxel inside two) are refused with a :class:`ReadError` naming them (select
    disjoint ones with ``rois``, or read every ROI as its own mask with :func:`rtstruct_structures`):
    a label map holds one label per voxel.
    """
    grid, structures = _contours(path, reference, rois)
    dtype = np.uint8 if len(structures) < 256 else np.uint16
    label = rasterise(grid, structures, tolerance=tolerance, dtype=dtype, path=path)
    return label, grid.spacing, grid.affine, {i + 1: name for i, (name, _) in enumerate(structures)}


def rtstruct_structures(path, reference=None, *, rois=None, tolerance=None):
    """``(grid, [(name, box, mask)])``: every ROI of an RTSTRUCT as its own binary mask (overlapping
    ROIs keep their overlap), in the structure set's order (or ``rois``' order); ``box`` is a tuple
    of three slices of the grid and ``mask`` the bool crop inside it (None and None for an ROI
    without contours). Parameters as :func:`read_rtstruct`."""
    grid, structures = _contours(path, reference, rois)
    tol = 0.1 * grid.spacing[2] if tolerance is None else float(tolerance)
    return grid, [(name, *_fill(grid, name, polys, tol, path)) for name, polys in structures]


def _contours(path, reference, rois):
    """``(grid, [(ROI name, [n x 3 LPS contour points])])`` of an RTSTRUCT."""
    pydicom = pydicom_or_error(path)
    ds = pydicom.dcmread(path)
    if str(ds.get("SOPClassUID", "")) != RTSTRUCT_CLASS and ds.get("Modality") != "RTSTRUCT":
        raise ReadError(f"{path}: not an RTSTRUCT (modality {ds.get('Modality', 'unknown')}).")
    refs = _references(ds)
    series = list(dict.fromkeys(uid for _, uid, _ in refs if uid))
    frames = list(dict.fromkeys(f for f, _, _ in refs if f))
    rois_ds = ds.get("StructureSetROISequence", None) or []
    names = {int(r.ROINumber): str(r.ROIName) for r in rois_ds}
    if len(names) < len(rois_ds):
        twice = sorted({n for n in names if sum(int(r.ROINumber) == n for r in rois_ds) > 1})
        raise ReadError(f"{path}: ROI number(s) {', '.join(map(str, twice))} given to several ROIs in its "
                        f"StructureSetROISequence; which contours belong to which ROI is ambiguous.")
    own = {int(r.ROINumber): str(r.get("ReferencedFrameOfReferenceUID", "") or "") for r in rois_ds}
    contours = {}  # an ROI's contours, from every ROIContourSequence item that refers to it
    for c in ds.get("ROIContourSequence", None) or []:
        contours.setdefault(int(c.ReferencedROINumber), []).extend(
            item for item in c.get("ContourSequence", None) or []
            if str(item.get("ContourGeometricType", "CLOSED_PLANAR")).strip().upper() in CLOSED_TYPES)
    numbers = list(names) if rois is None else select(path, names, rois, "ROI")
    of_image = {uid: (f, se) for f, se, uids in refs for uid in uids}
    # the images the contours lie on matter only when several series or frames are listed (reading
    # every contour's ContourImageSequence costs 0.2 s for 3000 contours)
    several = len(series) > 1 or len(frames) > 1
    roi_frame, images = _roi_frames(path, numbers, names, own, contours if several else {}, of_image)
    by_frame = {}
    for num in numbers:
        if roi_frame[num]:
            by_frame.setdefault(roi_frame[num], []).append(names[num])
    if len(by_frame) > 1:
        listing = "; ".join(f"{f}: {', '.join(map(repr, ns))}" for f, ns in by_frame.items())
        raise ReadError(f"{path}: its ROIs lie in {len(by_frame)} frames of reference ({listing}); no one grid holds "
                        f"them: read the ROIs of each frame on their own, with rois=[...] and reference= the folder "
                        f"of that frame's series.")
    if isinstance(reference, Grid):
        grid = reference
    else:
        folder = os.fspath(reference) if reference is not None else os.path.dirname(os.path.abspath(path))
        if len(series) <= 1:
            grid = find_series(folder, series[0] if series else None)[0]
        else:  # several: the one the selected ROIs' contours lie on (ContourImageSequence), or in their frame
            on = [uid for uid in series if any(of_image.get(i, ("", ""))[1] == uid for i in images)]
            grid, datasets, _ = find_series(folder, prefer=on or series, instances=images,
                                            frame=next(iter(by_frame), None))
            if str(datasets[0].get("SeriesInstanceUID", "")) not in series:
                raise ReadError(f"{folder}: holds no slice of the referenced series {', '.join(series)}; pass the "
                                f"folder of one of them as reference=.")
    if frames and grid.frame and grid.frame not in frames:
        raise ReadError(f"{path}: its frame of reference {' / '.join(frames)} is not the series' ({grid.frame}).")
    for num in numbers:
        if roi_frame[num] and grid.frame and roi_frame[num] != grid.frame:
            raise ReadError(f"{path}: ROI {names[num]!r} (number {num}) lies in frame of reference {roi_frame[num]}, "
                            f"not the series' ({grid.frame}); on this grid its contours would be misplaced: read it "
                            f"with reference= the folder of its own series, or leave it out with rois=[...].")
    structures = []
    for num in numbers:
        polys = [_points(c, path, names[num]) for c in contours.get(num, [])]
        structures.append((names[num], polys))
    return grid, structures


def _roi_frames(path, numbers, names, own, contours, of_image):
    """``({ROI number: its frame of reference}, {SOPInstanceUIDs its contours lie on})`` of the ROIs
    ``numbers``: an ROI's ReferencedFrameOfReferenceUID, else that of the series of its contours'
    images; a contour on an image of a listed series in another frame than its ROI's is refused."""
    frame, images = {}, set()
    for num in numbers:
        f = own.get(num, "")
        for n, item in enumerate(contours.get(num, [])):
            for uid in _images(item):
                images.add(uid)
                fi, se = of_image.get(uid, ("", ""))
                if f and fi and fi != f:
                    raise ReadError(f"{path}: contour {n + 1} of ROI {names[num]!r} lies on an image of series {se} "
                                    f"(frame of reference {fi}), not in the ROI's frame of reference ({f}); its "
                                    f"coordinates cannot be placed on one grid with the ROI's other contours.")
                f = f or fi
        frame[num] = f
    return frame, images


def _points(item, path, name):
    """A contour's points ``(n, 3)``. ContourData is parsed from its raw text when pydicom has not
    converted it yet (pydicom's DS conversion costs about 1.5 us per number: 4 s for 20 ROIs x 150
    slices of 120 points, against 0.1 s here)."""
    raw = item.get_item("ContourData")
    value = getattr(raw, "value", None)
    try:
        if isinstance(value, (bytes, bytearray)) and value.strip():
            pts = np.array(bytes(value).split(b"\\"), dtype=np.float64)
        else:
            pts = np.asarray(item.ContourData, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ReadError(f"{path}: a contour of ROI {name!r} holds non-numeric ContourData.") from None
    if pts.size % 3 or not np.all(np.isfinite(pts)):
        raise ReadError(f"{path}: a contour of ROI {name!r} holds {pts.size} numbers, not (x, y, z) triples "
                        f"of finite numbers.")
    return pts.reshape(-1, 3)


def _edges(grid, name, polys, tol, path):
    """Edges ``(k, i0, j0, i1, j1)`` in continuous voxel indices of a structure's contours (a contour
    of one or two points gives edges of no area, whose path may still hold a pixel centre)."""
    if not polys:
        return None
    pts = np.concatenate(polys)
    idx = (pts - grid.lps[:3, 3]) @ np.linalg.inv(grid.lps[:3, :3]).T
    out = []
    start = 0
    dz, nk = grid.spacing[2], grid.shape[2]
    for n, p in enumerate(polys):
        q = idx[start:start + len(p)]
        start += len(p)
        if len(q) == 0:
            continue
        k = int(np.rint(np.median(q[:, 2])))
        off = np.max(np.abs(q[:, 2] - k)) * dz
        if off > tol or not 0 <= k < nk:
            z = pts[start - len(p):start] @ (grid.lps[:3, 2] / dz)
            raise ReadError(f"{path}: contour {n + 1} of ROI {name!r} (at {np.median(z):.6g} mm along the "
                            f"slice normal) lies off every slice of the series (tolerance {tol:.3g} mm).")
        nxt = np.roll(q, -1, axis=0)
        out.append(np.column_stack([np.full(len(q), k, float), q[:, 0], q[:, 1], nxt[:, 0], nxt[:, 1]]))
    return np.concatenate(out) if out else None


def _ranges(first, last):
    """``(edge, value)``: for each edge e, every integer from ``first[e]`` to ``last[e]``."""
    count = np.maximum(last - first + 1, 0).astype(np.int64)
    edge = np.repeat(np.arange(len(first)), count)
    return edge, first[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count))


def _on_path(grid, e):
    """``(k, j, i)`` of the pixel centres on the grid lying on an edge of ``e`` (within
    :data:`ON_CONTOUR_TOL` mm along i or j). Each edge is walked along its longer axis (in mm), one
    candidate centre per grid line it meets, so every centre near it is found."""
    ni, nj, _ = grid.shape
    si, sj = grid.spacing[:2]
    k, i0, j0, i1, j1 = e.T
    out = []
    along_i = np.abs(i1 - i0) * si >= np.abs(j1 - j0) * sj
    for major_i, sel, (a0, a1, b0, b1, sa, sb, na, nb) in (
            (True, along_i, (i0, i1, j0, j1, si, sj, ni, nj)), (False, ~along_i, (j0, j1, i0, i1, sj, si, nj, ni))):
        if not sel.any():
            continue
        a0, a1, b0, b1, kk = a0[sel], a1[sel], b0[sel], b1[sel], k[sel]
        ea = ON_CONTOUR_TOL / sa
        first = np.maximum(np.ceil(np.minimum(a0, a1) - ea), 0)
        last = np.minimum(np.floor(np.maximum(a0, a1) + ea), na - 1)
        edge, a = _ranges(first, last)
        da = a1[edge] - a0[edge]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.where(da != 0, (a - a0[edge]) / da, 0.0), 0.0, 1.0)
        b = b0[edge] + t * (b1[edge] - b0[edge])
        br = np.rint(b)
        ok = ((np.abs(b - br) * sb <= ON_CONTOUR_TOL) & (np.abs(a0[edge] + t * da - a) * sa <= ON_CONTOUR_TOL)
              & (br >= 0) & (br < nb))
        a, br, kk = a[ok].astype(np.int64), br[ok].astype(np.int64), kk[edge[ok]].astype(np.int64)
        out.append(np.column_stack([kk, br, a] if major_i else [kk, a, br]))
    return np.concatenate(out) if out else np.zeros((0, 3), np.int64)


def _fill(grid, name, polys, tol, path):
    """``(box, mask)`` of one structure's contours filled even-odd on ``grid``, with the pixel
    centres on their paths (None, None when they cover no pixel centre)."""
    ni, nj, nk = grid.shape
    e = _edges(grid, name, polys, tol, path)
    if e is None:
        return None, None
    k, i0, j0, i1, j1 = e.T
    lo, hi = np.minimum(j0, j1), np.maximum(j0, j1)
    # rows j with lo <= j < hi, on the grid: where the edge crosses the row's line of centres
    edge, row = _ranges(np.maximum(np.ceil(lo), 0), np.minimum(np.ceil(hi), nj) - 1)
    t = (row - j0[edge]) / (j1[edge] - j0[edge])
    x = i0[edge] + t * (i1[edge] - i0[edge])
    col = np.clip(np.ceil(x), 0, ni).astype(np.int64)  # first pixel centre right of the crossing
    row, kk = row.astype(np.int64), k[edge].astype(np.int64)
    on = col < ni  # a crossing right of the grid toggles no centre of it
    toggles = np.column_stack([kk[on], row[on], col[on]])
    path_kji = _on_path(grid, e)
    both = np.concatenate([toggles, path_kji])
    if not len(both):
        return None, None
    lo3, hi3 = both.min(axis=0), both.max(axis=0)
    shape = tuple(int(n) for n in hi3 - lo3 + 1)
    flat = np.ravel_multi_index(tuple((toggles - lo3).T), shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).astype(np.uint8)
    # parity of the crossings left of each centre (uint8 wrap-around keeps the parity)
    inside = (np.cumsum(counts.reshape(shape), axis=2, dtype=np.uint8) & 1).view(bool)
    inside[tuple((path_kji - lo3).T)] = True
    if not inside.any():
        return None, None
    inside = inside.transpose(2, 1, 0)  # (k, j, i) -> (i, j, k)
    box = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo3[::-1], hi3[::-1]))
    return box, inside


def rasterise(grid, structures, *, tolerance=None, dtype=np.uint8, path="RTSTRUCT"):
    """A label map on ``grid`` of ``structures`` (a list of ``(name, [n x 3 LPS contour points])``),
    label ``n`` the n-th, filled by the even-odd rule (see the module's docstring)."""
    tol = 0.1 * grid.spacing[2] if tolerance is None else float(tolerance)
    label = np.zeros(grid.shape, dtype=dtype)
    for value, (name, polys) in enumerate(structures, start=1):
        box, inside = _fill(grid, name, polys, tol, path)
        if box is None:
            continue
        view = label[box]
        clash = np.unique(view[inside & (view != 0)])
        if clash.size:
            other = structures[int(clash[0]) - 1][0]
            raise ReadError(f"{path}: ROIs {other!r} and {name!r} overlap; a label map holds one ROI per "
                            f"voxel: select disjoint ROIs with rois=[...], or read each ROI as its own mask "
                            f"with fastseg.io.load_structures.")
        view[inside] = value
    return label
