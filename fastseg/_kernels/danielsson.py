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
``new < sq``. Row and plane propagations are written branch-free (selects) so that they vectorise.

The sweeps along ``i`` are sequential by nature, but most of their steps change nothing (on an organ
pair 4% take a vector). Each sweep tests 64 steps at a time against the row as it stands, branch-free
(vectorised), into the bits of one 64-bit word, and walks sequentially only the chains of takes that
start at a set bit, found with a count of trailing (forward sweep) or leading (backward sweep) zeros;
a chain's first step is the test's own take, and the chunk after a chain starts where the chain
stopped. A step whose predecessor took nothing in this sweep compares the same numbers as the test
did, so the result is the same bits as the plain sequential sweep (the tests compare both). Along a
chain only the ``i`` component changes, so its ``j`` and ``k`` terms are computed once; the sum keeps
plastimatch's order, ``((a*a)*s_i + (b*b)*s_j) + (c*c)*s_k``.

The whole sweep of one plane (both ``j`` sweeps, their row propagations and the sweeps along ``i``) is
one kernel with its loops written out: a jitted helper called per row or per chain takes its arrays
reference-counted, and slices cost as much again; measured, the chains walked in a helper took several
times as long as written out. Array indices are unsigned, so that numba adds no negative-index
wraparound and the loops vectorise. A plane's first visit initialises its voxels from the features
in the same pass as the propagation from the previous plane (the same values as initialising the
whole grid first, without writing and re-reading it): one pass fewer over the grid. Skipping the
sweep along ``i`` of a row that nothing changed since its last one is exact but did not pay: noting
"anything taken" in the vectorised propagations cost more than the skipped rows saved.

:func:`danielsson` returns the whole map; :func:`danielsson_at` only its values at given voxels, in
scratch arrays the caller allocates once for several maps of one grid (the pages of a fresh
allocation cost as much as a sweep).
"""
import numpy as np

from ._jit import jit, leading_zeros, trailing_zeros  # LLVM's ctlz / cttz (the house module's)

__all__ = ["danielsson", "danielsson_at", "SCRATCH_ROWS"]

#: rows of the float32 scratch array of :func:`danielsson_at`: the vector (i, j, k) and its squared length
SCRATCH_ROWS = 4

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


@jit
def _first(flat, di, dj, dk, sq, src, dst, count, s0, s1, s2):
    """A plane's first visit: initialise the ``count`` voxels from flat index ``dst`` from the features
    (0 on a feature, unknown elsewhere), then propagate them one step along ``k`` from ``src`` (the
    previous plane; -1: none), in one pass; branch-free."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    big = np.float32(3.4028234663852886e38)
    inf = np.float32(np.inf)
    q = np.uint64(dst)
    if src < 0:
        for t in range(np.uint64(count)):
            y = q + t
            known = flat[y] != 0
            x0 = zero if known else big
            di[y] = x0
            dj[y] = x0
            dk[y] = x0
            sq[y] = zero if known else inf
        return
    p = np.uint64(src)
    for t in range(np.uint64(count)):
        x = p + t
        y = q + t
        known = flat[y] != 0
        a = di[x]
        b = dj[x]
        c = dk[x] + one
        s = a * a * s0 + b * b * s1 + c * c * s2
        q0 = zero if known else inf  # the initial squared length: the across compares with it
        take = s < q0
        x0 = zero if known else big
        di[y] = a if take else x0
        dj[y] = b if take else x0
        dk[y] = c if take else x0
        sq[y] = s if take else q0


@jit
def _across(di, dj, dk, sq, src, dst, count, bj, bk, s0, s1, s2):
    """Propagate ``count`` voxels from ``src`` to ``dst`` (flat starts of two rows or planes, which do
    not overlap) one step along ``j`` (``bj`` 1, ``bk`` 0) or ``k`` (``bj`` 0, ``bk`` 1); independent
    voxels, branch-free. Adding 0.0 or 1.0 leaves the float32 maximum (unknown) as it is."""
    p = np.uint64(src)
    q = np.uint64(dst)
    for t in range(np.uint64(count)):
        x = p + t
        y = q + t
        a = di[x]
        b = dj[x] + bj
        c = dk[x] + bk
        s = a * a * s0 + b * b * s1 + c * c * s2
        take = s < sq[y]
        di[y] = a if take else di[y]
        dj[y] = b if take else dj[y]
        dk[y] = c if take else dk[y]
        sq[y] = s if take else sq[y]


