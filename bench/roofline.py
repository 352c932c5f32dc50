"""``python -m bench.roofline``: the memory-bound stages against the machine's read bandwidth (issue 18).

A stage that reads N bytes once cannot be faster than reading N bytes. For each stage this measures,
in one process and interleaved with the bandwidth probes (probe, stages, stages reversed, probe...):

- the bytes it must read (its inputs, each once);
- its median time on 1 and 2 threads, and the GB/s that makes (bytes read / time);
- the machine's read bandwidth in the same run: NumPy's ``np.count_nonzero`` over the organ case's two
  bool masks (the two-input read floor of issue 18: what a user's NumPy count reads at), and, for
  reference, ``np.max`` over the same bytes as 64-bit words (the fastest plain NumPy read here).
  NumPy's reads hold the GIL, so there is no two-thread NumPy figure: the 2-thread rows are compared
  with the same one-thread bandwidth.

``fraction`` = stage GB/s / count_nonzero bandwidth: 1.0 means the stage reads its bytes as fast as
``count_nonzero`` does, 0.5 that it takes twice the time NumPy needs just to read them. The gate
(``python -m bench.gate``) fails when a gated stage falls below :data:`GATE_FRACTION`.

Options: ``--size small`` (a dry run of the machinery: the numbers mean nothing), ``--repeats N``,
``--threads 1 2``, ``--json FILE``, ``--docs FILE`` (replace or add the roofline section of that page,
by default ``docs/benchmarks.md``, leaving the rest of the page as it is).
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench import cases

#: a gated stage fails the gate below this fraction of the measured read bandwidth
GATE_FRACTION = 0.5

BEGIN = "<!-- roofline: written by python -m bench.roofline (or bench.report); edit the generator, not this -->"
END = "<!-- /roofline -->"


@dataclass(frozen=True)
class Stage:
    """One memory-bound stage: ``prepare(case)`` -> input (untimed), ``run(input)`` (timed, under the
    thread limit), ``arrays(input)`` -> the arrays it must read (each once), ``check(input, value)`` ->
    None or what differs. ``gated``: whether the gate holds it to :data:`GATE_FRACTION` (``why`` says
    why not)."""

    name: str
    case: str
    what: str
    prepare: Callable
    run: Callable
    arrays: Callable
    check: Callable
    gated: bool = True
    why: str = ""


def _binary_check(c, conf):
    want = (int(np.count_nonzero(c.pred)), int(np.count_nonzero(c.ref)))
    got = (conf.pred_count, conf.ref_count)
    return None if got == want else f"counts {got} != np.count_nonzero {want}"


def _label_check(c, lc):
    agree = int(np.count_nonzero(c.pred == c.ref))
    if int(lc.matrix.sum()) != c.pred.size or int(np.trace(lc.matrix)) != agree:
        return f"matrix total/trace {int(lc.matrix.sum())}/{int(np.trace(lc.matrix))} != {c.pred.size}/{agree}"
    return None


def _boundary_check(crop, out):
    from bench.tasks import TASKS

    want = TASKS["boundary"].tools["scipy"].run(crop)
    return None if np.array_equal(out, want) else "boundary voxels differ from SciPy's erosion"


def _stages():
    import fastseg
    from bench.tasks import TASKS

    boundary = TASKS["boundary"]

    return [
        Stage("binary confusion", "organ", "`fastseg.confusion(pred, ref)`: TP/FP/FN/TN of two bool masks",
              lambda c: c, lambda c: fastseg.confusion(c.pred, c.ref), lambda c: [c.pred, c.ref],
              _binary_check),
        Stage("label confusion", "organs10", "`fastseg.confusion_matrix(pred, ref)`: matrix and every label's "
              "boxes, two uint8 maps", lambda c: c, lambda c: fastseg.confusion_matrix(c.pred, c.ref),
              lambda c: [c.pred, c.ref], _label_check),
        Stage("boundary extraction", "organ", "boundary-voxel kernel (face connectivity) on the union crop, "
              "uint8 in, uint8 out", boundary.input, boundary.tools["fastseg"].run, lambda crop: [crop.mask], _boundary_check,
              gated=False, why="far from memory speed today (the surface kernels' per-voxel work): reported, not gated"),
    ]


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _probe(arrays):
    return lambda: [np.count_nonzero(a) for a in arrays]


def measure(size="full", repeats=9, threads=(1, 2), only=None):
    """Interleaved medians; returns a JSON-able dict (see :func:`render`). Raises AssertionError when a
    stage's value is wrong (checked once, before timing)."""
    from fastseg._kernels._jit import thread_limit

    organ = cases.get_case("organ", size)
    words = [a.view(np.uint8).reshape(-1).view(np.uint64) for a in (organ.pred, organ.ref)]
    organ_bytes = organ.pred.nbytes + organ.ref.nbytes
    jobs = {"machine/count_nonzero": _probe([organ.pred, organ.ref]),
            "machine/max_u64": lambda: [w.max() for w in words]}
    stages = [s for s in _stages() if only is None or s.name in only]
    inputs = {}
    for s in stages:
        inp = s.prepare(cases.get_case(s.case, size))
        with thread_limit(1):
            problem = s.check(inp, s.run(inp))  # the untimed first call: kernels compiled or loaded here
        if problem:
            raise AssertionError(f"roofline {s.name}/{s.case}: {problem}; no timing")
        inputs[s.name] = inp
        jobs[f"{s.name}/probe"] = _probe(s.arrays(inp))
        for t in threads:
            def job(s=s, inp=inp, t=t):
                with thread_limit(t):
                    s.run(inp)
            jobs[f"{s.name}/{t}"] = job
    for fn in jobs.values():
        fn()
    times = {k: [] for k in jobs}
    names = list(jobs)
    for i in range(repeats):
        for k in (names if i % 2 == 0 else names[::-1]):
            times[k].append(_timed(jobs[k]))
    med = {k: statistics.median(v) for k, v in times.items()}

    def timing(key, nb):
        v = times[key]
        return {"ms": med[key] * 1e3, "min_ms": min(v) * 1e3, "max_ms": max(v) * 1e3, "gbs": nb / med[key] / 1e9}

    out = {"size": size, "repeats": repeats, "threads": list(threads), "load": os.getloadavg(),
           "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
           "machine": {"bytes": organ_bytes, "count_nonzero": timing("machine/count_nonzero", organ_bytes),
                       "max_u64": timing("machine/max_u64", organ_bytes)},
           "stages": []}
    for s in stages:
        nb = sum(a.nbytes for a in s.arrays(inputs[s.name]))
        probe = timing(f"{s.name}/probe", nb)
        row = {"name": s.name, "case": s.case, "what": s.what, "bytes": nb, "gated": s.gated, "why": s.why,
               "probe": probe, "per_threads": {}}
        for t in threads:
            r = timing(f"{s.name}/{t}", nb)
            r["fraction"] = r["gbs"] / probe["gbs"]
            r["x_machine_floor"] = r["ms"] / out["machine"]["count_nonzero"]["ms"] * organ_bytes / nb
            row["per_threads"][str(t)] = r
        out["stages"].append(row)
    return out


