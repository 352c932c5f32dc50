"""Reading label maps from files, with their voxel spacing and geometry.

NIfTI (``.nii``, ``.nii.gz``) is read with nibabel (a core dependency); NRRD (``.nrrd``, ``.nhdr``),
MetaImage (``.mha``, ``.mhd``) and, on request, NIfTI are read with SimpleITK (the optional ``io``
extra: ``pip install 'fastseg[io]'``).

Axis order
----------
Every reader returns the array with its axes in the image's *index* order ``(i, j, k)``: the order in
which the file header lists the dimensions and spacings, which is also what nibabel returns. SimpleITK
hands out ``(k, j, i)`` arrays (``GetArrayFromImage`` reverses the axes); :func:`load` transposes them
back (a free view), so a volume gives the same array, spacing and affine whatever the file format or
reader, and ``spacing[a]`` is always the voxel size along array axis ``a``. Pass the spacing on to
fastseg unchanged.

The affine maps array indices to world coordinates in RAS+ millimetres (nibabel's convention);
SimpleITK's LPS direction and origin are converted to it.

Examples
--------
>>> import numpy as np, nibabel as nib, tempfile, os
>>> from fastseg.io import load
>>> d = tempfile.mkdtemp()
>>> a = np.zeros((4, 5, 6), np.uint8); a[1:3, 1:3, 1:3] = 2
>>> nib.save(nib.Nifti1Image(a, np.diag([2.5, 0.8, 0.8, 1.0])), os.path.join(d, "case.nii.gz"))
>>> vol = load(os.path.join(d, "case.nii.gz"))
>>> vol.array.shape, vol.array.dtype, np.round(vol.spacing, 6).tolist()  # headers store float32
((4, 5, 6), dtype('uint8'), [2.5, 0.8, 0.8])
"""
import math
import os
from typing import NamedTuple

import numpy as np

from .._validation import InputValueError
from ._errors import GeometryError, ReadError
from .itk import read_sitk
from .nifti import read_nibabel
from .structures import Structures, load_structures

__all__ = ["Volume", "LabelVolume", "load", "Structures", "load_structures", "ReadError", "GeometryError", "check_geometry", "case_id", "EXTENSIONS",
           "NIFTI_EXTENSIONS", "SITK_EXTENSIONS"]

NIFTI_EXTENSIONS = (".nii.gz", ".nii")
SITK_EXTENSIONS = (".nrrd", ".nhdr", ".mha", ".mhd")
#: every extension :func:`load` reads (longest first, so ``.nii.gz`` wins over ``.nii``)
EXTENSIONS = NIFTI_EXTENSIONS + SITK_EXTENSIONS
READERS = ("auto", "nibabel", "simpleitk")


class Volume(NamedTuple):
    """An image read by :func:`load`.

    Attributes
    ----------
    array : ndarray, shape (M, N[, P])
        Voxel values in native byte order, axes in the image's index order ``(i, j, k)``. Label maps
        stored as floats that hold only integers come back with an integer dtype.
    spacing : tuple of float
        Voxel size (usually mm) along each array axis, in array-axis order.
    affine : ndarray of float64, shape (4, 4) (3D) or (ndim + 1, ndim + 1)
        Array index to RAS+ world coordinates.
    """

    array: np.ndarray
    spacing: tuple
    affine: np.ndarray


class LabelVolume(Volume):
    """A :class:`Volume` whose labels have names (DICOM-SEG segments, RTSTRUCT ROIs): ``names`` maps
    each label value to its name. Unpacks to ``(array, spacing, affine)`` like a :class:`Volume`."""

    def __new__(cls, array, spacing, affine, names=None):
        self = super().__new__(cls, array, spacing, affine)
        self.names = dict(names or {})
        return self

    def __reduce__(self):
        return (LabelVolume, (self.array, self.spacing, self.affine, self.names))


def case_id(path):
    """File name without its image extension (``"a/case_01.nii.gz"`` -> ``"case_01"``), or None when
    the name has no extension :func:`load` reads."""
    name = os.path.basename(os.fspath(path))
    low = name.lower()
    for ext in EXTENSIONS:
        if low.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return None


def _extension(path):
    low = os.fspath(path).lower()
    for ext in EXTENSIONS:
        if low.endswith(ext):
            return ext
    return None


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _holds_dicom(folder):
    """Whether ``folder`` holds a DICOM file (Part 10: ``DICM`` after the 128-byte preamble), without pydicom."""
    for name in sorted(_listdir(folder)):
        p = os.path.join(folder, name)
        try:
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    f.seek(128)
                    if f.read(4) == b"DICM":
                        return True
        except OSError:
            continue
    return False


