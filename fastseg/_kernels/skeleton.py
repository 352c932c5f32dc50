"""Topology-preserving thinning (skeletons) of binary masks, for centreline Dice.

Two kernels, one compiled specialisation each (C-contiguous uint8 input, nonzero = foreground):

`thin_2d` (2D, ``(H, W)``)
    Two-sub-iteration parallel thinning in the manner of Zhang & Suen (1984): in each sub-iteration
    every foreground pixel is classified from its 8-neighbourhood at the start of the sub-iteration
    through a 256-entry table, and the pixels marked for that sub-iteration are removed together; this
    repeats until a full iteration (both sub-iterations) removes nothing. The table (`zhang_table`) is
    the one of scikit-image's default 2D ``skeletonize``, so the skeletons are identical to it.

`thin_3d` (3D, ``(Z, Y, X)``)
    The sequential-recheck thinning of Lee, Kashyap & Chu (1994). The six border directions are swept
    in a fixed order; for each, the candidates are the foreground border voxels (the face neighbour
    in that direction is background) that are not end points (exactly one 26-neighbour), keep the
    Euler characteristic (sum over the 8 octants of `euler_table`) and are simple (their
    26-neighbours form a single 26-connected component); candidates are then re-checked one by one
    in raster order against the current image and deleted if they still pass. Sweeps repeat until
    no direction deletes anything. With ``full_recheck=True`` the re-check tests every condition, so
    each deletion is of a simple point and the topology is kept. With ``full_recheck=False`` it tests
    connectivity only, as scikit-image (<= 0.26) and ImageJ's Skeletonize3D do: direction order and
    candidate order follow theirs, so the skeletons are identical to ``skimage.morphology.skeletonize``
    on 3D input, flaw included (thin components can vanish, scikit-image issue #3757).
    ``nborders=4`` sweeps the in-plane directions only, as scikit-image does for a 3D image with a
    single slice along axis 0.

Both kernels work on a zero-padded copy (voxels outside the array are background), visit only the
foreground voxels still present (an ordered list, compacted as voxels are deleted), and return a
uint8 array of the input's shape (1 on the skeleton). Callers crop to the mask's bounding box first:
the result is the same, since thinning never looks further than one voxel outside the foreground
(``nborders`` is chosen from the uncropped shape).
They are sequential (each deletion depends on the previous ones) and release the GIL.

The tables are built by plain NumPy functions below and passed in as arguments.
"""
import numpy as np

from ._jit import jit

# ---------------------------------------------------------------- tables (NumPy, built once)

# 8-neighbour code of pixel (r, c): bit k set when the k-th neighbour, clockwise from the north-west
# one, is foreground:  1 2 4 / 128 . 8 / 64 32 16.  Codes removable in the first sub-iteration only,
# in the second only, and in both. These are the entries 1, 2 and 3 of scikit-image's
# ``_fast_skeletonize`` lookup table (scikit-image, BSD-3-Clause), restated as code lists: they define
# the algorithm, and the same table is needed for identical skeletons. It differs from textbook
# Zhang-Suen (2 <= B <= 6, one 0->1 transition, the two product conditions) in 25 codes.
_ZHANG_FIRST = (3, 6, 11, 12, 14, 131, 134, 143, 159, 161, 194, 198, 207, 227, 231, 243)
_ZHANG_SECOND = (24, 26, 56, 62, 63, 96, 104, 108, 126, 176, 192, 224, 248, 249, 252)
_ZHANG_BOTH = (7, 10, 15, 28, 30, 31, 40, 60, 112, 120, 124, 130, 135, 160, 193, 195, 199, 225, 240,
               241)


def zhang_table():
    """uint8[256]: bit 0 set if a pixel with that 8-neighbour code is removed in sub-iteration 1,
    bit 1 if in sub-iteration 2."""
    t = np.zeros(256, dtype=np.uint8)
    t[list(_ZHANG_FIRST)] = 1
    t[list(_ZHANG_SECOND)] = 2
    t[list(_ZHANG_BOTH)] = 3
    return t


