"""Peak extra memory of one tool call, measured in a fresh ``python -c`` subprocess.

The subprocess imports the task registry, loads the case from the ``.npy`` cache (no generation
temporaries), prepares the task's input, and warms the tool up on the *small* case of the same kind
(numba kernels loaded, the peer's lazy imports done: their memory is not the call's). It then resets
the kernel's peak-RSS mark (``/proc/self/clear_refs``, Linux) when it may, reads
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` as the baseline, makes the call, and reads it again:
peak extra memory = peak after the call - baseline. When the mark cannot be reset, the baseline is the
peak so far (inputs and warm-up included), which can only under-state the call's extra memory;
the result says which (``hwm_reset``).

Run ``python -m bench.memory TASK CASE TOOL [--size small]`` to measure one call.
"""
import argparse
import json
import os
import subprocess
import sys

from bench import cases

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import gc, json, os, resource, sys, time
sys.path.insert(0, {repo!r})
from bench import cases, tasks

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

task = tasks.TASKS[{task!r}]
tool = task.tools[{tool!r}]
small = cases.load_cached({case!r}, "small") or cases.get_case({case!r}, "small")
tool.run(task.input(small))          # warm-up: kernels loaded, lazy imports done
case = cases.load_cached({case!r}, {size!r})
if case is None:
    raise SystemExit("case not in the disk cache: run bench.cases.materialize first")
inp = task.input(case)
del small
gc.collect()
reset = False
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    pass
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
tool.run(inp)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps(dict(baseline_kb=base, peak_kb=peak, extra_kb=peak - base, seconds=dt,
                                  hwm_reset=reset, rss_at_baseline_kb=rss_kb())))
"""


def measure(task, case, tool, size="full", timeout=1800):
    """Peak extra memory (MB) of one call of ``tool`` on ``case``: a dict with ``extra_mb``,
    ``baseline_mb``, ``peak_mb``, ``seconds``, ``hwm_reset``; or ``{"error": message}``."""
    cases.materialize(case, size)
    cases.materialize(case, "small")
    code = _CHILD.format(repo=REPO, task=task, case=case, tool=tool, size=size)
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            return {"extra_mb": r["extra_kb"] / 1024, "baseline_mb": r["baseline_kb"] / 1024,
                    "peak_mb": r["peak_kb"] / 1024, "seconds": r["seconds"], "hwm_reset": r["hwm_reset"]}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("case")
    ap.add_argument("tool")
    ap.add_argument("--size", default="full", choices=cases.SIZES)
    a = ap.parse_args(argv)
    print(json.dumps(measure(a.task, a.case, a.tool, a.size), indent=1))


if __name__ == "__main__":
    main()