@jit
def _plane(di, dj, dk, sq, base, nj, ni, s0, s1, s2):
    """The forward then backward ``j`` sweep of the plane starting at flat index ``base``: each row
    propagated from the previous one (none for the first row of the forward sweep), then swept along
    ``i`` forward and backward (module docstring)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    w = max(min(ni - 1, 64), 0)  # steps tested at a time: a word of bits
    uw = np.uint64(w)
    for jj in range(2 * nj - 1):
        if jj < nj:  # forward sweep: rows 0 .. nj - 1
            j = jj
            src = j - 1
        else:  # backward sweep: rows nj - 2 .. 0
            j = 2 * nj - 2 - jj
            src = j + 1
        row = base + j * ni
        if jj != 0:  # across from row src, one step along j
            _across(di, dj, dk, sq, base + src * ni, row, ni, one, zero, s0, s1, s2)
        # forward along i: voxel t takes from t - 1. i: the first voxel not decided yet
        i = 1
        while i < ni:
            c0 = min(i, ni - w)  # bit u: voxel c0 + u; the last word overlaps decided voxels
            p = np.uint64(row + c0 - 1)
            m = np.uint64(0)
            for u in range(uw):
                x = p + u
                a = di[x] + one
                s = a * a * s0 + dj[x] * dj[x] * s1 + dk[x] * dk[x] * s2
                m |= np.uint64(s < sq[x + np.uint64(1)]) << u
            m &= _ONES << np.uint64(i - c0)
            while m:
                t = c0 + np.int64(trailing_zeros(m))  # a chain of takes starts at t
                v = row + t - 1
                a = di[v]
                b = dj[v]
                c = dk[v]
                bb = b * b * s1
                cc = c * c * s2
                x = t
                while True:  # the first step takes (the test said so, and nothing it read has changed)
                    a = a + one
                    s = a * a * s0 + bb + cc
                    di[row + x] = a
                    dj[row + x] = b
                    dk[row + x] = c
                    sq[row + x] = s
                    x += 1
                    if x == ni:
                        break
                    a1 = a + one
                    if not a1 * a1 * s0 + bb + cc < sq[row + x]:
                        break
                i = x + 1  # voxel x took nothing: from x + 1 on, the test's bits hold again
                if i - c0 >= w:
                    break
                m &= _ONES << np.uint64(i - c0)
            i = max(i, c0 + w)
        # backward along i: voxel t takes from t + 1. i: the last voxel not decided yet
        i = ni - 2
        while i >= 0:
            c0 = max(i - w + 1, 0)  # bit u: voxel c0 + u; the first word overlaps decided voxels
            p = np.uint64(row + c0 + 1)
            m = np.uint64(0)
            for u in range(uw):
                x = p + u
                a = di[x] + one
                s = a * a * s0 + dj[x] * dj[x] * s1 + dk[x] * dk[x] * s2
                m |= np.uint64(s < sq[x - np.uint64(1)]) << u
            if i - c0 < 63:
                m &= _ONES >> np.uint64(63 - (i - c0))
            while m:
                t = c0 + 63 - np.int64(leading_zeros(m))
                v = row + t + 1
                a = di[v]
                b = dj[v]
                c = dk[v]
                bb = b * b * s1
                cc = c * c * s2
                x = t
                while True:
                    a = a + one
                    s = a * a * s0 + bb + cc
                    di[row + x] = a
                    dj[row + x] = b
                    dk[row + x] = c
                    sq[row + x] = s
                    x -= 1
                    if x < 0:
                        break
                    a1 = a + one
                    if not a1 * a1 * s0 + bb + cc < sq[row + x]:
                        break
                i = x - 1
                if i < c0:
                    break
                m &= _ONES >> np.uint64(63 - (i - c0))
            i = min(i, c0 - 1)


@jit
def _propagate(features, sp2, di, dj, dk, sq):
    """The vectors of every voxel of a ``(K, J, I)`` grid after plastimatch's sweeps, in ``di``,
    ``dj``, ``dk`` (flat float32, ``sq`` their squared lengths); their content on entry is ignored."""
    nk, nj, ni = features.shape
    n = nk * nj * ni
    s0 = sp2[0]
    s1 = sp2[1]
    s2 = sp2[2]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    flat = features.reshape(n)
    plane = nj * ni
    # the planes k = 0 .. nk - 1 (each first visit initialised in the pass from the previous plane),
    # then nk - 2 .. 0 (propagated from the next one): one loop, so that the plane sweep, the
    # largest kernel, is inlined here once (a first run compiles it again at every call site)
    for step in range(2 * nk - 1):
        if step < nk:
            k = step
            _first(flat, di, dj, dk, sq, (k - 1) * plane if k > 0 else -1, k * plane, plane, s0, s1, s2)
        else:
            k = 2 * nk - 2 - step
            _across(di, dj, dk, sq, (k + 1) * plane, k * plane, plane, zero, one, s0, s1, s2)
        _plane(di, dj, dk, sq, k * plane, nj, ni, s0, s1, s2)


@jit
def _lengths(di, dj, dk, query, sp2, out):
    """``out[t]``: the length of the vector at flat index ``query[t]``, float32 (the float32 maximum
    for unknown)."""
    big = np.float32(3.4028234663852886e38)
    s0, s1, s2 = sp2[0], sp2[1], sp2[2]
    for t in range(query.size):
        v = query[t]
        a = di[v]
        b = dj[v]
        c = dk[v]
        d = np.sqrt(a * a * s0 + b * b * s1 + c * c * s2)
        out[t] = big if d >= big else d


def danielsson_at(features, sp2, query, scratch):
    """The values of :func:`danielsson` at the flat indices ``query`` only (float32, same bits).

    ``scratch``: float32 ``(SCRATCH_ROWS, K * J * I)``, any content; the caller may reuse it for the
    next map of a grid of the same size. Python calling two kernels (the sweeps, then the lengths):
    a kernel calling the sweeps would compile them once more on a first run."""
    _propagate(features, sp2, scratch[0], scratch[1], scratch[2], scratch[3])
    out = np.empty(query.size, dtype=np.float32)
    _lengths(scratch[0], scratch[1], scratch[2], np.asarray(query, np.int64), sp2, out)
    return out


def danielsson(features, sp2):
    """float32 distance from every voxel of a ``(K, J, I)`` grid to a feature voxel (``features !=
    0``) by plastimatch's vector propagation; the float32 maximum where there is no feature."""
    nk, nj, ni = features.shape
    n = nk * nj * ni
    scratch = np.empty((SCRATCH_ROWS, n), dtype=np.float32)
    return danielsson_at(features, sp2, np.arange(n, dtype=np.int64), scratch).reshape(nk, nj, ni)