def _load_dicom(path, reference, rois):
    """DICOM inputs: a series folder, a DICOM-SEG or an RTSTRUCT file (the ``dicom`` extra)."""
    from . import dicom

    if os.path.isdir(path):
        return Volume(*dicom.read_series(path))
    kind = dicom.dicom_kind(path)
    if kind == "seg":  # the reference folder's series (the one the SEG names, when it holds several)
        array, spacing, affine, names = dicom.read_seg(path, reference, rois=rois)
        return LabelVolume(array, spacing, affine, names)
    if kind == "rtstruct":
        from .rtstruct import read_rtstruct

        array, spacing, affine, names = read_rtstruct(path, reference, rois=rois)
        return LabelVolume(array, spacing, affine, names)
    if kind == "image":
        raise ReadError(f"{path}: a single DICOM image slice; pass the folder of its series.")
    if kind is None:
        raise ReadError(f"{path}: unsupported file type; fastseg reads {', '.join(EXTENSIONS)}, DICOM series "
                        f"folders, DICOM-SEG and RTSTRUCT files.")
    raise ReadError(f"{path}: a DICOM {kind} object; fastseg reads image series folders, DICOM-SEG and RTSTRUCT.")


def load(path, *, reader="auto", integer=True, writable=True, reference=None, rois=None):
    """Read an image file: its array, spacing (array-axis order) and affine.

    Parameters
    ----------
    path : str or os.PathLike
        ``.nii``, ``.nii.gz`` (nibabel), ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd`` (SimpleITK); with
        the ``dicom`` extra (pydicom), a folder holding one DICOM image series, a DICOM-SEG file or an
        RTSTRUCT file (see :mod:`fastseg.io.dicom`, :mod:`fastseg.io.rtstruct`): SEG and RTSTRUCT
        give a :class:`LabelVolume` (label values named by segment / ROI; overlapping segments or
        ROIs are refused: :func:`load_structures` reads each as its own mask).
    reader : {"auto", "nibabel", "simpleitk"}, optional
        ``"auto"`` (default) reads NIfTI with nibabel and everything else with SimpleITK.
    integer : bool, optional
        Convert float data that hold only integers (label maps saved as floats, or scaled by
        ``scl_slope``) to the smallest integer dtype that holds them. Default True.
    writable : bool, optional
        Default True. With False the array may be a read-only view of the decompressed bytes of an
        unscaled ``.nii.gz`` (no copy: for callers that only read it, as the cohort runner).
    reference : str or os.PathLike, optional
        DICOM-SEG and RTSTRUCT: the folder of the image series whose grid the labels are placed on
        (an RTSTRUCT's default: the series beside it; a SEG's: its own frames).
    rois : sequence of str or int, optional
        DICOM-SEG and RTSTRUCT: the segments / ROIs to read, by name (case-insensitive) or number
        (SegmentNumber, ROINumber: an int), label ``n`` the n-th; a name the file lacks, or gives to
        two segments / ROIs, is a :class:`ReadError` listing what it holds.

    Returns
    -------
    Volume
        ``(array, spacing, affine)``; see :class:`Volume`. Trailing length-1 axes beyond the third
        (``(X, Y, Z, 1)`` NIfTI) are dropped.

    Raises
    ------
    ReadError
        The file is missing, unreadable, truncated or corrupt, has an unsupported extension, an
        invalid spacing in its header, or needs SimpleITK when it is not installed; or ``path`` is a
        folder that holds no DICOM file (whatever its name: ``x.nii.gz`` may be a folder). The message
        names the file.
    """
    path = os.fspath(path)
    if reader not in READERS:
        raise InputValueError(f"reader must be one of {READERS}; got {reader!r}.")
    ext = _extension(path)
    folder = os.path.isdir(path)
    if folder and ext is not None and not _holds_dicom(path):
        inside = sorted(n for n in _listdir(path) if _extension(n) and os.path.isfile(os.path.join(path, n)))
        hint = f" (it holds {', '.join(inside[:3])}{' ...' if len(inside) > 3 else ''})" if inside else ""
        raise ReadError(f"{path}: a folder, not an image file, although its name ends in {ext}; a folder is read "
                        f"only when it holds a DICOM image series, and this one holds no DICOM file. Pass the "
                        f"image file itself{hint}.")
    if (ext is None and os.path.exists(path)) or folder:
        try:
            vol = _load_dicom(path, reference, rois)
        except ReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - every reader failure becomes one clear error naming the file
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReadError(f"{path}: cannot read the DICOM data ({type(exc).__name__}: {reason}).") from exc
        if integer and vol.array.dtype.kind == "f":
            vol = vol._replace(array=_integral_to_int(vol.array))
        return vol
    if ext is None:
        raise ReadError(
            f"{path}: unsupported file type; fastseg reads {', '.join(EXTENSIONS)}.")
    if rois is not None or reference is not None:
        raise InputValueError(f"rois and reference are for DICOM-SEG and RTSTRUCT files; got rois={rois!r}, "
                              f"reference={reference!r} for {path}.")
    if not os.path.isfile(path):
        raise ReadError(f"{path}: no such file.")
    if reader == "auto":
        reader = "nibabel" if ext in NIFTI_EXTENSIONS else "simpleitk"
    if reader == "nibabel" and ext not in NIFTI_EXTENSIONS:
        raise ReadError(f"{path}: nibabel reads only NIfTI here ({', '.join(NIFTI_EXTENSIONS)}); "
                        f"use reader='simpleitk'.")
    try:
        if reader == "nibabel":
            array, spacing, affine = read_nibabel(path, writable)
        else:
            array, spacing, affine = read_sitk(path)
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes one clear error naming the file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReadError(f"{path}: cannot read the image ({type(exc).__name__}: {reason}).") from exc
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim > 3:
        raise ReadError(f"{path}: expected a 2D or 3D image; got shape {array.shape}.")
    spacing = tuple(float(s) for s in spacing[: array.ndim])
    if len(spacing) != array.ndim or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ReadError(f"{path}: the header holds an invalid voxel spacing {spacing} for shape {array.shape}.")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if integer and array.dtype.kind == "f":
        array = _integral_to_int(array)
    return Volume(array, spacing, np.asarray(affine, dtype=np.float64))


