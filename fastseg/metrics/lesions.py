"""Lesion-wise (instance) evaluation: components, matching, per-lesion metrics, detection counts and
panoptic quality.

A structure-level Dice of 0.9 can hide five missed small metastases. :func:`lesions` splits both
masks into instances (connected components, or the ids of an instance map), matches them by a named
rule, scores every matched unit with the distance engine inside its own bounding box (one surface
computation per unit feeds HD, HD95, ASSD, MASD and NSD), and derives the per-case detection metrics.

Rules (:data:`RULES`; each a :class:`LesionRule`, ``rule=`` takes a name or an instance):

==================  ===========================================================================
``fastseg``         one-to-one greedy matching by IoU, a pair matched when IoU > 0.5 (then unique:
                    Kirillov et al.'s panoptic quality); full connectivity; surface distances under
                    the ``fastseg`` convention; a missed or spurious lesion's HD95 in lesion-wise
                    HD95 is the image diagonal (mm)
``panoptica``       panoptica's naive threshold matching: greedy one-to-one by IoU, matched when
                    IoU >= 0.5 (pairs by decreasing IoU); components as panoptica's default
                    approximator finds them (scipy's 4-connectivity in 2D, cc3d's 26 in 3D);
                    per-lesion HD, HD95 and ASSD under the ``panoptica`` convention (boundary
                    voxels, pooled HD95, mean of the directed means), as panoptica computes them
``bipartite``       maximum-weight one-to-one matching on IoU (``linear_sum_assignment``), any
                    overlap (IoU > 0) kept
``panoptica-``      panoptica's maximum bipartite matching: the same over the pairs with
``bipartite``       IoU >= 0.5
``wmh``             the WMH segmentation challenge (Kuijf et al. 2019): 3D components with full
                    connectivity, a reference lesion is detected when any prediction voxel overlaps
                    it, a prediction is a true detection when it overlaps any reference lesion;
                    lesion recall 1.0 with no reference lesion, precision 1.0 with no prediction
``brats2023-gli``   BraTS 2023 lesion-wise: reference lesions whose dilations (3 iterations of the
``brats2023-ssa``   18-neighbourhood, in voxels) touch are merged; every predicted 26-component
``brats2023-ped``   overlapping a reference lesion's dilation belongs to it (many-to-one); Dice and
``brats2023-men``   HD95 (surface-distance's definition) per reference lesion against the union of
``brats2023-met``   its predictions; lesions of at most 50 mm^3 (MET: 2) are not scored; misses and
                    spurious components count Dice 0 and HD95 374 mm. MEN and MET dilate once.
==================  ===========================================================================

Empty cases follow fastseg's policy: no lesion on either side gives lesion F1, PQ, RQ, SQ and
lesion-wise Dice 1.0 and lesion-wise HD95 0 mm; lesion precision is NaN without predictions and
lesion recall NaN without reference lesions (``wmh``: 1.0, as the challenge defines them).
"""
import math
from dataclasses import dataclass, replace

import numpy as np

from .. import _validation as v
from .._engine.counts import NOT_EMPTY, binary_counts, empty_state
from .._engine.components import CONNECTIVITIES
from .._engine.distances import crop_edges, distances_in_crop
from .._engine.instances import (instances_from_ids, instances_of, match_bipartite, match_dilated, match_greedy,
                                 match_overlap, merge_by_dilation, overlap_table)
from .._kernels._jit import thread_limit
from .._output import json_clean, to_pandas
from ..conventions import get_convention
from .names import check_distinct
from .surface import SurfaceDistances, assd, hausdorff, masd, nsd

__all__ = ["lesions", "LesionResult", "LesionRule", "RULES", "MATCHINGS", "INSTANCE_COLUMNS", "DEFAULT_SIZE_BINS_ML",
           "lesion_rule_of", "lesions_of_structure", "lesion_metric_names"]

MATCHINGS = ("greedy", "bipartite", "overlap", "dilated")

