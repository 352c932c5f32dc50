"""One-pass counting kernels: binary confusion counts, label-map confusion matrix with bounding boxes,
and the sums behind the soft (probabilistic) overlap metrics.

Every reduction runs over a fixed number of chunks, each with its own buffer, merged serially in chunk
order: integer results are exact, float results are bit-identical whatever the thread count.
"""
import numpy as np

from ._jit import jit, prange


@jit
def _binary_chunk(pw, rw, start, stop, block, out):
    """:func:`binary_counts` of the words ``[start, stop)``, written to ``out`` (5 int64).

    Bytes are summed in uint64 lanes over blocks of ``block`` words, then widened: the SWAR sum of the
    8 bytes of a word (each byte <= 255), written out three times rather than called (one kernel less
    to compile).
    """
    high = np.uint64(0xFEFEFEFEFEFEFEFE)
    m = np.uint64(0x00FF00FF00FF00FF)
    mul = np.uint64(0x0001000100010001)
    s8 = np.uint64(8)
    s48 = np.uint64(48)
    ub = np.uint64(block)
    tp = 0
    sp = 0
    sr = 0
    orp = np.uint64(0)
    orr = np.uint64(0)
    b0 = np.uint64(start)
    stop = np.uint64(stop)
    while b0 < stop:
        b1 = min(b0 + ub, stop)
        acc_tp = np.uint64(0)
        acc_p = np.uint64(0)
        acc_r = np.uint64(0)
        for i in range(b0, b1):
            a = pw[i]
            b = rw[i]
            acc_tp += a & b
            acc_p += a
            acc_r += b
            orp |= a
            orr |= b
        acc_tp = (acc_tp & m) + ((acc_tp >> s8) & m)
        acc_p = (acc_p & m) + ((acc_p >> s8) & m)
        acc_r = (acc_r & m) + ((acc_r >> s8) & m)
        tp += np.int64((acc_tp * mul) >> s48)
        sp += np.int64((acc_p * mul) >> s48)
        sr += np.int64((acc_r * mul) >> s48)
        b0 = b1
    out[0] = tp
    out[1] = sp
    out[2] = sr
    out[3] = 1 if (orp & high) != np.uint64(0) else 0
    out[4] = 1 if (orr & high) != np.uint64(0) else 0


