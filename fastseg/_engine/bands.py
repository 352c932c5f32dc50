"""The inner bands of two cropped masks, for boundary IoU: ``(|Bp & Br|, |Bp | Br|)``.

A mask's band is its voxels near its own border: within ``width`` (spacing units) of the background
(fastseg, the image edge a boundary), or closer than ``width`` voxels to its border voxels
(MetricsReloaded, ``conv.band == "voxels"``). Both are computed by the Euclidean distance transform
(:mod:`fastseg._kernels.edt`) over the crop.

**Stray voxels.** A crop is the box of both masks; a few stray voxels far from the structure make it
the whole image, and a transform over it costs the image, not the structure (a salted organ: 0.66 s
against 62 ms). Whether a voxel is in its mask's band depends only on the masks within ``width`` of
it. So a large crop whose foreground is sparse is cut into **groups** (:func:`groups`): the
26-connected sets of blocks of ``BLOCK`` voxels a side that hold foreground (found in one pass that
skips empty words, :func:`fastseg._engine.components.occupied_blocks`), each with its box: the box of
its foreground padded by more than the band's reach on every axis (:func:`band_pad`). Boxes may
overlap; each group counts only its **own** voxels, those of its blocks. Every foreground voxel is
the own voxel of exactly one group, at least ``pad`` voxels inside its box where the box does not
reach the crop's edge, so every background voxel, border voxel and image edge within the band's reach
of it is in the box as in the crop, and nothing beyond the box is within reach. Each group's box is
computed as a crop is (the transform sees fewer, farther features: a voxel's distance within reach is
the minimum over the same nearest features), small ones side by side in one array (:func:`_packed`),
and the counts are summed. Crops of fewer than ``tuning.LABELWISE_MIN_VOXELS`` voxels, crops whose
foreground fills an eighth of them or more (``tuning.SPARSE_MASK``: one compact structure), and crops
whose groups would hold half of them or more take the crop whole, as before.

For :func:`fastseg.evaluate`, :func:`band_grids` finds the blocks of every label of two label maps in
one pass (:func:`fastseg._engine.components.label_blocks`) and :func:`structure_band_counts` reads a
structure's masks only inside its groups' boxes: a large sparse structure is never made a mask over
its whole box.
"""
import functools
import math

import numpy as np

from .._kernels import edt as _kedt
from .._kernels import tuning
from .._kernels._jit import serial_if_small
from .components import label_blocks, occupied_blocks
from .counts import as3, spacing3
from .distances import dense_boundary, unit_spacing

__all__ = ["band_counts", "band_grids", "structure_band_counts", "band_pad", "groups", "BLOCK"]

#: the side, in voxels, of the blocks whose foreground the groups are found from
BLOCK = 8
#: groups whose box holds at most this many voxels are computed together (:func:`_packed`)
PACK_MAX = 1 << 16


def band_counts(pc, rc, sp, width, conv=None, grouped=None, foreground=None):
    """``(|Bp & Br|, |Bp | Br|)`` for the inner bands of two cropped masks (C-ordered uint8, 2D or 3D,
    the union inside), at any finite positive spacing (spacing and width scaled by the same power of
    two, :func:`fastseg._engine.distances.unit_spacing`). ``conv.band == "voxels"`` (MetricsReloaded):
    a mask's voxels closer than ``width`` voxels (unit spacing, strictly) to its own border voxels
    (``conv.connectivity``, the image edge a boundary).

    ``grouped``: None chooses (module docstring); True or False forces the groups or the whole crop
    (the tests compare both). ``foreground``: the voxels of both masks together when the caller has
    counted them (else counted here, for large crops)."""
    band, pad = _rule(pc.ndim, sp, width, conv)
    found = None
    if grouped is None and pc.size >= tuning.LABELWISE_MIN_VOXELS and foreground is None:
        foreground = np.count_nonzero(pc) + np.count_nonzero(rc)
    if grouped or (grouped is None and pc.size >= tuning.LABELWISE_MIN_VOXELS
                   and foreground * tuning.SPARSE_MASK < pc.size):
        p3, r3 = as3(pc), as3(rc)

        def fetch(box):
            return p3[box], r3[box]

        block = [min(BLOCK, int(n)) for n in p3.shape]
        found = groups(occupied_blocks((pc, rc), block), block, p3.shape, pad, fetch)
        if grouped is None and 2 * sum(_volume(box) for box, _ in found) >= pc.size:
            found = None
    if found is None:
        with serial_if_small(pc.size):
            return _counts(band(pc), band(rc))
    return _grouped_counts(found, fetch, band, pc.ndim)


