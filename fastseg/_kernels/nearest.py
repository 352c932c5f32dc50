"""Exact distances from sparse query points to the nearest feature point, by an ordered search.

Surface distances need the distance transform of one surface only at the other surface's points:
about one grid point in thirty of the crop. A full transform (:mod:`.edt`) pays for every grid
point; this search pays per query, in proportion to the distance it finds, which for two
segmentations of one structure is a few voxels for nearly every point.

Grid: a 3D C-contiguous array ``(n0, n1, n2)`` (2D as ``(1, H, W)``), spacing ``s`` per axis. One
axis ``r`` is the *line axis* (the one with the finest spacing, so that the other two span the
largest area per grid point); ``a < b`` are the other two.

1. :func:`row_distances` / :func:`span_chunk` (``r = 2``, from the sorted feature indices) or
   :func:`line_distances`:
   for every grid point, the index distance along axis ``r`` to the nearest feature on its line;
   ``>= n_r`` when the line has none.
2. :func:`search`: for a query ``p``, every feature ``f`` lies on the axis-``r`` line through
   ``p + (da, db)`` for some in-plane offset ``(da, db)``; its squared distance is
   ``c(da, db) + (s_r * |p_r - f_r|)**2`` with ``c = (s_a*da)**2 + (s_b*db)**2``, smallest for the
   feature nearest along that line. Offsets are visited in increasing ``c``; once ``c`` reaches the
   best value found, no later offset can beat it, so the search stops with the exact minimum.
   Visited offsets: those with ``c`` below the answer, about ``pi * d**2 / (s_a * s_b)`` for a
   distance ``d``.

With ``r = 2``, two shortcuts give the same bits where they apply: :func:`row_nearest` is the
search at offset (0, 0) alone, read from the sorted feature list instead of line distances, and
final when that value is at most the ``c`` of the nearest other line; :func:`span_chunk` fills line
distances only at the positions a list of small offsets reads around the queries
(:func:`row_extents`, :func:`dilate_extents`).

Queries on consecutive voxels of a row (``r = 2``: the voxels of a region more than those of a
surface) are searched together, offset by offset, over the run's consecutive line distances: a loop
that vectorises (:func:`search_chunk`), each query with the bits of its own search.

The offset list holds the offsets with ``c <= c_max`` only (the caller bounds its length). A query
whose best value exceeds ``c_max`` after the whole list is *unresolved* (negative in the output:
minus that best value): a nearer feature could sit at an offset beyond the list. The caller finishes
those another way (a longer list, going on from that value, or the full transform). Each query is independent, so results do not depend on the thread count.

Arithmetic: with ``r = 2`` the value is ``((s0*d0)**2 + (s1*d1)**2) + (s2*d2)**2``, the same
operations in the same order as the separable transform, so both give the same bits for the same
feature.
"""
import numpy as np

from ._jit import jit


@jit
def first_at_least(a, x, lo):
    """The first ``i >= lo`` with ``a[i] >= x`` in the increasing int64 array ``a`` (``a.size`` if
    none): a binary search written out (``np.searchsorted`` in a kernel compiles numba's generic
    version, a third of a second on a first run)."""
    hi = a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def span_chunk(source, out, lo, hi, r0, r1, big):
    """Line distances of rows ``r0 .. r1 - 1`` of ``out`` (``(R, L)``, rows of the grid) from the
    increasing flat indices ``source``: whole rows when ``lo`` is empty, else the positions
    ``lo[j] .. hi[j]`` of each row ``j`` only (none where ``lo[j] > hi[j]``; the rest untouched): the
    lines a search reads, and no more. The features of a row are a contiguous run of ``source``;
    each stretch between two of them is one loop without a carried dependency (vectorised). One
    kernel, no helpers: a helper kernel is compiled on its own and again inlined into its callers
    (a first run compiled 0.6 s for this with two helpers)."""
    n = out.shape[1]
    s = first_at_least(source, r0 * n, 0)
    for j in range(r0, r1):
        e = s
        while e < source.size and source[e] < (j + 1) * n:
            e += 1
        x0, x1 = (0, n - 1) if lo.size == 0 else (lo[j], hi[j])
        o = out[j]
        base = j * n
        f = s  # the first feature at or past x0
        while f < e and source[f] - base < x0:
            f += 1
        i = x0
        while i <= x1:
            if f == e:  # past the last feature: the distance back to it, or none
                if f == s:
                    for t in range(i, x1 + 1):
                        o[t] = big
                else:
                    prv = source[f - 1] - base
                    for t in range(i, x1 + 1):
                        o[t] = t - prv
                break
            nxt = source[f] - base
            stop = min(x1 + 1, nxt)
            if f > s:
                prv = source[f - 1] - base
                for t in range(i, stop):
                    o[t] = min(t - prv, nxt - t)
            else:
                for t in range(i, stop):
                    o[t] = nxt - t
            if nxt > x1:
                break
            o[nxt] = 0
            i = nxt + 1
            f += 1
        s = e


