"""NRRD, MetaImage and (on request) NIfTI through SimpleITK (the optional ``io`` extra). SimpleITK's
``(k, j, i)`` arrays are transposed back to index order, and its LPS geometry converted to RAS+."""
import os
import re

import numpy as np

from ._errors import ReadError

__all__ = ["read_sitk"]

_NIFTI = (".nii", ".nii.gz")


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
