"""Added path length (APL): how much of a reference contour an editor would have to draw anew."""
import numpy as np
from scipy import ndimage

from .._validation import binary_pair, check_fraction, check_ndim, normalize_spacing, raise_if_not_binary

__all__ = ["apl"]

_CROSS = ndimage.generate_binary_structure(2, 1)


def contour_pixels(mask):
    """The contour of a 2D mask: its pixels with a 4-neighbour outside it (beyond the border counts
    as outside)."""
    return mask & ~ndimage.binary_erosion(mask, _CROSS, border_value=0)


def apl(pred, ref, *, spacing=None, tolerance=0.0):
    """Added path length (Vaassen et al. 2020), in spacing units (usually mm).

    Slice by slice along axis 0 (a 2D input is one slice), the length of the reference contour that
    does not lie within ``tolerance`` of the predicted contour, summed over slices.

    Definitions, exactly: the *contour* of a slice's mask is the set of its pixels that have a
    4-neighbour outside the mask (pixels beyond the image border count as outside). A reference
    contour pixel is *added* when no predicted contour pixel of the same slice lies within
    ``tolerance`` of it (Euclidean distance between pixel centres in the slice plane, ``<=``); on a
    slice without prediction every reference contour pixel is added. Each added pixel counts as
    one in-plane pixel size: the mean of the two in-plane spacings (the pixel size itself for
    square pixels, as in Vaassen et al.'s count of pixels times pixel size).

    Parameters
    ----------
    pred, ref : array_like of bool or 0/1, 2D or 3D, same shape
    spacing : float or sequence of float, optional
        Voxel size per axis (default 1.0); for 3D input ``spacing[0]`` (between slices) is not used.
    tolerance : float, optional
        Distance (spacing units) within which a reference contour pixel counts as drawn. Default 0:
        only reference contour pixels that are also predicted contour pixels are kept.

    Returns
    -------
    float
        0.0 when the reference is empty (nothing to draw), whatever the prediction.

    Notes
    -----
    Extra memory: a few slice-sized arrays. Vaassen F. et al., "Evaluation of measures for assessing
    time-saving of automatic organ-at-risk segmentation in radiotherapy", Phys. Imaging Radiat.
    Oncol. 13 (2020) 1-6.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
    >>> pred = np.zeros((10, 10), bool); pred[2:6, 3:7] = True   # one column to the right
    >>> fastseg.apl(pred, ref, spacing=(1.0, 1.0))             # 12 contour pixels, 6 shared
    6.0
    >>> fastseg.apl(pred, ref, spacing=(1.0, 1.0), tolerance=1.0)
    0.0
    """
    p, r = binary_pair(pred, ref)
    check_ndim(p, (2, 3), "apl")
    for name, a in (("pred", p), ("ref", r)):
        bad = int(np.count_nonzero(a > 1))
        if bad:
            raise_if_not_binary(name, bad, a.size)
    sp = normalize_spacing(spacing, p.ndim, distances=True)
    tol = check_fraction(tolerance, "tolerance")
    if p.ndim == 2:
        p, r = p[None], r[None]
    plane = sp[-2:]
    total = 0
    for k in np.flatnonzero(r.reshape(len(r), -1).any(axis=1)):
        rc = contour_pixels(r[k].astype(bool))
        pc = contour_pixels(p[k].astype(bool))
        if not pc.any():
            total += int(np.count_nonzero(rc))
            continue
        dist = ndimage.distance_transform_edt(~pc, sampling=plane)
        total += int(np.count_nonzero(rc & (dist > tol)))
    return float(total * plane.mean())
