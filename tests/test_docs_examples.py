"""What README.md and docs/*.md (except the benchmark record) tell a user, checked against the code:

- every ``fastseg ...`` command they show parses with the real argument parser (an option that does
  not exist, or a value it refuses, fails here), every ``--option`` they name exists, and every
  ``pip install -e ".[extra]"`` names an extra of ``pyproject.toml``;
- the README's cohort commands run on a small NIfTI cohort and exit as documented; ``fastseg demo
  --keep DIR`` writes the files the README lists;
- the README's DICOM / RTSTRUCT snippets run as printed (``dicom`` extra);
- every public name of ``fastseg`` and every subcommand is documented, and each signature and CLI
  default that ``docs/api.md`` states is the code's;
- the README's doctests pass (they also run in the full suite through ``--doctest-glob``).
"""
import argparse
import doctest
import inspect
import os
import re
import shlex
import types
from pathlib import Path

import numpy as np
import pytest

import fastseg
from fastseg.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
API = ROOT / "docs" / "api.md"
#: the files whose claims are checked here (docs/benchmarks.md is the benchmark record: not a guide)
DOCS = [README] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "benchmarks.md")


def _text(path):
    return path.read_text(encoding="utf-8")


def _blocks(path):
    """``(language, text)`` of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", _text(path), flags=re.M | re.S)


def _prose(path):
    """The text outside fenced code blocks."""
    return re.sub(r"^```\w*\n.*?^```", "", _text(path), flags=re.M | re.S)


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


def _commands():
    """Every ``fastseg SUBCOMMAND ...`` the docs show: in shell code blocks (continuations joined,
    comments dropped, ``&&`` chains split) and in inline code. ``(file, text)``."""
    found = []
    for path in DOCS:
        for lang, block in _blocks(path):
            if lang not in ("", "bash", "sh", "console"):
                continue
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    part = re.sub(r"\s#.*$", "", part).strip()
                    if part.startswith("fastseg "):
                        found.append((path.name, part))
        for span in re.findall(r"`([^`\n]+)`", _prose(path)):
            if span.startswith("fastseg ") and span.split()[1:2] and not span.split()[1].startswith("."):
                found.append((path.name, span))
    return found


def _argv(command):
    return [w for w in shlex.split(command)[1:] if w != "..."]


# ------------------------------------------------------------------------- commands and options

def test_docs_show_commands():
    assert len(_commands()) >= 15  # the extraction itself works


@pytest.mark.parametrize("where, command", _commands())
def test_documented_command_parses(where, command):
    parser, subs = _subparsers()
    argv = _argv(command)
    if re.fullmatch(r"[A-Z]+", argv[0]):  # "fastseg COMMAND --help"
        return
    assert argv[0] in subs, f"{where}: `{command}`: no subcommand {argv[0]!r} (there are {sorted(subs)})"
    needs_positionals = any(a.option_strings == [] and a.nargs is None for a in subs[argv[0]]._actions)
    if len(argv) == 1 and needs_positionals:
        return  # the bare command name in prose ("`fastseg compare`")
    metavar = any(re.fullmatch(r"[A-Z][A-Z_0-9]*", w) and argv[i - 1].startswith("--") for i, w in enumerate(argv))
    if metavar:  # "--lesions RULE": a placeholder, not a value; the option names must exist
        known = {s for a in subs[argv[0]]._actions for s in a.option_strings}
        unknown = [w.partition("=")[0] for w in argv if w.startswith("-") and w.partition("=")[0] not in known]
        assert not unknown, f"{where}: `{command}`: fastseg {argv[0]} has no option {unknown}"
        return
    try:
        parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `{command}` is refused by fastseg's argument parser (see its stderr above)")


def _all_options():
    _, subs = _subparsers()
    return {s for p in subs.values() for a in p._actions for s in a.option_strings}


#: options of other programs the docs name, with the file that defines them
OTHER_OPTIONS = {"--kernels": "bench/coldstart.py"}


def test_every_option_named_in_the_docs_exists():
    options = _all_options()
    for path in DOCS:
        for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", _text(path)))):
            if opt in options:
                continue
            owner = OTHER_OPTIONS.get(opt)
            assert owner and f'"{opt}"' in _text(ROOT / owner), f"{path.name} names {opt}, which no command has"


def test_pip_extras_exist():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = set(tomllib.loads(_text(ROOT / "pyproject.toml"))["project"]["optional-dependencies"])
    named = {e for path in DOCS for group in re.findall(r'"\.\[([\w,]+)\]"', _text(path)) for e in group.split(",")}
    assert named, "no pip install -e \".[extra]\" found"
    assert named <= extras, f"extras named in the docs but not in pyproject.toml: {named - extras}"


def test_every_subcommand_is_documented():
    _, subs = _subparsers()
    readme = _text(README)
    for name in subs:
        assert f"fastseg {name}" in readme, f"the README never shows `fastseg {name}`"


# ------------------------------------------------------------------------- public API and defaults

def _public_names():
    names = getattr(fastseg, "__all__", None) or [
        n for n in vars(fastseg) if not n.startswith("_") and not isinstance(getattr(fastseg, n), types.ModuleType)]
    return sorted(names)


def test_every_public_name_is_documented():
    text = _text(README) + _text(API)
    missing = [n for n in _public_names() if f"fastseg.{n}" not in text]
    assert not missing, f"public names that neither README.md nor docs/api.md mentions: {missing}"


def _documented_signatures():
    """``(dotted name, parameter text)`` of every `` `fastseg.NAME(...)` `` in docs/api.md."""
    out = []
    for name, params in re.findall(r"`(fastseg(?:\.\w+)+)\(([^`]*)\)`", _text(API)):
        if params.strip() != "...":
            out.append((name, params))
    return out


def _resolve(dotted):
    """What a user reaches by ``dotted``: attributes first (``fastseg.evaluate`` is the function), a
    submodule (``fastseg.io``) imported when it is not yet an attribute."""
    import importlib

    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, attr in enumerate(parts[1:], start=2):
        obj = getattr(obj, attr) if hasattr(obj, attr) else importlib.import_module(".".join(parts[:i]))
    return obj


def _parse_params(text):
    """``[(name, kind, default text or None)]`` of a documented parameter list."""
    out, kw_only = [], False
    depth, cur, items = 0, "", []
    for ch in text:  # split at top-level commas (defaults may be tuples)
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    for item in items:
        if item == "*":
            kw_only = True
            continue
        name, _, default = item.partition("=")
        out.append((name.strip(), "kw" if kw_only else "pos", default.strip() or None))
    return out


@pytest.mark.parametrize("name, params", _documented_signatures())
def test_documented_signature_is_the_codes(name, params):
    """Each documented parameter exists, in the documented order, with the documented default and
    kind (keyword-only after ``*``); every required parameter of the code is documented."""
    sig = inspect.signature(_resolve(name))
    code = list(sig.parameters.values())
    doc = _parse_params(params)
    order = [p.name for p in code]
    for pname, kind, default in doc:
        assert pname in sig.parameters, f"docs/api.md: {name} has no parameter {pname!r} ({sig})"
        p = sig.parameters[pname]
        assert (p.kind == p.KEYWORD_ONLY) == (kind == "kw"), f"docs/api.md: {name}: {pname} keyword-only? ({sig})"
        if default is None:
            assert p.default is p.empty, f"docs/api.md: {name}: {pname} has the default {p.default!r} ({sig})"
        else:
            assert p.default is not p.empty and repr(p.default) == default, (
                f"docs/api.md: {name}: {pname}={default}, but the code's default is {p.default!r} ({sig})")
    positions = [order.index(pname) for pname, _, _ in doc]
    assert positions == sorted(positions), f"docs/api.md: {name}: parameters out of order ({sig})"
    required = {p.name for p in code if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    assert required <= {n for n, _, _ in doc}, f"docs/api.md: {name} leaves out required {required - {n for n, _, _ in doc}}"


def test_api_page_covers_signatures():
    names = {n for n, _ in _documented_signatures()}
    funcs = {f"fastseg.{n}" for n in _public_names()
             if callable(getattr(fastseg, n)) and not isinstance(getattr(fastseg, n), type)}
    # jaccard and sensitivity are the same functions as iou and recall, shown as such
    aliases = {"fastseg.jaccard", "fastseg.sensitivity"}
    assert funcs - aliases <= names, f"functions without a signature in docs/api.md: {sorted(funcs - aliases - names)}"


def _cli_defaults():
    """``(command, option, value)`` of the `` `--opt VALUE` `` entries in docs/api.md's command table."""
    out = []
    for line in _text(API).splitlines():
        m = re.match(r"\| `fastseg (\w+)[^`]*` \|[^|]*\|(.*)\|\s*$", line)
        if m:
            out += [(m.group(1), o, v) for o, v in re.findall(r"`(--[\w-]+) ([^`\s]+)`", m.group(2))]
    return out


