"""Topology-aware metrics: skeletons and centreline Dice (clDice).

Pipeline for a pair of binary masks (2D or 3D):

1. one pass over both volumes: foreground counts, a check that values are 0/1, and the bounding box of
   each mask (the label kernel, as for surface distances);
2. crop to the bounding box of the union (exact: thinning never looks further than one voxel outside
   the foreground, and voxels outside the array are background);
3. a topology-preserving skeleton of each mask (:mod:`fastseg._engine.skeletons`): in 2D the two-sub-iteration
   thinning of scikit-image's default ``skeletonize`` (Zhang & Suen style), in 3D the thinning of
   Lee, Kashyap & Chu (1994);
4. two intersection counts, from which clDice follows.

``method="skimage"`` reproduces ``skimage.morphology.skeletonize`` (scikit-image <= 0.26) voxel for
voxel, including a known flaw of its 3D re-check that can erase thin components; the default
``method="fastseg"`` differs from it only by re-checking all of Lee et al.'s conditions before each
deletion, which provably keeps the topology of every mask (each deletion is of a simple point). 2D
skeletons are the same in both; the 2D table is a parallel algorithm whose topology preservation is
checked by the tests on random masks (components and Euler number), not proven here.
"""
import numpy as np

from .. import _validation as v
from .._engine.counts import BOTH_EMPTY, counts_and_box, crop, empty_state
from .._engine.skeletons import cldice_in_crop, thin
from .._kernels._jit import thread_limit
from ..conventions import get_convention

__all__ = ["skeletonize", "cldice"]

METHODS = v.SKELETON_METHODS


def _box(m):
    """Bounding box of the nonzero voxels of one mask as a tuple of slices, None when empty (a few
    serial NumPy passes: cheaper than a parallel kernel launch for one mask)."""
    box = []
    for axis in range(m.ndim):
        hit = np.flatnonzero(m.any(axis=tuple(a for a in range(m.ndim) if a != axis)))
        if hit.size == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)



