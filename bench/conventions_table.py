"""``python -m bench.conventions_table [--size full|small] [--repeat N]``: the cost of
``fastseg.conventions.table`` (every distance metric under every preset) on the organ case, as ratios
measured in one run: against one preset (``fastseg``: its surface distances and HD, HD95, ASSD,
MASD), against calling every preset separately, and for the table restricted to the five presets of
fastseg 0.1 (two surface models). Each time is the median of ``--repeat`` runs, the runs of the one
preset and of the tables interleaved (the machine is shared: a busy moment weighs on both alike).
The table's values are checked against the separate calls before anything is timed.

``--breakdown`` adds the CPU time on one thread (``time.process_time``, medians of ``--repeat``,
interleaved): the one preset, the table, the table restricted to one preset of each surface model
(each with its own validation and crop), and plastimatch's two distance maps alone (the kernel on
the cropped boundaries, its scratch reused): what the table costs at the least on two threads.
"""
import argparse
import math
import statistics
import sys
import time


def _one(fastseg, case, conv):
    try:
        sd = fastseg.surface_distances(case.pred, case.ref, spacing=case.spacing, convention=conv)
    except ValueError:
        return None
    return {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd), "assd": fastseg.assd(sd),
            "masd": fastseg.masd(sd)}


def _medians(fs, repeat, clock=time.perf_counter):
    """Median time of each function, the runs interleaved."""
    times = [[] for _ in fs]
    for _ in range(repeat):
        for f, ts in zip(fs, times):
            t = clock()
            f()
            ts.append(clock() - t)
    return [statistics.median(ts) for ts in times]


#: one preset of each surface model on a 3D pair
MODELS = {"fastseg": "surfels", "monai": "face boundary voxels", "seg-metrics": "full-connectivity contour",
          "plastimatch": "plastimatch's boundary, Danielsson maps", "itk": "object voxels"}


def _breakdown(fastseg, case, repeat):
    """CPU seconds on one thread: ``[(label, seconds)]``."""
    import numpy as np

    from fastseg import _validation as v
    from fastseg._engine.counts import counts_and_box, crop
    from fastseg._engine.distances import boundary
    from fastseg._kernels import danielsson as kdan
    from fastseg._kernels._jit import thread_limit
    from fastseg.conventions import table

    p, r, sp, _ = v.spatial_pair(case.pred, case.ref, case.spacing, "bench")
    pc, rc = crop([p, r], counts_and_box(p, r)[2])
    bounds = [boundary(np.ascontiguousarray(m), 1, False) for m in (pc, rc)]
    s = np.asarray(sp[::-1], np.float32)
    scratch = np.empty((kdan.SCRATCH_ROWS, pc.size), np.float32)

    def maps():
        for side in (0, 1):
            kdan.danielsson_at(bounds[1 - side], s * s, np.flatnonzero(bounds[side]), scratch)

    labels = ["one preset (fastseg)", "table, every preset"] + [f"table, {n} only ({m})" for n, m in MODELS.items()]
    fs = [lambda: _one(fastseg, case, "fastseg"), lambda: table(case.pred, case.ref, spacing=case.spacing)]
    fs += [lambda n=n: table(case.pred, case.ref, spacing=case.spacing, presets=[n]) for n in MODELS]
    labels.append("plastimatch's two maps alone (kernel)")
    fs.append(maps)
    with thread_limit(1):
        maps()
        return list(zip(labels, _medians(fs, repeat, time.process_time)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="full", choices=("small", "full"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--breakdown", action="store_true", help="also the CPU time of each part on one thread")
    a = ap.parse_args(argv)
    import fastseg
    from bench.cases import get_case
    from fastseg.conventions import PRESETS, table

    case = get_case("organ", a.size)
    old = ["fastseg", "deepmind", "monai", "medpy", "metricsreloaded"]
    t = table(case.pred, case.ref, spacing=case.spacing)  # compiles every kernel, and the check:
    for name in PRESETS:
        want = _one(fastseg, case, name)
        for m in ("hd", "hd95", "assd", "masd"):
            got = t[m].values[name]
            ok = got is None if want is None else (got == want[m] or (math.isnan(got) and math.isnan(want[m])))
            if not ok:
                print(f"table differs from preset {name} on {m}: {got} vs {want and want[m]}")
                return 1
    one, all_table, old_table = _medians([lambda: _one(fastseg, case, "fastseg"),
                                          lambda: table(case.pred, case.ref, spacing=case.spacing),
                                          lambda: table(case.pred, case.ref, spacing=case.spacing, presets=old)],
                                         a.repeat)
    separate, = _medians([lambda: [_one(fastseg, case, n) for n in PRESETS]], max(1, a.repeat // 2))
    print(f"organ ({a.size}), {len(PRESETS)} presets, {t.surface_computations} surface models; "
          f"medians of {a.repeat}:")
    print(f"  one preset (fastseg)               {one:8.3f} s")
    print(f"  table, every preset                {all_table:8.3f} s   {all_table / one:5.2f} x one preset, "
          f"{all_table / separate:5.2f} x every preset separately ({separate:.3f} s)")
    print(f"  table, the 5 presets of 0.1        {old_table:8.3f} s   {old_table / one:5.2f} x one preset")
    if a.breakdown:
        print(f"CPU time on one thread (process time), medians of {a.repeat}:")
        for label, sec in _breakdown(fastseg, case, a.repeat):
            print(f"  {label:66s} {sec * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
