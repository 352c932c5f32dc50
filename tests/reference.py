"""Slow, obviously-correct NumPy references for fastseg's overlap metrics.

Written from the definitions in DESIGN.md section 3 and the empty-mask policy of section 5, with no
code shared with ``fastseg``: counts are plain Python integers taken with ``np.count_nonzero`` on bool
arrays, ratios are evaluated in Python floats, soft sums with ``math.fsum`` (exactly rounded). Other test
modules import these functions, so they are plain functions of bool arrays (soft metrics: a float
probability map and a bool reference). Nothing here is fast.

Empty-mask policy (section 5, extended to the whole Dice family):

============== ====================================== ========= ======
state          Dice, IoU, F-beta, Tversky, vol. sim.  precision recall
============== ====================================== ========= ======
both empty     1.0                                    NaN       NaN
ref empty only 0.0                                    0.0       NaN
pred empty     0.0                                    NaN       0.0
============== ====================================== ========= ======

Examples
--------
>>> import numpy as np
>>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
>>> pred = np.zeros((10, 10), bool); pred[2:6, 3:7] = True
>>> dice(pred, ref), jaccard(pred, ref)
(0.75, 0.6)
"""
import math

import numpy as np

NAN = float("nan")

BOTH_EMPTY = "both_empty"
REF_EMPTY = "ref_empty"
PRED_EMPTY = "pred_empty"
NOT_EMPTY = "none"


def _mask(a):
    a = np.asarray(a)
    assert a.dtype == bool, f"reference functions take bool masks; got {a.dtype}"
    return a


def confusion_counts(pred, ref):
    """``(tp, fp, fn, tn)`` as Python ints."""
    p = _mask(pred)
    r = _mask(ref)
    assert p.shape == r.shape
    tp = int(np.count_nonzero(p & r))
    fp = int(np.count_nonzero(p & ~r))
    fn = int(np.count_nonzero(~p & r))
    tn = int(np.count_nonzero(~p & ~r))
    assert tp + fp + fn + tn == p.size
    return tp, fp, fn, tn


def empty_state(pred, ref):
    n_p = int(np.count_nonzero(_mask(pred)))
    n_r = int(np.count_nonzero(_mask(ref)))
    if n_p == 0 and n_r == 0:
        return BOTH_EMPTY
    if n_r == 0:
        return REF_EMPTY
    if n_p == 0:
        return PRED_EMPTY
    return NOT_EMPTY


def _dice_family(tp, fp, fn, num, den):
    """Section 5 for the overlap scores: both empty -> 1.0, no overlap at all -> 0.0 (a miss is never a
    perfect score, whatever the weights), otherwise ``num / den``."""
    if tp == 0 and fp == 0 and fn == 0:
        return 1.0
    if tp == 0:
        return 0.0
    return num / den


def dice(pred, ref):
    tp, fp, fn, _ = confusion_counts(pred, ref)
    return _dice_family(tp, fp, fn, 2 * tp, 2 * tp + fp + fn)


def jaccard(pred, ref):
    tp, fp, fn, _ = confusion_counts(pred, ref)
    return _dice_family(tp, fp, fn, tp, tp + fp + fn)


iou = jaccard


def precision(pred, ref):
    """TP / (TP + FP); NaN when pred is empty (both empty or pred empty only)."""
    tp, fp, _, _ = confusion_counts(pred, ref)
    if tp + fp == 0:
        return NAN
    return tp / (tp + fp)


def recall(pred, ref):
    """TP / (TP + FN); NaN when ref is empty."""
    tp, _, fn, _ = confusion_counts(pred, ref)
    if tp + fn == 0:
        return NAN
    return tp / (tp + fn)


sensitivity = recall


def specificity(pred, ref):
    """TN / (TN + FP); NaN when ref covers the whole image (no negatives)."""
    _, fp, _, tn = confusion_counts(pred, ref)
    if tn + fp == 0:
        return NAN
    return tn / (tn + fp)


def accuracy(pred, ref):
    tp, fp, fn, tn = confusion_counts(pred, ref)
    n = tp + fp + fn + tn
    if n == 0:
        return NAN
    return (tp + tn) / n


def balanced_accuracy(pred, ref):
    """Mean of recall and specificity; NaN when either is undefined."""
    return (recall(pred, ref) + specificity(pred, ref)) / 2


def fbeta(pred, ref, beta):
    tp, fp, fn, _ = confusion_counts(pred, ref)
    b2 = beta * beta
    return _dice_family(tp, fp, fn, (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)


def tversky(pred, ref, alpha, beta):
    """TP / (TP + alpha FP + beta FN) (alpha weighs false positives)."""
    tp, fp, fn, _ = confusion_counts(pred, ref)
    return _dice_family(tp, fp, fn, tp, tp + alpha * fp + beta * fn)


def volume_similarity(pred, ref):
    """1 - |FN - FP| / (2 TP + FP + FN); both empty 1.0."""
    tp, fp, fn, _ = confusion_counts(pred, ref)
    if tp + fp + fn == 0:
        return 1.0
    return 1 - abs(fn - fp) / (2 * tp + fp + fn)


def mcc(pred, ref):
    """Matthews correlation coefficient, with fastseg's documented conventions: 1.0 when pred == ref
    (FP = FN = 0) on a non-empty image, 0.0 for any other zero denominator, NaN for 0-size input."""
    tp, fp, fn, tn = confusion_counts(pred, ref)
    n = tp + fp + fn + tn
    if n == 0:
        return NAN
    if fp == 0 and fn == 0:
        return 1.0
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)  # exact Python ints
    if den == 0:
        return 0.0
    return (tp * tn - fp * fn) / math.sqrt(den)