#: detection recall is reported per reference-lesion volume bin (mL): [0, 0.01), [0.01, 0.1), ...
DEFAULT_SIZE_BINS_ML = (0.0, 0.01, 0.1, 1.0, math.inf)


@dataclass(frozen=True)
class LesionRule:
    """Everything that defines a lesion-wise evaluation.

    Attributes
    ----------
    name : str
    matching : {"greedy", "bipartite", "overlap", "dilated"}
        One-to-one greedy by score, maximum-weight bipartite, any-overlap detection, or BraTS's
        many-to-one within each reference lesion's dilation.
    score : {"iou", "dice"}
        The pair score of ``greedy`` and ``bipartite``.
    threshold : float
        A pair is matched when its score passes it (``>`` when ``strict``, else ``>=``).
    strict : bool
    connectivity : int, None or mapping
        Of the components (4/8 in 2D, 6/18/26 in 3D; None: full), or one per number of dimensions
        as ``{2: c2, 3: c3}`` (kept as the tuple of its items, sorted; a missing one: full).
    dilation : int
        ``dilated``: iterations (voxels) of the dilation that merges reference lesions and finds
        their predictions.
    dilation_rank : int
        Neighbourhood of one dilation step (1: faces, 2: faces and edges, 3: full).
    min_ref_volume_mm3 : float
        Reference lesions of at most this volume are not scored (still listed, ``excluded``).
    penalty_mm : float or "diagonal"
        HD95 given to a missed or spurious lesion in lesion-wise HD95 (and to an infinite HD95):
        a number of mm, or the image's physical diagonal.
    convention : str
        Surface-distance convention of the per-lesion distances (:mod:`fastseg.conventions`).
    empty_detection : {"nan", "one"}
        Lesion precision without predictions and recall without reference lesions: NaN
        (fastseg's policy) or 1.0 (the WMH challenge).
    empty_quality : {"one", "nan"}
        RQ, SQ and PQ when neither side has a lesion: 1.0 (fastseg's policy: nothing to find, nothing
        missed) or NaN (panoptica).
    """

    name: str = "fastseg"
    matching: str = "greedy"
    score: str = "iou"
    threshold: float = 0.5
    strict: bool = True
    connectivity: object = None
    dilation: int = 0
    dilation_rank: int = 2
    min_ref_volume_mm3: float = 0.0
    penalty_mm: object = "diagonal"
    convention: str = "fastseg"
    empty_detection: str = "nan"
    empty_quality: str = "one"

    def __post_init__(self):
        if self.matching not in MATCHINGS:
            raise v.InputValueError(f"LesionRule.matching must be one of {MATCHINGS}; got {self.matching!r}.")
        if self.score not in ("iou", "dice"):
            raise v.InputValueError(f"LesionRule.score must be 'iou' or 'dice'; got {self.score!r}.")
        for field in ("empty_detection", "empty_quality"):
            if getattr(self, field) not in ("nan", "one"):
                raise v.InputValueError(f"LesionRule.{field} must be 'nan' or 'one'; got {getattr(self, field)!r}.")
        if isinstance(self.connectivity, dict):  # hashable and comparable: the items, sorted
            object.__setattr__(self, "connectivity", tuple(sorted(self.connectivity.items())))
        _check_connectivity(self.connectivity)
        v.check_fraction(self.threshold, "threshold", low=0.0, high=1.0)
        if not isinstance(self.strict, (bool, np.bool_)):
            raise v.InputTypeError(f"LesionRule.strict must be True or False; got {self.strict!r}.")
        for field, low, high in (("dilation", 0, None), ("dilation_rank", 1, 3)):
            x = getattr(self, field)
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x < low \
                    or (high is not None and x > high):
                bound = f"an integer >= {low}" + ("" if high is None else f" and <= {high}")
                raise v.InputValueError(f"LesionRule.{field} must be {bound}; got {x!r}.")
        v.check_fraction(self.min_ref_volume_mm3, "min_ref_volume_mm3")
        if self.penalty_mm != "diagonal":
            v.check_fraction(self.penalty_mm, "penalty_mm")
        get_convention(self.convention)


