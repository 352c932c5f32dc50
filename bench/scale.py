"""Scale checks beyond the benchmark volumes: flat indices past 2**31 and peak memory. Run by hand.

Each check runs in a fresh subprocess (``ru_maxrss`` is the child's own peak) under a virtual-memory
limit (``--limit-gb``, default 11), so that a blow-up ends in a ``MemoryError`` line instead of taking
the machine. Checks:

``index``      two bool masks of 2050 x 1024 x 1024 (2**31 + 2**21 voxels, 2 GiB each), foreground only
               past flat index 2**31: ``confusion``, ``dice``, ``hd95`` (surfels and boundary voxels)
               against the values of the same pattern in a small array (the metrics do not depend on
               where the pattern sits, away from the edges), and the hand counts.
``spread``     the same volume, a voxel near the first corner and one near the last in each mask (the
               ref's shifted by one along x): the union box is the whole volume, surfel flat indices
               run past 2**31 in the kernels (no crop to hide them). Hand values: HD95 = 1, Dice = 0.
``labels``     ``evaluate`` on uint8 label maps of that volume: one label local past 2**31, one spread over
               the volume (``labels16``: the same as uint16 maps, the spread label 300).
``evaluate``   peak memory of ``fastseg.evaluate`` (default metrics, tolerance 2) on a 512 x 512 x 1000
               uint8 label pair with 10 structures (ellipsoids; pred shifted by one voxel).
``hd95``       peak memory of ``fastseg.hd95`` on a 512 x 512 x 1000 bool pair, one large ellipsoid
               (pred shifted by one voxel); ``hd95-miss`` / ``hd95-miss200``: the same with a 60- / 200-
               voxel slab of the structure missing from pred (surface points beyond the ordered search's
               first list; with 200, so many that the full float64 transform of the crop is cheapest).
``lines``      peak memory of ``fastseg.hd95`` on a 1000 x 512 x 512 bool pair holding two voxels each at
               opposite corners, 5 voxels apart: a few points, a whole-volume search grid.

Usage: ``PYTHONPATH=. python -m bench.scale CHECK [CHECK ...] [--limit-gb 11] [--max-rss-gb 9.5]`` (``all``: every check;
``index`` and ``spread`` need about 5 GiB and several minutes each on 2 cores).
Peak memory is reported as MiB above the baseline taken after the inputs are built and the kernels
warmed up on a small case (``/proc/self/clear_refs`` resets the peak mark where allowed).
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

fastseg = None  # imported in the child only (the parent stays free of numba)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BIG = (2050, 1024, 1024)  # 2**31 + 2**21 voxels: planes 2048 and 2049 lie past flat index 2**31


def _rss_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def ellipsoid(shape, centre, radii):
    """bool mask of an axis-aligned ellipsoid, built inside its own box (no full-volume temporaries)."""
    m = np.zeros(shape, bool)
    lo = [max(0, int(c - r)) for c, r in zip(centre, radii)]
    hi = [min(n, int(c + r) + 1) for n, c, r in zip(shape, centre, radii)]
    g = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    m[tuple(slice(a, b) for a, b in zip(lo, hi))] = sum(((x - c) / r) ** 2 for x, c, r in zip(g, centre, radii)) <= 1
    return m


def _small_same(pattern_p, pattern_r, shape=(4, 6, 8)):
    """The same voxel pattern (offsets from a corner) in a small array: the reference values."""
    p = np.zeros(shape, bool)
    r = np.zeros(shape, bool)
    for (z, y, x) in pattern_p:
        p[z + 1, y + 1, x + 1] = True
    for (z, y, x) in pattern_r:
        r[z + 1, y + 1, x + 1] = True
    return p, r


def check_index():
    z0, y0, x0 = 2048, 500, 700  # plane 2048 (not the last): flat index >= 2**31
    pat_p = [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)]
    pat_r = [(0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 2, 1)]
    p = np.zeros(BIG, bool)
    r = np.zeros(BIG, bool)
    for (z, y, x) in pat_p:
        p[z0 + z, y0 + y, x0 + x] = True
    for (z, y, x) in pat_r:
        r[z0 + z, y0 + y, x0 + x] = True
    assert np.ravel_multi_index((z0, y0, x0), BIG) > 2**31
    sp, sr = _small_same(pat_p, pat_r)
    out = {}
    c = fastseg.confusion(p, r)
    out["confusion"] = [c.tp, c.fp, c.fn, c.tn]
    out["confusion_expected"] = [2, 2, 2, p.size - 6]
    out["dice"] = [fastseg.dice(p, r), fastseg.dice(sp, sr), 0.5]
    for conv in ("fastseg", "monai"):
        out[f"hd95_{conv}"] = [fastseg.hd95(p, r, convention=conv), fastseg.hd95(sp, sr, convention=conv)]
        out[f"assd_{conv}"] = [fastseg.assd(p, r, convention=conv), fastseg.assd(sp, sr, convention=conv)]
    ok = (out["confusion"] == out["confusion_expected"] and out["dice"][0] == out["dice"][1] == 0.5
          and all(v[0] == v[1] for k, v in out.items() if k.startswith(("hd95", "assd"))))
    return {"ok": ok, **out}


def check_spread():
    p = np.zeros(BIG, bool)
    r = np.zeros(BIG, bool)
    p[1, 1, 1] = True
    r[1, 1, 2] = True
    p[-2, -2, -4] = True
    r[-2, -2, -3] = True
    out = {}
    c = fastseg.confusion(p, r)
    out["confusion"] = [c.tp, c.fp, c.fn, c.tn]
    out["dice"] = fastseg.dice(p, r)
    # surfels: each voxel's 8 corners; the shifted voxel shares 4 of them, the other 4 are 1 away
    out["hd95_fastseg"] = fastseg.hd95(p, r)
    out["hd_fastseg"] = fastseg.hausdorff(p, r)
    out["assd_fastseg"] = fastseg.assd(p, r)
    # boundary voxels: every voxel is a boundary voxel, each 1 from the other mask's
    out["hd95_monai"] = fastseg.hd95(p, r, convention="monai")
    ok = (out["confusion"] == [0, 2, 2, p.size - 4] and out["dice"] == 0.0 and out["hd95_fastseg"] == 1.0
          and out["hd_fastseg"] == 1.0 and abs(out["assd_fastseg"] - 0.5) < 1e-12 and out["hd95_monai"] == 1.0)
    return {"ok": ok, **out}


def check_labels(dtype="uint8"):
    """``evaluate`` on label maps past 2**31 voxels: label 3 local (plane 2048), label 7 spread over the whole
    volume (a voxel near each end, ref shifted by one along x: the one-pass label-wise surfaces, flat
    lattice indices past 2**31); with ``uint16`` label 7 is 300 (the uint16 pass)."""
    big = np.dtype(dtype)
    far = 7 if big == np.uint8 else 300
    p = np.zeros(BIG, big)
    r = np.zeros(BIG, big)
    p[2048, 500, 700:703] = 3
    r[2048, 500, 701:704] = 3
    p[1, 1, 1] = r[1, 1, 2] = far
    p[2048, 1000, 1000] = r[2048, 1000, 1001] = far
    res = fastseg.evaluate(p, r, metrics=["dice", "hd95", "assd"]).to_dict()
    sp = np.zeros((3, 5, 8), big)
    sr = np.zeros_like(sp)
    sp[1, 1, 1:4] = 3
    sr[1, 1, 2:5] = 3
    small = fastseg.evaluate(sp, sr, metrics=["dice", "hd95", "assd"]).to_dict()
    out = {"big": res, "small_label3": small}
    out["ok"] = (res[3] == small[3] and res[far]["dice"] == 0.0 and res[far]["hd95"] == 1.0
                 and abs(res[far]["assd"] - 0.5) < 1e-12)
    return out


def organs(shape, n=10, seed=0):
    """A uint8 label map with ``n`` ellipsoids of various sizes (labels 1..n, later ones on top)."""
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, np.uint8)
    for lab in range(1, n + 1):
        radii = rng.uniform(0.04, 0.2, 3) * np.array(shape)
        centre = [rng.uniform(r + 1, s - r - 1) for r, s in zip(radii, shape)]
        lo = [max(0, int(c - r)) for c, r in zip(centre, radii)]
        hi = [min(s, int(c + r) + 1) for s, c, r in zip(shape, centre, radii)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        g = np.ogrid[box]
        inside = sum(((x - c) / rr) ** 2 for x, c, rr in zip(g, centre, radii)) <= 1
        m[box][inside] = lab
    return m


def _measure(call, warm):
    warm()
    import gc
    gc.collect()
    reset = _reset_peak()
    base = _rss_peak_mb()
    import time
    t0 = time.perf_counter()
    value = call()
    dt = time.perf_counter() - t0
    return {"extra_mb": round(_rss_peak_mb() - base, 1), "baseline_mb": round(base, 1), "seconds": round(dt, 2),
            "hwm_reset": reset, "value": value}


def check_evaluate():
    shape = (1000, 512, 512)  # (z, y, x): 512 x 512 x 1000 voxels
    ref = organs(shape)
    pred = np.zeros_like(ref)
    pred[:, :, 1:] = ref[:, :, :-1]  # shifted by one voxel along x
    small = organs((40, 32, 32))
    res = _measure(lambda: len(fastseg.evaluate(pred, ref, tolerance=2.0).to_dict()),
                   lambda: fastseg.evaluate(small, small, tolerance=2.0))
    res["input_mb"] = round((pred.nbytes + ref.nbytes) / 2**20, 1)
    res["ratio_to_input"] = round(res["extra_mb"] / res["input_mb"], 2)
    return res


def _big_structure(miss=0):
    shape = (1000, 512, 512)
    ref = ellipsoid(shape, (500, 256, 256), (450, 220, 220))
    pred = np.zeros_like(ref)
    pred[:, :, 1:] = ref[:, :, :-1]
    if miss:
        pred[500:500 + miss] = False  # a slab missing from pred: ref surface points far from pred's
    return pred, ref


def check_hd95(miss=0):
    pred, ref = _big_structure(miss)
    small = ellipsoid((40, 32, 32), (20, 16, 16), (15, 10, 10))
    res = _measure(lambda: fastseg.hd95(pred, ref), lambda: fastseg.hd95(small, small))
    res["input_mb"] = round((pred.nbytes + ref.nbytes) / 2**20, 1)
    res["ratio_to_input"] = round(res["extra_mb"] / res["input_mb"], 2)
    return res


def check_lines():
    shape = (1000, 512, 512)
    p = np.zeros(shape, bool)
    r = np.zeros(shape, bool)
    p[1, 1, 1] = r[1, 1, 6] = True
    p[-2, -2, -10] = r[-2, -2, -5] = True
    small = ellipsoid((40, 32, 32), (20, 16, 16), (15, 10, 10))
    res = _measure(lambda: fastseg.hd95(p, r), lambda: fastseg.hd95(small, small))
    res["input_mb"] = round((p.nbytes + r.nbytes) / 2**20, 1)
    res["ratio_to_input"] = round(res["extra_mb"] / res["input_mb"], 2)
    res["expected_value"] = 5.0
    return res


CHECKS = {"index": check_index, "spread": check_spread, "evaluate": check_evaluate, "hd95": check_hd95,
          "hd95-miss": lambda: check_hd95(miss=60), "hd95-miss200": lambda: check_hd95(miss=200),
          "lines": check_lines, "labels": check_labels, "labels16": lambda: check_labels("uint16")}


def run_child(name, limit_gb, max_rss_gb=9.5):
    """Run one check in a fresh interpreter under an address-space limit; its JSON result."""
    code = (f"import sys, json, resource; sys.path.insert(0, {REPO!r});"
            f"lim = int({limit_gb} * 2**30); resource.setrlimit(resource.RLIMIT_AS, (lim, lim));"
            f"from bench import scale; print('RESULT ' + json.dumps(scale._child({name!r}), default=float))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    killed = []

    def watch():  # resident memory above max_rss_gb: kill the child (RLIMIT_AS bounds only its address space)
        import time
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 2**20
            except (OSError, StopIteration):
                rss = 0.0
            if rss > max_rss_gb:
                killed.append(rss)
                proc.kill()
            time.sleep(0.05)

    import threading
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    stdout, stderr = proc.communicate()
    t.join()
    if killed:
        return {"error": f"killed: resident memory above {max_rss_gb} GiB"}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (stderr or stdout)[-2000:]}


def _child(name):
    global fastseg
    import fastseg
    try:
        out = CHECKS[name]()
    except MemoryError as e:
        return {"error": f"MemoryError: {e}", "peak_mb": round(_rss_peak_mb(), 1)}
    out["process_peak_mb"] = round(_rss_peak_mb(), 1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checks", nargs="+", choices=sorted(CHECKS) + ["all"])
    ap.add_argument("--limit-gb", type=float, default=11.0, help="address-space limit of the child (GiB)")
    ap.add_argument("--max-rss-gb", type=float, default=9.5, help="kill the child above this resident memory")
    args = ap.parse_args(argv)
    names = sorted(CHECKS) if "all" in args.checks else args.checks
    for name in names:
        print(name, json.dumps(run_child(name, args.limit_gb, args.max_rss_gb)), flush=True)


if __name__ == "__main__":
    main()
