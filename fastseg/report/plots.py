"""The report's plots, drawn by matplotlib (the ``report`` extra) as inline SVG: text stays text, boxes
and lines stay vectors, and the points of large cohorts are one embedded PNG per plot (thousands of
vector dots would weigh megabytes). Each structure's box carries an id (``box-M-S``, ``pair-M-S``)
so that a test, or a reader's browser, can find it."""
import io
import math
import re

import numpy as np

__all__ = ["require_matplotlib", "distribution_svg", "paired_svg", "short_title", "STATE_COLOURS", "RASTER_POINTS",
           "TITLE_CHARS"]

#: colour of a case's point by its empty state
STATE_COLOURS = {"none": "#2f6db3", "pred_empty": "#c62828", "ref_empty": "#ef6c00", "both_empty": "#9e9e9e"}
#: above this many points in one plot, the points are drawn as an embedded PNG
RASTER_POINTS = 400
_PALETTE = ["#2f6db3", "#ef6c00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#8d6e63", "#ad1457",
            "#546e7a", "#9e9d24"]


def require_matplotlib():
    """Import matplotlib's Figure, or raise an ImportError saying how to install the report extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the HTML report needs matplotlib: pip install 'fastseg[report]'.") from exc
    return Figure


def _svg(fig, salt):
    """The figure as an SVG element to put inline in HTML: no XML prologue, no metadata, no namespace
    addresses (an HTML parser knows SVG), ids made unique per plot by ``salt``."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\s+version="1\.1"', "", text, count=1)
    return text