def _as_mapping(pairs):
    try:
        return dict(pairs)
    except (TypeError, ValueError):
        return pairs


def _check_connectivity(connectivity):
    """None, one of the allowed connectivities, or ``((ndim, connectivity), ...)`` pairs with ndim 2 / 3."""
    if connectivity is None:
        return
    allowed = sorted({c for cs in CONNECTIVITIES.values() for c in cs})
    if isinstance(connectivity, tuple):
        for item in connectivity:
            ok = isinstance(item, tuple) and len(item) == 2 and item[0] in CONNECTIVITIES
            if not ok or not (item[1] is None or (not isinstance(item[1], (bool, np.bool_))
                                                  and isinstance(item[1], (int, np.integer))
                                                  and item[1] in CONNECTIVITIES[item[0]])):
                raise v.InputValueError(f"LesionRule.connectivity per number of dimensions must map 2 to one of "
                                        f"{CONNECTIVITIES[2]} and 3 to one of {CONNECTIVITIES[3]} (or None: "
                                        f"full); got {_as_mapping(connectivity)!r}.")
        return
    if isinstance(connectivity, (bool, np.bool_)) or not isinstance(connectivity, (int, np.integer)) \
            or connectivity not in allowed:
        raise v.InputValueError(f"connectivity must be one of {', '.join(map(str, allowed))} (4/8 in 2D, 6/18/26 "
                                f"in 3D), None (full) or a mapping {{2: c2, 3: c3}}; got {connectivity!r}.")


def _brats(name, dilation, min_volume):
    return LesionRule(name=name, matching="dilated", connectivity=None, dilation=dilation, dilation_rank=2,
                      min_ref_volume_mm3=min_volume, penalty_mm=374.0, convention="deepmind")


#: panoptica's ConnectedComponentsInstanceApproximator: scipy.ndimage.label's default structure (faces:
#: 4-connectivity) below 3D, cc3d's default (26-connectivity) in 3D
_PANOPTICA_CONNECTIVITY = ((2, 4), (3, 26))

RULES = {
    "fastseg": LesionRule(),
    "panoptica": LesionRule(name="panoptica", strict=False, empty_quality="nan", convention="panoptica",
                            connectivity=_PANOPTICA_CONNECTIVITY),
    "bipartite": LesionRule(name="bipartite", matching="bipartite", threshold=0.0),
    "panoptica-bipartite": LesionRule(name="panoptica-bipartite", matching="bipartite", strict=False,
                                      empty_quality="nan", convention="panoptica",
                                      connectivity=_PANOPTICA_CONNECTIVITY),
    "wmh": LesionRule(name="wmh", matching="overlap", empty_detection="one"),
    "brats2023-gli": _brats("brats2023-gli", 3, 50.0),
    "brats2023-ssa": _brats("brats2023-ssa", 3, 50.0),
    "brats2023-ped": _brats("brats2023-ped", 3, 50.0),
    "brats2023-men": _brats("brats2023-men", 1, 50.0),
    "brats2023-met": _brats("brats2023-met", 1, 2.0),
}

INSTANCE_COLUMNS = ["unit", "ref_ids", "pred_ids", "status", "excluded", "ref_volume_ml", "pred_volume_ml",
                    "dice", "iou", "hd", "hd95", "assd", "masd", "centroid_distance_mm"]


def lesion_metric_names(size_bins_ml=DEFAULT_SIZE_BINS_ML):
    """The row names :meth:`LesionResult.metric_items` gives (``evaluate(..., lesions=...)``)."""
    keys = ["n_ref", "n_pred", "tp", "fn", "fp", "n_excluded", "lesion_precision", "lesion_recall", "lesion_f1",
            "sq", "rq", "pq", "lesionwise_dice", "lesionwise_hd95", "avd_percent", "ref_volume_ml", "pred_volume_ml"]
    if size_bins_ml is not None:
        e = _bins(size_bins_ml)
        keys += [f"recall@[{a:g},{b:g})ml" for a, b in zip(e, e[1:])]
    return [k if k.startswith("lesion") else f"lesion_{k}" for k in keys]


