"""Connected-component kernels: run-based labelling with union-find, and per-component sizes and
bounding boxes in one pass.

A mask is a flat C-ordered uint8 array of shape ``(Z, Y, X)`` (a 2D mask is ``(1, H, W)``); a row is
one ``(z, y)`` line along X. Labelling works on runs (maximal stretches of foreground along a row),
over fixed chunks of whole slices (of rows in 2D):

1. per row, the number of runs (parallel; empty stretches are skipped eight bytes at a time, the
   runs between the row's first and last foreground voxel counted by a vectorised loop), their offsets
   (a serial prefix sum), their starts and stops (a word at a time when rows start on words);
2. union-find over runs: each run is linked with the touching runs of the earlier neighbour rows
   ``(z, y-1)``, ``(z-1, y)``, ``(z-1, y-1)``, ``(z-1, y+1)``, inside its chunk (parallel, right after
   the chunk's runs are found), then across chunk boundaries (serial). The smaller index always
   becomes the root, so every tree's root is its component's first run in raster order, whatever the
   order of the unions (and the thread count);
3. final labels in one serial sweep over runs (a root takes the next number, any other run its
   parent's, which is earlier and already final): components are numbered in raster order of their
   first voxel, as ``scipy.ndimage.label`` does; the runs are then written out (parallel).

The neighbourhood is given by three tolerances ``ty, tz, tzy`` of the neighbour rows ``(z, y-1)``,
``(z-1, y)`` and ``(z-1, y+-1)``: two runs ``[s, e)`` of neighbour rows touch when
``s_a < e_b + t and s_b < e_a + t`` (``t = 0``: a shared column, ``t = 1``: diagonal contact too;
``t = -1``: the rows are not neighbours). 6-connectivity is ``(0, 0, -1)``, 18 is ``(1, 1, 0)``, 26 is
``(1, 1, 1)``; in 2D (``Z = 1``) only ``ty`` matters (4: 0, 8: 1).

Hot loops that should vectorise index with unsigned integers: numba's check for negative indices
on signed ones prevents it.
"""
import numpy as np

from ._jit import jit, prange


@jit
def _next_nonzero(a, w, p, end, shift):
    """The first index in ``[p, end)`` with ``a != 0``, else ``end``. ``w`` is ``a`` viewed as uint64
    words of ``1 << shift`` items each: aligned stretches are skipped eight words, then one word, at a
    time."""
    per = 1 << shift
    while p < end and (p & (per - 1)) != 0:
        if a[p] != 0:
            return p
        p += 1
    while p + 8 * per <= end:
        q = p >> shift
        if (w[q] | w[q + 1] | w[q + 2] | w[q + 3] | w[q + 4] | w[q + 5] | w[q + 6] | w[q + 7]) != 0:
            break
        p += 8 * per
    while p + per <= end and w[p >> shift] == 0:
        p += per
    while p < end and a[p] == 0:
        p += 1
    return p


@jit
def _last_one(m, w, lo, end):
    """The last index in ``[lo, end)`` with ``m != 0`` (there is one), searching backwards."""
    p = end
    while p > lo and (p & 7) != 0:
        if m[p - 1] != 0:
            return p - 1
        p -= 1
    while p - 8 >= lo and w[(p >> 3) - 1] == 0:
        p -= 8
    while m[p - 1] == 0:
        p -= 1
    return p - 1


@jit
def _count_runs(m, lo, hi):
    """Runs in ``m[lo:hi]``, where ``m[lo]`` is foreground (branch-free, vectorised)."""
    n = 1
    one = np.uint64(1)
    for x in range(np.uint64(lo) + one, np.uint64(hi)):
        n += (m[x] != 0) & (m[x - one] == 0)
    return n


