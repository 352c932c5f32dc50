"""Exact anisotropic squared Euclidean distance transform (numba kernels).

Layout: arrays are C-contiguous ``(Z, Y, X)``; 2D data is passed as ``(1, H, W)``.

The transform is separable (Felzenszwalb & Huttenlocher, 2012). Three passes,
each parallel over independent lines, so the result does not depend on the
number of threads:

1. axis 0 (the strided axis): 1D distance to the nearest feature along each
   line, by a forward and a backward sweep. The sweeps walk whole rows
   ``[z, y, :]`` at a time, so memory is read contiguously and the inner loop
   vectorises. Distances are integers times the spacing; lines without a
   feature get ``inf``.
2. axis 1: lower envelope of parabolas on lines ``[z, :, x]``. Lines are
   gathered a tile of 16 columns at a time into a contiguous scratch
   buffer (a small transpose inside one ``z`` plane), processed, and scattered
   back.
3. axis 2 (contiguous): lower envelope of parabolas on lines ``[z, y, :]``,
   read from a scratch copy and written straight back.

An axis of length 1 contributes nothing. Parabolas with ``f = inf`` are never
part of the envelope (they are skipped before any arithmetic), so no
``inf - inf`` is ever formed; a line whose values are all ``inf`` stays
``inf``.

Scratch memory is allocated once per chunk of lines, never per line.
"""
import numpy as np

from ._jit import jit, prange

@jit
def _envelope(line, n, s, v, fv, g, zb):
    """In place: ``line[p] <- min_q line[q] + (s * (p - q))**2``.

    A zero at ``q0`` hides every parabola rooted beyond it on the other side
    (``(p - q)**2 > (p - q0)**2``), so each run of non-zero values is solved
    on its own, bounded by the zeros on either side; zeros stay zero. The
    envelope of a run keeps its own copy of the values it needs, so the run
    can be overwritten in place. ``v`` (int64), ``fv`` and ``g`` (float64) of
    length >= n and ``zb`` (float64) of length >= n + 1 are scratch.
    Envelope slot k holds the parabola rooted at ``v[k]`` with value
    ``fv[k]`` there and ``g[k] = fv[k] + s**2 * v[k]**2``, visible on
    ``(zb[k], zb[k + 1]]``.
    """
    inf = np.inf
    s2 = s * s
    two_s2 = 2.0 * s2
    p = 0
    while p < n:
        if line[p] == 0.0:
            p += 1
            continue
        a = p
        while p < n and line[p] != 0.0:
            p += 1
        b = p
        # Run [a, b) of positive values; parabolas over [lo, hi] inclusive.
        lo = a - 1 if a > 0 else a
        hi = b if b < n else b - 1
        k = -1
        for q in range(lo, hi + 1):
            fq = line[q]
            if fq == inf:
                continue
            gq = fq + s2 * q * q
            if k < 0:
                k = 0
                v[0] = q
                fv[0] = fq
                g[0] = gq
                zb[0] = -inf
                zb[1] = inf
                continue
            while True:
                # Abscissa where the parabolas rooted at v[k] and q intersect.
                x = (gq - g[k]) / (two_s2 * (q - v[k]))
                if x <= zb[k]:
                    # Parabola v[k] is hidden; zb[0] = -inf so k stays >= 0.
                    k -= 1
                else:
                    break
            k += 1
            v[k] = q
            fv[k] = fq
            g[k] = gq
            zb[k] = x
            zb[k + 1] = inf
        if k < 0:
            for q in range(a, b):
                line[q] = inf
            continue
        k = 0
        for q in range(a, b):
            while zb[k + 1] < q:
                k += 1
            t = s * (q - v[k])
            line[q] = fv[k] + t * t


@jit
def _pass0_chunk(features, out, s0, y_lo, y_hi, prev):
    """Two-sweep 1D distance along axis 0 for rows ``y_lo <= y < y_hi``."""
    nz, _, nx = features.shape
    inf = np.inf
    for y in range(y_lo, y_hi):
        # Forward sweep: index distance to the nearest feature at or before z.
        for x in range(nx):
            out[0, y, x] = 0.0 if features[0, y, x] != 0 else inf
        for z in range(1, nz):
            for x in range(nx):
                out[z, y, x] = 0.0 if features[z, y, x] != 0 else out[z - 1, y, x] + 1.0
        # Backward sweep: combine with the nearest feature after z, then scale
        # and square. ``prev`` keeps the unscaled values of row z + 1.
        for x in range(nx):
            t = out[nz - 1, y, x]
            prev[x] = t
            t = t * s0
            out[nz - 1, y, x] = t * t
        for z in range(nz - 2, -1, -1):
            for x in range(nx):
                t = min(out[z, y, x], prev[x] + 1.0)
                prev[x] = t
                t = t * s0
                out[z, y, x] = t * t


