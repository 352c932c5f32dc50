"""The ``fastseg`` command line: ``evaluate`` (a cohort of files), ``compare`` (two runs), ``demo``."""
import argparse
import math
import os
import sys
import tempfile
import textwrap
import time

from ._output import SafeStdout, check_new_output, write_json_atomic
from .demo import DEMO_SHAPE, DEMO_SPACING, write_demo_cohort
from ._version import __version__

__all__ = ["main", "build_parser", "write_demo_cohort", "EXIT_CODES", "UsageError"]

#: exit statuses (documented in ``fastseg --help`` and each command's help)
EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_CASE_ERRORS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = """\
exit status:
  0  success: every case scored and every gate passed
  1  a gate failed: a --fail-under/--fail-over threshold was not met
  2  usage error: bad arguments or options (a gate threshold the metric cannot reach, a gate on a
     label or region that no case has), unreadable manifest, output exists (without
     --resume/--overwrite), output is one of the inputs, another run is writing --out; or an
     output cannot be written (full disk, read-only folder): the message names the file, and
     every finished case is in --out (continue with --resume)
  3  case errors: at least one case could not be scored (missing partner, unreadable or corrupt
     file, shape or geometry mismatch, invalid labels); its error row is in the output. Takes
     precedence over 1, since gates were then computed on fewer cases.
  130 interrupted (Ctrl-C); finished cases are in the output, continue with --resume
"""

COMPARE_EXIT_CODES = """\
exit status:
  0  no regression: NEW scored every case BASELINE scored, and no --max-drop/--max-rise limit is
     exceeded
  1  a regression: a limit is exceeded, or the change it limits is undefined (two infinite means:
     use --cap-inf diagonal)
  2  usage error: bad arguments, a limit the metric cannot take, an unreadable BASELINE or NEW,
     no case in common, or --json cannot be written
  3  incomplete: cases scored in BASELINE are missing from NEW or are error rows there (listed);
     a comparison on fewer cases never passes. Takes precedence over 1.
"""


class UsageError(Exception):
    """A command-line usage problem: printed as ``fastseg CMD: error: ...``, exit status 2."""


# ------------------------------------------------------------------------------------- parsing helpers

def _split(values):
    """Repeated and/or comma-separated option values -> a flat list of non-empty strings."""
    out = []
    for val in values or []:
        out.extend(x.strip() for x in str(val).split(",") if x.strip())
    return out


def _parse_labels(text):
    if text is None or text.strip().lower() == "auto":
        return None
    try:
        labels = [int(x) for x in _split([text])]
    except ValueError:
        raise UsageError(f"--labels expects 'auto' or integers such as 1,2,3; got {text!r}.") from None
    if not labels or min(labels) < 0:
        raise UsageError(f"--labels expects non-negative integers such as 1,2,3; got {text!r}.")
    return labels


def _parse_regions(specs):
    regions = {}
    for spec in specs or []:
        name, sep, members = spec.partition("=")
        name = name.strip()
        try:
            labels = [int(x) for x in _split([members])]
        except ValueError:
            labels = []
        if not sep or not name or not labels or min(labels) < 0:
            raise UsageError(f"--regions expects NAME=LABEL,LABEL,... (e.g. whole_tumor=1,2,3); got {spec!r}.")
        if name.isdigit():
            raise UsageError(f"--regions: a region name must not be a number (it would read as a label); got {name!r}.")
        regions[name] = labels
    return regions or None


def _parse_floats(values, option):
    out = []
    for x in _split(values):
        try:
            out.append(float(x))
        except ValueError:
            raise UsageError(f"{option} expects numbers (mm), comma-separated or repeated; got {x!r}.") from None
    return out or None


def _parse_cap(text):
    if text is None:
        return None
    if text.lower() == "diagonal":
        return "diagonal"
    try:
        c = float(text)
    except ValueError:
        c = math.nan
    if not (math.isfinite(c) and c >= 0):
        raise UsageError(f"--cap-inf expects 'diagonal' or a number of mm; got {text!r}.")
    return c


