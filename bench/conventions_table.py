"""``python -m bench.conventions_table [--size full|small] [--repeat N]``: the cost of
``fastseg.conventions.table`` (every distance metric under every preset) on the organ case, as ratios
measured in one run: against one preset (``fastseg``: its surface distances and HD, HD95, ASSD,
MASD), against calling every preset separately, and for the table restricted to the five presets of
fastseg 0.1 (two surface models). Each time is the best of ``--repeat`` runs (the machine is shared).
The table's values are checked against the separate calls before anything is timed.
"""
import argparse
import math
import sys
import time


def _one(fastseg, case, conv):
    try:
        sd = fastseg.surface_distances(case.pred, case.ref, spacing=case.spacing, convention=conv)
    except ValueError:
        return None
    return {"hd": fastseg.hausdorff(sd), "hd95": fastseg.hd95(sd), "assd": fastseg.assd(sd),
            "masd": fastseg.masd(sd)}


def _best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


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
    one = _best(lambda: _one(fastseg, case, "fastseg"), a.repeat)
    all_table = _best(lambda: table(case.pred, case.ref, spacing=case.spacing), a.repeat)
    old_table = _best(lambda: table(case.pred, case.ref, spacing=case.spacing, presets=old), a.repeat)
    separate = _best(lambda: [_one(fastseg, case, n) for n in PRESETS], max(1, a.repeat // 2))
    print(f"organ ({a.size}), {len(PRESETS)} presets, {t.surface_computations} surface models; best of {a.repeat}:")
    print(f"  one preset (fastseg)               {one:8.3f} s")
    print(f"  table, every preset                {all_table:8.3f} s   {all_table / one:5.2f} x one preset, "
          f"{all_table / separate:5.2f} x every preset separately ({separate:.3f} s)")
    print(f"  table, the 5 presets of 0.1        {old_table:8.3f} s   {old_table / one:5.2f} x one preset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
