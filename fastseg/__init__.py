"""fastseg: fast, trustworthy segmentation metrics.

Overlap metrics from one counting pass, surface distances with physical spacing and the conventions
of the peer libraries, and whole label maps or cohorts in one call.
"""
from ._version import __version__
from ._validation import FastsegError
from .metrics.overlap import (
    Confusion, LabelConfusion, accuracy, balanced_accuracy, confusion, confusion_matrix, dice, fbeta,
    iou, jaccard, mcc, precision, recall, sensitivity, soft_dice, soft_jaccard, soft_tversky,
    specificity, tversky, volume_similarity,
)
from .conventions import Convention, get_convention
from .metrics.surface import (
    SurfaceDistances, assd, boundary_iou, directed_means, hausdorff, hd95, masd, nsd, surface_distances,
)
from .evaluate import EvaluationResult, evaluate
from .transform import edt
from .cohort import evaluate_cohort
from .metrics.topology import cldice, skeletonize
from .metrics.lesions import LesionResult, LesionRule, lesions
from .metrics.apl import apl
