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

from ._validation import FastsegError, InputValueError

__all__ = ["Volume", "load", "ReadError", "GeometryError", "check_geometry", "case_id", "EXTENSIONS",
           "NIFTI_EXTENSIONS", "SITK_EXTENSIONS"]

NIFTI_EXTENSIONS = (".nii.gz", ".nii")
SITK_EXTENSIONS = (".nrrd", ".nhdr", ".mha", ".mhd")
#: every extension :func:`load` reads (longest first, so ``.nii.gz`` wins over ``.nii``)
EXTENSIONS = NIFTI_EXTENSIONS + SITK_EXTENSIONS
READERS = ("auto", "nibabel", "simpleitk")


class ReadError(FastsegError, ValueError):
    """A file could not be read as an image (missing, corrupt, unsupported); the message names it."""


class GeometryError(InputValueError):
    """Two volumes do not lie on the same voxel grid (shape, spacing or affine differ)."""


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


def load(path, *, reader="auto", integer=True):
    """Read an image file: its array, spacing (array-axis order) and affine.

    Parameters
    ----------
    path : str or os.PathLike
        ``.nii``, ``.nii.gz`` (nibabel), ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd`` (SimpleITK).
    reader : {"auto", "nibabel", "simpleitk"}, optional
        ``"auto"`` (default) reads NIfTI with nibabel and everything else with SimpleITK.
    integer : bool, optional
        Convert float data that hold only integers (label maps saved as floats, or scaled by
        ``scl_slope``) to the smallest integer dtype that holds them. Default True.

    Returns
    -------
    Volume
        ``(array, spacing, affine)``; see :class:`Volume`. Trailing length-1 axes beyond the third
        (``(X, Y, Z, 1)`` NIfTI) are dropped.

    Raises
    ------
    ReadError
        The file is missing, unreadable, truncated or corrupt, has an unsupported extension, an
        invalid spacing in its header, or needs SimpleITK when it is not installed. The message names
        the file.
    """
    return _load(path, reader, integer, writable=True)


def _load(path, reader, integer, writable):
    """:func:`load`; with ``writable=False`` the array of an unscaled ``.nii.gz`` may be a read-only
    view of the decompressed bytes (no copy: the cohort runner only reads it)."""
    path = os.fspath(path)
    if reader not in READERS:
        raise InputValueError(f"reader must be one of {READERS}; got {reader!r}.")
    ext = _extension(path)
    if ext is None:
        raise ReadError(
            f"{path}: unsupported file type; fastseg reads {', '.join(EXTENSIONS)}.")
    if not os.path.isfile(path):
        raise ReadError(f"{path}: no such file.")
    if reader == "auto":
        reader = "nibabel" if ext in NIFTI_EXTENSIONS else "simpleitk"
    if reader == "nibabel" and ext not in NIFTI_EXTENSIONS:
        raise ReadError(f"{path}: nibabel reads only NIfTI here ({', '.join(NIFTI_EXTENSIONS)}); "
                        f"use reader='simpleitk'.")
    try:
        if reader == "nibabel":
            array, spacing, affine = _load_nibabel(path, writable)
        else:
            array, spacing, affine = _load_sitk(path)
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


def _load_nibabel(path, writable=True):
    import nibabel as nib

    img, data = _gzipped_nifti(path) if path.lower().endswith(".gz") else (None, None)
    if img is None:
        img = nib.load(path, mmap=False)
    proxy = img.dataobj
    if data is not None and not writable and (proxy.slope, proxy.inter) == (1.0, 0.0):
        # the voxels in place: nibabel's dataobj would copy them into a new array (a few ms per
        # 8 MB volume, mostly first-touch page faults); _gzipped_nifti checked that they are all there
        array = np.ndarray(proxy.shape, img.header.get_data_dtype(), buffer=data, offset=int(proxy.offset),
                           order=proxy.order)
    else:
        array = np.asanyarray(img.dataobj)  # reads (and decompresses) everything: truncation shows here
    if isinstance(array, np.memmap):  # pragma: no cover - mmap=False above
        array = np.array(array)
    zero = [a for a, z in enumerate(_stored_pixdim(path, img, data)[1:1 + array.ndim]) if z == 0]
    if zero:  # nibabel's header check would quietly read them as 1.0: distances in voxels
        raise ReadError(f"{path}: the header's voxel size (pixdim) is 0 along axis {', '.join(map(str, zero))}; "
                        f"set the voxel size in the header (nibabel would read it as 1.0).")
    zooms = img.header.get_zooms()
    return array, zooms, img.affine


