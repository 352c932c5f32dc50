"""plastimatch's distance map: vector propagation (Danielsson 1980) in float32, its scan order.

Layout: C-contiguous ``(K, J, I)`` arrays, ``I`` the contiguous axis (plastimatch's ``i``); 2D data as
``(1, H, W)``. ``sp2`` holds the squared voxel sizes in float32 in ``(i, j, k)`` order.

Each voxel carries an offset vector (in voxels) to a feature voxel, initially 0 on features and
"unknown" (the float32 maximum) elsewhere. Sweeps copy a neighbour's vector, one step longer, when it
gives a smaller squared length ``(di*di)*s_i + (dj*dj)*s_j + (dk*dk)*s_k`` (float32, in that order):
within each plane ``k`` a forward then a backward sweep over ``j`` (each row propagated from the
previous one, then along ``i`` forward and backward; the backward sweep starts at the second-to-last
row), the planes first for ``k`` increasing (each propagated from the previous plane) then
decreasing. The result is the length of the vector at each voxel: the distance to *a* feature voxel,
exact for nearly every voxel and longer for a few (the known limitation of vector propagation). This
reproduces plastimatch's ``Distance_map`` (native Danielsson, the default of ``plastimatch dice
--hausdorff``) operation for operation, so its float32 results are the same bits.

The squared length of each voxel's vector is kept alongside it (``sq``; +inf for "unknown", whose
float32 square overflows): plastimatch recomputes it from the vector with the same operations, and
"skip an unknown source, take any known vector for an unknown target" is then the one comparison
``new < sq``. Row and plane propagations are written branch-free (selects) so that they vectorise;
the sweeps along ``i`` are sequential by nature, but most of their steps change nothing (on an organ
pair 4% take a vector): each sweep first tests every step against the row as it stands, branch-free
(vectorised), and walks sequentially only the chains of takes that start where a test succeeds. A step
whose predecessor took nothing in this sweep compares the same numbers as the test did, so the result
is the same bits as the plain sequential sweep (the tests compare both). Rows and planes are passed as
slices so that the propagations across them vectorise.

:func:`danielsson` returns the whole map; :func:`danielsson_at` only its values at given voxels, in
scratch arrays the caller allocates once for several maps of one grid (the pages of a fresh
allocation cost as much as a sweep).
"""
import numpy as np

from ._jit import jit

__all__ = ["danielsson", "danielsson_at", "SCRATCH_ROWS"]

#: rows of the float32 scratch array of :func:`danielsson_at`: the vector (i, j, k) and its squared length
SCRATCH_ROWS = 4


