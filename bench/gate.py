"""``python -m bench.gate``: the performance regression gate (CI-friendly, a few minutes on 2 cores).

Each check times a fastseg call and an in-run baseline (NumPy / SciPy, always installed) on a
full-size standard case, in the same process, interleaved (baseline, fastseg, baseline, fastseg...)
so that machine load drifts hit both alike, after one untimed call of each that also checks their
values agree (numba compilation / cache loading happens there). It compares the medians, and fails
(exit status 1, one line per failure naming the case and the measured ratio) when fastseg's speed-up
falls below the check's minimum.

Minimums sit below the ratios measured on one thread (see ``CHECKS``) with a margin for noise: a
failure means a real loss, not a slow moment. fastseg runs on ONE thread by default (``--threads 1``)
against single-threaded baselines: the gate then measures the kernels, and is not at the mercy of a
shared runner's other jobs, which make numba's parallel regions wait for a descheduled thread (on
the development VM under load, 2-thread medians of the same call varied 2-4x between runs).
``--threads 0`` uses numba's default; the minimums stay valid (more threads can only help on an idle
machine). The HD95 checks compare the same definition on both sides (boundary voxels, fastseg's
``convention="monai"``).

Options: ``--repeats N`` (default 7), ``--only NAME`` (repeatable), ``--size small`` (a dry run of
the machinery on the small cases: values are checked and fail it when they differ, ratios are
printed and never fail it),
``--list``.
"""
import argparse
import sys
import time

#: (name, task, case, fastseg tool, baseline tool, minimum speed-up of fastseg on one thread).
#: Measured on the 2-core development VM, one thread, interleaved medians (2026-11): confusion 3.0x
#: (fastseg reads both masks once; NumPy makes five passes and writes a temporary: ~3x is the
#: memory-bandwidth ceiling on one thread), confusion_matrix 21-23x, HD95 organ 9.9x (4.5-5.7x before
#: the ordered search replaced the full EDT), HD95 lesion 2.4-2.6x (one pass over the 67 Mvox volume
#: dominates both sides), EDT 3.5-3.9x, evaluate 9.4x. Minimums leave ~30-50 % for noise; issue 6's
#: example minimum (8x for HD95 organ) would sit within the noise of the 9.9x measured.
CHECKS = [
    ("confusion/organ", "confusion", "organ", "fastseg", "numpy", 2.0),
    ("confusion_matrix/organs10", "confusion_matrix", "organs10", "fastseg", "bincount", 10.0),
    ("hd95/organ", "hd95", "organ", "fastseg-voxel", "crop-scipy", 6.0),
    ("hd95/lesion", "hd95", "lesion", "fastseg-voxel", "crop-scipy", 1.5),
    ("edt/organ", "edt", "organ", "fastseg", "scipy", 2.5),
    ("evaluate/organs10", "evaluate", "organs10", "fastseg", "fastseg-loop", 5.0),
]


def run_check(check, size, repeats, threads):
    """``(passed, message)`` for one check."""
    from bench.paired import paired

    name, task, case, fs_name, base_name, minimum = check
    try:
        p = paired(task, case, fs_name, base_name, size=size, repeats=repeats, threads=threads)
    except AssertionError as exc:
        return False, f"FAIL {name}: {exc}"
    from bench.tasks import TASKS

    tools = TASKS[task].tools
    line = (f"{name}: {tools[fs_name].label} {p.fastseg_s * 1e3:.1f} ms vs {tools[base_name].label} "
            f"{p.other_s * 1e3:.1f} ms -> {p.ratio:.1f}x (minimum {minimum:g}x)")
    return p.ratio >= minimum, line


def main(argv=None):
    ap = argparse.ArgumentParser(description="Performance regression gate: fastseg vs in-run baselines.")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="numba threads for fastseg (0: numba's default)")
    ap.add_argument("--size", default="full", choices=("full", "small"))
    ap.add_argument("--only", action="append", help="run only this check (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    a = ap.parse_args(argv)
    if a.list:
        for c in CHECKS:
            print(f"{c[0]}: {c[3]} >= {c[5]:g}x faster than {c[4]}")
        return 0
    checks = [c for c in CHECKS if not a.only or c[0] in a.only]
    if not checks:
        print(f"no check named {a.only}; see --list", file=sys.stderr)
        return 2
    import numba

    threads = a.threads or None
    print(f"fastseg gate: {a.size} cases, {a.repeats} interleaved repeats, fastseg threads="
          f"{threads or numba.get_num_threads()}", flush=True)
    t0 = time.perf_counter()
    failures = []
    for c in checks:
        ok, line = run_check(c, a.size, a.repeats, threads)
        print(line if line.startswith("FAIL") else ("ok   " if ok else "FAIL ") + line, flush=True)
        if not ok:
            failures.append(line)
    print(f"gate took {time.perf_counter() - t0:.0f} s")
    if failures and a.size == "full":
        print(f"{len(failures)} check(s) failed:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    if failures:
        print("(small cases: a dry run, ratios are not gated)")
        return 1 if any(f.startswith("FAIL") for f in failures) else 0  # values unchecked or different
    return 0


if __name__ == "__main__":
    sys.exit(main())
