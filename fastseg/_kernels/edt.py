"""Exact anisotropic Euclidean distance transform (numba kernels).

Layout: arrays are C-contiguous ``(Z, Y, X)``; 2D data is passed as
``(1, H, W)`` with spacing ``(1.0, s0, s1)`` (an axis of length 1 contributes
nothing).

Definition: ``out[p] = min over feature voxels f of sum_i (spacing[i] * (p_i - f_i))**2``,
a feature voxel being one where ``features != 0``; ``inf`` everywhere if
there is no feature voxel.

Algorithm (Felzenszwalb & Huttenlocher, "Distance transforms of sampled
functions", Theory of Computing 8, 2012), separable, one pass per axis:

0. Crop. Outside the bounding box of the non-feature voxels everything is a
   feature (distance 0). Grown by one voxel (and clipped to the array), that
   box holds the nearest feature of every voxel inside it: a nearer feature
   outside would project, coordinate by coordinate, onto the grown box's
   outer layer, which lies outside the bounding box and so holds features
   only. All passes run inside the grown box; the rest is set to 0.
1. Axis 0 (the strided axis): 1D distance to the nearest feature along each
   line, by a forward and a backward sweep over whole rows ``[z, y, :]``, so
   memory is read contiguously and the inner loops vectorise. Values are
   integers times the spacing, squared; a line without a feature gets
   ``inf``.
2. Axis 1: lower envelope of parabolas on lines ``[z, :, x]``. Lines are
   gathered up to 64 columns at a time into a contiguous scratch tile (a small
   transpose inside one ``z`` plane), solved there and scattered back.
3. Axis 2 (contiguous): lower envelope of parabolas on lines ``[z, y, :]``,
   in place; the square root, when asked for, is taken here.

Every pass works on independent lines split into at most 256 chunks, a
number that does not depend on the thread count, so the result is
bit-identical whatever the number of threads; below ``serial_below`` voxels
(``fastseg._kernels.tuning.SMALL_TRANSFORM`` from Python) the same chunks run on
the calling thread. Scratch memory is allocated once per chunk,
never per line. Extra memory beyond the float64 output: a few scratch lines
per chunk (axis 1: a tile of up to 64 lines).

Entry points: :func:`sq_distance_to_features` (allocates its output) and the
``*_into`` variants, which write into an output the caller allocated with
numpy (faster from Python: numpy advises huge pages for large arrays).

``inf``: a parabola with ``f = inf`` is skipped before any arithmetic, so no
``inf - inf`` (NaN) is ever formed; a line whose values are all ``inf`` stays
``inf``.
"""
import numpy as np

from ._jit import jit, prange


