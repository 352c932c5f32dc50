"""The report of one cohort run: summary, distributions per structure and metric, every case worst
first, and what the options and metrics mean."""
import math
import os

import numpy as np

from .. import _validation as v
from .._output import write_text_atomic
from ..cohort.results import ERROR, NO_STRUCTURES, readable_spacing, wide_table
from ..cohort.stats import capped, label_key, summarize
from ..evaluate import metric_info
from ..result import structure_title
from . import html as h
from .plots import distribution_svg, require_matplotlib

__all__ = ["report_html", "write_report", "sort_metric", "worst_first", "structure_order", "options_section"]


def sort_metric(metrics, wanted=None):
    """The metric the case table is sorted by: ``wanted`` if given, else Dice when present, else the
    first metric with a better direction (None when there is none)."""
    if wanted is not None:
        if wanted not in metrics:
            raise v.InputValueError(f"sort_by {wanted!r} is not a metric of these results; they have "
                                    f"{', '.join(metrics) or 'none'}.")
        return wanted
    if "dice" in metrics:
        return "dice"
    for m in metrics:
        info = metric_info(m)
        if info is not None and info.better:
            return m
    return None


def worst_first(records, metric):
    """Wide records (:func:`fastseg.cohort.results.wide_table`) worst first: error cases, cases with
    nothing to score, then by ``metric`` (ascending when higher is better, descending when lower is;
    NaN last), ties with a structure missing from one side first, then by case and structure."""
    info = metric_info(metric) if metric else None
    lower = info is not None and info.better == "lower"

    def key(d):
        if d["error"]:
            return (0, 0.0, d["case_id"], "")
        if d["empty_state"] == NO_STRUCTURES:
            return (1, 0.0, d["case_id"], "")
        x = d.get(metric, math.nan) if metric else math.nan
        x = math.inf if math.isnan(x) else (-x if lower else x)
        return (2, x, d["empty_state"] not in ("pred_empty", "ref_empty"), d["case_id"], label_key(d["label"]))
    return sorted(records, key=key)


def structure_order(rows):
    """``[(label, title)]`` of the structures in ``rows``: labels, then regions."""
    names = {}
    for r in rows:
        if r["metric"] not in (ERROR, NO_STRUCTURES) and r["label"] not in names:
            names[r["label"]] = r.get("name", "")
    return [(lab, structure_title(lab, names[lab])) for lab in sorted(names, key=label_key)]


def capped_counts(rows, cap_inf):
    """How many values a cap replaced (infinite before it): ``({(metric, label): n}, {metric: n})``,
    the second over what 'all' pools (labels, not regions; both-empty left out). Empty without a cap."""
    per, over = {}, {}
    if cap_inf is None:
        return per, over
    for r in rows:
        if r["metric"] in (ERROR, NO_STRUCTURES) or r["value"] != math.inf:
            continue
        per[(r["metric"], r["label"])] = per.get((r["metric"], r["label"]), 0) + 1
        if isinstance(r["label"], int) and r["empty_state"] != "both_empty":
            over[r["metric"]] = over.get(r["metric"], 0) + 1
    return per, over


