"""Two runs compared case by case: paired differences, Wilcoxon signed-rank p-values, bootstrap
confidence intervals, and regression limits."""
import math

import numpy as np

from .results import ERROR, NO_STRUCTURES
from .. import _validation as v
from ..result import structure_title
from .stats import capped, check_cap, fmt_num, label_key, quantile, unscored

__all__ = ["compare", "format_comparison", "check_limits_matched"]


def _applies(limit_label, label, name):
    """Whether a limit's label (None: every label; an int; a region name or a label's name) is this row's."""
    return limit_label is None or limit_label == label or (isinstance(limit_label, str) and limit_label == name)


def _unmatched(rows, gates):
    """The limits ``(metric, label, limit)`` of ``gates`` that no row (metric, label) is checked by."""
    return [(metric, label, lim) for metric, label, lim in gates
            if not any(r["metric"] == metric and _applies(label, r["label"], r.get("name", "")) for r in rows)]


def _spec(metric, label, lim):
    return f"{metric}{'' if label is None else f':{label}'}={lim:g}"


def check_limits_matched(result, max_drop=(), max_rise=(), *, options=("max_drop", "max_rise"),
                         runs=("base_rows", "new_rows")):
    """Refuse limits that check nothing: a limit whose metric (and label, when it names one) is in no
    row of ``result`` (from :func:`compare`, whose rows are the metrics and labels scored in both runs).

    Raises
    ------
    ValueError (:class:`fastseg._validation.InputValueError`)
        Naming the first such limit as ``OPTION METRIC[:LABEL]=LIMIT``, what the two runs share (the
        metrics, or the labels of that metric), and what to do. ``options`` and ``runs`` name the
        limits' arguments and the runs in the message (the command line passes ``--max-drop``,
        ``--max-rise`` and ``BASELINE``, ``NEW``).
    """
    rows = result["rows"]
    shared = {}
    for r in rows:
        shared.setdefault(r["metric"], []).append(structure_title(r["label"], r.get("name", "")))
    both = f"{runs[0]} and {runs[1]}"
    for gates, option in ((max_drop, options[0]), (max_rise, options[1])):
        for metric, label, lim in _unmatched(rows, gates):
            where = f"{option} {_spec(metric, label, lim)}"
            if not rows:
                raise v.InputValueError(
                    f"{where} checks nothing: {both} have no scored case in common (cases pair by case_id); "
                    f"compare two runs of the same cases.")
            if metric not in shared:
                raise v.InputValueError(
                    f"{where} checks nothing: no metric {metric!r} is scored in both {both}; they share the "
                    f"metrics {', '.join(shared)}. Fix the metric name, or drop the limit.")
            raise v.InputValueError(
                f"{where} checks nothing: no label or region {label!r} has {metric} in both {both}; they share "
                f"{metric} for {', '.join(shared[metric])}. Name one of them (a number, a region or a label "
                f"name), or drop the label to limit every one.")
    for r in result.get("renamed_labels", ()) if (max_drop or max_rise) else ():
        raise v.InputValueError(
            f"label {r['label']} is {r['base']!r} in {runs[0]} and {r['new']!r} in {runs[1]}: the runs' label "
            f"maps may mean different structures, and a limit would compare them; score both with the same "
            f"label names, or compare without limits.")
    for m in result.get("convention_mismatch", ()):
        raise v.InputValueError(
            f"a limit on {m['metric']} compares values of different conventions: {runs[0]} scored it under "
            f"{', '.join(m['base'])}, {runs[1]} under {', '.join(m['new'])} (a distance under MONAI's rules is "
            f"not MedPy's); score both runs under one convention, or drop the limit.")


def _convention_mismatch(base_rows, new_rows, limits):
    """``[{metric, base, new}]``: the limited metrics whose rows carry other conventions in the two runs."""
    def by_metric(rows):
        out = {}
        for r in rows:
            if r["metric"] in limits:
                out.setdefault(r["metric"], set()).add(r["convention"])
        return out
    b, n = by_metric(base_rows), by_metric(new_rows)
    return [{"metric": m, "base": sorted(b[m]), "new": sorted(n[m])} for m in limits
            if m in b and m in n and b[m] != n[m]]


def _scored_ids(rows):
    """The case ids of ``rows`` that are not errors (a case with nothing to score included)."""
    return {r["case_id"] for r in rows} - {r["case_id"] for r in rows if r["metric"] == ERROR}


