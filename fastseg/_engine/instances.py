"""Instances and their matching: the engine of lesion-wise evaluation.

Instances are connected components of a mask (:mod:`fastseg._engine.components`) or the ids of an
already-instanced map. Every rule here works on the sparse overlap table of two instance maps (the
voxel count of every overlapping (reference, prediction) pair, from one pass over the voxels where
either map is foreground) and returns *units*: ``(reference ids, prediction ids)`` that are scored
together. A unit with no prediction is a missed lesion (FN), one with no reference a spurious one
(FP). Inputs arrive validated; nothing here checks them again.
"""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .components import component_stats, label_components

__all__ = ["Instances", "instances_of", "instances_from_ids", "overlap_table", "match_greedy",
           "match_bipartite", "match_overlap", "match_dilated", "merge_by_dilation"]


@dataclass(frozen=True)
class Instances:
    """An instance map: ``labels`` (int32, 0 background, ids 1..n), ``n``, and per id (index 0 unused)
    the voxel count ``sizes`` and the inclusive box ``boxes`` ``[min0, max0, min1, max1, ...]``."""

    labels: np.ndarray
    n: int
    sizes: np.ndarray
    boxes: np.ndarray

    def box_slices(self, ids):
        """Slices of the box around every id of ``ids`` (None when ``ids`` is empty)."""
        ids = list(ids)
        if not ids:
            return None
        b = self.boxes[ids]
        return tuple(slice(int(b[:, 2 * a].min()), int(b[:, 2 * a + 1].max()) + 1) for a in range(self.labels.ndim))


def instances_of(mask, connectivity=None):
    """The connected components of a validated C-contiguous uint8 mask as :class:`Instances`."""
    labels, n = label_components(mask, connectivity)
    sizes, boxes = component_stats(labels, n)
    return Instances(labels, n, sizes, boxes)


def instances_from_ids(ids):
    """An already-instanced map (non-negative integers, 0 background): every distinct id one
    instance, renumbered 1..n in increasing order of the ids."""
    values, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    if values.size and values[0] == 0:
        labels = inverse.astype(np.int32)
        n = int(values.size - 1)
    else:
        labels = (inverse + 1).astype(np.int32)
        n = int(values.size)
    labels = np.ascontiguousarray(labels)
    sizes, boxes = component_stats(labels, n)
    return Instances(labels, n, sizes, boxes)


def overlap_table(ref, pred):
    """The voxel count of every overlapping pair: ``(ref_ids, pred_ids, counts)`` int64 arrays, sorted
    by (ref id, pred id). Each reference instance is read inside its own box, so the work follows the
    lesions, not the volume."""
    rid, pid, cnt = [], [], []
    for r in range(1, ref.n + 1):
        if ref.sizes[r] == 0:
            continue
        box = ref.box_slices([r])
        hit = pred.labels[box][ref.labels[box] == r]
        hit = hit[hit > 0]
        if hit.size:
            ids, counts = np.unique(hit, return_counts=True)
            rid.append(np.full(ids.size, r, np.int64))
            pid.append(ids.astype(np.int64))
            cnt.append(counts.astype(np.int64))
    if not rid:
        e = np.zeros(0, np.int64)
        return e, e.copy(), e.copy()
    return np.concatenate(rid), np.concatenate(pid), np.concatenate(cnt)


def _pair_scores(ref, pred, table, metric):
    rid, pid, inter = table
    union = ref.sizes[rid] + pred.sizes[pid] - inter
    if metric == "iou":
        return inter / union
    return 2.0 * inter / (ref.sizes[rid] + pred.sizes[pid])


def _units(n_ref, n_pred, pairs):
    """Units from one-to-one ``pairs``: the matched pairs, then every unmatched reference and
    prediction on its own (in id order)."""
    matched_r = {r for r, _ in pairs}
    matched_p = {p for _, p in pairs}
    units = [((r,), (p,)) for r, p in sorted(pairs)]
    units += [((r,), ()) for r in range(1, n_ref + 1) if r not in matched_r]
    units += [((), (p,)) for p in range(1, n_pred + 1) if p not in matched_p]
    return units


def match_greedy(ref, pred, table, *, metric="iou", threshold=0.5, strict=False):
    """One-to-one greedy matching: overlapping pairs by decreasing score (IoU or Dice; ties by
    reference id, then prediction id), each taken when both are still free and its score reaches
    ``threshold`` (``>=``; ``>`` when ``strict``). With a threshold above 0.5 for IoU (or 2/3 for
    Dice) every pair is unique and the order does not matter (Kirillov et al.'s panoptic quality)."""
    rid, pid, _ = table
    score = _pair_scores(ref, pred, table, metric)
    order = np.lexsort((pid, rid, -score))
    pairs, used_r, used_p = [], set(), set()
    for k in order:
        r, p, s = int(rid[k]), int(pid[k]), float(score[k])
        if r in used_r or p in used_p:
            continue
        if s > threshold or (s == threshold and not strict):
            pairs.append((r, p))
            used_r.add(r)
            used_p.add(p)
    return _units(ref.n, pred.n, pairs)


