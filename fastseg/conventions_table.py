"""Every distance metric of one pair under every preset: the values, their spread and why they differ.

:func:`table` validates and counts the pair once, crops it once, and computes the directed distance
sets once per distinct surface model among the presets (:meth:`fastseg.conventions.Convention.
surface_key`: surfels; boundary voxels by connectivity, image-edge rule and distance transform; object
voxels), not once per preset; each preset then derives its metrics from the sets of its model. The
values are those of calling each preset separately (the tests check it), and a preset that raises
for the pair (MedPy, SimpleITK on an empty mask) is recorded with its message instead of a value.

For each metric the spread is the largest minus the smallest value (NaN values left out), and every
preset whose value differs from the reference preset's (``"fastseg"`` when it is among the presets)
is listed with the reasons: the rules of the two conventions that bear on that metric and differ, in
words (surface model, quantile rule, direction aggregation, ASSD, NSD, empty rule), kept when changing
that rule alone changes the pair's value (all of them when no single rule does: they act together).
"""
import functools
import math
import textwrap
from dataclasses import dataclass, field

import numpy as np

from . import _validation as v
from ._engine.counts import NOT_EMPTY, count_labels, counts_and_box, crop, empty_state
from ._engine.distances import crop_edges
from ._engine.shared_surfaces import model_sets
from ._kernels._jit import thread_limit
from .conventions import (PRESETS, SURFACE_METRIC, check_presets, describe, get_convention, preset_metric,
                          split_preset_metric)
from .metrics.names import check_distinct
from .metrics.surface import SurfaceDistances, assd, hausdorff, masd, nsd

__all__ = ["table", "ConventionTable", "Row", "Difference", "reasons", "by_structure", "check_presets",
           "preset_metric", "split_preset_metric", "SURFACE_METRIC"]


@dataclass(frozen=True)
class Difference:
    """A preset whose value differs from the reference preset's, and why (``reasons``: words, found when
    first read: each candidate rule is tried alone, which costs a few derivations per difference)."""

    preset: str
    value: float
    why: object = field(repr=False, compare=False)  # the reasons, or a function giving them

    @functools.cached_property
    def reasons(self):
        return tuple(self.why()) if callable(self.why) else tuple(self.why)


@dataclass(frozen=True)
class Row:
    """One metric under every preset: ``values`` (preset -> float, None where the preset raises),
    ``spread`` (max - min of the numbers, NaN left out) and the ``differences`` from the reference."""

    metric: str
    values: dict
    spread: float
    differences: tuple