# ------------------------------------------------------------------------------------- evaluate

def _cases_from_args(args):
    from .cohort import pair_folders, read_manifest

    if args.manifest:
        if args.pred or args.ref:
            raise UsageError("give either PRED REF folders or --manifest, not both.")
        return read_manifest(args.manifest)
    if not (args.pred and args.ref):
        raise UsageError("give PRED and REF folders, or --manifest pairs.csv.")
    return pair_folders(args.pred, args.ref)


def _gate_structures(gates, labels, regions):
    """Refuse, before the run, a gate on a label or region the run will not score (known only when
    --labels is given)."""
    for metric, label, _ in gates:
        if label is None:
            continue
        if isinstance(label, str):
            if label not in (regions or {}):
                raise UsageError(f"gate {metric}:{label}: no region named {label!r} (regions: "
                                 f"{', '.join(regions) if regions else 'none'}; see --regions).")
        elif labels is not None and label not in labels:
            raise UsageError(f"gate {metric}:{label}: label {label} is not scored (--labels "
                             f"{','.join(map(str, labels))}).")


def _announce_first_compile():
    """Say on stderr, when it happens, why the first run after an install is slow."""
    from ._kernels._jit import on_first_compile

    pid = os.getpid()

    def notice():
        if os.getpid() == pid:  # not in forked workers
            print("fastseg: compiling the numba kernels (the first run after an install or upgrade, about "
                  "15-25 s; they are cached for the next runs, in NUMBA_CACHE_DIR if set)...", file=sys.stderr,
                  flush=True)

    on_first_compile(notice)


