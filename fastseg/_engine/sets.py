"""The directed distance sets, sorted: their order, their weights, and the percentile rules read from them.

A set holds the distances of one direction sorted ascending (NaN last), ties by weight, with the
weight of each element beside it (:func:`sort_by_distance`): surfel areas or lengths, or 1.0 per
voxel (:func:`unit_weights`, recognised by :func:`is_unit`). The conventions' percentile rules read
the sorted sets directly: the area-weighted nearest rank (:func:`weighted_nearest_rank`), numpy's
linear interpolation (:func:`linear_percentile`, also of two sets pooled) and plastimatch's
float32 floor rank (:func:`floor_rank`), each the bits of the peer's own computation.
"""
import math

import numpy as np

from .._kernels import order as _korder

__all__ = ["unit_weights", "is_unit", "sort_by_distance", "weighted_nearest_rank", "linear_percentile",
           "kth_smallest", "floor_rank"]


def unit_weights(n):
    """The weights of ``n`` boundary or object voxels, 1.0 each: one read-only element seen ``n``
    times (no memory: the object model's sets hold a million voxels), which :func:`is_unit`
    recognises without reading them."""
    return np.broadcast_to(np.float64(1.0), (int(n),))


def is_unit(w):
    """True for weights that are all 1.0 by construction (:func:`unit_weights`: one element, stride 0),
    which the mean of the distances can skip (``d * 1.0`` is ``d``, bit for bit)."""
    return w.ndim == 1 and w.size > 0 and w.strides[0] == 0 and w.dtype == np.float64 and w[0] == 1.0


def sort_by_distance(d, w, codes=None, table=None):
    """Sort by distance, ties by weight (the order surface-distance uses).

    Unit weights (voxel mode, ``codes`` None) need no permutation: a plain sort. Surfels: each
    weight is ``table[code]``, a handful of distinct values (weight classes), so the distances are
    put in class order, each class sorted on its own (its weights are all equal) and the classes
    merged by distance, equal distances in class (weight) order (:mod:`fastseg._kernels.order`). On
    the 82 organs of ``bench.cases.organs90`` (8.3M surfels): 0.03 s against 0.16 s for a stable
    argsort of the class-ordered runs (and 0.01 s for a plain sort of the distances alone).
    """
    if codes is None:
        d = np.sort(d)
    else:
        values, class_of_code = _weight_classes(table)
        dc, start, scratch = np.empty(d.size), np.zeros(values.size + 1, np.int64), np.empty(values.size, np.int64)
        _korder.by_class(np.ascontiguousarray(d, np.float64), codes, class_of_code, dc, start, scratch)
        for k in np.flatnonzero(np.diff(start) > 1):
            dc[start[k]:start[k + 1]].sort()
        d, w = np.empty(d.size), np.empty(d.size)
        _korder.merge_classes(dc, start, values, d, w, scratch)
    d.flags.writeable = False  # derived metrics rely on the order
    w.flags.writeable = False
    return d, w


def weighted_nearest_rank(d, w, q):
    """The ``q``-th percentile of sorted distances ``d`` with weights ``w`` by the nearest rank on
    the cumulative weight: ``d[i]`` for the first ``i`` whose share of the total weight reaches
    ``q / 100`` (``inf`` for no distance). The bits of ``np.searchsorted(np.cumsum(w) / np.sum(w),
    q / 100)``, in one pass that stops at the answer (:func:`fastseg._kernels.order.rank_reaching`)."""
    if d.size == 0:
        return math.inf
    total = np.sum(w)
    level = q / 100.0
    if w.dtype == np.float64 and total > 0 and math.isfinite(total):
        i = _korder.rank_reaching(np.ascontiguousarray(w), float(total), level)
    else:  # weights a caller made (another dtype; a zero, inf or NaN total): numpy's answer, quietly
        with np.errstate(invalid="ignore", divide="ignore"):
            i = int(np.searchsorted(np.cumsum(w) / total, level))
    return float(d[min(i, d.size - 1)])


_CLASSES = {}


def _weight_classes(table):
    """``(values, class_of_code)``: a surfel area table's distinct areas, increasing, and each code's
    class (uint8); kept per table (one per spacing in use)."""
    key = table.tobytes()
    got = _CLASSES.get(key)
    if got is None:
        values, cls = np.unique(table, return_inverse=True)
        got = (values.astype(np.float64), cls.astype(np.uint8))  # 256 codes: at most 256 classes
        if len(_CLASSES) >= 64:
            _CLASSES.clear()
        _CLASSES[key] = got
    return got


def floor_rank(d, q):
    """plastimatch's percentile of ``n`` sorted distances: the ``floor(q/100 n - 1)``-th smallest
    (0-based), the index computed in float32 as plastimatch does, clipped to the distances."""
    if d.size == 0:
        return math.nan
    f32 = np.float32
    k = math.floor(float(f32(f32(q / 100.0) * f32(d.size)) - f32(1.0)))
    return float(d[min(max(k, 0), d.size - 1)])


def linear_percentile(parts, q):
    """numpy's linear percentile (``np.percentile(np.concatenate(parts), q)``, to the bit) of one or
    more sorted sets (NaN last, as :class:`fastseg.SurfaceDistances` holds them), without partitioning them:
    the two order statistics it interpolates are read from the sorted sets (:func:`kth_smallest`), and
    interpolated with numpy's operations (``_lerp``: from the lower one below 0.5, from the upper one
    from 0.5 on). On the object model's sets of a million voxels this is a microsecond instead of a
    partition of a few milliseconds."""
    n = sum(d.size for d in parts)
    if n == 0:
        return math.nan
    if any(d.size and math.isnan(d[-1]) for d in parts):
        return math.nan
    virtual = (n - 1) * (q / 100.0)
    if virtual >= n - 1:  # numpy takes the last element for both, and its gamma from index -1
        lo = hi = n - 1
        gamma = virtual + 1.0
    else:
        lo = math.floor(virtual)
        hi = lo + 1
        gamma = virtual - lo
    a, b = kth_smallest(parts, lo), kth_smallest(parts, hi)
    with np.errstate(invalid="ignore"):
        diff = b - a
        value = b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma
    # between two infinite distances (a mask without surface under edge="foreground": it fills the
    # image) the interpolation is inf - inf: the percentile is inf
    return math.inf if math.isnan(value) else float(value)


def kth_smallest(parts, k):
    """The ``k``-th smallest (from 0) of one or two sorted sets taken together."""
    if len(parts) == 1:
        return parts[0][k]
    a, b = parts
    # the number i of a's elements among the k + 1 smallest: the least i with a[i] >= b[k - i]
    # (a's element at the cut not below b's last one taken); ties from either side give one value
    lo, hi = max(0, k + 1 - b.size), min(k + 1, a.size)
    while lo < hi:
        i = (lo + hi) // 2
        if a[i] < b[k - i]:
            lo = i + 1
        else:
            hi = i
    i = lo
    if i == 0:
        return b[k]
    if i == k + 1:
        return a[k]
    return max(a[i - 1], b[k - i])