def lesion_rule_of(rule):
    """A :class:`LesionRule` from a name of :data:`RULES` or a LesionRule (InputValueError otherwise)."""
    return _rule(rule, {})


def lesions_of_structure(p, r, members, spacing, rule, tolerance):
    """:func:`lesions` of one structure (a label or a union of labels) of two validated label maps."""
    pm = p == members[0] if len(members) == 1 else np.isin(p, members)
    rm = r == members[0] if len(members) == 1 else np.isin(r, members)
    return lesions(pm, rm, spacing=spacing, rule=rule, tolerance=tolerance)


def _connectivity_for(connectivity, ndim):
    """The component connectivity of a rule for ``ndim``-dimensional masks (None: full)."""
    if isinstance(connectivity, tuple):
        return dict(connectivity).get(ndim)
    return connectivity


def _rule(rule, overrides):
    if isinstance(rule, LesionRule):
        base = rule
    elif isinstance(rule, str) and rule.lower() in RULES:
        base = RULES[rule.lower()]
    else:
        raise v.InputValueError(f"rule must be one of {sorted(RULES)} or a fastseg.LesionRule; got {rule!r}.")
    changes = {k: val for k, val in overrides.items() if val is not None}
    if changes:
        changes.setdefault("name", base.name.rstrip("*") + "*")
        base = replace(base, **changes)
    return base


class LesionResult:
    """The result of :func:`lesions`: one row per unit (a matched pair or group, a missed reference
    lesion, a spurious prediction) in ``instances`` (columns :data:`INSTANCE_COLUMNS`, plus
    ``nsd@T`` per tolerance), and the per-case metrics in ``case`` (a dict)."""

    def __init__(self, instances, case, rule, spacing):
        self.instances = instances
        self.case = case
        self.rule = rule
        self.spacing = spacing

    def __getitem__(self, metric):
        return self.case[metric]

    def metric_items(self):
        """The per-case metrics as ``(name, value)`` under the names ``evaluate`` and cohort results use
        (``lesion_tp``, ``lesion_f1``, ``lesionwise_dice``...: a ``lesion`` prefix keeps lesion counts
        apart from voxel counts)."""
        return [(k if k.startswith("lesion") else f"lesion_{k}", float(val))
                for k, val in self.case.items() if k != "empty_state"]

    @property
    def rows(self):
        """The per-case metrics as :class:`fastseg.EvaluationResult` rows (label ``"lesions"``)."""
        state = self.case["empty_state"]
        return [{"label": "lesions", "metric": k, "value": val, "empty_state": state, "convention": self.rule.name}
                for k, val in self.metric_items()]

    def to_pandas(self):
        """The per-unit table as a ``pandas.DataFrame`` (pandas is optional)."""
        cols = list(self.instances[0]) if self.instances else INSTANCE_COLUMNS
        return to_pandas(self.instances, cols)

    def to_dict(self):
        return {"rule": self.rule.name, "spacing": list(self.spacing), "case": json_clean(self.case),
                "instances": [json_clean({k: (list(x) if isinstance(x, tuple) else x) for k, x in r.items()})
                              for r in self.instances]}

    def __repr__(self):
        c = self.case
        return (f"LesionResult(rule={self.rule.name!r}, ref={c['n_ref']}, pred={c['n_pred']}, tp={c['tp']}, "
                f"fn={c['fn']}, fp={c['fp']}, f1={c['lesion_f1']:.4g}, pq={c['pq']:.4g})")


