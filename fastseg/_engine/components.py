"""Connected components of a binary mask: labels in scipy's numbering, and per-component sizes and
bounding boxes in one pass.

Inputs arrive validated (a C-contiguous uint8 mask of 0/1, 2D or 3D) and are not checked again here,
except the connectivity, a user option passed through.
"""
import numpy as np
from scipy import ndimage

from .. import _validation as v

__all__ = ["CONNECTIVITIES", "label_components", "component_stats"]

#: allowed connectivities per number of dimensions; the default is the largest (8 / 26)
CONNECTIVITIES = {2: (4, 8), 3: (6, 18, 26)}


def _rank(ndim, connectivity):
    """The neighbourhood rank (1: faces, ndim: full) of a connectivity; InputValueError if invalid."""
    allowed = CONNECTIVITIES[ndim]
    if connectivity is None:
        return ndim
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)) \
            or int(connectivity) not in allowed:
        raise v.InputValueError(f"connectivity must be one of {', '.join(map(str, allowed))} for a "
                                f"{ndim}D mask (or None: {allowed[-1]}), got {connectivity!r}")
    return allowed.index(int(connectivity)) + 1


def label_components(mask, connectivity=None):
    """Connected components of a validated C-contiguous uint8 mask (values 0/1), 2D or 3D.

    connectivity: 4 or 8 (2D), 6, 18 or 26 (3D); None: the full neighbourhood (8 / 26).
    Returns (labels, n): labels int32 array of mask's shape, 0 background, components numbered
    1..n in raster order of their first voxel (C order) — this exact numbering is part of the contract
    (it is what scipy.ndimage.label gives), so results are deterministic.
    """
    rank = _rank(mask.ndim, connectivity)
    structure = ndimage.generate_binary_structure(mask.ndim, rank)
    labels = np.zeros(mask.shape, np.int32)
    n = ndimage.label(mask, structure=structure, output=labels)
    return labels, int(n)


def component_stats(labels, n):
    """One pass over a labels array: (sizes int64 (n+1,), boxes int64 (n+1, 2*ndim)) with boxes as
    inclusive [min0, max0, min1, max1, ...] per component (index 0 = background, its box unused)."""
    ndim = labels.ndim
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(np.int64)
    boxes = np.zeros((n + 1, 2 * ndim), np.int64)
    for i, sl in enumerate(ndimage.find_objects(labels, max_label=n), start=1):
        if sl is None:
            continue
        for d, s in enumerate(sl):
            boxes[i, 2 * d] = s.start
            boxes[i, 2 * d + 1] = s.stop - 1
    return sizes, boxes
