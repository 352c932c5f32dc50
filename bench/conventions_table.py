"""``python -m bench.conventions_table [--size full|small] [--repeat N]``: the cost of
``fastseg.conventions.table`` (every distance metric under every preset) on the organ case, as ratios
measured in one run: against one preset (``fastseg``: its surface distances and HD, HD95, ASSD,
MASD), against calling every preset separately, and for the table restricted to the five presets of
fastseg 0.1 (two surface models). Each time is the median of ``--repeat`` runs, the runs of the one
preset and of the tables interleaved (the machine is shared: a busy moment weighs on both alike).
The table's values are checked against the separate calls before anything is timed.
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


def _medians(fs, repeat):
    """Median time of each function, the runs interleaved."""
    times = [[] for _ in fs]
    for _ in range(repeat):
        for f, ts in zip(fs, times):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="full", choices=("small", "full"))
    ap.add_argument("--repeat", type=int, default=5)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
