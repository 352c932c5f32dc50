"""Scoring one case: read its two files, check their geometry, :func:`fastseg.evaluate` them, and turn
the result (or the failure) into rows. Never raises: a failing case becomes an error row."""
import math
import time
from collections import deque


from .. import _validation as v
from ..evaluate import evaluate
from ..io import Structures, case_id, check_geometry, load
from .conventions import preset_rows
from .lesion_file import lesion_rows
from .results import NO_STRUCTURES, error_row
from .structures import read_named_case, score_named_case

__all__ = ["diagonal", "read_case", "message", "run_case", "local_worker", "run_in_process"]


def diagonal(shape, spacing):
    return float(math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))


def read_case(case, opts):
    """Read one case's two files; never raises. Returns ``(volumes or None, error message or None,
    read seconds)``."""
    if opts.get("pair_by") == "name":
        return read_named_case(case, opts)
    t0 = time.perf_counter()
    if case.problem:
        return None, case.problem, 0.0
    try:
        grid = {} if case.image is None else {"reference": case.image}  # DICOM-SEG / RTSTRUCT: the series' grid
        vols = tuple(load(path, reader=opts["reader"], writable=False, **(grid if case_id(path) is None else {}))
                     for path in (case.pred, case.ref))
    except Exception as exc:  # noqa: BLE001 - a failing case becomes an error row, the run goes on
        return None, message(exc), time.perf_counter() - t0
    return vols, None, time.perf_counter() - t0


def message(exc):
    return str(exc) if isinstance(exc, v.FastsegError) else f"{type(exc).__name__}: {exc}"


def run_case(case, opts, threads, read=None):
    """Read (unless ``read``, a :func:`read_case` result, is given), check and score one case; never
    raises. Returns (rows, read seconds, evaluate seconds[, per-lesion rows with ``lesions=``])."""
    conv = opts["convention_name"]
    vols, problem, t_read = read_case(case, opts) if read is None else read
    if problem is not None:
        return [error_row(case.case_id, problem, conv)], t_read, 0.0
    pv, rv = vols
    t1 = time.perf_counter()
    try:
        if opts.get("pair_by") == "name":  # structures paired by name, each its own mask
            res_rows, results = score_named_case(case, opts, threads, vols)
        else:
            check_geometry(pv, rv, tolerance=opts["geometry_tolerance"], check_affine=opts["check_affine"])
            results = [evaluate(pv.array, rv.array, spacing=rv.spacing, threads=threads, **opts["evaluate"])]
            res_rows = results[0].rows + preset_rows(pv.array, rv.array, rv.spacing, threads, opts)
    except Exception as exc:  # noqa: BLE001 - a failing case becomes an error row, the run goes on
        return [error_row(case.case_id, message(exc), conv)], t_read, time.perf_counter() - t1
    t_eval = time.perf_counter() - t1
    shape = tuple(int(n) for n in (rv.shape if isinstance(rv, Structures) else rv.array.shape))
    spacing = tuple(float(s) for s in rv.spacing)
    diag = diagonal(shape, spacing)
    n = len(res_rows)
    rows = [{"case_id": case.case_id, "label": r["label"], "name": r.get("name", ""), "metric": r["metric"],
             "value": float(r["value"]), "empty_state": r["empty_state"], "convention": r["convention"],
             "spacing": spacing, "shape": shape, "diagonal_mm": diag, "case_rows": n, "error": ""}
            for r in res_rows]
    if not rows:  # no structure to score (labels auto, both maps background): still record the case
        rows = [{"case_id": case.case_id, "label": "", "name": "", "metric": NO_STRUCTURES, "value": math.nan,
                 "empty_state": "", "convention": conv, "spacing": spacing, "shape": shape, "diagonal_mm": diag,
                 "case_rows": 1, "error": ""}]
    if opts["evaluate"].get("lesions") is not None:
        return rows, t_read, t_eval, [x for res in results for x in lesion_rows(case.case_id, res)]
    return rows, t_read, t_eval


def local_worker(take, opts, threads, emit, stop=None):
    """Score cases from ``take()`` (None: no more) in this process, each read by a helper thread while
    the one before is scored (decompression and the numba kernels release the GIL): a case costs
    about max(read, score) instead of their sum, and at most two cases are in memory. ``emit`` is
    called with each result unless ``stop`` (an Event) is set."""
    from concurrent.futures import ThreadPoolExecutor

    case = take()
    if case is None:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastseg-read") as reader:
        pending = reader.submit(read_case, case, opts)
        while case is not None:
            read = pending.result()
            nxt = take()
            if nxt is not None:
                pending = reader.submit(read_case, nxt, opts)
            res = run_case(case, opts, threads, read)
            if stop is not None and stop.is_set():
                return
            emit(*res)
            case = nxt


def run_in_process(todo, opts, threads, emit):
    """Every case in this process (see :func:`local_worker`)."""
    queue = deque(todo)
    local_worker(lambda: queue.popleft() if queue else None, opts, threads, emit)
