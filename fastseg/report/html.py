"""The HTML of the reports: one page, its inline style sheet, tables, numbers and the texts that say
what the numbers mean. Everything is escaped here; nothing refers to a file or a network address."""
import html
import math

from .._version import __version__
from ..conventions import PRESETS, describe

__all__ = ["esc", "num", "cell", "page", "table", "section", "definition_rows", "convention_text",
           "STATES", "CSS"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2430;
margin:0;background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#d5e2ef}nav{padding:8px 28px;background:#e8edf3;position:sticky;top:0;z-index:2}
nav a{margin-right:18px;color:#1f3b57;text-decoration:none;font-weight:600}
main{padding:0 28px 40px}section{margin:22px 0;background:#fff;border:1px solid #dde3ea;border-radius:6px;
padding:14px 18px}h2{margin:0 0 10px;font-size:18px;color:#1f3b57}h3{font-size:15px;margin:14px 0 6px}
p.note{color:#4a5565;margin:4px 0 10px}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 4px}
.card{border:1px solid #dde3ea;border-radius:6px;padding:8px 14px;min-width:110px;background:#fafbfc}
.card b{display:block;font-size:20px}.card.bad b{color:#b3261e}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e6eaef;text-align:right;white-space:nowrap}
th{background:#eef2f6;position:sticky;top:0}td.t,th.t{text-align:left}
.scroll{max-height:640px;overflow:auto;border:1px solid #dde3ea;display:inline-block;max-width:100%}
td.inf,td.bad{color:#b3261e;font-weight:600}td.nan{color:#8a6d00}td.key{background:#f3f7fc;font-weight:600}
tr.error td{background:#fdecea;color:#8c1d18;text-align:left;white-space:normal}
tr.pred_empty td,tr.ref_empty td{background:#fff4e5}tr.both_empty td{color:#6b7280}
tr.all td{font-weight:600;border-bottom:2px solid #cfd8e3}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:8px 22px}
details summary{cursor:pointer;color:#1f3b57;font-weight:600;margin:10px 0 6px}
figure{margin:6px 0 14px}figure h3{margin:4px 0 0}figure svg{max-width:100%;height:auto}
figcaption{color:#4a5565;font-size:12.5px}
dl{display:grid;grid-template-columns:max-content auto;gap:3px 16px;margin:6px 0}dt{font-weight:600}dd{margin:0}
.defs td{white-space:normal;text-align:left;vertical-align:top}code{background:#eef2f6;padding:0 3px;border-radius:3px}
footer{color:#6b7280;padding:0 28px 24px;font-size:12px}
"""

#: empty states as people read them
STATES = {
    "none": "both masks have voxels",
    "pred_empty": "the prediction is empty, the reference is not: a missed structure (distances inf, Dice 0)",
    "ref_empty": "the reference is empty, the prediction is not: a false detection (distances inf, Dice 0)",
    "both_empty": "the structure is in neither mask (Dice 1, 0 mm; kept per structure, left out of 'all')",
    "no_structures": "both maps are all background: nothing to score",
}

_SURFACE = {"surfel": "surface elements on the voxel-corner lattice, each weighted by its area",
            "voxel": "boundary voxels (foreground voxels with a background neighbour), one each"}
_PERCENTILE = {"weighted_nearest_rank": "area-weighted nearest rank in each direction, then the larger",
               "linear_per_direction": "linear interpolation in each direction, then the larger",
               "linear_pooled": "linear interpolation over both directions pooled"}
_ASSD = {"pooled": "mean over the points of both surfaces pooled",
         "mean_of_directed": "mean of the two directed means"}
_EMPTY = {"fastseg": "one mask empty: distances inf, NSD 0; both empty: 0 mm, NSD 1 (never NaN for a miss)",
          "deepmind": "as DeepMind's surface-distance (inf / NaN)", "monai": "as MONAI (NaN / inf)",
          "raise": "an empty mask is an error (as MedPy)", "metricsreloaded": "as MetricsReloaded (0 when both empty)"}


def esc(x):
    return html.escape(str(x), quote=True)


def num(x):
    """A value for people: 4 significant digits; ``inf``, ``nan``; integers as integers."""
    if x is None or x == "":
        return ""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e9:
        return str(int(x))
    return f"{x:.4g}"


def cell(x, key=False):
    """A table cell of a value, marked ``inf`` / ``nan`` (HTML5 allows the end tag to be left out)."""
    text = num(x)
    cls = "inf" if text in ("inf", "-inf") else "nan" if text == "nan" else "key" if key else ""
    return f'<td class="{cls}">{text}' if cls else f"<td>{text}"


def table(head, rows, *, cls="", left=1):
    """A table: ``head`` (column titles), ``rows`` (each a string of cells, or ``(tr class, cells)``);
    the first ``left`` columns are left-aligned."""
    ths = "".join(f'<th class="t">{esc(h)}' if i < left else f"<th>{esc(h)}" for i, h in enumerate(head))
    body = []
    for r in rows:
        trc, cells = r if isinstance(r, tuple) else ("", r)
        body.append(f'<tr class="{trc}">{cells}' if trc else f"<tr>{cells}")
    return f'<table class="{cls}"><thead><tr>{ths}</thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def section(sid, title, body):
    return f'<section id="{sid}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def page(title, subtitle_lines, sections, nav):
    """The whole page: header, navigation (``[(id, text)]``), sections, footer."""
    links = "".join(f'<a href="#{sid}">{esc(text)}</a>' for sid, text in nav)
    subs = "".join(f"<p>{line}</p>" for line in subtitle_lines)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            f"<header><h1>{esc(title)}</h1>{subs}</header>\n<nav>{links}</nav>\n<main>\n"
            + "\n".join(sections) +
            f"\n</main><footer>Written by fastseg {esc(__version__)}. This page is one file: its plots are "
            f"inline, it needs no network access.</footer>\n</body></html>\n")


def definition_rows(metrics, info_of):
    """Rows of the metric definitions table for the metric names ``metrics``."""
    rows = []
    for m in metrics:
        info = info_of(m)
        if info is None:
            rows.append(f'<td class="t"><code>{esc(m)}</code><td class="t" colspan="4">not a fastseg metric')
            continue
        better = {"higher": "higher", "lower": "lower"}.get(info.better, "neither")
        rows.append(f'<td class="t"><code>{esc(m)}</code><td>{esc(info.plain)}<td>{esc(info.definition)}'
                    f"<td>{esc(info.unit or 'ratio')}<td>{better}")
    return rows


def convention_text(name):
    """``[(choice, what it means)]`` of a convention preset (a custom one: only its name)."""
    conv = PRESETS.get(str(name))
    if conv is None:
        return [("convention", f"{name} (a custom convention: see the run that wrote the results)")]
    words = describe(conv)  # the preset table's words for the choices the texts above do not cover
    plain = conv.edge == "background" and conv.plane == "2d" and conv.transform == "exact"
    surface = _SURFACE[conv.surface] if conv.surface in _SURFACE and plain else words["surface model"]
    percentile = (_PERCENTILE[conv.percentile] if conv.percentile in _PERCENTILE and conv.aggregate == "max"
                  else f"{words['quantile rule']}; directions: {words['direction aggregation']}")
    return [("surface", surface), ("HD percentile", percentile), ("ASSD", _ASSD[conv.assd]),
            ("empty masks", _EMPTY.get(conv.empty, words["empty masks"]))]
