"""Skeletons and clDice inside a crop: the engine of the topology metrics.

A topology-preserving skeleton of each mask (:mod:`fastseg._kernels.skeleton`): in 2D the
two-sub-iteration thinning of scikit-image's default ``skeletonize`` (Zhang & Suen style), in 3D the
thinning of Lee, Kashyap & Chu (1994); then two intersection counts, from which clDice follows. See
:mod:`fastseg.metrics.topology` for the definitions and the ``method`` choice.
"""
import numpy as np

from .. import _validation as v
from .._kernels import skeleton as _ksk
from ..conventions import PRESETS
from .counts import empty_state

__all__ = ["thin", "cldice_in_crop"]

_ZHANG = _ksk.zhang_table()
_EULER = _ksk.euler_table()
_OCTANTS = _ksk.octant_bits()


def thin(m, one_slice, full_recheck):
    """uint8 skeleton of a C-contiguous uint8 2D/3D mask (already cropped)."""
    if m.ndim == 2:
        return _ksk.thin_2d(m, _ZHANG)
    return _ksk.thin_3d(m, 4 if one_slice else 6, full_recheck, _EULER, _OCTANTS)


def cldice_in_crop(pc, rc, *, method="fastseg", one_slice=False, convention=None):
    """clDice of two masks already validated and cropped to the bounding box of their union.

    ``pc``, ``rc``: C-contiguous uint8 arrays (values 0/1) of the same 2D or 3D shape; no validation
    and no counting pass beyond the crop. ``one_slice`` must be True only when the uncropped image is
    3D with a single slice along axis 0 (scikit-image then sweeps 4 border directions instead of 6).
    The thinning kernels release the GIL, so callers may run pairs in threads. Empty masks and empty
    skeletons follow ``convention`` (a :class:`fastseg.conventions.Convention`; None: fastseg's rules,
    see :func:`fastseg.topology.cldice`). Returns a Python float.
    """
    full = v.skeleton_method(method)
    conv = PRESETS["fastseg"] if convention is None else convention
    any_p = bool(pc.any())
    any_r = bool(rc.any())
    if not (any_p and any_r):
        return conv.empty_cldice(empty_state(int(any_p), int(any_r)))
    sp = thin(pc, one_slice, full).view(bool)
    sr = thin(rc, one_slice, full).view(bool)
    # A skeleton is never empty for a non-empty mask with method="fastseg"; with "skimage" it can be
    # (its flaw): the convention decides (fastseg: no overlap, 0.0; MetricsReloaded: NaN).
    return conv.cldice_from(int(np.count_nonzero(sp & rc.view(bool))), int(np.count_nonzero(sp)),
                            int(np.count_nonzero(sr & pc.view(bool))), int(np.count_nonzero(sr)))