def match_bipartite(ref, pred, table, *, metric="iou", threshold=0.0, strict=True):
    """Maximum-weight one-to-one matching (``scipy.optimize.linear_sum_assignment``) on IoU or Dice
    over the pairs whose score passes ``threshold`` (``>`` by default: pairs must overlap); pairs
    below it weigh nothing and are never matched (panoptica's maximum bipartite matching)."""
    from scipy.optimize import linear_sum_assignment

    rid, pid, _ = table
    if rid.size == 0:
        return _units(ref.n, pred.n, [])
    score = _pair_scores(ref, pred, table, metric)
    passes = (score > threshold) | ((score == threshold) & (not strict))
    rid, pid, score = rid[passes], pid[passes], score[passes]
    if rid.size == 0:
        return _units(ref.n, pred.n, [])
    rows, row_of = np.unique(rid, return_inverse=True)
    cols, col_of = np.unique(pid, return_inverse=True)
    w = np.zeros((rows.size, cols.size))
    w[row_of, col_of] = score
    a, b = linear_sum_assignment(w, maximize=True)
    pairs = [(int(rows[i]), int(cols[j])) for i, j in zip(a, b) if w[i, j] > 0]
    return _units(ref.n, pred.n, pairs)


def match_overlap(ref, pred, table):
    """Any-overlap detection (the WMH challenge): every reference lesion with the predictions that
    overlap it; a prediction overlapping several reference lesions counts with each; predictions
    overlapping none are spurious."""
    rid, pid, _ = table
    by_ref = {}
    for r, p in zip(rid.tolist(), pid.tolist()):
        by_ref.setdefault(r, []).append(p)
    units = [((r,), tuple(by_ref.get(r, ()))) for r in range(1, ref.n + 1)]
    hit = set(pid.tolist())
    units += [((), (p,)) for p in range(1, pred.n + 1) if p not in hit]
    return units


def merge_by_dilation(ref_mask, ref, iterations, structure_rank, connectivity):
    """BraTS 2023's reference lesions: the reference's components grouped by the components of its
    dilation (``iterations`` of a binary dilation with the neighbourhood of rank ``structure_rank``,
    in voxels; outside the image is background), so lesions whose dilations touch are one lesion.
    Returns :class:`Instances` numbered by the dilated components (raster order of their first
    voxel); the lesions keep their own voxels, never the dilation's."""
    if iterations <= 0 or ref.n == 0:
        return ref
    st = ndimage.generate_binary_structure(ref_mask.ndim, structure_rank)
    dilated = np.ascontiguousarray(ndimage.binary_dilation(ref_mask, structure=st, iterations=iterations)
                                   .view(np.uint8))
    groups, n = label_components(dilated, connectivity)
    labels = np.where(ref.labels > 0, groups, 0).astype(np.int32)
    # dilated components without a reference voxel cannot exist (a dilation grows from the mask)
    sizes, boxes = component_stats(labels, n)
    return Instances(labels, n, sizes, boxes)


def match_dilated(ref, pred, iterations, structure_rank):
    """BraTS 2023's matching: for each reference lesion, every predicted component that overlaps the
    lesion dilated by ``iterations`` (neighbourhood of rank ``structure_rank``, in voxels) belongs to
    it (a component may belong to several lesions); predicted components that belong to none are
    spurious. Each lesion is dilated inside its box grown by ``iterations`` voxels (exact: the
    dilation cannot reach further)."""
    ndim = ref.labels.ndim
    st = ndimage.generate_binary_structure(ndim, structure_rank)
    units, hit = [], set()
    for r in range(1, ref.n + 1):
        box = ref.boxes[r]
        sl = tuple(slice(max(0, int(box[2 * a]) - iterations), min(ref.labels.shape[a], int(box[2 * a + 1]) + iterations + 1))
                   for a in range(ndim))
        lesion = ref.labels[sl] == r
        grown = ndimage.binary_dilation(lesion, structure=st, iterations=iterations) if iterations > 0 else lesion
        ids = np.unique(pred.labels[sl][grown])
        ids = tuple(int(i) for i in ids if i > 0)
        hit.update(ids)
        units.append(((r,), ids))
    units += [((), (p,)) for p in range(1, pred.n + 1) if p not in hit]
    return units
