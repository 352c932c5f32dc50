"""Surfels of every structure of a label map in one pass over the map, as sparse point lists.

The corner lattice and neighbour codes are those of :mod:`fastseg._kernels.surface` (its module
docstring): a corner is a surface point of a structure when some but not all of the voxels around
it belong to the structure. :func:`label_surfels` finds the points of every structure at once, at a
cost of one read of the map plus work per *mixed* corner (voxels of more than one value around it),
never per structure or per bounding box: stray voxels far from a structure add their few points,
not the space between.

Passes, each parallel over ranges of lattice rows (``nchunks``, results independent of threads):

1. per voxel row, its one value or -1: a lattice row whose four voxel rows hold one value
   throughout has no mixed corner (background) or two (a structure touching the array's edges);
2. per lattice row, the mixed corners (comparisons on bools, vectorised), counted per range;
3. per mixed corner, the structures (slots) around it and their codes, appended to the range's
   buffer (sized at two points per mixed corner; a range that needs more sends the whole map to
   the exact count-then-store of the same rule, :func:`label_surfels_exact`);
4. the buffers scattered slot by slot: each slot's points in lattice order.

Passes 2 and 3 run in parallel; the others on one thread (memory-speed reads or a few ns per point,
where another parallel loop would cost a second of compilation on every first run).
"""
import numpy as np

from ._jit import jit, prange


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
def _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, counts, bslot, bindex, bcode, cursor, end, base):
    """The surface points of one lattice row's mixed corners: per corner, the slots of the voxels
    around it and, for each slot that does not fill it, the code; each point appended at ``cursor``
    to ``bslot`` / ``bindex`` (flat index ``base + i``) / ``bcode``, and ``counts[slot] += 1``.
    Returns the new cursor, or -1 when a point would pass ``end``. One call per row, the per-corner
    work inlined (a call per corner, with its dozens of array fields, cost more than the work).

    Most mixed corners see two values (a structure and background, or two structures): their codes
    come from the raw values directly; three or more take the general slot-by-slot rule."""
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
            if is2d:  # raw values (0 outside the array) into sl
                sl[0] = r10[i - 1] if lo else 0
                sl[1] = r10[i] if hi else 0
                sl[2] = r11[i - 1] if lo else 0
                sl[3] = r11[i] if hi else 0
            else:
                sl[0] = r00[i - 1] if lo else 0
                sl[1] = r00[i] if hi else 0
                sl[2] = r01[i - 1] if lo else 0
                sl[3] = r01[i] if hi else 0
                sl[4] = r10[i - 1] if lo else 0
                sl[5] = r10[i] if hi else 0
                sl[6] = r11[i - 1] if lo else 0
                sl[7] = r11[i] if hi else 0
            v0 = sl[0]
            v1 = v0
            code0 = 0
            for b in range(nb):
                if sl[b] == v0:
                    code0 |= 1 << b
                else:
                    v1 = sl[b]
            if code0 | _code_of(sl, nb, v1) != full:  # three or more values: slots, not raw values
                for b in range(nb):
                    sl[b] = lut[sl[b]]
            else:
                s0 = lut[v0]
                s1 = lut[v1]
                if s0 == s1:  # one slot holds both (a region): inside it
                    continue
                for b in range(nb):
                    sl[b] = s0 if sl[b] == v0 else s1
            done = 0  # bits already given to a slot
            for b in range(nb):
                if (done >> b) & 1:
                    continue
                s = sl[b]
                code = _code_of(sl, nb, s)
                done |= code
                if s < 0 or code == full:
                    continue
                if cursor >= end:
                    return -1
                bslot[cursor] = s
                bindex[cursor] = base + i
                bcode[cursor] = code
                counts[s] += 1
                cursor += 1
    return cursor


@jit
def _code_of(sl, nb, s):
    """The bits of ``sl[:nb]`` equal to ``s``."""
    code = 0
    for b in range(nb):
        if sl[b] == s:
            code |= 1 << b
    return code


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


@jit
def _row_setup(m, zrow, rowval, k, j, is2d, mixed):
    """The four voxel rows of lattice row ``(k, j)`` and its mixed corners (into ``mixed``); the first
    value returned says whether there is any."""
    nz, ny, nx = m.shape
    v = _row_value(rowval, k, j, nz, ny, is2d)
    if v == 0:  # background throughout: no corner is mixed
        return False, zrow, zrow, zrow, zrow
    r00, r01, r10, r11 = _lattice_rows(m, zrow, k, j, is2d)
    if v > 0:  # one structure throughout: only the corners at the array's edges are mixed
        mixed[:] = False
        mixed[0] = True
        mixed[nx] = True
        return True, r00, r01, r10, r11
    return _mixed_row(r00, r01, r10, r11, mixed, is2d), r00, r01, r10, r11


