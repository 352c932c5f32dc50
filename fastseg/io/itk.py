"""NRRD, MetaImage and (on request) NIfTI through SimpleITK (the optional ``io`` extra). SimpleITK's
``(k, j, i)`` arrays are transposed back to index order, and its LPS geometry converted to RAS+."""
import os
import re

import numpy as np

from ._errors import ReadError

__all__ = ["read_sitk"]

_NIFTI = (".nii", ".nii.gz")
#: bytes per value of MetaImage's ElementTypes (MET_LONG / MET_ULONG left out: their size varies)
_MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
              "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def read_sitk(path):
    """``(array, spacing, affine)`` of an image SimpleITK reads, in index order and RAS+.

    The affine is 4x4 whatever the image's dimension, as nibabel gives it: a 2D image lies in the
    plane z = 0 with unit spacing along z, and the axes beyond the third (length 1, dropped by
    :func:`fastseg.io.load`) are left out, so that a volume has the same affine whatever its file
    format or reader."""
    try:
        import SimpleITK as sitk
    except ImportError:
        raise ReadError(
            f"{path}: reading this file needs SimpleITK: pip install 'fastseg[io]' (or SimpleITK)."
        ) from None
    if os.fspath(path).lower().endswith(_NIFTI):
        from .nifti import check_complete

        check_complete(path)  # SimpleITK reads a truncated NIfTI as zeros without an error
    try:
        img = sitk.ReadImage(path)
    except RuntimeError as exc:
        short = _metaimage_short(os.fspath(path)) if os.fspath(path).lower().endswith((".mha", ".mhd")) else None
        if short:  # SimpleITK says only "File cannot be read" (MetaIO prints the reason to stderr)
            raise ReadError(f"{path}: {short}.") from None
        raise ReadError(f"{path}: cannot read the image (SimpleITK: {_sitk_reason(exc, path)}).") from None
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ReadError(f"{path}: a vector image ({img.GetNumberOfComponentsPerPixel()} components per "
                        f"voxel) is not a label map.")
    n = img.GetDimension()
    array = sitk.GetArrayFromImage(img).T  # (k, j, i) -> index order (i, j, k), a view
    spacing = tuple(img.GetSpacing())  # already in index order (i, j, k)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(n, n)
    origin = np.asarray(img.GetOrigin(), dtype=np.float64)
    m = min(n, 3)
    affine = np.eye(4)
    affine[:m, :m] = direction[:m, :m] * np.asarray(spacing[:m])[None, :]
    affine[:m, 3] = origin[:m]
    lps_to_ras = np.array([-1.0, -1.0, 1.0, 1.0])
    return array, spacing, lps_to_ras[:, None] * affine


def _sitk_reason(exc, path):
    """The informative part of a SimpleITK exception: its first line only names SimpleITK's own
    source file; the reason follows (``sitk::ERROR: ...``, ``ITK ERROR: XImageIO(0x...): ...``)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    body = [ln for ln in lines[1:] if not ln.startswith("Exception thrown in SimpleITK")]
    if os.path.exists(path):  # ITK appends a stale errno ("No such file or directory") to a failed read
        body = [ln for ln in body if not ln.startswith("Reason: No such file")]
    body = [re.sub(r"^(sitk::ERROR:|ITK ERROR:)\s*(\w+\(0x[0-9a-fA-F]+\):\s*)?", "", ln) for ln in body]
    body = [ln for ln in body if ln]
    if not body:
        return lines[0] if lines else type(exc).__name__
    if len(body) > 2:  # a chain of library messages (NRRD): the first and the innermost
        body = [body[0], body[-1]]
    return " ".join(body)


def _metaimage_short(path):
    """Why a MetaImage (``.mha``, ``.mhd``) SimpleITK failed to read cannot be read, when its voxel data
    file is missing or holds fewer bytes than its header says; None otherwise (or when the header is
    not one this check understands: ASCII data, HeaderSize, file lists)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    fields, pos = {}, 0
    while "elementdatafile" not in fields:  # the last field of the header; the data follows (LOCAL)
        end = head.find(b"\n", pos)
        if end < 0:
            return None
        key, _, value = head[pos:end].decode("latin-1").partition("=")
        fields[key.strip().lower()] = value.strip()
        pos = end + 1
    try:
        dims = [int(v) for v in fields["dimsize"].split()]
        item = _MET_BYTES[fields["elementtype"].upper()] * int(fields.get("elementnumberofchannels") or 1)
        skip = int(fields.get("headersize") or 0)
    except (KeyError, ValueError):
        return None
    data = fields["elementdatafile"]
    compressed = fields.get("compresseddata", "false").lower() in ("true", "1")
    if fields.get("binarydata", "true").lower() not in ("true", "1") or skip or data.upper() == "LIST" or "%" in data:
        return None
    if compressed and not fields.get("compresseddatasize", "").isdigit():
        return None
    need = int(fields["compresseddatasize"]) if compressed else int(np.prod(dims)) * item
    what = "compressed voxel data" if compressed else "voxel data"
    if data.upper() == "LOCAL":
        have = os.path.getsize(path) - pos
    else:
        what = f"{what} file {data}"
        file = os.path.join(os.path.dirname(path), data)
        if not os.path.isfile(file):
            return (f"its voxel data file {data} (ElementDataFile) is missing; a .mhd header needs its data file "
                    f"beside it")
        have = os.path.getsize(file)
    if have >= need:
        return None
    source = "CompressedDataSize" if compressed else f"DimSize {' '.join(map(str, dims))} of {fields['elementtype']}"
    return f"truncated: its {what} holds {have} bytes, the header says {need} ({source}); the file was cut short"
