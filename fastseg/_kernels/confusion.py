"""One-pass counting kernels: binary confusion counts, label-map confusion matrix with bounding boxes,
and the sums behind the soft (probabilistic) overlap metrics.

Every reduction runs over a fixed number of chunks, each with its own buffer, merged serially in chunk
order: integer results are exact, float results are bit-identical whatever the thread count.
"""
import numpy as np

from ._jit import jit, prange


@jit
def _byte_sum(x):
    """Sum of the 8 bytes of a uint64 word (SWAR; each byte <= 255)."""
    m = np.uint64(0x00FF00FF00FF00FF)
    x = (x & m) + ((x >> np.uint64(8)) & m)
    return np.int64((x * np.uint64(0x0001000100010001)) >> np.uint64(48))


@jit(parallel=True)
def binary_counts(pw, rw, nchunks):
    """Counts over two masks packed as uint64 words (8 uint8 voxels each, values 0 or 1).

    Returns int64 ``[sum(p & r), sum(p), sum(r), any byte of p > 1, any byte of r > 1]``.
    Bytes are summed in uint64 lanes over blocks of 255 words, so each byte lane stays below 256.
    """
    n = pw.size
    out = np.zeros((nchunks, 5), dtype=np.int64)
    high = np.uint64(0xFEFEFEFEFEFEFEFE)
    for c in prange(nchunks):
        start = n * c // nchunks
        stop = n * (c + 1) // nchunks
        tp = 0
        sp = 0
        sr = 0
        orp = np.uint64(0)
        orr = np.uint64(0)
        b0 = start
        while b0 < stop:
            b1 = min(b0 + 255, stop)
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
            tp += _byte_sum(acc_tp)
            sp += _byte_sum(acc_p)
            sr += _byte_sum(acc_r)
            b0 = b1
        out[c, 0] = tp
        out[c, 1] = sp
        out[c, 2] = sr
        out[c, 3] = 1 if (orp & high) != np.uint64(0) else 0
        out[c, 4] = 1 if (orr & high) != np.uint64(0) else 0
    total = np.zeros(5, dtype=np.int64)
    for c in range(nchunks):
        for k in range(5):
            total[k] += out[c, k]
    return total


@jit
def _flush_run(cm, bbp, bbr, ip, ir, k, z, y, x0, x1):
    cm[ir, ip] += x1 - x0 + 1
    if bbp[ip, 0] > z:
        bbp[ip, 0] = z
    if bbp[ip, 1] < z:
        bbp[ip, 1] = z
    if bbp[ip, 2] > y:
        bbp[ip, 2] = y
    if bbp[ip, 3] < y:
        bbp[ip, 3] = y
    if bbp[ip, 4] > x0:
        bbp[ip, 4] = x0
    if bbp[ip, 5] < x1:
        bbp[ip, 5] = x1
    if bbr[ir, 0] > z:
        bbr[ir, 0] = z
    if bbr[ir, 1] < z:
        bbr[ir, 1] = z
    if bbr[ir, 2] > y:
        bbr[ir, 2] = y
    if bbr[ir, 3] < y:
        bbr[ir, 3] = y
    if bbr[ir, 4] > x0:
        bbr[ir, 4] = x0
    if bbr[ir, 5] < x1:
        bbr[ir, 5] = x1


@jit(parallel=True)
def label_confusion(p, r, nz, ny, nx, lut_p, lut_r, k, nchunks):
    """Confusion matrix and bounding boxes of two label maps of shape (nz, ny, nx), given flat
    (C-order) with the same dtype.

    ``lut_p[v]`` / ``lut_r[v]`` give the index in ``[0, k)`` of label value ``v``. Returns
    ``cm`` (k, k) int64 with ``cm[i, j]`` = #voxels with ref index i and pred index j, and the bounding
    boxes ``bb_pred``, ``bb_ref`` (k, 6) int64: ``[min0, max0, min1, max1, min2, max2]`` inclusive,
    ``min > max`` for a label absent from that map. The scan works on runs of equal (pred, ref) pairs
    along the last axis; a branch-free test skips blocks of 64 voxels that continue the current run.
    Indices are unsigned so that LLVM vectorises the test.
    """
    nrows = nz * ny
    big = np.int64(1) << 62
    cms = np.zeros((nchunks, k, k), dtype=np.int64)
    bbps = np.empty((nchunks, k, 6), dtype=np.int64)
    bbrs = np.empty((nchunks, k, 6), dtype=np.int64)
    for c in prange(nchunks):
        cm = cms[c]
        bbp = bbps[c]
        bbr = bbrs[c]
        for i in range(k):
            for j in range(3):
                bbp[i, 2 * j] = big
                bbp[i, 2 * j + 1] = -1
                bbr[i, 2 * j] = big
                bbr[i, 2 * j + 1] = -1
        row0 = nrows * c // nchunks
        row1 = nrows * (c + 1) // nchunks
        if nx == 0:
            continue
        for row in range(row0, row1):
            z = row // ny
            y = row - z * ny
            base = np.uint64(row * nx)
            cp = p[base]
            cr = r[base]
            x0 = 0
            x = 1
            while x < nx:
                xe = min(x + 64, nx)
                d = cp ^ cp
                for t in range(np.uint64(x), np.uint64(xe)):
                    d |= (p[base + t] ^ cp) | (r[base + t] ^ cr)
                if d != 0:
                    for t in range(x, xe):
                        a = p[base + np.uint64(t)]
                        b = r[base + np.uint64(t)]
                        if a != cp or b != cr:
                            _flush_run(cm, bbp, bbr, lut_p[cp], lut_r[cr], k, z, y, x0, t - 1)
                            cp = a
                            cr = b
                            x0 = t
                x = xe
            _flush_run(cm, bbp, bbr, lut_p[cp], lut_r[cr], k, z, y, x0, nx - 1)
    cm = np.zeros((k, k), dtype=np.int64)
    bb_pred = np.empty((k, 6), dtype=np.int64)
    bb_ref = np.empty((k, 6), dtype=np.int64)
    for i in range(k):
        for j in range(3):
            bb_pred[i, 2 * j] = big
            bb_pred[i, 2 * j + 1] = -1
            bb_ref[i, 2 * j] = big
            bb_ref[i, 2 * j + 1] = -1
    for c in range(nchunks):
        for i in range(k):
            for j in range(k):
                cm[i, j] += cms[c, i, j]
            for j in range(3):
                bb_pred[i, 2 * j] = min(bb_pred[i, 2 * j], bbps[c, i, 2 * j])
                bb_pred[i, 2 * j + 1] = max(bb_pred[i, 2 * j + 1], bbps[c, i, 2 * j + 1])
                bb_ref[i, 2 * j] = min(bb_ref[i, 2 * j], bbrs[c, i, 2 * j])
                bb_ref[i, 2 * j + 1] = max(bb_ref[i, 2 * j + 1], bbrs[c, i, 2 * j + 1])
    return cm, bb_pred, bb_ref


@jit(parallel=True)
def label_presence(a, b, size, nchunks):
    """Which values in ``[0, size)`` occur in the flat label arrays ``a`` and ``b`` (uint16).

    Returns uint8 ``(2, size)``: row 0 for ``a``, row 1 for ``b``.
    """
    n = a.size
    seen = np.zeros((nchunks, 2, size), dtype=np.uint8)
    for c in prange(nchunks):
        start = n * c // nchunks
        stop = n * (c + 1) // nchunks
        s = seen[c]
        for i in range(start, stop):
            s[0, a[i]] = 1
            s[1, b[i]] = 1
    out = np.zeros((2, size), dtype=np.uint8)
    for c in range(nchunks):
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
