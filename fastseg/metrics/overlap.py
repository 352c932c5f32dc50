"""Overlap metrics: one counting pass over the volume feeds every metric.

All binary functions take ``(pred, ref)`` masks of the same shape and any number of dimensions:
``bool`` arrays, or integer/float arrays whose values are all 0 or 1. Empty masks follow fastseg's
policy (DESIGN section 5): when both masks are empty, Dice, IoU, F-beta, Tversky and volume similarity
are 1.0; precision is NaN when ``pred`` is empty and recall NaN when ``ref`` is empty. :func:`dice` and
:func:`jaccard` take ``convention=``, the one choice a peer makes differently for them: nnU-Net scores two
empty masks NaN (``convention="nnunet"``, :meth:`fastseg.Convention.both_empty_overlap`).
"""
import math

import numpy as np

from .. import _validation as v
from .._engine.counts import NO_BOX_MIN, Confusion, LabelConfusion, binary_counts, count_labels
from .._kernels._jit import thread_limit
from ..conventions import get_convention
from .soft import soft_dice, soft_jaccard, soft_tversky  # noqa: F401 (re-exported)

__all__ = [
    "Confusion", "LabelConfusion", "confusion", "confusion_matrix", "dice", "jaccard", "iou", "precision",
    "recall", "sensitivity", "specificity", "accuracy", "balanced_accuracy", "fbeta", "mcc",
    "volume_similarity", "tversky", "soft_dice", "soft_jaccard", "soft_tversky", "FORMULAS", "fbeta_from",
    "tversky_from",
]


def _ratio(num, den, if_zero):
    return num / den if den else if_zero


# ---- formulas on counts: the single source of every overlap metric (shared with evaluate)

def dice_from(c):
    return _ratio(2.0 * c.tp, 2 * c.tp + c.fp + c.fn, 1.0)


def jaccard_from(c):
    return _ratio(float(c.tp), c.tp + c.fp + c.fn, 1.0)


def precision_from(c):
    return _ratio(float(c.tp), c.tp + c.fp, math.nan)


def recall_from(c):
    return _ratio(float(c.tp), c.tp + c.fn, math.nan)


def specificity_from(c):
    return _ratio(float(c.tn), c.tn + c.fp, math.nan)


def accuracy_from(c):
    return _ratio(float(c.tp + c.tn), c.n, math.nan)


def balanced_accuracy_from(c):
    return 0.5 * (recall_from(c) + specificity_from(c))


def _weighted_ratio(num, den, c):
    """A ratio whose zero denominator means 1.0 only when both masks are empty, else a miss (0.0)."""
    if den:
        return num / den
    return 1.0 if c.tp + c.fp + c.fn == 0 else 0.0


def fbeta_from(c, beta=1.0):
    b2 = beta * beta
    return _weighted_ratio((1 + b2) * c.tp, (1 + b2) * c.tp + b2 * c.fn + c.fp, c)


def mcc_from(c):
    if c.fp == 0 and c.fn == 0 and c.n > 0:
        return 1.0
    tp, fp, fn, tn = (float(x) for x in (c.tp, c.fp, c.fn, c.tn))
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    if den == 0:
        return 0.0 if c.n > 0 else math.nan
    return (tp * tn - fp * fn) / math.sqrt(den)


def volume_similarity_from(c):
    return 1.0 - _ratio(abs(c.fn - c.fp), 2 * c.tp + c.fp + c.fn, 0.0)


def tversky_from(c, alpha=0.5, beta=0.5):
    return _weighted_ratio(float(c.tp), c.tp + alpha * c.fp + beta * c.fn, c)


