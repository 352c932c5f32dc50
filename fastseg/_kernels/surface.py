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

from ._jit import jit, prange


@jit(parallel=True)
def boundary_voxels(mask, connectivity, is2d, nchunks):
    """Boundary voxels of a ``(Z, Y, X)`` uint8 mask.

    ``connectivity`` 1 = faces, 2 = faces + edges, 3 = all 26 neighbours (in 2D 1 = 4-neighbours,
    2 = 8-neighbours; values above the dimension count as the full neighbourhood). With
    ``is2d`` only axes 1 and 2 are neighbour axes (pass 2D images as ``(1, H, W)``). The rows
    ``(k, j)`` are split into ``nchunks`` chunks.

    Returns a uint8 array of the mask's shape: 1 where ``mask != 0`` and some neighbour (inside the
    connectivity) is 0 or outside the array, 0 elsewhere.
    """
    nz, ny, nx = mask.shape
    out = np.zeros((nz, ny, nx), dtype=np.uint8)
    # The neighbourhood, row by row: row (k+dz, j+dy) with o = |dz| + |dy| <= connectivity takes
    # columns i-1..i+1 when o < connectivity and column i alone when o == connectivity.
    wide = np.zeros((9, 2), dtype=np.int64)  # (dz, dy) of the 3-column rows; (0, 0) first
    narrow = np.zeros((9, 2), dtype=np.int64)  # (dz, dy) of the 1-column rows
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
    zlo = 0 if is2d else 1  # slices on the array border along axis 0 are all boundary
    zhi = nz - 1 if is2d else nz - 2
    nrow = nz * ny
    for c in prange(nchunks):
        lo = nrow * c // nchunks
        hi = nrow * (c + 1) // nchunks
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
            w[:] = row
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
    return out


@jit
def _corner_row(mask, zrow, col, crow, k, j, is2d):
    """Neighbour codes of lattice row ``(k, j)`` written into ``crow`` (length X+1); returns the
    number of surface corners in the row. ``zrow`` is a zero row of length X, ``col`` scratch of
    length X+1."""
    nz, ny, nx = mask.shape
    # the voxel rows seen by this lattice row: (slice k-1+a, row j-1+b) -> bit 4a + 2b (+ c)
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
    shift = 4 if is2d else 0  # in 2D only the a = 1 nibble is populated
    full = 15 if is2d else 255
    count = 0
    for i in range(nx):
        c = ((col[i] | (col[i + 1] << 1)) >> shift) & 255
        crow[i] = c
        count += (c != 0) & (c != full)
    c = (col[nx] >> shift) & 255  # last lattice column: voxel column X is outside
    crow[nx] = c
    count += (c != 0) & (c != full)
    return count


@jit(parallel=True)
def surfel_codes(mask, is2d, nchunks):
    """Neighbour codes on the corner lattice of a ``(Z, Y, X)`` uint8 mask.

    Returns uint8 codes of shape ``(Z+1, Y+1, X+1)`` (3D, 8-bit codes) or ``(1, Y+1, X+1)`` (with
    ``is2d``, 4-bit codes); bit layout in the module docstring. Surface corners are those with
    ``code != 0`` and ``code != full`` (255 in 3D, 15 in 2D).
    """
    nz, ny, nx = mask.shape
    lz = 1 if is2d else nz + 1
    codes = np.empty((lz, ny + 1, nx + 1), dtype=np.uint8)
    zrow = np.zeros(nx, dtype=np.uint8)
    nrow = lz * (ny + 1)
    for ch in prange(nchunks):
        col = np.empty(nx + 1, dtype=np.int64)
        for r in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            k = r // (ny + 1)
            j = r - k * (ny + 1)
            _corner_row(mask, zrow, col, codes[k, j], k, j, is2d)
    return codes


