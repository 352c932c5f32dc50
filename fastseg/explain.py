"""``fastseg explain PRED REF``: every distance metric of one pair under every convention preset, the
spread, and the reason of each difference in words (:func:`fastseg.conventions.table`)."""
import textwrap

from ._output import SafeStdout, write_json_atomic
from .cli import EXIT_OK, UsageError, add_command, split_values

__all__ = ["cmd_explain", "add_explain_parser", "EXPLAIN_EXIT_CODES"]

EXPLAIN_EXIT_CODES = """\
exit status:
  0  the table was printed
  2  usage error: unreadable files, geometry mismatch, a label in neither image, bad options
"""


def cmd_explain(args):
    import numpy as np

    from .conventions import table
    from .io import check_geometry, load

    pv, rv = load(args.pred), load(args.ref)
    check_geometry(pv, rv)
    if args.label is None:
        p, r = pv.array != 0, rv.array != 0
        what = "every non-zero label"
    else:
        p, r = pv.array == args.label, rv.array == args.label
        what = f"label {args.label}"
        if not (np.any(p) or np.any(r)):
            raise UsageError(f"label {args.label} is in neither {args.pred} nor {args.ref}.")
    try:
        tols = [float(x) for x in split_values([args.tolerance] if args.tolerance else [])] or None
    except ValueError:
        raise UsageError(f"--tolerance expects numbers in mm such as 1,2; got {args.tolerance!r}.") from None
    t = table(p, r, spacing=rv.spacing, tolerance=tols)
    out = SafeStdout()
    out.say("\n".join(textwrap.wrap(
        f"{what} of {args.pred} against {args.ref}, spacing {tuple(round(s, 6) for s in rv.spacing)} mm "
        f"(array-axis order); {t.surface_computations} surface computations for {len(t['hd'].values)} presets",
        80, break_long_words=False, break_on_hyphens=False)) + "\n")
    out.say(str(t))
    if args.json:
        try:
            write_json_atomic(args.json, t.records())
        except OSError as exc:
            raise UsageError(f"cannot write --json {args.json}: {exc.strerror or exc}.") from None
    return EXIT_OK


def add_explain_parser(sub):
    p = add_command(
        sub, "explain", "show one pair's distances under every convention preset, and why they differ",
        "The field's tools give different HD95s for the same pair. For one prediction and reference (files "
        "read as evaluate reads them), print every distance metric under every preset (fastseg, deepmind, "
        "monai, medpy, metricsreloaded, nnunet, plastimatch, itk, seg-metrics, torchmetrics, pymia, panoptica), "
        "the spread, and for each difference its reasons in words: those of surface model, quantile rule, "
        "direction aggregation, ASSD, NSD and empty-mask rule that change the value for this pair.",
        "examples:\n  fastseg explain pred/case_01.nii.gz ref/case_01.nii.gz --label 3 --tolerance 2\n\n"
        + EXPLAIN_EXIT_CODES)
    p.add_argument("pred", metavar="PRED", help="prediction image")
    p.add_argument("ref", metavar="REF", help="reference image")
    p.add_argument("--label", type=int, metavar="L", help="the label to compare (default: every non-zero label)")
    p.add_argument("--tolerance", metavar="MM[,MM]", help="NSD tolerance(s) in mm")
    p.add_argument("--json", metavar="PATH", help="also write the table's records as JSON")
    p.set_defaults(func=cmd_explain)
    return p
