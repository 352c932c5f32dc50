"""The ``fastseg`` command line: the entry point, shared option parsing, and ``evaluate`` (a cohort of
files). ``compare`` (two runs) and ``report`` (an HTML report of a results file) are in
:mod:`fastseg.commands`, ``demo`` in :mod:`fastseg.demo`."""
import argparse
import math
import os
import sys
import textwrap
import time

from ._output import SafeStdout, check_new_output, write_json_atomic, write_text_atomic
from .demo import write_demo_cohort
from ._version import __version__

__all__ = ["main", "build_parser", "write_demo_cohort", "EXIT_CODES", "UsageError", "split_values", "parse_cap",
           "cmd_evaluate", "write_output", "add_command", "EXIT_OK", "EXIT_GATE", "EXIT_USAGE", "EXIT_CASE_ERRORS"]

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

class UsageError(Exception):
    """A command-line usage problem: printed as ``fastseg CMD: error: ...``, exit status 2."""


# ------------------------------------------------------------------------------------- parsing helpers

def split_values(values):
    """Repeated and/or comma-separated option values -> a flat list of non-empty strings."""
    out = []
    for val in values or []:
        out.extend(x.strip() for x in str(val).split(",") if x.strip())
    return out


def _parse_labels(text):
    if text is None or text.strip().lower() == "auto":
        return None
    try:
        labels = [int(x) for x in split_values([text])]
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
            labels = [int(x) for x in split_values([members])]
        except ValueError:
            labels = []
        if not sep or not name or not labels or min(labels) < 0:
            raise UsageError(f"--regions expects NAME=LABEL,LABEL,... (e.g. whole_tumor=1,2,3); got {spec!r}.")
        if name.isdigit():
            raise UsageError(f"--regions: a region name must not be a number (it would read as a label); got {name!r}.")
        if name in regions and set(regions[name]) != set(labels):  # the same definition twice loses nothing
            raise UsageError(f"--regions {name} is defined twice: {name}={','.join(map(str, regions[name]))} and "
                             f"{name}={','.join(map(str, labels))}; give it once (or give each region its own name).")
        regions[name] = labels
    return regions or None


def _parse_label_names(specs):
    """``--label-names 1=liver,2=spleen`` (repeatable) -> {1: "liver", 2: "spleen"}."""
    names = {}
    for part in split_values(specs):
        label, sep, name = part.partition("=")
        if not sep or not label.strip().isdigit() or not name.strip():
            raise UsageError(f"--label-names expects LABEL=NAME,... (e.g. 1=liver,2=spleen); got {part!r}.")
        names[int(label)] = name.strip()
    return names


def _parse_floats(values, option, what="numbers (mm)"):
    out = []
    for x in split_values(values):
        try:
            out.append(float(x))
        except ValueError:
            raise UsageError(f"{option} expects {what}, comma-separated or repeated; got {x!r}.") from None
    return out or None


def parse_cap(text):
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

def add_command(sub, name, help, description, epilog):
    """A command's parser: a help line, its description as a paragraph, examples and exit codes as written."""
    return sub.add_parser(name, help=help, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description=textwrap.fill(description, width=96), epilog=epilog)


def _cases_from_args(args):
    from .cohort import pair_folders, read_manifest

    if args.manifest:
        if args.pred or args.ref:
            raise UsageError("give either PRED REF folders or --manifest, not both.")
        return read_manifest(args.manifest)
    if not (args.pred and args.ref):
        raise UsageError("give PRED and REF folders, or --manifest pairs.csv.")
    return pair_folders(args.pred, args.ref, folders=args.pair_by == "name")


def _gate_structures(gates, labels, regions, names=None):
    """Refuse, before the run, a gate on a label or region the run will not score (known only when
    the labels are given); a gate may name a label by its name."""
    names = names or {}
    for metric, label, _ in gates:
        if label is None:
            continue
        if isinstance(label, str) and label in names.values():
            label = next(k for k, n in names.items() if n == label)
        if isinstance(label, str):
            if label not in (regions or {}):
                raise UsageError(f"gate {metric}:{label}: no region named {label!r}, and no label has that name "
                                 f"(regions: {', '.join(regions) if regions else 'none'}; see --regions, --label-names).")
        elif labels is not None and label not in labels:
            raise UsageError(f"gate {metric}:{label}: label {label} is not scored (labels "
                             f"{','.join(map(str, labels))}).")