#: overlap metrics of one :class:`Confusion`, by the name ``evaluate`` reports them under
FORMULAS = {
    "dice": dice_from,
    "iou": jaccard_from,
    "jaccard": jaccard_from,
    "precision": precision_from,
    "recall": recall_from,
    "sensitivity": recall_from,
    "specificity": specificity_from,
    "accuracy": accuracy_from,
    "balanced_accuracy": balanced_accuracy_from,
    "mcc": mcc_from,
    "volume_similarity": volume_similarity_from,
    "tp": lambda c: float(c.tp),
    "fp": lambda c: float(c.fp),
    "fn": lambda c: float(c.fn),
    "tn": lambda c: float(c.tn),
    "pred_volume": lambda c: float(c.pred_volume),
    "ref_volume": lambda c: float(c.ref_volume),
    "pred_volume_ml": lambda c: float(c.pred_volume_ml),
    "ref_volume_ml": lambda c: float(c.ref_volume_ml),
    "volume_difference_ml": lambda c: float(c.pred_volume_ml - c.ref_volume_ml),
}


# ---- the counting passes

def confusion(pred, ref, *, spacing=None, threads=None):
    """Confusion counts of two binary masks in one pass.

    Parameters
    ----------
    pred, ref : array_like, shape (M[, N[, ...]])
        Binary masks of the same shape: ``bool``, or integers/floats whose values are all 0 or 1.
        Any memory order; bool and uint8 input is read without a copy.
    spacing : None, float or sequence of float, optional
        Voxel spacing per array axis, only used for the volumes (``pred_volume`` etc.).
    threads : int, optional
        Number of threads (default: numba's setting). Results do not depend on it.

    Returns
    -------
    Confusion
        ``.tp .fp .fn .tn`` (Python ints), volumes and the empty state.

    Raises
    ------
    ValueError
        Shapes differ, a mask holds values other than 0/1 (or NaN), or spacing is invalid.
    TypeError
        An input is not a numeric array.

    Notes
    -----
    One pass reads both arrays once, eight voxels per 64-bit word, counting ``sum(p & r)``, ``sum(p)``,
    ``sum(r)`` and flagging values above 1, in fixed chunks with int64 counters: exact and independent of
    the thread count. Values above 1 are counted (for the error message) only when present.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> c = fastseg.confusion(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
    >>> (c.tp, c.fp, c.fn, c.tn)
    (1, 1, 1, 1)
    """
    p, r = v.binary_pair(pred, ref, flat=True)
    sp = v.normalize_spacing(spacing, max(np.ndim(pred), 1)) if spacing is not None else None
    with thread_limit(v.check_threads(threads)):
        tp, sum_p, sum_r = binary_counts(p, r)
    with np.errstate(over="ignore", under="ignore"):  # a volume beyond float64 is inf (or 0), silently
        vox = float(np.prod(sp)) if sp is not None else 1.0
    return Confusion(tp, sum_p - tp, sum_r - tp, p.size - sum_p - sum_r + tp, vox)



def label_confusion_full(pred, ref, threads=None):
    """One pass over two label maps (validated here): the confusion matrix over every label present
    and every label's boxes (:func:`fastseg._engine.counts.count_labels`)."""
    p, r, values = v.label_pair(pred, ref)
    shape = p.shape
    (p, r), _, transposed = v.c_layout([p, r], np.ones(max(p.ndim, 1)))
    with thread_limit(v.check_threads(threads)):
        return count_labels(p, r, values, shape, transposed)