@jit
def _row_runs(m, w, lo, hi, n, base, edges, i, aligned, table):
    """The ``n`` runs of ``m[lo:hi]`` (foreground at both ends) as ``[start, stop)`` pairs relative to
    ``base`` into ``edges[2 * i:]``. ``aligned``: rows start on a word, so whole words of ``w`` can be
    read: a word's edges (bytes that differ from the byte before) are bits of one XOR, read off lowest
    first (``table``: de Bruijn, bit to byte), starts and stops alternating. Else byte by byte."""
    k = 2 * i
    if n == 1:
        edges[k] = lo - base
        edges[k + 1] = hi - base
        return
    if aligned:
        ones = np.uint64(0x0101010101010101)
        carry = np.uint64(0)  # the byte before the word (lo - 1, if in the row, is background)
        for q in range(lo >> 3, (hi + 7) >> 3):
            v = w[q]
            v |= v >> np.uint64(4)  # each byte's bits onto its bit 0
            v |= v >> np.uint64(2)
            v |= v >> np.uint64(1)
            v &= ones
            e = v ^ ((v << np.uint64(8)) | carry)
            carry = v >> np.uint64(56)
            while e != 0:
                low = e & (~e + np.uint64(1))
                edges[k] = 8 * q + table[(low * np.uint64(0x03F79D71B4CB0A89)) >> np.uint64(58)] - base
                k += 1
                e ^= low
        if carry != 0:  # the run reaches the end of the row
            edges[k] = hi - base
        return
    p = lo
    while p < hi:
        e = p + 1
        while e < hi and m[e] != 0:
            e += 1
        edges[k] = p - base
        edges[k + 1] = e - base
        k += 2
        p = e + 1
        while p < hi and m[p] == 0:
            p += 1


@jit
def _find(parent, x):
    """Root of ``x`` with path halving (``parent[x] <= x`` always holds)."""
    while parent[x] != x:
        g = parent[parent[x]]
        parent[x] = g
        x = g
    return x


@jit
def _link_rows(parent, edges, first, r0, r1, Y, ty, tz, tzy, lo, hi):
    """Union the runs of rows ``[r0, r1)`` with the touching runs of their earlier neighbour rows
    ``q`` with ``lo <= q < min(hi, r)``. Runs of a row are visited in order, a cursor into each
    neighbour row's runs moving on monotonically; the root of the current run is looked up once,
    lazily, and the smaller of two roots becomes the parent."""
    cur = np.empty(4, np.int64)  # per neighbour row: cursor, end of its runs, tolerance
    end = np.empty(4, np.int64)
    tol = np.empty(4, np.int64)
    for r in range(r0, r1):
        a0 = first[r]
        a1 = first[r + 1]
        if a0 == a1:
            continue
        y = r % Y
        top = min(hi, r)
        n = 0
        q = r - 1
        if ty >= 0 and y > 0 and lo <= q < top and first[q] < first[q + 1]:
            cur[n] = first[q]
            end[n] = first[q + 1]
            tol[n] = ty
            n += 1
        q = r - Y
        if tz >= 0 and lo <= q < top and first[q] < first[q + 1]:
            cur[n] = first[q]
            end[n] = first[q + 1]
            tol[n] = tz
            n += 1
        q = r - Y - 1
        if tzy >= 0 and y > 0 and lo <= q < top and first[q] < first[q + 1]:
            cur[n] = first[q]
            end[n] = first[q + 1]
            tol[n] = tzy
            n += 1
        q = r - Y + 1
        if tzy >= 0 and y + 1 < Y and lo <= q < top and first[q] < first[q + 1]:
            cur[n] = first[q]
            end[n] = first[q + 1]
            tol[n] = tzy
            n += 1
        if n == 0:
            continue
        for i in range(a0, a1):
            si = edges[2 * i]
            ei = edges[2 * i + 1]
            ra = -1
            for u in range(n):
                t = tol[u]
                j = cur[u]
                ju = end[u]
                while j < ju and edges[2 * j + 1] + t <= si:
                    j += 1
                j0 = j
                while j < ju and edges[2 * j] < ei + t:
                    if ra < 0:
                        ra = _find(parent, i)
                    rb = _find(parent, j)
                    if rb < ra:
                        parent[ra] = rb
                        ra = rb
                    elif ra < rb:
                        parent[rb] = ra
                    j += 1
                cur[u] = j - 1 if j > j0 else j  # the last touching run may touch the next run too


@jit
def _runs_chunk(mask, words, X, r0, r1, first, span):
    """Step 1 of :func:`label_into` on rows ``[r0, r1)``: each row's span (its first and last
    foreground voxel) and number of runs (in ``first[r + 1]``)."""
    for r in range(r0, r1):
        base = r * X
        first[r + 1] = 0
        lo = _next_nonzero(mask, words, base, base + X, 3)
        if lo == base + X:
            continue
        hi = _last_one(mask, words, lo, base + X) + 1
        span[r, 0] = lo
        span[r, 1] = hi
        first[r + 1] = _count_runs(mask, lo, hi)


