"""Issue 15's report budget: ``fastseg report`` on 1000 cases x 10 structures is written in under 5 s
and weighs under 5 MB.

A synthetic results file (the real format, ``fastseg.cohort.results``) with the default metrics
and two NSD tolerances (10 metrics), a few infinite, NaN, both-empty values and error cases, is
written once; then the real command (``python -m fastseg report``, a subprocess: its imports
included) writes the report, ``--repeats`` times. Prints the wall times and the size. The wide table
(``--wide``) is timed alike, in process, from the same rows.

``python -m bench.html_report [--cases 1000] [--structures 10] [--repeats 3]``
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from fastseg.cohort.results import COLUMNS, error_row, rows_to_text, wide_csv

METRICS = ["dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd", "nsd@1", "nsd@2"]


def synthetic_rows(n_cases, n_structures, seed=0):
    """Rows of a plausible cohort: Dice around 0.85 per structure, distances of a few mm, 0.5% of
    structures missed (inf distances, NaN precision), 0.5% absent from both, 1% error cases."""
    rng = np.random.default_rng(seed)
    rows = []
    spacing, shape = (0.800000011920929, 0.800000011920929, 2.5), (512, 512, 128)
    diag = math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing)))
    for c in range(n_cases):
        cid = f"case_{c:05d}"
        if rng.random() < 0.01:
            rows.append(error_row(cid, "shape mismatch: pred (512, 512, 127) and ref (512, 512, 128).", "fastseg"))
            continue
        case = []
        for s in range(1, n_structures + 1):
            u = rng.random()
            state = "pred_empty" if u < 0.005 else "both_empty" if u < 0.01 else "none"
            dice = float(np.clip(rng.normal(0.85 - 0.02 * s, 0.06), 0, 1))
            hd95 = float(abs(rng.normal(3 + s, 2)))
            vals = {"dice": dice, "iou": dice / (2 - dice), "precision": min(1.0, dice + 0.02), "recall": dice - 0.01,
                    "hd": hd95 * 2.2, "hd95": hd95, "assd": hd95 / 3, "masd": hd95 / 3.1,
                    "nsd@1": min(1.0, dice * 0.8), "nsd@2": min(1.0, dice * 0.95)}
            if state == "pred_empty":
                vals = {m: (math.inf if m.startswith(("hd", "assd", "masd")) else
                            math.nan if m == "precision" else 0.0) for m in METRICS}
            elif state == "both_empty":
                vals = {m: (0.0 if m.startswith(("hd", "assd", "masd")) else 1.0) for m in METRICS}
            for m in METRICS:
                case.append({"case_id": cid, "label": s, "name": f"organ_{s}", "metric": m, "value": vals[m],
                             "empty_state": state, "convention": "fastseg", "spacing": spacing, "shape": shape,
                             "diagonal_mm": diag, "case_rows": 0, "error": ""})
        for r in case:
            r["case_rows"] = len(case)
        rows.extend(case)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--structures", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = synthetic_rows(args.cases, args.structures)
    with tempfile.TemporaryDirectory(prefix="fastseg-report-bench-") as tmp:
        results = os.path.join(tmp, "results.csv")
        with open(results, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(COLUMNS) + "\n" + rows_to_text(rows))
        out = os.path.join(tmp, "report.html")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "fastseg", "report", results, "-o", out],
                                  capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"fastseg report failed: {proc.stderr}")
        size, results_size = os.path.getsize(out), os.path.getsize(results)
        t0 = time.perf_counter()
        text = wide_csv(rows)
        wide_s = time.perf_counter() - t0
    print(f"{args.cases} cases x {args.structures} structures x {len(METRICS)} metrics ({len(rows)} rows, "
          f"results file {results_size / 1e6:.1f} MB):")
    print(f"  fastseg report (subprocess, imports included): median {statistics.median(times):.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in times)}); report {size / 1e6:.2f} MB")
    print(f"  wide table of the same rows: {wide_s:.3f} s, {len(text) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
