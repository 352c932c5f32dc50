"""Issue 5's cohort benchmark: ``fastseg evaluate`` (the real CLI, in a subprocess) on 40 cases of
256 x 256 x 128 with 5 labels as ``.nii.gz``, ``--jobs 1`` against ``--jobs 2``.

Reports cases/s of each run, their ratio (runs interleaved, ``--repeats`` times, medians), and the
share of case time spent reading/decompressing versus evaluating, from the timing the CLI writes into
``--summary``. The cohort (synthetic phantoms: ``fastseg.phantom.phantom_pair``, spacing
0.8 x 0.8 x 2.5 mm with the thick slices on the last axis as NIfTI files have them) is written once
into the benchmark cache. Every run's values are checked against ``fastseg.evaluate`` on the loaded
arrays for two cases before anything is reported.

``python -m bench.cohort [--cases 40] [--repeats 3] [--json out.json] [--tolerance 2]``
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.cases import cache_dir
from tests.conftest import same

SHAPE = (256, 256, 128)
SPACING = (0.8, 0.8, 2.5)


def write_cohort(n, shape=SHAPE, spacing=SPACING):
    """The cohort's folder (``pred/`` and ``ref/``), written once per (n, shape, spacing)."""
    from fastseg.cli import write_demo_cohort

    folder = os.path.join(cache_dir(), f"cohort-{n}-{'x'.join(map(str, shape))}")
    done = os.path.join(folder, ".complete")
    if not os.path.exists(done):
        write_demo_cohort(folder, cases=n, seed=0, shape=shape, spacing=spacing)
        open(done, "w").close()
    return os.path.join(folder, "pred"), os.path.join(folder, "ref")


def run_cli(pred_dir, ref_dir, jobs, tolerance, workdir):
    """One ``fastseg evaluate`` run; returns (wall seconds of the process, CLI timing dict, rows path)."""
    out = os.path.join(workdir, f"results-jobs{jobs}.csv")
    summary = os.path.join(workdir, f"summary-jobs{jobs}.json")
    cmd = [sys.executable, "-m", "fastseg", "evaluate", pred_dir, ref_dir, "--jobs", str(jobs),
           "--tolerance", str(tolerance), "--out", out, "--summary", summary, "--overwrite", "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with open(summary) as fh:
        timing = json.load(fh)["timing"]
    return wall, timing, out


def check_values(rows_path, pred_dir, ref_dir, tolerance, n_check=2):
    """The CLI's values equal ``fastseg.evaluate`` on the arrays nibabel reads (first ``n_check`` cases)."""
    import fastseg
    from fastseg.io import load

    with open(rows_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert not [r for r in rows if r["metric"] == "error"], "error rows in the benchmark run"
    for name in sorted(os.listdir(ref_dir))[:n_check]:
        cid = name.split(".")[0]
        p, r = load(os.path.join(pred_dir, name)), load(os.path.join(ref_dir, name))
        res = fastseg.evaluate(p.array, r.array, spacing=r.spacing, tolerance=tolerance)
        want = {(str(x["label"]), x["metric"]): x["value"] for x in res.rows}
        got = {(x["label"], x["metric"]): float(x["value"]) for x in rows if x["case_id"] == cid}
        assert got.keys() == want.keys(), (cid, sorted(set(got) ^ set(want)))
        for k, w in want.items():
            assert same(got[k], w, 1e-12), (cid, k)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=2.0)
    ap.add_argument("--json", help="write the measurements here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    pred_dir, ref_dir = write_cohort(a.cases)
    print(f"cohort: {a.cases} cases of {SHAPE} uint8, spacing {SPACING} mm, .nii.gz "
          f"({time.perf_counter() - t0:.1f} s to write or find)", flush=True)
    runs = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="fastseg-bench-cohort-") as tmp:
        for rep in range(a.repeats):
            for jobs in (1, 2) if rep % 2 == 0 else (2, 1):  # interleaved, alternating order
                wall, timing, rows = run_cli(pred_dir, ref_dir, jobs, a.tolerance, tmp)
                if rep == 0:
                    check_values(rows, pred_dir, ref_dir, a.tolerance)
                runs[jobs].append(dict(timing, process_s=wall))
                busy = timing["read_s"] + timing["evaluate_s"]
                print(f"  jobs {jobs}: {a.cases / timing['wall_s']:.2f} cases/s (scoring {timing['wall_s']:.2f} s, "
                      f"process {wall:.2f} s), reading {100 * timing['read_s'] / busy:.0f}% / evaluating "
                      f"{100 * timing['evaluate_s'] / busy:.0f}% of case time", flush=True)
    res = {}
    for jobs, rs in runs.items():
        res[f"jobs{jobs}"] = {
            "cases_per_s": statistics.median(a.cases / r["wall_s"] for r in rs),
            "cases_per_s_process": statistics.median(a.cases / r["process_s"] for r in rs),
            "read_share": statistics.median(r["read_s"] / (r["read_s"] + r["evaluate_s"]) for r in rs),
            "read_ms_per_case": 1e3 * statistics.median(r["read_s"] / a.cases for r in rs),
            "evaluate_ms_per_case": 1e3 * statistics.median(r["evaluate_s"] / a.cases for r in rs),
            "threads": rs[0]["threads"], "runs": rs,
        }
    ratio = res["jobs2"]["cases_per_s"] / res["jobs1"]["cases_per_s"]
    ratio_p = res["jobs2"]["cases_per_s_process"] / res["jobs1"]["cases_per_s_process"]
    # each repeat's own ratio (its two runs were back to back): the spread the machine's noise gives
    pair_ratios = sorted(r1["wall_s"] / r2["wall_s"] for r1, r2 in zip(runs[1], runs[2]))
    for k in ("jobs1", "jobs2"):
        r = res[k]
        print(f"{k}: {r['cases_per_s']:.2f} cases/s ({r['cases_per_s_process']:.2f} with process start), "
              f"reading {r['read_ms_per_case']:.0f} ms + evaluating {r['evaluate_ms_per_case']:.0f} ms per case "
              f"(compute share {100 * (1 - r['read_share']):.0f}%), {r['threads']} thread(s) per worker")
    print(f"jobs 2 / jobs 1: {ratio:.2f}x scoring (repeats: {', '.join(f'{x:.2f}' for x in pair_ratios)}), "
          f"{ratio_p:.2f}x whole process; workers started by {res['jobs2']['runs'][0].get('workers_started_by')}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(res, ratio=ratio, ratio_process=ratio_p, pair_ratios=pair_ratios, cases=a.cases,
                           shape=SHAPE, spacing=SPACING, tolerance=a.tolerance), fh, indent=1)


if __name__ == "__main__":
    main()