def _cmd_evaluate(args):
    from . import cohort
    from .cohort.guard import check_output_path
    from .cohort.stats import check_thresholds
    from .evaluate import metric_names

    cases = _cases_from_args(args)
    regions = _parse_regions(args.regions)
    eval_kwargs = dict(
        labels=_parse_labels(args.labels), metrics=_split(args.metrics) or None,
        tolerance=_parse_floats(args.tolerance, "--tolerance"), convention=args.convention,
        regions=regions, ignore_label=args.ignore_label, boundary_width=args.boundary_width)
    cap = _parse_cap(args.cap_inf)
    fail_under = cohort.parse_gates(args.fail_under, "--fail-under")
    fail_over = cohort.parse_gates(args.fail_over, "--fail-over")
    check_thresholds(fail_under, "--fail-under")
    check_thresholds(fail_over, "--fail-over")
    if args.resume and not args.out:
        raise UsageError("--resume needs --out (the results file to continue).")
    inputs = [p for c in cases for p in (c.pred, c.ref)] + ([args.manifest] if args.manifest else [])
    if args.out:
        check_output_path(args.out, inputs, what="--out")
        check_new_output(args.out, resume=args.resume, overwrite=args.overwrite, flags=True)
    if args.summary:
        check_output_path(args.summary, inputs + ([args.out] if args.out else []), what="--summary")
    if args.retry_errors and not args.resume:
        raise UsageError("--retry-errors goes with --resume.")
    if args.jobs is not None and args.jobs < 0:
        raise UsageError(f"--jobs must be >= 0 (0 = one per core); got {args.jobs}.")
    if fail_under or fail_over:
        names = set(metric_names(eval_kwargs["metrics"], tolerance=eval_kwargs["tolerance"]))
        for metric, _, _ in fail_under + fail_over:
            if metric not in names:
                raise UsageError(f"gate on metric {metric!r}, which this run does not compute; "
                                 f"it computes {', '.join(sorted(names))} (see --metrics).")
        _gate_structures(fail_under + fail_over, eval_kwargs["labels"], regions)
    quiet = args.quiet
    progress = not quiet and sys.stderr.isatty()
    if not quiet:
        _announce_first_compile()
    t0 = time.perf_counter()
    result = cohort.evaluate_cohort(
        cases, jobs=args.jobs, threads=args.threads, out=args.out, resume=args.resume,
        overwrite=args.overwrite, retry_errors=args.retry_errors, fsync=args.fsync,
        geometry_tolerance=args.geometry_tolerance, check_affine=not args.no_affine_check,
        reader=args.reader, progress=progress, dask=args.dask, **eval_kwargs)
    wall = time.perf_counter() - t0
    summary = cohort.summarize(result.rows, cap_inf=cap)
    gates = cohort.check_gates(summary, fail_under, fail_over)
    timing = dict(result.timing, total_s=wall)
    if args.summary:  # before anything is printed: a closed stdout must not lose it
        try:
            write_json_atomic(args.summary, dict(summary, gates=gates, timing=timing, fastseg=__version__))
        except OSError as exc:
            raise UsageError(f"cannot write --summary {args.summary}: {exc.strerror or exc}"
                             f"{'; every case is in ' + args.out if args.out else ''}.") from None

    out = SafeStdout()
    if not quiet:
        out.say(cohort.format_summary(summary))
    if gates:
        if not quiet:
            out.say("")
        for g in gates:
            if not quiet or not g["passed"]:
                out.say(g["message"])
    for lab in summary["absent_structures"]:
        print(f"warning: {'label' if isinstance(lab, int) else 'region'} {lab} is absent from pred and ref in every "
              f"case (a typo in --labels/--regions?); its values are kept per label (both empty: Dice 1, 0 mm) and "
              f"left out of 'all'.", file=sys.stderr)
    if summary["errors"]:
        print(f"\n{len(summary['errors'])} case(s) could not be scored:", file=sys.stderr)
        for e in summary["errors"][:20]:
            print(f"  {e['case_id']}: {e['error']}", file=sys.stderr)
        if len(summary["errors"]) > 20:
            print(f"  ... and {len(summary['errors']) - 20} more (see the error rows"
                  f"{' in ' + args.out if args.out else ''}).", file=sys.stderr)
    if not quiet:
        n, busy = timing["cases_run"], timing["read_s"] + timing["evaluate_s"]
        if n:
            share = (f"; reading {100 * timing['read_s'] / busy:.0f}%, evaluating "
                     f"{100 * timing['evaluate_s'] / busy:.0f}% of case time") if busy > 0 else ""
            print(f"{n} case(s) scored in {timing['wall_s']:.2f} s ({n / max(timing['wall_s'], 1e-9):.2f} cases/s, "
                  f"{timing['jobs']} process(es) x {timing['threads']} thread(s){share}).", file=sys.stderr)
        skipped = summary["n_cases"] - n
        if args.resume and skipped > 0:
            print(f"{skipped} case(s) kept from {args.out}.", file=sys.stderr)
    if summary["n_errors"]:
        return EXIT_CASE_ERRORS
    missing = [g["gate"] for g in gates if g["missing"]]
    if missing:
        print(f"fastseg evaluate: error: no case has the label or region of the gate(s) {'; '.join(missing)}.",
              file=sys.stderr)
        return EXIT_USAGE
    if any(not g["passed"] for g in gates):
        return EXIT_GATE
    return EXIT_OK


