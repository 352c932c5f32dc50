"""The report of two runs compared (``fastseg compare --report``): the comparison table, per metric
each case's baseline against its new value and the mean change with its bootstrap interval, the cases
that changed most, and the options of both runs."""
import math
import os

import numpy as np

from .._output import write_text_atomic
from ..cohort.results import ERROR, NO_STRUCTURES
from ..cohort.stats import capped, check_cap
from ..evaluate import metric_info
from . import html as h
from .cohort import options_section, sort_metric, structure_order
from .plots import paired_svg, require_matplotlib

__all__ = ["compare_html", "write_compare_report"]


def _values(rows, cap_inf):
    ok = [r for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)]
    return {(r["metric"], r["label"], r["case_id"]): x for r, x in zip(ok, capped(ok, cap_inf))}


def _short(path, other, default):
    """A file's name, with its folder when the other file has the same name."""
    path, other = os.fspath(path), os.fspath(other)
    if not path:
        return default
    name = os.path.basename(path)
    if name == os.path.basename(other):
        name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))), name)
    return name


def _table_section(result, titles):
    cards = [("paired cases", result["n_paired"], False), ("in baseline", result["n_base"], False),
             ("in new", result["n_new"], False),
             ("missing or failed in new", len(result["missing_in_new"]), bool(result["missing_in_new"])),
             ("regressions", len(result["regressions"]), bool(result["regressions"]))]
    body = ['<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><b>{n}</b>{h.esc(what)}</div>' for what, n, bad in cards) + "</div>"]
    body.append('<p class="note">Per metric and structure over the cases scored in both runs: the means, their '
                'difference new - baseline, its seeded bootstrap 95% confidence interval and the paired Wilcoxon '
                'signed-rank p-value.</p>')
    rows = []
    for r in result["rows"]:
        status = "" if r["limit"] is None else (
            ("REGRESSION" if r["regression"] else "ok") + f" (max {r['direction']} {r['limit']:g})")
        ci = f"[{h.num(r['ci_low'])}, {h.num(r['ci_high'])}]"
        cells = (f'<td class="t">{h.esc(r["metric"])}<td class="t">{h.esc(titles.get(r["label"], r["label"]))}'
                 f'<td>{r["n"]}' + h.cell(r["base_mean"]) + h.cell(r["new_mean"]) + h.cell(r["mean_diff"], key=True)
                 + f"<td>{ci}" + h.cell(r["p_value"]) + f'<td class="t{" bad" if r["regression"] else ""}">{status}')
        rows.append(("error", cells) if r["regression"] else cells)
    head = ["metric", "structure", "n", "baseline", "new", "new - baseline", "95% CI", "p", "status"]
    body.append('<div class="scroll">' + h.table(head, rows, left=2) + "</div>")
    for msg in result["regressions"]:
        body.append(f'<p class="note" style="color:#b3261e">{h.esc(msg)}</p>')
    return h.section("summary", "Comparison", "\n".join(body))


def _plots_section(result, base, new, metrics, structures):
    require_matplotlib()
    by_key = {(r["metric"], r["label"]): r for r in result["rows"]}
    cases = sorted({k[2] for k in base} & {k[2] for k in new})
    figures = []
    for i, m in enumerate(metrics):
        info = metric_info(m)
        groups = []
        for lab, title in structures:
            ids = [c for c in cases if (m, lab, c) in base and (m, lab, c) in new]
            r = by_key.get((m, lab), {})
            groups.append({"title": title, "base": np.array([base[(m, lab, c)] for c in ids], dtype=float),
                           "new": np.array([new[(m, lab, c)] for c in ids], dtype=float),
                           "mean_diff": r.get("mean_diff", math.nan), "ci_low": r.get("ci_low", math.nan),
                           "ci_high": r.get("ci_high", math.nan)})
        svg = paired_svg(i, m, info.unit if info else "", groups, seed=i)
        better = f" ({info.better} is better)" if info and info.better else ""
        figures.append(f'<figure class="plot" id="pair-plot-{i}" data-metric="{h.esc(m)}" '
                       f'data-structures="{len(structures)}"><h3>{h.esc(m)}{better}</h3>{svg}<figcaption>'
                       f"{h.esc(info.plain) if info else ''}</figcaption></figure>")
    return h.section("paired", "Baseline against new, case by case", "\n".join(figures))


