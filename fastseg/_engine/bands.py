"""The inner bands of two cropped masks, for boundary IoU: ``(|Bp & Br|, |Bp | Br|)``.

A mask's band is its voxels near its own border: within ``width`` (spacing units) of the background
(fastseg, the image edge a boundary), or closer than ``width`` voxels to its border voxels
(MetricsReloaded, ``conv.band == "voxels"``). Both are computed by the Euclidean distance transform
(:mod:`fastseg._kernels.edt`) over the crop.

**Stray voxels.** A crop is the box of both masks; a few stray voxels far from the structure make it
the whole image, and a transform over it costs the image, not the structure (a salted organ: 0.74 s
against 72 ms). Whether a voxel is in its mask's band depends only on the masks within ``width`` of
it. So a large crop whose foreground is sparse is cut into **groups**: boxes around the foreground,
padded by more than the band's reach on every axis (:func:`band_pad`) and merged until no two padded
boxes meet (:func:`groups`), found from which blocks of 8 voxels a side hold foreground
(:func:`fastseg._engine.components.occupied_blocks`, one pass that skips empty words). Every
foreground voxel then lies in exactly one group's box, at least ``pad`` voxels inside it where the box
does not reach the crop's edge; every background voxel, border voxel and image edge within the band's
reach of it is in the box as in the crop, and nothing beyond the box is within reach. Each group's box
is computed as a crop is (the transform sees fewer, farther features: a voxel's distance within reach
is the minimum over the same nearest features) and the counts are summed. Crops of fewer than
``tuning.LABELWISE_MIN_VOXELS`` voxels, crops whose foreground fills an eighth of them or more
(``tuning.SPARSE_MASK``: one compact structure), and crops whose groups would hold half of them or
more take the crop whole, as before.
"""
import functools
import math

import numpy as np

from .._kernels import edt as _kedt
from .._kernels import tuning
from .._kernels._jit import serial_if_small
from .components import occupied_blocks
from .counts import as3, spacing3
from .distances import dense_boundary, unit_spacing

__all__ = ["band_counts", "band_pad", "groups"]

#: the side, in voxels, of the blocks whose foreground the groups are found from
BLOCK = 8
#: groups whose box holds at most this many voxels are computed together (:func:`_packed`)
PACK_MAX = 1 << 16


def band_counts(pc, rc, sp, width, conv=None, grouped=None):
    """``(|Bp & Br|, |Bp | Br|)`` for the inner bands of two cropped masks (C-ordered uint8, 2D or 3D,
    the union inside), at any finite positive spacing (spacing and width scaled by the same power of
    two, :func:`fastseg._engine.distances.unit_spacing`). ``conv.band == "voxels"`` (MetricsReloaded):
    a mask's voxels closer than ``width`` voxels (unit spacing, strictly) to its own border voxels
    (``conv.connectivity``, the image edge a boundary).

    ``grouped``: None chooses (module docstring); True or False forces the groups or the whole crop
    (the tests compare both)."""
    voxels = conv is not None and conv.band == "voxels"
    if voxels:
        band = functools.partial(_voxel_band, is2d=pc.ndim == 2, width=width, connectivity=conv.connectivity)
    else:
        sp, k = unit_spacing(sp)
        width = math.ldexp(width, -k)
        band = functools.partial(_band, is2d=pc.ndim == 2, sp3=spacing3(sp), w2=width * width)
    found = None
    if grouped or (grouped is None and pc.size >= tuning.LABELWISE_MIN_VOXELS
                   and (np.count_nonzero(pc) + np.count_nonzero(rc)) * tuning.SPARSE_MASK < pc.size):
        found = groups(pc, rc, band_pad(pc.ndim, sp, width, voxels))
        if grouped is None and 2 * sum(_volume(box) for box, _ in found) >= pc.size:
            found = None
    if found is None:
        with serial_if_small(pc.size):
            return _counts(band(pc), band(rc))
    shelves = {}  # small groups by their box's other two sides, each rounded up to a power of two
    a = 0 if pc.ndim == 3 else 1  # the stacking axis of the 3D view (_packed)
    for g in found:
        if _volume(g[0]) <= PACK_MAX:
            sides = tuple(1 << (s.stop - s.start - 1).bit_length() for i, s in enumerate(g[0]) if i != a)
            shelves.setdefault(sides, []).append(g)
    work = [_packed(pc, rc, small, a) for small in shelves.values()]
    for box, own in found:
        if _volume(box) > PACK_MAX:
            sub = box[3 - pc.ndim:]
            work.append((np.ascontiguousarray(pc[sub]), np.ascontiguousarray(rc[sub]), own))
    inter = union = 0
    for pb, rb, own in work:
        with serial_if_small(pb.size):
            i, u = _counts(band(pb), band(rb), own)
        inter += i
        union += u
    return inter, union


def _packed(pc, rc, small, a):
    """The boxes of ``small`` groups side by side in one pair of arrays, in the crop's number of
    dimensions, and which of their voxels are the groups' own: stacked along the first axis of the
    crop (its rows in 2D), each followed by an empty plane (row), at the start of the others (the
    rest empty). An empty voxel is background, as beyond a group's box: within a box every own voxel
    is at least ``pad`` from a side that is not the crop's edge, and where it is the crop's edge the
    empty plane is what lies beyond the crop. So each own voxel's band test sees what it sees in its
    own box, at one transform per mask for all the small groups (a salted organ: 596 groups, 0.2 s
    one by one). ``a``: the stacking axis of the 3D view; the groups' other sides are alike (the
    caller's shelves), so little of the arrays is empty."""
    dims = np.array([[s.stop - s.start for s in box] for box, _ in small])
    shape = list(dims.max(axis=0))
    shape[a] = int(np.sum(dims[:, a] + 1))
    p3, r3 = as3(pc), as3(rc)
    out = [np.zeros(shape, np.uint8), np.zeros(shape, np.uint8), np.zeros(shape, bool)]
    at = 0
    for (box, own), d in zip(small, dims):
        place = [slice(0, int(n)) for n in d]
        place[a] = slice(at, at + int(d[a]))
        place = tuple(place)
        out[0][place] = p3[box]
        out[1][place] = r3[box]
        out[2][place] = True if own is None else own
        at += int(d[a]) + 1
    if pc.ndim == 2:
        out[0], out[1] = out[0][0], out[1][0]
    return out[0], out[1], out[2]