def lesions(pred, ref, *, spacing=None, rule="fastseg", matching=None, threshold=None, connectivity=None,
            tolerance=None, instances=False, size_bins_ml=DEFAULT_SIZE_BINS_ML, threads=None):
    """Lesion-wise evaluation of two masks (or instance maps).

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary 2D or 3D masks (their connected components are the lesions), or with
        ``instances=True`` instance maps of non-negative integers (0 background, each id one lesion).
    spacing : None, float or sequence of float, optional
        Voxel size per array axis (array-axis order); volumes in mL and distances in mm for mm spacing.
    rule : str or LesionRule, optional
        A name from :data:`RULES` (module docstring) or a :class:`LesionRule`. Default ``"fastseg"``.
    matching, threshold, connectivity : optional
        Override the rule's matching (``"greedy"``, ``"bipartite"``, ``"overlap"``, ``"dilated"``),
        pair-score threshold and component connectivity.
    tolerance : float or sequence of float, optional
        NSD tolerance(s) in spacing units: adds ``nsd@T`` per unit.
    instances : bool, optional
        Inputs are instance maps, not masks.
    size_bins_ml : sequence of float, optional
        Edges (mL) of the reference-lesion volume bins of ``recall@[a,b)ml``; None for none.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    LesionResult
        ``result.instances``: per unit ``status`` ``"tp"`` / ``"fn"`` / ``"fp"``, the ids on each
        side, volumes (mL), Dice, IoU, HD, HD95, ASSD, MASD, NSD and the centroid distance (mm).
        ``result.case``: ``n_ref``, ``n_pred``, ``tp``, ``fn``, ``fp`` (reference lesions detected
        and missed, spurious predictions; excluded small lesions not counted), ``lesion_precision``,
        ``lesion_recall``, ``lesion_f1``, ``sq``, ``rq``, ``pq``, ``lesionwise_dice``,
        ``lesionwise_hd95``, ``avd_percent``, ``n_excluded`` and ``recall@[a,b)ml`` per size bin.

    Notes
    -----
    Panoptic quality: RQ = TP / (TP + FP/2 + FN/2), SQ = the mean IoU of the TP units, PQ = SQ x RQ
    (0 without TP). Lesion F1 = 2 P R / (P + R) with P the share of predicted lesions that are true
    detections and R the share of reference lesions detected (for one-to-one matching: 2 TP / (2 TP
    + FP + FN)); 0.0 when exactly one side has no lesion. Lesion-wise Dice = the sum of the scored
    units' Dice (a miss: 0) over (scored reference lesions + spurious predictions); lesion-wise HD95
    likewise with the rule's penalty for each miss, spurious prediction and infinite HD95 (BraTS
    2023). AVD = |V_pred - V_ref| / V_ref x 100 over the whole masks. Every unit's distances are
    computed inside the bounding box of its own voxels, so work follows the lesions, not the volume.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((20, 20), bool); ref[2:6, 2:6] = True; ref[12:16, 12:16] = True
    >>> pred = np.zeros((20, 20), bool); pred[2:6, 3:7] = True; pred[17:19, 2:4] = True
    >>> res = fastseg.lesions(pred, ref, spacing=(0.8, 0.8))
    >>> res["tp"], res["fn"], res["fp"], round(res["lesion_f1"], 4), round(res["pq"], 4)
    (1, 1, 1, 0.5, 0.3)
    """
    rule = _rule(rule, {"matching": matching, "threshold": threshold, "connectivity": connectivity})
    conv = get_convention(rule.convention)
    tols = None if tolerance is None else v.check_tolerances(tolerance)[0]
    check_distinct([(f"nsd@{t:g}", "nsd", t) for t in tols or ()])  # one column per tolerance
    bins = None if size_bins_ml is None else _bins(size_bins_ml)
    if instances:
        p, r = v.instance_pair(pred, ref)
    else:
        p, r = v.binary_pair(pred, ref)  # C order: lesion ids follow the user's raster order
        with thread_limit(v.check_threads(threads)):  # one word-wise pass: refuses values other than 0/1
            binary_counts(p.reshape(-1), r.reshape(-1))
    v.check_ndim(p, (2, 3), "lesions")
    sp = v.normalize_spacing(spacing, p.ndim, distances=True)
    with thread_limit(v.check_threads(threads)):
        if instances:
            ref_i, pred_i = instances_from_ids(r), instances_from_ids(p)
        else:
            conn = _connectivity_for(rule.connectivity, p.ndim)
            ref_i, pred_i = instances_of(r, conn), instances_of(p, conn)
        if rule.matching == "dilated":
            ref_i = merge_by_dilation(r if not instances else (r > 0).view(np.uint8), ref_i, rule.dilation,
                                      rule.dilation_rank, _connectivity_for(rule.connectivity, p.ndim))
            units = match_dilated(ref_i, pred_i, rule.dilation, rule.dilation_rank)
        else:
            table = overlap_table(ref_i, pred_i)
            if rule.matching == "greedy":
                units = match_greedy(ref_i, pred_i, table, metric=rule.score, threshold=rule.threshold,
                                     strict=rule.strict)
            elif rule.matching == "bipartite":
                units = match_bipartite(ref_i, pred_i, table, metric=rule.score, threshold=rule.threshold,
                                        strict=rule.strict)
            else:
                units = match_overlap(ref_i, pred_i, table)
        voxel_mm3 = float(np.prod(sp))
        rows = [_score_unit(k, unit, ref_i, pred_i, sp, conv, tols, voxel_mm3, rule) for k, unit in enumerate(units, 1)]
    diagonal = float(math.sqrt(sum((n * s) ** 2 for n, s in zip(p.shape, sp))))
    case = _case_metrics(rows, units, ref_i, pred_i, rule, voxel_mm3, diagonal, bins)
    return LesionResult(rows, case, rule, tuple(sp.tolist()))