@jit
def _envelope(line, n, s, v, fv, g, zb):
    """In place: ``line[p] <- min_q line[q] + (s * (p - q))**2`` for ``0 <= p < n``.

    A zero at ``q0`` hides every parabola rooted beyond it on the other side
    (``(p - q)**2 > (p - q0)**2``), so each run of non-zero values is solved
    on its own, bounded by the zeros on either side; zeros stay zero. The
    envelope keeps copies of the values it needs, so the run can be
    overwritten in place. Scratch: ``v`` (int64), ``fv`` and ``g`` (float64)
    of length >= n, ``zb`` (float64) of length >= n + 1. Envelope slot j is
    the parabola rooted at ``v[j]``, of value ``fv[j]`` there,
    ``g[j] = fv[j] + s**2 * v[j]**2``, lowest on ``(zb[j], zb[j + 1]]``.
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
        # Run [a, b) of positive values; parabolas rooted in [lo, hi].
        lo = a - 1 if a > 0 else a
        hi = b if b < n else b - 1
        k = -1
        num = 0.0
        den = 1.0
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
                continue
            # The parabolas rooted at v[k] < q and q intersect at
            # num / den; v[k] is hidden if that is <= zb[k]. Compared as
            # num <= zb[k] * den (den > 0) to divide once per push, not per
            # test. zb[0] = -inf, so k stays >= 0.
            while True:
                num = gq - g[k]
                den = two_s2 * (q - v[k])
                if num <= zb[k] * den:
                    k -= 1
                else:
                    break
            k += 1
            v[k] = q
            fv[k] = fq
            g[k] = gq
            zb[k] = num / den
        if k < 0:
            for q in range(a, b):
                line[q] = inf
            continue
        zb[k + 1] = inf
        j = 0
        for q in range(a, b):
            while zb[j + 1] < q:
                j += 1
            t = s * (q - v[j])
            line[q] = fv[j] + t * t


@jit
def _plane_box(features, z, box):
    """Bounding box of the non-feature voxels of plane ``z``: ``box = (y_min, y_max, x_min, x_max)``.

    ``y_min > y_max`` if the plane holds features only. Each row is first
    tested with a branch-free count, then searched only outside the x range
    found so far.
    """
    _, ny, nx = features.shape
    y_min = ny
    y_max = -1
    x_min = nx
    x_max = -1
    for y in range(ny):
        row = features[z, y]
        count = 0
        for x in range(nx):
            count += row[x] == 0
        if count == 0:
            continue
        if y_min > y:
            y_min = y
        y_max = y
        for x in range(x_min):
            if row[x] == 0:
                x_min = x
                break
        for x in range(nx - 1, x_max, -1):
            if row[x] == 0:
                x_max = x
                break
    box[0] = y_min
    box[1] = y_max
    box[2] = x_min
    box[3] = x_max


@jit
def _pass0_chunk(features, out, s0, y_lo, y_hi, box, prev):
    """Axis 0, rows ``y_lo <= y < y_hi``: zero outside ``box``, 1D two-sweep distance inside.

    ``box = (z0, z1, y0, y1, x0, x1)``, half-open. ``prev`` (float64, >= nx) is scratch.
    """
    nz, _, nx = features.shape
    z0, z1, y0, y1, x0, x1 = box[0], box[1], box[2], box[3], box[4], box[5]
    inf = np.inf
    for y in range(y_lo, y_hi):
        if y < y0 or y >= y1:
            for z in range(nz):
                out[z, y, :] = 0.0
            continue
        for z in range(z0):
            out[z, y, :] = 0.0
        for z in range(z1, nz):
            out[z, y, :] = 0.0
        for z in range(z0, z1):
            out[z, y, :x0] = 0.0
            out[z, y, x1:] = 0.0
        # Forward sweep: index distance to the nearest feature at or before z.
        frow = features[z0, y, x0:x1]
        orow = out[z0, y, x0:x1]
        for x in range(x1 - x0):
            orow[x] = 0.0 if frow[x] != 0 else inf
        for z in range(z0 + 1, z1):
            frow = features[z, y, x0:x1]
            orow = out[z, y, x0:x1]
            before = out[z - 1, y, x0:x1]
            for x in range(x1 - x0):
                orow[x] = 0.0 if frow[x] != 0 else before[x] + 1.0
        # Backward sweep: nearest feature after z, then scale and square.
        # ``prev`` keeps the unscaled values of row z + 1.
        orow = out[z1 - 1, y, x0:x1]
        for x in range(x1 - x0):
            t = orow[x]
            prev[x] = t
            t = t * s0
            orow[x] = t * t
        for z in range(z1 - 2, z0 - 1, -1):
            orow = out[z, y, x0:x1]
            for x in range(x1 - x0):
                t = min(orow[x], prev[x] + 1.0)
                prev[x] = t
                t = t * s0
                orow[x] = t * t


@jit
def _pass1_chunk(out, s1, u_lo, u_hi, box, nblk, tile, buf, v, fv, g, zb):
    """Axis 1, tiles ``u_lo <= u < u_hi`` of the box (tile u = plane z0 + u // nblk, block u % nblk of x)."""
    z0, y0, y1, x0 = box[0], box[2], box[3], box[4]
    x1 = box[5]
    m = y1 - y0
    for u in range(u_lo, u_hi):
        z = z0 + u // nblk
        xs = x0 + (u % nblk) * tile
        bw = min(tile, x1 - xs)
        for y in range(m):
            for b in range(bw):
                buf[b * m + y] = out[z, y0 + y, xs + b]
        for b in range(bw):
            _envelope(buf[b * m:(b + 1) * m], m, s1, v, fv, g, zb)
        for y in range(m):
            for b in range(bw):
                out[z, y0 + y, xs + b] = buf[b * m + y]


@jit
def _pass2_chunk(out, s2, root, l_lo, l_hi, box, v, fv, g, zb):
    """Axis 2, lines ``l_lo <= l < l_hi`` of the box (line l = (z0 + l // ny_box, y0 + l % ny_box)).

    With ``root`` the square root is taken here, while the line is in cache.
    """
    z0, y0, y1, x0, x1 = box[0], box[2], box[3], box[4], box[5]
    m = y1 - y0
    for line in range(l_lo, l_hi):
        row = out[z0 + line // m, y0 + line % m, x0:x1]
        _envelope(row, x1 - x0, s2, v, fv, g, zb)
        if root:
            for x in range(x1 - x0):
                row[x] = np.sqrt(row[x])


@jit
def _crop_box(planes, ny, nx, box):
    """Combine the per-plane boxes into ``box = (z0, z1, y0, y1, x0, x1)``, half-open, grown by one.

    Returns False if there is no non-feature voxel (then ``box`` is not set).
    """
    nz = planes.shape[0]
    z_min, z_max, y_min, y_max, x_min, x_max = nz, -1, ny, -1, nx, -1
    for z in range(nz):
        if planes[z, 0] <= planes[z, 1]:
            z_min = min(z_min, z)
            z_max = z
            y_min = min(y_min, planes[z, 0])
            y_max = max(y_max, planes[z, 1])
            x_min = min(x_min, planes[z, 2])
            x_max = max(x_max, planes[z, 3])
    if z_max < 0:
        return False
    box[0] = max(z_min - 1, 0)
    box[1] = min(z_max + 2, nz)
    box[2] = max(y_min - 1, 0)
    box[3] = min(y_max + 2, ny)
    box[4] = max(x_min - 1, 0)
    box[5] = min(x_max + 2, nx)
    return True


@jit
def _tile(box):
    """Columns per tile in pass 1. Wide tiles are faster (64 columns: about 25% less time than 16
    on 250x250x120); narrow ones when there are few planes, to keep enough tiles to share out."""
    return 64 if box[1] - box[0] >= 16 else 16


@jit
def _n_chunks(ny, box, step):
    """Number of chunks of pass ``step``: at most 256 whatever the thread count; 0 to skip the pass."""
    mz = box[1] - box[0]
    my = box[3] - box[2]
    mx = box[5] - box[4]
    if step == 0:
        units = ny  # all rows: rows outside the box are zeroed in this pass
    elif step == 1:
        if my <= 1:
            return 0
        tile = _tile(box)
        units = mz * ((mx + tile - 1) // tile)
    else:
        # Always run (a line of length 1 is left as is) so that the square
        # root has one place to happen.
        units = mz * my
    return min(units, 256)


@jit
def _chunk(features, spacing, root, out, planes, box, step, c, nch):
    """Chunk ``c`` of ``nch`` of pass ``step``, with its own scratch buffers. Step -1: the boxes of
    the chunk's planes (into ``planes``), before the crop box exists."""
    nz, ny, nx = features.shape
    if step < 0:
        for z in range(c * nz // nch, (c + 1) * nz // nch):
            _plane_box(features, z, planes[z])
        return
    mz = box[1] - box[0]
    my = box[3] - box[2]
    mx = box[5] - box[4]
    if step == 0:
        prev = np.empty(nx, np.float64)
        _pass0_chunk(features, out, spacing[0], c * ny // nch, (c + 1) * ny // nch, box, prev)
    elif step == 1:
        tile = _tile(box)
        nblk = (mx + tile - 1) // tile
        units = mz * nblk
        buf = np.empty(tile * my, np.float64)
        v = np.empty(my, np.int64)
        fv = np.empty(my, np.float64)
        g = np.empty(my, np.float64)
        zb = np.empty(my + 1, np.float64)
        _pass1_chunk(out, spacing[1], c * units // nch, (c + 1) * units // nch,
                     box, nblk, tile, buf, v, fv, g, zb)
    else:
        units = mz * my
        v = np.empty(mx, np.int64)
        fv = np.empty(mx, np.float64)
        g = np.empty(mx, np.float64)
        zb = np.empty(mx + 1, np.float64)
        _pass2_chunk(out, spacing[2], root, c * units // nch, (c + 1) * units // nch,
                     box, v, fv, g, zb)


@jit(parallel=True)
def _chunks_parallel(features, spacing, root, out, planes, box, step, nch):
    """The ``nch`` chunks of pass ``step`` shared among numba's threads. Only this loop is compiled
    in parallel mode (about a second per parallel kernel, growing with its body); the work is the
    serial :func:`_chunk`."""
    for c in prange(nch):
        _chunk(features, spacing, root, out, planes, box, step, np.int64(c), nch)  # int64 as in the serial loop


@jit
def _transform_into(features, spacing, root, out, serial_below):
    """Fill ``out`` with the squared distances to the nearest non-zero voxel of ``features``.

    Their square roots if ``root``. ``out``: C-contiguous float64, shape of ``features``. Plane
    boxes, the crop box, then the three passes. Below ``serial_below`` voxels the chunks run in order
    on the calling thread: waking the thread pool for four parallel regions costs more than the
    transform (tens of microseconds to milliseconds on a loaded machine). Same chunks, same result
    either way.

    The one compiled entry point (the public functions below are Python): every layer of kernels
    calling kernels is compiled and linked again with all it calls, about a second per layer here.
    """
    if out.size == 0:
        return
    parallel = out.size >= serial_below
    nz, ny, nx = features.shape
    planes = np.empty((nz, 4), np.int64)
    box = np.empty(6, np.int64)
    nch = min(nz, 256)
    step = np.int64(-1)  # a variable, not the literal -1: one specialisation of the chunk kernels
    if parallel:
        _chunks_parallel(features, spacing, root, out, planes, box, step, nch)
    else:
        for c in range(nch):
            _chunk(features, spacing, root, out, planes, box, step, c, nch)
    if not _crop_box(planes, ny, nx, box):
        out[:] = 0.0  # features only
        return
    for step in range(3):
        nch = _n_chunks(ny, box, step)
        if parallel:
            _chunks_parallel(features, spacing, root, out, planes, box, step, nch)
        else:
            for c in range(nch):
                _chunk(features, spacing, root, out, planes, box, step, c, nch)


def _call(features, spacing, root, out, serial_below):
    """:func:`_transform_into` with read-only views of the inputs: one specialisation, whether the
    caller's arrays are writable or not."""
    f = features.view()
    f.flags.writeable = False
    s = spacing.view()
    s.flags.writeable = False
    _transform_into(f, s, bool(root), out, int(serial_below))


def _transform_serial(features, spacing, root, out):
    """The transform on the calling thread (tests compare the two schedules)."""
    _call(features, spacing, root, out, out.size + 1)


def _transform_parallel(features, spacing, root, out):
    """The transform's chunks on numba's threads."""
    _call(features, spacing, root, out, 0)


def sq_distance_to_features(features, spacing, serial_below):
    """Squared Euclidean distance from every voxel to the nearest non-zero voxel.

    Parameters
    ----------
    features : (Z, Y, X) uint8, C-contiguous
        Non-zero marks a feature voxel. 2D data is passed as ``(1, H, W)``
        with spacing ``(1.0, s0, s1)``.
    spacing : (3,) float64
        Physical voxel size along each array axis, positive and finite.
    serial_below : int
        Below this many voxels the transform runs on the calling thread (same result).

    Returns
    -------
    (Z, Y, X) float64
        Squared distance in physical units; 0 at features; ``inf`` everywhere
        if there is no feature voxel.
    """
    out = np.empty(features.shape, np.float64)
    _call(features, spacing, False, out, serial_below)
    return out


def sq_distance_to_features_into(features, spacing, out, serial_below):
    """As :func:`sq_distance_to_features`, written to ``out`` (C-contiguous float64, same shape)."""
    _call(features, spacing, False, out, serial_below)


def distance_to_features_into(features, spacing, out, serial_below):
    """As :func:`sq_distance_to_features_into` but the distances themselves (one fused square root)."""
    _call(features, spacing, True, out, serial_below)