def _pair_values(base_rows, new_rows, cap_inf):
    """``(groups, one_sided)``: ``groups`` {(metric, label): [(case id, base value, new value, each
    run's value a miss its convention does not score as one (:func:`fastseg.cohort.stats.unscored`))]}
    over the cases scored in both runs; ``one_sided`` {(metric, label):
    (case ids where only base has it, case ids where only new has it)} among those cases."""
    def index(rows):
        out = {}
        for r, x in zip(rows, capped(rows, cap_inf)):
            if r["metric"] not in (ERROR, NO_STRUCTURES):
                out[(r["metric"], r["label"], r["case_id"])] = (x, unscored(r))
        return out
    b, n = index(base_rows), index(new_rows)
    both = _scored_ids(base_rows) & _scored_ids(new_rows)
    groups, one_sided = {}, {}
    for key in b:
        if key in n:
            groups.setdefault(key[:2], []).append((key[2], b[key][0], n[key][0], n[key][1] and not b[key][1]))
        elif key[2] in both:
            one_sided.setdefault(key[:2], ([], []))[0].append(key[2])
    for key in n:
        if key not in b and key[2] in both:
            one_sided.setdefault(key[:2], ([], []))[1].append(key[2])
    return groups, one_sided


def _wilcoxon_p(d):
    """Two-sided paired Wilcoxon signed-rank p-value of differences ``d``.

    Zero differences are dropped (Wilcoxon's method); +-inf are allowed (only the order of |d|
    matters, so they rank above every finite difference). Exact distribution for up to 50 untied
    differences, the normal approximation (with tie correction) otherwise: scipy's permutation
    fallback for ties is far too slow for a CI gate.
    """
    from scipy import stats
    import warnings

    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return math.nan
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    finite = np.isfinite(d)
    if not np.all(finite):
        big = (np.max(np.abs(d[finite])) if finite.any() else 1.0) * 2.0 + 1.0
        d = np.where(finite, d, np.sign(d) * big)
    tied = np.unique(np.abs(d)).size < d.size
    method = "exact" if d.size <= 50 and not tied else "asymptotic"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(stats.wilcoxon(d, method=method).pvalue)
        except ValueError:  # scipy < 1.13 names it "approx"
            return float(stats.wilcoxon(d, method="exact" if method == "exact" else "approx").pvalue)


def _bootstrap_ci(d, n_boot, seed, level=0.95):
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    with np.errstate(invalid="ignore"):
        means = np.sort(d[idx].mean(axis=1))
    means = means[~np.isnan(means)]
    if means.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    return quantile(means, a), quantile(means, 1.0 - a)


