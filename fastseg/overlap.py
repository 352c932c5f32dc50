"""Overlap metrics: one counting pass over the volume feeds every metric.

All binary functions take ``(pred, ref)`` masks of the same shape and any number of dimensions:
``bool`` arrays, or integer/float arrays whose values are all 0 or 1. Empty masks follow fastseg's
policy (DESIGN section 5): when both masks are empty, Dice, IoU, F-beta, Tversky and volume similarity
are 1.0; precision is NaN when ``pred`` is empty and recall NaN when ``ref`` is empty.
"""
import math
from dataclasses import dataclass

import numpy as np

from . import _validation as v
from ._kernels import confusion as _k
from ._kernels._jit import num_threads, serial_if_small, thread_limit

__all__ = [
    "Confusion", "LabelConfusion", "confusion", "confusion_matrix", "dice", "jaccard", "iou", "precision",
    "recall", "sensitivity", "specificity", "accuracy", "balanced_accuracy", "fbeta", "mcc",
    "volume_similarity", "tversky", "soft_dice", "soft_jaccard", "soft_tversky",
]

BOTH_EMPTY = "both_empty"
REF_EMPTY = "ref_empty"
PRED_EMPTY = "pred_empty"
NOT_EMPTY = "none"


def empty_state(n_pred, n_ref):
    """The empty state of a pair from its foreground sizes (voxels or surface area)."""
    if n_pred == 0 and n_ref == 0:
        return BOTH_EMPTY
    if n_ref == 0:
        return REF_EMPTY
    if n_pred == 0:
        return PRED_EMPTY
    return NOT_EMPTY


