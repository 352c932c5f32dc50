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
the sweeps along ``i`` are sequential by nature.
"""
import numpy as np

from ._jit import jit

__all__ = ["danielsson"]


@jit
def _across(di, dj, dk, sq, src, dst, count, axis, s0, s1, s2):
    """Propagate ``count`` voxels from ``src`` to ``dst`` (flat starts of two rows or planes) one step
    along ``axis`` (1 = j, 2 = k); independent voxels, branch-free."""
    one = np.float32(1.0)
    for t in range(count):
        o = src + t
        n = dst + t
        a = di[o]
        b = dj[o]
        c = dk[o]
        if axis == 1:
            b = b + one
        else:
            c = c + one
        s = a * a * s0 + b * b * s1 + c * c * s2
        take = s < sq[n]
        di[n] = a if take else di[n]
        dj[n] = b if take else dj[n]
        dk[n] = c if take else dk[n]
        sq[n] = s if take else sq[n]


@jit
def _along(di, dj, dk, sq, row, ni, s0, s1, s2):
    """The forward then backward sweep along ``i`` of the row starting at flat index ``row``."""
    one = np.float32(1.0)
    for i in range(row + 1, row + ni):
        a = di[i - 1] + one
        s = a * a * s0 + dj[i - 1] * dj[i - 1] * s1 + dk[i - 1] * dk[i - 1] * s2
        if s < sq[i]:
            di[i] = a
            dj[i] = dj[i - 1]
            dk[i] = dk[i - 1]
            sq[i] = s
    for i in range(row + ni - 2, row - 1, -1):
        a = di[i + 1] + one
        s = a * a * s0 + dj[i + 1] * dj[i + 1] * s1 + dk[i + 1] * dk[i + 1] * s2
        if s < sq[i]:
            di[i] = a
            dj[i] = dj[i + 1]
            dk[i] = dk[i + 1]
            sq[i] = s


@jit
def _plane(di, dj, dk, sq, base, nj, ni, s0, s1, s2):
    """The forward then backward ``j`` sweep of the plane starting at flat index ``base``."""
    _along(di, dj, dk, sq, base, ni, s0, s1, s2)
    for j in range(1, nj):
        _across(di, dj, dk, sq, base + (j - 1) * ni, base + j * ni, ni, 1, s0, s1, s2)
        _along(di, dj, dk, sq, base + j * ni, ni, s0, s1, s2)
    for j in range(nj - 2, -1, -1):
        _across(di, dj, dk, sq, base + (j + 1) * ni, base + j * ni, ni, 1, s0, s1, s2)
        _along(di, dj, dk, sq, base + j * ni, ni, s0, s1, s2)


@jit
def danielsson(features, sp2):
    """float32 distance from every voxel of a ``(K, J, I)`` grid to a feature voxel (``features !=
    0``) by plastimatch's vector propagation; the float32 maximum where there is no feature."""
    nk, nj, ni = features.shape
    n = nk * nj * ni
    big = np.float32(3.4028234663852886e38)
    s0 = sp2[0]
    s1 = sp2[1]
    s2 = sp2[2]
    flat = features.reshape(n)
    di = np.empty(n, dtype=np.float32)
    dj = np.empty(n, dtype=np.float32)
    dk = np.empty(n, dtype=np.float32)
    sq = np.empty(n, dtype=np.float32)
    for v in range(n):
        known = flat[v] != 0
        x = np.float32(0.0) if known else big
        di[v] = x
        dj[v] = x
        dk[v] = x
        sq[v] = np.float32(0.0) if known else np.float32(np.inf)
    plane = nj * ni
    _plane(di, dj, dk, sq, 0, nj, ni, s0, s1, s2)
    for k in range(1, nk):
        _across(di, dj, dk, sq, (k - 1) * plane, k * plane, plane, 2, s0, s1, s2)
        _plane(di, dj, dk, sq, k * plane, nj, ni, s0, s1, s2)
    for k in range(nk - 2, -1, -1):
        _across(di, dj, dk, sq, (k + 1) * plane, k * plane, plane, 2, s0, s1, s2)
        _plane(di, dj, dk, sq, k * plane, nj, ni, s0, s1, s2)
    out = np.empty(n, dtype=np.float32)
    for v in range(n):
        d = np.sqrt(di[v] * di[v] * s0 + dj[v] * dj[v] * s1 + dk[v] * dk[v] * s2)
        out[v] = big if d >= big else d
    return out.reshape(nk, nj, ni)