def band_grids(p, r, structures):
    """``{label: grid}`` (:func:`fastseg._engine.components.label_blocks`, blocks of ``BLOCK``) of the
    labels of the large sparse structures among ``structures`` (``(members, confusion, box size)``:
    a box of ``tuning.LABELWISE_MIN_VOXELS`` voxels or more whose foreground fills less than an
    eighth of it, as :func:`band_counts` chooses), one pass over the two label maps for all of them;
    None when there is none."""
    labels = set()
    for members, c, size in structures:
        if size >= tuning.LABELWISE_MIN_VOXELS and (2 * c.tp + c.fp + c.fn) * tuning.SPARSE_MASK < size:
            labels.update(members)
    if not labels:
        return None
    return label_blocks((p, r), sorted(labels), [min(BLOCK, int(n)) for n in as3(p).shape])


def structure_band_counts(grids, box, masks, shape, sp, width, conv=None):
    """:func:`band_counts` of one structure of two label maps (2D or 3D, ``shape``) inside its
    ``box`` (slices), from the grids of its labels (:func:`band_grids`: which blocks of the maps' 3D
    view hold each label in either map). ``masks(box)``: the structure's binary uint8 masks of pred
    and ref inside a box of the maps (slices in the maps' dimensions). A box whose groups hold half of
    it or more is taken whole, as :func:`band_counts` takes it; otherwise only the groups' boxes are
    read, and the structure is never made a mask over its whole box."""
    grid = functools.reduce(np.bitwise_or, grids)
    ndim = len(shape)
    band, pad = _rule(ndim, sp, width, conv)
    shape3 = (1,) * (3 - ndim) + tuple(int(n) for n in shape)
    block = [min(BLOCK, n) for n in shape3]

    def fetch(b3):
        return tuple(as3(m) for m in masks(b3[3 - ndim:]))

    found = groups(grid, block, shape3, pad, fetch)
    if 2 * sum(_volume(b) for b, _ in found) >= math.prod(s.stop - s.start for s in box):
        pc, rc = (np.ascontiguousarray(m) for m in masks(box))
        with serial_if_small(pc.size):
            return _counts(band(pc), band(rc))
    return _grouped_counts(found, fetch, band, ndim)


def _rule(ndim, sp, width, conv):
    """``(band, pad)``: the band function of a mask (its 3D view, bool) and :func:`band_pad`."""
    voxels = conv is not None and conv.band == "voxels"
    if voxels:
        band = functools.partial(_voxel_band, is2d=ndim == 2, width=width, connectivity=conv.connectivity)
    else:
        sp, k = unit_spacing(sp)
        width = math.ldexp(width, -k)
        band = functools.partial(_band, is2d=ndim == 2, sp3=spacing3(sp), w2=width * width)
    return band, band_pad(ndim, sp, width, voxels)