def failures(result, threads):
    """Lines naming each gated stage below :data:`GATE_FRACTION` of the bandwidth on ``threads``."""
    bad = []
    for row in result["stages"]:
        r = row["per_threads"].get(str(threads))
        if row["gated"] and r and r["fraction"] < GATE_FRACTION:
            bad.append(f"roofline {row['name']}/{row['case']}: {r['gbs']:.1f} GB/s on {threads} thread(s) = "
                       f"{r['fraction']:.2f} of np.count_nonzero's {row['probe']['gbs']:.1f} GB/s over the same "
                       f"bytes (minimum {GATE_FRACTION:g})")
    return bad


def lines(result, threads):
    """One line per stage for the gate's output."""
    out = []
    for row in result["stages"]:
        r = row["per_threads"][str(threads)]
        tag = (("ok   " if r["fraction"] >= GATE_FRACTION else "FAIL ") if row["gated"] else "info ")
        out.append(f"{tag}roofline {row['name']}/{row['case']}: {r['ms']:.1f} ms, {r['gbs']:.1f} GB/s = "
                   f"{r['fraction']:.2f} of np.count_nonzero's {row['probe']['gbs']:.1f} GB/s over the same bytes"
                   + (f" (minimum {GATE_FRACTION:g})" if row["gated"] else f" ({row['why']})"))
    return out