@jit
def _row_values(m):
    """Per voxel row ``(k, j)`` (flat ``k * ny + j``): its one value, or -1 for a row of several. One
    thread (a read at memory speed, a few ms for 67 Mvox; a parallel loop costs a second to compile)."""
    nz, ny, nx = m.shape
    rowval = np.empty(nz * ny, np.int64)
    for rr in range(nz * ny):
        row = m[rr // ny, rr % ny]
        w = row[0]
        differ = False
        for i in range(nx):
            differ |= row[i] != w
        rowval[rr] = -1 if differ else np.int64(w)
    return rowval


@jit(parallel=True)
def label_surfels(m, lut, nslots, is2d, nchunks):
    """Surfels of every structure of a label map in one pass, as sparse lists (module docstring).

    ``m``: ``(Z, Y, X)`` C-contiguous label map (2D as ``(1, H, W)`` with ``is2d``); ``lut``: int32
    with an entry for every value of ``m``'s dtype, the structure (slot ``0 .. nslots - 1``) of a
    value, -1 for none (background, or a label not asked for; ``lut[0]`` must be -1: outside the
    array counts as 0). Several values may share a slot (a region). The points and codes of a slot are exactly those
    :func:`fastseg._kernels.surface.surfels` gives on the mask of the slot's values.

    Returns ``(ok, start, index, code)``: slot ``s``'s surface points are
    ``index[start[s]:start[s+1]]`` (int64 flat C-order lattice indices, increasing) with their codes.
    ``ok`` False: some range had more than two points per mixed corner (many structures meeting at
    most corners); :func:`label_surfels_exact` then gives them (compiled only when needed).
    """
    nz, ny, nx = m.shape
    lz = 1 if is2d else nz + 1
    ly = ny + 1
    lx = nx + 1
    nrow = lz * ly
    zrow = np.zeros(nx, m.dtype)
    rowval = _row_values(m)
    flagged = np.zeros(nrow, np.uint8)
    nmixed = np.zeros(nchunks + 1, np.int64)
    bytesum = np.uint64(0x0101010101010101)
    for ch in prange(nchunks):  # pass 2: mixed corners
        mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)  # whole words; the tail stays False
        words = mixed.view(np.uint64)
        n = 0
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            anyone, r00, r01, r10, r11 = _row_setup(m, zrow, rowval, rr // ly, rr % ly, is2d, mixed)
            if anyone:
                flagged[rr] = 1
                for q in range(words.size):
                    n += np.int64((words[q] * bytesum) >> np.uint64(56))  # bools in the word
        nmixed[ch + 1] = 2 * n + 64
    for ch in range(nchunks):
        nmixed[ch + 1] += nmixed[ch]
    bslot = np.empty(nmixed[nchunks], np.int32)
    bindex = np.empty(nmixed[nchunks], np.int64)
    bcode = np.empty(nmixed[nchunks], np.uint8)
    counts = np.zeros((nchunks, nslots), np.int64)
    used = np.zeros(nchunks, np.int64)
    for ch in prange(nchunks):  # pass 3: points into the range's buffer
        mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)
        words = mixed.view(np.uint64)
        sl = np.empty(8, np.int64)
        cursor = nmixed[ch]
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            if flagged[rr] == 0:
                continue
            _, r00, r01, r10, r11 = _row_setup(m, zrow, rowval, rr // ly, rr % ly, is2d, mixed)
            cursor = _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, counts[ch], bslot, bindex, bcode,
                               cursor, nmixed[ch + 1], rr * lx)
            if cursor < 0:
                break
        used[ch] = cursor - nmixed[ch] if cursor >= 0 else -1
    if used.min() < 0:  # a range with more than two points per mixed corner: the caller counts, then stores
        return False, np.zeros(1, np.int64), bindex[:0], bcode[:0]
    start = np.zeros(nslots + 1, np.int64)
    for s in range(nslots):  # pass 4: slot by slot, ranges in order within a slot
        total = start[s]
        for ch in range(nchunks):
            c = counts[ch, s]
            counts[ch, s] = total
            total += c
        start[s + 1] = total
    index = np.empty(start[nslots], np.int64)
    code_out = np.empty(start[nslots], np.uint8)
    for ch in range(nchunks):  # one thread: a few ns per point, and no parallel loop to compile
        pos = counts[ch]
        for e in range(nmixed[ch], nmixed[ch] + used[ch]):
            s = bslot[e]
            q = pos[s]
            index[q] = bindex[e]
            code_out[q] = bcode[e]
            pos[s] = q + 1
    return True, start, index, code_out


