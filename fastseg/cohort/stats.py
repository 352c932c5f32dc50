"""Summaries of a cohort's rows (per label and overall, inf and NaN counted) and threshold gates."""
import math
import re

import numpy as np

from .. import _validation as v
from .._engine.counts import BOTH_EMPTY, PRED_EMPTY, REF_EMPTY
from ..conventions import SURFACE_METRIC, split_preset_metric
from ..evaluate import metric_info
from ..metrics.definitions import lesion_metric_range
from ..result import structure_title
from .results import ERROR, NO_STRUCTURES, parse_label

__all__ = ["quantile", "label_key", "capped", "check_cap", "summarize", "fmt_num", "format_summary",
           "parse_gates", "check_gates", "metric_range", "check_thresholds", "check_limits", "unscored"]


def quantile(s, q):
    """Linear-interpolated quantile of a sorted array that may hold +-inf (no inf - inf = NaN)."""
    pos = q * (len(s) - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    frac = pos - lo
    if lo == hi or s[lo] == s[hi] or frac == 0.0:
        return float(s[lo])
    return float(s[lo] + (s[hi] - s[lo]) * frac)


def _stats(values):
    a = np.asarray(values, dtype=np.float64)
    nan = np.isnan(a)
    a = a[~nan]
    n_inf = int(np.count_nonzero(np.isinf(a)))
    out = {"n": int(a.size), "n_inf": n_inf, "n_nan": int(np.count_nonzero(nan))}
    if a.size == 0:
        out.update(mean=math.nan, std=math.nan, median=math.nan, q1=math.nan, q3=math.nan, iqr=math.nan,
                   min=math.nan, max=math.nan)
        return out
    s = np.sort(a)
    with np.errstate(invalid="ignore"):
        mean = float(np.mean(a))  # inf when a value is inf: a miss is never averaged away
    std = (float(np.std(a, ddof=1)) if a.size > 1 else 0.0) if not n_inf else math.inf
    q1, q3 = quantile(s, 0.25), quantile(s, 0.75)
    iqr = q3 - q1 if not (math.isinf(q1) and q1 == q3) else 0.0
    out.update(mean=mean, std=std, median=quantile(s, 0.5), q1=q1, q3=q3, iqr=iqr,
               min=float(s[0]), max=float(s[-1]))
    return out


def unscored(row):
    """True for a distance where one mask is empty (a miss or a false positive) that the row's
    convention does not score as one: NaN (MONAI's HD, DeepMind's ASSD; MedPy's and SimpleITK's under
    ``conventions=``), which a mean leaves out, or a perfect value (seg-metrics' 0 mm and NSD 1)."""
    if row["empty_state"] not in (PRED_EMPTY, REF_EMPTY):
        return False
    metric = split_preset_metric(row["metric"])[0]
    x = row["value"]
    perfect = 1.0 if metric.startswith("nsd@") else 0.0
    return bool(SURFACE_METRIC.match(metric)) and (math.isnan(x) or x == perfect)


def label_key(label):
    return (0, label, "") if isinstance(label, int) else (1, 0, str(label))


def capped(rows, cap_inf):
    """Row values with +inf replaced by the cap (``"diagonal"``: the case's ``diagonal_mm``)."""
    if cap_inf is None:
        return [r["value"] for r in rows]
    out = []
    for r in rows:
        x = r["value"]
        if x == math.inf:
            x = r["diagonal_mm"] if cap_inf == "diagonal" else float(cap_inf)
        out.append(x)
    return out


def check_cap(cap_inf):
    if cap_inf is None or cap_inf == "diagonal":
        return cap_inf
    try:
        c = float(cap_inf)
    except (TypeError, ValueError):
        raise v.InputValueError(f"cap_inf must be None, 'diagonal' or a number of mm; got {cap_inf!r}.") from None
    if not (math.isfinite(c) and c >= 0):
        raise v.InputValueError(f"cap_inf must be a finite, non-negative number of mm; got {cap_inf!r}.")
    return c


def summarize(rows, *, cap_inf=None):
    """Per (metric, label) and per metric over all labels: n, mean, std, median, q1, q3, IQR, min,
    max and the counts of infinite, NaN and both-empty values.

    NaN values (undefined, e.g. precision with an empty prediction) are counted and left out of the
    statistics; ``n_unscored`` counts the distances where one mask is empty that the convention does
    not score as a miss (NaN, or seg-metrics' perfect values: gates on them fail); infinite values are kept (a mean over a miss is ``inf``, never a silently
    better number) unless ``cap_inf`` replaces them: ``"diagonal"`` by the physical diagonal of that
    case's volume, or a number of mm. ``std`` is the sample standard deviation (ddof=1).

    Both-empty values (a structure absent from pred and ref of a case: Dice 1, 0 mm under the
    default convention) are kept in their label's statistics and counted (``n_both_empty``), but
    left out of the ``overall`` rows: a label absent from a case, or asked for by mistake, says
    nothing about segmentation quality and would otherwise raise the pooled mean. ``overall`` pools
    labels only (``label == "all"``); regions (unions of labels) appear only per label, since they
    count the same voxels again.

    Returns
    -------
    dict
        ``n_cases``, ``n_ok``, ``n_errors``, ``errors`` (``[{case_id, error}]``), ``cap_inf``,
        ``conventions``, ``per_label`` and ``overall`` (lists of dicts with ``metric``, ``label``
        (``"all"`` in ``overall``) and the statistics), ``n_both_empty`` (values),
        ``absent_structures`` (labels and regions absent from pred and ref in every case), ``names``
        (``{label: name}`` of the named structures; each ``per_label`` entry of one has its ``name``).
    """
    cap_inf = check_cap(cap_inf)
    ok = [r for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)]
    errors = [{"case_id": r["case_id"], "error": r["error"]} for r in rows if r["metric"] == ERROR]
    case_ids = list(dict.fromkeys(r["case_id"] for r in rows))
    groups, overall = {}, {}
    for r in ok:
        groups.setdefault((r["metric"], r["label"]), []).append(r)
        if isinstance(r["label"], int) and r["empty_state"] != BOTH_EMPTY:
            overall.setdefault(r["metric"], []).append(r)
        else:
            overall.setdefault(r["metric"], [])
    metric_order = list(overall)
    keys = sorted(groups, key=lambda k: (metric_order.index(k[0]), label_key(k[1])))

    def stats(rs):
        return {**_stats(capped(rs, cap_inf)), "n_both_empty": sum(r["empty_state"] == BOTH_EMPTY for r in rs),
                "n_unscored": sum(map(unscored, rs))}

    names = {}
    for r in ok:
        if r.get("name") and r["label"] not in names:
            names[r["label"]] = r["name"]
    per_label = [{"metric": m, "label": lab, **({"name": names[lab]} if lab in names else {}),
                  **stats(groups[(m, lab)])} for m, lab in keys]
    over = [{"metric": m, "label": "all", **stats(overall[m])} for m in metric_order if overall[m]]
    present = {r["label"] for r in ok if r["empty_state"] != BOTH_EMPTY}
    absent = [lab for lab in dict.fromkeys(lab for _, lab in keys) if lab not in present]
    return {
        "n_cases": len(case_ids), "n_ok": len(case_ids) - len({e["case_id"] for e in errors}),
        "n_errors": len(errors), "errors": errors, "cap_inf": cap_inf,
        "conventions": sorted({r["convention"] for r in ok}),
        "per_label": per_label, "overall": over,
        "n_both_empty": sum(r["empty_state"] == BOTH_EMPTY for r in ok),
        "absent_structures": sorted(absent, key=label_key), "names": names,
    }