def render(result):
    """The markdown section (between :data:`BEGIN` and :data:`END`)."""
    m = result["machine"]
    threads = result["threads"]
    w = [BEGIN, "## Roofline: the memory-bound stages (issue 18)", ""]
    w.append(
        f"`python -m bench.roofline` ({result.get('date', 'undated')}, {result['size']} cases, "
        f"{result['repeats']} interleaved repeats, load "
        f"average at the end {', '.join(f'{x:.1f}' for x in result['load'])}). A stage that reads N bytes once "
        "can go no faster than reading N bytes. **Measured read bandwidth, same run, one thread**: "
        f"`np.count_nonzero` over the organ case's two bool masks ({m['bytes'] / 1e6:.0f} MB, the two-input "
        f"read floor of issue 18) {m['count_nonzero']['ms']:.2f} ms = **{m['count_nonzero']['gbs']:.1f} GB/s**; "
        f"`np.max` over the same bytes as 64-bit words (the fastest plain NumPy read here) "
        f"{m['max_u64']['gbs']:.1f} GB/s. Each stage is also compared with `np.count_nonzero` over *its own* "
        "input arrays, timed in the same interleaved loop (*floor*): on this VM, reading the same number of "
        "bytes from other arrays, or at another moment, is not always as fast (the organ floor measured "
        "5.8-10.9 ms between runs of one day; compare *x floor* with *x organ floor*).")
    w.append("")
    w.append("*GB/s*: bytes read / median time. *x floor*: the stage's time over its floor's, so 1.00x reads "
             "at `count_nonzero`'s speed, and below 1 is faster than NumPy reads the bytes. NumPy's reads hold "
             "the GIL: there is no 2-thread NumPy figure, and the 2-thread rows are compared with the same "
             "one-thread floor. The gate (`python -m bench.gate`, one thread) fails when a gated stage takes "
             f"more than {1 / GATE_FRACTION:g}x its floor (below {GATE_FRACTION:g} of the bandwidth measured in "
             "its own run).")
    w.append("")
    cols = ["stage", "case", "reads", "floor: count_nonzero"]
    for t in threads:
        cols += [f"{t} thread{'s' if t > 1 else ''}: median (min-max)", "GB/s", "x floor"]
    cols += ["x organ floor (1 / 2 threads)", "gated"]
    w.append("| " + " | ".join(cols) + " |")
    w.append("|---" * len(cols) + "|")
    for row in result["stages"]:
        p = row["probe"]
        cells = [row["name"], row["case"], f"{row['bytes'] / 1e6:.1f} MB", f"{p['ms']:.2f} ms, {p['gbs']:.1f} GB/s"]
        for t in threads:
            r = row["per_threads"][str(t)]
            cells += [f"{r['ms']:.2f} ms ({r['min_ms']:.2f}-{r['max_ms']:.2f})", f"{r['gbs']:.1f}",
                      f"**{1 / r['fraction']:.2f}x**"]
        cells.append(" / ".join(f"{row['per_threads'][str(t)]['x_machine_floor']:.2f}x" for t in threads))
        cells.append(f"yes (<= {1 / GATE_FRACTION:g}x)" if row["gated"] else "no: " + row["why"])
        w.append("| " + " | ".join(cells) + " |")
    w.append("")
    w.append("*x organ floor*: the time against the organ masks' `count_nonzero` scaled to the stage's bytes "
             "(issue 18's targets are stated against that floor). What each stage reads: "
             + "; ".join(f"**{r['name']}**: {r['what']}" for r in result["stages"]) + ".")
    w.append(END)
    return "\n".join(w)


def write_docs(result, path):
    """Replace the roofline section of ``path`` (between the markers), or add it after the targets."""
    section = render(result)
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        anchor = "\n## Results per case"
        i = text.find("\n## Cohort CLI")
        i = i if i >= 0 else text.find(anchor)
        text = (text[:i] + "\n" + section + "\n" + text[i:]) if i >= 0 else text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Memory-bound stages against the measured read bandwidth.")
    ap.add_argument("--size", default="full", choices=cases.SIZES)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--docs", nargs="?", const=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "docs", "benchmarks.md"), help="update the roofline section of this page")
    a = ap.parse_args(argv)
    result = measure(a.size, a.repeats, tuple(a.threads))
    print(render(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if a.docs:
        write_docs(result, a.docs)
        print(f"updated {a.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
