"""``evaluate``: every label (and region) and every metric of a pair of label maps in one call.

One pass over the volume gives the confusion matrix of all labels and every label's bounding box;
then, per structure, surfaces and distances are computed once inside the bounding box of the union of
its pred and ref voxels (or, when stray voxels or many structures make those boxes large, every
label's surface comes from one more pass over each map: :class:`fastseg._engine.distances.
LabelSurfaces`), and every requested metric is derived from those shared intermediates.
"""
import functools
from collections.abc import Mapping

import numpy as np

from . import _validation as v
from ._engine.counts import BOTH_EMPTY, NOT_EMPTY, Confusion, count_labels
from ._engine.bands import band_counts, band_grids, structure_band_counts
from ._engine.distances import LabelSurfaces, crop_edges, distances_in_crop
from ._engine.skeletons import cldice_in_crop
from ._kernels import tuning
from ._kernels._jit import num_threads, thread_limit
from .conventions import get_convention
from .metrics.definitions import MetricInfo
from .metrics.names import (COUNT_KINDS, DEFAULT_METRICS, METRICS, OVERLAP, REGISTRY, expand_metrics, metric_info,
                            metric_names)
from .metrics.overlap import fbeta_from, tversky_from
from .result import EvaluationResult
from .metrics.lesions import lesion_rule_of, lesions_of_structure
from .metrics.surface import SurfaceDistances, assd, check_band_width, hausdorff, masd, nsd
from .metrics.apl import apl_of, slice_axis_of

__all__ = ["evaluate", "EvaluationResult", "METRICS", "DEFAULT_METRICS", "REGISTRY", "MetricInfo",
           "metric_names", "metric_info", "structure_list"]

def structure_list(lc, labels, regions, ignore_label, names=None):
    """[(key, [label values])] in report order: labels first, then regions (checked: a dict of string
    names to non-empty label lists, distinct from the label names). ``lc``: the maps' LabelConfusion."""
    if labels is None:
        present = [int(x) for x in lc.labels if x != 0 and x != ignore_label]
        structs = [(lab, [lab]) for lab in present]
    else:
        values = v.label_list(labels)
        structs = [(int(x), [int(x)]) for x in dict.fromkeys(values.tolist())]
    if regions is not None and not isinstance(regions, Mapping):
        raise v.InputTypeError(
            f"regions must be a dict of region name -> labels; got {type(regions).__name__}: pass e.g. "
            f"regions={{'whole_tumor': [1, 2, 3]}}."
        )
    for name, members in (regions or {}).items():
        if not isinstance(name, str):
            raise v.InputTypeError(f"region names must be strings; got {name!r}.")
        m = v.label_list(members, f"region {name!r}")
        if m.size == 0:
            raise v.InputValueError(f"region {name!r} must list at least one label; got {members!r}.")
        if names and name in names.values():
            raise v.InputValueError(f"region {name!r} has the name of label "
                                    f"{next(k for k, n in names.items() if n == name)}; give them distinct names.")
        structs.append((name, sorted(set(int(x) for x in m))))
    return structs


def _structure_masks(p, r, members, box):
    """Binary uint8 crops of one structure (a label or a union of labels) inside ``box``."""
    pc, rc = p[box], r[box]
    if len(members) == 1:
        return (pc == members[0]).view(np.uint8), (rc == members[0]).view(np.uint8)
    return np.isin(pc, members).view(np.uint8), np.isin(rc, members).view(np.uint8)