def _add_evaluate_parser(sub):
    from .conventions import PRESETS

    p = sub.add_parser(
        "evaluate", help="score a cohort of prediction/reference files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Score every case of a cohort: PRED and REF are folders paired by file name (case.nii pairs with "
            "case.nii.gz, .nrrd, .mha...), or --manifest lists case_id,pred,ref. Spacing comes from the file "
            "headers; pairs whose shape, spacing or affine differ become error rows (the run goes on). Each "
            "finished case is appended to --out at once; --resume continues a killed run.", width=96),
        epilog=(
            "output (--out): long CSV, one row per case, label and metric: case_id,label,metric,value,\n"
            "empty_state,convention,spacing,shape,diagonal_mm,case_rows,error (error rows: metric=error).\n\n"
            "examples:\n"
            "  fastseg evaluate preds/ labels/ --tolerance 1,2 --out results.csv --summary summary.json\n"
            "  fastseg evaluate --manifest pairs.csv --labels 1,2,3 --regions whole_tumor=1,2,3 --jobs 2\n"
            "  fastseg evaluate preds/ labels/ --out results.csv --resume --fail-under dice=0.85 --fail-over hd95=5\n\n"
            + EXIT_CODES))
    p.add_argument("pred", nargs="?", metavar="PRED", help="folder of predictions")
    p.add_argument("ref", nargs="?", metavar="REF", help="folder of references (ground truth)")
    p.add_argument("--manifest", metavar="CSV", help="CSV with columns case_id,pred,ref (instead of PRED REF); "
                   "relative paths are relative to the manifest")
    g = p.add_argument_group("what to score")
    g.add_argument("--labels", default="auto", metavar="auto|L,L,...",
                   help="labels to score (default auto: every non-zero label present in either map of each case)")
    g.add_argument("--regions", action="append", metavar="NAME=L,L,...",
                   help="a union of labels scored as one structure, e.g. whole_tumor=1,2,3 (repeatable)")
    g.add_argument("--ignore-label", type=int, metavar="L",
                   help="voxels with this label in the reference are excluded everywhere")
    g.add_argument("--metrics", action="append", metavar="M,M,...",
                   help="metrics (default dice,iou,precision,recall,hd,hd95,assd,masd and nsd when --tolerance "
                        "is given); also hdNN for any percentile, nsd@T, volume_similarity, mcc, boundary_iou...")
    g.add_argument("--tolerance", action="append", metavar="MM[,MM]",
                   help="NSD tolerance(s) in mm (comma-separated or repeated)")
    g.add_argument("--convention", default="fastseg", choices=sorted(PRESETS),
                   help="distance convention (default fastseg); the others reproduce each peer library")
    g.add_argument("--boundary-width", type=float, metavar="MM", help="band width for boundary_iou")
    g = p.add_argument_group("running")
    g.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="processes scoring cases: this one and N-1 workers (default 1; 0 = one per core); "
                        "numba threads are split so that processes x threads <= cores")
    g.add_argument("--threads", type=int, metavar="N", help="numba threads per worker (default cores // jobs)")
    g.add_argument("--dask", metavar="ADDRESS",
                   help="run the cases on a dask.distributed scheduler (needs the dask extra)")
    g.add_argument("--reader", default="auto", choices=("auto", "nibabel", "simpleitk"),
                   help="file reader (default auto: nibabel for NIfTI, SimpleITK for .nrrd/.mha/.mhd)")
    g.add_argument("--geometry-tolerance", type=float, default=1e-3, metavar="MM",
                   help="largest spacing/affine difference between pred and ref (default 1e-3)")
    g.add_argument("--no-affine-check", action="store_true",
                   help="compare only shape and spacing, not origin and orientation")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="print only failed gates, warnings and errors (no table, progress bar or timing)")
    g = p.add_argument_group("output")
    g.add_argument("--out", "-o", metavar="CSV", help="results CSV, appended and flushed case by case")
    g.add_argument("--summary", metavar="JSON", help="write the per-label summary, gates and timing as JSON")
    g.add_argument("--resume", action="store_true",
                   help="keep the complete cases already in --out and run the others (refused when the "
                        "options differ from the run that wrote it: they are recorded in OUT.options.json)")
    g.add_argument("--retry-errors", action="store_true", help="with --resume: run failed cases again")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    g.add_argument("--fsync", action="store_true", help="fsync the output after every case")
    g.add_argument("--cap-inf", metavar="diagonal|MM",
                   help="in the summary and gates, replace infinite distances (an empty mask) by each case's "
                        "physical image diagonal, or by a number of mm")
    g = p.add_argument_group("gates (for CI)")
    g.add_argument("--fail-under", action="append", metavar="M[:LABEL]=X",
                   help="fail (exit 1) when the mean of M is below X: over all labels, or for one label/region, "
                        "e.g. dice=0.85 or dice:3=0.9 (repeatable, comma-separated)")
    g.add_argument("--fail-over", action="append", metavar="M[:LABEL]=X",
                   help="fail (exit 1) when the mean of M is above X, e.g. hd95=5")
    p.set_defaults(func=_cmd_evaluate)
    return p


