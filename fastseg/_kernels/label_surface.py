"""Surfaces of every structure of a label map in one pass over the map, as sparse point lists.

The corner lattice and neighbour codes are those of :mod:`fastseg._kernels.surface` (its module
docstring): a corner is a surface point of a structure when some but not all of the voxels around
it belong to the structure; a boundary voxel is a voxel of the structure with a neighbour of
another. These kernels find the points of every structure at once, at a cost of one read of the map
plus work per *mixed* corner (voxels of more than one value around it) or per voxel with a
different neighbour, never per structure or per bounding box: stray voxels far from a structure
add their few points, not the space between.

1. :func:`row_values`: per voxel row, its one value or -1. A lattice row whose four voxel rows
   hold one value throughout has no mixed corner (background) or two (a structure touching the
   array's edges); a voxel row whose neighbour rows hold its one value has boundary voxels only at
   its ends.
2. :func:`surfels_of_rows` / :func:`boundaries_of_rows`, on a range of rows: the mixed corners by
   comparisons on bools (vectorised), then per mixed corner the slots around it and their codes
   (two values, the common case, straight from the raw values), appended in lattice order to
   buffers that grow as needed.
3. :func:`group_by_slot`: the ranges' points, concatenated in order, grouped slot by slot (a
   stable counting sort): each slot's points in increasing order.

Every kernel is serial: the engine runs row ranges on threads side by side (the kernels release
the GIL), so results do not depend on the thread count, and a first run compiles plain loops only
(numba's parallel loops cost seconds of compilation here).
"""
import numpy as np

from ._jit import jit
from .surface import neighbourhood


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
def _emit_row(r00, r01, r10, r11, mixed, words, where, lut, is2d, sl, bslot, bindex, bcode, cursor, end, base):
    """The surface points of one lattice row's mixed corners: per corner, the slots of the voxels
    around it and, for each slot that does not fill it, the code; each point appended at ``cursor``
    to ``bslot`` / ``bindex`` (flat index ``base + i``) / ``bcode``.
    Returns the new cursor, or -1 when a point would pass ``end``. One call per row, the per-corner
    work inlined (a call per corner, with its dozens of array fields, cost more than the work).

    Most mixed corners see two values (a structure and background, or two structures): their codes
    come from the raw values directly, held in registers (the values around the corner, its smallest
    and largest, and the bits equal to each); three or more take the general slot-by-slot rule."""
    nx = r00.size
    nb = 4 if is2d else 8
    full = 15 if is2d else 255
    nmixed = 0
    for q in range(words.size):
        if words[q] == 0:  # 8 corners at a time: most of a row is far from any surface
            continue
        for i in range(8 * q, 8 * q + 8):  # the mixed ones listed without a branch per corner
            where[nmixed] = i
            nmixed += np.int64(mixed[i])
    for e in range(nmixed):
        i = where[e]
        lo = i >= 1
        hi = i < nx
        il = i - 1 if lo else 0  # in range either way; the value is 0 outside the array
        ih = i if hi else nx - 1
        if is2d:
            a0 = np.int64(r10[il]) if lo else np.int64(0)
            a1 = np.int64(r10[ih]) if hi else np.int64(0)
            a2 = np.int64(r11[il]) if lo else np.int64(0)
            a3 = np.int64(r11[ih]) if hi else np.int64(0)
            a4 = a5 = a6 = a7 = a0
            hi_v = max(max(a0, a1), max(a2, a3))
            lo_v = min(min(a0, a1), min(a2, a3))
        else:
            a0 = np.int64(r00[il]) if lo else np.int64(0)
            a1 = np.int64(r00[ih]) if hi else np.int64(0)
            a2 = np.int64(r01[il]) if lo else np.int64(0)
            a3 = np.int64(r01[ih]) if hi else np.int64(0)
            a4 = np.int64(r10[il]) if lo else np.int64(0)
            a5 = np.int64(r10[ih]) if hi else np.int64(0)
            a6 = np.int64(r11[il]) if lo else np.int64(0)
            a7 = np.int64(r11[ih]) if hi else np.int64(0)
            hi_v = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
            lo_v = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
        v0 = a0
        v1 = hi_v if hi_v != v0 else lo_v  # the other value when there are two
        code0 = _bits(a0, a1, a2, a3, a4, a5, a6, a7, v0) & full
        code1 = _bits(a0, a1, a2, a3, a4, a5, a6, a7, v1) & full
        if code0 | code1 == full:  # two values, the common case: a code each, neither full
            s0 = lut[v0]
            s1 = lut[v1]
            if s0 == s1:  # one slot holds both (a region): inside it
                continue
            if cursor + 2 > end:
                return -1
            # both written, each kept (the cursor moved past it) when it is a slot: no branch
            bslot[cursor] = s0
            bindex[cursor] = base + i
            bcode[cursor] = code0
            cursor += np.int64(s0 >= 0)
            bslot[cursor] = s1
            bindex[cursor] = base + i
            bcode[cursor] = code1
            cursor += np.int64(s1 >= 0)
            continue
        sl[0] = lut[a0]  # three or more values: slots, not raw values
        sl[1] = lut[a1]
        sl[2] = lut[a2]
        sl[3] = lut[a3]
        sl[4] = lut[a4]
        sl[5] = lut[a5]
        sl[6] = lut[a6]
        sl[7] = lut[a7]
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
            cursor += 1
    return cursor