def fmt_num(x, width=9):
    if isinstance(x, float) and not math.isfinite(x):
        return f"{'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf'):>{width}}"
    return f"{x:>{width}.4g}"


def format_summary(summary):
    """The summary as a text table (one line per metric and label, then the overall line)."""
    titles = {s["label"]: structure_title(s["label"], s.get("name", "")) for s in summary["per_label"]}
    lw = max([12] + [len(t) + 1 for t in titles.values()])
    mw = max([14] + [len(s["metric"]) + 1 for s in summary["per_label"]])
    head = (f"{'metric':<{mw}}{'label':>{lw}}{'n':>6}{'mean':>10}{'std':>10}{'median':>10}{'IQR':>10}"
            f"{'min':>10}{'max':>10}{'inf':>5}{'nan':>5}")
    lines = [head, "-" * len(head)]
    by_metric = {}
    for s in summary["per_label"]:
        by_metric.setdefault(s["metric"], []).append(s)
    overall = {s["metric"]: s for s in summary["overall"]}
    for m, items in by_metric.items():
        for s in items + ([overall[m]] if len(items) > 1 else []):
            lines.append(
                f"{m:<{mw}}{titles.get(s['label'], str(s['label'])):>{lw}}{s['n']:>6} {fmt_num(s['mean'])} "
                f"{fmt_num(s['std'])} {fmt_num(s['median'])} "
                f"{fmt_num(s['iqr'])} {fmt_num(s['min'])} {fmt_num(s['max'])}{s['n_inf']:>5}{s['n_nan']:>5}")
    tail = f"{summary['n_cases']} cases, {summary['n_ok']} ok, {summary['n_errors']} errors"
    if summary.get("n_both_empty"):
        tail += (f"; {summary['n_both_empty']} values of structures absent from both pred and ref (kept per label, "
                 f"left out of 'all')")
    if summary["cap_inf"] is not None:
        tail += f"; infinite distances capped at {summary['cap_inf']}" + \
            (" (each case's diagonal, mm)" if summary["cap_inf"] == "diagonal" else " mm")
    lines.append(tail)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- gates

_GATE = re.compile(r"^\s*([A-Za-z_][\w@./]*)\s*(?::\s*([^=]+?))?\s*=\s*(\S+)\s*$")