def evaluate(pred, ref, *, labels=None, metrics=None, spacing=None, tolerance=None, percentiles=(95,),
             convention="fastseg", regions=None, ignore_label=None, boundary_width=None, beta=None,
             tversky=None, names=None, lesions=None, slice_axis=None, threads=None):
    """Score every label (and region) of two label maps with every requested metric, in one call.

    Parameters
    ----------
    pred, ref : array_like of non-negative integers, shape (M, N[, P])
        Label maps of the same shape (0 = background). Overlap metrics accept any number of
        dimensions; distance metrics 2D and 3D.
    labels : sequence of int, optional
        Labels to score. Default: every non-zero label present in either map. A label absent from
        both maps is reported with empty state ``"both_empty"`` (never dropped).
    metrics : sequence of str, optional
        Names from :data:`METRICS`, ``"hdNN"`` for the NN-th percentile Hausdorff distance,
        ``"nsd@T"`` for NSD at tolerance T, ``"apl@T"`` for the added path length at tolerance T
        (slices along the last axis, see :func:`fastseg.apl`), ``"fbeta@B"``, ``"tversky@A/B"``; counts ``"tp"``,
        ``"fp"``, ``"fn"``, ``"tn"``; volumes (``"pred_volume_ml"``...). :data:`REGISTRY` defines
        each (:func:`metric_info`: plain meaning, unit, direction). Default (:data:`DEFAULT_METRICS`): Dice, IoU, precision,
        recall, HD, HD at each of ``percentiles``, ASSD, MASD, and NSD at each tolerance when
        ``tolerance`` is given.
    spacing : None, float or sequence of float, optional
        Voxel size per array axis (array-axis order); distances and volumes in its units.
    tolerance : float or sequence of float, optional
        NSD (and APL) tolerance(s) in spacing units; required for ``"nsd"`` (and ``"apl"``).
    percentiles : sequence of float, optional
        Percentiles for the default ``hdNN`` metrics and for ``"hdq"``. Default (95,).
    convention : str or Convention, optional
        Distance convention (see :mod:`fastseg.conventions`). Default ``"fastseg"``.
    regions : dict of str to sequence of int, optional
        Unions of labels scored as one structure, e.g. ``{"whole_tumor": [1, 2, 3]}``.
    ignore_label : int, optional
        A non-negative integer (Python or numpy; not a bool, float or string). Voxels with this label in
        ``ref`` are excluded from every count and surface: they are treated
        as background in both maps for surfaces, and not counted at all (not even as true negatives).
        Whatever ``pred`` holds there changes nothing.
    boundary_width : float, optional
        Band width (spacing units) for ``"boundary_iou"``; required for it.
    beta : float or sequence of float, optional
        F-beta's beta for ``"fbeta"`` (one row ``fbeta@B`` per value); or ask for ``"fbeta@2"``.
    tversky : (float, float) or sequence of them, optional
        Tversky's (alpha, beta) for ``"tversky"`` (one row ``tversky@A/B`` per pair); or ask for
        ``"tversky@0.3/0.7"``. Alpha weighs false positives, beta false negatives.
    slice_axis : int, optional
        The axis through the slices of ``"apl"`` (3D maps), as for :func:`fastseg.apl`: default the
        last (the ``(i, j, k)`` order of :func:`fastseg.io.load`); ``(z, y, x)`` arrays (SimpleITK's
        ``GetArrayFromImage``) need ``slice_axis=0``.
    lesions : str, LesionRule or True, optional
        Also evaluate every structure lesion-wise (:func:`fastseg.lesions`) under this rule
        (``True``: ``"fastseg"``): its per-case metrics are added as rows (``lesion_tp``,
        ``lesion_f1``, ``lesion_pq``, ``lesionwise_dice``...), and the per-lesion tables are in
        ``result.lesions`` (``{structure: LesionResult}``). NSD per lesion at ``tolerance``.
    names : dict of int to str, optional
        Label names, e.g. ``{1: "liver", 2: "spleen"}`` (see also
        :func:`fastseg.labels.read_labels_json` for nnU-Net's ``dataset.json``). Every row then has a
        ``name``: the label's name, a region's own name, ``""`` for an unnamed label. Names must be
        distinct, and differ from the region names.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    EvaluationResult
        Rows ``(label, metric, value, empty_state, convention)``; ``result["dice"][3]``.

    Raises
    ------
    ValueError
        Shapes differ, negative or NaN labels, an unknown metric (the message lists the valid ones),
        ``"nsd"`` without a tolerance, bad spacing, or distance metrics on 1D/4D maps.

    Notes
    -----
    Every value equals the single-metric function on ``pred == label, ref == label`` (or the union
    masks of a region). One pass over the volume for all confusion counts and bounding boxes; per
    structure, one surface extraction inside the bounding box of the union of its pred and ref
    voxels (or every label's surface from one more pass over each map, when the labels' boxes
    together outweigh the map: stray voxels, many structures) and one search each way, shared by
    HD, HDq, ASSD, MASD and NSD. A stray voxel costs its few surface points, not its box.

    Examples
    --------
    >>> import numpy as np, fastseg
    >>> ref = np.zeros((8, 8), np.uint8); ref[1:4, 1:4] = 1; ref[5:7, 5:7] = 2
    >>> pred = ref.copy(); pred[1, 1] = 0
    >>> res = fastseg.evaluate(pred, ref, metrics=["dice", "hd"])
    >>> round(res["dice"][1], 4), res["hd"][2]
    (0.9412, 0.0)
    """
    conv = get_convention(convention)
    tolerances = None if tolerance is None else v.check_tolerances(tolerance)[0]
    percentiles = tuple(v.check_percentile(q) for q in np.atleast_1d(percentiles).tolist())
    wanted = expand_metrics(metrics, percentiles, tolerances, v.check_betas(beta), v.check_tversky(tversky))
    names = v.check_names(names)
    lesion_rule = None if lesions is None or lesions is False else lesion_rule_of("fastseg" if lesions is True else lesions)
    if any(kind == "boundary_iou" for _, kind, _ in wanted):
        boundary_width = v.check_fraction(boundary_width, "boundary_width", low=0.0, inclusive_low=False) \
            if boundary_width is not None else None
        if boundary_width is None:
            raise v.InputValueError("metric 'boundary_iou' needs boundary_width= (band width in spacing units).")
    n_threads = v.check_threads(threads)
    p, r, values = v.label_pair(pred, ref)
    if values is not None:
        raise v.InputValueError(
            "evaluate supports labels up to 65535; relabel the maps (e.g. with numpy.unique) first."
        )
    needs_space = lesion_rule is not None or any(kind not in COUNT_KINDS for _, kind, _ in wanted)
    if needs_space:
        v.check_ndim(p, (2, 3), "distance and topology metrics")
    sp = v.normalize_spacing(spacing, max(p.ndim, 1),
                             distances=any(kind not in COUNT_KINDS + ("cldice",) for _, kind, _ in wanted))
    with np.errstate(over="ignore", under="ignore"):  # a volume beyond float64 is inf (or 0), silently
        voxel_volume = float(np.prod(sp))
    n_ignored = 0
    if ignore_label is not None:
        ignore_label = v.check_ignore_label(ignore_label, labels, regions)
        if ignore_label <= np.iinfo(r.dtype).max:
            ignored = r == ignore_label
            n_ignored = int(np.count_nonzero(ignored))
            if n_ignored:  # copies in the maps' own layout: the same layout decision as without
                p = p.copy(order="K")
                r = r.copy(order="K")
                p[ignored] = 0
                r[ignored] = 0
    if any(kind == "boundary_iou" for _, kind, _ in wanted):
        check_band_width(boundary_width, sp, conv, "boundary_width")
    apl_axis = slice_axis_of(slice_axis, sp, p.ndim, warn=any(kind == "apl" for _, kind, _ in wanted))
    (p, r), sp_c, transposed = v.c_layout([p, r], sp)
    apl_axis = p.ndim - 1 - apl_axis if transposed and apl_axis >= 0 else apl_axis

    rows = []
    spatial = [w for w in wanted if w[1] not in COUNT_KINDS]
    with thread_limit(n_threads):
        lc = count_labels(p, r, None, p.shape, False)  # one pass: all counts and boxes (C-ordered view)
        structs = structure_list(lc, labels, regions, ignore_label, names)
        done = []
        for key, members in structs:
            c = lc.binary(members, voxel_volume)
            if n_ignored:
                c = Confusion(c.tp, c.fp, c.fn, c.tn - n_ignored, voxel_volume)
            results = _count_metrics(c, wanted, conv)
            done.append((key, members, c.empty_state, results))
        if spatial:
            sizes = [_box_size(lc.bbox(members)) for _, members, _, _ in done]
            surfaces = None
            if any(kind in ("hd", "assd", "masd", "nsd") for _, kind, _ in spatial):
                surfaces = LabelSurfaces.when_cheaper(p, r, conv, [(m, s != BOTH_EMPTY, z) for (_, m, s, _), z
                                                                   in zip(done, sizes)])
            grids = band_grids(p, r, [(m, lc.binary(m, 1.0), z) for (_, m, s, _), z in zip(done, sizes) if s == NOT_EMPTY]
                               ) if any(kind == "boundary_iou" for _, kind, _ in spatial) else None
            tasks = [functools.partial(_spatial_metrics, p, r, lc, members, spatial, sp_c, conv, state,
                                       boundary_width, transposed, surfaces, grids, apl_axis)
                     for _, members, state, _ in done]
            for (_, _, _, results), res in zip(done, _run_structures(tasks, sizes)):
                results.update(res)
        titles = None if names is None else {key: key if isinstance(key, str) else names.get(key, "")
                                             for key, _ in structs}
        per_lesion = {}
        for key, members, state, results in done:
            items = [(name, results[name]) for name, _, _ in wanted]
            if lesion_rule is not None:
                per_lesion[key] = lesions_of_structure(p, r, members, sp_c, lesion_rule, tolerances)
                items += per_lesion[key].metric_items()
            for name, value in items:
                row = {"label": key, "metric": name, "value": value, "empty_state": state, "convention": conv.name}
                if titles is not None:
                    row["name"] = titles[key]
                rows.append(row)
    return EvaluationResult(rows, tuple(sp.tolist()), conv.name, titles,
                            per_lesion if lesion_rule is not None else None)