@jit
def _bits(a0, a1, a2, a3, a4, a5, a6, a7, v):
    """The bits ``b`` of the eight values ``a_b`` equal to ``v``."""
    return (np.int64(a0 == v) | (np.int64(a1 == v) << 1) | (np.int64(a2 == v) << 2) | (np.int64(a3 == v) << 3)
            | (np.int64(a4 == v) << 4) | (np.int64(a5 == v) << 5) | (np.int64(a6 == v) << 6)
            | (np.int64(a7 == v) << 7))


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
def row_values(m):
    """Per voxel row ``(k, j)`` (flat ``k * ny + j``): its one value, or -1 for a row of several (a
    read at memory speed: a few ms for 67 Mvox)."""
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


@jit
def _grow(a, n):
    """``a`` with room for at least ``n`` elements (doubled), its content kept."""
    if n <= a.size:
        return a
    b = np.empty(max(n, 2 * a.size), a.dtype)
    for i in range(a.size):  # a loop, not b[:n] = a: the slice's shape check compiles numba's string
        b[i] = a[i]          # formatting, seconds on every first run
    return b


@jit
def surfels_of_rows(m, lut, nslots, is2d, rowval, r0, r1):
    """The surfels of every slot on lattice rows ``r0 .. r1 - 1`` (flat ``k * (Y + 1) + j``), in
    lattice order: ``(slot, index, code)``, for :func:`group_by_slot` (module docstring;
    ``rowval``: :func:`row_values` of ``m``). ``lut``: int32 with an entry for every value of ``m``'s
    dtype, the slot of a value, -1 for none (``lut[0]`` must be -1: outside the array counts as 0);
    several values may share a slot (a region). The points and codes of a slot are exactly those
    :func:`fastseg._kernels.surface.surfels` gives on the mask of the slot's values. One thread: the
    caller runs row ranges side by side."""
    nz, ny, nx = m.shape
    ly = ny + 1
    lx = nx + 1
    zrow = np.zeros(nx, m.dtype)
    mixed = np.zeros(8 * ((lx + 7) // 8), np.bool_)  # whole words; the tail stays False
    words = mixed.view(np.uint64)
    where = np.empty(mixed.size, np.int64)
    sl = np.empty(8, np.int64)
    bslot = np.empty(1024, np.int32)
    bindex = np.empty(1024, np.int64)
    bcode = np.empty(1024, np.uint8)
    n = np.int64(0)  # typed: a literal 0 would compile the callee a second time
    for rr in range(r0, r1):
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
        room = n + 8 * lx  # a corner has at most eight points
        bslot, bindex, bcode = _grow(bslot, room), _grow(bindex, room), _grow(bcode, room)
        n = _emit_row(r00, r01, r10, r11, mixed, words, where, lut, is2d, sl, bslot, bindex, bcode, n, room,
                      rr * lx)
    return bslot[:n], bindex[:n], bcode[:n]


@jit
def group_by_slot(slot, index, code, nslots):
    """``(start, index, code)``: the points grouped by slot, each slot's in their given order (a
    stable counting sort); slot ``s``'s are ``index[start[s]:start[s + 1]]``. ``code`` may be empty
    (boundary voxels: no codes)."""
    start = np.zeros(nslots + 1, np.int64)
    for e in range(slot.size):
        start[slot[e] + 1] += 1
    for s in range(nslots):
        start[s + 1] += start[s]
    pos = start[:nslots].copy()
    out_index = np.empty(slot.size, np.int64)
    out_code = np.empty(code.size, np.uint8)
    for e in range(slot.size):
        q = pos[slot[e]]
        out_index[q] = index[e]
        if code.size:
            out_code[q] = code[e]
        pos[slot[e]] = q + 1
    return start, out_index, out_code


@jit
def _boundary_row(m, rowval, lut, k, j, wide, nwide, narrow, nnarrow, is2d, index, bslot, cursor, flag):
    """The boundary voxels of voxel row ``(k, j)`` of every slot: voxels of a slot with a neighbour
    (within the connectivity) of another slot, or on the array's edge along a neighbour axis.
    Slot and flat index appended at ``cursor``; returns the new cursor (``flag``: scratch)."""
    nz, ny, nx = m.shape
    row = m[k, j]
    base = (k * ny + j) * nx
    v = rowval[k * ny + j]
    if v >= 0 and lut[v] < 0:  # background (or labels not asked for) throughout
        return cursor
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
        for t in range(1, nwide):  # wide[0] is the row itself, done above
            nb = m[k + wide[t, 0], j + wide[t, 1]]
            for i in range(1, nx - 1):
                w = row[i]
                flag[i] |= (nb[i - 1] != w) | (nb[i] != w) | (nb[i + 1] != w)
        for t in range(nnarrow):
            nb = m[k + narrow[t, 0], j + narrow[t, 1]]
            for i in range(1, nx - 1):
                flag[i] |= nb[i] != row[i]
    for i in range(nx):
        if not flag[i]:
            continue
        s = lut[row[i]]
        if s < 0:
            continue
        if not (on_edge or i == 0 or i == nx - 1):  # a different value: another slot, unless a region
            inner = True
            for t in range(nwide + nnarrow):  # the row itself first (wide[0])
                if t < nwide:
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
        bslot[cursor] = s
        index[cursor] = base + i
        cursor += 1
    return cursor


@jit
def boundaries_of_rows(m, lut, connectivity, is2d, rowval, r0, r1):
    """The boundary voxels of every slot on voxel rows ``r0 .. r1 - 1`` (flat ``k * Y + j``), in
    order: ``(slot, index)``, for :func:`group_by_slot`. A slot's boundary voxels are its voxels with
    a neighbour within ``connectivity`` of another slot (background included), or on the array's edge
    along a neighbour axis: exactly :func:`fastseg._kernels.surface.boundary_voxels` on the slot's
    mask (``lut``, ``rowval``: as for :func:`surfels_of_rows`). Rows whose neighbourhood holds one
    value cost a look at the per-row values. One thread: the caller runs row ranges side by side."""
    nz, ny, nx = m.shape
    wide, nwide, narrow, nnarrow = neighbourhood(connectivity, is2d)  # wide[0]: the row itself
    flag = np.empty(nx, np.bool_)
    bslot = np.empty(1024, np.int32)
    bindex = np.empty(1024, np.int64)
    n = np.int64(0)  # typed: a literal 0 would compile the callee a second time
    for rr in range(r0, r1):
        bslot, bindex = _grow(bslot, n + nx), _grow(bindex, n + nx)
        n = _boundary_row(m, rowval, lut, rr // ny, rr % ny, wide, nwide, narrow, nnarrow, is2d, bindex, bslot, n,
                          flag)
    return bslot[:n], bindex[:n]
