"""The built-in demo: synthetic anisotropic CT-like phantom pairs written as NIfTI, scored by
``fastseg evaluate`` with the organs' names, and its HTML report (``fastseg demo``)."""
import os
import sys
import tempfile
import time

__all__ = ["write_demo_cohort", "DEMO_SPACING", "DEMO_SHAPE", "cmd_demo", "add_demo_parser", "demo_names"]

DEMO_SPACING = (2.5, 0.8, 0.8)
DEMO_SHAPE = (40, 128, 128)


def write_demo_cohort(folder, *, cases=6, seed=0, shape=DEMO_SHAPE, spacing=DEMO_SPACING):
    """Write ``cases`` synthetic anisotropic phantom pairs as ``folder/pred/case_XX.nii.gz`` and
    ``folder/ref/case_XX.nii.gz``, spacing in the header through the affine. Returns (pred, ref) dirs."""
    import nibabel as nib
    import numpy as np

    from .phantom import phantom_pair

    pred_dir, ref_dir = os.path.join(folder, "pred"), os.path.join(folder, "ref")
    os.makedirs(pred_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-0.5 * n * s for n, s in zip(shape, spacing)]  # centred on the world origin
    for i in range(cases):
        pred, ref, _ = phantom_pair(shape=shape, spacing=spacing, seed=seed + i)
        for arr, d in ((pred, pred_dir), (ref, ref_dir)):
            img = nib.Nifti1Image(arr, affine)
            img.header.set_xyzt_units("mm")
            nib.save(img, os.path.join(d, f"case_{seed + i:02d}.nii.gz"))
    return pred_dir, ref_dir


def demo_names():
    """``{label: organ}`` of the phantoms (:data:`fastseg.phantom.ORGANS`)."""
    from .phantom import ORGANS

    return {label: organ for organ, (label, _, _) in ORGANS.items()}


def _explain(n_cases, names, report):
    """Three lines that say what was measured, then where the report is."""
    organs = ", ".join(f"{lab} {name}" for lab, name in sorted(names.items()))
    lines = [
        f"measured: each of the {n_cases} cases' organs ({organs}), prediction against reference; dice, iou, "
        f"precision, recall: overlap from 0 to 1 (1 best)",
        "hd, hd95, assd, masd: distances between the two surfaces in mm (hd the largest, hd95 the 95th percentile, "
        "assd and masd the mean; 0 best); nsd@1, nsd@2: share of the surfaces within 1, 2 mm (1 best)",
        f"each row: one organ over the {n_cases} cases (IQR = q3 - q1; inf, nan: counts of infinite and undefined "
        f"values; infinite distances capped at the image diagonal); 'all' pools the organs",
    ]
    if report:
        lines.append(f"report: {report} (open it in a browser: plots per organ and metric, every case worst first, "
                     f"what each metric means)")
    else:
        lines.append("no HTML report: it needs matplotlib (pip install 'fastseg[report]')")
    return "\n".join(lines)


def cmd_demo(args):
    """``fastseg demo``: write the cohort, evaluate it, write its report; returns the exit status."""
    from ._version import __version__
    from .cli import UsageError, build_parser, cmd_evaluate

    if args.cases < 1:
        raise UsageError(f"--cases must be >= 1; got {args.cases}.")
    try:
        from .report import require_matplotlib

        require_matplotlib()
        can_report = True
    except ImportError:
        can_report = False
    with tempfile.TemporaryDirectory(prefix="fastseg-demo-") as tmp:
        folder = args.keep or tmp
        report = None
        if can_report:
            report = args.report or (os.path.join(folder, "report.html") if args.keep else
                                     os.path.join(tempfile.mkdtemp(prefix="fastseg-demo-report-"), "report.html"))
        t0 = time.perf_counter()
        pred_dir, ref_dir = write_demo_cohort(folder, cases=args.cases, seed=args.seed)
        print(f"fastseg {__version__} demo: {args.cases} synthetic CT-like phantom pairs {DEMO_SHAPE} voxels, "
              f"spacing {DEMO_SPACING} mm (array-axis order), written as NIfTI in "
              f"{time.perf_counter() - t0:.1f} s{' to ' + folder if args.keep else ''}.")
        names = demo_names()
        argv = ["evaluate", pred_dir, ref_dir, "--tolerance", "1,2", "--jobs", str(args.jobs), "--cap-inf", "diagonal",
                "--label-names", ",".join(f"{lab}={name}" for lab, name in sorted(names.items()))]
        if args.keep:
            argv += ["--out", os.path.join(folder, "results.csv"), "--summary", os.path.join(folder, "summary.json"),
                     "--wide", os.path.join(folder, "results_wide.csv"), "--overwrite"]
        if report:
            argv += ["--report", report]
        print("$ fastseg " + " ".join(argv) + "\n")
        sys.stdout.flush()
        status = cmd_evaluate(build_parser().parse_args(argv))
        print("\n" + _explain(args.cases, names, report))
        return status


def add_demo_parser(sub):
    p = sub.add_parser("demo", help="write a synthetic anisotropic multi-label NIfTI cohort, evaluate it, report it",
                       description="Write a small synthetic cohort (anisotropic CT-like phantoms, 5 organs, spacing "
                                   "2.5 x 0.8 x 0.8 mm) as NIfTI files, score it with 'fastseg evaluate' and write "
                                   "its HTML report (with the report extra).")
    p.add_argument("--seed", type=int, default=0, help="seed of the first case (default 0)")
    p.add_argument("--cases", type=int, default=6, help="number of cases (default 6)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--keep", metavar="DIR", help="write the cohort (and results.csv, results_wide.csv, summary.json, "
                                                 "report.html) to DIR and keep it")
    p.add_argument("--report", metavar="HTML", help="where to write the report (default DIR/report.html with --keep, "
                                                    "else a new temporary folder)")
    p.set_defaults(func=cmd_demo)
    return p