def _summary_section(summary, titles, n_capped=({}, {})):
    per_capped, _ = n_capped
    cards = [("cases", summary["n_cases"], False), ("scored", summary["n_ok"], False),
             ("errors", summary["n_errors"], summary["n_errors"] > 0),
             ("structures", len(titles), False),
             ("inf values", sum(s["n_inf"] for s in summary["per_label"]), False)]
    if summary["cap_inf"] is not None:  # a cap hides the infinite values: say how many it replaced
        cards[-1] = ("inf values, capped", sum(per_capped.values()), False)
    cards += [
             ("NaN values", sum(s["n_nan"] for s in summary["per_label"]), False),
             ("both-empty values", summary["n_both_empty"], False)]
    body = ['<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><b>{n}</b>{h.esc(what)}</div>' for what, n, bad in cards) + "</div>"]
    cap = summary["cap_inf"]
    body.append('<p class="note">Per metric and structure over the cases; <b>all</b> pools the labels (not the '
                'regions) and leaves both-empty values out. IQR = q3 - q1. <b>inf</b>: a distance to an empty '
                'mask (a miss or a false detection), kept in the mean (which is then inf); <b>NaN</b>: undefined '
                '(e.g. precision with nothing predicted), counted and left out.'
                + _cap_note(cap) + "</p>")
    body.append(_means_table(summary, titles, n_capped))
    over = {s["metric"]: s for s in summary["overall"]}
    rows, seen = [], []
    for s in summary["per_label"]:
        if seen and seen[-1] != s["metric"] and seen[-1] in over:
            rows.append(_summary_row(over[seen[-1]], "all"))
        seen.append(s["metric"])
        rows.append(_summary_row(s, titles.get(s["label"], str(s["label"]))))
    if seen and seen[-1] in over:
        rows.append(_summary_row(over[seen[-1]], "all"))
    head = ["metric", "structure", "n", "mean", "std", "median", "IQR", "min", "max", "inf", "NaN", "both empty"]
    body.append("<details><summary>Every statistic per metric and structure (n, mean, std, median, IQR, min, max, "
                'inf, NaN, both empty)</summary><div class="scroll">' + h.table(head, rows, left=2) + "</div></details>")
    return h.section("summary", "Summary", "\n".join(body))


def _means_table(summary, titles, n_capped=({}, {})):
    """Structures x metrics: the mean of each (inf when a value is), with the inf / NaN counts and how
    many infinite values a cap replaced."""
    per_capped, over_capped = n_capped
    per = {(s["metric"], s["label"]): s for s in summary["per_label"]}
    over = {s["metric"]: s for s in summary["overall"]}
    metrics = list(dict.fromkeys(s["metric"] for s in summary["per_label"]))
    labels = list(dict.fromkeys(s["label"] for s in sorted(summary["per_label"], key=lambda s: label_key(s["label"]))))

    def mean_cell(s, n_cap):
        if s is None:
            return "<td>"
        counts = [(s["n_inf"], "inf"), (n_cap, "inf capped"), (s["n_nan"], "NaN")]
        flag = "".join(f" <small>({k} {w})</small>" for k, w in counts if k)
        return h.cell(s["mean"]) + flag

    rows = [f'<td class="t">{h.esc(titles.get(lab, str(lab)))}' + "".join(
        mean_cell(per.get((m, lab)), per_capped.get((m, lab), 0)) for m in metrics) for lab in labels]
    if over:
        rows.append(("all", '<td class="t">all' + "".join(mean_cell(over.get(m), over_capped.get(m, 0))
                                                          for m in metrics)))
    return ('<h3>Mean per structure</h3><div class="scroll">' + h.table(["structure"] + metrics, rows, cls="means")
            + "</div>")


def _cap_note(cap):
    if cap is None:
        return ""
    return f" Infinite distances are capped at {'each case&#39;s image diagonal' if cap == 'diagonal' else h.esc(cap) + ' mm'}."


def _summary_row(s, title):
    cells = (f'<td class="t">{h.esc(s["metric"])}<td class="t">{h.esc(title)}<td>{s["n"]}'
             + "".join(h.cell(s[k]) for k in ("mean", "std", "median", "iqr", "min", "max"))
             + f'<td class="{"bad" if s["n_inf"] else ""}">{s["n_inf"]}<td>{s["n_nan"]}<td>{s["n_both_empty"]}')
    return ("all", cells) if title == "all" else cells


def _axis_label(metric, info):
    unit = f" ({info.unit})" if info and info.unit else ""
    better = f", {info.better} is better" if info and info.better else ""
    return f"{metric}{unit}{better}"