def band_pad(ndim, sp, width, voxels):
    """Voxels per axis of the 3D view beyond which nothing reaches a voxel's band test: more than
    ``width`` (spacing units, or voxels with ``voxels``) on each axis, one voxel to spare for the border
    voxels' own neighbourhood; 0 on the dummy axis of a 2D crop."""
    sp3 = np.ones(3) if voxels else spacing3(sp)
    pad = [int(math.ceil(width / float(s))) + 1 for s in sp3]
    if ndim == 2:
        pad[0] = 0
    return pad


def groups(pc, rc, pad):
    """``[(box, own)]``: per group of foreground blocks (26-connected blocks of ``BLOCK`` voxels a side
    holding foreground of ``pc`` or ``rc``), its box (3 slices of the crop's 3D view: the box of the
    group's foreground padded by ``pad`` voxels per axis, clipped to the crop) and which of the box's
    voxels are the group's own (bool, the box's shape; None when the box holds no other group's
    block). Every foreground voxel is the own voxel of exactly one group, at least ``pad`` voxels
    inside its box unless the box reaches the crop's edge there. The box of a small group is its
    blocks' box, padded; a larger one is cut to its foreground first (one look at its blocks)."""
    p3, r3 = as3(pc), as3(rc)
    shape = p3.shape
    block = [min(BLOCK, int(n)) for n in shape]
    occ = occupied_blocks(pc, block) | occupied_blocks(rc, block)
    from scipy import ndimage  # a grid of blocks: small

    labels, _ = ndimage.label(occ, structure=np.ones((3, 3, 3), bool))
    out = []
    for g, sl in enumerate(ndimage.find_objects(labels), start=1):
        lo = [s.start * b for s, b in zip(sl, block)]
        hi = [min(s.stop * b, n) for s, b, n in zip(sl, block, shape)]
        if math.prod(h - l_ for l_, h in zip(lo, hi)) > PACK_MAX:  # cut to the group's own foreground
            inner = tuple(slice(l_, h) for l_, h in zip(lo, hi))
            fg = p3[inner] | r3[inner]
            own = _own(labels, g, inner, block)
            if own is not None:  # not another group's voxels
                fg &= own
            for ax in range(3):
                on = np.flatnonzero(fg.any(axis=tuple(x for x in range(3) if x != ax)))
                lo[ax], hi[ax] = lo[ax] + int(on[0]), lo[ax] + int(on[-1]) + 1
        box = tuple(slice(max(l_ - p, 0), min(h + p, n)) for l_, h, p, n in zip(lo, hi, pad, shape))
        out.append((box, _own(labels, g, box, block)))
    return out


def _own(labels, g, box, block):
    """Which voxels of ``box`` lie in a block of group ``g`` or in no group's block (bool); None when
    that is every voxel."""
    near = labels[tuple(slice(x.start // b, -(-x.stop // b)) for x, b in zip(box, block))]
    own = (near == g) | (near == 0)
    if own.all():
        return None
    for ax, (x, b) in enumerate(zip(box, block)):  # blocks to voxels, axis by axis, then cut to the box
        own = np.repeat(own, b, axis=ax)
    return own[tuple(slice(x.start % b, x.start % b + x.stop - x.start) for x, b in zip(box, block))]


def _volume(box):
    return math.prod(s.stop - s.start for s in box)


def _counts(bp, br, own=None):
    both, either = bp & br, bp | br
    if own is not None:
        both &= own
        either &= own
    return int(np.count_nonzero(both)), int(np.count_nonzero(either))


def _voxel_band(m, is2d, width, connectivity):
    """MetricsReloaded's band of ``m`` in its 3D view (bool)."""
    m3 = np.ascontiguousarray(as3(m))
    border = dense_boundary(m3, connectivity, is2d)
    sq = np.empty(m3.shape, np.float64)
    _kedt.sq_distance_to_features_into(border, np.ones(3), sq, tuning.SMALL_TRANSFORM)
    return (m3 != 0) & (np.sqrt(sq) < width)


def _band(m, is2d, sp3, w2):
    """The voxels of ``m`` within ``sqrt(w2)`` of the background, the image edge a boundary, in its 3D
    view (bool)."""
    m3 = as3(m)
    padded = np.zeros(tuple(n + 2 for n in m3.shape), np.uint8)
    inner = tuple(slice(1, -1) for _ in range(3))
    padded[inner] = m3
    if is2d:  # no padding along the dummy axis
        padded = np.ascontiguousarray(padded[1:2])
        inner = (slice(0, 1), slice(1, -1), slice(1, -1))
    background = (padded == 0).view(np.uint8)
    sq = np.empty(background.shape, np.float64)
    _kedt.sq_distance_to_features_into(background, sp3, sq, tuning.SMALL_TRANSFORM)
    return (m3 != 0) & (sq[inner] <= w2)