# ---- soft metrics: probability map p in [0, 1], bool reference r

def _soft_terms(prob, ref):
    p = np.asarray(prob, dtype=np.float64).ravel()
    r = _mask(ref).ravel()
    assert p.shape == r.shape
    assert np.all((p >= 0) & (p <= 1))
    tp = math.fsum(p[r])  # sum p r
    fp = math.fsum(p[~r])  # sum p (1 - r)
    fn = math.fsum((1.0 - p)[r])  # sum (1 - p) r
    return tp, fp, fn


def soft_tversky(prob, ref, alpha, beta):
    """sum(p r) / (sum(p r) + alpha sum(p (1 - r)) + beta sum((1 - p) r)); 1.0 when pred and ref sum to 0,
    0.0 when they do not overlap."""
    tp, fp, fn = _soft_terms(prob, ref)
    if tp == 0 and fp == 0 and fn == 0:
        return 1.0
    if tp == 0:
        return 0.0
    return tp / (tp + alpha * fp + beta * fn)


def soft_dice(prob, ref):
    """2 sum(p r) / (sum p + sum r)."""
    p = np.asarray(prob, dtype=np.float64).ravel()
    r = _mask(ref).ravel()
    sp = math.fsum(p)
    sr = float(np.count_nonzero(r))
    spr = math.fsum(p[r])
    if sp == 0 and sr == 0:
        return 1.0
    return 2 * spr / (sp + sr)


def soft_jaccard(prob, ref):
    """sum(p r) / (sum p + sum r - sum(p r))."""
    p = np.asarray(prob, dtype=np.float64).ravel()
    r = _mask(ref).ravel()
    sp = math.fsum(p)
    sr = float(np.count_nonzero(r))
    spr = math.fsum(p[r])
    if sp == 0 and sr == 0:
        return 1.0
    return spr / (sp + sr - spr)


# ---- label maps

def label_confusion(pred, ref, labels=None):
    """``(labels, matrix)``: matrix[i, j] = #voxels with ref == labels[i] and pred == labels[j].

    ``labels=None``: every value present in either map. Otherwise the given labels (sorted, unique);
    voxels of other values do not appear in the matrix.
    """
    p = np.asarray(pred).ravel().astype(np.int64)
    r = np.asarray(ref).ravel().astype(np.int64)
    if labels is None:
        labels = np.unique(np.concatenate([p, r]))
    labels = np.unique(np.asarray(labels, dtype=np.int64))
    k = labels.size
    matrix = np.zeros((k, k), dtype=np.int64)
    for i, lr in enumerate(labels):
        in_r = r == lr
        for j, lp in enumerate(labels):
            matrix[i, j] = np.count_nonzero(in_r & (p == lp))
    return labels, matrix


def bbox(mask):
    """Inclusive ``[min0, max0, min1, max1, ...]`` of a bool mask, or None when it is empty."""
    idx = np.argwhere(_mask(mask))
    if idx.size == 0:
        return None
    out = []
    for d in range(idx.shape[1]):
        out += [int(idx[:, d].min()), int(idx[:, d].max())]
    return out


# ---- the table used by the parametrised tests: name -> (reference, keyword arguments of fastseg)

def metric_table():
    """``[(id, fastseg function name, kwargs, reference function)]`` for every binary metric."""
    rows = [
        ("dice", "dice", {}, dice),
        ("jaccard", "jaccard", {}, jaccard),
        ("iou", "iou", {}, jaccard),
        ("precision", "precision", {}, precision),
        ("recall", "recall", {}, recall),
        ("sensitivity", "sensitivity", {}, recall),
        ("specificity", "specificity", {}, specificity),
        ("accuracy", "accuracy", {}, accuracy),
        ("balanced_accuracy", "balanced_accuracy", {}, balanced_accuracy),
        ("mcc", "mcc", {}, mcc),
        ("volume_similarity", "volume_similarity", {}, volume_similarity),
    ]
    for beta in (0.5, 1.0, 2.0, 3.7):
        rows.append((f"fbeta-{beta}", "fbeta", {"beta": beta}, lambda p, r, b=beta: fbeta(p, r, b)))
    for a, b in ((0.5, 0.5), (0.3, 0.7), (0.7, 0.3), (1.0, 1.0), (0.1, 2.0)):
        rows.append((f"tversky-{a}-{b}", "tversky", {"alpha": a, "beta": b},
                     lambda p, r, a=a, b=b: tversky(p, r, a, b)))
    return rows


def soft_metric_table():
    rows = [
        ("soft_dice", "soft_dice", {}, soft_dice),
        ("soft_jaccard", "soft_jaccard", {}, soft_jaccard),
    ]
    for a, b in ((0.5, 0.5), (0.3, 0.7), (1.0, 1.0), (0.1, 2.0)):
        rows.append((f"soft_tversky-{a}-{b}", "soft_tversky", {"alpha": a, "beta": b},
                     lambda p, r, a=a, b=b: soft_tversky(p, r, a, b)))
    return rows
