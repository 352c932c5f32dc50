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
   the exact two-pass count-then-write of the same rule);
4. the buffers scattered slot by slot: each slot's points in lattice order.
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


#: what :func:`_emit_row` does with a point: count it per slot, store it at its slot's position, or
#: append it to a range's buffer
COUNT, STORE, APPEND = 0, 1, 2


@jit
def _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, mode, pos, index, code_out, bslot, cursor,
              end, base):
    """The surface points of one lattice row's mixed corners: per corner, the slots of the voxels
    around it and, for each slot that does not fill it, the code. ``mode`` COUNT: ``pos[slot] += 1``;
    STORE: ``index[pos[slot]] = base + i``, ``code_out[...] = code``, ``pos[slot] += 1``; APPEND:
    slot, index and code at ``cursor`` in ``bslot`` / ``index`` / ``code_out``, and ``pos[slot] +=
    1``. Returns the cursor, or -1 when APPEND would pass ``end``. One call per row, the per-corner
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
            code0 = 0
            v1 = v0
            for b in range(nb):
                if sl[b] == v0:
                    code0 |= 1 << b
                else:
                    v1 = sl[b]
            code1 = 0
            for b in range(nb):
                if sl[b] == v1:
                    code1 |= 1 << b
            if code0 | code1 == full:  # two values: two codes, one per value's slot
                s0 = lut[v0]
                s1 = lut[v1]
                if s0 == s1:  # one slot holds both (a region): inside it
                    continue
                for t in range(2):
                    s = s0 if t == 0 else s1
                    if s < 0:
                        continue
                    code = code0 if t == 0 else code1
                    cursor = _put(mode, s, code, base + i, pos, index, code_out, bslot, cursor, end)
                    if cursor < 0:
                        return -1
                continue
            for b in range(nb):  # three or more values: slot by slot
                sl[b] = lut[sl[b]]
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
                cursor = _put(mode, s, code, base + i, pos, index, code_out, bslot, cursor, end)
                if cursor < 0:
                    return -1
    return cursor


@jit
def _put(mode, s, code, at, pos, index, code_out, bslot, cursor, end):
    if mode == COUNT:
        pos[s] += 1
    elif mode == STORE:
        q = pos[s]
        index[q] = at
        code_out[q] = code
        pos[s] = q + 1
    else:
        if cursor >= end:
            return -1
        bslot[cursor] = s
        index[cursor] = at
        code_out[cursor] = code
        pos[s] += 1
        cursor += 1
    return cursor


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


@jit(parallel=True)
def _row_values(m, nchunks):
    """Per voxel row ``(k, j)`` (flat ``k * ny + j``): its one value, or -1 for a row of several."""
    nz, ny, nx = m.shape
    rowval = np.empty(nz * ny, np.int64)
    for ch in prange(nchunks):
        for rr in range(nz * ny * ch // nchunks, nz * ny * (ch + 1) // nchunks):
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

    Returns ``(start, index, code)``: slot ``s``'s surface points are ``index[start[s]:start[s+1]]``
    (int64 flat C-order lattice indices, increasing) with their codes.
    """
    nz, ny, nx = m.shape
    lz = 1 if is2d else nz + 1
    ly = ny + 1
    lx = nx + 1
    nrow = lz * ly
    zrow = np.zeros(nx, m.dtype)
    rowval = _row_values(m, nchunks)
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
            cursor = _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, APPEND, counts[ch], bindex, bcode,
                               bslot, cursor, nmixed[ch + 1], rr * lx)
            if cursor < 0:
                break
        used[ch] = cursor - nmixed[ch] if cursor >= 0 else -1
    if used.min() < 0:  # a range with more than two points per mixed corner: count, then store
        return _two_pass(m, lut, nslots, is2d, nchunks, rowval, flagged)
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
    for ch in prange(nchunks):
        pos = counts[ch].copy()
        for e in range(nmixed[ch], nmixed[ch] + used[ch]):
            s = bslot[e]
            q = pos[s]
            index[q] = bindex[e]
            code_out[q] = bcode[e]
            pos[s] = q + 1
    return start, index, code_out


@jit(parallel=True)
def _two_pass(m, lut, nslots, is2d, nchunks, rowval, flagged):
    """:func:`label_surfels` by counting every slot's points per range, then storing them."""
    nz, ny, nx = m.shape
    ly = ny + 1
    lx = nx + 1
    nrow = flagged.size
    zrow = np.zeros(nx, m.dtype)
    counts = np.zeros((nchunks, nslots), np.int64)
    start = np.zeros(nslots + 1, np.int64)
    none_i = np.zeros(0, np.int64)
    none_c = np.zeros(0, np.uint8)
    none_s = np.zeros(0, np.int32)
    for mode in (COUNT, STORE):
        if mode == STORE:
            for s in range(nslots):
                total = start[s]
                for ch in range(nchunks):
                    c = counts[ch, s]
                    counts[ch, s] = total
                    total += c
                start[s + 1] = total
            index = np.empty(start[nslots], np.int64)
            code_out = np.empty(start[nslots], np.uint8)
        else:
            index = none_i
            code_out = none_c
        for ch in prange(nchunks):
            mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)
            words = mixed.view(np.uint64)
            sl = np.empty(8, np.int64)
            pos = counts[ch]
            for rr in range(nrow * ch // nchunks, nrow * (ch + 1) // nchunks):
                if flagged[rr] == 0:
                    continue
                _, r00, r01, r10, r11 = _row_setup(m, zrow, rowval, rr // ly, rr % ly, is2d, mixed)
                _emit_row(r00, r01, r10, r11, mixed, words, lut, is2d, sl, mode, pos, index, code_out, none_s,
                          0, 0, rr * lx)
    return start, index, code_out