@jit
def _pass1_chunk(out, s1, u_lo, u_hi, nblk, tile, buf, v, fv, g, zb):
    """Envelope along axis 1 for tiles ``u_lo <= u < u_hi`` (tile u = (z, block of x))."""
    _, ny, nx = out.shape
    for u in range(u_lo, u_hi):
        z = u // nblk
        x0 = (u - z * nblk) * tile
        bw = min(tile, nx - x0)
        for y in range(ny):
            for b in range(bw):
                buf[b * ny + y] = out[z, y, x0 + b]
        for b in range(bw):
            _envelope(buf[b * ny:(b + 1) * ny], ny, s1, v, fv, g, zb)
        for y in range(ny):
            for b in range(bw):
                out[z, y, x0 + b] = buf[b * ny + y]


@jit
def _pass2_chunk(out, s2, root, l_lo, l_hi, v, fv, g, zb):
    """Envelope along axis 2 (contiguous) for lines ``l_lo <= l < l_hi`` (line l = (z, y)).

    With ``root`` the square root is taken here, while the line is in cache.
    """
    _, ny, nx = out.shape
    for line in range(l_lo, l_hi):
        z = line // ny
        y = line - z * ny
        row = out[z, y]
        _envelope(row, nx, s2, v, fv, g, zb)
        if root:
            for x in range(nx):
                row[x] = np.sqrt(row[x])


@jit(parallel=True)
def _distance_transform(features, spacing, root):
    """Squared distances to the nearest non-zero voxel of ``features``; their roots if ``root``."""
    nz, ny, nx = features.shape
    out = np.empty((nz, ny, nx), np.float64)
    if out.size == 0:
        return out
    s0 = spacing[0]
    s1 = spacing[1]
    s2 = spacing[2]
    tile = 16
    # Work is split into a fixed number of chunks (independent of the thread
    # count); every line is computed the same way whatever thread runs it.

    # Pass 0: rows y, each walking all z. Also turns features into 0 / inf.
    nch = min(ny, 256)
    for c in prange(nch):
        prev = np.empty(nx, np.float64)
        _pass0_chunk(features, out, s0, c * ny // nch, (c + 1) * ny // nch, prev)

    # Pass 1: tiles of `tile` columns inside one z plane.
    if ny > 1:
        nblk = (nx + tile - 1) // tile
        nunits = nz * nblk
        nch = min(nunits, 256)
        for c in prange(nch):
            buf = np.empty(tile * ny, np.float64)
            v = np.empty(ny, np.int64)
            fv = np.empty(ny, np.float64)
            g = np.empty(ny, np.float64)
            zb = np.empty(ny + 1, np.float64)
            _pass1_chunk(out, s1, c * nunits // nch, (c + 1) * nunits // nch,
                         nblk, tile, buf, v, fv, g, zb)

    # Pass 2: contiguous lines (z, y), in place. Always run (a length-1 line
    # is left as is) so that the square root has one place to happen.
    nlines = nz * ny
    nch = min(nlines, 256)
    for c in prange(nch):
        v = np.empty(nx, np.int64)
        fv = np.empty(nx, np.float64)
        g = np.empty(nx, np.float64)
        zb = np.empty(nx + 1, np.float64)
        _pass2_chunk(out, s2, root, c * nlines // nch, (c + 1) * nlines // nch, v, fv, g, zb)
    return out


@jit
def sq_distance_to_features(features, spacing):
    """Squared Euclidean distance from every voxel to the nearest non-zero voxel.

    Parameters
    ----------
    features : (Z, Y, X) uint8, C-contiguous
        Non-zero marks a feature voxel. 2D data is passed as ``(1, H, W)``
        with spacing ``(1.0, s0, s1)``.
    spacing : (3,) float64
        Physical voxel size along each array axis.

    Returns
    -------
    (Z, Y, X) float64
        Squared distance in physical units; 0 at features; ``inf`` everywhere
        if there is no feature voxel.
    """
    return _distance_transform(features, spacing, False)


@jit
def distance_to_features(features, spacing):
    """As :func:`sq_distance_to_features`, but the distances themselves (square root fused in)."""
    return _distance_transform(features, spacing, True)