def _integral_to_int(a):
    """Float data holding only (finite) integers -> the smallest integer dtype; otherwise unchanged."""
    if a.size == 0:
        return a.astype(np.uint8)
    if not np.all(np.isfinite(a)):
        return a
    lo, hi = float(a.min()), float(a.max())
    if not np.array_equal(a, np.rint(a)):
        return a
    for dt in (np.uint8, np.uint16, np.uint32) if lo >= 0 else (np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return a.astype(dt)
    return a.astype(np.int64) if max(abs(lo), abs(hi)) < 2.0 ** 53 else a


def check_geometry(a, b, *, tolerance=1e-3, check_affine=True, names=("pred", "ref")):
    """Refuse two volumes that do not lie on the same voxel grid.

    Parameters
    ----------
    a, b : Volume
    tolerance : float, optional
        Largest absolute difference (spacing units, usually mm) allowed between the spacings and
        between the entries of the affines. Default 1e-3 (headers store float32).
    check_affine : bool, optional
        Compare the affines too (orientation and origin), not only shape and spacing. Default True.
    names : (str, str)
        Names used in the message.

    Raises
    ------
    GeometryError
        With the differing shapes, spacings or the largest affine difference.
    """
    na, nb = names
    if a.array.shape != b.array.shape:
        raise GeometryError(f"shape mismatch: {na} {a.array.shape} vs {nb} {b.array.shape}.")
    sa, sb = np.asarray(a.spacing, float), np.asarray(b.spacing, float)
    if sa.shape != sb.shape or np.max(np.abs(sa - sb)) > tolerance:
        raise GeometryError(
            f"spacing mismatch: {na} {_fmt_tuple(a.spacing)} vs {nb} {_fmt_tuple(b.spacing)} "
            f"(tolerance {tolerance:g}).")
    if check_affine:
        fa, fb = np.asarray(a.affine, float), np.asarray(b.affine, float)
        if fa.shape != fb.shape:
            raise GeometryError(f"affine mismatch: {na} is {fa.shape[0]}x{fa.shape[1]}, "
                                f"{nb} is {fb.shape[0]}x{fb.shape[1]}.")
        diff = np.abs(fa - fb)
        if not np.all(diff <= tolerance):  # NaN in an affine is a mismatch too
            kind = "origin" if np.all(diff[:-1, :-1] <= tolerance) else "orientation/direction"
            raise GeometryError(
                f"affine mismatch ({kind}): largest difference {np.nanmax(diff):.4g} "
                f"(tolerance {tolerance:g}); {na} origin {_fmt_tuple(fa[:-1, -1])}, "
                f"{nb} origin {_fmt_tuple(fb[:-1, -1])}.")


def _fmt_tuple(t):
    return "(" + ", ".join(f"{float(x):.6g}" for x in t) + ")"