def _distributions_section(rows, metrics, structures, cap_inf):
    require_matplotlib()
    per_capped, _ = capped_counts(rows, cap_inf)
    data = {}
    ok = [r for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)]
    for r, x in zip(ok, capped(ok, cap_inf)):
        data.setdefault((r["metric"], r["label"]), []).append((x, r["empty_state"]))
    figures = []
    for i, m in enumerate(metrics):
        info = metric_info(m)
        groups = []
        for lab, title in structures:
            pairs = data.get((m, lab), [])
            groups.append({"title": title, "values": np.array([p[0] for p in pairs], dtype=float),
                           "states": np.array([p[1] for p in pairs], dtype=object),
                           "n_capped": per_capped.get((m, lab), 0)})
        svg = distribution_svg(i, _axis_label(m, info), groups, low=info.low if info else -math.inf,
                               high=info.high if info else math.inf, seed=i)
        meaning = h.esc(info.plain) if info else "not a fastseg metric"
        figures.append(f'<figure class="plot" id="plot-{i}" data-metric="{h.esc(m)}" data-structures="{len(structures)}">'
                       f"<h3>{h.esc(m)}</h3>{svg}<figcaption>{meaning}.</figcaption></figure>")
    legend = ('<p class="note">Per metric, each structure\'s box shows the quartiles and the median, its whiskers '
              "reach 1.5 IQR; each point is one case: blue when both masks have voxels, red when the prediction is "
              "empty, orange when the reference is, grey when both are. Infinite and NaN values cannot be drawn: "
              "their counts are written at the right" + (" (infinite values capped: drawn at the cap and counted "
                                                          "there)" if cap_inf is not None else "") + ".</p>")
    return h.section("distributions", "Distributions per structure", legend +
                     '<div class="plots">' + "\n".join(figures) + "</div>")


def _cases_section(rows, metrics, key_metric):
    records, _ = wide_table(rows)
    records = worst_first(records, key_metric)
    info = metric_info(key_metric) if key_metric else None
    how = (f"sorted by {h.esc(key_metric)}, worst first ({'highest' if info and info.better == 'lower' else 'lowest'} "
           f"first)" if key_metric else "in case order")
    head = ["#", "case", "structure", "empty state"] + metrics + ["spacing (mm)", "shape"]
    out = []
    span = len(head) - 2
    for i, d in enumerate(records, 1):
        case = h.esc(d["case_id"])
        if d["error"]:
            out.append(("error", f'<td>{i}<td class="t">{case}<td class="t" colspan="{span}">error: {h.esc(d["error"])}'))
            continue
        state = d["empty_state"]
        title = structure_title(d["label"], d["name"]) if d["label"] != "" else ""
        cells = (f'<td>{i}<td class="t">{case}<td class="t">{h.esc(title)}<td class="t">{h.esc(state)}'
                 + "".join(h.cell(d.get(m, ""), key=m == key_metric) for m in metrics)
                 + f'<td>{h.esc(readable_spacing(d["spacing"]))}<td>{h.esc("x".join(map(str, d["shape"] or ())))}')
        out.append((state, cells) if state in ("pred_empty", "ref_empty", "both_empty", NO_STRUCTURES) else cells)
    n_err = sum(1 for d in records if d["error"])
    note = (f'<p class="note">One row per case and structure, {how}; errors first ({n_err}). Rows of a structure '
            f"missing from one side are shaded; the empty states are explained under Options.</p>")
    return h.section("cases", "Cases, worst first", note + '<div class="scroll">' + h.table(head, out, cls="cases", left=4)
                     + "</div>")


