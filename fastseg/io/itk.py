"""NRRD, MetaImage and (on request) NIfTI through SimpleITK (the optional ``io`` extra). SimpleITK's
``(k, j, i)`` arrays are transposed back to index order, and its LPS geometry converted to RAS+."""
import numpy as np

from ._errors import ReadError

__all__ = ["read_sitk"]


def read_sitk(path):
    """``(array, spacing, affine)`` of an image SimpleITK reads, in index order and RAS+."""
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
