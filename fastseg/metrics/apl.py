"""Added path length (APL): how much of a reference contour an editor would have to draw anew."""
import warnings

import numpy as np
from scipy import ndimage

from .._validation import (InputValueError, binary_pair, check_fraction, check_ndim, normalize_spacing,
                           raise_if_not_binary)

__all__ = ["slice_axis_of", "apl", "apl_of", "apl_rows", "contour_pixels"]

_CROSS = ndimage.generate_binary_structure(2, 1)


def contour_pixels(mask):
    """The contour of a 2D mask: its pixels with a 4-neighbour outside it (beyond the border counts
    as outside)."""
    return mask & ~ndimage.binary_erosion(mask, _CROSS, border_value=0)


def apl(pred, ref, *, spacing=None, tolerance=0.0, slice_axis=None):
    """Added path length (Vaassen et al. 2020), in spacing units (usually mm).

    Slice by slice along ``slice_axis`` (a 2D input is one slice), the length of the reference
    contour that does not lie within ``tolerance`` of the predicted contour, summed over slices.

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
        Voxel size per array axis (default 1.0); for 3D input the spacing along ``slice_axis``
        (between slices) is not used.
    tolerance : float, optional
        Distance (spacing units) within which a reference contour pixel counts as drawn. Default 0:
        only reference contour pixels that are also predicted contour pixels count as drawn.
    slice_axis : int, optional
        The axis through the slices the contours are drawn on (3D input). Default (None): -1, the
        last: the slice axis of the volumes :func:`fastseg.io.load` returns (index order ``(i, j, k)``:
        an RTSTRUCT's contours lie in planes of constant ``k``; for a 0.8 x 0.8 x 5 mm CT the spacing is
        ``(0.8, 0.8, 5.0)`` and the pixels 0.8 mm). Arrays in ``(z, y, x)`` order (as SimpleITK's
        ``GetArrayFromImage`` gives) need ``slice_axis=0``. When it is not given and the in-plane
        pixels of the last axis's slices are far from square (ratio above 1.5) while their larger side
        is thicker than the slices, a ``UserWarning`` names the likelier axis (the value is computed
        as asked); pass ``slice_axis`` explicitly to settle it.

    Returns
    -------
    float
        0.0 when the reference is empty (nothing to draw), whatever the prediction; the whole
        reference contour length when the prediction is empty. Never NaN or inf.

    Notes
    -----
    The tolerance is measured in the slice plane, as the per-slice definition has it. The MAASTRO
    scripts (Vaassen's, with D. Slob's tolerance; MATLAB and the pyAPL port) take a 3D distance
    transform of the predicted contour stack instead, so that with a tolerance of at least the slice
    spacing a predicted contour on a neighbouring slice also covers; both agree at tolerance 0 and
    whenever the tolerance is below the slice spacing. Those scripts count one pixel spacing per
    added pixel (the same for square pixels). platipy's ``compute_metric_total_apl(label_ref,
    label_test)`` differs more: it counts ``label_test``'s contour pixels away from ``label_ref``'s
    (its ``label_ref`` plays the part of ``pred`` here), uses SimpleITK ``LabelContour`` contours (the
    image edge is not a contour), a dilation by ``ceil(tolerance / pixel size)`` pixels, and skips
    the slices where ``label_ref`` is empty.

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
    return apl_of(p, r, sp, tol, slice_axis_of(slice_axis, sp, p.ndim))


def slice_axis_of(slice_axis, spacing, ndim, warn=True):
    """The slice axis (0, 1 or 2) of 3D masks from :func:`apl`'s ``slice_axis`` (None: the last, with
    its warning when ``warn`` and the spacing suggests another); -1 for 2D masks (one slice)."""
    if ndim != 3:
        return -1
    axis = -1 if slice_axis is None else slice_axis
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -3 <= axis < 3:
        raise InputValueError(f"slice_axis must be an axis of the 3D masks (0, 1, 2 or -1); got {slice_axis!r}.")
    if slice_axis is None and warn:
        _warn_if_slices_look_wrong(np.asarray(spacing, np.float64))
    return int(axis) % 3


def _warn_if_slices_look_wrong(sp):
    """Warn when the default slice axis (the last) cuts far-from-square pixels whose thick side is
    thicker than the slices: the signature of ``(z, y, x)`` arrays (0.8 x 0.8 x 5 mm CT as SimpleITK
    gives it) passed without ``slice_axis=0``."""
    plane = sp[:2]
    if plane.max() > 1.5 * plane.min() and plane.max() > sp[2]:
        thick = int(np.argmax(plane))
        warnings.warn(
            f"apl: slices along the last axis (the default) have {plane[0]:g} x {plane[1]:g} pixels while the "
            f"slices are {sp[2]:g} apart; if the contours lie in planes across axis {thick} (e.g. (z, y, x) "
            f"arrays from SimpleITK), pass slice_axis={thick} (--slice-axis {thick} on the command line); pass "
            f"slice_axis=-1 (--slice-axis 2) to keep the last axis.",
            UserWarning, stacklevel=4)


def apl_of(p, r, spacing, tolerance, slice_axis):
    """APL of two validated 0/1 uint8 (or bool) masks, 2D (one slice) or 3D with slices along
    ``slice_axis``; ``spacing`` one value per axis. Crops give the whole image's value when they
    hold every voxel of both masks (outside them nothing is a contour). See :func:`apl`.

    All slices at once: contours by in-plane shifts; a reference contour pixel is covered when a
    predicted contour pixel lies at one of the in-plane offsets within the tolerance (looked up at
    the reference contour pixels only); beyond :data:`MAX_OFFSETS` offsets, a distance transform
    per slice.
    """
    sp = np.asarray(spacing, dtype=np.float64)
    if p.ndim == 2:
        p, r, plane = p[None], r[None], sp
    else:
        p, r = np.moveaxis(p, slice_axis, 0), np.moveaxis(r, slice_axis, 0)
        plane = np.delete(sp, slice_axis)
    keep = np.flatnonzero(r.reshape(len(r), -1).any(axis=1))  # slices with something to draw
    if keep.size == 0:
        return 0.0
    rc, pc = _contours(r[keep].astype(bool)), _contours(p[keep].astype(bool))
    offsets = _offsets(plane, tolerance)
    if offsets is None:
        added = 0
        for k in range(len(rc)):
            if not pc[k].any():
                added += int(np.count_nonzero(rc[k]))
            else:
                dist = ndimage.distance_transform_edt(~pc[k], sampling=plane)
                added += int(np.count_nonzero(rc[k] & (dist > tolerance)))
        return float(added * plane.mean())
    # at each reference contour pixel x: is pc[x - o] set for some offset o? (pc padded by the reach)
    reach = np.max(np.abs(offsets), axis=0)
    padded = np.pad(pc, ((0, 0), (reach[0], reach[0]), (reach[1], reach[1])))
    _, ni, nj = padded.shape
    k, i, j = np.nonzero(rc)
    at = (k * ni + i + reach[0]) * nj + j + reach[1]
    flat = padded.ravel()
    covered = np.zeros(at.size, bool)
    for a, b in offsets:
        covered |= flat[at - (a * nj + b)]
    return float(np.count_nonzero(~covered) * plane.mean())


def _contours(m):
    """The contour of every slice ``m[k]`` of a bool stack: pixels with a 4-neighbour outside the mask
    in their slice (beyond the border counts as outside); as :func:`contour_pixels` on each slice."""
    inner = m.copy()
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    inner[:, :, 1:] &= m[:, :, :-1]
    inner[:, :, :-1] &= m[:, :, 1:]
    inner[:, 0] = inner[:, -1] = False
    inner[:, :, 0] = inner[:, :, -1] = False
    return m & ~inner


#: beyond this many in-plane offsets within the tolerance, APL uses a distance transform per slice
MAX_OFFSETS = 64


def _offsets(plane, tolerance):
    """The in-plane index offsets whose physical length (computed as ``sqrt(sum((offset *
    spacing)**2))``) is ``<= tolerance``; None when there are more than :data:`MAX_OFFSETS`."""
    ratio = tolerance / plane  # may be huge (or inf): test it before any integer arithmetic
    if not np.all(ratio < 8 * MAX_OFFSETS):
        return None
    reach = np.floor(ratio).astype(np.int64) + 1
    if np.prod(2 * reach + 1) > 16 * MAX_OFFSETS:
        return None
    a, b = np.meshgrid(np.arange(-reach[0], reach[0] + 1), np.arange(-reach[1], reach[1] + 1), indexing="ij")
    d = np.stack([a.ravel(), b.ravel()], axis=1)
    d = d[np.sqrt(((d * plane) ** 2).sum(axis=1)) <= tolerance]
    return None if len(d) > MAX_OFFSETS else [(int(x), int(y)) for x, y in d]


def apl_rows(key, name, tolerances):
    """The rows of an APL request in :func:`fastseg.evaluate`: ``"apl"`` (one ``apl@T`` per
    tolerance of ``tolerance=``) or ``"apl@T"``; ``(row name, "apl", T)``."""
    if key == "apl":
        if not tolerances:
            raise InputValueError("metric 'apl' needs a tolerance in spacing units: pass tolerance=1.0 (or several), "
                                  "or ask for 'apl@1' ('apl@0': only reference contour pixels on the predicted contour).")
        return [(f"apl@{t:g}", "apl", float(t)) for t in tolerances]
    try:
        t = float(key[len("apl@"):])
    except ValueError:
        raise InputValueError(f"metric {name!r}: the tolerance after '@' must be a number (mm), e.g. 'apl@1'.") from None
    t = check_fraction(t, f"the tolerance of metric {name!r}")
    return [(f"apl@{t:g}", "apl", t)]