def confusion_matrix(pred, ref, *, labels=None, threads=None):
    """Confusion matrix of two label maps, and every label's bounding box, in one pass.

    Parameters
    ----------
    pred, ref : array_like of non-negative integers, shape (M[, N[, ...]])
        Label maps of the same shape (any integer dtype, bool, or floats holding integers).
    labels : sequence of int, optional
        Labels to report (sorted ascending, duplicates removed). Default: every value present in either
        map, 0 included. Labels absent from both maps get zero rows and columns. Voxels of other labels
        still count as FP/FN of the reported ones.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    LabelConfusion
        ``.labels``, ``.matrix`` (rows: ref, columns: pred), ``.bbox_pred``, ``.bbox_ref``.
        ``.binary(label)`` gives the :class:`Confusion` of one label (or a union of labels).

    Raises
    ------
    ValueError
        Shapes differ, a label is negative, NaN or non-integer.

    Notes
    -----
    uint8 maps take one pass; wider types one extra pass to find the labels present. Counting runs over
    runs of equal (pred, ref) pairs along the last axis, so it costs little more than reading the maps.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> cm = fastseg.confusion_matrix(np.array([0, 3, 3, 17]), np.array([0, 3, 17, 17]))
    >>> cm.labels.tolist(), cm.matrix.tolist()
    ([0, 3, 17], [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    """
    full = label_confusion_full(pred, ref, threads)
    if labels is None:
        return full
    want = np.unique(v.label_list(labels))
    idx = np.array([-1 if full.index(lab) is None else full.index(lab) for lab in want], dtype=np.int64)
    ok = idx >= 0
    k = want.size
    cm = np.zeros((k, k), np.int64)
    cm[np.ix_(ok, ok)] = full.matrix[np.ix_(idx[ok], idx[ok])]

    def pick(a, fill):
        if a is None:
            return None
        out = np.zeros((k,) + a.shape[1:], np.int64)
        if fill:
            out[:, 0::2] = NO_BOX_MIN
            out[:, 1::2] = -1
        out[ok] = a[idx[ok]]
        return out

    return LabelConfusion(want, cm, pick(full.bbox_pred, True), pick(full.bbox_ref, True), full.shape,
                          pick(full.pred_counts, False), pick(full.ref_counts, False))


# ---- public binary metrics: validate, count once, derive


def dice(pred, ref, *, convention="fastseg", threads=None):
    """Dice similarity coefficient (F1 score) of two binary masks.

    Parameters
    ----------
    pred, ref : array_like, shape (M[, N[, ...]])
        Binary masks of the same shape (bool, or numbers all 0 or 1).
    convention : str or Convention, optional
        What two empty masks score: 1.0 (every preset but ``"nnunet"``), or NaN (``"nnunet"``: nnU-Net
        leaves such pairs out of its means). Default ``"fastseg"``.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    float
        ``2 TP / (2 TP + FP + FN)`` in [0, 1]. Both masks empty: 1.0 (NaN under ``nnunet``); one
        empty: 0.0.

    Raises
    ------
    ValueError
        Shapes differ, a mask is not binary (the message counts the offending voxels), or the
        convention is not a preset name.
    TypeError
        The convention is neither a preset name nor a Convention.

    References
    ----------
    Dice, L. R. (1945). Measures of the amount of ecologic association between species. Ecology 26(3).

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
    >>> fastseg.dice(np.roll(ref, 1, axis=1), ref)
    0.75
    >>> empty = np.zeros((4, 4), bool)
    >>> fastseg.dice(empty, empty), fastseg.dice(empty, empty, convention="nnunet")
    (1.0, nan)
    """
    return _by_convention(dice_from, "dice", pred, ref, convention, threads)


def jaccard(pred, ref, *, convention="fastseg", threads=None):
    """Jaccard index (intersection over union) of two binary masks.

    Returns ``TP / (TP + FP + FN)``; both empty: 1.0 (NaN under ``convention="nnunet"``), one empty:
    0.0. Equal to ``D / (2 - D)`` for Dice D. Parameters, errors: as :func:`dice`.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
    >>> fastseg.jaccard(np.roll(ref, 1, axis=1), ref)
    0.6
    """
    return _by_convention(jaccard_from, "iou", pred, ref, convention, threads)


def _by_convention(formula, name, pred, ref, convention, threads):
    """``formula`` of the pair's counts; two empty masks score what the convention says."""
    conv = get_convention("fastseg" if convention is None else convention)
    c = confusion(pred, ref, threads=threads)
    if c.tp + c.fp + c.fn == 0:
        return conv.both_empty_overlap(name)
    return formula(c)


iou = jaccard