def skeletonize(mask, *, method="fastseg"):
    """Topology-preserving skeleton of a binary 2D or 3D mask.

    Parameters
    ----------
    mask : array_like, shape (M, N[, P])
        Binary mask (bool, or numbers all 0 or 1). Any memory order; axes are array axes.
    method : {"fastseg", "skimage"}, optional
        ``"fastseg"`` (default): thinning that keeps the topology of every mask. ``"skimage"``:
        identical to ``skimage.morphology.skeletonize`` (scikit-image <= 0.26), flaw included (see
        Notes). In 2D both give the same skeleton.

    Returns
    -------
    ndarray of bool, same shape as ``mask``
        True on the skeleton; always a subset of the mask.

    Raises
    ------
    ValueError
        The mask is not 2D or 3D, holds values other than 0 and 1, or ``method`` is unknown.
    TypeError
        The mask is not a numeric array.

    Notes
    -----
    2D: two-sub-iteration parallel thinning (Zhang & Suen, 1984) with scikit-image's removal table;
    each sub-iteration removes together the pixels its table marks, judged on their 8-neighbourhood at
    its start, until nothing changes. The result equals scikit-image's default 2D ``skeletonize``:
    8-connected and one pixel wide along branches (a 2 x 2 block can remain at some junctions).

    3D: Lee, Kashyap & Chu (1994), sweeping the six border directions in scikit-image's order. For
    each direction the candidates are foreground voxels whose face neighbour in that direction is
    background, that are not end points (one 26-neighbour), whose deletion keeps the Euler
    characteristic (a lookup table over the 8 octants of the 3x3x3 neighbourhood) and whose
    26-neighbours form one 26-connected component; candidates are then deleted one by one in raster
    order if they still meet every condition in the current image, which keeps the topology (number
    of components, tunnels and cavities). scikit-image (and ImageJ's Skeletonize3D) re-check only the
    last condition, which can erase whole components (a 4 x 4 x N bar vanishes; scikit-image issue
    #3757): ``method="skimage"`` reproduces that, for comparison with published numbers.

    A 3D mask with a single slice along axis 0 is thinned with the four in-plane directions only, as
    scikit-image does. Voxels outside the array are background. Work is proportional to the bounding
    box of the mask (visited once) plus the foreground times the number of thinning sweeps; extra
    memory is about 10 bytes per voxel of the bounding box.

    References
    ----------
    T.-C. Lee, R. L. Kashyap, C.-N. Chu (1994). Building skeleton models via 3-D medial surface/axis
    thinning algorithms. CVGIP: Graphical Models and Image Processing 56(6), 462-478.

    T. Y. Zhang, C. Y. Suen (1984). A fast parallel algorithm for thinning digital patterns.
    Communications of the ACM 27(3), 236-239.

    Examples
    --------
    >>> import numpy as np
    >>> from fastseg.topology import skeletonize
    >>> bar = np.zeros((9, 5), bool); bar[1:8, 1:4] = True
    >>> skeletonize(bar).view(np.uint8)
    array([[0, 0, 0, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    full = v.skeleton_method(method)
    a = v.as_array(mask, "mask")
    v.check_ndim(a, (2, 3), "skeletonize", "mask")
    m, _ = v.uint8_mask(a, "mask")
    m = np.ascontiguousarray(m)
    out = np.zeros(m.shape, dtype=bool)
    if m.size == 0:
        return out
    if a.dtype != bool:
        v.raise_if_not_binary("mask", np.count_nonzero(m > 1), m.size)
    box = _box(m)
    if box is None:
        return out
    one_slice = m.ndim == 3 and m.shape[0] == 1
    out[box] = thin(np.ascontiguousarray(m[box]), one_slice, full).view(bool)
    return out


def cldice(pred, ref, *, method=None, threads=None, convention=None):
    """Centreline Dice (clDice) of two binary 2D or 3D masks.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary masks of the same shape (bool, or numbers all 0 or 1). Any memory order.
    method : {"fastseg", "skimage"}, optional
        Skeleton used, as in :func:`skeletonize`: ``"fastseg"`` (topology-preserving) or
        ``"skimage"`` (identical to ``skimage.morphology.skeletonize``, as in the reference
        implementation of clDice and in MetricsReloaded). Default: the convention's ``skeleton``
        (``"fastseg"`` for the default convention).
    threads : int, optional
        Number of threads of the counting pass (thinning is sequential by nature). Results do not
        depend on it.
    convention : str or Convention, optional
        Default ``"fastseg"``. ``"metricsreloaded"`` reproduces MetricsReloaded's ``cldice``
        (``centreline_dsc``): scikit-image's skeleton, and NaN when a skeleton is empty (so when a
        mask is empty, both included: its "both empty" branch compares methods to 0 and never runs)
        or when nothing overlaps (0 / 0).

    Returns
    -------
    float
        In [0, 1]; 1.0 when both masks are empty, 0.0 when exactly one is (``"metricsreloaded"``:
        NaN in both cases).

    Raises
    ------
    ValueError
        Shapes differ, masks are not binary, not 2D/3D, or ``method`` is unknown.
    TypeError
        A mask is not a numeric array, or ``threads`` is not an integer.

    Notes
    -----
    With :math:`S(X)` the skeleton of mask :math:`X` and :math:`|\\cdot|` a voxel count,

    .. math::

        T_{prec} = \\frac{|S(pred) \\cap ref|}{|S(pred)|}, \\quad
        T_{sens} = \\frac{|S(ref) \\cap pred|}{|S(ref)|}, \\quad
        \\mathrm{clDice} = \\frac{2\\, T_{prec}\\, T_{sens}}{T_{prec} + T_{sens}},

    and 0.0 when :math:`T_{prec} + T_{sens} = 0`. Empty masks (DESIGN section 5): both empty gives
    1.0, one empty gives 0.0; under the default convention the result is never NaN (with
    ``method="skimage"`` a skeleton that vanished from a non-empty mask makes its ratio 0.0). Voxel
    counts (as in the paper and MetricsReloaded) make clDice independent of spacing: on anisotropic
    grids a skeleton voxel counts once whatever length it stands for. Work after the counting pass is limited to the bounding box of the union of the masks;
    extra memory is about 12 bytes per voxel of that box.

    References
    ----------
    S. Shit, J. C. Paetzold, A. Sekuboyina, I. Ezhov, A. Unger, A. Zhylka, J. P. W. Pluim, U. Bauer,
    B. H. Menze (2021). clDice - a novel topology-preserving loss function for tubular structure
    segmentation. CVPR, 16560-16569.

    Examples
    --------
    A bar three pixels thick, and the same bar shifted by one pixel across: each centreline still lies
    inside the other mask, so clDice is 1 although Dice is 2/3.

    >>> import numpy as np, fastseg
    >>> from fastseg.topology import cldice
    >>> ref = np.zeros((12, 7), bool); ref[1:11, 2:5] = True
    >>> pred = np.roll(ref, 1, axis=1)
    >>> cldice(pred, ref), round(fastseg.dice(pred, ref), 4)
    (1.0, 0.6667)
    """
    conv = get_convention("fastseg" if convention is None else convention)
    full = v.skeleton_method(conv.skeleton if method is None else method)
    n_threads = v.check_threads(threads)
    p, r = v.binary_pair(pred, ref)
    v.check_ndim(p, (2, 3), "clDice")
    if p.size == 0:
        return conv.empty_cldice(BOTH_EMPTY)
    with thread_limit(n_threads):
        n_pred, n_ref, box = counts_and_box(p, r)
    if n_pred == 0 or n_ref == 0:
        return conv.empty_cldice(empty_state(n_pred, n_ref))
    return cldice_in_crop(*crop([p, r], box), method="fastseg" if full else "skimage",
                          one_slice=p.ndim == 3 and p.shape[0] == 1, convention=conv)