def euler_table():
    """int64[256]: 8 x the change of the Euler characteristic (26-connected foreground) contributed by
    one corner of a voxel when that voxel is deleted, indexed by the 2x2x2 configuration at the corner.

    The eight voxels around a lattice corner are indexed ``4a + 2b + c`` (``a, b, c`` in {0, 1},
    offsets along axes 0, 1, 2 away from the deleted voxel, which is bit 0). Foreground voxels are
    closed unit cubes; the Euler characteristic V - E + F - C of their union is the sum over lattice
    corners of ``V - E/2 + F/4 - C/8`` counted from the cells incident to the corner (a cell is present
    when any voxel containing it is foreground). Entry = 8 x (value with bit 0 - value without bit 0),
    an integer; a voxel deletion keeps the Euler characteristic iff its 8 corner entries sum to 0.
    This is column delta-G26 of Table 2 of Lee et al. (1994), derived rather than transcribed.
    """
    def eight_times_corner(code):
        cube = ((code >> np.arange(8)) & 1).reshape(2, 2, 2).astype(bool)  # cube[a, b, c]
        vertex = int(cube.any())
        # the edge leaving the corner along axis ax on side s touches the 4 voxels with index s there
        edges = sum(int(np.take(cube, s, axis=ax).any()) for ax in range(3) for s in (0, 1))
        # a face through the corner, perpendicular to axis ax, is shared by the 2 voxels along ax
        faces = sum(int(cube.any(axis=ax).sum()) for ax in range(3))
        cubes = int(cube.sum())
        return 8 * vertex - 4 * edges + 2 * faces - cubes

    t = np.zeros(256, dtype=np.int64)
    for code in range(1, 256, 2):
        t[code] = eight_times_corner(code) - eight_times_corner(code & ~1)
    return t


def octant_bits():
    """int64[8, 8]: for each octant (signs of the three axes), the bit position in the 27-bit
    neighbourhood code (bit ``9(dz+1) + 3(dy+1) + (dx+1)``) of the voxel indexed ``4a + 2b + c``
    in `euler_table`."""
    out = np.zeros((8, 8), dtype=np.int64)
    for o in range(8):
        sz, sy, sx = (1 if o & 4 else -1), (1 if o & 2 else -1), (1 if o & 1 else -1)
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    out[o, 4 * a + 2 * b + c] = 9 * (a * sz + 1) + 3 * (b * sy + 1) + (c * sx + 1)
    return out


# ---------------------------------------------------------------- 2D