@jit
def label_surfels_exact(m, lut, nslots, is2d):
    """:func:`label_surfels` by counting every slot's points, then storing them, a row at a time
    through a buffer of the row's largest possible number of points: nothing to overflow. One
    thread; for maps where many structures meet at most corners."""
    nz, ny, nx = m.shape
    lz = 1 if is2d else nz + 1
    ly = ny + 1
    lx = nx + 1
    rowval = _row_values(m)
    zrow = np.zeros(nx, m.dtype)
    counts = np.zeros(nslots, np.int64)
    start = np.zeros(nslots + 1, np.int64)
    index = np.zeros(0, np.int64)
    code_out = np.zeros(0, np.uint8)
    mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)
    words = mixed.view(np.uint64)
    sl = np.empty(8, np.int64)
    rslot = np.empty(8 * lx, np.int32)
    rindex = np.empty(8 * lx, np.int64)
    rcode = np.empty(8 * lx, np.uint8)
    for store in (False, True):
        if store:
            for s in range(nslots):
                start[s + 1] = start[s] + counts[s]
            index = np.empty(start[nslots], np.int64)
            code_out = np.empty(start[nslots], np.uint8)
            counts[:] = start[:nslots]
        for rr in range(lz * ly):
            anyone, r00, r01, r10, r11 = _row_setup(m, zrow, rowval, rr // ly, rr % ly, is2d, mixed)
            if not anyone:
                continue
            if not store:
                _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, counts, rslot, rindex, rcode, 0,
                          8 * lx, rr * lx)
                continue
            seen = np.zeros(nslots, np.int64)  # counts of this row, not needed
            n = _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, seen, rslot, rindex, rcode, 0, 8 * lx,
                          rr * lx)
            for e in range(n):
                s = rslot[e]
                index[counts[s]] = rindex[e]
                code_out[counts[s]] = rcode[e]
                counts[s] += 1
    return start, index, code_out


@jit
def _neighbour_rows(connectivity, is2d):
    """``(wide, nwide, narrow, nnarrow)``: the (dz, dy) of the voxel rows next to a row within the
    connectivity, those seen at columns i-1..i+1 (``|dz| + |dy| < connectivity``) and those at
    column i only (``== connectivity``), as in :func:`fastseg._kernels.surface.boundary_voxels`."""
    wide = np.zeros((9, 2), np.int64)
    narrow = np.zeros((9, 2), np.int64)
    nwide = 0
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
def _boundary_row(m, rowval, lut, k, j, wide, nwide, narrow, nnarrow, is2d, count, pos, index, bslot, cursor, flag):
    """The boundary voxels of voxel row ``(k, j)`` of every slot: voxels of a slot with a neighbour
    (within the connectivity) of another slot, or on the array's edge along a neighbour axis.
    ``count``: how many voxels are (returned; ``flag`` scratch); else slot and flat index appended at
    ``cursor`` (returns the new cursor), ``pos[slot] += 1``."""
    nz, ny, nx = m.shape
    row = m[k, j]
    base = (k * ny + j) * nx
    v = rowval[k * ny + j]
    if v >= 0 and lut[v] < 0:  # background (or labels not asked for) throughout
        return 0 if count else cursor
    on_edge = (not is2d and (k == 0 or k == nz - 1)) or j == 0 or j == ny - 1 or nx <= 2
    same = v >= 0 and not on_edge
    if same:  # one slot throughout: are the neighbour rows the same value throughout?
        for t in range(nwide + nnarrow):
            dz = wide[t, 0] if t < nwide else narrow[t - nwide, 0]
            dy = wide[t, 1] if t < nwide else narrow[t - nwide, 1]
            if rowval[(k + dz) * ny + j + dy] != v:
                same = False
    if on_edge:
        for i in range(nx):
            flag[i] = True
    elif same:  # inside one structure: only the ends of the row (the array's edge along x)
        for i in range(1, nx - 1):
            flag[i] = False
        flag[0] = True
        flag[nx - 1] = True
    else:
        flag[0] = True
        flag[nx - 1] = True
        for i in range(1, nx - 1):
            w = row[i]
            flag[i] = (row[i - 1] != w) | (row[i + 1] != w)
        for t in range(nwide):
            nb = m[k + wide[t, 0], j + wide[t, 1]]
            for i in range(1, nx - 1):
                w = row[i]
                flag[i] |= (nb[i - 1] != w) | (nb[i] != w) | (nb[i + 1] != w)
        for t in range(nnarrow):
            nb = m[k + narrow[t, 0], j + narrow[t, 1]]
            for i in range(1, nx - 1):
                flag[i] |= nb[i] != row[i]
    n = 0
    for i in range(nx):
        if not flag[i]:
            continue
        s = lut[row[i]]
        if s < 0:
            continue
        if not (on_edge or i == 0 or i == nx - 1):  # a different value: another slot, unless a region
            inner = True
            for t in range(-1, nwide + nnarrow):
                if t < 0:
                    a = lut[row[i - 1]] == s and lut[row[i + 1]] == s
                elif t < nwide:
                    nb = m[k + wide[t, 0], j + wide[t, 1]]
                    a = lut[nb[i - 1]] == s and lut[nb[i]] == s and lut[nb[i + 1]] == s
                else:
                    nb = m[k + narrow[t - nwide, 0], j + narrow[t - nwide, 1]]
                    a = lut[nb[i]] == s
                if not a:
                    inner = False
                    break
            if inner:
                continue
        n += 1
        if not count:
            bslot[cursor] = s
            index[cursor] = base + i
            pos[s] += 1
            cursor += 1
    return n if count else cursor