def parse_gates(specs, option="--fail-under"):
    """``["dice=0.85", "hd95:3=5,iou=0.7"]`` -> ``[(metric, label or None, threshold)]``.

    A label is an integer or a region name; without one the gate applies to the metric's overall
    mean (:func:`check_gates`) or to every label (:func:`compare`).

    Examples
    --------
    >>> parse_gates(["dice=0.85", "hd95:3=5,iou:whole_tumor=0.7"])
    [('dice', None, 0.85), ('hd95', 3, 5.0), ('iou', 'whole_tumor', 0.7)]
    """
    out = []
    for spec in specs or []:
        for part in str(spec).split(","):
            if not part.strip():
                continue
            m = _GATE.match(part)
            if not m:
                raise v.InputValueError(
                    f"{option} expects METRIC=VALUE or METRIC:LABEL=VALUE (e.g. dice=0.85, dice:3=0.9); got {part!r}.")
            metric, label, value = m.groups()
            try:
                threshold = float(value)
            except ValueError:
                raise v.InputValueError(f"{option} {part!r}: the threshold must be a number.") from None
            if math.isnan(threshold):
                raise v.InputValueError(f"{option} {part!r}: the threshold must not be NaN.")
            out.append((metric.lower(), None if label is None else parse_label(label.strip()), threshold))
    return out


def metric_range(metric):
    """``(low, high)``: the values a metric can take (:func:`fastseg.evaluate.metric_info`, and the
    lesion-wise rows; unbounded for unknown names)."""
    info = metric_info(metric)
    if info is not None:
        return info.low, info.high
    return lesion_metric_range(str(metric)) or (-math.inf, math.inf)


def check_thresholds(gates, option="--fail-under"):
    """Refuse gate thresholds a metric cannot reach (``dice=85``: Dice lies in [0, 1])."""
    for metric, label, thr in gates:
        lo, hi = metric_range(metric)
        if not lo <= thr <= hi:
            hint = f"; did you mean {thr / 100:g}?" if hi == 1.0 and 1.0 < thr <= 100.0 else ""
            raise v.InputValueError(f"{option} {metric}={thr:g}: {metric} lies in [{lo:g}, {hi:g}], so this "
                                    f"gate could never {'pass' if option == '--fail-under' else 'fail'}{hint}.")


def check_limits(limits, option="--max-drop"):
    """Refuse regression limits that are negative or wider than the metric's range."""
    for metric, label, lim in limits:
        lo, hi = metric_range(metric)
        if not 0.0 <= lim <= hi - lo:
            raise v.InputValueError(f"{option} {metric}={lim:g}: a limit is a change of the mean, between 0 and "
                                    f"{hi - lo:g} for {metric}.")


def check_gates(summary, fail_under=(), fail_over=()):
    """Check thresholds on the summary's means. Returns a list of ``{gate, value, passed, message}``.

    ``fail_under``: the mean must be >= the threshold; ``fail_over``: the mean must be <= it. Without
    a label the gate is on the metric's overall mean (pooled over every case and label, both-empty
    values left out; see :func:`summarize`). A mean that is NaN, or a metric/label with no values,
    fails; the latter is marked ``missing`` (a gate on a label or region no case has). A distance gate
    fails when one of its values is a miss or a false positive that its convention does not score as
    one (``n_unscored``: NaN, which the mean would leave out, or seg-metrics' 0 mm and NSD 1).
    """
    per = {(s["metric"], s["label"]): s for s in summary["per_label"]}
    by_name = {s["name"]: s["label"] for s in summary["per_label"] if s.get("name")}
    over = {s["metric"]: s for s in summary["overall"]}
    results = []
    for gates, op in ((fail_under, ">="), (fail_over, "<=")):
        for metric, label, thr in gates:
            s = over.get(metric) if label is None else per.get((metric, label), per.get((metric, by_name.get(label))))
            where = f"{metric}" + ("" if label is None else f" of label {label}") + \
                (" (mean over all labels)" if label is None else " (mean)")
            gate = f"{metric}{'' if label is None else f':{label}'} {op} {thr:g}"
            if s is None:
                results.append({"gate": gate, "value": math.nan, "passed": False, "missing": True,
                                "message": f"FAILED {gate}: no values for {where} in the results."})
                continue
            val = s["mean"]
            passed = (val >= thr) if op == ">=" else (val <= thr)
            unscored = s.get("n_unscored", 0)
            passed = bool(passed and not math.isnan(val) and not unscored)
            word = "ok" if passed else "FAILED"
            counts = f" ({s['n_inf']} inf, {s['n_nan']} NaN)" if s["n_inf"] or s["n_nan"] else ""
            if unscored:
                counts += (f"; {unscored} value(s) where one mask is empty (a miss or a false positive) that "
                           f"this convention does not score as one (NaN, left out of the mean, or a perfect "
                           f"value)")
            results.append({"gate": gate, "value": val, "passed": passed, "missing": False,
                            "message": f"{word} {gate}: {where} = {val:.6g}{counts}"})
    return results