@jit
def thin_2d(mask, table):
    """Skeleton of a 2D uint8 mask (see the module docstring); ``table`` from `zhang_table`."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=np.uint8)
    wp = w + 2
    img = np.zeros((h + 2) * wp, dtype=np.uint8)  # zero-padded working image, flat
    n = 0
    for r in range(h):
        for c in range(w):
            if mask[r, c] != 0:
                img[(r + 1) * wp + c + 1] = 1
                n += 1
    active = np.empty(n, dtype=np.int64)  # flat indices of the foreground, in raster order
    n = 0
    for q in range((h + 2) * wp):
        if img[q]:
            active[n] = q
            n += 1
    drop = np.zeros(n, dtype=np.uint8)
    while True:
        removed_any = False
        for sub in range(2):
            bit = 1 << sub
            nremove = 0
            for k in range(n):  # classify against the image at the start of the sub-iteration
                q = active[k]
                code = (img[q - wp - 1] | (img[q - wp] << 1) | (img[q - wp + 1] << 2) | (img[q + 1] << 3)
                        | (img[q + wp + 1] << 4) | (img[q + wp] << 5) | (img[q + wp - 1] << 6)
                        | (img[q - 1] << 7))
                if table[code] & bit:
                    drop[k] = 1
                    nremove += 1
            if nremove:
                removed_any = True
                m = 0
                for k in range(n):
                    if drop[k]:
                        img[active[k]] = 0
                        drop[k] = 0
                    else:
                        active[m] = active[k]
                        m += 1
                n = m
        if not removed_any:
            break
    for k in range(n):
        q = active[k]
        out[q // wp - 1, q % wp - 1] = 1
    return out


# ---------------------------------------------------------------- 3D

@jit
def _neighbourhood(img, q, sz, sy):
    """27-bit code of the 3x3x3 block centred on flat index ``q``: bit 9(dz+1) + 3(dy+1) + (dx+1)."""
    code = 0
    bit = 0
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            base = q + dz * sz + dy * sy
            code |= ((img[base - 1] << bit) | (img[base] << (bit + 1)) | (img[base + 1] << (bit + 2)))
            bit += 3
    return code


@jit
def _dilate26(m):
    """26-neighbour dilation of a 27-bit 3x3x3 block code, clipped to the block."""
    # bits with x == 0 / x == 2, y == 0 / y == 2, z == 0 / z == 2
    x0 = 0o111111111
    x2 = x0 << 2
    y0 = 7 | (7 << 9) | (7 << 18)  # rows y == 0 of each slice
    y2 = y0 << 6
    z0 = 0o777
    z2 = z0 << 18
    m = m | ((m & ~x2) << 1) | ((m & ~x0) >> 1)
    m = m | ((m & ~y2) << 3) | ((m & ~y0) >> 3)
    m = m | ((m & ~z2) << 9) | ((m & ~z0) >> 9)
    return m


@jit
def _one_component(code):
    """True when the 26-neighbours of the centre of a 27-bit block code (centre = bit 13) that are
    foreground form at most one 26-connected component (bit-parallel flood fill)."""
    fg = code & ~(1 << 13)
    if fg == 0:
        return True
    comp = fg & -fg
    while True:
        grown = _dilate26(comp) & fg
        if grown == comp:
            return comp == fg
        comp = grown


@jit
def _deletable(code, etable, obits):
    """Lee et al.'s conditions for the centre voxel of a 27-bit block code (centre = bit 13, set):
    not an end point, Euler characteristic kept, and 26-neighbours forming one 26-connected
    component. Together the last two make the voxel simple: deleting it keeps the topology."""
    fg = code & ~(1 << 13)
    if fg != 0 and (fg & (fg - 1)) == 0:
        return False  # end point: exactly one 26-neighbour
    euler = 0
    for o in range(8):
        c8 = 0
        for k in range(8):
            c8 |= ((code >> obits[o, k]) & 1) << k
        euler += etable[c8]
    if euler != 0:
        return False
    return _one_component(code)


@jit
def thin_3d(mask, nborders, full_recheck, etable, obits):
    """Skeleton of a 3D uint8 mask (see the module docstring).

    ``nborders`` is 6, or 4 to reproduce scikit-image on an image with a single slice along axis 0.
    ``full_recheck=True`` re-checks every condition of Lee et al. before each sequential deletion
    (topology-preserving); ``False`` re-checks connectivity only, as scikit-image (<= 0.26) and
    ImageJ's Skeletonize3D do, which can delete whole thin components (scikit-image issue #3757).
    ``etable`` from `euler_table`, ``obits`` from `octant_bits`.
    """
    nz, ny, nx = mask.shape
    out = np.zeros((nz, ny, nx), dtype=np.uint8)
    sy = nx + 2
    sz = (ny + 2) * sy
    size = (nz + 2) * sz
    img = np.zeros(size, dtype=np.uint8)
    n = 0
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                if mask[k, j, i] != 0:
                    img[(k + 1) * sz + (j + 1) * sy + i + 1] = 1
                    n += 1
    active = np.empty(n, dtype=np.int64)
    n = 0
    for q in range(size):
        if img[q]:
            active[n] = q
            n += 1
    candidates = np.empty(n, dtype=np.int64)
    # face neighbour that must be background, per border direction, in scikit-image's sweep order:
    # -axis1, +axis1, +axis2, -axis2 (the in-plane ones first), then +axis0, -axis0
    offsets = np.array([-sy, sy, 1, -1, sz, -sz], dtype=np.int64)
    unchanged = 0
    while unchanged < nborders:
        unchanged = 0
        for d in range(nborders):
            off = offsets[d]
            nc = 0
            for k in range(n):
                q = active[k]
                if img[q + off] != 0:
                    continue
                if _deletable(_neighbourhood(img, q, sz, sy), etable, obits):
                    candidates[nc] = q
                    nc += 1
            deleted = 0
            for k in range(nc):  # sequential re-check against the current image
                q = candidates[k]
                code = _neighbourhood(img, q, sz, sy)
                if _deletable(code, etable, obits) if full_recheck else _one_component(code):
                    img[q] = 0
                    deleted += 1
            if deleted == 0:
                unchanged += 1
            else:
                m = 0
                for k in range(n):
                    if img[active[k]]:
                        active[m] = active[k]
                        m += 1
                n = m
    for k in range(n):
        q = active[k]
        z = q // sz
        rem = q - z * sz
        y = rem // sy
        out[z - 1, y - 1, rem - y * sy - 1] = 1
    return out
