"""Surface extraction kernels for the distance engine: boundary voxels and corner-lattice surfels.

All kernels take a 3D C-contiguous uint8 mask of shape ``(Z, Y, X)`` (nonzero = foreground). A 2D
image is passed as ``(1, H, W)`` together with ``is2d=True``: axis 0 is then not a neighbour axis.
Outputs are per element, so they do not depend on the thread count. ``nchunks`` (64 suits all
sizes) is the number of row ranges handed to threads, each with its own scratch rows. Pass
``connectivity`` and ``nchunks`` as Python ints and ``is2d`` as a Python bool (one compiled
specialisation per kernel).

Boundary voxels (MONAI / MedPy / MetricsReloaded)
    `boundary_voxels`: foreground voxels with at least one background neighbour within the
    connectivity; voxels outside the array count as background, i.e.
    ``mask & ~binary_erosion(mask, generate_binary_structure(ndim, connectivity))``.

Surfels (Nikolov et al.'s surface Dice, DeepMind's ``surface-distance``)
    The corner lattice of a ``(Z, Y, X)`` mask has shape ``(Z+1, Y+1, X+1)``; corner ``(k, j, i)``
    sees voxels ``(k-1+a, j-1+b, i-1+c)``, ``a, b, c`` in {0, 1}, voxels outside the array being
    background. Its neighbour code has bit ``4a + 2b + c`` set when that voxel is foreground. In
    2D the lattice is ``(1, H+1, W+1)`` and the code is 4-bit, bit ``2b + c`` for pixel
    ``(j-1+b, i-1+c)``.
    A corner is a surface point when its code is neither 0 nor full (255 in 3D, 15 in 2D). Weights
    come from a per-code float64 table (`fastseg._surfel_tables.areas`: 256 areas in 3D, 16 contour
    lengths in 2D); the table must hold 0 at code 0 and at the full code.
"""
import numpy as np

from ._jit import jit


@jit
def neighbourhood(connectivity, is2d):
    """``(wide, nwide, narrow, nnarrow)``: the (dz, dy) of the rows next to a row within the
    connectivity, read at columns i-1..i+1 (``wide``: ``|dz| + |dy| < connectivity``, the row itself
    first) or at column i only (``narrow``: ``== connectivity``)."""
    wide = np.empty((9, 2), dtype=np.int64)
    narrow = np.empty((9, 2), dtype=np.int64)
    wide[0, 0] = 0
    wide[0, 1] = 0
    nwide = 1
    nnarrow = 0
    for dz in range(-1, 2):
        if is2d and dz != 0:
            continue
        for dy in range(-1, 2):
            o = abs(dz) + abs(dy)
            if o == 0:
                continue
            if o < connectivity:
                wide[nwide, 0] = dz
                wide[nwide, 1] = dy
                nwide += 1
            elif o == connectivity:
                narrow[nnarrow, 0] = dz
                narrow[nnarrow, 1] = dy
                nnarrow += 1
    return wide, nwide, narrow, nnarrow


@jit
def boundary_chunk(mask, out, wide, nwide, narrow, nnarrow, is2d, lo, hi):
    """:func:`boundary_voxels` for rows ``(k, j)`` (flat ``k * Y + j``) ``lo .. hi - 1``."""
    nz, ny, nx = mask.shape
    zlo = 0 if is2d else 1  # slices on the array border along axis 0 are all boundary
    zhi = nz - 1 if is2d else nz - 2
    w = np.empty(nx, dtype=np.uint8)  # min over the 3-column rows (0 iff some voxel is 0)
    n = np.empty(nx, dtype=np.uint8)  # min over the 1-column rows, 1 if there are none
    for r in range(lo, hi):
        k = r // ny
        j = r - k * ny
        row = mask[k, j]
        orow = out[k, j]
        if k < zlo or k > zhi or j == 0 or j == ny - 1 or nx <= 2:
            for i in range(nx):
                orow[i] = row[i] != 0
            continue
        for i in range(nx):  # a loop, not w[:] = row: that compiles numba's shape-error message (1.4 s)
            w[i] = row[i]
        for t in range(1, nwide):
            nb = mask[k + wide[t, 0], j + wide[t, 1]]
            for i in range(nx):
                w[i] = min(w[i], nb[i])
        n[:] = 1
        for t in range(nnarrow):
            nb = mask[k + narrow[t, 0], j + narrow[t, 1]]
            for i in range(nx):
                n[i] = min(n[i], nb[i])
        orow[0] = row[0] != 0
        orow[nx - 1] = row[nx - 1] != 0
        for i in range(1, nx - 1):
            inner = min(min(w[i - 1], w[i]), min(w[i + 1], n[i]))
            orow[i] = (row[i] != 0) & (inner == 0)


