"""Cold start: what a user waits for before the first number.

* ``import fastseg`` in a fresh interpreter (numba and llvmlite included), median of several runs;
* the first call of ``dice``, ``confusion``, ``hd95`` and ``evaluate`` (each in its own fresh
  interpreter, on the small organ / 10-organ cases) with an *empty* numba cache (``NUMBA_CACHE_DIR``
  set to a new temporary directory: every kernel it needs is compiled), then with that cache *warm*
  (the kernels are loaded from disk), and the same call once more in the warm process (steady state);
* the whole ``fastseg demo --cases 2`` command (interpreter start to exit, as a user times it) with an
  empty cache, then warm;
* with ``--kernels``, where a cold first call spends its time: the compile time of every numba
  dispatcher (numba's ``numba:compile`` events; exclusive of the kernels it calls, which have rows
  of their own), largest first.

``python -m bench.coldstart`` prints the figures of this tree (JSON with ``--json``);
``--before REV`` measures the git revision ``REV`` (exported to a temporary folder) and this tree (or
``--after REV2``, another revision: the working tree may hold other people's unfinished work) in
turns, repeat by repeat (the machine's load drifts hit both alike), and prints both side by side with
the medians and the range of the runs. ``--repeats N`` (default 3), ``--only NAME`` (repeatable: import,
dice, confusion, hd95, evaluate, demo), ``--quick`` (import and dice, one run).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_IMPORT = "import time; t = time.perf_counter(); import fastseg; print('RESULT', time.perf_counter() - t)"

# numba's compile events, per dispatcher: seconds exclusive of the dispatchers it compiles in turn
_LISTEN = r"""
import atexit, json, time
from numba.core import event as _event
_stack, _kernels = [], {}
class _Listener(_event.Listener):
    def on_start(self, ev):
        _stack.append([time.perf_counter(), 0.0])
    def on_end(self, ev):
        t0, inner = _stack.pop()
        dt = time.perf_counter() - t0
        if _stack:
            _stack[-1][1] += dt
        f = ev.data["dispatcher"].py_func
        k = _kernels.setdefault(f.__module__ + "." + f.__qualname__, [0, 0.0, 0.0])
        k[0] += 1
        k[1] += dt - inner
        k[2] += dt
_event.register("numba:compile", _Listener())
atexit.register(lambda: print("KERNELS", json.dumps(_kernels), flush=True))
"""

_FIRST = r"""
import sys, time
sys.path.insert(0, {repo!r})
{listen}
from bench import cases
c = cases.load_cached({case!r}, "small") or cases.get_case({case!r}, "small")
t0 = time.perf_counter()
import fastseg
t1 = time.perf_counter()
def call():
    {call}
call()
t2 = time.perf_counter()
call()
t3 = time.perf_counter()
print("RESULT", t1 - t0, t2 - t1, t3 - t2)
"""

_COMMAND = r"""
import os, sys
sys.path.insert(0, {repo!r})
{listen}
from fastseg.cli import main
with open(os.devnull, "w") as out:
    sys.stdout = out
    status = main({argv!r})
sys.stdout = sys.__stdout__
print("STATUS", status)
"""

CALLS = {
    "dice": ("organ", "fastseg.dice(c.pred, c.ref)"),
    "confusion": ("organ", "fastseg.confusion(c.pred, c.ref)"),
    "hd95": ("organ", "fastseg.hd95(c.pred, c.ref, spacing=c.spacing)"),
    "evaluate": ("organs10", "fastseg.evaluate(c.pred, c.ref, spacing=c.spacing, "
                             "metrics=['dice', 'hd95', 'assd', 'nsd@2'])"),
}

#: whole commands, timed from the interpreter's start to its exit
COMMANDS = {
    "demo": ["demo", "--cases", "2"],
}

NAMES = ("import",) + tuple(CALLS) + tuple(COMMANDS)


def _run(code, env, timeout=900, repo=REPO):
    """Run ``code`` in a fresh interpreter; returns (RESULT floats or None, wall seconds, kernels)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo,
                          timeout=timeout)
    wall = time.perf_counter() - t0
    result, kernels, status = None, None, None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            result = [float(x) for x in line.split()[1:]]
        elif line.startswith("KERNELS"):
            kernels = json.loads(line[len("KERNELS"):])
        elif line.startswith("STATUS"):
            status = line.split()[1]
    if proc.returncode != 0 or (result is None and status is None) or status not in (None, "0"):
        raise RuntimeError(f"cold-start subprocess failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return result, wall, kernels


def _env(cache):
    return dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONWARNINGS="ignore")


