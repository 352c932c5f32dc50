"""Soft overlap metrics of a probability map and a binary reference: one pass for the three sums.

Re-exported by :mod:`fastseg.metrics.overlap` (and ``fastseg``), where they were defined before.
"""
import numpy as np

from .. import _validation as v
from .._engine.counts import soft_counts
from .._kernels._jit import thread_limit

__all__ = ["soft_sums", "soft_tversky_from", "soft_dice", "soft_jaccard", "soft_tversky"]


def soft_sums(pred, ref, threads=None):
    """``(sum p, sum r, sum p*r)`` of a probability map and a binary reference, in one pass."""
    p = v.probability_map(pred, "pred")
    r = v.as_array(ref, "ref")
    v.check_same_shape(p, r)
    r8, _ = v.uint8_mask(r, "ref")
    shape = p.shape
    p = np.ascontiguousarray(p).reshape(-1)
    r8 = np.ascontiguousarray(r8).reshape(-1)
    with thread_limit(v.check_threads(threads)):
        sp, sr, spr, bad_p, bad_r = soft_counts(v.readonly(p), v.readonly(r8))
    v.raise_if_not_probability("pred", bad_p, p, shape)
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

    Notes
    -----
    The formula of MONAI's ``DiceLoss`` (``squared_pred=False``) and nnU-Net's ``SoftDiceLoss`` on one
    channel of one image, without their smoothing terms (``smooth_nr``, ``smooth_dr``, ``smooth``; here
    both sums zero gives 1.0, one of them zero gives 0.0). The sums pool every axis: a (batch, channel,
    ...) array gives one global value, not their mean over samples and channels; to reproduce that,
    call once per sample and channel and average. Sums are accumulated in float64 (float32 input
    included).

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

    MONAI's ``DiceLoss(jaccard=True)`` formula without smoothing; every axis is pooled (see
    :func:`soft_dice`).

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

    ``alpha`` weighs false positives and ``beta`` false negatives, as in MONAI's ``TverskyLoss``
    (without smoothing); 1.0 when both sums are zero, 0.0 when the denominator is zero otherwise (a zero
    weight never makes a miss perfect). Every axis is pooled (see :func:`soft_dice`).

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