def boundary_voxels(mask, connectivity, is2d, nchunks):
    """Boundary voxels of a ``(Z, Y, X)`` uint8 mask.

    ``connectivity`` 1 = faces, 2 = faces + edges, 3 = all 26 neighbours (in 2D 1 = 4-neighbours,
    2 = 8-neighbours; values above the dimension count as the full neighbourhood). With
    ``is2d`` only axes 1 and 2 are neighbour axes (pass 2D images as ``(1, H, W)``). The rows
    ``(k, j)`` are split into ``nchunks`` chunks (:func:`boundary_chunk`), run in turn here (Python);
    the engine runs them on threads side by side (``fastseg._engine.chunks``: no numba parallel loop
    to compile on a first run).

    Returns a uint8 array of the mask's shape: 1 where ``mask != 0`` and some neighbour (inside the
    connectivity) is 0 or outside the array, 0 elsewhere.
    """
    nz, ny, nx = mask.shape
    out = np.empty((nz, ny, nx), dtype=np.uint8)  # every voxel written by the chunks
    # The neighbourhood, row by row: row (k+dz, j+dy) with o = |dz| + |dy| <= connectivity takes
    # columns i-1..i+1 when o < connectivity and column i alone when o == connectivity.
    wide, nwide, narrow, nnarrow = neighbourhood(connectivity, is2d)
    nrow = nz * ny
    for c in range(nchunks):
        boundary_chunk(mask, out, wide, nwide, narrow, nnarrow, is2d, nrow * c // nchunks, nrow * (c + 1) // nchunks)
    return out


def surfel_codes(mask, is2d, nchunks):
    """Neighbour codes on the corner lattice of a ``(Z, Y, X)`` uint8 mask.

    Returns uint8 codes of shape ``(Z+1, Y+1, X+1)`` (3D, 8-bit codes) or ``(1, Y+1, X+1)`` (with
    ``is2d``, 4-bit codes); bit layout in the module docstring. Surface corners are those with
    ``code != 0`` and ``code != full`` (255 in 3D, 15 in 2D). The ``nchunks`` row ranges of
    :func:`surfel_chunk` run in turn (Python; the engine runs them on threads).
    """
    nz, ny, nx = mask.shape
    lz = 1 if is2d else nz + 1
    codes = np.empty((lz, ny + 1, nx + 1), dtype=np.uint8)
    nrow = lz * (ny + 1)
    for ch in range(nchunks):
        surfel_chunk(mask, codes, is2d, nrow * ch // nchunks, nrow * (ch + 1) // nchunks)
    return codes


def surfel_weights(mask, table, is2d, nchunks):
    """Surfel weights on the corner lattice: float64 of the lattice shape (see `surfel_codes`),
    ``table[code]`` at surface corners and 0 elsewhere (every surface code has a positive weight for
    a positive spacing, so ``weights > 0`` is the surface)."""
    codes = surfel_codes(mask, is2d, nchunks)
    full = 15 if is2d else 255
    return np.where((codes != 0) & (codes != full), np.asarray(table, np.float64)[codes], 0.0)


@jit
def surfel_chunk(mask, codes, is2d, r0, r1):
    """Codes of lattice rows ``r0 .. r1 - 1`` into ``codes``; returns how many are surface corners.
    One kernel, no helper for a row: a helper kernel is compiled on its own and again inside its
    caller (0.27 s more on a first run)."""
    nz, ny, nx = mask.shape
    zrow = np.zeros(nx, dtype=np.uint8)
    col = np.empty(nx + 1, dtype=np.int64)
    shift = 4 if is2d else 0  # in 2D only the a = 1 nibble is populated
    full = 15 if is2d else 255
    n = 0
    for r in range(r0, r1):
        k = r // (ny + 1)
        j = r - k * (ny + 1)
        crow = codes[k, j]
        # the voxel rows seen by lattice row (k, j): (slice k-1+a, row j-1+b) -> bit 4a + 2b (+ c)
        if is2d:
            r00 = zrow
            r01 = zrow
            r10 = mask[0, j - 1] if j >= 1 else zrow
            r11 = mask[0, j] if j < ny else zrow
        else:
            r00 = mask[k - 1, j - 1] if (k >= 1 and j >= 1) else zrow
            r01 = mask[k - 1, j] if (k >= 1 and j < ny) else zrow
            r10 = mask[k, j - 1] if (k < nz and j >= 1) else zrow
            r11 = mask[k, j] if (k < nz and j < ny) else zrow
        # col[i + 1]: bits 4a + 2b of voxel column i; col[0] = 0 is the column before the array
        col[0] = 0
        for i in range(nx):
            col[i + 1] = ((r00[i] != 0) | ((r01[i] != 0) << 2)
                          | ((r10[i] != 0) << 4) | ((r11[i] != 0) << 6))
        for i in range(nx):
            c = ((col[i] | (col[i + 1] << 1)) >> shift) & 255
            crow[i] = c
            n += (c != 0) & (c != full)
        c = (col[nx] >> shift) & 255  # last lattice column: voxel column X is outside
        crow[nx] = c
        n += (c != 0) & (c != full)
    return n


@jit
def compact_chunk(flat, table, full, p0, p1, q, index, weight):
    """The surface corners of ``flat[p0:p1]`` (in order) into ``index`` / ``weight`` from ``q`` on."""
    for p in range(p0, p1):
        c = flat[p]
        if c != 0 and c != full:
            index[q] = p
            weight[q] = table[c]
            q += 1


def surfels(mask, table, is2d, nchunks):
    """Corner codes plus the compact list of surface points with their weights.

    Returns
    -------
    codes : uint8, lattice shape ``(Z+1, Y+1, X+1)`` or ``(1, Y+1, X+1)`` (see `surfel_codes`)
    index : int64 (n,), flat C-order indices into the lattice of the surface corners, increasing
        (``np.unravel_index(index, codes.shape)`` gives lattice coordinates; corner ``(k, j, i)``
        sits at voxel-index position ``(k - 0.5, j - 0.5, i - 0.5)``)
    weight : float64 (n,), ``table[code]`` of those corners

    The ``nchunks`` row ranges (:func:`surfel_chunk`, then :func:`compact_chunk`) run in turn here
    (Python); the engine runs them on threads side by side (``fastseg._engine.chunks``): no numba parallel
    loop to compile on a first run (issue 13: a first ``hd95`` compiled 3.8 s for this kernel).
    """
    nz, ny, nx = mask.shape
    lz = 1 if is2d else nz + 1
    lx = nx + 1
    nrow = lz * (ny + 1)
    codes = np.empty((lz, ny + 1, lx), dtype=np.uint8)
    counts = np.empty(nchunks + 1, dtype=np.int64)
    counts[0] = 0
    for ch in range(nchunks):
        counts[ch + 1] = surfel_chunk(mask, codes, is2d, nrow * ch // nchunks, nrow * (ch + 1) // nchunks)
    for ch in range(nchunks):
        counts[ch + 1] += counts[ch]
    index = np.empty(counts[nchunks], dtype=np.int64)
    weight = np.empty(counts[nchunks], dtype=np.float64)
    flat = codes.reshape(-1)
    full = 15 if is2d else 255
    for ch in range(nchunks):
        compact_chunk(flat, table, full, lx * (nrow * ch // nchunks), lx * (nrow * (ch + 1) // nchunks), counts[ch],
                      index, weight)
    return codes, index, weight
