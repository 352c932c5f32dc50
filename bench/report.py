"""``python -m bench.report``: run the benchmark suite and write ``docs/benchmarks.md`` and
``docs/benchmarks.png``.

1. the standard cases are generated once into the ``.npy`` cache (:mod:`bench.cases`);
2. the suite runs in ONE pytest process (``--benchmark-enable``, full sizes), so every ratio compares
   timings taken side by side in the same process; values are checked before anything is timed;
3. the peak extra memory of the main calls is measured, each in a fresh subprocess
   (:mod:`bench.memory`);
   then the roofline of the memory-bound stages against the read bandwidth of the same run
   (:mod:`bench.roofline`, issue 18);
4. the page (machine, versions, thread settings, targets, a table per case, cold start) and one
   chart are written; the raw pytest-benchmark JSON is kept next to them.

Options: ``--json FILE`` re-renders from an earlier run's JSON (no timing); ``-k EXPR`` selects
benchmarks as pytest's ``-k``; ``--size small`` is a quick end-to-end check of the machinery (its
numbers mean nothing); ``--no-memory``; ``--no-roofline``; ``--out DIR`` (default ``docs``).
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile

from bench import cases

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: (label, task, case, peer tool, target speed-up of fastseg); the fastseg row is the peer's ``versus``
TARGETS = [
    ("confusion vs NumPy count_nonzero expressions", "confusion", "organ", "numpy", 4.0),
    ("confusion_matrix (10 labels, uint8) vs np.bincount", "confusion_matrix", "organs10", "bincount", 10.0),
    ("HD95 organ vs DeepMind", "hd95", "organ", "deepmind", 10.0),
    ("HD95 organ vs MONAI", "hd95", "organ", "monai", 10.0),
    ("HD95 organ vs crop + erosion + edt package", "hd95", "organ", "crop-edt", 3.0),
    ("HD95 organ vs crop + erosion + SciPy EDT", "hd95", "organ", "crop-scipy", None),
    ("HD95 lesion vs DeepMind", "hd95", "lesion", "deepmind", 4.0),
    ("HD95 MNI grey matter vs DeepMind", "hd95", "mni", "deepmind", 8.0),
    ("evaluate 10 organs vs DeepMind loop", "evaluate", "organs10", "deepmind", 10.0),
    ("evaluate 10 organs vs MONAI loop", "evaluate", "organs10", "monai", 50.0),
    ("evaluate 10 organs vs fastseg single-metric calls", "evaluate", "organs10", "fastseg-loop", 2.0),
]

#: peak extra memory runs: (task, case, tool)
MEMORY = [
    ("confusion", "organ", "fastseg"), ("confusion", "organ", "numpy"), ("confusion", "organ", "numpy-floor"),
    ("confusion_matrix", "organs10", "fastseg"), ("confusion_matrix", "organs10", "bincount"),
    ("hd95", "organ", "fastseg"), ("hd95", "organ", "fastseg-voxel"), ("hd95", "organ", "deepmind"),
    ("hd95", "organ", "monai"), ("hd95", "organ", "crop-scipy"), ("hd95", "organ", "crop-edt"),
    ("hd95", "organ", "medpy"), ("hd95", "organ", "segmetrics"),
    ("hd95", "lesion", "fastseg"), ("hd95", "lesion", "deepmind"),
    ("hd95", "mni", "fastseg"), ("hd95", "mni", "deepmind"),
    ("evaluate", "organs10", "fastseg"), ("evaluate", "organs10", "fastseg-loop"),
    ("evaluate", "organs10", "deepmind"), ("evaluate", "organs10", "monai"),
]
MEMORY_TARGET = ("hd95", "organ", "fastseg", "deepmind", 1 / 3)

CASE_ORDER = ["organ", "lesion", "organs10", "mni", "slice2d"]
TASK_ORDER = ["confusion", "dice", "confusion_matrix", "boundary", "surfels", "edt", "hd95", "hd", "assd", "nsd",
              "boundary_iou", "cldice", "evaluate", "cohort"]


# ------------------------------------------------------------------------------------ environment

def _version(mod):
    from importlib import metadata

    for name in (mod, mod.replace("_", "-"), mod.lower()):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _git():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _threads():
    """Thread settings as the benchmarks see them (numba's layer is known after a parallel call)."""
    import numba
    import numpy as np

    import fastseg

    a = np.zeros(1 << 20, bool)
    fastseg.confusion(a, a)
    out = {"numba threads": numba.get_num_threads(), "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS}
    try:
        out["numba threading layer"] = numba.threading_layer()
    except ValueError:
        out["numba threading layer"] = "not initialised"
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            import torch

            out["torch threads (MONAI)"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001 - informative only
        pass
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        out[var] = os.environ.get(var, "unset")
    out["edt package"] = "parallel=1"
    out["NumPy / SciPy / DeepMind / MedPy"] = "single-threaded"
    return out


def environment():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    versions = {}
    for mod in ("numpy", "scipy", "numba", "llvmlite", "nibabel", "pytest-benchmark", "surface-distance", "MedPy",
                "monai", "torch", "edt", "SimpleITK", "seg-metrics", "nilearn", "matplotlib"):
        versions[mod] = _version(mod) or "not installed"
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": _cpu_model(), "cores": cores, "ram_gb": _mem_total_gb(),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "fastseg": f"{_version('fastseg')} (git {_git()})", "versions": versions,
        "load_before": os.getloadavg(),
    }


# ----------------------------------------------------------------------------------------- running

def run_suite(json_path, select=None, size="full"):
    env = dict(os.environ, FASTSEG_BENCH_SIZE=size)
    cmd = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", "-q", "--benchmark-enable",
           f"--benchmark-json={json_path}", "--benchmark-columns=median,min,rounds"]
    if select:
        cmd += ["-k", select]
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    if proc.returncode not in (0, 5):  # 5: nothing selected
        raise SystemExit(f"the benchmark suite failed (pytest exit {proc.returncode}); no report written.")


def load_results(json_path):
    with open(json_path) as f:
        data = json.load(f)
    rows = []
    for b in data.get("benchmarks", []):
        info = dict(b.get("extra_info") or {})
        st = b["stats"]
        info.update(median=st["median"], min=st["min"], max=st["max"], iqr=st.get("iqr", 0.0),
                    rounds=st["rounds"], name=b["name"])
        rows.append(info)
    return rows, data


def measure_memory(rows, size):
    from bench import memory
    from bench.tasks import TASKS, tool_available

    have = {(r.get("task"), r.get("case"), r.get("tool")) for r in rows}
    out = {}
    for key in MEMORY:
        task, case, tool = key
        if key not in have or not tool_available(TASKS[task].tools[tool]):
            continue
        print(f"peak memory: {task} / {case} / {tool} ...", flush=True)
        out["/".join(key)] = memory.measure(task, case, tool, size)
    return out


# --------------------------------------------------------------------------------------- rendering

def _fmt_s(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return ""
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _fmt_ratio(x):
    if x is None or math.isnan(x):
        return ""
    return f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def _fmt_val(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list) and len(v) <= 4:
        return ", ".join(_fmt_val(x) for x in v)
    if isinstance(v, dict):
        return ""
    return "" if v is None else str(v)


def _index(rows):
    return {(r.get("task"), r.get("case"), r.get("tool")): r for r in rows}


def ratio(idx, task, case, tool, versus=None):
    """Speed-up of fastseg: the peer's median over the median of the fastseg row it is compared with."""
    peer = idx.get((task, case, tool))
    if peer is None:
        return None, None
    versus = versus or peer.get("versus")
    fs = idx.get((task, case, versus))
    if fs is None or not fs["median"]:
        return None, versus
    return peer["median"] / fs["median"], versus


def one_thread_twin(versus):
    return {"fastseg": "fastseg-1t", "fastseg-voxel": "fastseg-voxel-1t"}.get(versus)


def paired_targets(size, max_seconds=60.0):
    """Interleaved medians (:mod:`bench.paired`) of every target comparison, default threads."""
    from bench.paired import paired
    from bench.tasks import TASKS, tool_available

    out = {}
    for _, task, case, tool, _ in TARGETS:
        t = TASKS[task].tools[tool]
        if not tool_available(t) or (case == "mni" and not cases.mni_available()):
            continue
        print(f"interleaved: {task} / {case}: {t.versus} vs {tool} ...", flush=True)
        try:
            p = paired(task, case, t.versus, tool, size=size, repeats=7, max_seconds=max_seconds)
            out["/".join((task, case, tool))] = {"fastseg_s": p.fastseg_s, "other_s": p.other_s,
                                                 "repeats": p.repeats, "ratio": p.ratio}
        except AssertionError as exc:
            out["/".join((task, case, tool))] = {"error": str(exc)}
    return out


def profiles(names=("hd95", "hd95-voxel", "hd95-lesion", "evaluate")):
    """cProfile tables of one warm fastseg call per name (see :mod:`bench.profiling`)."""
    from bench import profiling as profile

    out = {}
    for n in names:
        try:
            out[n] = profile.profile(n)
        except Exception as exc:  # noqa: BLE001 - a profile is informative only
            out[n] = f"profile failed: {exc}"
    return out


def _cohort_section(w, co):
    """Issue 5's cohort (``python -m bench.cohort``): the CLI with --jobs 1 and --jobs 2."""
    j1, j2 = co["jobs1"], co["jobs2"]
    w("## Cohort CLI (issue 5)")
    w("")
    w(f"`fastseg evaluate PRED REF --tolerance {co['tolerance']:g}` (default metrics) in a subprocess on "
      f"{co['cases']} cases of {'x'.join(map(str, co['shape']))} uint8 label maps (5 labels, spacing "
      f"{' x '.join(f'{x:g}' for x in co['spacing'])} mm) stored as `.nii.gz`; `--jobs 1` and `--jobs 2` "
      f"interleaved, medians of {len(j1['runs'])} runs each, values checked against `fastseg.evaluate` first "
      "(`python -m bench.cohort`). With `--jobs 2` the CLI process scores cases itself and one worker "
      f"process ({j2['runs'][0].get('workers_started_by') or 'spawn'}ed before the warm-up) scores the others. "
      "*scoring*: the run's wall time after the options are checked and the kernels loaded (the `timing` in "
      "`--summary`); *with start*: the whole process, interpreter start included. Reading and evaluating are "
      "summed over cases, as each case's own wall time: with more threads than cores they include waiting.")
    w("")
    w("| run | cases/s scoring | cases/s with start | reading ms/case | evaluating ms/case | compute share | threads per worker |")
    w("|---|---|---|---|---|---|---|")
    for name, r in (("--jobs 1", j1), ("--jobs 2", j2)):
        w(f"| {name} | {r['cases_per_s']:.2f} | {r['cases_per_s_process']:.2f} | {r['read_ms_per_case']:.0f} | "
          f"{r['evaluate_ms_per_case']:.0f} | {100 * (1 - r['read_share']):.0f}% | {r['threads']} |")
    w("")
    spread = co.get("pair_ratios")
    spread = f" (each repeat's own ratio: {', '.join(f'{x:.2f}' for x in spread)})" if spread else ""
    w(f"`--jobs 2` / `--jobs 1`: **{co['ratio']:.2f}x** (scoring){spread}, {co['ratio_process']:.2f}x "
      "(whole process). Issue 5's targets: at least 1.6x, and a compute share under a third.")
    w("")


def render(rows, env, threads, mem, out_dir, data, profs=None, pairs=None, cohort=None, roofline=None):
    idx = _index(rows)
    lines = []
    w = lines.append
    w("# fastseg benchmarks")
    w("")
    w(f"Generated by `python -m bench.report` on {env['date']}. Every ratio compares two timings taken side by "
      "side in the same pytest process (`--benchmark-enable`), after both tools were checked to give the same "
      "value under the matching convention. Numbers on a shared machine are noisy; the ratios are the result, "
      "the absolute times are indicative.")
    w("")
    w("## Machine and settings")
    w("")
    w(f"- CPU: {env['cpu']}, {env['cores']} cores available to the process, {env['ram_gb']:.0f} GB RAM; "
      f"{env['os']}; Python {env['python']}.")
    la0, la1 = env["load_before"], env.get("load_after", (float('nan'),) * 3)
    w(f"- Load average (1/5/15 min) before the run: {la0[0]:.1f} / {la0[1]:.1f} / {la0[2]:.1f}; after: "
      f"{la1[0]:.1f} / {la1[1]:.1f} / {la1[2]:.1f}. The machine is shared with other jobs: a load above the "
      "core count means the timings were taken under contention (parallel kernels suffer most).")
    ci = (data or {}).get("commit_info") or {}
    if ci.get("id"):
        w(f"- fastseg {_version('fastseg')}, git commit {ci['id'][:10]} ({ci.get('time', '')[:16]})"
          f"{' with uncommitted changes' if ci.get('dirty') else ''} -- the code the suite ran on.")
    else:
        w(f"- fastseg {env['fastseg']}.")
    w("- Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".")
    w("- Threads: " + ", ".join(f"{k}: {v}" for k, v in threads.items()) + ". Rows marked *1 thread* run "
      "fastseg with `threads=1`; the others use numba's default (all cores).")
    w("- Method: pytest-benchmark pedantic mode, one warm-up/check call outside the timed region, then "
      "rounds chosen from that call (5-50 for fast calls, 1-3 for calls over a second: MedPy, seg-metrics, the "
      "MONAI loop); the table shows the median (and the min). Mvox/s = voxels of the tool's input / median "
      "(the whole volume for metrics; the cropped region for the stage benchmarks). Peak extra memory: "
      "`ru_maxrss` after the call minus before it, in a fresh `python -c` subprocess that has loaded the "
      "inputs and warmed the tool up on the small case (the peak-RSS mark reset through "
      "`/proc/self/clear_refs` before the call when the kernel allows it).")
    w("- Cases (`bench/cases.py`, seeded): " + "; ".join(
        f"**{n}**: {d}" for n, d in _case_descriptions().items()) + ".")
    w("")

    # -------- targets
    w("## Targets (issue 6)")
    w("")
    pairs = pairs or {}
    w("*speed-up*: pytest-benchmark medians from the suite run (the tables below); *1 thread*: the same with "
      "fastseg on one thread; *interleaved*: a second measurement after the suite, the two calls alternated "
      "(fastseg, peer, peer, fastseg, ...) in one process, medians of up to 7 pairs (fewer for calls of tens of "
      "seconds) -- robust to load that comes and goes on a shared machine. *met* judges the lower of "
      "*speed-up* and *interleaved*.")
    w("")
    w("| comparison | fastseg row | peer median | fastseg median | speed-up | 1 thread | interleaved | target | met |")
    w("|---|---|---|---|---|---|---|---|---|")
    misses = []
    for label, task, case, tool, target in TARGETS:
        r, versus = ratio(idx, task, case, tool)
        if r is None:
            w(f"| {label} | | | | not measured | | | {_fmt_ratio(target) if target else ''} | |")
            continue
        twin = one_thread_twin(versus)
        r1, _ = ratio(idx, task, case, tool, twin) if twin and (task, case, twin) in idx else (None, None)
        pr = pairs.get("/".join((task, case, tool)), {})
        ri = pr.get("ratio")
        itxt = f"{_fmt_ratio(ri)} ({pr['repeats']})" if ri else pr.get("error", "")
        judged = min(r, ri) if ri else r
        met = "" if target is None else ("yes" if judged >= target else "**NO**")
        if target is not None and judged < target:
            misses.append(f"{label}: {_fmt_ratio(r)} / interleaved {_fmt_ratio(ri) if ri else '-'} "
                          f"(target {_fmt_ratio(target)})")
        w(f"| {label} | {versus} | {_fmt_s(idx[(task, case, tool)]['median'])} | "
          f"{_fmt_s(idx[(task, case, versus)]['median'])} | **{_fmt_ratio(r)}** | {_fmt_ratio(r1)} | {itxt} | "
          f"{_fmt_ratio(target) if target else '-'} | {met} |")
    mt, mc, mf, mp, mtarget = MEMORY_TARGET
    a, b = mem.get(f"{mt}/{mc}/{mf}", {}), mem.get(f"{mt}/{mc}/{mp}", {})
    if "extra_mb" in a and "extra_mb" in b:
        frac = a["extra_mb"] / b["extra_mb"] if b["extra_mb"] > 0 else float("nan")
        met = "yes" if frac <= mtarget else "**NO**"
        if frac > mtarget:
            misses.append(f"peak extra memory HD95 organ: {frac:.2f} of DeepMind's (target <= 1/3)")
        w(f"| peak extra memory, HD95 organ, fastseg / DeepMind | fastseg | {b['extra_mb']:.0f} MB | "
          f"{a['extra_mb']:.0f} MB | **{frac:.2f}** of DeepMind's | | | <= 0.33 | {met} |")
    w("")
    if misses:
        w("**Targets missed in this run:** " + "; ".join(misses) + ". Profiles of the fastseg calls are at the "
          "end of the page.")
    else:
        w("All targets measured in this run were met.")
    w("")
    w("![speed-up of fastseg over each peer](benchmarks.png)")
    w("")
    if roofline:
        from bench.roofline import render as render_roofline

        w(render_roofline(roofline))
        w("")
    if cohort:
        _cohort_section(w, cohort)

    # -------- per task and case
    w("## Results per case")
    w("")
    w("Speed-up = the row's median / the median of the fastseg row doing the same work under the same convention "
      "(column *vs*); *1 thread* uses fastseg's single-thread row instead. *checked against*: the implementation "
      "whose value this row reproduced before it was timed.")
    from bench.tasks import TASKS

    groups = {}
    for r in rows:
        if r.get("task") in (None, "coldstart"):
            continue
        groups.setdefault((r["task"], r["case"]), []).append(r)
    def order(key):
        t, c = key
        return (TASK_ORDER.index(t) if t in TASK_ORDER else 99, CASE_ORDER.index(c) if c in CASE_ORDER else 99)
    for task, case in sorted(groups, key=order):
        g = groups[(task, case)]
        title = TASKS[task].title if task in TASKS else "evaluate_cohort over NIfTI files"
        task_note = f" Note: {TASKS[task].note}." if task in TASKS and TASKS[task].note else ""
        first = g[0]
        shape = "x".join(str(n) for n in first.get("shape") or [])
        w("")
        w(f"### {task} / {case}")
        w("")
        w(f"{title}. Input {shape} ({first.get('voxels', 0) / 1e6:.2f} Mvox).{task_note}")
        w("")
        w("| tool | median | min | rounds | Mvox/s | peak extra | speed-up | vs | 1 thread | checked against | value |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        tools = TASKS[task].tools if task in TASKS else {}
        g.sort(key=lambda r: (list(tools).index(r["tool"]) if r["tool"] in tools else 99))
        for r in g:
            rt, versus = ratio(idx, task, case, r["tool"])
            twin = one_thread_twin(versus) if versus else None
            r1 = ratio(idx, task, case, r["tool"], twin)[0] if twin and (task, case, twin) in idx else None
            m = mem.get(f"{task}/{case}/{r['tool']}", {})
            mtxt = f"{m['extra_mb']:.0f} MB" if "extra_mb" in m else ("error" if "error" in m else "")
            mv = r.get("voxels", 0) / r["median"] / 1e6 if r["median"] else float("nan")
            note = f" ({r['note']})" if r.get("note") else ""
            w(f"| {r.get('label', r['tool'])}{note} | {_fmt_s(r['median'])} | {_fmt_s(r['min'])} | {r['rounds']} | "
              f"{mv:,.0f} | {mtxt} | {_fmt_ratio(rt) if rt else ''} | {versus or ''} | {_fmt_ratio(r1) if r1 else ''} | "
              f"{r.get('checked_against', '')} | {_fmt_val(r.get('value'))} |")

    # -------- cold start
    cold = [r for r in rows if r.get("task") == "coldstart"]
    if cold:
        w("")
        w("## Cold start")
        w("")
        for r in cold:
            if r.get("case") == "import":
                runs = r.get("import_runs") or []
                w(f"`import fastseg` in a fresh interpreter (numba and llvmlite included): median "
                  f"{_fmt_s(sorted(runs)[len(runs) // 2]) if runs else '?'} over {len(runs)} runs "
                  f"({', '.join(_fmt_s(x) for x in runs)}).")
                w("")
        for r in cold:
            if r.get("case") == "first_calls":
                w("First call in a fresh interpreter, small cases (`bench/coldstart.py`): *empty cache* = "
                  "`NUMBA_CACHE_DIR` set to a new directory (every kernel the call needs is compiled); *warm cache* "
                  "= a second interpreter on the cache the first one filled; *steady* = the same call again in that "
                  "interpreter.")
                w("")
                w("| call | case | empty cache | warm cache | steady |")
                w("|---|---|---|---|---|")
                for name, v in r["first_calls"].items():
                    w(f"| {name} | {v['case']} | {_fmt_s(v['cold'])} | {_fmt_s(v['warm'])} | {_fmt_s(v['steady'])} |")
                w("")

    # -------- memory runs that failed
    errs = {k: v["error"] for k, v in mem.items() if "error" in v}
    if errs:
        w("")
        w("Peak-memory runs that failed: " + "; ".join(f"{k}: {v}" for k, v in errs.items()))
    if profs:
        w("")
        w("## Profiles")
        w("")
        w("`python -m bench.profiling NAME`: cProfile of one warm call on the full-size case, default threads, measured when this page was "
          "rendered (load average at that moment: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + "). Each numba kernel is one Python-level call, so the table splits the call into "
          "its stages (`label_confusion`: the counting pass that also finds the bounding boxes; `surfels` / "
          "`boundary_voxels`: surface extraction; `row_distances` / `line_distances` and `search`: the "
          "ordered nearest-surface search (`brute`, `sq_distance_to_features*`: its exact fallbacks for far "
          "elements, pairs or the full EDT); `_sorted`: sorting the distance sets).")
        for name, text in profs.items():
            w("")
            w(f"**{name}**")
            w("")
            w("```")
            w(text)
            w("```")
    w("")
    w("## How to reproduce")
    w("")
    w("```")
    w("python -m bench.report                 # this page: full suite + memory + chart (tens of minutes)")
    w("python -m pytest bench --benchmark-enable -k 'hd95 and organ'   # one group, full size")
    w("python -m pytest bench                 # smoke run: small cases, values checked, nothing timed")
    w("python -m bench.gate                   # regression gate (a few minutes)")
    w("python -m bench.roofline --docs        # the roofline section alone, updated in place")
    w("```")
    w("")
    return "\n".join(lines), misses


def _case_descriptions():
    from bench.cases import CASES  # noqa: F401 - keeps the order of the module docstring

    return {
        "organ": "256x512x512 bool, spacing 2.5x0.8x0.8 mm, a liver-sized blob and a shifted, rescaled "
                 "prediction with a false-positive island",
        "lesion": "the same volume, a 12 mm lesion (15 voxels in-plane)",
        "organs10": "the same volume as uint8 label maps of 10 organs",
        "mni": "MNI152 grey matter (nilearn), ref p > 0.5, pred p > 0.35, 197x233x189 at 1 mm",
        "slice2d": "1024x1024 2D, 0.7 mm",
    }


def chart(rows, mem, path):
    """Bar chart: speed-up of fastseg over each peer (log scale), targets marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return False
    idx = _index(rows)
    targets = {(t, c, p): tgt for _, t, c, p, tgt in TARGETS}
    items = []
    for (task, case, tool), r in idx.items():
        if task in (None, "coldstart") or not r.get("versus") or tool in ("numpy-floor",):
            continue
        rt, _ = ratio(idx, task, case, tool)
        if rt:
            items.append((f"{task} / {case}: {tool}", rt, targets.get((task, case, tool))))
    if not items:
        return False
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    items.sort(key=lambda x: (order.get(x[0].split(" / ")[0], 99), x[0]))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(items) + 1.5))
    ys = range(len(items))
    colors = ["#2b8cbe" if (t is None or r >= t) else "#e34a33" for _, r, t in items]
    ax.barh(list(ys), [r for _, r, _ in items], color=colors)
    for y, (_, r, t) in zip(ys, items):
        if t:
            ax.plot([t, t], [y - 0.4, y + 0.4], color="black", lw=2)
        ax.text(r * 1.05, y, _fmt_ratio(r), va="center", fontsize=7)
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([n for n, _, _ in items], fontsize=7)
    ax.invert_yaxis()
    ax.margins(y=0.005)
    ax.set_xlabel("speed-up of fastseg (peer median / fastseg median, same process); black tick = target")
    ax.set_title("fastseg vs peers (red: below target)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the benchmark suite and write docs/benchmarks.md.")
    ap.add_argument("--json", help="render from this pytest-benchmark JSON instead of running the suite")
    ap.add_argument("-k", dest="select", help="pytest -k expression selecting benchmarks")
    ap.add_argument("--size", default="full", choices=cases.SIZES)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--memory-json", help="reuse peak-memory results saved by an earlier run")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile tables")
    ap.add_argument("--no-paired", action="store_true", help="skip the interleaved target measurements")
    ap.add_argument("--paired-json", help="reuse interleaved results saved by an earlier run")
    ap.add_argument("--no-cohort", action="store_true", help="skip issue 5's 40-case cohort CLI run")
    ap.add_argument("--cohort-json", help="reuse the cohort results saved by an earlier run")
    ap.add_argument("--no-roofline", action="store_true", help="skip issue 18's roofline of the memory-bound stages")
    ap.add_argument("--roofline-json", help="reuse the roofline results saved by an earlier run")
    ap.add_argument("--out", default=os.path.join(REPO, "docs"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    env = environment()
    for name in cases.CASES:
        if name == "mni" and not cases.mni_available():
            continue
        cases.materialize(name, a.size)
        cases.materialize(name, "small")
    json_path = a.json
    env_path = os.path.join(a.out, "benchmarks-env.json")
    if json_path is None:
        json_path = os.path.join(a.out, "benchmarks.json")
        run_suite(json_path, a.select, a.size)
        env["load_after"] = os.getloadavg()
        with open(env_path, "w") as f:
            json.dump(env, f, indent=1)
    else:  # re-rendering: the machine state of the run that made the JSON, when it was saved
        saved = os.path.join(os.path.dirname(os.path.abspath(json_path)), "benchmarks-env.json")
        if os.path.exists(saved):
            with open(saved) as f:
                env.update(json.load(f))
        else:
            env["date"] = "unknown (re-rendered)"
            env["load_before"] = env["load_after"] = (float("nan"),) * 3
    rows, data = load_results(json_path)
    if a.memory_json:
        with open(a.memory_json) as f:
            mem = json.load(f)
    elif a.no_memory:
        mem = {}
    else:
        mem = measure_memory(rows, a.size)
        with open(os.path.join(a.out, "benchmarks-memory.json"), "w") as f:
            json.dump(mem, f, indent=1)
    if a.paired_json:
        with open(a.paired_json) as f:
            pairs = json.load(f)
    elif a.no_paired:
        pairs = {}
    else:
        pairs = paired_targets(a.size)
        with open(os.path.join(a.out, "benchmarks-paired.json"), "w") as f:
            json.dump(pairs, f, indent=1)
    if a.cohort_json:
        with open(a.cohort_json) as f:
            cohort = json.load(f)
    elif a.no_cohort:
        cohort = None
    else:
        from bench import cohort as bench_cohort

        cohort_path = os.path.join(a.out, "benchmarks-cohort.json")
        bench_cohort.main(["--json", cohort_path])
        with open(cohort_path) as f:
            cohort = json.load(f)
    if a.roofline_json:
        with open(a.roofline_json) as f:
            roof = json.load(f)
    elif a.no_roofline:
        roof = None
    else:
        from bench import roofline

        roof = roofline.measure(a.size)
        with open(os.path.join(a.out, "benchmarks-roofline.json"), "w") as f:
            json.dump(roof, f, indent=1)
    threads = _threads()
    profs = {} if a.no_profile else profiles()
    text, misses = render(rows, env, threads, mem, a.out, data, profs, pairs, cohort, roof)
    chart(rows, mem, os.path.join(a.out, "benchmarks.png"))
    with open(os.path.join(a.out, "benchmarks.md"), "w") as f:
        f.write(text)
    print(f"wrote {os.path.join(a.out, 'benchmarks.md')}")
    for m in misses:
        print("target missed:", m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