@pytest.mark.parametrize("command, option, value", _cli_defaults())
def test_documented_cli_default(command, option, value):
    _, subs = _subparsers()
    action = next(a for a in subs[command]._actions if option in a.option_strings)
    default = action.default
    if default is None:  # resolved when the command runs: the help must say it
        assert f"default {value}" in (action.help or ""), f"{command} {option}: documented default {value}, help: {action.help!r}"
    elif isinstance(default, float):
        assert default == float(value), f"{command} {option}: default {default}, documented {value}"
    else:
        assert str(default) == value, f"{command} {option}: default {default!r}, documented {value}"


def test_evaluate_default_metrics_as_documented():
    """docs/api.md and `--metrics`' help: Dice, IoU, precision, recall, HD, HD95, ASSD, MASD, and NSD
    when a tolerance is given."""
    ref = np.zeros((8, 8), np.uint8)
    ref[2:5, 2:5] = 1
    default = ["dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd"]
    assert fastseg.evaluate(ref, ref).metrics == default
    assert fastseg.evaluate(ref, ref, tolerance=2.0).metrics == default + ["nsd@2"]
    assert "dice,iou,precision,recall,hd,hd95,assd,masd and nsd" in " ".join(
        next(a for a in _subparsers()[1]["evaluate"]._actions if "--metrics" in a.option_strings).help.split())