@jit(parallel=True)
def surfel_weights(mask, table, is2d, nchunks):
    """Surfel weights on the corner lattice: float64 of the lattice shape (see `surfel_codes`),
    ``table[code]`` at surface corners and 0 elsewhere (every surface code has a positive weight for
    a positive spacing, so ``weights > 0`` is the surface)."""
    nz, ny, nx = mask.shape
    lz = 1 if is2d else nz + 1
    out = np.empty((lz, ny + 1, nx + 1), dtype=np.float64)
    zrow = np.zeros(nx, dtype=np.uint8)
    nrow = lz * (ny + 1)
    full = 15 if is2d else 255
    for ch in prange(nchunks):
        col = np.empty(nx + 1, dtype=np.int64)
        crow = np.empty(nx + 1, dtype=np.uint8)
        for r in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            k = r // (ny + 1)
            j = r - k * (ny + 1)
            _corner_row(mask, zrow, col, crow, k, j, is2d)
            orow = out[k, j]
            for i in range(nx + 1):
                c = crow[i]
                orow[i] = table[c] if (c != 0 and c != full) else 0.0
    return out


@jit(parallel=True)
def surfels(mask, table, is2d, nchunks):
    """Corner codes plus the compact list of surface points with their weights.

    Returns
    -------
    codes : uint8, lattice shape ``(Z+1, Y+1, X+1)`` or ``(1, Y+1, X+1)`` (see `surfel_codes`)
    index : int64 (n,), flat C-order indices into the lattice of the surface corners, increasing
        (``np.unravel_index(index, codes.shape)`` gives lattice coordinates; corner ``(k, j, i)``
        sits at voxel-index position ``(k - 0.5, j - 0.5, i - 0.5)``)
    weight : float64 (n,), ``table[code]`` of those corners
    """
    nz, ny, nx = mask.shape
    lz = 1 if is2d else nz + 1
    lx = nx + 1
    nrow = lz * (ny + 1)
    codes = np.empty((lz, ny + 1, lx), dtype=np.uint8)
    zrow = np.zeros(nx, dtype=np.uint8)
    counts = np.zeros(nchunks + 1, dtype=np.int64)
    full = 15 if is2d else 255
    for ch in prange(nchunks):
        col = np.empty(nx + 1, dtype=np.int64)
        n = 0
        for r in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            k = r // (ny + 1)
            j = r - k * (ny + 1)
            n += _corner_row(mask, zrow, col, codes[k, j], k, j, is2d)
        counts[ch + 1] = n
    for ch in range(nchunks):
        counts[ch + 1] += counts[ch]
    index = np.empty(counts[nchunks], dtype=np.int64)
    weight = np.empty(counts[nchunks], dtype=np.float64)
    flat = codes.reshape(-1)
    for ch in prange(nchunks):
        q = counts[ch]
        for p in range(lx * (nrow * ch // nchunks), lx * (nrow * (ch + 1) // nchunks)):
            c = flat[p]
            if c != 0 and c != full:
                index[q] = p
                weight[q] = table[c]
                q += 1
    return codes, index, weight



@jit
def _mixed_row(r00, r01, r10, r11, mixed, is2d):
    """``mixed[i]`` (bool) where lattice corner ``i`` of a row sees voxels of more than one value
    (columns ``i - 1`` and ``i`` of the four voxel rows; outside the array is 0); returns whether
    any does. Comparisons only, on bools: they vectorise (xor on uint8 widens to int64 and does not)."""
    nx = r00.size
    anyone = False
    if is2d:
        first = (r10[0] != 0) | (r11[0] != 0)
        last = (r10[nx - 1] != 0) | (r11[nx - 1] != 0)
        for i in range(1, nx):
            w = r10[i]
            x = (r10[i - 1] != w) | (r11[i - 1] != w) | (r11[i] != w)
            mixed[i] = x
            anyone |= x
    else:
        first = (r00[0] != 0) | (r01[0] != 0) | (r10[0] != 0) | (r11[0] != 0)
        last = (r00[nx - 1] != 0) | (r01[nx - 1] != 0) | (r10[nx - 1] != 0) | (r11[nx - 1] != 0)
        for i in range(1, nx):
            w = r00[i]
            x = ((r00[i - 1] != w) | (r01[i - 1] != w) | (r01[i] != w) | (r10[i - 1] != w)
                 | (r10[i] != w) | (r11[i - 1] != w) | (r11[i] != w))
            mixed[i] = x
            anyone |= x
    mixed[0] = first
    mixed[nx] = last
    return anyone | first | last


@jit
def _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, pos, index, code_out, base, write):
    """The surface points of one lattice row from its mixed corners: per corner, the structures
    (slots) of the voxels around it (into the scratch ``sl``) and, for each slot that does not fill
    it, the code. Counted into ``pos[slot]``, or (``write``) stored at ``index[pos[slot]]`` /
    ``code_out[pos[slot]]`` (flat index ``base + i``) with ``pos`` advanced. One call per row: the
    per-corner work is inlined here (a call per corner, with its dozens of array fields, cost more
    than the work)."""
    nx = r00.size
    nb = 4 if is2d else 8
    full = 15 if is2d else 255
    for q in range(words.size):
        if words[q] == 0:  # 8 corners at a time: most of a row is far from any surface
            continue
        for i in range(8 * q, 8 * q + 8):
            if not mixed[i]:
                continue
            lo = i >= 1
            hi = i < nx
            if is2d:
                sl[0] = lut[r10[i - 1]] if lo else -1
                sl[1] = lut[r10[i]] if hi else -1
                sl[2] = lut[r11[i - 1]] if lo else -1
                sl[3] = lut[r11[i]] if hi else -1
            else:
                sl[0] = lut[r00[i - 1]] if lo else -1
                sl[1] = lut[r00[i]] if hi else -1
                sl[2] = lut[r01[i - 1]] if lo else -1
                sl[3] = lut[r01[i]] if hi else -1
                sl[4] = lut[r10[i - 1]] if lo else -1
                sl[5] = lut[r10[i]] if hi else -1
                sl[6] = lut[r11[i - 1]] if lo else -1
                sl[7] = lut[r11[i]] if hi else -1
            done = 0  # bits already given to a slot
            for b in range(nb):
                if (done >> b) & 1:
                    continue
                s = sl[b]
                code = 0
                for bb in range(b, nb):
                    code |= np.int64(sl[bb] == s) << bb
                done |= code
                if s < 0 or code == full:
                    continue
                if write:
                    q2 = pos[s]
                    index[q2] = base + i
                    code_out[q2] = code
                    pos[s] = q2 + 1
                else:
                    pos[s] += 1


@jit
def _lattice_rows(m, zrow, k, j, is2d):
    """The four voxel rows seen by lattice row ``(k, j)`` (slice ``k - 1 + a``, row ``j - 1 + b`` for
    ``r_ab``; outside the array: the zero row)."""
    nz, ny, nx = m.shape
    if is2d:
        return zrow, zrow, (m[0, j - 1] if j >= 1 else zrow), (m[0, j] if j < ny else zrow)
    return ((m[k - 1, j - 1] if (k >= 1 and j >= 1) else zrow), (m[k - 1, j] if (k >= 1 and j < ny) else zrow),
            (m[k, j - 1] if (k < nz and j >= 1) else zrow), (m[k, j] if (k < nz and j < ny) else zrow))


@jit
def _row_value(rowval, k, j, nz, ny, is2d):
    """The one value the four voxel rows of lattice row ``(k, j)`` all hold, or -1 (from the per-row
    values ``rowval``, -1 for a row of several values; outside the array is 0)."""
    v = -2
    for a in range(2):
        kk = k - 1 + a
        for b in range(2):
            jj = j - 1 + b
            if is2d:
                w = rowval[jj] if (a == 1 and 0 <= jj < ny) else 0
            else:
                w = rowval[kk * ny + jj] if (0 <= kk < nz and 0 <= jj < ny) else 0
            if w < 0 or (v != -2 and w != v):
                return -1
            v = w
    return v


@jit(parallel=True)
def label_surfels(m, lut, nslots, is2d, nchunks):
    """Surfels of every structure of a label map in one pass, as sparse lists.

    ``m``: ``(Z, Y, X)`` C-contiguous label map (2D as ``(1, H, W)`` with ``is2d``); ``lut``: int32
    with an entry for every value of ``m``'s dtype, the structure (slot ``0 .. nslots - 1``) of a
    value, -1 for none (background, or a label not asked for). Several values may share a slot (a
    region). On the corner lattice of :func:`surfels`, a corner is a surface point of slot ``s`` when
    some but not all of the voxels around it belong to ``s``; its code has the bits of those voxels
    (the bit layout of the module docstring), exactly the code :func:`surfels` gives on the mask of
    ``s``.

    Returns ``(start, index, code)``: slot ``s``'s surface points are ``index[start[s]:start[s+1]]``
    (int64 flat C-order lattice indices, increasing) with their codes. Cost: one read of the map,
    plus work per corner whose voxels are not all equal (the surfaces), not per structure box.
    """
    nz, ny, nx = m.shape
    lz = 1 if is2d else nz + 1
    ly = ny + 1
    lx = nx + 1
    nrow = lz * ly
    counts = np.zeros((nchunks + 1, nslots), np.int64)
    flagged = np.zeros(nrow, np.uint8)
    zrow = np.zeros(nx, m.dtype)
    empty_index = np.zeros(0, np.int64)
    empty_code = np.zeros(0, np.uint8)
    rowval = np.empty(nz * ny, np.int64)  # a voxel row's value if it has one value, else -1
    for ch in prange(nchunks):
        for rr in range(nz * ny * ch // nchunks, nz * ny * (ch + 1) // nchunks):
            row = m[rr // ny, rr % ny]
            w = row[0]
            differ = False
            for i in range(nx):
                differ |= row[i] != w
            rowval[rr] = -1 if differ else np.int64(w)
    for ch in prange(nchunks):
        mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)  # whole words; the tail stays False
        words = mixed.view(np.uint64)
        sl = np.empty(8, np.int64)
        cnt = counts[ch + 1]
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            k = rr // ly
            j = rr - k * ly
            v = _row_value(rowval, k, j, nz, ny, is2d)
            if v == 0:  # background throughout: no corner is mixed
                continue
            r00, r01, r10, r11 = _lattice_rows(m, zrow, k, j, is2d)
            if v > 0:  # one structure throughout: only the corners at the array's edges are mixed
                mixed[:] = False
                mixed[0] = True
                mixed[nx] = True
            elif not _mixed_row(r00, r01, r10, r11, mixed, is2d):
                continue
            flagged[rr] = 1
            _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, cnt, empty_index, empty_code, 0, False)
    start = np.zeros(nslots + 1, np.int64)
    for s in range(nslots):
        total = 0
        for ch in range(nchunks):
            c = counts[ch + 1, s]
            counts[ch + 1, s] = start[s] + total  # where chunk ch's points of slot s begin
            total += c
        start[s + 1] = start[s] + total
    index = np.empty(start[nslots], np.int64)
    code_out = np.empty(start[nslots], np.uint8)
    for ch in prange(nchunks):
        mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)  # whole words; the tail stays False
        words = mixed.view(np.uint64)
        sl = np.empty(8, np.int64)
        pos = counts[ch + 1].copy()
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            if flagged[rr] == 0:
                continue
            k = rr // ly
            j = rr - k * ly
            r00, r01, r10, r11 = _lattice_rows(m, zrow, k, j, is2d)
            if _row_value(rowval, k, j, nz, ny, is2d) > 0:
                mixed[:] = False
                mixed[0] = True
                mixed[nx] = True
            else:
                _mixed_row(r00, r01, r10, r11, mixed, is2d)
            _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, pos, index, code_out, rr * lx, True)
    return start, index, code_out