@dataclass(frozen=True)
class ConventionTable:
    """The result of :func:`table`.

    Attributes
    ----------
    rows : tuple of Row
        One per metric: ``hd``, ``hd95``, ``assd``, ``masd``, then ``nsd@T`` per tolerance.
    reference : str
        The preset the differences are measured from.
    empty_state : str
        ``"none"``, ``"both_empty"``, ``"ref_empty"`` or ``"pred_empty"``.
    errors : dict
        preset -> the message of the error it raises for this pair (its values are None).
    surface_computations : int
        How many distinct surface models were computed.
    """

    rows: tuple
    reference: str
    empty_state: str
    spacing: tuple
    errors: dict = field(default_factory=dict)
    surface_computations: int = 0

    def __getitem__(self, metric):
        for row in self.rows:
            if row.metric == metric:
                return row
        raise KeyError(metric)

    def records(self):
        """One dict per (metric, preset): ``metric``, ``preset``, ``value``, ``spread``, ``reasons``
        (``"; "``-joined; empty for the reference and for equal values), ``error``."""
        out = []
        for row in self.rows:
            why = {d.preset: "; ".join(d.reasons) for d in row.differences}
            for preset, value in row.values.items():
                out.append({"metric": row.metric, "preset": preset, "value": value, "spread": row.spread,
                            "reasons": why.get(preset, ""), "error": self.errors.get(preset, "")})
        return out

    def __str__(self):
        """80 columns: a line per preset (metrics as columns, in blocks), the spread, each difference
        with its reasons (wrapped), and once per raising preset its message."""
        cells = {p: [_fmt(r.values[p]) for r in self.rows] for p in (self.rows[0].values if self.rows else ())}
        cells["spread"] = [_fmt(r.spread) for r in self.rows]
        width = max(len(p) for p in [*cells, "preset"])
        cw = max([len(c) for col in cells.values() for c in col] + [len(r.metric) for r in self.rows] + [6])
        per = max(1, (80 - width) // (cw + 1))
        lines = []
        for start in range(0, len(self.rows), per):
            block = slice(start, start + per)
            lines.append(f"{'preset':<{width}}" + "".join(f" {r.metric:>{cw}}" for r in self.rows[block]))
            lines.extend(f"{p:<{width}}" + "".join(f" {c:>{cw}}" for c in col[block]) for p, col in cells.items())
        vs = f" vs {self.reference} "
        notes = [f"{row.metric} {d.preset} ({vs.join(_apart(d.value, row.values[self.reference]))}): "
                 + "; ".join(d.reasons) for row in self.rows for d in row.differences if d.value is not None]
        notes += [f"{preset} raises (every metric): {msg}" for preset, msg in self.errors.items()]
        return "\n".join(lines + [w for n in notes for w in textwrap.wrap(n, 80, subsequent_indent="    ",
                                                                           break_on_hyphens=False)])


def _fmt(x, digits=6):
    return "raises" if x is None else f"{x:.{digits}g}"


def _apart(a, b):
    """``a`` and ``b`` as text, with the digits that tell them apart (6 at least, 17 at most): a
    difference in the 9th digit is not printed as two equal numbers."""
    digits = 6
    while digits < 17 and a is not None and b is not None and _fmt(a, digits) == _fmt(b, digits) and a != b:
        digits += 1
    return _fmt(a, digits), _fmt(b, digits)


def _same(a, b):
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def reasons(metric, conv, base, ndim, state):
    """Why ``metric`` (``"hd"``, ``"hd95"``, ``"hdNN"``, ``"assd"``, ``"masd"``, ``"nsd@T"``) may differ
    between conventions ``conv`` and ``base`` for a ``ndim``-D pair in empty ``state``: the differing
    rules that bear on it, in words (empty when none does)."""
    a, b = describe(conv), describe(base)
    keys = []
    if state == NOT_EMPTY or conv.empty in ("deepmind", "monai") or base.empty in ("deepmind", "monai"):
        if conv.surface_key(ndim) != base.surface_key(ndim):  # not the words: pymia's slab is no rule in 3D
            keys.append("surface model")
        keys += (["quantile rule", "direction aggregation"] if metric.startswith("hd") and metric != "hd" else
                 ["ASSD"] if metric == "assd" else ["NSD"] if metric.startswith("nsd@") else [])
    keys += ["empty masks"] if state != NOT_EMPTY else []
    return tuple(f"{'empty rule' if k == 'empty masks' else k}: {a[k]} (vs {b[k]})" for k in keys
                 if k == "surface model" or a[k] != b[k])


_FIELDS = {"surface model": ("surface", "connectivity", "edge", "transform", "plane"), "quantile rule":
           ("percentile",), "direction aggregation": ("aggregate",), "ASSD": ("assd",), "NSD": ("nsd",),
           "empty rule": ("empty",)}


def _with_rule(dst, src, label):
    """``dst`` with the rule ``label`` of ``src``, its other rules kept (None when no convention has that
    combination: a nearest-rank or floor-rank quantile is never pooled)."""
    change = {f: getattr(src, f) for f in _FIELDS[label]}
    pooled = (dst.percentile == "linear_pooled", src.percentile == "linear_pooled")
    if label == "quantile rule" and pooled[0] != pooled[1]:  # dst's pooling kept
        change["percentile"] = None if pooled[0] else "linear_per_direction"
    elif label == "direction aggregation" and any(pooled):
        linear = dst.percentile.startswith("linear")
        change["percentile"] = ("linear_pooled" if linear else None) if pooled[1] else "linear_per_direction"
    return None if "percentile" in change and change["percentile"] is None else dst.replace(**change)


def _true_reasons(metric, conv, base, ndim, state, value_of):
    """The :func:`reasons` true for the pair: that rule alone, of ``base`` set to ``conv``'s or back,
    changes the value (``value_of(convention, metric)``); all of them when none does alone."""
    why = reasons(metric, conv, base, ndim, state)
    kept = [r for r in why if any(h is not None and not _same(value_of(h, metric), value_of(d, metric))
                                  for d, h in ((x, _with_rule(x, y, r.partition(":")[0]))
                                               for x, y in ((base, conv), (conv, base))))]
    return tuple(kept) or why or ("numerical detail of the peer's arithmetic (no rule differs)",)


def _shared_key(conv, kind, param):
    """What a metric of a non-empty pair reads of a convention besides its distance sets: presets of one
    surface model with equal keys have the same value (the pooled and per-direction rules, the empty
    rules and the name apart)."""
    if kind == "hd":
        return ("hd", param, conv.percentile, conv.aggregate, conv.hd_percentile(param))
    if kind == "assd" and conv.assd == "pooled":
        return ("assd",)
    if kind == "nsd":
        return ("nsd", param, conv.nsd)
    return ("masd",)  # masd, and assd as the mean of the two directed means (masd's value)


def _derive(sd, wanted, memo, model):
    """``{metric: value}`` of ``wanted`` (``[(metric, kind, parameter)]``, kind ``"hd"``, ``"assd"``,
    ``"masd"`` or ``"nsd"``) from one preset's SurfaceDistances, of surface model ``model``. ``memo``:
    the values already derived for other presets of the pair, by surface model and
    :func:`_shared_key` (None: derive every one; empty pairs, where the empty rules decide)."""
    tols = [t for _, kind, t in wanted if kind == "nsd"]
    nsd_values = None
    out = {}
    for metric, kind, param in wanted:
        k = None if memo is None else (model, _shared_key(sd.convention, kind, param))
        if k is not None and k in memo:
            out[metric] = memo[k]
            continue
        if kind == "nsd" and nsd_values is None:
            nsd_values = dict(zip(tols, nsd(sd, tolerance=tols)))
        value = (hausdorff(sd, percentile=param) if kind == "hd" else nsd_values[param] if kind == "nsd"
                 else assd(sd) if kind == "assd" else masd(sd))
        out[metric] = value
        if k is not None:
            memo[k] = value
    return out


def table(pred, ref, *, spacing=None, tolerance=None, presets=None, threads=None):
    """Every distance metric of one pair under every preset, with the spread and the reasons.

    Parameters
    ----------
    pred, ref : array_like, shape (M, N[, P])
        Binary 2D or 3D masks of the same shape, as for :func:`fastseg.surface_distances`.
    spacing : None, float or sequence of float, optional
        Voxel size per array axis (default 1.0).
    tolerance : float or sequence of float, optional
        NSD tolerances (spacing units) to add ``nsd@T`` rows; none by default.
    presets : sequence of str or Convention, optional
        Default: every preset of :data:`fastseg.conventions.PRESETS`, in its order.
    threads : int, optional
        Number of threads; results do not depend on it.

    Returns
    -------
    ConventionTable
        ``rows`` (metric, values per preset, spread, differences with reasons), ``errors``;
        ``str()`` of it is a printable report, ``records()`` one dict per (metric, preset).

    Notes
    -----
    Cost: one validation and counting pass, one crop, and one surface computation per distinct
    surface model among the presets (five for the presets of fastseg 0.2 on a 3D pair, six in 2D
    where pymia's slab surfels differ from contour surfels); deriving the metrics of a preset from its
    model's sets is cheap.

    Examples
    --------
    >>> import numpy as np
    >>> from fastseg.conventions import table
    >>> ref = np.zeros((12, 12), bool); ref[3:9, 3:9] = True
    >>> pred = np.zeros((12, 12), bool); pred[4:10, 3:9] = True
    >>> t = table(pred, ref, spacing=(1.0, 2.0))
    >>> t["hd"].values["fastseg"], t["hd"].values["itk"], t["hd"].spread
    (1.0, 1.0, 0.0)
    >>> [d.preset for d in t["assd"].differences][:3]
    ['monai', 'medpy', 'metricsreloaded']
    """
    convs = [get_convention(p) for p in (PRESETS if presets is None else presets)]
    names = [c.name for c in convs]
    if len(set(names)) != len(names):
        raise v.InputValueError(f"presets must have distinct names; got {names}.")
    tols = () if tolerance is None else tuple(v.check_tolerances(tolerance)[0])
    check_distinct([(f"nsd@{t:g}", "nsd", t) for t in tols])
    named = {}
    for t in tols:  # one row per name (2 and 2.0 are one), the first given
        named.setdefault(f"{t:g}", t)
    tols = tuple(named.values())
    p, r, sp, given = v.spatial_pair(pred, ref, spacing, "conventions.table")
    spacing_out = tuple(given.tolist())
    sets, values, errors = {}, {}, {}
    wanted = ([("hd", "hd", 100.0), ("hd95", "hd", 95.0), ("assd", "assd", None), ("masd", "masd", None)]
              + [(f"nsd@{t:g}", "nsd", t) for t in tols])
    with thread_limit(v.check_threads(threads)):
        n_pred, n_ref, box = counts_and_box(p, r)
        state = empty_state(n_pred, n_ref)
        memo = {} if state == NOT_EMPTY else None
        by_model = {}
        for conv in convs:
            try:
                conv.check_empty(state)
            except ValueError as exc:
                errors[conv.name] = str(exc)
                continue
            by_model.setdefault(conv.surface_key(p.ndim), []).append(conv)

        def derive(key, model):  # as each model's sets are ready (perhaps on a helper thread)
            d_pr, w_p, d_rp, w_r = model
            for conv in by_model.get(key, ()):
                sd = SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, spacing_out)
                values[conv.name] = _derive(sd, wanted, memo, key)

        if box is not None:
            pc, rc = crop([p, r], box)
            sets = model_sets(pc, rc, sp, convs, crop_edges(box, p.shape), then=derive)
        else:
            e = np.zeros(0)
            for key in by_model:
                derive(key, (e, e, e, e))
    reference = "fastseg" if "fastseg" in names else names[0]
    base = convs[names.index(reference)]
    kinds = {m: (kind, param) for m, kind, param in wanted}

    @functools.lru_cache(maxsize=None)
    def value_of(conv, metric):  # any convention's value, from the sets of its surface model
        try:
            conv.check_empty(state)
        except ValueError:
            return None
        e = np.zeros(0)
        d_pr, w_p, d_rp, w_r = sets.get(conv.surface_key(p.ndim), (e, e, e, e))
        sd = SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, spacing_out)
        return _derive(sd, [(metric, *kinds[metric])], None, None)[metric]

    rows = []
    for m, _, _ in wanted:
        vals = {n: (values[n][m] if n in values else None) for n in names}
        numbers = [x for x in vals.values() if x is not None and not math.isnan(x)]
        spread = (max(numbers) - min(numbers) if min(numbers) != max(numbers) else 0.0) if numbers else math.nan
        diffs = []
        for conv in convs:
            if conv.name != reference and not _same(vals[conv.name], vals[reference]):
                if vals[conv.name] is None:
                    why = (f"raises: {errors[conv.name]}",)
                else:
                    why = functools.partial(_true_reasons, m, conv, base, p.ndim, state, value_of)
                diffs.append(Difference(conv.name, vals[conv.name], why))
        rows.append(Row(m, vals, spread, tuple(diffs)))
    return ConventionTable(tuple(rows), reference, state, spacing_out, errors, len(sets))


