"""The ``fastseg evaluate`` command's options (its parser; the command itself is
:func:`fastseg.cli.cmd_evaluate`)."""
from .cli import EXIT_CODES, add_command
from .conventions import PRESETS
from .metrics.lesions import RULES as LESION_RULES

__all__ = ["add_evaluate_parser"]


def add_evaluate_parser(sub, command):
    """The ``evaluate`` subcommand's parser on ``sub``, running ``command(args)``."""

    p = add_command(
        sub, "evaluate", "score a cohort of prediction/reference files",
        "Score every case of a cohort: PRED and REF are folders paired by file name (case.nii pairs with "
        "case.nii.gz, .nrrd, .mha...), or --manifest lists case_id,pred,ref. Spacing comes from the file "
        "headers; pairs whose shape, spacing or affine differ become error rows (the run goes on). Each "
        "finished case is appended to --out at once; --resume continues a killed run.",
        (
            "output (--out): long CSV, one row per case, label and metric: case_id,label,name,metric,value,\n"
            "empty_state,convention,spacing,shape,diagonal_mm,case_rows,error (error rows: metric=error).\n"
            "--wide: one row per case and structure, one column per metric. --report: one HTML page.\n\n"
            "examples:\n"
            "  fastseg evaluate preds/ labels/ --tolerance 1,2 --out results.csv --summary summary.json\n"
            "  fastseg evaluate --manifest pairs.csv --labels 1,2,3 --regions whole_tumor=1,2,3 --jobs 2\n"
            "  fastseg evaluate preds/ labels/ --out results.csv --resume --fail-under dice=0.85 --fail-over hd95=5\n"
            "  fastseg evaluate preds/ labels/ --labels-json dataset.json --out results.csv --report report.html\n"
            "  fastseg evaluate --manifest rt.csv --pair-by name --aliases aliases.json --metrics dice,hd95,nsd@2,apl@1\n\n"
            + EXIT_CODES))
    p.add_argument("pred", nargs="?", metavar="PRED", help="folder of predictions")
    p.add_argument("ref", nargs="?", metavar="REF", help="folder of references (ground truth)")
    p.add_argument("--manifest", metavar="CSV", help="CSV with columns case_id,pred,ref[,image] (instead of PRED REF; "
                   "image: a DICOM series folder, the grid of both sides); relative paths are relative to the manifest")
    g = p.add_argument_group("what to score")
    g.add_argument("--labels", default="auto", metavar="auto|L,L,...",
                   help="labels to score (default auto: every non-zero label present in either map of each case)")
    g.add_argument("--regions", action="append", metavar="NAME=L,L,...",
                   help="a union of labels scored as one structure, e.g. whole_tumor=1,2,3 (repeatable)")
    g.add_argument("--ignore-label", type=int, metavar="L",
                   help="voxels with this label in the reference are excluded everywhere")
    g.add_argument("--lesions", metavar="RULE", choices=sorted(LESION_RULES),
                   help="also evaluate every structure lesion-wise under this rule (" + ", ".join(sorted(LESION_RULES))
                        + "): lesion_tp/fn/fp, lesion_f1, lesion_pq, lesionwise_dice, lesionwise_hd95... per case")
    g.add_argument("--lesions-out", metavar="CSV",
                   help="with --lesions: write one row per lesion (matched pair, miss, spurious) of every case "
                        "to this CSV, appended case by case and resumed with --resume")
    g.add_argument("--pair-by", choices=("label", "name"), default="label",
                   help="label (default): structures are label values; name: DICOM-SEG segments, RTSTRUCT ROIs (with "
                        "their CT series) or named labels, paired by name (case-insensitive), each its own mask "
                        "(overlap allowed), one-sided ones scored as misses; PRED/REF may hold .dcm files or case folders")
    g.add_argument("--aliases", metavar="JSON", help='with --pair-by name: other names of each structure, e.g. '
                   '{"Lung_L": ["LeftLung", "lung left"]}')
    g.add_argument("--structures", action="append", metavar="NAME,...",
                   help="with --pair-by name: the structures to score, in order (default: every one in the files)")
    g.add_argument("--labels-json", metavar="JSON",
                   help="nnU-Net v2 dataset.json: label names, its labels (unless --labels) and regions "
                        "(\"kidneys\": [2, 3]; regions_class_order honoured), its ignore label")
    g.add_argument("--label-names", action="append", metavar="L=NAME,...",
                   help="label names shown in every output, e.g. 1=liver,2=spleen (win over --labels-json)")
    g.add_argument("--metrics", action="append", metavar="M,M,...",
                   help="metrics (default dice,iou,precision,recall,hd,hd95,assd,masd and nsd when --tolerance "
                        "is given); also hdNN for any percentile, nsd@T, apl@T, fbeta@B, tversky@A/B, tp, fp, fn, tn, "
                        "pred_volume_ml, ref_volume_ml, volume_difference_ml, specificity, accuracy, "
                        "balanced_accuracy, mcc, volume_similarity, boundary_iou, cldice")
    g.add_argument("--beta", action="append", metavar="B[,B]",
                   help="F-beta's beta for the metric fbeta (one row fbeta@B each)")
    g.add_argument("--tversky", action="append", metavar="ALPHA,BETA",
                   help="Tversky weights of false positives and false negatives for the metric tversky "
                        "(row tversky@ALPHA/BETA; repeatable)")
    g.add_argument("--tolerance", action="append", metavar="MM[,MM]",
                   help="NSD and APL tolerance(s) in mm (comma-separated or repeated)")
    g.add_argument("--convention", default="fastseg", choices=sorted(PRESETS),
                   help="distance convention (default fastseg); the others reproduce each peer library")
    g.add_argument("--conventions", metavar="all|P1,P2",
                   help="also every distance metric under these presets (all, or a comma-separated list), as "
                        "rows METRIC/PRESET (hd95/monai): one surface computation per surface model")
    g.add_argument("--boundary-width", type=float, metavar="MM", help="band width for boundary_iou")
    g.add_argument("--slice-axis", type=int, choices=(0, 1, 2), metavar="{0,1,2}",
                   help="the axis through the slices of apl (default 2, the last: the k of the files' (i, j, k) "
                        "order); 0 for files written from (z, y, x) arrays")
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
                   help="in the summary, report and gates, replace infinite distances (an empty mask) by each "
                        "case's physical image diagonal, or by a number of mm")
    g.add_argument("--wide", metavar="CSV", help="write one row per case and structure, one column per metric")
    g.add_argument("--report", metavar="HTML",
                   help="write a self-contained HTML report (plots per structure and metric, cases worst first; "
                        "needs the report extra)")
    g = p.add_argument_group("gates (for CI)")
    g.add_argument("--fail-under", action="append", metavar="M[:LABEL]=X",
                   help="fail (exit 1) when the mean of M is below X: over all labels, or for one label/region, "
                        "e.g. dice=0.85 or dice:3=0.9 (repeatable, comma-separated)")
    g.add_argument("--fail-over", action="append", metavar="M[:LABEL]=X",
                   help="fail (exit 1) when the mean of M is above X, e.g. hd95=5")
    p.set_defaults(func=command)
    return p