def _changes_section(base, new, metric, titles):
    if metric is None:
        return h.section("cases", "Cases that changed most", '<p class="note">No metric to rank the cases by.</p>')
    info = metric_info(metric)
    lower = info is not None and info.better == "lower"
    items = []
    for (m, lab, cid), b in base.items():
        if m == metric and (m, lab, cid) in new:
            n = new[(m, lab, cid)]
            with np.errstate(invalid="ignore"):
                d = 0.0 if b == n else n - b
            worse = -d if not lower else d
            items.append((-(worse if not math.isnan(worse) else -math.inf), cid, lab, b, n, d))
    items.sort(key=lambda t: (t[0], t[1]))
    rows = [f'<td class="t">{h.esc(cid)}<td class="t">{h.esc(titles.get(lab, lab))}' + h.cell(b) + h.cell(n)
            + h.cell(d, key=True) for _, cid, lab, b, n, d in items]
    note = (f'<p class="note">Every case and structure by its change of {h.esc(metric)}, the largest worsening first '
            f"({'a rise' if lower else 'a drop'} is worse).</p>")
    return h.section("cases", "Cases that changed most", note + '<div class="scroll">' + h.table(
        ["case", "structure", f"baseline {metric}", f"new {metric}", "new - baseline"], rows, left=2) + "</div>")


def compare_html(base_rows, new_rows, result, *, base_source="", new_source="", base_options=None,
                 new_options=None, cap_inf=None, title=None):
    """The comparison of two runs (``result`` from :func:`fastseg.cohort.compare` on the same rows and
    ``cap_inf``) as one HTML page (see :func:`write_compare_report`)."""
    cap_inf = check_cap(cap_inf)
    base, new = _values(base_rows, cap_inf), _values(new_rows, cap_inf)
    structures = structure_order(list(base_rows) + list(new_rows))
    titles = dict(structures)
    metrics = list(dict.fromkeys(r["metric"] for r in result["rows"]))
    shown = {r["label"] for r in result["rows"]}
    structures = [(lab, t) for lab, t in structures if lab in shown]
    title = title or f"fastseg comparison: {_short(new_source, base_source, 'new')} against " \
        f"{_short(base_source, new_source, 'baseline')}"
    sub = [f"{result['n_paired']} paired cases; {len(structures)} structures; {len(metrics)} metrics"]
    if base_source or new_source:
        sub.append(f"baseline: {h.esc(os.fspath(base_source))} &middot; new: {h.esc(os.fspath(new_source))}")
    missing = result["missing_in_new"]
    miss = ""
    if missing:
        errs = set(result["errors_in_new"])
        miss = ('<p class="note" style="color:#b3261e">Scored in the baseline, missing or failed in new (a comparison '
                "on fewer cases does not pass): " + ", ".join(
                    h.esc(c) + (" (error row)" if c in errs else "") for c in missing) + "</p>")
    sections = [_table_section(result, titles).replace("</h2>", "</h2>" + miss, 1)]
    if metrics and structures:
        sections.append(_plots_section(result, base, new, metrics, structures))
    sections.append(_changes_section(base, new, sort_metric(metrics), titles))
    conventions = sorted(set(result["conventions"]["base"]) | set(result["conventions"]["new"]))
    opts = options_section(new_options or base_options, conventions, metrics, cap_inf)
    if base_options and new_options and base_options.get("options") != new_options.get("options"):
        opts = opts.replace("</h2>", "</h2><p class=\"note\" style=\"color:#b3261e\">The two runs were written with "
                            "different options; shown: the new run's.</p>", 1)
    sections.append(opts)
    nav = [("summary", "Comparison"), ("paired", "Paired plots"), ("cases", "Cases"), ("options", "Options")]
    return h.page(title, sub, sections, nav)


def write_compare_report(base_rows, new_rows, result, path, **kwargs):
    """Write the HTML report of a comparison (see :func:`compare_html` for the options) to ``path``,
    atomically; returns the path. Needs matplotlib (the ``report`` extra)."""
    write_text_atomic(path, compare_html(base_rows, new_rows, result, **kwargs))
    return os.fspath(path)

