"""fastseg: fast, trustworthy segmentation metrics.

Overlap metrics from one counting pass, surface distances with physical spacing and the conventions
of the peer libraries, and whole label maps or cohorts in one call.
"""
__version__ = "0.1.0"

from ._validation import FastsegError
from .overlap import (
    Confusion, LabelConfusion, accuracy, balanced_accuracy, confusion, confusion_matrix, dice, fbeta,
    iou, jaccard, mcc, precision, recall, sensitivity, soft_dice, soft_jaccard, soft_tversky,
    specificity, tversky, volume_similarity,
)
