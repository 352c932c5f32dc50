"""Cold start: what a user waits for before the first number.

* ``import fastseg`` in a fresh interpreter (numba and llvmlite included), median of several runs;
* the first call of ``confusion``, ``hd95`` and ``evaluate`` (each in its own fresh interpreter, on the
  small organ / 10-organ cases) with an *empty* numba cache (``NUMBA_CACHE_DIR`` set to a new
  temporary directory: every kernel it needs is compiled), then with that cache *warm* (the kernels
  are loaded from disk), and the same call once more in the warm process (steady state).

Run ``python -m bench.coldstart`` to print the figures.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_IMPORT = "import time; t = time.perf_counter(); import fastseg; print('RESULT', time.perf_counter() - t)"

_FIRST = r"""
import sys, time
sys.path.insert(0, {repo!r})
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

CALLS = {
    "confusion": ("organ", "fastseg.confusion(c.pred, c.ref)"),
    "hd95": ("organ", "fastseg.hd95(c.pred, c.ref, spacing=c.spacing)"),
    "evaluate": ("organs10", "fastseg.evaluate(c.pred, c.ref, spacing=c.spacing, "
                             "metrics=['dice', 'hd95', 'assd', 'nsd@2'])"),
}


def _run(code, env, timeout=900):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return [float(x) for x in line.split()[1:]]
    raise RuntimeError(f"cold-start subprocess failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def import_time(repeats=5):
    """Median seconds of ``import fastseg`` in a fresh interpreter (and the list of runs)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    runs = [_run(_IMPORT, env)[0] for _ in range(repeats)]
    return statistics.median(runs), runs


def first_calls(names=tuple(CALLS)):
    """``{name: {"cold": s, "warm": s, "steady": s, "import": s}}``: first call with an empty numba
    cache, first call with the cache that run filled, and a second call in the warm process."""
    from bench import cases

    out = {}
    for name in names:
        case, call = CALLS[name]
        cases.materialize(case, "small")
        cache = tempfile.mkdtemp(prefix="fastseg-numba-cache-")
        try:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONWARNINGS="ignore")
            code = _FIRST.format(repo=REPO, case=case, call=call)
            imp, cold, _ = _run(code, env)
            imp_w, warm, steady = _run(code, env)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        out[name] = {"cold": cold, "warm": warm, "steady": steady, "import": imp_w, "case": f"{case} (small)"}
    return out


def measure(quick=False):
    med, runs = import_time(3 if quick else 5)
    res = {"import_s": med, "import_runs": runs}
    res["first_calls"] = first_calls(("confusion",) if quick else tuple(CALLS))
    return res


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv), indent=1))