# ------------------------------------------------------------------------------------- compare

def _cmd_compare(args):
    from . import cohort
    from .cohort.stats import check_limits

    max_drop = cohort.parse_gates(args.max_drop, "--max-drop")
    max_rise = cohort.parse_gates(args.max_rise, "--max-rise")
    check_limits(max_drop, "--max-drop")
    check_limits(max_rise, "--max-rise")
    cap = _parse_cap(args.cap_inf)
    if args.n_boot < 1:
        raise UsageError(f"--n-boot must be >= 1; got {args.n_boot}.")
    if args.json:
        from .cohort.guard import check_output_path

        check_output_path(args.json, [args.baseline, args.new], what="--json")
    base, new = (cohort.read_results(path) for path in (args.baseline, args.new))
    for name, rows in (("BASELINE", base), ("NEW", new)):
        if not rows:
            raise UsageError(f"{name} ({getattr(args, name.lower())}) holds no complete case.")
    for metric, _, _ in max_drop:
        if metric.startswith(("hd", "assd", "masd")):
            print(f"warning: --max-drop {metric}: for distances higher is worse; did you mean --max-rise?",
                  file=sys.stderr)
    res = cohort.compare(base, new, max_drop=max_drop, max_rise=max_rise, cap_inf=cap,
                         n_boot=args.n_boot, seed=args.seed, alpha=args.alpha)
    if res["n_paired"] == 0:
        raise UsageError("BASELINE and NEW have no case in common (cases are paired by case_id).")
    if args.json:
        try:
            write_json_atomic(args.json, res)
        except OSError as exc:
            raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}.") from None
    wanted = set(_split(args.metrics))
    shown = dict(res, rows=[r for r in res["rows"] if not wanted or r["metric"] in wanted])
    out = SafeStdout()
    out.say(cohort.format_comparison(shown))
    if res["missing_in_base"]:
        ids = res["missing_in_base"]
        print(f"warning: {len(ids)} case(s) not scored in BASELINE: {', '.join(ids[:10])}"
              f"{' ...' if len(ids) > 10 else ''}", file=sys.stderr)
    if res["conventions"]["base"] != res["conventions"]["new"]:
        print(f"warning: the runs used different conventions (BASELINE {res['conventions']['base']}, "
              f"NEW {res['conventions']['new']}): distances are not comparable.", file=sys.stderr)
    for lim in res["unmatched_limits"]:
        print(f"warning: limit on {lim}: no such metric/label in both runs.", file=sys.stderr)
    if res["regressions"]:
        out.say("")
        for msg in res["regressions"]:
            out.say(msg)
    if not res["complete"]:
        ids, errs = res["missing_in_new"], set(res["errors_in_new"])
        listed = ", ".join(f"{i}{' (error row)' if i in errs else ''}" for i in ids[:20])
        print(f"fastseg compare: {len(ids)} case(s) scored in BASELINE are missing from NEW or failed there: "
              f"{listed}{' ...' if len(ids) > 20 else ''}; a comparison on fewer cases does not pass.",
              file=sys.stderr)
        return EXIT_CASE_ERRORS
    if not res["regressions"] and (max_drop or max_rise):
        out.say("\nno regression.")
    return EXIT_GATE if res["regressions"] else EXIT_OK