def _stored_pixdim(path, img, data=None):
    """``pixdim`` as the file stores it (a loaded header has zeros replaced by 1.0 by nibabel)."""
    import gzip

    n = img.header.sizeof_hdr
    if data is None:
        with (gzip.open if path.lower().endswith(".gz") else open)(path, "rb") as fh:
            data = fh.read(n)
    return type(img.header)(binaryblock=bytes(data[:n]), check=False)["pixdim"]


def _gzipped_nifti(path):
    """A ``.nii.gz`` decompressed in one call, then parsed by nibabel from memory: ``(image, the
    decompressed bytes when they hold every voxel, else None)``.

    Measured on a 256x256x128 uint8 label map: about 5 ms against 23-26 ms for ``nibabel.load`` and
    ``dataobj``, which inflate the stream in small reads. ``(None, None)`` when the content is not a
    single-file NIfTI-1/2 header (``nibabel.load`` then reports what it is).
    """
    import gzip

    import nibabel as nib

    with open(path, "rb") as fh:
        raw = fh.read()
    kinds = {348: nib.Nifti1Image, 540: nib.Nifti2Image}

    def parse(data):
        """(image or None, whether ``data`` holds all its voxels)"""
        if len(data) < 4:
            return None, False
        size = int.from_bytes(data[:4], "little")
        cls = kinds.get(size) or kinds.get(int.from_bytes(data[:4], "big"))
        if cls is None or len(data) < min(kinds):
            return None, False
        img = cls.from_bytes(data)
        proxy = img.dataobj  # where the voxels are: its offset, not the header's (0 once parsed)
        need = int(proxy.offset) + int(np.prod(proxy.shape)) * img.header.get_data_dtype().itemsize
        return img, len(data) >= need

    data = _inflate_one_member(raw)
    img, whole = parse(data)
    if not whole:  # not one member holding the whole image: every member (truncated or corrupt data raise here)
        data = gzip.decompress(raw)
        img, whole = parse(data)
    return img, (data if whole else None)


def _inflate_one_member(raw):
    """The first gzip member of ``raw``, inflated into an output buffer sized from the gzip trailer
    (the growing buffer of ``gzip.decompress`` costs more than inflating: 3.7 ms against 10 ms for
    8.4 MB here). The trailer's size belongs to the last member and is only a hint, capped by
    deflate's largest expansion (about 1032:1) so that a corrupt trailer cannot claim gigabytes.
    ``b""`` when the data are not one valid gzip stream (the caller then decompresses every member
    with ``gzip.decompress``, which also names the problem)."""
    import zlib

    if len(raw) < 18:
        return b""
    hint = min(int.from_bytes(raw[-4:], "little"), 1032 * len(raw), 1 << 31)
    try:
        return zlib.decompress(raw, 31, max(hint, 1 << 14))
    except zlib.error:
        return b""


def _load_sitk(path):
    try:
        import SimpleITK as sitk
    except ImportError:
        raise ReadError(
            f"{path}: reading this file needs SimpleITK: pip install 'fastseg[io]' (or SimpleITK)."
        ) from None
    img = sitk.ReadImage(path)
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ReadError(f"{path}: a vector image ({img.GetNumberOfComponentsPerPixel()} components per "
                        f"voxel) is not a label map.")
    n = img.GetDimension()
    array = sitk.GetArrayFromImage(img).T  # (k, j, i) -> index order (i, j, k), a view
    spacing = tuple(img.GetSpacing())  # already in index order (i, j, k)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(n, n)
    origin = np.asarray(img.GetOrigin(), dtype=np.float64)
    affine = np.eye(n + 1)
    affine[:n, :n] = direction * np.asarray(spacing)[None, :]
    affine[:n, n] = origin
    lps_to_ras = np.ones(n + 1)
    lps_to_ras[: min(n, 2)] = -1.0
    return array, spacing, lps_to_ras[:, None] * affine


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
