"""The ``compare`` and ``report`` commands of the command line (entry point and ``evaluate``:
:mod:`fastseg.cli`)."""
import json
import os
import sys

from ._output import SafeStdout, write_json_atomic
from .cli import (EXIT_CASE_ERRORS, EXIT_GATE, EXIT_OK, UsageError, add_command, parse_cap, split_values,
                  write_output)

__all__ = ["cmd_compare", "add_compare_parser", "cmd_report", "add_report_parser", "read_options",
           "COMPARE_EXIT_CODES", "REPORT_EXIT_CODES"]

REPORT_EXIT_CODES = """\
exit status:
  0  the report is written
  2  usage error: RESULTS cannot be read or holds no complete case, an output is one of the inputs
     or cannot be written, --sort-by names no metric of RESULTS, or matplotlib is missing
     (pip install 'fastseg[report]')
"""

COMPARE_EXIT_CODES = """\
exit status:
  0  no regression: NEW scored every case BASELINE scored, and no --max-drop/--max-rise limit is
     exceeded
  1  a regression: a limit is exceeded, or the change it limits is undefined (two infinite means:
     use --cap-inf diagonal)
  2  usage error: bad arguments, a limit the metric cannot take, a limit that checks nothing (its
     metric or label is not scored in both runs), an unreadable BASELINE or NEW, no case in common,
     or --json cannot be written
  3  incomplete: cases scored in BASELINE are missing from NEW or are error rows there (listed);
     a comparison on fewer cases never passes. Takes precedence over 1.
"""


# ------------------------------------------------------------------------------------- compare

def cmd_compare(args):
    """``fastseg compare``: two runs compared; returns the exit status."""
    from . import cohort
    from .cohort.stats import check_limits

    max_drop = cohort.parse_gates(args.max_drop, "--max-drop")
    max_rise = cohort.parse_gates(args.max_rise, "--max-rise")
    check_limits(max_drop, "--max-drop")
    check_limits(max_rise, "--max-rise")
    cap = parse_cap(args.cap_inf)
    if args.n_boot < 1:
        raise UsageError(f"--n-boot must be >= 1; got {args.n_boot}.")
    from .cohort.guard import check_output_path

    inputs = [args.baseline, args.new]
    for path, what in ((args.json, "--json"), (args.report, "--report")):
        if path:
            check_output_path(path, inputs, what=what)
            inputs.append(path)
    if args.report:
        from .report import require_matplotlib

        require_matplotlib()
    base, new = (cohort.read_results(path) for path in (args.baseline, args.new))
    for name, rows in (("BASELINE", base), ("NEW", new)):
        if not rows:
            raise UsageError(f"{name} ({getattr(args, name.lower())}) holds no complete case.")
    for metric, _, _ in max_drop:
        if metric.startswith(("hd", "assd", "masd")):
            print(f"warning: --max-drop {metric}: for distances higher is worse; did you mean --max-rise?",
                  file=sys.stderr)
    res = cohort.compare(base, new, max_drop=max_drop, max_rise=max_rise, cap_inf=cap,
                         n_boot=args.n_boot, seed=args.seed, alpha=args.alpha, strict=False)
    if res["n_paired"] == 0:
        raise UsageError("BASELINE and NEW have no case in common (cases are paired by case_id).")
    if res["unmatched_limits"] or res["convention_mismatch"] or (res["renamed_labels"] and (max_drop or max_rise)):
        # a gate that checks nothing, or compares numbers of two definitions, never passes (exit 2)
        from .cohort.compare import check_limits_matched

        check_limits_matched(res, max_drop, max_rise, options=("--max-drop", "--max-rise"), runs=("BASELINE", "NEW"))
    if args.json:
        try:
            write_json_atomic(args.json, res)
        except OSError as exc:
            raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}.") from None
    if args.report:
        from .report import write_compare_report

        write_output(args.report, "--report", lambda p: write_compare_report(
            base, new, res, p, base_source=args.baseline, new_source=args.new, cap_inf=cap,
            base_options=read_options(args.baseline), new_options=read_options(args.new)))
        print(f"report: {args.report}", file=sys.stderr)
    wanted = set(split_values(args.metrics))
    shown = dict(res, rows=[r for r in res["rows"] if not wanted or r["metric"] in wanted])
    out = SafeStdout()
    out.say(cohort.format_comparison(shown))
    if res["missing_in_base"]:
        ids = res["missing_in_base"]
        print(f"warning: {len(ids)} case(s) not scored in BASELINE: {', '.join(ids[:10])}"
              f"{' ...' if len(ids) > 10 else ''}", file=sys.stderr)
    for r in res["renamed_labels"]:
        print(f"warning: label {r['label']} is {r['base']!r} in BASELINE and {r['new']!r} in NEW.", file=sys.stderr)
    if res["conventions"]["base"] != res["conventions"]["new"]:
        print(f"warning: the runs used different conventions (BASELINE {res['conventions']['base']}, "
              f"NEW {res['conventions']['new']}): distances are not comparable.", file=sys.stderr)
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