def test_registry_import_as_documented():
    from fastseg.evaluate import REGISTRY

    assert {"dice", "hdNN", "nsd", "apl", "fbeta", "tversky"} <= set(REGISTRY)
    assert not hasattr(fastseg.evaluate, "REGISTRY")  # the README says why the import is needed


# ------------------------------------------------------------------------- running the examples

def test_readme_doctests():
    failed, attempted = doctest.testfile(str(README), module_relative=False, verbose=False)
    assert attempted > 10 and failed == 0


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Three small phantom cases as preds/ and refs/, the README's folder names."""
    from tests.conftest import write_cohort

    root = tmp_path_factory.mktemp("docs_cohort")
    pred, ref = write_cohort(root, n=3, shape=(12, 24, 24))
    os.rename(pred, root / "preds")
    os.rename(ref, root / "refs")
    return root


def _run(root, command):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return main(_argv(command))
    finally:
        os.chdir(cwd)


def test_readme_cohort_commands_run(cohort, capsys):
    """The README's "Cohorts" and "Reports" commands, as printed (each example is independent: an
    existing --out is overwritten), on a small cohort; exit 0, or 1 for a gate that fails."""
    try:
        import matplotlib  # noqa: F401
        has_mpl = True
    except ImportError:
        has_mpl = False
    (cohort / "dataset.json").write_text('{"labels": {"background": 0, "liver": 1, "spleen": 2, "kidneys": [3, 4], '
                                         '"lesion": 5}, "file_ending": ".nii.gz"}')
    cmds = [c for _, c in _commands() if c.startswith("fastseg evaluate preds/ refs/")]
    assert len(cmds) >= 4
    for c in cmds:
        if "--report" in c and not has_mpl:
            continue
        code = _run(cohort, c + (" --overwrite" if "--out" in c else ""))
        gated = "--fail-under" in c or "--fail-over" in c
        assert code in ((0, 1) if gated else (0,)), f"`{c}` exited {code}: {capsys.readouterr().err}"
    assert "dice" in capsys.readouterr().out
    assert (cohort / "results.csv").exists() and (cohort / "summary.json").exists()
    assert "2.5x0.8x0.8" in (cohort / "results_wide.csv").read_text()  # "spacing printed as 2.5x0.8x0.8"
    for name in ("baseline.csv", "new.csv"):
        (cohort / name).write_bytes((cohort / "results.csv").read_bytes())
        (cohort / (name + ".options.json")).write_bytes((cohort / "results.csv.options.json").read_bytes())
    later = [c for _, c in _commands() if c.startswith(("fastseg compare baseline.csv", "fastseg report results.csv"))]
    assert len(later) >= 3
    for c in later:
        if ("--report" in c or c.startswith("fastseg report")) and not has_mpl:
            continue
        assert _run(cohort, c) == 0, f"`{c}`: {capsys.readouterr().err}"


def test_gate_on_a_label_name_and_exit_codes(cohort, capsys):
    assert _run(cohort, "fastseg evaluate preds/ refs/ --label-names 1=liver,2=spleen --fail-under dice:liver=0.1") == 0
    assert _run(cohort, "fastseg evaluate preds/ refs/ --label-names 1=liver,2=spleen --fail-under dice:liver=0.9999") == 1
    # a gate that names nothing scored is a usage error (README: "a gate never passes on nothing")
    assert _run(cohort, "fastseg evaluate preds/ refs/ --fail-under lesion_f1=0.8") == 2
    assert "lesion_f1" in capsys.readouterr().err