def _horizontal():
    """matplotlib's keyword for horizontal boxes: ``orientation`` from 3.10 on (``vert`` is deprecated)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


#: the longest structure name a plot shows whole; longer ones keep their start and end around an ellipsis
TITLE_CHARS = 32


def short_title(title, limit=TITLE_CHARS):
    """A structure's title that fits the plot's left margin: a longer one keeps its first and last
    characters (the label number, and a side such as ``_left`` / ``_right``) around an ellipsis."""
    title = str(title)
    if len(title) <= limit:
        return title
    head = (limit - 1) // 2 + (limit - 1) % 2
    return title[:head] + "\u2026" + title[len(title) - (limit - 1 - head):]


def _figure(n_rows, width=6.4, per_row=0.36, extra=0.8):
    Figure = require_matplotlib()
    return Figure(figsize=(width, max(1.8, extra + per_row * n_rows)), dpi=96)


def _margins(fig, titles, notes=()):
    """Room for the structure names at the left, the notes of inf / NaN counts at the right and the x
    label below (in inches, whatever the height)."""
    longest = max([len(t) for t in titles] + [4])
    height, width = fig.get_figheight(), fig.get_figwidth()
    # a note of 8 pt text: about 6.5 px a character at 96 dpi, after a gap of 1% of the axes
    note_px = 14 + 6.5 * max([len(t) for t in notes] + [0])
    right = min(0.88, 1.0 - note_px / (width * 96)) if notes else 0.88
    fig.subplots_adjust(left=min(0.42, 0.05 + 0.0125 * longest), right=right, top=1.0 - 0.12 / height,
                        bottom=0.55 / height)


def _limits(ax, values, low, high):
    finite = np.concatenate([v for v in values if v.size] or [np.zeros(0)])
    if not finite.size:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if math.isfinite(low) and math.isfinite(high) and lo >= low and hi <= high and hi - lo > 0.25 * (high - low):
        lo, hi = low, high
    pad = 0.04 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.5)
    ax.set_xlim(lo - pad, hi + pad)


def _note(g):
    """What a structure's row cannot draw: its inf and NaN counts, and how many values were infinite
    before a cap (``n_capped``: drawn at the cap)."""
    bad = []
    n_inf, n_nan = int(np.isinf(g["values"]).sum()), int(np.isnan(g["values"]).sum())
    if n_inf:
        bad.append(f"{n_inf} inf")
    if g.get("n_capped"):
        bad.append(f"{g['n_capped']} inf capped")
    if n_nan:
        bad.append(f"{n_nan} NaN")
    return ", ".join(bad)


def distribution_svg(index, xlabel, groups, *, low=-math.inf, high=math.inf, seed=0):
    """One metric's distribution per structure: a horizontal box (quartiles, whiskers at 1.5 IQR) and
    every case as a point coloured by its empty state. ``groups``: one dict per structure, top to
    bottom, with ``title``, ``values`` (float array), ``states`` (array of str) and optionally
    ``n_capped`` (values infinite before a cap, drawn at the cap). Infinite and NaN values cannot be
    drawn: their counts are written at the right of the row, whose margin widens to hold them; names
    longer than :data:`TITLE_CHARS` are shortened in the middle."""
    n = len(groups)
    fig = _figure(n)
    ax = fig.add_subplot()
    titles = [short_title(g["title"]) for g in groups]
    notes = [_note(g) for g in groups]
    _margins(fig, titles, [t for t in notes if t])
    rng = np.random.default_rng(seed)
    finite = [g["values"][np.isfinite(g["values"])] for g in groups]
    ys = [n - 1 - j for j in range(n)]
    have = [j for j in range(n) if finite[j].size]
    if have:
        parts = ax.boxplot([finite[j] for j in have], positions=[ys[j] for j in have], **_horizontal(),
                           widths=0.62, showfliers=False, patch_artist=True, manage_ticks=False,
                           boxprops={"facecolor": "#cfe0f5", "edgecolor": "#1f3b57", "linewidth": 1.0},
                           medianprops={"color": "#1f3b57", "linewidth": 1.8},
                           whiskerprops={"color": "#1f3b57"}, capprops={"color": "#1f3b57"})
        for j, box in zip(have, parts["boxes"]):
            box.set_gid(f"box-{index}-{j}")
    xs, yy, cs = [], [], []
    for j, g in enumerate(groups):
        ok = np.isfinite(g["values"])
        k = int(ok.sum())
        xs.append(g["values"][ok])
        yy.append(ys[j] + rng.uniform(-0.26, 0.26, k))
        cs.extend(STATE_COLOURS.get(s, "#2f6db3") for s in np.asarray(g["states"])[ok])
        if notes[j]:
            ax.text(1.01, ys[j], notes[j], transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                    color="#b3261e", gid=None if k else f"box-{index}-{j}")
        elif not k:
            ax.text(0.5, ys[j], "no values", transform=ax.get_yaxis_transform(), va="center", ha="center",
                    fontsize=8, color="#6b7280", gid=f"box-{index}-{j}")
    x = np.concatenate(xs) if xs else np.zeros(0)
    if x.size:
        ax.scatter(x, np.concatenate(yy), s=14 if x.size < 400 else 5, c=cs, alpha=0.7, linewidths=0, zorder=3,
                   rasterized=x.size > RASTER_POINTS)
    _limits(ax, finite, low, high)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_yticks(ys, titles)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#e6eaef", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig, f"fastseg-d{index}")


def _undefined(mean_diff):
    """The text in place of a mean change that cannot be drawn: an infinite one says its sign."""
    if math.isinf(mean_diff):
        return f"mean change {'+' if mean_diff > 0 else '-'}inf"
    return "mean change undefined"


def _unpaired_note(base, new):
    """The cases of one structure that a paired plot cannot draw (inf or NaN on a side), in words."""
    parts = []
    for what, mask in (("inf in new", np.isinf(new) & ~np.isinf(base)),
                       ("inf in baseline", np.isinf(base) & ~np.isinf(new)),
                       ("inf in both", np.isinf(base) & np.isinf(new)),
                       ("NaN", (np.isnan(base) | np.isnan(new)) & ~np.isinf(base) & ~np.isinf(new))):
        k = int(mask.sum())
        if k:
            parts.append(f"{k} {what}")
    return ", ".join(parts) + " (not drawn)" if parts else ""


def paired_svg(index, metric, unit, groups, *, seed=0):
    """Two runs compared for one metric. Left: every case's baseline value against its new value, one
    colour per structure, the line of no change. Right: per structure, each case's change (new -
    baseline) as a point and the mean change with its bootstrap 95% interval. ``groups``: dicts with
    ``title``, ``base``, ``new`` (float arrays, paired by case), ``mean_diff``, ``ci_low``, ``ci_high``.
    A case with inf or NaN on either side cannot be drawn: each structure's row says how many, and why."""
    n = len(groups)
    Figure = require_matplotlib()
    fig = Figure(figsize=(10.0, max(3.2, 1.3 + 0.34 * n)), dpi=96)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    titles = [short_title(g["title"]) for g in groups]
    longest = max([len(t) for t in titles] + [4])
    fig.subplots_adjust(left=0.07, right=0.98, top=1.0 - 0.35 / fig.get_figheight(),
                        bottom=0.5 / fig.get_figheight(), wspace=0.12 + min(0.6, 0.016 * longest))
    rng = np.random.default_rng(seed)
    unit_txt = f" ({unit})" if unit else ""
    lo, hi = math.inf, -math.inf
    hidden = 0
    total = sum(int(np.isfinite(g["base"]).sum()) for g in groups)
    for j, g in enumerate(groups):
        ok = np.isfinite(g["base"]) & np.isfinite(g["new"])
        if ok.any():
            lo = min(lo, float(g["base"][ok].min()), float(g["new"][ok].min()))
            hi = max(hi, float(g["base"][ok].max()), float(g["new"][ok].max()))
        left.scatter(g["base"][ok], g["new"][ok], s=10 if total < 400 else 5, color=_PALETTE[j % len(_PALETTE)],
                     alpha=0.6, linewidths=0, label=titles[j], rasterized=total > RASTER_POINTS,
                     gid=f"pair-{index}-{j}")
        y = n - 1 - j
        d = g["new"][ok] - g["base"][ok]
        right.scatter(d, y + rng.uniform(-0.22, 0.22, d.size), s=9, color=_PALETTE[j % len(_PALETTE)], alpha=0.5,
                      linewidths=0, rasterized=total > RASTER_POINTS)
        if math.isfinite(g["mean_diff"]):
            err = [[max(0.0, g["mean_diff"] - g["ci_low"])], [max(0.0, g["ci_high"] - g["mean_diff"])]] \
                if math.isfinite(g["ci_low"]) and math.isfinite(g["ci_high"]) else None
            right.errorbar([g["mean_diff"]], [y], xerr=err, fmt="D", color="#1d2430", markersize=5, capsize=4,
                           linewidth=1.6, zorder=4, gid=f"ci-{index}-{j}")
        else:
            right.text(0.02, y, _undefined(g["mean_diff"]), transform=right.get_yaxis_transform(), va="center",
                       fontsize=8, color="#b3261e", gid=f"ci-{index}-{j}")
        note = _unpaired_note(g["base"], g["new"])
        if note:
            # above the row's points and interval (between two rows), so that it hides neither
            right.text(0.98, y + 0.36, note, transform=right.get_yaxis_transform(), va="center", ha="right",
                       fontsize=7, color="#b3261e", gid=f"nonfinite-{index}-{j}", zorder=5)
        hidden += int((~ok).sum())
    if lo <= hi:
        pad = 0.04 * (hi - lo) if hi > lo else 0.5
        left.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#6b7280", linewidth=0.9, linestyle="--")
    left.set_xlabel(f"baseline {metric}{unit_txt}")
    left.set_ylabel(f"new {metric}{unit_txt}")
    left.set_title("each case: baseline against new (dashed: no change)", fontsize=9.5)
    if hidden:
        left.text(0.98, 0.02, f"{hidden} case{'s' if hidden != 1 else ''} with inf or NaN not drawn (see right)",
                  transform=left.transAxes, ha="right", va="bottom", fontsize=7.5, color="#b3261e", zorder=5,
                  gid=f"nonfinite-{index}", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0})
    if n <= 12:
        left.legend(fontsize=7.5, frameon=False, loc="best", markerscale=1.5)
    right.axvline(0.0, color="#6b7280", linewidth=0.9, linestyle="--")
    right.set_yticks([n - 1 - j for j in range(n)], titles)
    right.set_ylim(-0.6, n - 0.4)
    right.set_xlabel(f"new - baseline{unit_txt}")
    right.set_title("change per case; mean with bootstrap 95% interval", fontsize=9.5)
    for ax in (left, right):
        ax.grid(color="#eef1f4", linewidth=0.8)
        ax.set_axisbelow(True)
    return _svg(fig, f"fastseg-p{index}")