def add_compare_parser(sub):
    p = add_command(
        sub, "compare", "compare a new run with a baseline run (CI regression gate)",
        "Pair the cases of two results CSVs (from fastseg evaluate --out) by case_id and report, per metric "
        "and label, the mean difference NEW - BASELINE with a seeded bootstrap 95% confidence interval and "
        "a paired Wilcoxon signed-rank p-value. Exits 1 on a regression.",
        ("examples:\n"
                "  fastseg compare baseline.csv new.csv --max-drop dice=0.01 --max-rise hd95=0.5\n"
                "  fastseg compare baseline.csv new.csv --max-drop dice:3=0.02 --alpha 0.05\n"
                "  fastseg compare baseline.csv new.csv --report comparison.html\n\n" + COMPARE_EXIT_CODES))
    p.add_argument("baseline", metavar="BASELINE", help="results CSV of the reference run")
    p.add_argument("new", metavar="NEW", help="results CSV of the run to check")
    p.add_argument("--max-drop", action="append", metavar="M[:LABEL]=X",
                   help="regression when the mean of M falls by more than X (for every label, or one: a number, "
                        "region or label name), for metrics where higher is better, e.g. dice=0.01; a limit "
                        "that matches no metric/label of both runs is a usage error")
    p.add_argument("--max-rise", action="append", metavar="M[:LABEL]=X",
                   help="regression when the mean of M rises by more than X, for distances, e.g. hd95=0.5")
    p.add_argument("--alpha", type=float, metavar="P",
                   help="also require Wilcoxon p < P for a regression (default: the mean difference alone decides)")
    p.add_argument("--cap-inf", metavar="diagonal|MM", help="cap infinite distances first (see evaluate)")
    p.add_argument("--metrics", action="append", metavar="M,M,...", help="metrics to show (default all)")
    p.add_argument("--n-boot", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", metavar="PATH", help="write the comparison as JSON")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report: every case baseline "
                   "against new, the mean changes with their bootstrap intervals (needs the report extra)")
    p.set_defaults(func=cmd_compare)
    return p




# ------------------------------------------------------------------------------------- report

def read_options(results):
    """The options record next to a results file (``RESULTS.options.json``, see
    :func:`fastseg.cohort.guard.options_file`), or None when there is none or it cannot be read."""
    from .cohort.guard import options_file

    try:
        with open(options_file(results), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cmd_report(args):
    """``fastseg report``: the HTML report (and the wide table) of a results file; returns the exit status."""
    from .cohort import read_results
    from .cohort.guard import check_output_path, options_file
    from .cohort.results import wide_csv
    from .report import require_matplotlib, write_report
    from ._output import write_text_atomic

    out = args.out or os.path.splitext(args.results)[0] + ".html"
    inputs = [args.results, options_file(args.results)]
    check_output_path(out, inputs, what="--out")
    if args.wide:
        check_output_path(args.wide, inputs + [out], what="--wide")
    require_matplotlib()
    cap = parse_cap(args.cap_inf)
    rows = read_results(args.results)
    if not rows:
        raise UsageError(f"RESULTS ({args.results}) holds no complete case.")
    write_output(out, "--out", lambda p: write_report(rows, p, options=read_options(args.results), source=args.results,
                                                     cap_inf=cap, sort_by=args.sort_by, title=args.title))
    if args.wide:
        write_output(args.wide, "--wide", lambda p: write_text_atomic(p, wide_csv(rows)))
        print(f"wide table: {args.wide}")
    print(f"report: {out}")
    return EXIT_OK


def add_report_parser(sub):
    p = add_command(
        sub, "report", "write the HTML report of a results file",
        "Write one self-contained HTML page (inline plots, no network needed) from a results CSV of fastseg "
        "evaluate --out: the summary with its inf, NaN and both-empty counts; per metric, each structure's "
        "distribution (a box and every case as a point); every case and structure worst first, errors and "
        "empty states visible; the run's options (RESULTS.options.json) and what each metric means.",
        ("examples:\n"
                "  fastseg report results.csv                        # writes results.html\n"
                "  fastseg report results.csv -o report.html --cap-inf diagonal --sort-by hd95\n"
                "  fastseg report results.csv --wide results_wide.csv\n\n" + REPORT_EXIT_CODES))
    p.add_argument("results", metavar="RESULTS", help="results CSV written by fastseg evaluate --out")
    p.add_argument("--out", "-o", metavar="HTML", help="the report (default: RESULTS with .html)")
    p.add_argument("--cap-inf", metavar="diagonal|MM", help="cap infinite distances in the summary and plots "
                   "(each case's image diagonal, or a number of mm)")
    p.add_argument("--sort-by", metavar="METRIC", help="metric that orders the cases, worst first (default dice)")
    p.add_argument("--title", help="title of the page")
    p.add_argument("--wide", metavar="CSV", help="also write the wide table: one row per case and structure")
    p.set_defaults(func=cmd_report)
    return p