def _add_compare_parser(sub):
    p = sub.add_parser(
        "compare", help="compare a new run with a baseline run (CI regression gate)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Pair the cases of two results CSVs (from fastseg evaluate --out) by case_id and report, per metric "
            "and label, the mean difference NEW - BASELINE with a seeded bootstrap 95% confidence interval and "
            "a paired Wilcoxon signed-rank p-value. Exits 1 on a regression.", width=96),
        epilog=("examples:\n"
                "  fastseg compare baseline.csv new.csv --max-drop dice=0.01 --max-rise hd95=0.5\n"
                "  fastseg compare baseline.csv new.csv --max-drop dice:3=0.02 --alpha 0.05\n\n" + COMPARE_EXIT_CODES))
    p.add_argument("baseline", metavar="BASELINE", help="results CSV of the reference run")
    p.add_argument("new", metavar="NEW", help="results CSV of the run to check")
    p.add_argument("--max-drop", action="append", metavar="M[:LABEL]=X",
                   help="regression when the mean of M falls by more than X (for every label, or one), "
                        "for metrics where higher is better, e.g. dice=0.01")
    p.add_argument("--max-rise", action="append", metavar="M[:LABEL]=X",
                   help="regression when the mean of M rises by more than X, for distances, e.g. hd95=0.5")
    p.add_argument("--alpha", type=float, metavar="P",
                   help="also require Wilcoxon p < P for a regression (default: the mean difference alone decides)")
    p.add_argument("--cap-inf", metavar="diagonal|MM", help="cap infinite distances first (see evaluate)")
    p.add_argument("--metrics", action="append", metavar="M,M,...", help="metrics to show (default all)")
    p.add_argument("--n-boot", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", metavar="PATH", help="write the comparison as JSON")
    p.set_defaults(func=_cmd_compare)
    return p


# ------------------------------------------------------------------------------------- demo

def _cmd_demo(args):
    if args.cases < 1:
        raise UsageError(f"--cases must be >= 1; got {args.cases}.")
    with tempfile.TemporaryDirectory(prefix="fastseg-demo-") as tmp:
        folder = args.keep or tmp
        t0 = time.perf_counter()
        pred_dir, ref_dir = write_demo_cohort(folder, cases=args.cases, seed=args.seed)
        print(f"fastseg {__version__} demo: {args.cases} synthetic CT-like phantom pairs {DEMO_SHAPE} voxels, "
              f"spacing {DEMO_SPACING} mm (array-axis order), written as NIfTI in "
              f"{time.perf_counter() - t0:.1f} s{' to ' + folder if args.keep else ''}.")
        argv = ["evaluate", pred_dir, ref_dir, "--tolerance", "1,2", "--jobs", str(args.jobs), "--cap-inf", "diagonal"]
        if args.keep:
            argv += ["--out", os.path.join(folder, "results.csv"), "--summary", os.path.join(folder, "summary.json"),
                     "--overwrite"]
        print("$ fastseg " + " ".join(argv) + "\n")
        return _cmd_evaluate(build_parser().parse_args(argv))


def _add_demo_parser(sub):
    p = sub.add_parser("demo", help="write a synthetic anisotropic multi-label NIfTI cohort and evaluate it",
                       description="Write a small synthetic cohort (anisotropic CT-like phantoms, 5 labels, spacing "
                                   "2.5 x 0.8 x 0.8 mm) as NIfTI files and score it with 'fastseg evaluate'.")
    p.add_argument("--seed", type=int, default=0, help="seed of the first case (default 0)")
    p.add_argument("--cases", type=int, default=6, help="number of cases (default 6)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--keep", metavar="DIR", help="write the cohort (and results.csv, summary.json) to DIR and keep it")
    p.set_defaults(func=_cmd_demo)
    return p


# ------------------------------------------------------------------------------------- entry point

def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastseg", description="Fast, trustworthy segmentation metrics.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"fastseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{evaluate,compare,demo}")
    _add_evaluate_parser(sub)
    _add_compare_parser(sub)
    _add_demo_parser(sub)
    return parser


def main(argv=None):
    from ._validation import FastsegError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except (UsageError, FastsegError) as exc:
        print(f"fastseg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # an optional extra (dask, SimpleITK) is missing
        print(f"fastseg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file the run needs cannot be read or written: one line, no traceback
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"fastseg {args.command}: error: cannot access{where}: {exc.strerror or exc}.", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"fastseg {args.command}: interrupted; finished cases are in the output (continue with --resume).",
              file=sys.stderr)
        return EXIT_INTERRUPTED
