"""Slow, obviously-correct references for fastseg's surface-distance metrics (DESIGN.md sections 3-5).

Written from the definitions, sharing no code with ``fastseg`` except the surfel weight table
``fastseg._surfel_tables.areas`` (tested on its own against DeepMind's in ``tests/test_surfels.py``):

* surface, voxel mode: ``m & ~binary_erosion(m, generate_binary_structure(ndim, connectivity))``
  (scipy; outside the image is background), each voxel at its index times the spacing, weight 1;
* surface, surfel mode: the corners of the voxel lattice (shape ``n + 1`` per axis, corner ``c`` at
  voxel-index position ``c - 1/2``) whose 2x2(x2) block of voxels is mixed, weighted by
  ``areas(spacing)[code]``; the code has bit ``4a + 2b + c`` (2D: ``2b + c``) set when voxel
  ``(k-1+a, j-1+b, i-1+c)`` is foreground;
* nearest distances with ``scipy.spatial.cKDTree``. The distance to each of the nearest candidates
  found is then recomputed from the integer index offsets as ``sqrt(sum_a (offset_a * spacing_a)**2)``,
  summed in axis order, and the smallest kept: mathematically the same number, but free of the
  rounding of ``index * spacing`` coordinates, so that distances that are exactly equal (ties,
  ``d == tolerance``) come out equal;
* the metrics, from the two directed sets, under each rule of :mod:`fastseg.conventions`.

Only non-empty masks are handled by :func:`metrics` (the empty policies are pinned by hand in the
tests). Nothing here is fast.
"""
import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from fastseg._surfel_tables import areas as _areas


def boundary_voxels(mask, connectivity=1):
    """Boundary voxels: foreground with a background neighbour (outside the image is background)."""
    m = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(m.ndim, min(connectivity, m.ndim))
    return m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)


def neighbour_codes(mask):
    """Code of every corner of the voxel lattice (shape ``mask.shape + 1``), by explicit loops over
    the 2**ndim voxels of each corner's block."""
    m = np.asarray(mask, dtype=bool)
    nd = m.ndim
    padded = np.zeros(tuple(s + 2 for s in m.shape), dtype=np.int64)
    padded[tuple(slice(1, -1) for _ in range(nd))] = m
    lattice = tuple(s + 1 for s in m.shape)
    codes = np.zeros(lattice, dtype=np.int64)
    for bit in range(2 ** nd):
        offset = [(bit >> (nd - 1 - d)) & 1 for d in range(nd)]  # (a, b, c) for bit 4a + 2b + c
        # corner c sees voxel c - 1 + offset, i.e. padded index c + offset
        codes += padded[tuple(slice(o, o + n) for o, n in zip(offset, lattice))] << bit
    return codes


def surface_points(mask, spacing, surface="surfel", connectivity=1):
    """``(index, weight)``: integer positions (voxel indices, or lattice indices in surfel mode, as
    an ``(n, ndim)`` int array) of the surface elements, and their weights."""
    m = np.asarray(mask, dtype=bool)
    if surface == "voxel":
        idx = np.argwhere(boundary_voxels(m, connectivity))
        return idx, np.ones(len(idx))
    codes = neighbour_codes(m)
    full = 2 ** 2 ** m.ndim - 1
    on = (codes != 0) & (codes != full)
    table = _areas(tuple(float(s) for s in spacing))
    return np.argwhere(on), table[codes[on]]


CANDIDATES = 16


def nearest_distances(src, dst, spacing):
    """Distance from each point of ``src`` to the nearest of ``dst`` (index arrays); inf if none.

    The tree proposes the ``CANDIDATES`` nearest points; the exact formula is evaluated for each and
    the smallest kept, so that of several points at the same mathematical distance (3 * 1.1 and
    11 * 0.3 are both 3.3) the one whose rounded value is smallest wins, as in a distance transform."""
    if len(src) == 0:
        return np.zeros(0)
    if len(dst) == 0:
        return np.full(len(src), np.inf)
    s = np.asarray(spacing, dtype=np.float64)
    k = min(CANDIDATES, len(dst))
    _, nearest = cKDTree(dst * s).query(src * s, k=k)
    nearest = nearest.reshape(len(src), k)
    offsets = (src[:, None, :] - dst[nearest]).astype(np.float64)  # (n, k, ndim)
    sq = np.zeros(nearest.shape)
    for a in range(src.shape[1]):
        sq = sq + (offsets[..., a] * s[a]) ** 2
    return np.sqrt(sq.min(axis=1))


