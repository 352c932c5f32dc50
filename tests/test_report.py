"""The HTML report (issue 15): ``fastseg report``, ``evaluate --report``, ``compare --report``,
``fastseg demo``.

Structural tests always run where matplotlib is installed (the ``report`` extra, in ``.[test]``):
the HTML is parsed and must hold its sections, one box per structure and metric, every case id,
the error rows and empty states, the options and definitions, and nothing that refers outside the
file. A browser test renders it in headless Chromium (skipped when none is on PATH; see
CONTRIBUTING.md) and checks on the screenshot that the plots and the table were drawn.
"""
import html.parser
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastseg import cohort as C
from fastseg.cli import main

from tests.conftest import save_nifti, write_cohort

NAMES = {1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right", 5: "lesion"}


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib", reason="the report needs the report extra (matplotlib)")


class Page(html.parser.HTMLParser):
    """What a structural test needs from a page: sections, figures, ids, table cells per section,
    every attribute naming another resource, the style sheet."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.sections, self.figures, self.ids, self.cells, self.refs, self.rows = [], [], set(), {}, [], []
        self.section = None
        self.in_cell = self.in_style = False
        self.style = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "section":
            self.section = a.get("id")
            self.sections.append(self.section)
        if tag == "figure":
            self.figures.append(a)
        if tag == "tr":
            self.rows.append((self.section, a.get("class", "")))
        self.in_cell = tag in ("td", "th") or (self.in_cell and tag not in ("tr",))
        self.in_style = tag == "style"
        for key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            if key in a:
                self.refs.append(a[key])

    def handle_data(self, data):
        if self.in_style:
            self.style += data
        elif self.in_cell and self.section:
            self.cells.setdefault(self.section, []).append(data.strip())


def assert_self_contained(text):
    """No address outside the file: every src/href is a fragment or data, no http(s), no CSS url()."""
    page = Page(text)
    assert all(ref.startswith(("#", "data:")) for ref in page.refs), [r for r in page.refs if not r.startswith("#")][:5]
    assert not re.search(r"(?i)\b(?:https?|ftp)://", text)
    assert not re.search(r"(?i)\burl\s*\(|@import", page.style)
    assert "<script" not in text.lower() and "<link" not in text.lower()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A cohort with a missed structure (inf distances, NaN precision), a case without reference (an
    error row), names and a region; its results file with the options record."""
    from fastseg.phantom import phantom_pair

    root = tmp_path_factory.mktemp("report")
    pred, ref = write_cohort(root, n=3)
    p, r, _ = phantom_pair(shape=(24, 32, 32), seed=7)
    p[p == 5] = 0
    save_nifti(pred / "miss.nii.gz", p)
    save_nifti(ref / "miss.nii.gz", r)
    save_nifti(pred / "lonely.nii.gz", p)
    out = root / "results.csv"
    res = C.evaluate_cohort(C.pair_folders(pred, ref), tolerance=2.0, metrics=["dice", "hd95", "nsd", "tp"],
                            names=NAMES, regions={"kidneys": [3, 4]}, out=out, threads=1)
    return root, out, res


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    pytest.importorskip("matplotlib")
    _, out, _ = run
    path = tmp_path_factory.mktemp("html") / "report.html"
    assert main(["report", str(out), "-o", str(path)]) == 0
    return path.read_text(encoding="utf-8")


def test_sections_plots_cases_and_nothing_external(run, report):
    _, _, res = run
    page = Page(report)
    assert page.sections == ["summary", "distributions", "cases", "options"]
    metrics, structures = ["dice", "hd95", "nsd@2", "tp"], 6
    assert [f["data-metric"] for f in page.figures] == metrics
    for i, _ in enumerate(metrics):  # one box (or a note where nothing is finite) per structure and metric
        assert {f"box-{i}-{j}" for j in range(structures)} <= page.ids
        assert f"box-{i}-{structures}" not in page.ids
    cases = page.cells["cases"]
    for cid in res.case_ids:
        assert cid in cases
    assert_self_contained(report)


def test_cases_worst_first_with_errors_and_empty_states(report):
    page = Page(report)
    rows = [cls for section, cls in page.rows if section == "cases"][1:]  # after the head
    assert rows[0] == "error"  # the case without reference first
    cells = page.cells["cases"]
    assert any("error:" in c and "missing ref" in c for c in cells)
    assert "pred_empty" in cells  # the missed lesion, shaded, right after the errors (Dice 0)
    assert rows[1] == "pred_empty"
    assert cells.index("pred_empty") < cells.index("none")
    dice = [float(c) for c in re.findall(r'<td class="key">([0-9.e-]+)', report)]
    assert dice == sorted(dice) and len(dice) > 10


def test_summary_counts_options_and_definitions(run, report):
    _, _, res = run
    page = Page(report)
    summary = " ".join(page.cells["summary"])
    assert "1 liver" in summary and "kidneys" in summary and "all" in summary
    s = C.summarize(res.rows)
    n_inf = sum(x["n_inf"] for x in s["per_label"])
    assert n_inf == 1  # hd95 of the missed lesion
    for n, what in ((n_inf, "inf values"), (s["n_errors"], "errors"), (0, "NaN values"), (0, "both-empty values")):
        assert re.search(rf"<b>{n}</b>{what}", report), what
    lesion_hd95 = next(x for x in s["per_label"] if (x["metric"], x["label"]) == ("hd95", 5))
    assert lesion_hd95["mean"] == float("inf") and "(1 inf)" in report
    options = " ".join(page.cells.get("options", [])) + report.split('id="options"')[1]
    for text in ("1 = liver", "kidneys = 3, 4", "dice, hd95, nsd@2, tp", "surfaces within 2 mm", "true positives",
                 "pred_empty", "area-weighted nearest rank"):
        assert text in options, text


def test_report_defaults_cap_sort_and_wide(run, mpl, tmp_path, capsys):
    _, out, _ = run
    copy = tmp_path / "res.csv"
    copy.write_bytes(out.read_bytes())
    assert main(["report", str(copy), "--sort-by", "hd95", "--cap-inf", "diagonal", "--wide", str(tmp_path / "w.csv"),
                 "--title", "Liver study"]) == 0
    assert f"report: {tmp_path / 'res.html'}" in capsys.readouterr().out
    text = (tmp_path / "res.html").read_text()
    assert "<title>Liver study</title>" in text
    assert "not recorded (no RESULTS.options.json" in text  # the copy has no options record
    assert "capped at each case" in text and "sorted by hd95, worst first (highest first)" in text
    assert (tmp_path / "w.csv").read_text().startswith("case_id,label,name,empty_state,convention,spacing,shape,dice")


@pytest.mark.parametrize("argv, words", [
    (["report", "{out}", "-o", "{out}"], ["--out", "is one of the run's input files"]),
    (["report", "{out}", "-o", "{opts}"], ["--out", "is one of the run's input files"]),
    (["report", "{out}", "-o", "{root}"], ["--out", "is a folder"]),
    (["report", "{root}/nowhere.csv"], ["cannot read the results file"]),
    (["report", "{bad}"], ["is not a fastseg results file"]),
    (["report", "{empty}"], ["holds no complete case"]),
    (["report", "{out}", "-o", "{root}/x.html", "--sort-by", "hd"], ["sort_by 'hd' is not a metric", "dice, hd95"]),
    (["report", "{out}", "-o", "{root}/x.html", "--cap-inf", "big"], ["--cap-inf"]),
])
def test_report_usage_errors_exit_2(run, mpl, argv, words, tmp_path, capsys):
    root, out, _ = run
    bad, empty = tmp_path / "bad.csv", tmp_path / "empty.csv"
    bad.write_text("a,b\n1,2\n")
    empty.write_text(",".join(C.COLUMNS) + "\n")
    argv = [a.format(out=out, root=root, opts=str(out) + ".options.json", bad=bad, empty=empty) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err


def test_without_matplotlib_the_report_is_refused_before_the_run(cohort3, tmp_path, monkeypatch, capsys):
    """No report extra: --report is a usage error before any case runs; the message says what to install."""
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    pred, ref = cohort3
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--report", str(tmp_path / "r.html")]) == 2
    assert "pip install 'fastseg[report]'" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_and_compare_write_reports(run, mpl, tmp_path, capsys):
    root, out, _ = run
    pred, ref = root / "pred", root / "ref"
    new_pred = tmp_path / "pred"
    new_pred.mkdir()
    from fastseg.io import load

    for f in sorted(pred.glob("*.nii.gz")):
        a = np.asarray(load(f).array)
        save_nifti(new_pred / f.name, np.roll(a, 1, axis=2))
    new_out, rep, wide = tmp_path / "new.csv", tmp_path / "new.html", tmp_path / "new_wide.csv"
    code = main(["evaluate", str(new_pred), str(ref), "--tolerance", "2", "--metrics", "dice,hd95,nsd,tp",
                 "--label-names", ",".join(f"{k}={v}" for k, v in NAMES.items()), "--regions", "kidneys=3,4",
                 "--out", str(new_out), "--report", str(rep), "--wide", str(wide), "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 3 and f"report: {rep}" in err and "wide table" in err  # 3: the lonely case errored
    assert Page(rep.read_text()).sections == ["summary", "distributions", "cases", "options"]
    cmp = tmp_path / "cmp.html"
    assert main(["compare", str(out), str(new_out), "--report", str(cmp), "--max-drop", "dice=0.01"]) in (0, 1)
    text = cmp.read_text()
    page = Page(text)
    assert page.sections == ["summary", "paired", "cases", "options"]
    assert [f["data-metric"] for f in page.figures] == ["dice", "hd95", "nsd@2", "tp"]
    for i in range(4):
        assert {f"pair-{i}-{j}" for j in range(6)} | {f"ci-{i}-{j}" for j in range(6)} <= page.ids
    assert "bootstrap 95% interval" in text and "case_00" in " ".join(page.cells["cases"])
    assert_self_contained(text)
    assert main(["compare", str(out), str(new_out), "--report", str(out)]) == 2
    assert "is one of the run's input files" in capsys.readouterr().err


def test_demo_keeps_its_cohort_and_report(mpl, tmp_path, capsys):
    keep = tmp_path / "demo"
    assert main(["demo", "--cases", "2", "--keep", str(keep)]) == 0
    out = capsys.readouterr().out
    for name in ("results.csv", "results_wide.csv", "summary.json", "report.html", "pred", "ref"):
        assert (keep / name).exists(), name
    tail = out.rstrip().splitlines()[-4:]
    assert tail[0].startswith("measured:") and "1 liver" in tail[0] and "hd95" in tail[1] and "IQR" in tail[2]
    assert tail[3].startswith(f"report: {keep / 'report.html'}")
    assert json.loads((keep / "results.csv.options.json").read_text())["options"]["names"]["5"] == "lesion"


# ------------------------------------------------------------------------------------- in a browser

def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _screenshot(browser, page, png, size=(1280, 2400)):
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert png.exists(), proc.stderr[-2000:]
    import matplotlib.image

    return (matplotlib.image.imread(png)[..., :3] * 255).round().astype(int)


def _near(img, hexcolour, tol=18):
    rgb = np.array([int(hexcolour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(img - rgb) <= tol, axis=-1)


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on PATH (apt-get install chromium)")
def test_the_report_renders_in_a_browser(run, report, tmp_path):
    """The page as a person sees it: the plots drew boxes and points (colours found only in the plots:
    the same page with the SVG removed has none), and the case table is there."""
    page = tmp_path / "report.html"
    page.write_text(report, encoding="utf-8")
    img = _screenshot(_chromium(), page, tmp_path / "report.png")
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<svg.*?</svg>", "", report, flags=re.S), encoding="utf-8")
    control = _screenshot(_chromium(), bare, tmp_path / "bare.png")
    boxes, points = _near(img, "#cfe0f5", 4), _near(img, "#2f6db3", 40)
    assert boxes.sum() > 2000 and points.sum() > 50, (boxes.sum(), points.sum())
    assert _near(control, "#cfe0f5", 4).sum() < 50 and _near(control, "#2f6db3", 40).sum() < 10
    rows = np.nonzero(boxes.any(axis=1))[0]
    assert rows.max() - rows.min() > 300  # plots down the page, not one spot
    # each plot region is drawn, not blank: ink (dark pixels) in the band of rows holding boxes
    band = img[rows.min():rows.max()]
    assert (band.sum(axis=-1) < 300).mean() > 0.005
    header = _near(img, "#1f3b57", 4)
    assert header[:40].mean() > 0.5  # the header band
    assert (img.std(axis=(1, 2)) > 0).mean() > 0.5  # most rows of the page carry something


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on PATH (apt-get install chromium)")
def test_the_case_table_renders_in_a_browser(report, tmp_path):
    """The cases section alone: a table of text rows (dark text on alternating backgrounds) and the
    error row's colour."""
    cases = report.split('<section id="cases">')[1].split("</section>")[0]
    head = report.split("<main>")[0]
    page = tmp_path / "cases.html"
    page.write_text(head + '<main><section id="cases">' + cases + "</section></main></body></html>", encoding="utf-8")
    img = _screenshot(_chromium(), page, tmp_path / "cases.png", size=(1280, 900))
    assert _near(img, "#fdecea", 4).sum() > 2000  # the error row
    assert _near(img, "#fff4e5", 4).sum() > 2000  # the missed structure's row
    text_rows = (img.sum(axis=-1) < 250).any(axis=1)
    assert text_rows.sum() > 150  # many lines of text