def _grouped_counts(found, fetch, band, ndim):
    """The counts summed over the groups ``found`` (:func:`groups`), ``fetch(box)`` giving the two
    masks' 3D views inside a box; small groups side by side (:func:`_packed`)."""
    shelves = {}  # small groups by their box's other two sides, each rounded up to a power of two
    a = 0 if ndim == 3 else 1  # the stacking axis of the 3D view (_packed)
    for g in found:
        if _volume(g[0]) <= PACK_MAX:
            sides = tuple(1 << (s.stop - s.start - 1).bit_length() for i, s in enumerate(g[0]) if i != a)
            shelves.setdefault(sides, []).append(g)
    work = [_packed(fetch, small, a) for small in shelves.values()]
    for box, own in found:
        if _volume(box) > PACK_MAX:
            work.append((*(np.ascontiguousarray(m) for m in fetch(box)), own))
    inter = union = 0
    for pb, rb, own in work:
        with serial_if_small(pb.size):
            i, u = _counts(band(pb), band(rb), own)
        inter += i
        union += u
    return inter, union


def _packed(fetch, small, a):
    """The boxes of ``small`` groups side by side in one pair of 3D arrays, and which of their voxels
    are the groups' own: stacked along axis ``a`` of the 3D view (the first; the rows in 2D), each
    followed by an empty plane (row), at the start of the others (the rest empty). An empty voxel is
    background, as beyond a group's box: within a box every own voxel is at least ``pad`` from a side
    that is not the crop's edge, and where it is the crop's edge the empty plane is what lies beyond
    the crop. So each own voxel's band test sees what it sees in its own box, at one transform per
    mask for all the small groups (a salted organ: 596 groups, 0.2 s one by one). The groups' other
    sides are alike (the caller's shelves), so little of the arrays is empty."""
    dims = np.array([[s.stop - s.start for s in box] for box, _ in small])
    shape = list(dims.max(axis=0))
    shape[a] = int(np.sum(dims[:, a] + 1))
    out = [np.zeros(shape, np.uint8), np.zeros(shape, np.uint8), np.zeros(shape, bool)]
    at = 0
    for (box, own), d in zip(small, dims):
        place = [slice(0, int(n)) for n in d]
        place[a] = slice(at, at + int(d[a]))
        place = tuple(place)
        out[0][place], out[1][place] = fetch(box)
        out[2][place] = True if own is None else own
        at += int(d[a]) + 1
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


def groups(occ, block, shape, pad, fetch):
    """``[(box, own)]``: per group of foreground blocks (26-connected blocks of ``occ``, the grid of
    which blocks of ``block`` voxels hold foreground of either mask, over a 3D view of ``shape``), its
    box (3 slices: the box of the group's foreground padded by ``pad`` voxels per axis, clipped to
    ``shape``) and which of the box's voxels are the group's own (bool, the box's shape; None when the
    box holds no other group's block). Every foreground voxel is the own voxel of exactly one group,
    at least ``pad`` voxels inside its box unless the box reaches the edge there. The box of a small
    group is its blocks' box, padded; a larger one is cut to its foreground first (``fetch(box)``:
    the two masks' 3D views inside a box)."""
    from scipy import ndimage  # a grid of blocks: small

    labels, _ = ndimage.label(occ, structure=np.ones((3, 3, 3), bool))
    out = []
    for g, sl in enumerate(ndimage.find_objects(labels), start=1):
        lo = [s.start * b for s, b in zip(sl, block)]
        hi = [min(s.stop * b, n) for s, b, n in zip(sl, block, shape)]
        if math.prod(h - l_ for l_, h in zip(lo, hi)) > PACK_MAX:  # cut to the group's own foreground
            inner = tuple(slice(l_, h) for l_, h in zip(lo, hi))
            pb, rb = fetch(inner)
            fg = pb | rb
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
    view (bool). A voxel whose squared distance lies within rounding of ``w2`` is decided by the
    canonical sums (:func:`_reach`), not by the transform's rounding."""
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
    sq = sq[inner]
    fg = m3 != 0
    band = fg & (sq <= w2)
    offsets = _reach(tuple(float(x) for x in sp3), float(w2), is2d, background.shape)
    if offsets is not None:
        near = (sq >= w2 * (1 - TIE)) & (sq <= w2 * (1 + TIE))
        near &= fg
        near = np.argwhere(near)
        if near.size:
            band[tuple(near.T)] = _settle(near + [x.start for x in inner], background, offsets)
    return band