def _bins(edges):
    try:
        e = [float(x) for x in edges]
    except (TypeError, ValueError):
        raise v.InputTypeError(f"size_bins_ml must be a sequence of numbers (mL); got {edges!r}.") from None
    if len(e) < 2 or any(not (a < b) for a, b in zip(e, e[1:])) or e[0] < 0 or any(math.isnan(x) for x in e):
        raise v.InputValueError(f"size_bins_ml must be at least two increasing volumes >= 0 (mL); got {edges!r}.")
    return e


def _centroid(mask, offset, sp):
    idx = np.nonzero(mask)
    return np.array([(i.mean() + o) * s for i, o, s in zip(idx, offset, sp)])


def _score_unit(k, unit, ref_i, pred_i, sp, conv, tols, voxel_mm3, rule):
    rids, pids = unit
    box = _union_box(ref_i.box_slices(rids), pred_i.box_slices(pids))
    rc = np.isin(ref_i.labels[box], rids) if rids else np.zeros(0, bool)
    pc = np.isin(pred_i.labels[box], pids) if pids else np.zeros(0, bool)
    n_r = int(ref_i.sizes[list(rids)].sum()) if rids else 0
    n_p = int(pred_i.sizes[list(pids)].sum()) if pids else 0
    inter = int(np.count_nonzero(rc & pc)) if rids and pids else 0
    state = empty_state(n_p, n_r)
    conv.check_empty(state)
    row = {"unit": k, "ref_ids": tuple(rids), "pred_ids": tuple(pids),
           "status": "tp" if rids and pids else ("fn" if rids else "fp"),
           "excluded": bool(rids) and _volume_mm3(n_r, sp) <= rule.min_ref_volume_mm3,
           "ref_volume_ml": n_r * voxel_mm3 / 1000.0, "pred_volume_ml": n_p * voxel_mm3 / 1000.0,
           "dice": 2.0 * inter / (n_r + n_p), "iou": inter / (n_r + n_p - inter)}
    if state == NOT_EMPTY:
        d_pr, w_p, d_rp, w_r = distances_in_crop(np.ascontiguousarray(pc.view(np.uint8)),
                                                 np.ascontiguousarray(rc.view(np.uint8)), sp, conv,
                                                 crop_edges(box, ref_i.labels.shape))
        sd = SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, tuple(sp.tolist()))
        offset = [s.start for s in box]
        centroid = float(np.linalg.norm(_centroid(pc, offset, sp) - _centroid(rc, offset, sp)))
    else:
        e = np.zeros(0)
        sd = SurfaceDistances(e, e, e, e, state, conv, tuple(sp.tolist()))
        centroid = math.inf
    row.update(hd=hausdorff(sd), hd95=hausdorff(sd, percentile=95), assd=assd(sd), masd=masd(sd),
               centroid_distance_mm=centroid)
    if tols:
        row.update({f"nsd@{t:g}": x for t, x in zip(tols, nsd(sd, tolerance=list(tols)))})
    return row