@jit
def _edges_chunk(mask, words, X, Y, r0, r1, first, span, edges, parent, aligned, table, ty, tz, tzy, R):
    """Step 2 of :func:`label_into` on rows ``[r0, r1)``: the runs' edges, each run its own parent,
    then the union of the runs inside the chunk."""
    for r in range(r0, r1):
        if first[r] < first[r + 1]:
            _row_runs(mask, words, span[r, 0], span[r, 1], first[r + 1] - first[r], r * X, edges, first[r],
                      aligned, table)
            for i in range(first[r], first[r + 1]):
                parent[i] = i
    _link_rows(parent, edges, first, r0, r1, Y, ty, tz, tzy, r0, R)


@jit
def _write_chunk(out, X, r0, r1, first, edges, parent):
    """Step 3 of :func:`label_into` on rows ``[r0, r1)``: every run's final label written out."""
    for r in range(r0, r1):
        base = r * X
        for i in range(first[r], first[r + 1]):
            lab = parent[i]
            for x in range(np.uint64(base + edges[2 * i]), np.uint64(base + edges[2 * i + 1])):
                out[x] = lab


@jit(parallel=True)
def label_into(mask, words, out, Z, Y, X, ty, tz, tzy, nchunks):
    """Label the components of ``mask`` (flat uint8, C order of ``(Z, Y, X)``, nonzero = foreground;
    ``words``: its first ``8 * (size // 8)`` bytes as uint64, so ``mask`` must be 8-byte aligned)
    into ``out`` (flat int32, zero on entry: only foreground voxels are written). Returns the number
    of components. ``nchunks``: chunks of whole slices (of rows when ``Z == 1``).

    The chunks' work is serial kernels (:func:`_runs_chunk`, :func:`_edges_chunk`,
    :func:`_write_chunk`); only the three loops over chunks are compiled in parallel mode, which
    costs about a second per parallel kernel and grows with what the loops hold.
    """
    R = Z * Y
    unit = Y if Z > 1 else 1  # chunk boundaries fall on slices (rows of a 2D mask)
    nunits = R // unit if R > 0 else 0
    k = max(1, min(nchunks, nunits))
    bounds = np.empty(k + 1, np.int64)
    for c in range(k + 1):
        bounds[c] = unit * (nunits * c // k)
    first = np.empty(R + 1, np.int64)  # first[r + 1]: runs of row r, then (prefix sum) offsets
    span = np.empty((R, 2), np.int64)

    # 1. runs per row (between the row's first and last foreground voxel), offsets, starts and stops
    for c in prange(k):
        _runs_chunk(mask, words, X, bounds[c], bounds[c + 1], first, span)
    first[0] = 0
    for r in range(R):
        first[r + 1] += first[r]
    nruns = first[R]
    edges = np.empty(2 * nruns, np.int32)  # run i is [edges[2i], edges[2i + 1]) along its row
    parent = np.empty(nruns, np.int32)
    aligned = X % 8 == 0
    table = np.empty(64, np.int64)  # de Bruijn: the lowest set bit of a word -> its byte
    for b in range(64):
        table[((np.uint64(1) << np.uint64(b)) * np.uint64(0x03F79D71B4CB0A89)) >> np.uint64(58)] = b >> 3
    # 2. edges and union-find inside each chunk (its runs are in place) ...
    for c in prange(k):
        _edges_chunk(mask, words, X, Y, bounds[c], bounds[c + 1], first, span, edges, parent, aligned, table,
                     ty, tz, tzy, R)
    # ... then across chunk boundaries: the rows with neighbours in earlier chunks are those of the
    # first slice of a chunk of slices, the first row of a chunk of rows
    reach = Y if Z > 1 else 1
    zero = bounds[0]  # 0, as a variable: one specialisation of _link_rows (a literal 0 makes a second)
    for c in range(1, k):
        _link_rows(parent, edges, first, bounds[c], min(bounds[c] + reach, bounds[c + 1]), Y, ty, tz, tzy,
                   zero, bounds[c])

    # 3. final labels (in place of the parents), written out
    n = 0
    for i in range(nruns):
        p = parent[i]
        if p == i:
            n += 1
            parent[i] = n
        else:
            parent[i] = parent[p]
    for c in prange(k):
        _write_chunk(out, X, bounds[c], bounds[c + 1], first, edges, parent)
    return n


@jit
def label_blocks(a, w, shift, Z, Y, X, bz, by, bx, slot, out, r0, r1):
    """``out[slot[v], z // bz, y // by, x // bx] = 1`` for every voxel of value ``v`` with ``slot[v] >= 0``
    on rows ``[r0, r1)`` of the flat C-ordered ``(Z, Y, X)`` label map ``a`` (``w``: its first whole
    words as uint64, ``1 << shift`` values each); zero stretches are skipped a word at a time, and
    ranges of rows on several threads may write the same 1."""
    for r in range(r0, r1):
        z = r // Y
        y = r - z * Y
        base = r * X
        end = base + X
        p = _next_nonzero(a, w, base, end, shift)
        while p < end:
            v = a[p]
            x = (p - base) // bx
            if slot[v] >= 0:
                out[slot[v], z // bz, y // by, x] = 1
            stop = min(base + (x + 1) * bx, end)  # the rest of this value's run in this block is decided
            p += 1
            while p < stop and a[p] == v:
                p += 1
            if p < end and a[p] == 0:
                p = _next_nonzero(a, w, p, end, shift)


@jit
def _stats_chunk(labels, words, Y, X, r0, r1, a):
    """The sizes and boxes of the labels on rows ``[r0, r1)`` into the chunk's buffer ``a`` (see
    :func:`component_stats`)."""
    big = np.int64(1) << 62
    for i in range(a.shape[0]):
        a[i, 0] = 0
        for d in range(3):
            a[i, 1 + 2 * d] = big
            a[i, 2 + 2 * d] = -1
    for r in range(r0, r1):
        z = r // Y
        y = r - z * Y
        base = r * X
        end = base + X
        p = _next_nonzero(labels, words, base, end, 1)
        while p < end:
            lab = labels[p]
            e = p + 1
            while e < end and labels[e] == lab:
                e += 1
            a[lab, 0] += e - p
            a[lab, 1] = min(a[lab, 1], z)
            a[lab, 2] = max(a[lab, 2], z)
            a[lab, 3] = min(a[lab, 3], y)
            a[lab, 4] = max(a[lab, 4], y)
            a[lab, 5] = min(a[lab, 5], p - base)
            a[lab, 6] = max(a[lab, 6], e - 1 - base)
            p = _next_nonzero(labels, words, e, end, 1)


@jit(parallel=True)
def component_stats(labels, words, Z, Y, X, n, nchunks):
    """Sizes (int64 ``(n + 1,)``, index 0 the background) and inclusive boxes (int64 ``(n + 1, 6)``,
    ``[z0, z1, y0, y1, x0, x1]``; the background's and absent labels' boxes are ``[big, -1, ...]``) of
    the labels ``1..n`` of a flat int32 labels array of shape ``(Z, Y, X)`` (``words``: its first
    ``2 * (size // 2)`` labels as uint64, so ``labels`` must be 8-byte aligned). One pass over fixed
    chunks of rows, each with its own buffer (size then box per label, :func:`_stats_chunk`), merged in
    chunk order; runs of one label along a row count once."""
    size = np.empty(n + 1, np.int64)
    box = np.empty((n + 1, 6), np.int64)
    R = Z * Y
    k = max(1, min(nchunks, R))
    acc = np.empty((k, n + 1, 7), np.int64)
    big = np.int64(1) << 62
    for c in prange(k):
        _stats_chunk(labels, words, Y, X, R * c // k, R * (c + 1) // k, acc[c])
    for i in range(n + 1):
        size[i] = 0
        for d in range(3):
            box[i, 2 * d] = big
            box[i, 2 * d + 1] = -1
        for c in range(k):
            size[i] += acc[c, i, 0]
            for d in range(3):
                box[i, 2 * d] = min(box[i, 2 * d], acc[c, i, 1 + 2 * d])
                box[i, 2 * d + 1] = max(box[i, 2 * d + 1], acc[c, i, 2 + 2 * d])
    size[0] = Z * Y * X
    for i in range(1, n + 1):
        size[0] -= size[i]
    return size, box
