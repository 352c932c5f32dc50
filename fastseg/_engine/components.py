"""Connected components of a binary mask: labels in scipy's numbering, and per-component sizes and
bounding boxes in one pass.

The shared computation behind instance-wise (lesion-wise) metrics. Inputs arrive validated (a
C-contiguous uint8 mask of 0/1, 2D or 3D) and are not checked again here, except the connectivity, a
user option passed through. 2D arrays run through the 3D kernels as ``(1, H, W)`` views with in-plane
neighbourhoods. Labels are exactly ``scipy.ndimage.label``'s (same numbering) for any thread count;
the algorithm is in :mod:`fastseg._kernels.components`.
"""
import numpy as np

from .. import _validation as v
from .._kernels import components as _k
from .._kernels import tuning
from .._kernels._jit import serial_if_small
from .chunks import chunk_ranges, run_chunks
from .counts import as3

__all__ = ["CONNECTIVITIES", "label_components", "component_stats", "occupied_blocks", "label_blocks"]

#: allowed connectivities per number of dimensions; the default is the largest (8 / 26)
CONNECTIVITIES = {2: (4, 8), 3: (6, 18, 26)}

#: the kernel's run indices are int32: a mask that could hold more runs (a row of ``X`` voxels holds
#: up to ``ceil(X / 2)``) goes to scipy.ndimage.label (the same numbering)
_MAX_RUNS = 2**31 - 1

#: the kernel's run-contact tolerances (ty, tz, tzy) of each connectivity (see the kernel module)
_TOLERANCES = {4: (0, -1, -1), 8: (1, -1, -1), 6: (0, 0, -1), 18: (1, 1, 0), 26: (1, 1, 1)}


def _connectivity(ndim, connectivity):
    """The connectivity to use (the full neighbourhood for None); InputValueError if not allowed."""
    allowed = CONNECTIVITIES.get(ndim)
    if allowed is None:
        raise v.InputValueError(f"connected components are defined here for 2D and 3D masks, got {ndim}D")
    if connectivity is None:
        return allowed[-1]
    if isinstance(connectivity, (bool, np.bool_)) or not isinstance(connectivity, (int, np.integer)) \
            or int(connectivity) not in allowed:
        raise v.InputValueError(f"connectivity must be one of {', '.join(map(str, allowed))} for a "
                                f"{ndim}D mask (or None: {allowed[-1]}), got {connectivity!r}")
    return int(connectivity)


def _words(a):
    """``a`` flat and its first ``8 * (nbytes // 8)`` bytes as uint64 words, both read-only (one kernel
    specialisation whoever owns the array; the kernels skip empty stretches a word at a time). ``a`` is
    copied first in the rare case it is not 8-byte aligned."""
    if a.ctypes.data % 8:
        a = a.copy()
    flat = v.readonly(a.reshape(-1))
    k = 8 // a.itemsize
    return flat, flat[: flat.size // k * k].view(np.uint64)


def label_components(mask, connectivity=None):
    """Connected components of a validated C-contiguous uint8 mask (values 0/1), 2D or 3D.

    connectivity: 4 or 8 (2D), 6, 18 or 26 (3D); None: the full neighbourhood (8 / 26).
    Returns (labels, n): labels int32 array of mask's shape, 0 background, components numbered
    1..n in raster order of their first voxel (C order) — this exact numbering is part of the contract
    (it is what scipy.ndimage.label gives), so results are deterministic.
    """
    conn = _connectivity(mask.ndim, connectivity)
    if mask.dtype != np.uint8:  # one kernel specialisation: uint8, C order
        mask = (mask != 0).view(np.uint8)
    mask = np.ascontiguousarray(mask)
    labels = np.zeros(mask.shape, np.int32)  # calloc: pages of background are never written
    if mask.size == 0:
        return labels, 0
    Z, Y, X = as3(mask).shape
    if Z * Y * ((X + 1) // 2) > _MAX_RUNS:  # more runs than the kernel's int32 run indices could hold
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(mask.ndim, CONNECTIVITIES[mask.ndim].index(conn) + 1)
        return labels, int(ndimage.label(mask, structure=structure, output=labels))
    with serial_if_small(mask.size):
        n = _k.label_into(*_words(mask), labels.reshape(-1), Z, Y, X, *_TOLERANCES[conn], tuning.NCHUNKS)
    return labels, int(n)


def component_stats(labels, n):
    """One pass over a labels array: (sizes int64 (n+1,), boxes int64 (n+1, 2*ndim)) with boxes as
    inclusive [min0, max0, min1, max1, ...] per component (index 0 = background, its box unused).
    A label in 1..n with no voxel has size 0 and the empty box [2**62, -1, 2**62, -1, ...]."""
    ndim = labels.ndim
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    Z, Y, X = as3(labels).shape
    n = int(n)
    # per-chunk buffers within a memory budget (the result does not depend on the chunks: integers)
    nchunks = max(1, min(tuning.NCHUNKS, tuning.COMPONENT_BUFFERS // (56 * (n + 1))))
    with serial_if_small(labels.size):
        sizes, boxes = _k.component_stats(*_words(labels), Z, Y, X, n, nchunks)
    return sizes, np.ascontiguousarray(boxes[:, 6 - 2 * ndim:])


def occupied_blocks(masks, block):
    """Which blocks of validated C-contiguous uint8 masks (2D or 3D, one shape) hold foreground in any
    of them: a uint8 grid of shape ``ceil(shape3 / block)`` over their 3D view (2D as ``(1, H, W)``),
    1 where the block of ``block`` voxels per axis (a sequence of 3 ints) holds a non-zero voxel
    (:func:`label_blocks` of the label 1: a sparse mask costs little more than reading its empty
    words)."""
    return label_blocks(masks, [1], block)[1]


def label_blocks(maps, labels, block):
    """Which blocks of two validated label maps (uint8 or uint16, C-contiguous, 2D or 3D, one shape)
    hold each of ``labels``: ``{label: uint8 grid}`` of shape ``ceil(shape3 / block)`` over the maps'
    3D view, 1 where the block holds the label in either map. One pass over each map (rows in ranges
    on threads side by side, zero stretches skipped a word at a time), for every label at once."""
    Z, Y, X = as3(maps[0]).shape
    bz, by, bx = (int(b) for b in block)
    labels = [int(x) for x in labels]
    out = np.zeros((max(len(labels), 1), -(-Z // bz), -(-Y // by), -(-X // bx)), np.uint8)
    for m in maps:
        if m.size == 0 or not labels:
            continue
        slot = np.full(1 << (8 * m.itemsize), -1, np.int32)
        for i, lab in enumerate(labels):
            if lab < slot.size:
                slot[lab] = i
        a, w = _words(np.ascontiguousarray(m))
        shift = 3 if m.itemsize == 1 else 2
        run_chunks(lambda lo, hi: _k.label_blocks(a, w, shift, Z, Y, X, bz, by, bx, slot, out, lo, hi),
                   chunk_ranges(Z * Y, m.size))
    return {lab: out[i] for i, lab in enumerate(labels)}