def test_explain_as_documented(cohort, capsys):
    assert _run(cohort, "fastseg explain preds/case_00.nii.gz refs/case_00.nii.gz --label 3 --tolerance 2") == 0
    out = capsys.readouterr().out
    for preset in ("fastseg", "deepmind", "monai", "plastimatch", "panoptica"):
        assert preset in out


def test_demo_keep_writes_what_the_readme_lists(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--cases", "1", "--keep", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for name in ("pred", "ref", "results.csv", "results_wide.csv", "summary.json", "report.html"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "report.html" in out  # "whose path it prints"
    assert "measured:" in out  # "explained in three lines"


# ------------------------------------------------------------------------- DICOM snippets

def _python_blocks_with(word):
    return [b for lang, b in _blocks(README) if lang == "python" and word in b and ">>>" not in b]


@pytest.fixture(scope="module")
def rt_case(tmp_path_factory):
    """case01/CT (a CT series), case01/RS.dcm (BODY, Heart, SpinalCord: overlapping ROIs) and
    case01/ai_seg.dcm (a SEG of Heart and SpinalCord); and the same case as the cohort snippet's
    ai/case01.dcm and rt/case01/ (series and RS.dcm together)."""
    pytest.importorskip("pydicom", minversion="3.0")
    from tests.test_dicom import at, write_rtstruct, write_seg, write_series

    root = tmp_path_factory.mktemp("rt")
    shape = (24, 24, 5)
    square = lambda x0, x1, y0, y1: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]  # noqa: E731
    rois = {"BODY": [at(square(0.5, 16.0, 0.5, 16.0), k) for k in range(1, 4)],
            "Heart": [at(square(3.3, 9.1, 3.1, 9.5), k) for k in range(1, 3)],
            "SpinalCord": [at(square(11.3, 14.1, 10.1, 13.5), k) for k in range(1, 4)]}
    label = np.zeros(shape, np.uint8)
    label[5:12, 5:12, 1:3] = 1
    label[18:22, 13:17, 1:4] = 2
    for series_dir, rs, seg in [(root / "case01" / "CT", root / "case01" / "RS.dcm", root / "case01" / "ai_seg.dcm"),
                                (root / "rt" / "case01", root / "rt" / "case01" / "RS.dcm", root / "ai" / "case01.dcm")]:
        info = write_series(series_dir, np.zeros(shape, np.int16))
        write_rtstruct(rs, info, rois)
        seg.parent.mkdir(parents=True, exist_ok=True)
        write_seg(seg, label, {1: "Heart", 2: "SpinalCord"}, series=info)
    return root


def test_readme_dicom_snippet_runs(rt_case, monkeypatch):
    (block,) = _python_blocks_with("load_structures(")
    monkeypatch.chdir(rt_case)
    ns = {}
    exec(compile(block, "README.md (DICOM snippet)", "exec"), ns)
    assert ns["pred"].names == {1: "Heart", 2: "SpinalCord"} == ns["ref"].names
    assert ns["body_and_organs"].names == ["BODY", "Heart", "SpinalCord"]
    assert ns["body_and_organs"].mask(0).shape == ns["ref"].array.shape
    from fastseg.io import ReadError, load

    with pytest.raises(ReadError, match="overlap"):  # "load refuses them"
        load("case01/RS.dcm", reference="case01/CT")


@pytest.mark.filterwarnings("ignore:apl. slices along the last axis:UserWarning")  # see the next test
def test_readme_cohort_snippet_runs(rt_case, monkeypatch):
    (block,) = _python_blocks_with("evaluate_cohort(")
    monkeypatch.chdir(rt_case)
    ns = {}
    exec(compile(block.replace("fastseg.evaluate_cohort(", "result = fastseg.evaluate_cohort(", 1),
                 "README.md (cohort snippet)", "exec"), ns)
    result = ns["result"]
    assert not result.errors
    names = {r["name"] for r in result.rows}
    assert {"BODY", "Heart", "SpinalCord"} <= names  # BODY on one side only: scored as a miss, never dropped


def test_readme_cohort_snippet_warns_about_nothing(rt_case, monkeypatch):
    """The README's cohort snippet on DICOM cases (slices along the last axis, as fastseg.io gives
    them) warns about nothing. Before: the cohort warm-up scored a (2.5, 0.8, 0.8) mm phantom and gave
    every run with an APL metric apl's slice-axis warning, about the phantom, not the user's data."""
    import warnings

    (block,) = _python_blocks_with("evaluate_cohort(")
    monkeypatch.chdir(rt_case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(block, "README.md (cohort snippet)", "exec"), {})