def write_output(path, what, write, out=None):
    """Write one output of a command through ``write(path)``; a failure is a one-line usage error naming
    the option and the file (and where the cases are kept)."""
    try:
        write(path)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror or exc}"
                         f"{'; every case is in ' + out if out else ''}.") from None


def _announce_first_compile():
    """Say on stderr, when it happens, why the first run after an install is slow."""
    from ._kernels._jit import on_first_compile

    pid = os.getpid()

    def notice():
        if os.getpid() == pid:  # not in forked workers
            print("fastseg: compiling the numba kernels (the first run after an install or upgrade, about "
                  "5-10 s; they are cached for the next runs, in NUMBA_CACHE_DIR if set)...", file=sys.stderr,
                  flush=True)

    on_first_compile(notice)


def _parse_tversky(values):
    pairs = []
    for spec in values or []:
        try:
            a, b = (float(x) for x in str(spec).split(","))
        except ValueError:
            raise UsageError(f"--tversky expects ALPHA,BETA (e.g. 0.3,0.7: weights of false positives and false "
                             f"negatives); got {spec!r}.") from None
        pairs.append((a, b))
    return pairs or None


def _check_outputs(args, inputs):
    """Refuse, before the run, outputs that are folders or inputs (or each other), and a report that
    cannot be drawn (matplotlib missing)."""
    from .cohort.guard import check_output_path

    earlier = list(inputs)
    if args.out:
        check_output_path(args.out, earlier, what="--out")
        check_new_output(args.out, resume=args.resume, overwrite=args.overwrite, flags=True)
        earlier += [args.out, args.out + ".options.json", args.out + ".lock"]  # the run's own records
    for path, what in ((args.lesions_out, "--lesions-out"), (args.summary, "--summary"), (args.wide, "--wide"),
                       (args.report, "--report")):
        if path:
            check_output_path(path, earlier, what=what)
            earlier.append(path)
    if args.report:
        from .report import require_matplotlib

        require_matplotlib()


def _write_tables(args, result, cap):
    """The outputs written after the run from its rows (the wide table, the HTML report); returns
    the lines that say where they are."""
    written = []
    if args.wide:
        from .cohort.results import wide_csv

        write_output(args.wide, "--wide", lambda p: write_text_atomic(p, wide_csv(result.rows)), args.out)
        written.append(f"wide table (one row per case and structure): {args.wide}")
    if args.report:
        from .report import write_report

        write_output(args.report, "--report", lambda p: write_report(
            result.rows, p, options=result.options, source=args.out or "", cap_inf=cap), args.out)
        written.append(f"report: {args.report}")
    return written


