"""The report's plots, drawn by matplotlib (the ``report`` extra) as inline SVG: text stays text, boxes
and lines stay vectors, and the points of large cohorts are one embedded PNG per plot (thousands of
vector dots would weigh megabytes). Each structure's box carries an id (``box-M-S``, ``pair-M-S``)
so that a test, or a reader's browser, can find it."""
import io
import math
import re

import numpy as np

__all__ = ["require_matplotlib", "distribution_svg", "paired_svg", "STATE_COLOURS", "RASTER_POINTS"]

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


def _figure(n_rows, width=6.4, per_row=0.36, extra=0.8):
    Figure = require_matplotlib()
    return Figure(figsize=(width, max(1.8, extra + per_row * n_rows)), dpi=96)


def _margins(fig, titles, right=0.88):
    """Room for the structure names at the left and the x label below (in inches, whatever the height)."""
    longest = max([len(t) for t in titles] + [4])
    height = fig.get_figheight()
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


def distribution_svg(index, xlabel, groups, *, low=-math.inf, high=math.inf, seed=0):
    """One metric's distribution per structure: a horizontal box (quartiles, whiskers at 1.5 IQR) and
    every case as a point coloured by its empty state. ``groups``: one dict per structure, top to
    bottom, with ``title``, ``values`` (float array) and ``states`` (array of str). Infinite and NaN
    values cannot be drawn: their counts are written at the right of the row."""
    n = len(groups)
    fig = _figure(n)
    ax = fig.add_subplot()
    _margins(fig, [g["title"] for g in groups])
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
        bad = []
        n_inf, n_nan = int(np.isinf(g["values"]).sum()), int(np.isnan(g["values"]).sum())
        if n_inf:
            bad.append(f"{n_inf} inf")
        if n_nan:
            bad.append(f"{n_nan} NaN")
        if bad:
            ax.text(1.01, ys[j], ", ".join(bad), transform=ax.get_yaxis_transform(), va="center", fontsize=8,
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
    ax.set_yticks(ys, [g["title"] for g in groups])
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#e6eaef", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig, f"fastseg-d{index}")


def paired_svg(index, metric, unit, groups, *, seed=0):
    """Two runs compared for one metric. Left: every case's baseline value against its new value, one
    colour per structure, the line of no change. Right: per structure, each case's change (new -
    baseline) as a point and the mean change with its bootstrap 95% interval. ``groups``: dicts with
    ``title``, ``base``, ``new`` (float arrays, paired by case), ``mean_diff``, ``ci_low``, ``ci_high``."""
    n = len(groups)
    Figure = require_matplotlib()
    fig = Figure(figsize=(10.0, max(3.2, 1.3 + 0.34 * n)), dpi=96)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    longest = max([len(g["title"]) for g in groups] + [4])
    fig.subplots_adjust(left=0.07, right=0.98, top=1.0 - 0.35 / fig.get_figheight(),
                        bottom=0.5 / fig.get_figheight(), wspace=0.12 + min(0.6, 0.016 * longest))
    rng = np.random.default_rng(seed)
    unit_txt = f" ({unit})" if unit else ""
    lo, hi = math.inf, -math.inf
    total = sum(int(np.isfinite(g["base"]).sum()) for g in groups)
    for j, g in enumerate(groups):
        ok = np.isfinite(g["base"]) & np.isfinite(g["new"])
        if ok.any():
            lo = min(lo, float(g["base"][ok].min()), float(g["new"][ok].min()))
            hi = max(hi, float(g["base"][ok].max()), float(g["new"][ok].max()))
        left.scatter(g["base"][ok], g["new"][ok], s=10 if total < 400 else 5, color=_PALETTE[j % len(_PALETTE)],
                     alpha=0.6, linewidths=0, label=g["title"], rasterized=total > RASTER_POINTS,
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
            right.text(0.02, y, "mean change undefined", transform=right.get_yaxis_transform(), va="center",
                       fontsize=8, color="#b3261e", gid=f"ci-{index}-{j}")
    if lo <= hi:
        pad = 0.04 * (hi - lo) if hi > lo else 0.5
        left.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#6b7280", linewidth=0.9, linestyle="--")
    left.set_xlabel(f"baseline {metric}{unit_txt}")
    left.set_ylabel(f"new {metric}{unit_txt}")
    left.set_title("each case: baseline against new (dashed: no change)", fontsize=9.5)
    if n <= 12:
        left.legend(fontsize=7.5, frameon=False, loc="best", markerscale=1.5)
    right.axvline(0.0, color="#6b7280", linewidth=0.9, linestyle="--")
    right.set_yticks([n - 1 - j for j in range(n)], [g["title"] for g in groups])
    right.set_ylim(-0.6, n - 0.4)
    right.set_xlabel(f"new - baseline{unit_txt}")
    right.set_title("change per case; mean with bootstrap 95% interval", fontsize=9.5)
    for ax in (left, right):
        ax.grid(color="#eef1f4", linewidth=0.8)
        ax.set_axisbelow(True)
    return _svg(fig, f"fastseg-p{index}")