def _count_metrics(c, wanted, conv):
    """The metrics of ``wanted`` derived from one structure's confusion counts (Dice and IoU of two
    empty masks as the convention says: NaN under ``nnunet``)."""
    out = {}
    both_empty = c.empty_state == BOTH_EMPTY
    for name, kind, param in wanted:
        if kind == "overlap":
            out[name] = conv.both_empty_overlap(name) if both_empty and name in ("dice", "iou", "jaccard") \
                else float(OVERLAP[name](c))
        elif kind == "fbeta":
            out[name] = float(fbeta_from(c, param))
        elif kind == "tversky":
            out[name] = float(tversky_from(c, *param))
    return out


def _box_size(box):
    return 0 if box is None else int(np.prod(box[1::2] - box[0::2] + 1))


def _run_structures(tasks, sizes):
    """The per-structure computations, in order. With several threads and several structures of some
    size, structures run side by side, one numba thread each, largest first: the kernels of one
    structure of a few Mvox scale poorly past one thread (short parallel regions, serial glue), while
    structures are independent. Each structure's values are the same either way."""
    workers = min(num_threads(), sum(s >= tuning.SMALL_STRUCTURE for s in sizes))
    if workers < 2:
        return [t() for t in tasks]
    from concurrent.futures import ThreadPoolExecutor

    def one(task):
        with thread_limit(1):
            return task()

    order = sorted(range(len(tasks)), key=lambda i: -sizes[i])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastseg-structure") as pool:
        futures = {i: pool.submit(one, tasks[i]) for i in order}
        return [futures[i].result() for i in range(len(tasks))]