def precision(pred, ref, *, threads=None):
    """Precision (positive predictive value) ``TP / (TP + FP)``.

    NaN when ``pred`` is empty (nothing was predicted; undefined, not a perfect score); 0.0 when only
    ``ref`` is empty. Parameters, errors: as :func:`dice`.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.precision([1, 1, 0, 0], [1, 0, 0, 0])
    0.5
    """
    return precision_from(confusion(pred, ref, threads=threads))


def recall(pred, ref, *, threads=None):
    """Recall (sensitivity, true positive rate) ``TP / (TP + FN)``.

    NaN when ``ref`` is empty; 0.0 when only ``pred`` is empty. Parameters, errors: as :func:`dice`.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.recall([1, 0, 0, 0], [1, 1, 0, 0])
    0.5
    """
    return recall_from(confusion(pred, ref, threads=threads))


sensitivity = recall


def specificity(pred, ref, *, threads=None):
    """Specificity (true negative rate) ``TN / (TN + FP)``; NaN when ``ref`` covers the whole image.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.specificity([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    """
    return specificity_from(confusion(pred, ref, threads=threads))


def accuracy(pred, ref, *, threads=None):
    """Accuracy ``(TP + TN) / N``; NaN for 0-size input.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.accuracy([1, 1, 0, 0], [1, 0, 0, 0])
    0.75
    """
    return accuracy_from(confusion(pred, ref, threads=threads))


def balanced_accuracy(pred, ref, *, threads=None):
    """Balanced accuracy ``(recall + specificity) / 2``; NaN when either is undefined.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.balanced_accuracy([1, 1, 0, 0], [1, 0, 0, 0])
    0.8333333333333333
    """
    return balanced_accuracy_from(confusion(pred, ref, threads=threads))


def fbeta(pred, ref, *, beta=1.0, threads=None):
    """F-beta score ``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``; ``beta=1`` is Dice.

    ``beta > 1`` weighs recall higher. Both masks empty: 1.0. ``beta`` must be a finite number >= 0;
    with ``beta = 0`` (precision) an empty ``pred`` against a non-empty ``ref`` scores 0.0 (a miss).

    Examples
    --------
    >>> import fastseg
    >>> round(fastseg.fbeta([1, 1, 0, 0], [1, 0, 0, 0], beta=2.0), 6)
    0.833333
    """
    beta = v.check_fraction(beta, "beta")
    return fbeta_from(confusion(pred, ref, threads=threads), beta)


def mcc(pred, ref, *, threads=None):
    """Matthews correlation coefficient ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``.

    Notes
    -----
    When ``pred == ref`` exactly (FP = FN = 0, including both empty or both full) the result is 1.0;
    otherwise a zero denominator (a mask or its complement empty) gives 0.0, as scikit-learn does.
    NaN only for 0-size input.

    Examples
    --------
    >>> import fastseg
    >>> round(fastseg.mcc([1, 1, 0, 0], [1, 0, 0, 0]), 6)
    0.57735
    """
    return mcc_from(confusion(pred, ref, threads=threads))


def volume_similarity(pred, ref, *, threads=None):
    """Volume similarity ``1 - |FN - FP| / (2 TP + FP + FN)``; both empty: 1.0.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.volume_similarity([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666667
    """
    return volume_similarity_from(confusion(pred, ref, threads=threads))


def tversky(pred, ref, *, alpha=0.5, beta=0.5, threads=None):
    """Tversky index ``TP / (TP + alpha FP + beta FN)``; ``alpha = beta = 0.5`` is Dice.

    ``alpha`` weighs false positives, ``beta`` false negatives (Salehi et al. 2017). Both >= 0.
    Both masks empty: 1.0; a zero denominator otherwise (zero weights on the only errors) gives 0.0.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.tversky([1, 1, 0, 0], [1, 0, 0, 0], alpha=0.3, beta=0.7)
    0.7692307692307692
    """
    alpha = v.check_fraction(alpha, "alpha")
    beta = v.check_fraction(beta, "beta")
    return tversky_from(confusion(pred, ref, threads=threads), alpha, beta)