def cmd_evaluate(args):
    """``fastseg evaluate``: score a cohort; returns the exit status."""
    from . import cohort
    from .labels import check_ignore_options, merge_label_options
    from .cohort.stats import check_thresholds
    from .evaluate import metric_names

    cases = _cases_from_args(args)
    given_labels, given_regions = _parse_labels(args.labels), _parse_regions(args.regions)
    labels, regions, names, ignore = merge_label_options(
        args.labels_json, given_labels, given_regions, _parse_label_names(args.label_names), args.ignore_label)
    labels = None if args.pair_by == "name" and given_labels is None else labels  # a json's names only
    check_ignore_options(args.labels_json, args.ignore_label, ignore, labels, regions, given_labels, given_regions)
    eval_kwargs = dict(
        labels=labels, metrics=split_values(args.metrics) or None,
        tolerance=_parse_floats(args.tolerance, "--tolerance"), convention=args.convention,
        conventions=args.conventions, regions=regions, ignore_label=ignore, boundary_width=args.boundary_width,
        beta=_parse_floats(args.beta, "--beta", "numbers"), tversky=_parse_tversky(args.tversky), names=names,
        slice_axis=args.slice_axis)
    cap = parse_cap(args.cap_inf)
    fail_under = cohort.parse_gates(args.fail_under, "--fail-under")
    fail_over = cohort.parse_gates(args.fail_over, "--fail-over")
    check_thresholds(fail_under, "--fail-under")
    check_thresholds(fail_over, "--fail-over")
    if args.resume and not args.out:
        raise UsageError("--resume needs --out (the results file to continue).")
    inputs = [p for c in cases for p in (c.pred, c.ref)] + [p for p in (args.manifest, args.labels_json, args.aliases) if p]
    _check_outputs(args, inputs)
    if args.retry_errors and not args.resume:
        raise UsageError("--retry-errors goes with --resume.")
    if args.jobs is not None and args.jobs < 0:
        raise UsageError(f"--jobs must be >= 0 (0 = one per core); got {args.jobs}.")
    if fail_under or fail_over:
        computed = set(metric_names(eval_kwargs["metrics"], tolerance=eval_kwargs["tolerance"],
                                    beta=eval_kwargs["beta"], tversky=eval_kwargs["tversky"]))
        if args.lesions:
            from .metrics.lesions import lesion_metric_names

            computed |= set(lesion_metric_names())
        if args.conventions:
            from .cohort.conventions import gate_names

            computed |= set(gate_names(sorted(computed), args.conventions, args.convention))
        for metric, _, _ in fail_under + fail_over:
            if metric not in computed:
                raise UsageError(f"gate on metric {metric!r}, which this run does not compute; "
                                 f"it computes {', '.join(sorted(computed))} (see --metrics).")
        if args.pair_by == "label":  # by name, the structures are known once the files' headers are read
            _gate_structures(fail_under + fail_over, labels, regions, names)
    quiet = args.quiet
    progress = not quiet and sys.stderr.isatty()
    if not quiet:
        _announce_first_compile()
    t0 = time.perf_counter()
    result = cohort.evaluate_cohort(
        cases, jobs=args.jobs, threads=args.threads, out=args.out, resume=args.resume,
        overwrite=args.overwrite, retry_errors=args.retry_errors, fsync=args.fsync,
        geometry_tolerance=args.geometry_tolerance, check_affine=not args.no_affine_check,
        reader=args.reader, progress=progress, dask=args.dask, lesions=args.lesions, lesions_out=args.lesions_out,
        pair_by=args.pair_by, aliases=args.aliases, structures=split_values(args.structures) or None, **eval_kwargs)
    wall = time.perf_counter() - t0
    summary = cohort.summarize(result.rows, cap_inf=cap)
    gates = cohort.check_gates(summary, fail_under, fail_over)
    timing = dict(result.timing, total_s=wall)
    if args.summary:  # before anything is printed: a closed stdout must not lose it
        try:
            passed = not summary["n_errors"] and all(g["passed"] and not g["missing"] for g in gates)
            write_json_atomic(args.summary, dict(summary, gates=gates, passed=passed, timing=timing,
                                                 fastseg=__version__))  # passed: exit 0 (errored cases fail)
        except OSError as exc:
            raise UsageError(f"cannot write --summary {args.summary}: {exc.strerror or exc}"
                             f"{'; every case is in ' + args.out if args.out else ''}.") from None

    written = _write_tables(args, result, cap)
    out = SafeStdout()
    if not quiet:
        out.say(cohort.format_summary(summary))
    if gates and not quiet:
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
            how = "on the Dask cluster," if args.dask else f"{timing['jobs']} process(es) x"
            print(f"{n} case(s) scored in {timing['wall_s']:.2f} s ({n / max(timing['wall_s'], 1e-9):.2f} cases/s, "
                  f"{how} {timing['threads']} thread(s){' a case' * bool(args.dask)}{share}).", file=sys.stderr)
        skipped = summary["n_cases"] - n
        if args.resume and skipped > 0:
            print(f"{skipped} case(s) kept from {args.out}.", file=sys.stderr)
        for line in written:
            print(line, file=sys.stderr)
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


# ------------------------------------------------------------------------------------- entry point

def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastseg", description="Fast, trustworthy segmentation metrics.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"fastseg {__version__}")
    from .cli_evaluate import add_evaluate_parser
    from .commands import add_compare_parser, add_report_parser
    from .demo import add_demo_parser
    from .explain import add_explain_parser

    sub = parser.add_subparsers(dest="command", metavar="{evaluate,compare,report,explain,demo}")
    add_evaluate_parser(sub, cmd_evaluate)
    add_compare_parser(sub)
    add_report_parser(sub)
    add_explain_parser(sub)
    add_demo_parser(sub)
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