def _spatial_metrics(p, r, lc, members, spatial, sp, conv, state, boundary_width, transposed, surfaces=None,
                     grids=None, apl_axis=-1):
    box = lc.bbox(members)
    out = {}
    sd = None
    if any(kind in ("hd", "assd", "masd", "nsd") for _, kind, _ in spatial):
        conv.check_empty(state)
        if box is None:
            e = np.zeros(0)
            sd = SurfaceDistances(e, e, e, e, state, conv, tuple(sp.tolist()))
        else:
            if surfaces is not None and len(members) == 1 and members[0] in surfaces.labels:
                d_pr, w_p, d_rp, w_r = surfaces.distances(members[0], sp, (lc.bbox(members, "pred"),
                                                                            lc.bbox(members, "ref")))
            else:
                pc, rc = _crop_structure(p, r, members, box)
                d_pr, w_p, d_rp, w_r = distances_in_crop(pc, rc, sp, conv, _edges(box, p.shape))
            sd = SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, tuple(sp.tolist()))
    tols = [t for _, kind, t in spatial if kind == "nsd"]
    nsd_values = dict(zip(tols, nsd(sd, tolerance=tols))) if tols else {}
    for name, kind, param in spatial:
        if kind == "hd":
            out[name] = hausdorff(sd, percentile=param)
        elif kind == "assd":
            out[name] = assd(sd)
        elif kind == "masd":
            out[name] = masd(sd)
        elif kind == "nsd":
            out[name] = nsd_values[param]
        elif kind == "apl":  # apl_axis: the slice axis in the C-ordered view; no convention applies
            out[name] = 0.0 if box is None else apl_of(*_crop_structure(p, r, members, box), sp, param, apl_axis)
        elif state != NOT_EMPTY:  # boundary_iou, cldice: both empty (1.0) or a miss (0.0), as the convention says
            if kind == "cldice":
                out[name] = conv.empty_cldice(state)
            else:
                out[name] = 1.0 if box is None else 0.0
        elif kind == "boundary_iou":  # a large sparse structure from the blocks it holds, else its crop
            inter, union = (structure_band_counts([grids[m] for m in members], _slices(box), lambda b: _structure_masks(
                p, r, members, b), p.shape, sp, boundary_width, conv) if grids and all(m in grids for m in members)
                else band_counts(*_crop_structure(p, r, members, box), sp, boundary_width, conv))
            out[name] = inter / union if union else 1.0
        else:  # cldice
            pc, rc = _crop_structure(p, r, members, box)
            if transposed:  # thinning depends on the axis order: undo the internal transposition
                pc, rc = np.ascontiguousarray(pc.T), np.ascontiguousarray(rc.T)
            one_slice = pc.ndim == 3 and (p.shape[-1] if transposed else p.shape[0]) == 1
            method = "fastseg" if v.skeleton_method(conv.skeleton) else "skimage"
            out[name] = float(cldice_in_crop(pc, rc, method=method, one_slice=one_slice, convention=conv))
    return out


def _edges(box, shape):
    """Which faces of an inclusive box lie on the image edge (:func:`fastseg._engine.distances.crop_edges`)."""
    return crop_edges(tuple(slice(int(box[2 * a]), int(box[2 * a + 1]) + 1) for a in range(len(shape))), shape)


def _slices(box):
    return tuple(slice(int(box[2 * a]), int(box[2 * a + 1]) + 1) for a in range(len(box) // 2))


def _crop_structure(p, r, members, box):
    pc, rc = _structure_masks(p, r, members, _slices(box))
    return np.ascontiguousarray(pc), np.ascontiguousarray(rc)
