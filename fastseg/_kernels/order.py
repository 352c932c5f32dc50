"""Ordering surface-distance sets: distances sorted with their weights, and weighted ranks.

A surfel's weight is its area, one of a handful of values (the classes of the neighbour-code area
table). surface-distance's order, which fastseg keeps, is by distance with ties by weight. Sorting
pairs costs many times a plain sort of the distances (numpy sorts float64 with SIMD), so the pairs
are sorted class by class instead:

1. :func:`by_class`: the distances put in class order (a stable counting sort by class);
2. the caller sorts each class's distances with numpy (equal weights: the plain sort is the sort);
3. :func:`merge_classes`: the sorted classes merged by distance, equal distances class by class in
   class order, which is the weight order. The merge takes, in turn, each next smallest distance,
   then from every class its run of that distance: surface distances of two segmentations of one
   structure take few distinct values (a shift by one voxel gives two), so the merge costs about a
   read and a write per point, and at worst (every distance distinct) a look at every class per
   point.

:func:`rank_reaching` is the weighted nearest rank (the first point at which the running share of
the weight reaches a level) in one pass that stops there, with the operations of
``np.searchsorted(np.cumsum(w) / total, level)``: the same bits.
"""
import numpy as np

from ._jit import jit

__all__ = ["by_class", "merge_classes", "rank_reaching"]


@jit
def by_class(d, codes, class_of_code, out, start, pos):
    """Stable counting sort of ``d`` by ``class_of_code[codes]`` into ``out``, with the class
    starts in ``start`` (int64, zeros, one more than the classes): class ``k``'s distances are
    ``out[start[k]:start[k + 1]]``. ``pos``: int64 scratch, one per class. (The caller allocates:
    an allocation in a kernel compiles numba's, a first run's seconds add up.)"""
    nclass = pos.size
    for i in range(codes.size):
        start[class_of_code[codes[i]] + 1] += 1
    for k in range(nclass):
        start[k + 1] += start[k]
        pos[k] = start[k]
    for i in range(codes.size):
        k = class_of_code[codes[i]]
        out[pos[k]] = d[i]
        pos[k] += 1


@jit
def merge_classes(dc, start, values, d_out, w_out, head):
    """Merge the sorted classes ``dc[start[k]:start[k + 1]]`` (weights ``values[k]``) into ``d_out``
    and ``w_out``: by distance, equal distances class by class (module docstring). NaN distances,
    which numpy's sort puts last, come last, class by class, as a stable sort of the concatenated
    classes puts them. ``head``: int64 scratch, one per class."""
    nclass = values.size
    for k in range(nclass):
        head[k] = start[k]
    o = 0
    while True:
        m = np.inf
        found = False
        for k in range(nclass):
            h = head[k]
            if h < start[k + 1]:
                x = dc[h]
                if x <= m:  # False for NaN: a class with only NaN left is done with last
                    m = x
                    found = True
        if not found:
            break
        for k in range(nclass):
            h = head[k]
            e = start[k + 1]
            wk = values[k]
            while h < e and dc[h] == m:
                d_out[o] = m
                w_out[o] = wk
                o += 1
                h += 1
            head[k] = h
    for k in range(nclass):  # NaN
        for h in range(head[k], start[k + 1]):
            d_out[o] = dc[h]
            w_out[o] = values[k]
            o += 1


@jit
def rank_reaching(w, total, level):
    """The first ``i`` with ``(w[0] + ... + w[i]) / total >= level``, summed left to right as
    ``np.cumsum`` sums; ``w.size`` if none (``np.searchsorted``'s answer past the end)."""
    acc = 0.0
    for i in range(w.size):
        acc += w[i]
        if acc / total >= level:
            return i
    return w.size