def compare(base_rows, new_rows, *, max_drop=(), max_rise=(), cap_inf=None, n_boot=2000, seed=0,
            alpha=None, strict=True):
    """Compare two runs case by case: per (metric, label), the mean paired difference ``new - base``,
    a paired Wilcoxon signed-rank p-value and a seeded bootstrap 95% confidence interval of the mean
    difference; flag regressions.

    Parameters
    ----------
    base_rows, new_rows : list of dict
        Rows from :func:`read_results` (or ``CohortResult.rows``). Cases are paired by id; error rows
        and cases missing from either run are left out (and counted).
    max_drop, max_rise : list of (metric, label or None, limit)
        From :func:`parse_gates`. A regression is a mean difference below ``-limit`` (``max_drop``, for
        metrics where higher is better, e.g. Dice) or above ``+limit`` (``max_rise``, for distances).
        Without a label the limit applies to every label; a label is a number, a region name or a
        label's name (the results' ``name`` column). A limit must check something: one whose metric
        (and label) is not scored in both runs raises (see ``strict``), never passes.
    cap_inf : None, "diagonal" or float
        Cap infinite values first (see :func:`summarize`); otherwise pairs that are both inf differ by 0
        and one inf gives an infinite difference.
    n_boot, seed : int
        Bootstrap resamples and seed (deterministic).
    alpha : float, optional
        When given, a regression also needs the Wilcoxon p-value to be below ``alpha``.
    strict : bool, optional
        Default True: a limit that matches no metric/label scored in both runs (a typo, a label
        neither run has, or no case in common), or whose metric the runs scored under different
        conventions, raises ``ValueError`` naming it and what the runs share
        (:func:`check_limits_matched`): a gate that checks nothing must not pass. False: such limits
        are only listed in ``unmatched_limits``, for a caller that refuses them itself (the command
        line, which names its options; ``fastseg compare`` exits 2 on them).

    Returns
    -------
    dict
        ``rows`` (per metric and label: n, base_mean, new_mean, mean_diff, ci_low, ci_high, p_value,
        limit, direction, regression), ``regressions`` (messages), ``n_base``, ``n_new``, ``n_paired``
        cases, ``missing_in_new`` (scored in the baseline, missing or an error in new: a gate never
        passes on them), ``errors_in_new`` (those that are error rows), ``missing_in_base`` (case ids),
        ``complete`` (new scored every case the baseline scored), ``unmatched_limits`` (limits that
        matched no metric/label, ``"metric[:label]"``: empty unless ``strict=False``), ``conventions``
        (of each run), ``convention_mismatch`` (``{metric, base, new}``: a limited metric scored under
        other conventions in the two runs; with ``strict`` it raises, as an unmatched limit),
        ``new_only`` / ``base_only`` (``{metric, label, case_ids}``: a structure scored in one run
        only, in cases both runs scored), ``renamed_labels`` (``{label, base, new}``: a label whose
        name differs between the runs; with limits and ``strict`` it raises), and ``passed``
        (complete, no regression, no unmatched or mismatched limit: what a caller gating on the result
        should check). ``mean_diff`` is NaN when
        both means are infinite (undefined), and a limit on it then counts as a regression. A pair
        whose new value is a miss its convention does not score as one while the baseline scored it
        (``n_unscored_new``: NaN under MONAI's HD or DeepMind's ASSD, seg-metrics' perfect value), and
        a structure scored in new only (``n_new_only``: a new false-positive label), are regressions
        under a limit that applies to them: a gate never passes on fewer or unpaired values. Other NaN
        pairs are left out (``n_nan_dropped``).
    """
    cap_inf = check_cap(cap_inf)
    groups, one_sided = _pair_values(base_rows, new_rows, cap_inf)
    b_ids, n_ids = _scored_ids(base_rows), _scored_ids(new_rows)
    errors_in_new = sorted({r["case_id"] for r in new_rows if r["metric"] == ERROR} & b_ids)
    metric_order = list(dict.fromkeys(m for m, _ in groups))
    keys = sorted(groups, key=lambda k: (metric_order.index(k[0]), label_key(k[1])))
    limits = {}
    for gates, direction in ((max_drop, "drop"), (max_rise, "rise")):
        for metric, label, lim in gates:
            limits.setdefault(metric, []).append((label, lim, direction))
    out_rows, regressions = [], []
    base_names, new_names = ({r["label"]: r["name"] for r in rows if r.get("name")} for rows in (base_rows, new_rows))
    names = {**base_names, **new_names}  # label names, from either run (new wins)
    renamed = [{"label": label, "base": base_names[label], "new": new_names[label]}
               for label in sorted(base_names, key=label_key)
               if label in new_names and base_names[label] != new_names[label]]
    for metric, label in keys:
        title = structure_title(label, names.get(label, ""))
        ids, b, n, lost = zip(*groups[(metric, label)])
        b, n = np.asarray(b, float), np.asarray(n, float)
        lost = np.asarray(lost, bool)  # scored in the baseline, a miss new's convention does not score
        keep = ~(np.isnan(b) | np.isnan(n))
        b, n = b[keep], n[keep]
        with np.errstate(invalid="ignore"):
            d = np.where(b == n, 0.0, n - b)
        base_mean = float(np.mean(b)) if b.size else math.nan
        new_mean = float(np.mean(n)) if n.size else math.nan
        # two infinite means (a structure missed in both runs) have no defined difference, whatever the
        # finite cases do: reported as NaN, never as a number
        undefined = math.isinf(base_mean) and base_mean == new_mean
        mean_diff = math.nan if undefined or not d.size else float(np.mean(d))
        lo, hi = (math.nan, math.nan) if undefined else _bootstrap_ci(d, n_boot, seed)
        p = _wilcoxon_p(d)
        new_only = sorted(one_sided.get((metric, label), ((), ()))[1])
        row = {"metric": metric, "label": label, "name": names.get(label, ""), "n": int(d.size), "n_nan_dropped": int((~keep).sum()),
               "n_unscored_new": int(lost.sum()), "n_new_only": len(new_only),
               "base_mean": base_mean, "new_mean": new_mean, "mean_diff": mean_diff,
               "ci_low": lo, "ci_high": hi, "p_value": p, "limit": None, "direction": None, "regression": False}
        for lab, lim, direction in limits.get(metric, []):
            if not _applies(lab, label, row["name"]):
                continue
            row["limit"], row["direction"] = lim, direction
            if lost.any():  # fewer cases in new: a gate never passes on them (as evaluate's gates)
                row["regression"] = True
                regressions.append(
                    f"REGRESSION {metric} of label {title}: {int(lost.sum())} case(s) scored in the baseline are, in "
                    f"new, a miss or a false positive that this convention does not score as one (NaN, or a perfect "
                    f"value): {', '.join(sorted(i for i, x in zip(ids, lost) if x)[:10])}.")
                continue
            if math.isnan(mean_diff):  # a gate that cannot tell never passes
                row["regression"] = True
                regressions.append(
                    f"REGRESSION {metric} of label {title}: the change of the mean is undefined (base {base_mean:g}, "
                    f"new {new_mean:g}: a structure missed in both runs); compare with cap_inf='diagonal' "
                    f"(--cap-inf diagonal) to measure it.")
                continue
            worse = (mean_diff < -lim) if direction == "drop" else (mean_diff > lim)
            if worse and alpha is not None:
                worse = p < alpha
            if worse:
                row["regression"] = True
                regressions.append(
                    f"REGRESSION {metric} of label {title}: mean {'drop' if direction == 'drop' else 'rise'} "
                    f"{abs(mean_diff):.4g} > {lim:g} (new - base = {mean_diff:.4g}, 95% CI [{lo:.4g}, {hi:.4g}], "
                    f"Wilcoxon p = {p:.3g}, n = {d.size})")
        out_rows.append(row)
    # a structure scored in new only, in cases both runs scored (a new false-positive label, or other
    # labels): a limit on it never passes, whether or not some case has it in both runs
    new_only = {k: sorted(ids) for k, (_, ids) in one_sided.items() if ids}
    base_only = {k: sorted(ids) for k, (ids, _) in one_sided.items() if ids}
    for (metric, label), ids in sorted(new_only.items(), key=lambda kv: (kv[0][0], label_key(kv[0][1]))):
        title = structure_title(label, names.get(label, ""))
        for lab, lim, direction in limits.get(metric, []):
            if _applies(lab, label, names.get(label, "")):
                for row in out_rows:
                    if row["metric"] == metric and row["label"] == label:
                        row["regression"] = True
                regressions.append(
                    f"REGRESSION {metric} of label {title}: scored in new only, in {len(ids)} case(s) both runs "
                    f"scored ({', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}): a structure the baseline "
                    f"did not score there (a new false positive, or the runs' labels differ).")
                break
    unmatched = [metric + ("" if label is None else f":{label}")
                 for gates in (max_drop, max_rise) for metric, label, _ in _unmatched(out_rows, gates)]
    conventions = [sorted({r["convention"] for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)})
                   for rows in (base_rows, new_rows)]
    mismatch = _convention_mismatch(base_rows, new_rows, limits)
    if strict and (unmatched or mismatch or (renamed and limits)):
        check_limits_matched({"rows": out_rows, "convention_mismatch": mismatch, "renamed_labels": renamed},
                             max_drop, max_rise)
    complete = not (b_ids - n_ids)
    return {"rows": out_rows, "regressions": regressions, "unmatched_limits": unmatched,
            "conventions": {"base": conventions[0], "new": conventions[1]},
            "n_base": len(b_ids), "n_new": len(n_ids), "n_paired": len(b_ids & n_ids),
            "missing_in_new": sorted(b_ids - n_ids), "missing_in_base": sorted(n_ids - b_ids),
            "errors_in_new": errors_in_new, "complete": complete,
            "new_only": [{"metric": m, "label": lab, "case_ids": ids} for (m, lab), ids in new_only.items()],
            "base_only": [{"metric": m, "label": lab, "case_ids": ids} for (m, lab), ids in base_only.items()],
            "renamed_labels": renamed, "convention_mismatch": mismatch,
            "passed": complete and not regressions and not unmatched and not mismatch and not (renamed and limits)}