def _volume_mm3(n, sp):
    """``n`` voxels' volume multiplied out left to right, ``n * s0 * s1 * s2``, as BraTS 2023's code does
    (``np.sum(lesion) * sx * sy * sz``): a lesion exactly at the volume threshold falls on the same side."""
    vol = float(n)
    for s in sp.tolist():
        vol *= s
    return vol


def _union_box(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def _case_metrics(rows, units, ref_i, pred_i, rule, voxel_mm3, diagonal, bins):
    penalty = diagonal if rule.penalty_mm == "diagonal" else float(rule.penalty_mm)
    ref_rows = [r for r in rows if r["ref_ids"]]
    scored = [r for r in ref_rows if not r["excluded"]]
    tp = sum(r["status"] == "tp" for r in scored)
    fn = sum(r["status"] == "fn" for r in scored)
    fp = sum(r["status"] == "fp" for r in rows)
    n_ref, n_pred = ref_i.n, pred_i.n
    detected_pred = n_pred - fp
    n_scored = len(scored)
    empty = 1.0 if rule.empty_detection == "one" else math.nan
    recall = tp / n_scored if n_scored else empty
    precision = detected_pred / n_pred if n_pred else empty
    if n_scored == 0 and n_pred == 0:
        f1 = 1.0
    elif n_scored == 0 or n_pred == 0:
        f1 = 0.0
    else:
        f1 = 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
    tp_units = [r for r in scored if r["status"] == "tp"]
    denom = tp + 0.5 * (fp + fn)
    nothing = 1.0 if rule.empty_quality == "one" else math.nan
    rq = tp / denom if denom else nothing
    sq = (sum(r["iou"] for r in tp_units) / len(tp_units)) if tp_units else (nothing if denom == 0 else 0.0)
    pq = sq * rq
    n_lw = n_scored + fp
    lw_dice = (sum(r["dice"] for r in scored) / n_lw) if n_lw else 1.0
    # the penalty replaces a miss's and a spurious unit's HD95 and any infinite (or NaN) one; a finite HD95
    # stays as it is, even above the penalty (BraTS 2023 replaces inf by 374 and nothing else)
    lw_hd95 = ((sum(r["hd95"] if math.isfinite(r["hd95"]) else penalty for r in scored)
                + penalty * fp) / n_lw) if n_lw else 0.0
    v_ref = float(ref_i.sizes[1:].sum()) * voxel_mm3
    v_pred = float(pred_i.sizes[1:].sum()) * voxel_mm3
    avd = abs(v_pred - v_ref) / v_ref * 100.0 if v_ref else (0.0 if v_pred == 0 else math.inf)
    state = empty_state(n_pred, n_ref)
    case = {"n_ref": n_ref, "n_pred": n_pred, "tp": tp, "fn": fn, "fp": fp, "n_excluded": len(ref_rows) - n_scored,
            "lesion_precision": precision, "lesion_recall": recall, "lesion_f1": f1, "sq": sq, "rq": rq, "pq": pq,
            "lesionwise_dice": lw_dice, "lesionwise_hd95": lw_hd95, "avd_percent": avd,
            "ref_volume_ml": v_ref / 1000.0, "pred_volume_ml": v_pred / 1000.0}
    if bins is not None:
        for a, b in zip(bins, bins[1:]):
            inside = [r for r in scored if a <= r["ref_volume_ml"] < b]
            hit = sum(r["status"] == "tp" for r in inside)
            case[f"recall@[{a:g},{b:g})ml"] = hit / len(inside) if inside else math.nan
    case["empty_state"] = state
    return case