#: a squared distance within this (relative) of the squared width is decided by the canonical sums
TIE = 1e-9


@functools.lru_cache(maxsize=64)
def _reach(sp3, w2, is2d, shape):
    """The offsets ``(dk, dj, di)`` (int64 ``(n, 3)``) whose canonical squared length ``((dk sk)**2 +
    (dj sj)**2) + (di si)**2`` is at most ``w2`` and within rounding of it, with their lengths, when a
    band test can be a tie: some offset's length lies within ``TIE`` of ``w2`` and is not exact in
    floating point, so the transform (which sums the axes in its own order, over its own candidates)
    may round it to either side. None otherwise (no tie can arise: the transform decides). The
    canonical sums make the band of a voxel depend on the masks around it only, not on the box it is
    computed in. ``shape``: the array's, which bounds the offsets; the work is one pass over the
    ``(dk, dj)`` plane of the reach."""
    from fractions import Fraction

    # within reach, and within the array (the (padded) array ``shape``: beyond it, its empty border is
    # nearer). The offsets near the width's sphere: for each (dk, dj), the di on either side of it
    r = [0 if (is2d and a == 0) else min(math.ceil(math.sqrt(w2) * (1 + TIE) / s), n - 1)
         for a, (s, n) in enumerate(zip(sp3, shape))]
    dk, dj = (x.reshape(-1) for x in np.meshgrid(np.arange(-r[0], r[0] + 1), np.arange(-r[1], r[1] + 1), indexing="ij"))
    ab = (dk * sp3[0]) ** 2 + (dj * sp3[1]) ** 2
    root = np.floor(np.sqrt(np.maximum(w2 - ab, 0.0)) / sp3[2]).astype(np.int64)
    cand = [(dk, dj, sign * (root + step), ab) for sign in (1, -1) for step in (-1, 0, 1, 2)]
    dk, dj, di, ab = (np.concatenate(x) for x in zip(*cand))
    ok = (np.abs(di) <= r[2]) & (ab <= w2 * (1 + TIE))
    dk, dj, di = np.unique(np.stack([dk[ok], dj[ok], di[ok]], axis=1), axis=0).T
    length = (dk * sp3[0]) ** 2 + (dj * sp3[1]) ** 2 + (di * sp3[2]) ** 2
    close = np.abs(length - w2) <= TIE * w2

    def exact(x):  # a rational that a float holds exactly
        return Fraction(float(x)) == x

    for o in np.flatnonzero(close):  # a tie unless every product, square and sum of its length is exact
        steps = [int(x[o]) * Fraction(s) for x, s in zip((dk, dj, di), sp3)]
        t = [x * x for x in steps]
        if Fraction(w2) != sum(t) or not all(map(exact, steps + t + [t[0] + t[1], t[0] + t[2], t[1] + t[2]])):
            break
    else:
        return None
    # a voxel the transform leaves within TIE of w2 has no background nearer than (1 - TIE) w2 (the
    # transform is exact to a few ulps): only the offsets between that and w2 can decide it
    keep = (length <= w2) & (length >= w2 * (1 - 2 * TIE))
    return np.stack([dk[keep], dj[keep], di[keep]], axis=1), length[keep]


def _settle(at, background, offsets):
    """For each voxel ``at`` (indices into ``background``), whether a background voxel lies at one of
    the ``offsets`` (:func:`_reach`; outside ``background``: none, its empty border is nearer)."""
    off, _ = offsets
    hit = np.zeros(len(at), bool)
    shape = np.asarray(background.shape)
    for o in off:
        q = at + o
        ok = np.all((q >= 0) & (q < shape), axis=1)
        hit[ok] |= background[tuple(q[ok].T)] != 0
    return hit
