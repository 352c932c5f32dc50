"""``python -m bench.salted``: what stray voxels and many structures cost (issue 13).

Real predictions carry stray voxels far from the structure (salt noise, a false-positive island at
the other end of the scan); each structure's bounding box then spans the image. These checks time
the same call on a clean and a salted prediction, and the many-structure table, interleaved in one
process (clean, salted, clean, salted...) after an untimed call of each, and print medians:

* ``salt/organs10``: ``evaluate`` (Dice, HD95, ASSD, NSD@2 mm) of the 10-organ map, clean vs 1e-5
  salt (target: salted within 1.5x of clean);
* ``salt/labels100``: the same on a 512^3 map of 100 labels, clean vs 1e-4 salt (target: within 2x);
* ``salt/organ-hd95``: ``hd95`` of the salted organ against DeepMind's algorithm on the same pair
  (``surface-distance`` when installed, else the bench's NumPy + SciPy implementation of its steps:
  crop to the box, neighbour codes, the Euclidean distance transform of the crop; target: 100x);
* ``many/organs90``: the default table of ``evaluate`` on ~80 Voronoi-like organs filling a body
  (target: at most 0.5 s on 2 threads), against a loop of DeepMind's algorithm over the labels
  (target: 100x).

Each value is checked against the reference before timing. :func:`measure` returns the rows; the
gate (:mod:`bench.gate`) fails on the ratios in ``LIMITS`` (with room for noise). Options:
``--threads N`` (default: numba's), ``--repeats N``, ``--size small`` (a dry run), ``--only NAME``.
"""
import argparse
import statistics
import sys
import time

import numpy as np

#: name -> (kind, limit) used by the gate: "max" fails above the limit (salted / clean time), "min"
#: below it (speed-up over the peer). Targets are 1.5x, 2x, 100x and 100x; the limits leave room
#: for a loaded machine.
LIMITS = {
    "salt/organs10": ("max", 2.0),
    "salt/labels100": ("max", 3.0),
    "salt/organ-hd95": ("min", 50.0),
    "many/organs90": ("min", 50.0),
}

METRICS = ["dice", "hd95", "assd", "nsd@2"]


def _interleaved(calls, repeats):
    """Median seconds of each of ``calls`` (a list of functions), run in turn ``repeats`` times."""
    times = [[] for _ in calls]
    for _ in range(repeats):
        for t, f in zip(times, calls):
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _evaluate(case, metrics=METRICS):
    import fastseg

    return lambda: fastseg.evaluate(case.pred, case.ref, spacing=case.spacing, metrics=metrics)


def _salt_row(name, clean, salted, repeats):
    import fastseg  # noqa: F401  (compiled on the untimed calls below)

    a, b = _evaluate(clean)(), _evaluate(salted)()
    assert a.labels == b.labels or set(a.labels) <= set(b.labels)
    tc, ts = _interleaved([_evaluate(clean), _evaluate(salted)], repeats)
    return {"name": name, "what": f"evaluate {clean.shape_str()}, {len(clean.labels)} labels, clean vs salted",
            "clean_s": tc, "salted_s": ts, "ratio": ts / tc}


def deepmind_like_hd95(pred, ref, spacing):
    """HD95 by DeepMind's algorithm: ``surface-distance`` if installed, else its steps in NumPy and
    SciPy (crop to the union's box, neighbour codes, the EDT of the crop; see ``bench.tasks``)."""
    from bench import peers_extra as px
    from bench.tasks import numpy_surfel_hd

    if px.available("deepmind"):
        return px.deepmind_hd(pred, ref, spacing, 95.0), "DeepMind surface-distance"

    class _C:
        pass

    c = _C()
    c.pred, c.ref, c.spacing = pred, ref, spacing
    return numpy_surfel_hd(c, 95.0), "DeepMind's algorithm in NumPy/SciPy (surface-distance not installed)"