def format_comparison(result):
    """The result of :func:`compare` as a text table (one line per metric and label)."""
    titles = [structure_title(r["label"], r.get("name", "")) for r in result["rows"]]
    lw = max([12] + [len(t) + 1 for t in titles])
    head = (f"{'metric':<14}{'label':>{lw}}{'n':>6}{'base':>10}{'new':>10}{'new-base':>11}{'95% CI':>22}"
            f"{'p':>9}  status")
    lines = [head, "-" * len(head)]
    for r, title in zip(result["rows"], titles):
        ci = f"[{fmt_num(r['ci_low'], 0).strip()}, {fmt_num(r['ci_high'], 0).strip()}]"
        status = "" if r["limit"] is None else (
            ("REGRESSION" if r["regression"] else "ok") + f" (max {r['direction']} {r['limit']:g})")
        lines.append(f"{r['metric']:<14}{title:>{lw}}{r['n']:>6} {fmt_num(r['base_mean'])} {fmt_num(r['new_mean'])}"
                     f" {fmt_num(r['mean_diff'], 10)} {ci:>21} {fmt_num(r['p_value'], 8)}  {status}")
    lines.append(f"{result['n_paired']} paired cases ({result['n_base']} in baseline, {result['n_new']} in new)")
    return "\n".join(lines)
