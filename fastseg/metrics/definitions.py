"""What each metric ``evaluate`` reports means: :class:`MetricInfo` rows, the table that
:data:`fastseg.evaluate.REGISTRY` is built from (formula, plain-language meaning for reports, unit,
which direction is better, the values it can take)."""
import math
from dataclasses import dataclass

__all__ = ["MetricInfo", "DEFINITIONS", "lesion_metric_range"]


@dataclass(frozen=True)
class MetricInfo:
    """What :func:`evaluate` knows of one metric name: its family, the shared computation it is
    derived from, the option it needs, a one-line definition, and for people: a plain-language
    meaning, the unit, which direction is better and the values it can take."""

    name: str
    family: str   #: "overlap", "surface" or "topology"
    needs: str    #: "counts", "surface distances", "bands", "skeletons" or "contours"
    option: str   #: the evaluate() option it needs ("" for none)
    definition: str
    plain: str = ""         #: what it means, in words ({t}, {q}, {b}, {a}: the row's parameter)
    unit: str = ""          #: "mm", "mL", "voxels" or "" (a ratio)
    better: str = ""        #: "higher", "lower" or "" (neither: counts, volumes)
    low: float = 0.0        #: the smallest value it can take
    high: float = 1.0       #: the largest


_INF = math.inf
_OVERLAP_ROWS = [  # name, definition, plain meaning, unit, better, low, high
    ("dice", "2 TP / (2 TP + FP + FN)", "overlap of prediction and reference: 1 identical, 0 disjoint"),
    ("iou", "TP / (TP + FP + FN)", "shared voxels over the voxels of either mask (Jaccard index): 1 identical"),
    ("jaccard", "alias of iou", "same as iou"),
    ("precision", "TP / (TP + FP)", "share of the predicted voxels that are in the reference (NaN: nothing predicted)"),
    ("recall", "TP / (TP + FN)", "share of the reference voxels that were predicted (NaN: empty reference)"),
    ("sensitivity", "alias of recall", "same as recall"),
    ("specificity", "TN / (TN + FP)", "share of the background voxels predicted as background"),
    ("accuracy", "(TP + TN) / N", "share of all voxels labelled right (dominated by the background)"),
    ("balanced_accuracy", "(recall + specificity) / 2", "mean of recall and specificity"),
    ("mcc", "Matthews correlation coefficient", "correlation of prediction and reference over all voxels: 1 "
     "perfect, 0 chance, -1 inverted", "", "higher", -1.0, 1.0),
    ("volume_similarity", "1 - |FN - FP| / (2 TP + FP + FN)", "how close the two volumes are, wherever they "
     "lie: 1 same volume"),
    ("tp", "TP", "voxels in both prediction and reference (true positives)", "voxels", "", 0.0, _INF),
    ("fp", "FP", "voxels predicted outside the reference (false positives)", "voxels", "", 0.0, _INF),
    ("fn", "FN", "reference voxels not predicted (false negatives)", "voxels", "", 0.0, _INF),
    ("tn", "TN", "voxels in neither (true negatives; ignored voxels left out)", "voxels", "", 0.0, _INF),
    ("pred_volume", "volume of pred (spacing units cubed)", "volume of the prediction, in mm^3", "mm^3", "", 0.0, _INF),
    ("ref_volume", "volume of ref (spacing units cubed)", "volume of the reference, in mm^3", "mm^3", "", 0.0, _INF),
    ("pred_volume_ml", "volume of pred in mL (spacing in mm)", "volume of the prediction, in mL", "mL", "", 0.0, _INF),
    ("ref_volume_ml", "volume of ref in mL (spacing in mm)", "volume of the reference, in mL", "mL", "", 0.0, _INF),
    ("volume_difference_ml", "pred_volume_ml - ref_volume_ml", "predicted minus reference volume, in mL: "
     "positive = over-segmentation", "mL", "", -_INF, _INF),
]
_OTHER_ROWS = [  # name, family, needs, option, definition, plain meaning, unit, better, low, high
    ("fbeta", "overlap", "counts", "beta", "(1 + B^2) TP / ((1 + B^2) TP + B^2 FN + FP) ('fbeta@B': at B)",
     "F-score weighing recall {b} times as much as precision (fbeta@1 is Dice)", "", "higher", 0.0, 1.0),
    ("tversky", "overlap", "counts", "tversky", "TP / (TP + A FP + B FN) ('tversky@A/B': at A, B)",
     "overlap weighing false positives by {a} and false negatives by {b} (tversky@0.5/0.5 is Dice)", "",
     "higher", 0.0, 1.0),
    ("hd", "surface", "surface distances", "", "Hausdorff distance (max of the two directed maxima)",
     "largest distance from a point of either surface to the other surface, in mm (one outlier decides)",
     "mm", "lower", 0.0, _INF),
    ("hdNN", "surface", "surface distances", "percentiles",
     "NN-th percentile Hausdorff distance, e.g. hd95 ('hdq': one per percentiles)",
     "{q}% of both surfaces lie within this distance of the other, in mm (robust to a few outliers)",
     "mm", "lower", 0.0, _INF),
    ("assd", "surface", "surface distances", "", "average symmetric surface distance",
     "mean distance from the points of both surfaces to the other surface, in mm", "mm", "lower", 0.0, _INF),
    ("masd", "surface", "surface distances", "", "mean of the two directed mean surface distances",
     "mean of the two directed mean surface distances (pred to ref, ref to pred), in mm", "mm", "lower", 0.0, _INF),
    ("nsd", "surface", "surface distances", "tolerance",
     "normalised surface distance (surface Dice) at each tolerance ('nsd@T': at T)",
     "share of both surfaces within {t} mm of the other (surface Dice): 1 = every boundary point within "
     "{t} mm", "", "higher", 0.0, 1.0),
    ("boundary_iou", "surface", "bands", "boundary_width", "IoU of the inner bands of width boundary_width",
     "IoU of the bands along each boundary (boundary_width mm wide): overlap where the edges are", "",
     "higher", 0.0, 1.0),
    ("apl", "surface", "contours", "tolerance",
     "added path length at each tolerance ('apl@T': at T): reference contour pixels (4-neighbour contour) "
     "farther than T from the predicted contour of their slice, times the in-plane pixel size, summed over "
     "the slices along the last axis (a 2D image is one slice); 0 for an empty reference",
     "length of reference contour, in mm, that is not within {t} mm of the predicted contour on its slice: "
     "what an editor would have to draw anew (Vaassen et al. 2020)", "mm", "lower", 0.0, _INF),
    ("cldice", "topology", "skeletons", "", "centreline Dice",
     "overlap of the centrelines (skeletons): rewards connected thin and tubular structures", "", "higher",
     0.0, 1.0),
]


def _definitions():
    out = []
    for name, d, plain, *rest in _OVERLAP_ROWS:
        unit, better, low, high = rest or ("", "higher", 0.0, 1.0)
        out.append(MetricInfo(name, "overlap", "counts", "", d, plain, unit, better, low, high))
    return tuple(out) + tuple(MetricInfo(*row) for row in _OTHER_ROWS)


#: every metric family ``evaluate`` computes (``hdNN`` and ``nsd`` stand for their row names)
DEFINITIONS = _definitions()


def lesion_metric_range(name):
    """``(low, high)`` of a lesion-wise row name (:func:`fastseg.metrics.lesions.lesion_metric_names`):
    fractions in [0, 1]; counts, volumes, percentages and distances from 0. None for other names (gates
    check their thresholds with it)."""
    key = name[len("lesion_"):] if name.startswith("lesion_") else name
    if key in ("precision", "recall", "f1", "sq", "rq", "pq", "lesionwise_dice") or key.startswith("recall@"):
        return 0.0, 1.0
    if key in ("n_ref", "n_pred", "tp", "fn", "fp", "n_excluded", "lesionwise_hd95", "avd_percent", "ref_volume_ml",
               "pred_volume_ml"):
        return 0.0, math.inf
    return None
