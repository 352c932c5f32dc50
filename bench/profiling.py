"""Where fastseg's time goes: ``cProfile`` of one warm call on a full-size case.

numba kernels are opaque to the profiler but each is one Python-level call, so the table splits a
call into its stages (the counting pass, surface extraction, the EDTs, sorting, Python glue).

``python -m bench.profiling [hd95|hd95-voxel|evaluate|confusion] [--size small] [--threads N]``
"""
import argparse
import cProfile
import io
import pstats
import sys

CALLS = {
    "hd95": ("organ", lambda c: __import__("fastseg").hd95(c.pred, c.ref, spacing=c.spacing)),
    "hd95-voxel": ("organ", lambda c: __import__("fastseg").hd95(c.pred, c.ref, spacing=c.spacing,
                                                                 convention="monai")),
    "hd95-lesion": ("lesion", lambda c: __import__("fastseg").hd95(c.pred, c.ref, spacing=c.spacing)),
    "hd95-mni": ("mni", lambda c: __import__("fastseg").hd95(c.pred, c.ref, spacing=c.spacing)),
    "evaluate": ("organs10", lambda c: __import__("fastseg").evaluate(
        c.pred, c.ref, spacing=c.spacing, metrics=["dice", "hd95", "assd", "nsd@2"], convention="deepmind")),
    "confusion": ("organ", lambda c: __import__("fastseg").confusion(c.pred, c.ref)),
}


def profile(name, size="full", threads=None, top=14):
    """Text table of the ``top`` functions by own time for one warm call (after one warm-up call)."""
    from bench import cases
    from fastseg._kernels._jit import thread_limit

    case_name, fn = CALLS[name]
    case = cases.get_case(case_name, size)
    with thread_limit(threads):
        fn(case)  # warm-up: kernels loaded
        prof = cProfile.Profile()
        prof.enable()
        fn(case)
        prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    keep = [ln for ln in lines if "function calls" in ln or ln.lstrip().startswith(("ncalls",)) or
            ln.lstrip()[:1].isdigit()]
    return "\n".join(ln.replace("/work/main/", "").replace(sys.prefix + "/", "") for ln in keep)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("call", nargs="?", default="hd95", choices=sorted(CALLS))
    ap.add_argument("--size", default="full", choices=("full", "small"))
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    print(profile(a.call, a.size, a.threads))


if __name__ == "__main__":
    main()
