"""The HTML report as a reader sees it (a review of issue 15's report): no text of a plot cut off at
its edges (long structure names, the inf / NaN notes at the right), infinite values that a cap
replaced still counted, and a comparison's cases that went infinite declared rather than silently
left out of its plots.

The browser checks run headless Chromium (skipped when none is on PATH): a script in a copy of the
page measures where every text of every plot was drawn, and ``--dump-dom`` reads the result.
"""
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the report needs the report extra (matplotlib)")

from fastseg.report import report_html  # noqa: E402
from fastseg.report.plots import TITLE_CHARS, paired_svg, short_title  # noqa: E402

LONG = "portal_vein_and_splenic_vein_left_branch"


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


needs_browser = pytest.mark.skipif(_browser() is None, reason="no headless Chromium on PATH")


def _rows(n_cases=40, long_name=LONG):
    """A cohort's rows: a liver, a structure with a long name missed in most cases (inf hd95, Dice 0,
    NaN precision) and NaN precision in others, a short-named one."""
    rng = np.random.default_rng(0)
    names = {1: "liver", 2: long_name, 3: "x"}
    rows = []
    for c in range(n_cases):
        for lab, name in names.items():
            miss = lab == 2 and c < n_cases // 2
            for m in ("dice", "precision", "hd95"):
                v = {"dice": 0.0, "precision": math.nan, "hd95": math.inf}[m] if miss else \
                    (rng.uniform(0, 20) if m == "hd95" else rng.uniform(0.5, 1))
                if lab == 2 and m == "hd95" and n_cases // 2 <= c < n_cases * 3 // 4:
                    v = math.nan  # both an inf and a NaN count in one row of the hd95 plot
                rows.append(dict(case_id=f"case_{c:03d}", label=lab, name=name, metric=m, value=v,
                                 empty_state="pred_empty" if miss else "none", convention="fastseg",
                                 spacing=(1.0, 1.0, 1.0), shape=(10, 10, 10), diagonal_mm=17.3, case_rows=9, error=""))
    return rows


_MEASURE = """<script>
(function () {
  var out = [];
  document.querySelectorAll("figure svg").forEach(function (svg, i) {
    var box = svg.getBoundingClientRect();
    svg.querySelectorAll("text").forEach(function (t) {
      var r = t.getBoundingClientRect();
      if (!t.textContent.trim() || r.width === 0) return;
      out.push({plot: i, text: t.textContent.trim(), left: r.left - box.left, right: box.right - r.right,
                top: r.top - box.top, bottom: box.bottom - r.bottom});
    });
  });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _drawn_texts(html_text, tmp_path, width):
    """Every text of every plot as drawn by Chromium at ``width`` px: its distances to the plot's edges."""
    page = tmp_path / f"page_{width}.html"
    page.write_text(html_text.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    proc = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},2000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60)
    found = re.search(r'<pre id="measured">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    import html

    return json.loads(html.unescape(found.group(1)))


@needs_browser
@pytest.mark.parametrize("width", [800, 1400])
def test_no_text_of_a_plot_is_cut_off(tmp_path, width):
    """A long structure name ran off the plot's left edge (its label number lost), and a row's note of
    '10 inf, 10 NaN' off its right edge; every text must lie inside its plot."""
    texts = _drawn_texts(report_html(_rows()), tmp_path, width)
    assert len(texts) > 20
    cut = [t for t in texts if min(t["left"], t["right"], t["top"], t["bottom"]) < -0.5]
    assert not cut, cut[:4]
    shown = {t["text"] for t in texts}
    assert short_title(f"2 {LONG}") in shown  # the number and the side ('_left_branch') are kept
    assert any("inf" in t and "NaN" in t for t in shown)


def test_long_titles_keep_their_number_and_their_end():
    t = short_title(f"2 {LONG}")
    assert len(t) == TITLE_CHARS and t.startswith("2 portal") and t.endswith("left_branch") and "\u2026" in t
    assert short_title("3 kidney_left") == "3 kidney_left"
    # two names that differ only at their end stay different
    assert short_title(f"4 {LONG[:-11]}right_branch") != t


def _cards(text):
    return dict((what, int(n)) for n, what in re.findall(r'<div class="card[^"]*"><b>(\d+)</b>([^<]+)', text))


def test_a_cap_does_not_hide_the_infinite_values():
    """With --cap-inf the summary said '0 inf values' and flagged no mean, though every missed
    structure's distance had been replaced by the cap: the counts of what the cap replaced are shown."""
    rows = _rows()
    n_inf = sum(1 for r in rows if r["value"] == math.inf)
    assert n_inf == 20
    plain, capped = report_html(rows), report_html(rows, cap_inf="diagonal")
    assert _cards(plain)["inf values"] == n_inf
    assert _cards(capped)["inf values, capped"] == n_inf
    means = capped.split('class="means"')[1].split("</table>")[0]
    assert f"({n_inf} inf capped)" in means  # the hd95 mean of the missed structure, and of 'all'
    plots = capped.split('id="distributions"')[1].split("</section>")[0]
    assert f"{n_inf} inf capped" in plots  # the plot's note at the right of that row


@needs_browser
def test_a_cap_does_not_hide_the_infinite_values_in_the_browser(tmp_path):
    page = tmp_path / "capped.html"
    page.write_text(report_html(_rows(), cap_inf=5.0), encoding="utf-8")
    proc = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=60)
    assert _cards(proc.stdout).get("inf values, capped") == 20, proc.stdout[:2000]


def _pair_group(title, base, new, mean_diff):
    return {"title": title, "base": np.array(base, float), "new": np.array(new, float), "mean_diff": mean_diff,
            "ci_low": math.nan, "ci_high": math.nan}


def test_paired_plots_declare_the_cases_they_cannot_draw():
    """A case whose new prediction is empty (hd inf in new) vanished from both paired plots and the
    mean change, +inf, read 'undefined': the plot now counts those cases and gives the sign."""
    svg = paired_svg(0, "hd", "mm", [
        _pair_group("1 liver", [2.0, 3.0, 4.0], [2.5, math.inf, 4.0], math.inf),
        _pair_group("2 spleen", [1.0, math.nan, 2.0], [1.5, 1.0, 2.0], 0.25),
        _pair_group(f"3 {LONG}", [1.0, 2.0], [1.0, 2.0], 0.0),
    ])
    texts = [re.sub(r"\s+", " ", t).strip() for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)]
    joined = " | ".join(texts)
    assert "mean change +inf" in joined and "mean change undefined" not in joined
    assert "1 inf in new (not drawn)" in joined and "1 NaN (not drawn)" in joined
    assert "2 cases with inf or NaN not drawn" in joined
    assert short_title(f"3 {LONG}") in joined and f"3 {LONG}" not in joined