@dataclass(frozen=True)
class Confusion:
    """Confusion counts of a binary pair (int counts) and the voxel volume they were taken at.

    Attributes
    ----------
    tp, fp, fn, tn : int
        True positives (pred & ref), false positives (pred & ~ref), false negatives (~pred & ref),
        true negatives.
    voxel_volume : float
        Product of the spacing (1.0 when no spacing was given), in spacing units cubed (mm^3).
    """

    tp: int
    fp: int
    fn: int
    tn: int
    voxel_volume: float = 1.0

    @property
    def n(self):
        """Total number of voxels."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def pred_count(self):
        return self.tp + self.fp

    @property
    def ref_count(self):
        return self.tp + self.fn

    @property
    def pred_volume(self):
        """Volume of ``pred`` in spacing units cubed (mm^3 for mm spacing)."""
        return self.pred_count * self.voxel_volume

    @property
    def ref_volume(self):
        """Volume of ``ref`` in spacing units cubed (mm^3 for mm spacing)."""
        return self.ref_count * self.voxel_volume

    @property
    def pred_volume_ml(self):
        """Volume of ``pred`` in millilitres, assuming spacing in mm."""
        return self.pred_volume / 1000.0

    @property
    def ref_volume_ml(self):
        """Volume of ``ref`` in millilitres, assuming spacing in mm."""
        return self.ref_volume / 1000.0

    @property
    def empty_state(self):
        """``"both_empty"``, ``"ref_empty"``, ``"pred_empty"`` or ``"none"``."""
        return empty_state(self.pred_count, self.ref_count)


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


# ---- the counting passes

def _words(a):
    """A flat uint8 array as aligned uint64 words (copying only if misaligned) plus its tail bytes."""
    n8 = a.size // 8 * 8
    head = a[:n8]
    if head.ctypes.data % 8:
        head = head.copy()
    return head.view(np.uint64), a[n8:]


_SMALL = 1 << 15  # below this many voxels numpy is faster than starting a parallel kernel


def _binary_counts(p, r):
    """``(sum(p & r), sum(p), sum(r))`` of two flat uint8 masks, refusing values other than 0/1."""
    if p.size < _SMALL:
        v.raise_if_not_binary("pred", np.count_nonzero(p > 1), p.size)
        v.raise_if_not_binary("ref", np.count_nonzero(r > 1), r.size)
        return int(np.count_nonzero(p & r)), int(np.count_nonzero(p)), int(np.count_nonzero(r))
    pw, ptail = _words(p)
    rw, rtail = _words(r)
    tp, sum_p, sum_r, bad_p, bad_r = (int(x) for x in _k.binary_counts(pw, rw, _k.NCHUNKS))
    bad_p = np.count_nonzero(p > 1) if bad_p or np.any(ptail > 1) else 0
    bad_r = np.count_nonzero(r > 1) if bad_r or np.any(rtail > 1) else 0
    v.raise_if_not_binary("pred", bad_p, p.size)
    v.raise_if_not_binary("ref", bad_r, r.size)
    tp += int(np.count_nonzero(ptail & rtail))
    return tp, sum_p + int(np.count_nonzero(ptail)), sum_r + int(np.count_nonzero(rtail))


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
        tp, sum_p, sum_r = _binary_counts(p, r)
    vox = float(np.prod(sp)) if sp is not None else 1.0
    return Confusion(tp, sum_p - tp, sum_r - tp, p.size - sum_p - sum_r + tp, vox)


@dataclass(frozen=True)
class LabelConfusion:
    """Confusion matrix of two label maps, with every label's bounding box in each map.

    Attributes
    ----------
    labels : ndarray of int64, shape (K,)
        Label values, in increasing order.
    matrix : ndarray of int64, shape (K, K)
        ``matrix[i, j]`` = number of voxels with ``ref == labels[i]`` and ``pred == labels[j]``.
    bbox_pred, bbox_ref : ndarray of int64, shape (K, 2 * ndim) or None
        Inclusive ``[min0, max0, min1, max1, ...]`` per label (``min > max`` if the label is absent);
        None for arrays of more than 3 dimensions.
    shape : tuple
        Shape of the label maps.
    pred_counts, ref_counts : ndarray of int64, shape (K,)
        Voxels of each label in ``pred`` and in ``ref`` (over the whole map, whatever ``labels`` kept).
    """

    labels: np.ndarray
    matrix: np.ndarray
    bbox_pred: object
    bbox_ref: object
    shape: tuple
    pred_counts: np.ndarray
    ref_counts: np.ndarray

    def index(self, label):
        i = np.searchsorted(self.labels, label)
        if i < self.labels.size and self.labels[i] == label:
            return int(i)
        return None

    def binary(self, labels, voxel_volume=1.0):
        """:class:`Confusion` of the structure made of one label or a union of labels."""
        idx = [self.index(lab) for lab in np.atleast_1d(labels)]
        idx = [i for i in idx if i is not None]
        n = int(np.prod(self.shape))
        if not idx:
            return Confusion(0, 0, 0, n, voxel_volume)
        tp = int(self.matrix[np.ix_(idx, idx)].sum())
        fn = int(self.ref_counts[idx].sum()) - tp
        fp = int(self.pred_counts[idx].sum()) - tp
        return Confusion(tp, fp, fn, n - tp - fp - fn, voxel_volume)

    def bbox(self, labels, which="union"):
        """Inclusive bounding box ``[min0, max0, ...]`` of labels in ``"pred"``, ``"ref"`` or their union;
        None when absent everywhere (or for arrays of more than 3 dimensions)."""
        if self.bbox_pred is None:
            return None
        boxes = []
        for lab in np.atleast_1d(labels):
            i = self.index(lab)
            if i is None:
                continue
            if which in ("pred", "union"):
                boxes.append(self.bbox_pred[i])
            if which in ("ref", "union"):
                boxes.append(self.bbox_ref[i])
        boxes = [b for b in boxes if b[0] <= b[1]]
        if not boxes:
            return None
        b = np.array(boxes)
        out = np.empty(b.shape[1], dtype=np.int64)
        out[0::2] = b[:, 0::2].min(axis=0)
        out[1::2] = b[:, 1::2].max(axis=0)
        return out


def _bbox_to_input_axes(bb, ndim, transposed):
    """Kernel boxes are over a 3D view (1D/2D get leading size-1 axes; F-order input is transposed)."""
    if ndim > 3:
        return None
    bb = bb[:, 2 * (3 - ndim):]
    if transposed:
        k = bb.shape[0]
        bb = bb.reshape(k, ndim, 2)[:, ::-1, :].reshape(k, 2 * ndim)
    return np.ascontiguousarray(bb)


def _as_3d(a):
    if a.ndim <= 3:
        return a.reshape((1,) * (3 - a.ndim) + a.shape)
    return a.reshape((int(np.prod(a.shape[:-2])),) + a.shape[-2:])


_DENSE_BUDGET = 64 * 2**20  # bytes of per-chunk confusion buffers


def label_confusion(p, r, lut_p, lut_r, k, transposed, shape):
    """Run the label kernel on validated C-contiguous maps; boxes returned in input-axis order."""
    nz, ny, nx = _as_3d(p).shape
    with serial_if_small(nz * ny * nx):
        return _label_confusion(p, r, lut_p, lut_r, k, transposed, shape, nz, ny, nx)


def _label_confusion(p, r, lut_p, lut_r, k, transposed, shape, nz, ny, nx):
    # chunks: enough rows each to pay for a private k x k buffer (zeroed, then summed serially: with
    # k = 256 for uint8 maps, 16 chunks cost about 1 ms more than 2 on an 8 Mvox map), two per thread
    # for balance; small maps run in one chunk. Counts and boxes do not depend on the split.
    nchunks = int(max(1, min(2 * num_threads(), 16, _DENSE_BUDGET // max(1, k * k * 8),
                             (nz * ny * nx) // (1 << 16))))
    cm, bbp, bbr = _k.label_confusion(p.reshape(-1), r.reshape(-1), nz, ny, nx, lut_p, lut_r, k, nchunks)
    ndim = len(shape)
    return cm, _bbox_to_input_axes(bbp, ndim, transposed), _bbox_to_input_axes(bbr, ndim, transposed)


def _present_labels(p, r):
    """uint16 label codes present in either map, and a LUT from code to compact index."""
    with serial_if_small(p.size):
        seen = _k.label_presence(p.reshape(-1), r.reshape(-1), 65536, int(max(1, min(16, p.size >> 18))))
    codes = np.flatnonzero(seen.any(axis=0))
    lut = np.zeros(65536, np.int64)
    lut[codes] = np.arange(codes.size)
    return codes.astype(np.int64), lut


def label_confusion_full(pred, ref, threads=None):
    """One pass over two label maps: the confusion matrix over every label present and the boxes."""
    p, r, values = v.label_pair(pred, ref)
    shape = p.shape
    (p, r), _, transposed = v.c_layout([p, r], np.ones(max(p.ndim, 1)))
    with thread_limit(v.check_threads(threads)):
        if p.dtype == np.uint8:
            k = 256
            lut = np.arange(256, dtype=np.int64)
            cm, bbp, bbr = label_confusion(p, r, lut, lut, k, transposed, shape)
            present = np.flatnonzero(cm.any(axis=0) | cm.any(axis=1))
            cm = cm[np.ix_(present, present)]
            bbp = None if bbp is None else bbp[present]
            bbr = None if bbr is None else bbr[present]
            codes = present.astype(np.int64)
        else:
            codes, lut = _present_labels(p, r)
            if codes.size == 0:
                e = np.zeros(0, np.int64)
                return LabelConfusion(e, np.zeros((0, 0), np.int64), None if len(shape) > 3 else np.zeros((0, 2 * len(shape)), np.int64),
                                      None if len(shape) > 3 else np.zeros((0, 2 * len(shape)), np.int64), shape, e, e.copy())
            if codes.size * codes.size * 8 > 2**29:
                raise v.InputValueError(
                    f"pred and ref hold {codes.size} distinct labels; a dense confusion matrix of that "
                    f"size does not fit in memory (at most about 8000 labels)."
                )
            cm, bbp, bbr = label_confusion(p, r, lut, lut, max(1, codes.size), transposed, shape)
    labels = codes if values is None else values[codes]
    return LabelConfusion(labels, cm, bbp, bbr, shape, cm.sum(axis=0), cm.sum(axis=1))


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
            out[:, 0::2] = 1 << 62
            out[:, 1::2] = -1
        out[ok] = a[idx[ok]]
        return out

    return LabelConfusion(want, cm, pick(full.bbox_pred, True), pick(full.bbox_ref, True), full.shape,
                          pick(full.pred_counts, False), pick(full.ref_counts, False))


# ---- public binary metrics: validate, count once, derive


def dice(pred, ref, *, threads=None):
    """Dice similarity coefficient (F1 score) of two binary masks.

    Parameters
    ----------
    pred, ref : array_like, shape (M[, N[, ...]])
        Binary masks of the same shape (bool, or numbers all 0 or 1).
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    float
        ``2 TP / (2 TP + FP + FN)`` in [0, 1]. Both masks empty: 1.0; one empty: 0.0.

    Raises
    ------
    ValueError
        Shapes differ or a mask is not binary (the message counts the offending voxels).

    References
    ----------
    Dice, L. R. (1945). Measures of the amount of ecologic association between species. Ecology 26(3).

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
    >>> fastseg.dice(np.roll(ref, 1, axis=1), ref)
    0.75
    """
    return dice_from(confusion(pred, ref, threads=threads))


def jaccard(pred, ref, *, threads=None):
    """Jaccard index (intersection over union) of two binary masks.

    Returns ``TP / (TP + FP + FN)``; both empty: 1.0, one empty: 0.0. Equal to ``D / (2 - D)`` for Dice D.
    Parameters, errors: as :func:`dice`.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((10, 10), bool); ref[2:6, 2:6] = True
    >>> fastseg.jaccard(np.roll(ref, 1, axis=1), ref)
    0.6
    """
    return jaccard_from(confusion(pred, ref, threads=threads))


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


# ---- soft metrics on probability maps

def soft_sums(pred, ref, threads=None):
    """``(sum p, sum r, sum p*r)`` of a probability map and a binary reference, in one pass."""
    p = v.probability_map(pred, "pred")
    r = v.as_array(ref, "ref")
    v.check_same_shape(p, r)
    r8, _ = v._to_uint8_mask(r, "ref")
    p = np.ascontiguousarray(p).reshape(-1)
    r8 = np.ascontiguousarray(r8).reshape(-1)
    with thread_limit(v.check_threads(threads)), serial_if_small(p.size):
        sp, sr, spr, bad_p, bad_r = (float(x) for x in _k.soft_sums(v._readonly(p), v._readonly(r8), _k.NCHUNKS))
    v.raise_if_not_probability("pred", bad_p, p.size)
    v.raise_if_not_binary("ref", bad_r, r8.size)
    return sp, sr, spr


def soft_tversky_from(sp, sr, spr, alpha=0.5, beta=0.5):
    den = spr + alpha * (sp - spr) + beta * (sr - spr)
    if den > 0:
        return spr / den
    return 1.0 if sp + sr == 0 else 0.0


def soft_dice(pred, ref, *, threads=None):
    """Soft Dice ``2 sum(p r) / (sum p + sum r)`` of a probability map and a binary reference.

    Parameters
    ----------
    pred : array_like of float, shape (M[, N[, ...]])
        Probabilities in [0, 1] (float32 or float64 read without conversion); NaN is refused.
    ref : array_like, same shape
        Binary reference mask.

    Returns
    -------
    float
        Equal to :func:`dice` when ``pred`` is binary. 1.0 when both sums are zero.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.soft_dice([0.5, 1.0, 0.0], [1, 1, 0])
    0.8571428571428571
    """
    sp, sr, spr = soft_sums(pred, ref, threads)
    return soft_tversky_from(sp, sr, spr)


def soft_jaccard(pred, ref, *, threads=None):
    """Soft Jaccard ``sum(p r) / (sum p + sum r - sum(p r))``; 1.0 when both sums are zero.

    Examples
    --------
    >>> import fastseg
    >>> fastseg.soft_jaccard([0.5, 1.0, 0.0], [1, 1, 0])
    0.75
    """
    sp, sr, spr = soft_sums(pred, ref, threads)
    return soft_tversky_from(sp, sr, spr, 1.0, 1.0)


def soft_tversky(pred, ref, *, alpha=0.5, beta=0.5, threads=None):
    """Soft Tversky ``sum(p r) / (sum(p r) + alpha sum(p (1 - r)) + beta sum((1 - p) r))``.

    Examples
    --------
    >>> import fastseg
    >>> round(fastseg.soft_tversky([0.5, 1.0, 0.0], [1, 1, 0], alpha=0.3, beta=0.7), 6)
    0.810811
    """
    alpha = v.check_fraction(alpha, "alpha")
    beta = v.check_fraction(beta, "beta")
    sp, sr, spr = soft_sums(pred, ref, threads)
    return soft_tversky_from(sp, sr, spr, alpha, beta)