def distances(pred, ref, spacing, surface="surfel", connectivity=1):
    """``(d_pred_to_ref, w_pred, d_ref_to_pred, w_ref)``, each direction sorted by (distance, weight)."""
    ip, wp = surface_points(pred, spacing, surface, connectivity)
    ir, wr = surface_points(ref, spacing, surface, connectivity)
    dp = nearest_distances(ip, ir, spacing)
    dr = nearest_distances(ir, ip, spacing)
    op = np.lexsort((wp, dp))
    orr = np.lexsort((wr, dr))
    return dp[op], wp[op], dr[orr], wr[orr]


# ---------------------------------------------------------------- percentile rules

def weighted_nearest_rank(d, w, q):
    """The first distance (in sorted order) whose cumulative weight fraction reaches ``q / 100``
    (DeepMind's rule); the last one if rounding keeps the fraction below it."""
    cum = np.cumsum(w) / np.sum(w)
    for i in range(len(d)):
        if cum[i] >= q / 100.0:
            return float(d[i])
    return float(d[-1])


def linear(d, q):
    """numpy's default (linear) percentile."""
    return float(np.percentile(d, q))


def hausdorff(dp, wp, dr, wr, q, rule):
    if rule == "weighted_nearest_rank":
        return max(weighted_nearest_rank(dp, wp, q), weighted_nearest_rank(dr, wr, q))
    if rule == "linear_per_direction":
        return max(linear(dp, q), linear(dr, q))
    assert rule == "linear_pooled", rule
    return linear(np.concatenate([dp, dr]), q)


def directed_means(dp, wp, dr, wr):
    return (math.fsum(dp * wp) / math.fsum(wp), math.fsum(dr * wr) / math.fsum(wr))


def assd_pooled(dp, wp, dr, wr):
    return (math.fsum(dp * wp) + math.fsum(dr * wr)) / (math.fsum(wp) + math.fsum(wr))


def masd(dp, wp, dr, wr):
    a, b = directed_means(dp, wp, dr, wr)
    return 0.5 * (a + b)


def nsd(dp, wp, dr, wr, tolerance):
    """Surface Dice: weight within the tolerance (inclusive) over the total weight of both surfaces."""
    good = math.fsum(wp[dp <= tolerance]) + math.fsum(wr[dr <= tolerance])
    return good / (math.fsum(wp) + math.fsum(wr))


def metrics(pred, ref, spacing, convention, percentiles=(100.0, 95.0), tolerances=(1.0,)):
    """Every metric of two NON-EMPTY masks under a convention (an object with ``surface``,
    ``connectivity``, ``percentile`` and ``assd`` attributes, e.g. a fastseg Convention).

    Returns a dict: ``hdq`` {percentile: value}, ``assd``, ``masd``, ``directed_means``,
    ``nsd`` {tolerance: value} and the raw sets ``sets = (dp, wp, dr, wr)``.
    """
    sets = distances(pred, ref, spacing, convention.surface, convention.connectivity)
    assert len(sets[0]) and len(sets[2]), "reference_surface.metrics takes non-empty masks"
    out = {
        # MONAI tests `if not percentile` and returns the maximum for a percentile of 0
        "hdq": {q: hausdorff(*sets, 100.0 if (q == 0 and getattr(convention, "empty", "") == "monai") else q,
                             convention.percentile) for q in percentiles},
        "directed_means": directed_means(*sets),
        "masd": masd(*sets),
        "nsd": {t: nsd(*sets, t) for t in tolerances},
        "sets": sets,
    }
    out["assd"] = out["masd"] if convention.assd == "mean_of_directed" else assd_pooled(*sets)
    return out