@jit(parallel=True)
def binary_counts(pw, rw, block, nchunks):
    """Counts over two masks packed as uint64 words (8 uint8 voxels each, values 0 or 1).

    Returns int64 ``[sum(p & r), sum(p), sum(r), any byte of p > 1, any byte of r > 1]``.
    Bytes are summed in uint64 lanes over blocks of ``block`` words (at most 255, so that each byte lane
    of a 0/1 mask stays below 256), then widened. Indices are unsigned: with signed ones numba's
    negative-index wraparound turns every load into a gather, and the loop runs at a third of the
    speed; unsigned, LLVM vectorises it into plain loads, AND, ADD and OR.

    The chunk's work is a serial kernel (:func:`_binary_chunk`) and this one only its parallel loop
    and the ordered merge: numba's parallel compilation (about a second per kernel) then handles a
    few lines instead of the whole loop nest, and nothing here allocates with ``np.zeros``, which
    ``parallel=True`` would turn into one more parallel loop to compile.
    """
    n = pw.size
    out = np.empty((nchunks, 5), dtype=np.int64)
    for c in prange(nchunks):
        _binary_chunk(pw, rw, n * c // nchunks, n * (c + 1) // nchunks, block, out[c])
    total = np.empty(5, dtype=np.int64)
    for k in range(5):
        total[k] = 0
    for c in range(nchunks):
        for k in range(5):
            total[k] += out[c, k]
    return total


@jit
def _box(bb, i, z0, z1, y0, y1, x0, x1):
    """Grow box ``i`` of ``bb`` (rows ``[min0, max0, min1, max1, min2, max2]``) to hold the given one."""
    if bb[i, 0] > z0:
        bb[i, 0] = z0
    if bb[i, 1] < z1:
        bb[i, 1] = z1
    if bb[i, 2] > y0:
        bb[i, 2] = y0
    if bb[i, 3] < y1:
        bb[i, 3] = y1
    if bb[i, 4] > x0:
        bb[i, 4] = x0
    if bb[i, 5] < x1:
        bb[i, 5] = x1


@jit
def label_runs(p, r, pw, rw, ny, nx, lut_p, lut_r, wshift, block, row0, row1, cm, bbp, bbr):
    """Confusion matrix and bounding boxes of rows ``[row0, row1)`` of two label maps of shape
    (nz, ny, nx), given flat (C-order) with the same dtype, and as uint64 words: adds to ``cm`` and
    grows the boxes ``bbp``, ``bbr`` (the caller's, zeroed and empty on entry).

    ``pw`` / ``rw``: the same maps viewed as uint64 words (``p`` and ``r`` 8-byte aligned; word ``j``
    holds elements ``[j << wshift, (j + 1) << wshift)``, ``wshift`` = 3 for uint8 and 2 for uint16; the
    elements past the last whole word are read from ``p``/``r`` only). ``lut_p[v]`` / ``lut_r[v]`` give
    the index in ``[0, k)`` of label value ``v``. ``cm`` (k, k) int64: ``cm[i, j]`` += #voxels with
    ref index i and pred index j; ``bbp``, ``bbr`` (k, 6) int64: ``[min0, max0, min1, max1, min2,
    max2]`` inclusive, ``min > max`` for a label absent from that map.

    The rows are scanned as one stream of runs of equal (pred, ref) pairs: the next change is found a
    block of ``block`` words at a time (a branch-free vectorised XOR/OR test against the run's pair
    broadcast to a word), then word by word, then element by element inside the first word that
    differs. A run that crosses rows is accounted at once: every row it touches holds part of it, so
    its box spans those rows, and the whole last axis. Indices are unsigned so that LLVM vectorises
    the block test (see :func:`binary_counts`).

    A serial kernel (``nogil``): the engine runs ranges of rows side by side on threads, each into
    its own buffers, and merges them (``fastseg._engine.counts.label_confusion``). As a numba
    parallel kernel it cost a first run about a second more to compile.
    """
    if nx == 0 or row0 >= row1:
        return
    one = np.uint64(1)
    sh = np.uint64(wshift)
    emask = (one << sh) - one
    bcast = np.uint64(0x0101010101010101) if wshift == 3 else np.uint64(0x0001000100010001)
    ub = np.uint64(block)
    unx = np.uint64(nx)
    zero = np.int64(0)  # a variable, not the literal 0: one specialisation of _box, not two
    s1 = np.uint64(row1) * unx  # the chunk is [row0 * nx, s1)
    we = s1 >> sh  # past the chunk's last whole word
    t = np.uint64(row0) * unx  # where the next run starts
    rstart = t  # rstart, rend, z, y: the first row of the current run (its first and past-last
    rend = t  # elements, its indices), found again only when a run starts on another row
    z = zero
    y = zero
    while t < s1:
        if t >= rend:
            row = np.int64(t // unx)
            z = row // ny
            y = row - z * ny
            rstart = np.uint64(row) * unx
            rend = rstart + unx
        cp = p[t]
        cr = r[t]
        bp = np.uint64(cp) * bcast
        br = np.uint64(cr) * bcast
        x0 = t
        t += one
        # t <- the first element >= t where (p, r) != (cp, cr), or s1
        while t < s1 and (t & emask) != 0:
            if p[t] != cp or r[t] != cr:
                break
            t += one
        if t < s1 and (t & emask) == 0:
            w = t >> sh
            if w < we and ((pw[w] ^ bp) | (rw[w] ^ br)) == 0:  # else a short run: no block test
                w += one
                while w + ub <= we:
                    d = np.uint64(0)
                    for j in range(w, w + ub):
                        d |= (pw[j] ^ bp) | (rw[j] ^ br)
                    if d != 0:
                        break
                    w += ub
                while w < we:
                    if ((pw[w] ^ bp) | (rw[w] ^ br)) != 0:
                        break
                    w += one
            t = w << sh
            while t < s1:
                if p[t] != cp or r[t] != cr:
                    break
                t += one
        # the run [x0, t) of (cp, cr)
        ip = lut_p[cp]
        ir = lut_r[cr]
        cm[ir, ip] += np.int64(t - x0)
        if t <= rend:
            xa = np.int64(x0 - rstart)
            xb = np.int64(t - rstart) - 1
            _box(bbp, ip, z, z, y, y, xa, xb)
            _box(bbr, ir, z, z, y, y, xa, xb)
        else:  # rows row..last, each holding part of the run; the first ends and the last starts a row
            last = np.int64((t - one) // unx)
            zl = last // ny
            ya = y
            yb = last - zl * ny
            if zl != z:  # rows (z, ny - 1) and (z + 1, 0) are both among them
                ya = zero
                yb = ny - 1
            _box(bbp, ip, z, zl, ya, yb, zero, nx - 1)
            _box(bbr, ir, z, zl, ya, yb, zero, nx - 1)


def label_confusion(p, r, pw, rw, nz, ny, nx, lut_p, lut_r, k, wshift, block, nchunks):
    """The whole label-map pass (see :func:`label_runs`) in ``nchunks`` chunks of rows, one after
    another on this thread: ``(cm (k, k), bb_pred (k, 6), bb_ref (k, 6))``, int64. Python, not a
    kernel (nothing more to compile); the engine runs the chunks on threads instead."""
    cm = np.zeros((k, k), np.int64)
    bb_pred = np.empty((k, 6), np.int64)
    bb_pred[:, 0::2] = np.int64(1) << 62
    bb_pred[:, 1::2] = -1
    bb_ref = bb_pred.copy()
    nrows = nz * ny
    for c in range(nchunks):
        label_runs(p, r, pw, rw, ny, nx, lut_p, lut_r, wshift, block, nrows * c // nchunks,
                   nrows * (c + 1) // nchunks, cm, bb_pred, bb_ref)
    return cm, bb_pred, bb_ref


@jit
def _presence_chunk(a, b, start, stop, s):
    """Mark in ``s`` (uint8 ``(2, size)``, zeroed) the values of ``a[start:stop]`` (row 0) and of
    ``b[start:stop]`` (row 1)."""
    for i in range(start, stop):
        s[0, a[i]] = 1
        s[1, b[i]] = 1


@jit(parallel=True)
def label_presence(a, b, size, nchunks):
    """Which values in ``[0, size)`` occur in the flat label arrays ``a`` and ``b`` (uint16).

    Returns uint8 ``(2, size)``: row 0 for ``a``, row 1 for ``b``. The chunks' work is a serial
    kernel (:func:`_presence_chunk`; see :func:`binary_counts`).
    """
    n = a.size
    seen = np.empty((nchunks, 2, size), dtype=np.uint8)
    seen[:] = 0
    for c in prange(nchunks):
        _presence_chunk(a, b, n * c // nchunks, n * (c + 1) // nchunks, seen[c])
    out = seen[0].copy()
    for c in range(1, nchunks):
        for j in range(2):
            for v in range(size):
                out[j, v] |= seen[c, j, v]
    return out


@jit(parallel=True)
def soft_sums(p, r, nchunks):
    """Sums behind the soft overlap metrics of a flat probability map ``p`` (float32 or float64) and a
    flat uint8 reference ``r``.

    Returns float64 ``[sum(p), sum(r), sum(p * r), #p outside [0, 1] or NaN, #(r > 1)]``.
    """
    n = p.size
    out = np.zeros((nchunks, 5), dtype=np.float64)
    for c in prange(nchunks):
        start = n * c // nchunks
        stop = n * (c + 1) // nchunks
        sp = 0.0
        sr = 0.0
        spr = 0.0
        badp = 0.0
        badr = 0.0
        for i in range(start, stop):
            v = np.float64(p[i])
            w = r[i]
            if not (v >= 0.0 and v <= 1.0):
                badp += 1.0
            if w > 1:
                badr += 1.0
            sp += v
            sr += w
            if w != 0:
                spr += v
        out[c, 0] = sp
        out[c, 1] = sr
        out[c, 2] = spr
        out[c, 3] = badp
        out[c, 4] = badr
    total = np.zeros(5, dtype=np.float64)
    for c in range(nchunks):
        for k in range(5):
            total[k] += out[c, k]
    return total