# ---- per structure of a label map, under several presets (evaluate_cohort(conventions=...))


def _metric_params(metric_names, percentiles, tolerances):
    """``[(row name, kind, parameter)]`` of the surface metrics among ``metric_names`` (as
    :func:`fastseg.evaluate` names and parameterises them)."""
    hdq = {f"hd{q:g}": q for q in percentiles}
    nsdt = {f"nsd@{t:g}": t for t in tolerances}
    out = []
    for name in metric_names:
        if not SURFACE_METRIC.match(name):
            continue
        if name == "hd":
            out.append((name, "hd", 100.0))
        elif name in ("assd", "masd"):
            out.append((name, name, None))
        elif name.startswith("nsd@"):
            out.append((name, "nsd", nsdt[name] if name in nsdt else v.check_tolerances(float(name[4:]))[0][0]))
        else:
            out.append((name, "hd", hdq[name] if name in hdq else v.check_percentile(float(name[2:]))))
    return out


def by_structure(pred, ref, *, presets, spacing=None, labels=None, regions=None, ignore_label=None, metrics=None,
                 tolerance=None, percentiles=(95,), names=None, threads=None):
    """The surface-distance metrics of every structure of two label maps under several presets, with
    one surface computation per structure and distinct surface model (not one per preset).

    Parameters
    ----------
    pred, ref : array_like of int, shape (M, N[, P])
        Label maps, as for :func:`fastseg.evaluate`.
    presets : str or sequence of str
        ``"all"``, ``"monai,medpy"`` or ``["monai", "medpy"]`` (:func:`check_presets`).
    spacing, labels, regions, ignore_label, metrics, tolerance, percentiles, names, threads
        As for :func:`fastseg.evaluate`; only the metrics a convention changes through the surface
        distances are computed: ``hd``, ``hdNN``, ``assd``, ``masd``, ``nsd@T``.

    Returns
    -------
    list of dict
        One per (structure, preset, metric), in structure, preset, metric order: ``label``, ``name``
        (with ``names``), ``metric`` (:func:`preset_metric`: ``hd95/monai``, ``hd95/seg_metrics``), ``value``,
        ``empty_state``, ``convention`` (the preset). A preset that defines no distance for the
        structure's empty state (MedPy, SimpleITK: one mask empty; torchmetrics, plastimatch: both)
        gives NaN there, where ``fastseg.evaluate`` under that preset raises.

    Notes
    -----
    Each value is the one :func:`fastseg.evaluate` gives under that preset (the tests check it to
    the bit): the same structures, ignore label and memory-order decision, the distance sets of each
    surface model from :func:`fastseg._engine.shared_surfaces.model_sets`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastseg.conventions_table import by_structure
    >>> ref = np.zeros((12, 12), np.uint8); ref[3:9, 3:9] = 1
    >>> pred = np.roll(ref, 1, axis=0)
    >>> rows = by_structure(pred, ref, presets="monai,itk", metrics=["hd95"], spacing=(2.0, 1.0))
    >>> [(r["label"], r["metric"], r["value"]) for r in rows]
    [(1, 'hd95/monai', 2.0), (1, 'hd95/itk', 2.0)]
    """
    convs = [get_convention(n) for n in check_presets(presets)]
    tols = () if tolerance is None else tuple(v.check_tolerances(tolerance)[0])
    qs = tuple(v.check_percentile(q) for q in np.atleast_1d(percentiles).tolist())
    from .evaluate import metric_names, structure_list

    wanted = _metric_params(metric_names(metrics, percentiles=qs, tolerance=tolerance), qs, tols)
    if not wanted:
        raise v.InputValueError("by_structure computes the surface-distance metrics (hd, hdNN, assd, masd, nsd@T); "
                                f"none is among metrics={metrics!r}.")
    p, r, values = v.label_pair(pred, ref)
    if values is not None:
        raise v.InputValueError("label maps with labels above 65535 are not supported; relabel them first.")
    v.check_ndim(p, (2, 3), "distance metrics")
    sp = v.normalize_spacing(spacing, p.ndim, distances=True)
    if ignore_label is not None:
        ignore_label = v.check_ignore_label(ignore_label, labels, regions)
        if ignore_label <= np.iinfo(r.dtype).max:
            ignored = r == ignore_label
            if ignored.any():  # as evaluate: copies in the maps' own layout
                p, r = p.copy(order="K"), r.copy(order="K")
                p[ignored] = 0
                r[ignored] = 0
    (p, r), sp_c, _ = v.c_layout([p, r], sp)
    spacing_out = tuple(sp_c.tolist())
    rows = []
    with thread_limit(v.check_threads(threads)):
        lc = count_labels(p, r, None, p.shape, False)
        for key, members in structure_list(lc, labels, regions, ignore_label):
            state = lc.binary(members).empty_state
            box = lc.bbox(members)
            memo, values = {}, {}

            def derive(model, sets, state=state, memo=memo, values=values):  # as each model is ready
                for conv in convs:
                    if sets is None or conv.surface_key(p.ndim) == model:
                        values[conv.name] = _preset_values(conv, state, None if sets is None else {model: sets},
                                                           p.ndim, spacing_out, wanted, memo)

            if box is not None:
                sl = tuple(slice(int(box[2 * a]), int(box[2 * a + 1]) + 1) for a in range(p.ndim))
                pc, rc = (np.ascontiguousarray(np.isin(m[sl], members)).view(np.uint8) for m in (p, r))
                model_sets(pc, rc, sp_c, convs, crop_edges(sl, p.shape), then=derive)
            else:
                derive(None, None)
            name = key if isinstance(key, str) else (names or {}).get(key, "")
            for conv in convs:
                values_ = values[conv.name]
                for metric, _, _ in wanted:
                    row = {"label": key, "metric": preset_metric(metric, conv.name), "value": values_[metric],
                           "empty_state": state, "convention": conv.name}
                    if names is not None:
                        row["name"] = name
                    rows.append(row)
    return rows


def _preset_values(conv, state, sets, ndim, spacing, wanted, memo):
    try:
        conv.check_empty(state)
    except ValueError:
        return {metric: math.nan for metric, _, _ in wanted}
    e = np.zeros(0)
    d_pr, w_p, d_rp, w_r = (e, e, e, e) if sets is None else sets[conv.surface_key(ndim)]
    sd = SurfaceDistances(d_pr, d_rp, w_p, w_r, state, conv, spacing)
    return _derive(sd, wanted, memo if state == NOT_EMPTY else None, conv.surface_key(ndim))