@jit(parallel=True)
def label_boundaries(m, lut, nslots, connectivity, is2d, nchunks):
    """Boundary voxels of every structure of a label map in one pass, as sparse lists: per slot (see
    :func:`label_surfels` for ``lut``), the voxels of the slot with a neighbour within
    ``connectivity`` of another slot (background included), or on the array's edge along a
    neighbour axis: exactly :func:`fastseg._kernels.surface.boundary_voxels` on the slot's mask.
    Returns ``(start, index)``: slot ``s``'s voxels are ``index[start[s]:start[s+1]]`` (flat C-order,
    increasing). Rows whose neighbourhood holds one value cost a look at the per-row values."""
    nz, ny, nx = m.shape
    nrow = nz * ny
    rowval = _row_values(m)
    wide, nwide, narrow, nnarrow = _neighbour_rows(connectivity, is2d)
    room = np.zeros(nchunks + 1, np.int64)
    none_i = np.zeros(0, np.int64)
    none_s = np.zeros(0, np.int32)
    none_p = np.zeros(0, np.int64)
    for ch in prange(nchunks):  # every voxel counted is one point at most: the buffers' exact bound
        flag = np.empty(nx, np.bool_)
        n = 0
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            n += _boundary_row(m, rowval, lut, rr // ny, rr % ny, wide, nwide, narrow, nnarrow, is2d, True,
                               none_p, none_i, none_s, 0, flag)
        room[ch + 1] = n
    for ch in range(nchunks):
        room[ch + 1] += room[ch]
    bslot = np.empty(room[nchunks], np.int32)
    bindex = np.empty(room[nchunks], np.int64)
    counts = np.zeros((nchunks, nslots), np.int64)
    for ch in prange(nchunks):
        flag = np.empty(nx, np.bool_)
        cursor = room[ch]
        for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
            cursor = _boundary_row(m, rowval, lut, rr // ny, rr % ny, wide, nwide, narrow, nnarrow, is2d, False,
                                   counts[ch], bindex, bslot, cursor, flag)
    start = np.zeros(nslots + 1, np.int64)
    for s in range(nslots):
        total = start[s]
        for ch in range(nchunks):
            c = counts[ch, s]
            counts[ch, s] = total
            total += c
        start[s + 1] = total
    index = np.empty(start[nslots], np.int64)
    for ch in range(nchunks):  # one thread: a few ns per point, and no parallel loop to compile
        pos = counts[ch]
        for e in range(room[ch], room[ch + 1]):
            s = bslot[e]
            index[pos[s]] = bindex[e]
            pos[s] += 1
    return start, index
