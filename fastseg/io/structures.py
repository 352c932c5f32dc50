"""Named structures: each structure of a file as its own binary mask on one voxel grid, so that
overlapping structures (an organ inside the body contour, overlapping DICOM-SEG segments) keep their
overlap. Read from a DICOM-SEG, an RTSTRUCT (with its image series) or a label map with names.

A mask is stored as its bounding box and the bool crop inside it: twenty organs on a 512 x 512 x 150
grid cost their boxes, not twenty volumes.
"""
import os

import numpy as np
from scipy import ndimage

from ._errors import ReadError

__all__ = ["Structures", "load_structures", "structure_file", "structure_names"]


class Structures:
    """Binary masks with names on one voxel grid, read by :func:`load_structures`.

    Attributes
    ----------
    shape : tuple of int
        The grid's shape (array-axis order, as :func:`fastseg.io.load`).
    spacing : tuple of float
    affine : ndarray, shape (4, 4)
        Index to RAS+ mm.
    names : list of str
        The structures' names as the file spells them, in the file's order (may repeat).
    grid : fastseg.io.dicom.Grid or None
        The DICOM grid the masks lie on (to place the other side of a case on it).
    kind : str
        ``"seg"``, ``"rtstruct"`` or ``"labels"`` (a label map).
    """

    def __init__(self, shape, spacing, affine, items, grid=None, source="", kind="labels"):
        self.shape = tuple(int(n) for n in shape)
        self.spacing = tuple(float(s) for s in spacing)
        self.affine = np.asarray(affine, dtype=np.float64)
        self.items = list(items)  # [(name, box or None, bool crop or None)]
        self.grid = grid
        self.source = os.fspath(source)
        self.kind = kind

    @property
    def names(self):
        return [name for name, _, _ in self.items]

    def __len__(self):
        return len(self.items)

    def mask(self, index):
        """The full-size bool mask of the ``index``-th structure."""
        _, box, crop = self.items[index]
        out = np.zeros(self.shape, bool)
        if box is not None:
            out[box] = crop
        return out

    def __repr__(self):
        return f"Structures({self.source!r}, shape {self.shape}, {len(self.items)} structures: {self.names})"


def structure_file(path):
    """The DICOM-SEG or RTSTRUCT file a case points at: ``path`` itself, or the one such file
    directly inside the folder ``path`` (beside, say, its CT series)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    from .dicom import dicom_kind

    found = [os.path.join(path, n) for n in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, n))
             and dicom_kind(os.path.join(path, n)) in ("seg", "rtstruct")]
    if len(found) != 1:
        what = "no DICOM-SEG or RTSTRUCT file" if not found else \
            f"{len(found)} DICOM-SEG / RTSTRUCT files ({', '.join(os.path.basename(f) for f in found)})"
        raise ReadError(f"{path}: holds {what}; a case folder holds one (point at the file itself otherwise).")
    return found[0]


def _kind(path):
    from . import case_id

    if case_id(path) is not None:
        return "labels"
    from .dicom import dicom_kind

    return dicom_kind(path)


def structure_names(path, names=None):
    """The structure names of a file without reading its masks (segment labels, ROI names; a label
    map's ``names`` values), or None when they cannot be read (the case then fails when it runs)."""
    try:
        path = structure_file(path)
        kind = _kind(path)
        if kind == "labels":
            return [n for value, n in (names or {}).items() if value != 0]
        from .dicom import pydicom_or_error

        pydicom = pydicom_or_error(path)
        if kind == "seg":
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SegmentSequence"])
            return [str(s.get("SegmentLabel", f"segment {int(s.SegmentNumber)}")) for s in ds.get("SegmentSequence", [])]
        if kind == "rtstruct":
            ds = pydicom.dcmread(path, specific_tags=["StructureSetROISequence"])
            return [str(r.ROIName) for r in ds.get("StructureSetROISequence", [])]
    except Exception:  # noqa: BLE001 - unreadable here: the case becomes an error row when it runs
        return None
    return None


def _from_label_map(vol, names, path):
    """Structures of a label map: one per named label (``names``), each ``array == label``; a
    non-zero label present without a name is an error (it could pair with nothing)."""
    a = vol.array
    if a.dtype.kind not in "iu":
        raise ReadError(f"{path}: a label map of integers is needed to read structures; got {a.dtype}.")
    names = dict(names or getattr(vol, "names", None) or {})
    boxes = ndimage.find_objects(a.astype(np.int64, copy=False) if a.dtype.kind == "i" else a) if a.size else []
    unnamed = [v + 1 for v, b in enumerate(boxes) if b is not None and v + 1 not in names]
    if unnamed:
        raise ReadError(f"{path}: label(s) {', '.join(map(str, unnamed[:10]))} have no name; pairing structures by "
                        f"name needs a name for every label (names=, --label-names or --labels-json).")
    items = []
    for value, name in names.items():
        if value == 0:
            continue
        box = boxes[value - 1] if 0 < value <= len(boxes) else None
        items.append((name, box, None if box is None else a[box] == value))
    return items


def load_structures(path, *, reference=None, names=None, reader="auto"):
    """Every structure of a file as its own binary mask, with its name.

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM-SEG file, an RTSTRUCT file, a folder holding one of them (and possibly its image
        series), or a label map that :func:`fastseg.io.load` reads (NIfTI, NRRD, ...).
    reference : str, os.PathLike or Grid, optional
        The image series (its folder, or a :class:`~fastseg.io.dicom.Grid`) whose grid the masks are
        placed on. An RTSTRUCT's default is the series in its own folder; a SEG's its own frames.
    names : dict of int to str, optional
        For a label map: the name of each label (labels without one are named by their number).
    reader : {"auto", "nibabel", "simpleitk"}
        For label maps, as :func:`fastseg.io.load`.

    Returns
    -------
    Structures
        Overlapping structures keep their overlap (unlike :func:`fastseg.io.load`, whose label map
        cannot hold it).

    Raises
    ------
    ReadError
        The file cannot be read (the message names it), as :func:`fastseg.io.load`.
    """
    from . import load

    path = structure_file(path)
    try:
        kind = _kind(path)
        if kind == "labels":
            vol = load(path, reader=reader, writable=False)
            return Structures(vol.array.shape, vol.spacing, vol.affine, _from_label_map(vol, names, path),
                              source=path)
        from .dicom import seg_structures
        from .rtstruct import rtstruct_structures

        if kind == "seg":  # a folder: its series the SEG names (ReferencedSeriesSequence), or its one series
            grid, items = seg_structures(path, reference)
        elif kind == "rtstruct":
            grid, items = rtstruct_structures(path, reference)
        elif kind is None:
            raise ReadError(f"{path}: neither a DICOM-SEG, an RTSTRUCT nor a label map fastseg reads.")
        else:
            raise ReadError(f"{path}: a DICOM {kind} object; structures are read from DICOM-SEG, RTSTRUCT or "
                            f"label maps.")
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes one clear error naming the file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReadError(f"{path}: cannot read the structures ({type(exc).__name__}: {reason}).") from exc
    return Structures(grid.shape, grid.spacing, grid.affine, items, grid=grid, source=path, kind=kind)