def import_time(repeats=5, repo=REPO):
    """Median seconds of ``import fastseg`` in a fresh interpreter (and the list of runs)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    runs = [_run(_IMPORT, env, repo=repo)[0][0] for _ in range(repeats)]
    return statistics.median(runs), runs


def first_call(name, repo=REPO, kernels=False):
    """One cold and one warm run of ``name`` (a key of :data:`CALLS` or :data:`COMMANDS`) in fresh
    interpreters, each with its own new numba cache: ``{"cold": s, "warm": s, ...}`` (calls: the
    first call, without the import; ``"steady"``: the second call in the warm process; ``"import"``:
    the warm process's import. Commands: the whole command). With ``kernels=True``, also the cold
    run's compile seconds per numba dispatcher: ``"kernels": {name: [compiles, exclusive s,
    inclusive s]}``."""
    listen = _LISTEN if kernels else ""
    if name in CALLS:
        from bench import cases

        case, call = CALLS[name]
        cases.materialize(case, "small")
        code = _FIRST.format(repo=repo, case=case, call=call, listen=listen)
    else:
        code = _COMMAND.format(repo=repo, argv=COMMANDS[name], listen=listen)
    cache = tempfile.mkdtemp(prefix="fastseg-numba-cache-")
    try:
        cold, cold_wall, compiled = _run(code, _env(cache), repo=repo)
        warm, warm_wall, _ = _run(code.replace(listen, "") if listen else code, _env(cache), repo=repo)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if name in CALLS:
        out = {"cold": cold[1], "warm": warm[1], "steady": warm[2], "import": warm[0],
               "case": f"{CALLS[name][0]} (small)"}
    else:
        out = {"cold": cold_wall, "warm": warm_wall, "command": "fastseg " + " ".join(COMMANDS[name])}
    if kernels:
        out["kernels"] = compiled or {}
    return out


def first_calls(names=tuple(CALLS), repo=REPO):
    """``{name: first_call(name)}`` for the calls (and commands) in ``names``."""
    return {name: first_call(name, repo) for name in names}


def measure(quick=False):
    med, runs = import_time(3 if quick else 5)
    res = {"import_s": med, "import_runs": runs}
    res["first_calls"] = first_calls(("dice",) if quick else tuple(CALLS) + tuple(COMMANDS))
    return res


# --- before / after ---------------------------------------------------------------------------------

def export_revision(rev, folder):
    """The tree of git revision ``rev`` of this repository, written to ``folder`` (``git archive``)."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def compare(trees, names=NAMES, repeats=3):
    """``{tree label: {name: {"cold": [runs], "warm": [runs], "steady": [runs]}}}``, the trees measured
    in turns within each repeat."""
    out = {label: {n: {} for n in names} for label in trees}
    for _ in range(repeats):
        for label, repo in trees.items():
            for name in names:
                if name == "import":
                    figures = {"cold": import_time(1, repo)[0]}
                else:
                    figures = first_call(name, repo)
                for key in ("cold", "warm", "steady"):
                    if key in figures:
                        out[label][name].setdefault(key, []).append(figures[key])
    return out


def _fmt(runs):
    if not runs:
        return "-"
    med = statistics.median(runs)
    if len(runs) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(runs):.2f}-{max(runs):.2f})"


def print_comparison(res, names=NAMES):
    labels = list(res)
    head = f"{'':10}" + "".join(f"{'empty cache, ' + lab:>26}" for lab in labels) + \
        "".join(f"{'warm cache, ' + lab:>26}" for lab in labels) + \
        "".join(f"{'steady, ' + lab:>26}" for lab in labels)
    print("seconds, median (min-max) of the runs; import: `import fastseg`; calls: the first call without "
          "the import; demo: the whole command")
    print(head)
    for name in names:
        row = f"{name:10}"
        for key in ("cold", "warm", "steady"):
            for lab in labels:
                row += f"{_fmt(res[lab][name].get(key)):>26}"
        print(row)


def print_kernels(name, figures, top=15):
    rows = sorted(figures.items(), key=lambda kv: -kv[1][1])
    total = sum(v[1] for v in figures.values())
    print(f"{name}: {len(figures)} dispatchers compiled, {total:.2f} s of compilation; the largest, "
          f"exclusive of the kernels each calls:")
    for k, (n, exc, inc) in rows[:top]:
        print(f"  {exc:6.2f} s  (incl. callees {inc:6.2f} s, {n} signature{'s' if n > 1 else ''})  {k}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="First-run (cold numba cache) figures of fastseg.")
    ap.add_argument("--before", metavar="REV", help="also measure git revision REV, in turns with this tree")
    ap.add_argument("--after", metavar="REV", help="measure git revision REV instead of the working tree")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", action="append", choices=NAMES)
    ap.add_argument("--kernels", action="store_true", help="per-kernel compile times of one cold run of each")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = tuple(args.only or (("import", "dice") if args.quick else NAMES))
    repeats = 1 if args.quick else args.repeats
    if args.kernels:
        for name in names:
            if name != "import":
                fig = first_call(name, kernels=True)
                print(f"{name}: cold {fig['cold']:.2f} s, warm {fig['warm']:.2f} s")
                print_kernels(name, fig["kernels"])
        return 0
    tmps = []
    try:
        trees = {}
        for label, rev in (("before", args.before), ("after", args.after)):
            if rev:
                tmps.append(tempfile.mkdtemp(prefix=f"fastseg-coldstart-{label}-"))
                trees[f"{label} ({rev})"] = export_revision(rev, tmps[-1])
            elif label == "after":
                trees["working tree"] = REPO
        res = compare(trees, names, repeats)
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_comparison(res, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