@jit
def row_nearest(query, source, n2, s_r, c_first, out, q0, q1):
    """The first step of the search for queries ``q0 .. q1 - 1``: the nearest source on the
    query's own line (rows of ``n2`` along the line axis 2), from the two sorted flat-index lists
    walked side by side (no line distances). Kept where no other line can hold a nearer source:
    the squared distance ``(s_r * t)**2`` (the search's value at offset (0, 0)) is at most
    ``c_first``, the squared in-plane length of the nearest other line; elsewhere minus that squared
    value (-inf where the line holds no source), as :func:`search` marks what a longer list goes on
    from. Increasing queries walk the sources once; any order is answered."""
    ns = source.size
    if q0 >= q1:
        return
    k = first_at_least(source, query[q0], 0)
    last = query[q0]
    row_start = np.int64(1)
    row_end = np.int64(0)
    for qi in range(q0, q1):
        p = query[qi]
        if p < last:  # not increasing: find the place again
            k = first_at_least(source, p, 0)
        last = p
        while k < ns and source[k] < p:
            k += 1
        if p < row_start or p >= row_end:
            if row_end <= p < row_end + 4 * n2:  # a few rows on: steps, not a division
                while p >= row_end:
                    row_end += n2
            else:
                row_end = (p // n2 + 1) * n2
            row_start = row_end - n2
        t = np.int64(-1)
        if k < ns and source[k] < row_end:
            t = source[k] - p
        if k > 0 and source[k - 1] >= row_start and (t < 0 or p - source[k - 1] < t):
            t = p - source[k - 1]
        out[qi] = -np.inf
        if t >= 0:
            u = s_r * t
            v = u * u
            out[qi] = np.sqrt(v) if v <= c_first else -v


@jit
def row_extents(index, n2, lo, hi):
    """Per grid row (rows of ``n2``; flat ``index // n2``), the smallest and largest position along
    it of the flat indices ``index`` (any order; increasing is fastest): ``lo`` / ``hi`` (int64,
    one per row, filled beforehand with ``n2`` / -1: a row without one keeps them)."""
    row_start = np.int64(1)
    row_end = np.int64(0)
    row = np.int64(-1)
    a = n2  # the extremes of the current row, kept out of memory until the row ends
    b = np.int64(-1)
    for t in range(index.size):
        p = index[t]
        if p < row_start or p >= row_end:
            if row >= 0:
                lo[row] = min(lo[row], a)
                hi[row] = max(hi[row], b)
            if row_end <= p < row_end + 4 * n2:  # a few rows on: steps, not a division
                while p >= row_end:
                    row += 1
                    row_end += n2
                row_start = row_end - n2
            else:
                row = p // n2
                row_start = row * n2
                row_end = row_start + n2
            a = n2
            b = np.int64(-1)
        x = p - row_start
        a = min(a, x)
        b = max(b, x)
    if row >= 0:
        lo[row] = min(lo[row], a)
        hi[row] = max(hi[row], b)


@jit
def dilate_extents(lo, hi, n0, n1, ra, rb, out_lo, out_hi):
    """Per row ``(i0, i1)`` of ``n0 x n1`` rows (flat ``i0 * n1 + i1``), the extremes of the
    extents :func:`row_extents` gives over the rows within ``|d0| <= ra``, ``|d1| <= rb``: the
    positions along each row that a search of those offsets around the points reads (``out_lo >
    out_hi``: none). One axis at a time: along ``i1`` into scratch, then along ``i0`` into the
    outputs; the inputs are left as they are."""
    lo1 = np.empty(n0 * n1, np.int64)
    hi1 = np.empty(n0 * n1, np.int64)
    _window_extremes(lo, hi, lo1, hi1, n0, n1, n1, 1, rb)
    _window_extremes(lo1, hi1, out_lo, out_hi, n1, n0, 1, n1, ra)


@jit
def _window_extremes(lo, hi, out_lo, out_hi, lines, length, line_step, step, radius):
    """Along each of ``lines`` lines of ``length`` (element ``i`` of line ``t`` at ``t * line_step +
    i * step``), the smallest ``lo`` and largest ``hi`` within ``radius`` of each element."""
    for t in range(lines):
        base = t * line_step
        for i in range(length):
            a = lo[base + i * step]
            b = hi[base + i * step]
            for k in range(max(0, i - radius), min(length, i + radius + 1)):
                a = min(a, lo[base + k * step])
                b = max(b, hi[base + k * step])
            out_lo[base + i * step] = a
            out_hi[base + i * step] = b


@jit
def row_distances(source, out, nchunks):
    """Line distances along the last axis straight from the features' sorted flat indices.

    ``source``: int64, increasing flat indices of the features in a grid seen as ``R`` rows of
    length ``L``. ``out``: int32 ``(R, L)``: index distance along its row to the nearest feature,
    ``2 * L + 2`` if the row has none. The features of a row are a contiguous run of ``source``, so
    the grid itself is never scanned. (Here and below: the ``nchunks`` ranges run in turn, and the
    engine runs the chunk kernels on threads side by side, ``fastseg._engine.chunks``: numba's
    parallel loops cost seconds of compilation on a first run.)
    """
    nrow, n = out.shape
    big = np.int32(2 * n + 2)
    whole = np.empty(0, np.int64)  # no spans: whole rows
    for ch in range(nchunks):
        span_chunk(source, out, whole, whole, nrow * ch // nchunks, nrow * (ch + 1) // nchunks, big)


@jit
def line_chunk(features, out, a0, a1, big):
    na, nl, nb = features.shape
    for a in range(a0, a1):
        f = features[a]
        o = out[a]
        for j in range(nb):
            o[0, j] = 0 if f[0, j] != 0 else big
        for i in range(1, nl):
            for j in range(nb):
                o[i, j] = 0 if f[i, j] != 0 else o[i - 1, j] + 1
        for i in range(nl - 2, -1, -1):
            for j in range(nb):
                o[i, j] = min(o[i, j], o[i + 1, j] + 1)


@jit
def line_distances(features, out, nchunks):
    """Index distance along axis 1 of ``(A, L, B)`` arrays to the nearest non-zero of ``features``.

    ``features``: uint8 ``(A, L, B)`` C-contiguous (the grid reshaped so that the line axis is the
    middle one). ``out``: int32, same shape; values ``>= L`` mean no feature on the line. ``A`` is
    split into ``nchunks`` ranges run in parallel. For the last axis :func:`row_distances` is faster.
    """
    na, nl, nb = features.shape
    big = np.int32(2 * nl + 2)  # never reached by a real distance; stays < 2**31 after +L
    for ch in range(nchunks):
        line_chunk(features, out, na * ch // nchunks, na * (ch + 1) // nchunks, big)


@jit
def search_chunk(lines, shape, r, s_r, query, da, db, c, c_max, out, q0, q1, best0):
    """:func:`search` for queries ``q0 .. q1 - 1``, each query's best squared value so far
    ``best0[qi]`` (``best0`` empty: none, +inf). To go on from a shorter list, pass the offsets from
    the first one not below its ``c_max`` (slices: a loop from a variable first offset measured 30 %
    slower). With line axis 2, queries on consecutive voxels of a row (the voxels of a region, more
    than those of a surface) are searched together (one loop: a helper kernel inlined here was
    optimised twice on a first run, 0.26 s more compilation)."""
    n0, n1, n2 = shape[0], shape[1], shape[2]
    a = 0 if r != 0 else 1
    b = 2 if r != 2 else 1
    n = (n0, n1, n2)
    na = n[a]
    nb = n[b]
    nr = n[r]
    stride = (n1 * n2, n2, 1)
    sa_ = stride[a]
    sb_ = stride[b]
    k = c.size
    inf = np.inf
    if q0 >= q1:
        return
    best = np.empty(n2 if r == 2 else 1)  # the best squared value of each query of a run
    # with r = 2 the in-plane position is the row (ia, ib): followed along increasing queries, a
    # few rows at a time, instead of two integer divisions per query (15% of the search on an
    # organ surface); any other step is computed
    row_end = -(np.int64(1) << 60)  # far below any query: the first one is computed
    ia = 0
    ib = 0
    qi = q0
    while qi < q1:
        p = query[qi]
        m = 1
        if r == 2:
            if p < row_end - n2 or p >= row_end + 4 * n2:
                row = p // n2
                ia = row // n1
                ib = row - ia * n1
                row_end = (row + 1) * n2
            while p >= row_end:
                row_end += n2
                ib += 1
                if ib == n1:
                    ib = 0
                    ia += 1
            while qi + m < q1 and query[qi + m] == p + m and p + m < row_end:
                m += 1
        else:
            idx = (p // (n1 * n2), (p // n2) % n1, p % n2)
            ia = idx[a]
            ib = idx[b]
        # the queries qi .. qi + m - 1 on the voxels p .. p + m - 1 of row (ia, ib) (m = 1: one
        # query; any line axis): one offset at a time for all of them, over their consecutive line
        # distances (a loop that vectorises). A query's own search would stop at the first offset
        # with c not below its best value; the run goes on while any of its queries is unfinished,
        # the finished ones dropped from its two ends. An offset past a query's stop cannot lower
        # its best (c + u*u >= c in floating point too): each query gets the bits of its own search.
        for t in range(m):
            best[t] = best0[qi + t] if best0.size else inf
        lo = 0
        hi = m
        for o in range(k):
            co = c[o]
            while lo < hi and best[lo] <= co:
                lo += 1
            while hi > lo and best[hi - 1] <= co:
                hi -= 1
            if lo == hi:
                break
            ja = ia + da[o]
            jb = ib + db[o]
            if ja < 0 or ja >= na or jb < 0 or jb >= nb:
                continue
            base = p + da[o] * sa_ + db[o] * sb_
            seg = lines[base + lo:base + hi]  # slices indexed from 0: no negative-index wrap, so it vectorises
            bs = best[lo:hi]
            for t in range(hi - lo):
                tt = seg[t]
                u = s_r * tt
                v = co + u * u
                b0 = bs[t]
                take = (tt < nr) & (v < b0)
                bs[t] = v if take else b0
        for t in range(m):
            b0 = best[t]
            out[qi + t] = np.sqrt(b0) if b0 <= c_max else -b0
        qi += m


@jit
def search(lines, shape, r, s_r, query, da, db, c, c_max, out, nchunks):
    """Distances from the grid points ``query`` to the nearest feature (see the module docstring).

    Parameters
    ----------
    lines : int32 (n0 * n1 * n2,)
        Line distances of the features along axis ``r``, flattened in C order (the grid's layout:
        consecutive queries along a row revisit the same cache lines; a line-major layout, with
        each query's offsets close together instead, measured slower).
    shape : int64 (3,)
        ``(n0, n1, n2)``.
    r : int
        Line axis; the offsets move along the other two axes ``a < b``.
    s_r : float
        Spacing along ``r``.
    query : int64 (m,)
        Flat C-order indices of the query points (any order; increasing is fastest).
    da, db, c : int64, int64, float64 (k,)
        Offsets along axes ``a`` and ``b`` and their squared in-plane length
        ``(s_a*da)**2 + (s_b*db)**2``, sorted by ``c``.
    c_max : float
        The list holds every offset with ``c <= c_max`` (inside the grid).
    out : float64 (m,)
        Distances (not squared); negative for an unresolved query: minus the smallest squared value
        the list found (-inf: none), from which a longer list can go on (``search_chunk``'s
        ``best0``, with the offsets of the longer list from the first not below this list's
        ``c_max``).
    nchunks : int
        Query ranges handed to threads.
    """
    m = query.size
    none = np.empty(0)
    for ch in range(nchunks):
        search_chunk(lines, shape, r, s_r, query, da, db, c, c_max, out, m * ch // nchunks, m * (ch + 1) // nchunks,
                     none)


@jit
def row_at(p, n1, n2):
    """``(start, i0, i1)``: the flat index where grid row ``(i0, i1)`` of flat index ``p`` starts, in
    a grid of rows of ``n2`` (``n1`` rows a plane). Callers walking increasing indices call it once
    per row they enter, not once per index (two integer divisions are most of a point's cost)."""
    row = p // n2
    i0 = row // n1
    return row * n2, i0, row - i0 * n1


@jit
def index_box(index, shape):
    """``(lo, hi)``: int64 (3,) each, the box of flat C-order indices into a grid of ``shape``.
    Increasing indices (the surface kernels' order) take one division per grid row they touch,
    any other order a division per index."""
    n1 = shape[1]
    n2 = shape[2]
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    lo[0] = lo[1] = lo[2] = np.int64(9223372036854775807)  # not np.iinfo: it compiles on a first run
    hi[0] = hi[1] = hi[2] = -1
    row_start = np.int64(1)  # empty: the first index starts a row
    row_end = np.int64(0)
    i0 = i1 = np.int64(0)
    for p in index:
        if p < row_start or p >= row_end:  # row_at, written out (a helper compiles twice on a first run)
            row = p // n2
            i0 = row // n1
            i1 = row - i0 * n1
            row_start = row * n2
            row_end = row_start + n2
            lo[0] = min(lo[0], i0)
            hi[0] = max(hi[0], i0)
            lo[1] = min(lo[1], i1)
            hi[1] = max(hi[1], i1)
        i2 = p - row_start
        lo[2] = min(lo[2], i2)
        hi[2] = max(hi[2], i2)
    return lo, hi


@jit
def to_box(index, shape, lo, hi, sub, inside):
    """Flat indices of a grid of ``shape`` into flat indices of its sub-box ``[lo, hi]`` (``sub``),
    and whether each lies inside it (``inside``; ``sub`` is undefined where not). A sub-box keeps
    C order, so increasing indices stay increasing. Returns how many lie inside. Increasing indices
    take one division per grid row they touch (see :func:`index_box`)."""
    n1 = shape[1]
    n2 = shape[2]
    m1 = hi[1] - lo[1] + 1
    m2 = hi[2] - lo[2] + 1
    count = 0
    row_start = np.int64(1)
    row_end = np.int64(0)
    row_in = False
    row_base = np.int64(0)
    for t in range(index.size):
        p = index[t]
        if p < row_start or p >= row_end:
            row_start, i0, i1 = row_at(p, n1, n2)
            row_end = row_start + n2
            row_in = lo[0] <= i0 <= hi[0] and lo[1] <= i1 <= hi[1]
            row_base = ((i0 - lo[0]) * m1 + (i1 - lo[1])) * m2 - lo[2]
        i2 = p - row_start
        ok = row_in and lo[2] <= i2 <= hi[2]
        inside[t] = ok
        if ok:
            sub[t] = row_base + i2
            count += 1
    return count


@jit
def outside_bound(index, shape, sp, glo, ghi, below, above, out):
    """Per query (flat indices into ``shape``, all inside the box ``[glo, ghi]``), a lower bound of
    the distance to any point outside the box past the faces flagged in ``below`` / ``above`` (per
    axis): the distance to the first layer past the nearest such face; ``inf`` with no flagged face."""
    n1 = shape[1]
    n2 = shape[2]
    for t in range(index.size):
        p = index[t]
        i0 = p // (n1 * n2)
        rest = p - i0 * (n1 * n2)
        i1 = rest // n2
        c = (i0, i1, rest - i1 * n2)
        b = np.inf
        for a in range(3):
            if below[a]:
                b = min(b, sp[a] * (c[a] - glo[a] + 1))
            if above[a]:
                b = min(b, sp[a] * (ghi[a] - c[a] + 1))
        out[t] = b
