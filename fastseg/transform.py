"""Distance transforms of masks, with physical voxel spacing."""
import numpy as np

from . import _validation as v
from ._engine.counts import as3, spacing3
from ._engine.distances import unit_spacing
from ._kernels import tuning
from ._kernels._jit import thread_limit
from ._kernels.edt import distance_to_features_into

__all__ = ["edt"]


def edt(mask, *, spacing=None, threads=None):
    """Exact Euclidean distance transform of a 2D or 3D mask, with anisotropic spacing.

    For every non-zero voxel of ``mask``, the Euclidean distance, in spacing
    units, to the nearest zero voxel; zero voxels get 0. Same definition as
    ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)``.

    Parameters
    ----------
    mask : array_like, shape (M, N[, P])
        Boolean, integer or float array; non-zero (including NaN) is
        foreground. Any memory order, byte order or strides.
    spacing : float or sequence of float, optional
        Voxel size along each array axis, in array-axis order (not x, y, z
        unless the array is laid out that way): one positive finite value per
        axis, or one value for all axes. Default 1.0 per axis.
    threads : int, optional
        Number of numba threads for this call (the previous setting is
        restored afterwards). Default: numba's current setting. The result
        does not depend on it, bit for bit.

    Returns
    -------
    ndarray of float64, shape (M, N[, P])
        C-ordered distances in spacing units.

    Raises
    ------
    TypeError
        If ``mask`` is not an array of booleans or numbers (a masked array
        included: fill it first), or ``spacing`` (e.g. strings) or ``threads``
        is the wrong kind of object.
    ValueError
        If ``mask`` is not 2D or 3D, ``spacing`` does not hold one positive
        finite value per axis or its values differ by a factor above 2**250,
        or ``threads`` is below 1.

    Notes
    -----
    Definition: ``d[p] = min over q with mask[q] == 0 of
    sqrt(sum_i (spacing[i] * (p[i] - q[i]))**2)``, over voxel indices.

    No zero voxel: the minimum is over an empty set and every distance is
    ``+inf``. scipy's answer is ill-defined in that case (it returns the
    distance to a point just outside the array, e.g. ``1, 1.41, 2.24, ...``
    along the first row of ``np.ones((3, 4))``), so fastseg does not copy it.
    An empty array (a zero-length axis) gives an empty result.

    Any finite positive spacing (1e-300 as well as 1e300): where squared
    distances would leave float64's range, the transform runs on the spacing
    scaled by a power of two and the distances are scaled back, which is
    exact; distances beyond float64 are ``inf``.

    The transform is exact (Felzenszwalb & Huttenlocher [1]_): one pass per
    axis, computed only inside the bounding box of the foreground grown by one
    voxel (outside it every voxel is 0). It agrees with scipy to about 1e-15
    relative (ties between equally near zeros can change the last bit).

    Extra memory: besides the float64 output (8 bytes per voxel), a uint8
    copy of the background (1 byte per voxel) and a few scratch lines per
    chunk of work.

    References
    ----------
    .. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Distance Transforms of
       Sampled Functions", Theory of Computing 8 (2012), 415-428.

    Examples
    --------
    >>> import numpy as np
    >>> from fastseg.transform import edt
    >>> mask = np.array([[0, 1, 1, 1, 1]])
    >>> edt(mask)
    array([[0., 1., 2., 3., 4.]])
    >>> edt(mask, spacing=(1.0, 0.5))
    array([[0. , 0.5, 1. , 1.5, 2. ]])
    >>> edt(np.ones((1, 3)))
    array([[inf, inf, inf]])
    """
    a = v.as_array(mask, "mask")
    if a.ndim not in (2, 3):
        raise v.InputValueError(
            f"edt supports 2D and 3D masks; got an array with {a.ndim} dimensions (shape {a.shape})."
        )
    # any finite positive spacing: the kernel runs on the spacing scaled by a power of two when squared
    # distances would leave float64's range, and the result is scaled back (exact)
    sp, k = unit_spacing(v.normalize_spacing(spacing, a.ndim, distances=True))
    sp = np.ascontiguousarray(sp, dtype=np.float64)
    n_threads = v.check_threads(threads)
    # Features of the kernel = background voxels, as a C-ordered uint8 array
    # made in one pass whatever the input layout, dtype or byte order.
    features = np.empty(a.shape, np.uint8)
    np.logical_not(a, out=features.view(bool))
    out = np.empty(a.shape, np.float64)  # numpy allocates large arrays on huge pages
    features3 = as3(features)  # 2D: a (1, H, W) view with spacing (1.0, s0, s1)
    with thread_limit(n_threads):
        distance_to_features_into(features3, spacing3(sp), out.reshape(features3.shape), tuning.SMALL_TRANSFORM)
    if k:
        with np.errstate(over="ignore", under="ignore"):  # a distance beyond float64 is inf, silently
            np.ldexp(out, k, out=out)
    return out