@jit
def _across(di, dj, dk, sq, src, dst, count, axis, s0, s1, s2):
    """Propagate ``count`` voxels from ``src`` to ``dst`` (flat starts of two rows or planes, which do
    not overlap) one step along ``axis`` (1 = j, 2 = k); independent voxels, branch-free."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    bj = one if axis == 1 else zero
    bk = zero if axis == 1 else one
    si = di[src:src + count]
    sj = dj[src:src + count]
    sk = dk[src:src + count]
    ti = di[dst:dst + count]
    tj = dj[dst:dst + count]
    tk = dk[dst:dst + count]
    tq = sq[dst:dst + count]
    for t in range(count):
        a = si[t]
        b = sj[t] + bj  # + 0.0 leaves every float32 (and the float32 maximum) as it is
        c = sk[t] + bk
        s = a * a * s0 + b * b * s1 + c * c * s2
        take = s < tq[t]
        ti[t] = a if take else ti[t]
        tj[t] = b if take else tj[t]
        tk[t] = c if take else tk[t]
        tq[t] = s if take else tq[t]


@jit
def _test(di, dj, dk, sq, row, ni, s0, s1, s2, hits, step):
    """``hits[t]``: whether voxel ``row + t`` would take the vector of ``row + t - step`` as the row
    stands (``step`` 1: the forward sweep, t in 1..ni-1; -1: the backward one, t in 0..ni-2)."""
    one = np.float32(1.0)
    lo = row if step == 1 else row + 1
    to = row + 1 if step == 1 else row
    h0 = 1 if step == 1 else 0
    pi = di[lo:lo + ni - 1]
    pj = dj[lo:lo + ni - 1]
    pk = dk[lo:lo + ni - 1]
    q = sq[to:to + ni - 1]
    h = hits[h0:h0 + ni - 1]
    for t in range(ni - 1):
        a = pi[t] + one
        s = a * a * s0 + pj[t] * pj[t] * s1 + pk[t] * pk[t] * s2
        h[t] = s < q[t]


@jit
def _along(di, dj, dk, sq, row, ni, s0, s1, s2, hits, words):
    """The forward then backward sweep along ``i`` of the row starting at flat index ``row``: each
    walks the chains of takes from the voxels :func:`_test` marks (module docstring), skipping eight
    unmarked voxels at a time where a word of ``words`` (the same bytes as ``hits``) is 0."""
    one = np.float32(1.0)
    _test(di, dj, dk, sq, row, ni, s0, s1, s2, hits, 1)
    i = 1
    while i < ni:
        if not hits[i]:
            i += 1
            if (i & 7) == 0:  # hits[i:i + 8]; past ni - 1 the bytes are never written (0)
                while i < ni and words[i >> 3] == 0:
                    i += 8
            continue
        while i < ni:  # a chain: each take changes the vector the next step compares
            p = row + i - 1
            a = di[p] + one
            s = a * a * s0 + dj[p] * dj[p] * s1 + dk[p] * dk[p] * s2
            i += 1
            if not s < sq[p + 1]:
                break
            di[p + 1] = a
            dj[p + 1] = dj[p]
            dk[p + 1] = dk[p]
            sq[p + 1] = s
    _test(di, dj, dk, sq, row, ni, s0, s1, s2, hits, -1)
    i = ni - 2
    while i >= 0:
        if not hits[i]:
            i -= 1
            if (i & 7) == 7:  # hits[i - 7:i + 1], all written by this test (i <= ni - 3)
                while i >= 0 and words[i >> 3] == 0:
                    i -= 8
            continue
        while i >= 0:
            p = row + i + 1
            a = di[p] + one
            s = a * a * s0 + dj[p] * dj[p] * s1 + dk[p] * dk[p] * s2
            i -= 1
            if not s < sq[p - 1]:
                break
            di[p - 1] = a
            dj[p - 1] = dj[p]
            dk[p - 1] = dk[p]
            sq[p - 1] = s


@jit
def _plane(di, dj, dk, sq, base, nj, ni, s0, s1, s2, hits, words):
    """The forward then backward ``j`` sweep of the plane starting at flat index ``base``."""
    _along(di, dj, dk, sq, base, ni, s0, s1, s2, hits, words)
    for j in range(1, nj):
        _across(di, dj, dk, sq, base + (j - 1) * ni, base + j * ni, ni, 1, s0, s1, s2)
        _along(di, dj, dk, sq, base + j * ni, ni, s0, s1, s2, hits, words)
    for j in range(nj - 2, -1, -1):
        _across(di, dj, dk, sq, base + (j + 1) * ni, base + j * ni, ni, 1, s0, s1, s2)
        _along(di, dj, dk, sq, base + j * ni, ni, s0, s1, s2, hits, words)


@jit
def _propagate(features, sp2, di, dj, dk, sq):
    """The vectors of every voxel of a ``(K, J, I)`` grid after plastimatch's sweeps, in ``di``,
    ``dj``, ``dk`` (flat float32, ``sq`` their squared lengths)."""
    nk, nj, ni = features.shape
    n = nk * nj * ni
    big = np.float32(3.4028234663852886e38)
    s0 = sp2[0]
    s1 = sp2[1]
    s2 = sp2[2]
    flat = features.reshape(n)
    for v in range(n):
        known = flat[v] != 0
        x = np.float32(0.0) if known else big
        di[v] = x
        dj[v] = x
        dk[v] = x
        sq[v] = np.float32(0.0) if known else np.float32(np.inf)
    words = np.zeros(ni // 8 + 2, dtype=np.uint64)  # hits, eight to a word, and zeros past the row
    hits = words.view(np.bool_)
    plane = nj * ni
    _plane(di, dj, dk, sq, 0, nj, ni, s0, s1, s2, hits, words)
    for k in range(1, nk):
        _across(di, dj, dk, sq, (k - 1) * plane, k * plane, plane, 2, s0, s1, s2)
        _plane(di, dj, dk, sq, k * plane, nj, ni, s0, s1, s2, hits, words)
    for k in range(nk - 2, -1, -1):
        _across(di, dj, dk, sq, (k + 1) * plane, k * plane, plane, 2, s0, s1, s2)
        _plane(di, dj, dk, sq, k * plane, nj, ni, s0, s1, s2, hits, words)


@jit
def _length(di, dj, dk, v, s0, s1, s2, big):
    d = np.sqrt(di[v] * di[v] * s0 + dj[v] * dj[v] * s1 + dk[v] * dk[v] * s2)
    return big if d >= big else d


@jit
def danielsson(features, sp2):
    """float32 distance from every voxel of a ``(K, J, I)`` grid to a feature voxel (``features !=
    0``) by plastimatch's vector propagation; the float32 maximum where there is no feature."""
    nk, nj, ni = features.shape
    n = nk * nj * ni
    big = np.float32(3.4028234663852886e38)
    di = np.empty(n, dtype=np.float32)
    dj = np.empty(n, dtype=np.float32)
    dk = np.empty(n, dtype=np.float32)
    sq = np.empty(n, dtype=np.float32)
    _propagate(features, sp2, di, dj, dk, sq)
    out = np.empty(n, dtype=np.float32)
    for v in range(n):
        out[v] = _length(di, dj, dk, v, sp2[0], sp2[1], sp2[2], big)
    return out.reshape(nk, nj, ni)


@jit
def danielsson_at(features, sp2, query, scratch):
    """The values of :func:`danielsson` at the flat indices ``query`` only (float32, same bits).

    ``scratch``: float32 ``(SCRATCH_ROWS, K * J * I)``, any content; the caller may reuse it for the
    next map of a grid of the same size."""
    big = np.float32(3.4028234663852886e38)
    _propagate(features, sp2, scratch[0], scratch[1], scratch[2], scratch[3])
    out = np.empty(query.size, dtype=np.float32)
    for t in range(query.size):
        out[t] = _length(scratch[0], scratch[1], scratch[2], query[t], sp2[0], sp2[1], sp2[2], big)
    return out