def _peer_row(name, what, ours, theirs, check, repeats, peer_repeats=1):
    got, ref = ours(), theirs()
    check(got, ref)
    (t_ours,) = _interleaved([ours], repeats)
    (t_peer,) = _interleaved([theirs], peer_repeats)
    return {"name": name, "what": what, "fastseg_s": t_ours, "peer_s": t_peer, "ratio": t_peer / t_ours}


def measure(size="full", repeats=5, only=None):
    """The rows of every check (dicts with ``name``, ``ratio`` and the times)."""
    import fastseg
    from bench import cases

    rows = []
    want = lambda n: not only or n in only  # noqa: E731
    if want("salt/organs10"):
        rows.append(_salt_row("salt/organs10", cases.get_case("organs10", size),
                              cases.get_case("organs10_salted", size), repeats))
    if want("salt/labels100"):
        rows.append(_salt_row("salt/labels100", cases.get_case("labels100", size),
                              cases.get_case("labels100_salted", size), max(1, repeats // 2)))
    if want("salt/organ-hd95"):
        c = cases.get_case("organ_salted", size)
        peer = {}

        def theirs():
            value, peer["label"] = deepmind_like_hd95(c.pred, c.ref, c.spacing)
            return value

        def check(a, b):
            assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), (a, b)

        row = _peer_row("salt/organ-hd95", "", lambda: fastseg.hd95(c.pred, c.ref, spacing=c.spacing,
                                                                      convention="deepmind"),
                        theirs, check, repeats)
        row["what"] = f"hd95 of the salted organ vs {peer['label']}"
        rows.append(row)
    if want("many/organs90"):
        c = cases.get_case("organs90", size)
        ours = lambda: fastseg.evaluate(c.pred, c.ref, spacing=c.spacing)  # noqa: E731
        labels = c.labels

        def theirs():
            return {lab: deepmind_like_hd95(c.pred == lab, c.ref == lab, c.spacing)[0] for lab in labels}

        def check(res, ref):
            for lab in labels:
                a = fastseg.hd95(c.pred == lab, c.ref == lab, spacing=c.spacing, convention="deepmind")
                assert abs(res["hd95"][lab] - ref[lab]) <= 1e-9 * max(1.0, ref[lab]) and a == res["hd95"][lab]

        row = _peer_row("many/organs90", "", ours, theirs, check, repeats)
        row["what"] = (f"evaluate's default table, {len(labels)} organs {c.shape_str()}, vs a loop of "
                       f"DeepMind's algorithm (HD95 only) over the labels")
        rows.append(row)
    return rows


def failures(rows):
    """Lines for the rows outside :data:`LIMITS`."""
    out = []
    for r in rows:
        kind, limit = LIMITS[r["name"]]
        if (kind == "max" and r["ratio"] > limit) or (kind == "min" and r["ratio"] < limit):
            out.append(f"FAIL {r['name']}: {r['ratio']:.2f}x ({'at most' if kind == 'max' else 'at least'} "
                       f"{limit:g}x)")
    return out


def lines(rows):
    out = []
    for r in rows:
        if "clean_s" in r:
            out.append(f"{r['name']}: {r['what']}: clean {r['clean_s'] * 1e3:.0f} ms, salted "
                       f"{r['salted_s'] * 1e3:.0f} ms -> {r['ratio']:.2f}x")
        else:
            out.append(f"{r['name']}: {r['what']}: fastseg {r['fastseg_s'] * 1e3:.0f} ms, peer "
                       f"{r['peer_s'] * 1e3:.0f} ms -> {r['ratio']:.0f}x")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", default="full", choices=("full", "small"))
    ap.add_argument("--only", action="append")
    a = ap.parse_args(argv)
    import fastseg  # noqa: F401  (before numba starts its thread pool: fastseg starts it with idle threads asleep)
    import numba

    if a.threads:
        numba.set_num_threads(a.threads)
    print(f"fastseg salted/many-structure checks: {a.size} cases, threads={a.threads or 'numba default'}", flush=True)
    rows = measure(a.size, a.repeats, a.only)
    for line in lines(rows):
        print(line, flush=True)
    bad = failures(rows)
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad and a.size == "full" else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