def options_section(options, conventions, metrics, cap_inf=None):
    """Options of the run (the ``OUT.options.json`` record, or None), its convention(s), what each
    metric and empty state means."""
    items = []
    if options:
        record, version = options.get("options", options), options.get("fastseg")
        if version:
            items.append(("written by", f"fastseg {version}"))
        labels = record.get("labels")
        if record.get("pair_by") == "name":  # DICOM structures paired by name (fastseg.cohort.structures)
            items.append(("structures", "paired by name (case-insensitive, surrounding spaces ignored), numbered: "
                          + ", ".join(f"{i} = {n}" for i, n in enumerate(record.get("structures") or [], start=1))))
            items.append(("aliases", "; ".join(f"{c} = {', '.join(o)}" for c, o in record["aliases"].items())
                          if record.get("aliases") else "none"))
        else:
            items.append(("labels", "auto: every non-zero label present in either map" if labels is None
                          else ", ".join(map(str, labels))))
        names = record.get("names")
        if names:
            items.append(("label names", ", ".join(f"{k} = {n}" for k, n in names.items())))
        if record.get("regions"):
            items.append(("regions", "; ".join(f"{n} = {', '.join(map(str, m))}" for n, m in record["regions"].items())))
        for key, what in (("ignore_label", "ignore label (reference voxels left out)"),
                          ("boundary_width", "boundary IoU band (mm)"),
                          ("geometry_tolerance", "geometry tolerance (mm)"), ("check_affine", "affines compared")):
            if record.get(key) is not None:
                items.append((what, record[key]))
        items.append(("metrics", ", ".join(record.get("metrics") or metrics)))
    else:
        items.append(("options", "not recorded (no RESULTS.options.json next to the results file)"))
    items.append(("infinite distances", "kept (inf)" if cap_inf is None else
                  "capped at each case's image diagonal" if cap_inf == "diagonal" else f"capped at {cap_inf} mm"))
    dl = "<dl>" + "".join(f"<dt>{h.esc(k)}<dd>{h.esc(val)}" for k, val in items) + "</dl>"
    conv = ""
    for name in conventions:
        conv += f"<h3>Convention <code>{h.esc(name)}</code></h3><dl>" + "".join(
            f"<dt>{h.esc(k)}<dd>{h.esc(val)}" for k, val in h.convention_text(name)) + "</dl>"
    defs = h.table(["metric", "what it means", "definition", "unit", "better"],
                   h.definition_rows(metrics, metric_info), cls="defs", left=5)
    states = h.table(["empty state", "meaning"], [f'<td class="t"><code>{k}</code><td class="t">{h.esc(val)}'
                                                  for k, val in h.STATES.items()], cls="defs", left=2)
    body = (dl + conv + "<h3>Metrics</h3><p class=\"note\">Distances are in mm (the image headers' units); "
            "TP, FP, FN, TN count voxels.</p>" + defs + "<h3>Empty states</h3>" + states)
    return h.section("options", "Options, convention and definitions", body)


def report_html(rows, *, options=None, source="", cap_inf=None, sort_by=None, title=None):
    """The report of a cohort's rows (:func:`fastseg.cohort.read_results`, or ``CohortResult.rows``) as
    one HTML page (see :func:`write_report`)."""
    summary = summarize(rows, cap_inf=cap_inf)
    structures = structure_order(rows)
    titles = dict(structures)
    metrics = [s["metric"] for s in summary["overall"]] or list(dict.fromkeys(s["metric"] for s in summary["per_label"]))
    key = sort_metric(metrics, sort_by)
    title = title or f"fastseg report: {os.path.basename(os.fspath(source)) or 'cohort'}"
    sub = [f"{summary['n_cases']} cases, {summary['n_ok']} scored, {summary['n_errors']} errors; "
           f"{len(structures)} structures; {len(metrics)} metrics; convention "
           f"{h.esc(', '.join(summary['conventions']) or 'none')}"]
    if source:
        sub.append(f"results: {h.esc(os.fspath(source))}")
    sections = [_summary_section(summary, titles, capped_counts(rows, cap_inf))]
    if metrics and structures:
        sections.append(_distributions_section(rows, metrics, structures, cap_inf))
    sections += [_cases_section(rows, metrics, key),
                 options_section(options, summary["conventions"], metrics, cap_inf)]
    nav = [("summary", "Summary"), ("distributions", "Distributions"), ("cases", "Cases"), ("options", "Options")]
    return h.page(title, sub, sections, nav)


def write_report(rows, path, *, options=None, source="", cap_inf=None, sort_by=None, title=None):
    """Write the HTML report of a cohort's rows to ``path`` (atomically): the summary with its inf,
    NaN and both-empty counts; per metric, each structure's distribution (a box and every case as a
    point); every case and structure worst first (errors and empty states visible); the options and
    convention of the run (``options``: the ``OUT.options.json`` record) and what each metric means.
    One self-contained file: inline SVG and CSS, no network access. Needs matplotlib (the ``report``
    extra). Returns the path."""
    write_text_atomic(path, report_html(rows, options=options, source=source, cap_inf=cap_inf, sort_by=sort_by,
                                        title=title))
    return os.fspath(path)
