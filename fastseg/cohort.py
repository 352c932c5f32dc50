"""Cohort evaluation: many (pred, ref) file pairs, in parallel, with a resumable results file.

Each case is read (:mod:`fastseg.io`), its geometry checked, and scored with :func:`fastseg.evaluate`.
Cases run in this process (the next case read by a helper thread while one is scored), in worker
processes together with this one (``jobs``; numba threads split so that workers x threads <= cores,
kernels compiled once, in this process, before the workers load them), or on a Dask cluster. A case that fails
(missing partner, unreadable file, shape or geometry mismatch, invalid labels...) becomes an error row
and the run goes on. Every finished case is appended to the results file at once, so a killed run
resumes (``resume=True``) without losing or repeating a finished case.

Results file (CSV, long format)
-------------------------------
One row per (case, structure, metric), columns :data:`COLUMNS`:

``case_id, label, metric, value, empty_state, convention``
    as in :class:`fastseg.EvaluationResult` (``label`` is an integer label or a region name);
    values are written exactly (``repr``), infinities and NaN as ``inf``, ``nan``.
``spacing, shape, diagonal_mm``
    per case: the reference's spacing and shape in array-axis order (``2.5x0.8x0.8``,
    ``48x160x160``) and the physical diagonal ``sqrt(sum((shape * spacing)**2))``, used to cap
    infinite distances (``cap_inf="diagonal"``).
``case_rows``
    the number of rows written for the case; a resumed run keeps a case only when all its rows are
    present (a run killed in the middle of writing a case loses nothing finished, and repeats that case).
``error``
    empty, or the reason the case failed; an error row has ``metric == "error"`` and empty
    ``label``/``value``.

A case with nothing to score (``labels`` automatic and both maps all background) is recorded by one
row with ``metric == "no_structures"``.
"""
import csv
import io as _stdio
import math
import multiprocessing
import os
import re
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from . import _validation as v
from ._kernels._jit import load_runtime, pool_started
from .evaluate import evaluate
from .io import _load, case_id as _case_id_of, check_geometry

__all__ = ["evaluate_cohort", "CohortResult", "Case", "pair_folders", "read_manifest", "read_results",
           "summarize", "format_summary", "parse_gates", "check_gates", "compare", "format_comparison",
           "COLUMNS"]

COLUMNS = ["case_id", "label", "metric", "value", "empty_state", "convention", "spacing", "shape",
           "diagonal_mm", "case_rows", "error"]
ERROR = "error"
NO_STRUCTURES = "no_structures"


@dataclass(frozen=True)
class Case:
    """One case of a cohort: its id, the two file paths (None when missing) and, when the pairing
    already knows the case cannot run, the reason."""

    case_id: str
    pred: object = None
    ref: object = None
    problem: str = ""


# ------------------------------------------------------------------------------------------- pairing

def _image_files(folder):
    """{case_id: [paths]} of the image files directly inside ``folder``."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        cid = _case_id_of(name)
        if cid is None or name.startswith(".") or not os.path.isfile(path):
            continue
        out.setdefault(cid, []).append(path)
    return out


def pair_folders(pred_dir, ref_dir):
    """Cases from two folders, paired by file name without extension.

    ``case.nii`` pairs with ``case.nii.gz`` (and with ``case.nrrd``, ``case.mha``...). A file without a
    partner, or two files for one case in a folder, gives a :class:`Case` with a ``problem`` (an error
    row in the results; the run goes on). Files with other extensions are ignored.

    Returns
    -------
    list of Case, sorted by case id.
    """
    for name, folder in (("PRED", pred_dir), ("REF", ref_dir)):
        if not os.path.isdir(folder):
            raise v.InputValueError(f"{name} must be a folder of images; got {os.fspath(folder)!r}.")
    preds, refs = _image_files(pred_dir), _image_files(ref_dir)
    cases = []
    for cid in sorted(set(preds) | set(refs)):
        p, r = preds.get(cid, []), refs.get(cid, [])
        problem = ""
        if len(p) > 1 or len(r) > 1:
            many = p if len(p) > 1 else r
            problem = f"ambiguous case: several files for {cid!r}: {', '.join(os.path.basename(x) for x in many)}."
        elif not r:
            problem = f"missing ref: no file for case {cid!r} in {os.fspath(ref_dir)} (pred: {p[0]})."
        elif not p:
            problem = f"missing pred: no file for case {cid!r} in {os.fspath(pred_dir)} (ref: {r[0]})."
        cases.append(Case(cid, p[0] if len(p) == 1 else None, r[0] if len(r) == 1 else None, problem))
    return cases


def read_manifest(path):
    """Cases from a CSV manifest with the columns ``case_id, pred, ref`` (other columns ignored).

    Relative paths are relative to the manifest's folder. An empty ``pred`` or ``ref`` cell gives a case
    with a ``problem`` (an error row); a missing file gives an error row when the case runs.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            fields = rows and list(rows[0].keys())
    except OSError as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: {exc.strerror or exc}.") from None
    if not rows:
        raise v.InputValueError(f"the manifest {path} has no cases (expected a header case_id,pred,ref and rows).")
    missing = [c for c in ("case_id", "pred", "ref") if c not in fields]
    if missing:
        raise v.InputValueError(f"the manifest {path} needs the columns case_id, pred, ref; "
                                f"missing {', '.join(missing)} (found {', '.join(map(str, fields))}).")
    base = os.path.dirname(os.path.abspath(path))
    cases, seen = [], set()
    for i, row in enumerate(rows, start=2):
        cid = (row["case_id"] or "").strip()
        if not cid:
            raise v.InputValueError(f"the manifest {path}, line {i}: empty case_id.")
        if cid in seen:
            raise v.InputValueError(f"the manifest {path}: case_id {cid!r} appears more than once.")
        seen.add(cid)
        p, r = ((row[k] or "").strip() for k in ("pred", "ref"))
        p = os.path.join(base, p) if p else None
        r = os.path.join(base, r) if r else None
        problem = "" if p and r else f"missing {'pred' if not p else 'ref'}: empty cell in the manifest {path}."
        cases.append(Case(cid, p, r, problem))
    return cases


def _as_cases(pairs):
    if isinstance(pairs, dict):
        pairs = [(k, *val) for k, val in pairs.items()]
    cases = []
    for item in pairs:
        if isinstance(item, Case):
            cases.append(item)
            continue
        item = tuple(item)
        if len(item) == 2:
            p, r = item
            cid = _case_id_of(p if p is not None else r)
            if cid is None:
                raise v.InputValueError(f"cannot derive a case id from {p!r}; pass (case_id, pred, ref).")
            item = (cid, p, r)
        if len(item) != 3:
            raise v.InputTypeError(f"pairs must hold (case_id, pred, ref) or (pred, ref); got {item!r}.")
        cid, p, r = item
        problem = "" if p is not None and r is not None else f"missing {'pred' if p is None else 'ref'}."
        cases.append(Case(str(cid), p, r, problem))
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise v.InputValueError(f"case ids must be unique; repeated: {', '.join(dup)}.")
    return cases


# -------------------------------------------------------------------------------- rows and CSV format

def _one_line(msg):
    return " ".join(str(msg).split())


def _error_row(cid, message, convention=""):
    return {"case_id": cid, "label": "", "metric": ERROR, "value": math.nan, "empty_state": "",
            "convention": convention, "spacing": None, "shape": None, "diagonal_mm": math.nan,
            "case_rows": 1, "error": _one_line(message)}


def _fmt_float(x):
    return repr(float(x))


def _format_row(row):
    is_error = row["metric"] == ERROR
    return [
        row["case_id"], "" if row["label"] == "" else str(row["label"]), row["metric"],
        "" if is_error else _fmt_float(row["value"]), row["empty_state"], row["convention"],
        "" if row["spacing"] is None else "x".join(_fmt_float(s) for s in row["spacing"]),
        "" if row["shape"] is None else "x".join(str(int(n)) for n in row["shape"]),
        "" if is_error else _fmt_float(row["diagonal_mm"]), str(row["case_rows"]), row["error"],
    ]


_INT = re.compile(r"^\d+$")


def _parse_label(s):
    return int(s) if _INT.match(s) else s


def _parse_row(rec):
    """A CSV record (dict of str) -> a typed row; raises ValueError when malformed."""
    if None in rec or any(rec.get(c) is None for c in COLUMNS):
        raise ValueError("wrong number of fields")
    return {
        "case_id": rec["case_id"], "label": _parse_label(rec["label"]), "metric": rec["metric"],
        "value": float(rec["value"]) if rec["value"] != "" else math.nan,
        "empty_state": rec["empty_state"], "convention": rec["convention"],
        "spacing": tuple(float(s) for s in rec["spacing"].split("x")) if rec["spacing"] else None,
        "shape": tuple(int(n) for n in rec["shape"].split("x")) if rec["shape"] else None,
        "diagonal_mm": float(rec["diagonal_mm"]) if rec["diagonal_mm"] else math.nan,
        "case_rows": int(rec["case_rows"]), "error": rec["error"],
    }


def _rows_to_text(rows):
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow(_format_row(row))
    return buf.getvalue()


def _parse_text(text, path):
    """Typed rows of the complete cases in a results file's text; and whether anything was dropped
    (a partly written last line, malformed rows, cases with fewer rows than ``case_rows``)."""
    dropped = False
    if text and not text.endswith("\n"):  # killed in the middle of a line: drop the partial line
        text = text[: text.rfind("\n") + 1]
        dropped = True
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], dropped
    header = next(csv.reader(lines[:1]))
    if header != COLUMNS:
        raise v.InputValueError(
            f"{path} is not a fastseg results file (its header is {','.join(header)[:200]!r}); "
            f"choose another output file, or pass overwrite.")
    by_case = {}
    for rec in csv.DictReader(lines[1:], fieldnames=COLUMNS):
        try:
            row = _parse_row(rec)
        except (ValueError, TypeError):
            dropped = True
            by_case.setdefault(rec.get("case_id") or "", []).append(None)
            continue
        by_case.setdefault(row["case_id"], []).append(row)
    rows = []
    for cid, case_rows in by_case.items():
        complete = (all(r is not None for r in case_rows)
                    and all(r["case_rows"] == len(case_rows) for r in case_rows))
        if complete:
            rows.extend(case_rows)
        else:
            dropped = True
    return rows, dropped


def read_results(path):
    """Typed rows of every complete case in a results CSV written by :func:`evaluate_cohort`.

    A partly written last line (a run killed mid-write) and cases with missing rows are left out.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise v.InputValueError(f"cannot read the results file {path}: {exc.strerror or exc}.") from None
    rows, _ = _parse_text(text, path)
    return rows


class _ResultsFile:
    """Appends each finished case to the CSV at once (one write, flush, optional fsync)."""

    def __init__(self, path, *, resume, overwrite, fsync):
        self.path = os.fspath(path)
        self.fsync = fsync
        self.existing = []
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and not (resume or overwrite):
            raise v.InputValueError(
                f"the output {self.path} exists; pass resume to continue it or overwrite to replace it.")
        if exists and resume:
            with open(self.path, encoding="utf-8", newline="") as f:
                text = f.read()
            self.existing, dropped = _parse_text(text, self.path)
            if dropped:  # rewrite without the partial line / incomplete cases, atomically
                tmp = self.path + ".tmp"
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    f.write(",".join(COLUMNS) + "\n" + _rows_to_text(self.existing))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            self.f = open(self.path, "a", encoding="utf-8", newline="")
        else:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            self.f = open(self.path, "w", encoding="utf-8", newline="")
            self._write(",".join(COLUMNS) + "\n")

    def _write(self, text):
        self.f.write(text)
        self.f.flush()
        if self.fsync:
            os.fsync(self.f.fileno())

    def write_case(self, rows):
        self._write(_rows_to_text(rows))

    def drop_cases(self, ids):
        """Forget (and remove from the file) the rows of ``ids`` (to retry failed cases)."""
        if not ids:
            return
        self.existing = [r for r in self.existing if r["case_id"] not in ids]
        self.f.close()
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(COLUMNS) + "\n" + _rows_to_text(self.existing))
        os.replace(tmp, self.path)
        self.f = open(self.path, "a", encoding="utf-8", newline="")

    def close(self):
        self.f.close()


# ------------------------------------------------------------------------------------- one case

def _diagonal(shape, spacing):
    return float(math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))


def _read_case(case, opts):
    """Read one case's two files; never raises. Returns ``(volumes or None, error message or None,
    read seconds)``."""
    t0 = time.perf_counter()
    if case.problem:
        return None, case.problem, 0.0
    try:
        vols = (_load(case.pred, opts["reader"], True, writable=False),
                _load(case.ref, opts["reader"], True, writable=False))
    except Exception as exc:  # noqa: BLE001 - a failing case becomes an error row, the run goes on
        return None, _message(exc), time.perf_counter() - t0
    return vols, None, time.perf_counter() - t0


def _message(exc):
    return str(exc) if isinstance(exc, v.FastsegError) else f"{type(exc).__name__}: {exc}"


def _run_case(case, opts, threads, read=None):
    """Read (unless ``read``, a :func:`_read_case` result, is given), check and score one case; never
    raises. Returns (rows, read seconds, evaluate seconds)."""
    conv = opts["convention_name"]
    vols, problem, t_read = _read_case(case, opts) if read is None else read
    if problem is not None:
        return [_error_row(case.case_id, problem, conv)], t_read, 0.0
    pv, rv = vols
    t1 = time.perf_counter()
    try:
        check_geometry(pv, rv, tolerance=opts["geometry_tolerance"], check_affine=opts["check_affine"])
        res = evaluate(pv.array, rv.array, spacing=rv.spacing, threads=threads, **opts["evaluate"])
    except Exception as exc:  # noqa: BLE001 - a failing case becomes an error row, the run goes on
        return [_error_row(case.case_id, _message(exc), conv)], t_read, time.perf_counter() - t1
    t_eval = time.perf_counter() - t1
    shape = tuple(int(n) for n in rv.array.shape)
    spacing = tuple(float(s) for s in rv.spacing)
    diag = _diagonal(shape, spacing)
    n = len(res.rows)
    rows = [{"case_id": case.case_id, "label": r["label"], "metric": r["metric"], "value": float(r["value"]),
             "empty_state": r["empty_state"], "convention": r["convention"], "spacing": spacing,
             "shape": shape, "diagonal_mm": diag, "case_rows": n, "error": ""} for r in res.rows]
    if not rows:  # no structure to score (labels auto, both maps background): still record the case
        rows = [{"case_id": case.case_id, "label": "", "metric": NO_STRUCTURES, "value": math.nan, "empty_state": "",
                 "convention": conv, "spacing": spacing, "shape": shape, "diagonal_mm": diag, "case_rows": 1,
                 "error": ""}]
    return rows, t_read, t_eval


def _local_worker(take, opts, threads, emit, stop=None):
    """Score cases from ``take()`` (None: no more) in this process, each read by a helper thread while
    the one before is scored (decompression and the numba kernels release the GIL): a case costs
    about max(read, score) instead of their sum, and at most two cases are in memory. ``emit`` is
    called with each result unless ``stop`` (an Event) is set."""
    from concurrent.futures import ThreadPoolExecutor

    case = take()
    if case is None:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastseg-read") as reader:
        pending = reader.submit(_read_case, case, opts)
        while case is not None:
            read = pending.result()
            nxt = take()
            if nxt is not None:
                pending = reader.submit(_read_case, nxt, opts)
            res = _run_case(case, opts, threads, read)
            if stop is not None and stop.is_set():
                return
            emit(*res)
            case = nxt


def _run_in_process(todo, opts, threads, emit):
    """Every case in this process (see :func:`_local_worker`)."""
    queue = deque(todo)
    _local_worker(lambda: queue.popleft() if queue else None, opts, threads, emit)


def _warm_up(opts):
    """Evaluate a tiny phantom with the run's options: validates them (raising before any case runs)
    and compiles / loads every kernel once, before worker processes start."""
    from .phantom import phantom_pair

    pred, ref, spacing = phantom_pair(shape=(10, 14, 14), spacing=(2.5, 0.8, 0.8), seed=0)
    for dtype in (np.uint8, np.uint16):  # one thread: compiling does not depend on the thread count
        res = evaluate(pred.astype(dtype), ref.astype(dtype), spacing=spacing, threads=1, **opts["evaluate"])
    return res.metrics


def _options_file(out):
    return os.fspath(out) + ".options.json"


def _run_options(opts, metric_names):
    """What decides a results file's values: compared when a run resumes it (JSON-normalised)."""
    import json

    e = opts["evaluate"]
    regions = e["regions"]
    record = {"metrics": list(metric_names), "convention": opts["convention_name"], "labels": e["labels"],
              "regions": None if regions is None else {str(k): [int(x) for x in vals] for k, vals in regions.items()},
              "ignore_label": e["ignore_label"], "boundary_width": e["boundary_width"],
              "geometry_tolerance": opts["geometry_tolerance"], "check_affine": opts["check_affine"]}
    return json.loads(json.dumps(record))


def _check_and_record_options(out, record, resume):
    """Refuse to resume a results file written with other options (its rows would mix two runs'
    definitions), then record this run's options next to it (``OUT.options.json``)."""
    import json

    path = _options_file(out)
    if resume and os.path.exists(out) and os.path.getsize(out) > 0 and os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                before = json.load(fh).get("options", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise v.InputValueError(f"cannot read {path} (the options of the run to resume): {exc}.") from None
        diff = [f"{k}: {before.get(k)!r} then, {record[k]!r} now" for k in record if before.get(k) != record[k]]
        if diff:
            raise v.InputValueError(
                f"{os.fspath(out)} was written with other options ({'; '.join(diff)}); resume it with the same "
                f"options, or write a new output (or overwrite this one).")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        from . import __version__

        json.dump({"fastseg": __version__, "options": record}, fh, indent=1)
    os.replace(tmp, path)


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------- the run

class CohortResult:
    """The rows of a cohort run (typed dicts with the :data:`COLUMNS` keys), in case order.

    ``errors`` lists ``(case_id, message)``; ``summary()`` aggregates per label and metric;
    ``timing`` has the wall, reading and evaluation seconds of the cases run in this call.
    """

    def __init__(self, rows, timing=None):
        self.rows = rows
        self.timing = timing or {}

    @property
    def errors(self):
        return [(r["case_id"], r["error"]) for r in self.rows if r["metric"] == ERROR]

    @property
    def case_ids(self):
        return list(dict.fromkeys(r["case_id"] for r in self.rows))

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def value(self, case_id, label, metric):
        for r in self.rows:
            if r["case_id"] == case_id and r["label"] == label and r["metric"] == metric:
                return r["value"]
        raise KeyError((case_id, label, metric))

    def summary(self, *, cap_inf=None):
        """See :func:`summarize`."""
        return summarize(self.rows, cap_inf=cap_inf)

    def to_pandas(self):
        """A long-format ``pandas.DataFrame`` (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install 'fastseg[pandas]'.") from exc
        return pd.DataFrame(self.rows, columns=COLUMNS)

    def __repr__(self):
        return (f"CohortResult({len(self.case_ids)} cases, {len(self.rows)} rows, "
                f"{len(self.errors)} errors)")


def evaluate_cohort(pairs, *, labels=None, metrics=None, tolerance=None, percentiles=(95,),
                    convention="fastseg", regions=None, ignore_label=None, boundary_width=None,
                    jobs=1, threads=None, out=None, resume=False, overwrite=False, retry_errors=False,
                    fsync=False, geometry_tolerance=1e-3, check_affine=True, reader="auto",
                    progress=False, dask=None, on_case=None):
    """Score a cohort of (pred, ref) image files: one :func:`fastseg.evaluate` per case.

    Parameters
    ----------
    pairs : sequence or dict
        :class:`Case` objects (see :func:`pair_folders`, :func:`read_manifest`), ``(case_id, pred,
        ref)`` or ``(pred, ref)`` tuples of paths, or ``{case_id: (pred, ref)}``.
    labels, metrics, tolerance, percentiles, convention, regions, ignore_label, boundary_width
        As in :func:`fastseg.evaluate`, for every case. Region names must not be integers.
    jobs : int, optional
        Processes scoring cases: this one and ``jobs - 1`` workers. Default 1 (this process only);
        ``None`` or 0 means one per core. At most one per core and one per case. The workers are
        forked on Linux while this process runs no other thread, no numba thread pool and no OpenMP
        runtime (they inherit the loaded imports); otherwise forked by a forkserver that loaded them
        once (Linux; it serves the later runs of this process too) or spawned. They start before the
        warm-up and load the kernels it compiled. This process scores cases from the start.
    threads : int, optional
        Numba threads per worker. Default: ``cores // jobs`` (workers x threads <= cores).
    out : str or os.PathLike, optional
        Results CSV (format in the module docstring); each finished case is appended and flushed at
        once. Without it, rows are only returned.
    resume : bool, optional
        Keep the complete cases already in ``out`` and run only the others. A partly written last line
        or case (a killed run) is dropped and that case runs again. Every run records its options in
        ``OUT.options.json``; resuming with other options (metrics, tolerances, convention, labels,
        regions, ignore label, geometry checks) is refused.
    overwrite : bool, optional
        Replace an existing ``out``. Without ``resume`` or ``overwrite`` an existing file is an error.
    retry_errors : bool, optional
        With ``resume``: run the cases recorded as errors again.
    fsync : bool, optional
        ``os.fsync`` after each case (survives a power cut, not only a killed process).
    geometry_tolerance : float, optional
        Largest difference (mm) allowed between pred's and ref's spacing and affine entries.
    check_affine : bool, optional
        Refuse pairs whose affines (origin, orientation) differ. Default True.
    reader : {"auto", "nibabel", "simpleitk"}
        See :func:`fastseg.io.load`.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    dask : str or distributed.Client, optional
        Run the cases on a Dask cluster (scheduler address or client) instead of local processes.
    on_case : callable, optional
        Called with each finished case's rows (in the parent, in finishing order).

    Returns
    -------
    CohortResult
        Every row (those kept from ``out`` when resuming, and the new ones), in case order.

    Raises
    ------
    ValueError
        Bad options (checked once, on a tiny phantom, before any case runs), repeated case ids, or an
        existing ``out`` without ``resume``/``overwrite``. Failures of single cases never raise: each
        becomes an error row.

    Notes
    -----
    The spacing of each case is the reference's header spacing (array-axis order, see
    :mod:`fastseg.io`); pred and ref must agree on shape, spacing and (unless ``check_affine=False``)
    affine within ``geometry_tolerance``. Values do not depend on ``jobs`` or ``threads``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, nibabel as nib, fastseg
    >>> tmp = tempfile.TemporaryDirectory()
    >>> ref = np.zeros((6, 8, 8), np.uint8); ref[1:4, 2:6, 2:6] = 1
    >>> pred = ref.copy(); pred[1] = 0
    >>> aff = np.diag([2.5, 0.8, 0.8, 1.0])
    >>> for name, a in (("p.nii.gz", pred), ("r.nii.gz", ref)):
    ...     nib.save(nib.Nifti1Image(a, aff), os.path.join(tmp.name, name))
    >>> res = fastseg.evaluate_cohort([("case1", os.path.join(tmp.name, "p.nii.gz"),
    ...                                 os.path.join(tmp.name, "r.nii.gz"))], metrics=["dice", "hd"])
    >>> [(r["case_id"], r["label"], r["metric"], round(r["value"], 4)) for r in res.rows]
    [('case1', 1, 'dice', 0.8), ('case1', 1, 'hd', 2.5)]
    >>> tmp.cleanup()
    """
    from .conventions import get_convention

    cases = _as_cases(pairs)
    for name in (regions or {}):
        if isinstance(name, str) and _INT.match(name.strip()):
            raise v.InputValueError(f"region names must not be integers (they would read as labels); got {name!r}.")
    if isinstance(labels, str):
        raise v.InputTypeError(f"labels must be a sequence of integers or None; got {labels!r}.")
    conv = get_convention(convention)
    opts = {
        "evaluate": dict(labels=None if labels is None else [int(x) for x in labels], metrics=metrics,
                         tolerance=tolerance, percentiles=percentiles, convention=conv,
                         regions=None if regions is None else dict(regions), ignore_label=ignore_label,
                         boundary_width=boundary_width),
        "convention_name": conv.name, "reader": reader,
        "geometry_tolerance": float(v.check_fraction(geometry_tolerance, "geometry_tolerance")),
        "check_affine": bool(check_affine),
    }
    if resume and out is None:
        raise v.InputValueError("resume needs an output file (out=...) to resume from.")
    if out is not None and not (resume or overwrite) and os.path.exists(out) and os.path.getsize(out) > 0:
        raise v.InputValueError(
            f"the output {os.fspath(out)} exists; pass resume to continue it or overwrite to replace it.")
    cores = _cores()
    n_jobs = cores if not jobs else int(jobs)
    if n_jobs < 1:
        raise v.InputValueError(f"jobs must be a positive integer (or 0 for one per core); got {jobs!r}.")
    n_jobs = 1 if dask is not None else max(1, min(n_jobs, cores, len(cases)))
    workers = _Workers(n_jobs - 1) if n_jobs > 1 else None  # this process is one of the n_jobs
    writer = None
    try:
        metric_names = _warm_up(opts)
        if out is not None:
            _check_and_record_options(out, _run_options(opts, metric_names), resume)
        if workers is not None:
            workers.open_gate()
        writer = _ResultsFile(out, resume=resume, overwrite=overwrite, fsync=fsync) if out is not None else None
        existing = writer.existing if writer else []
        if retry_errors and writer:
            writer.drop_cases({r["case_id"] for r in existing if r["metric"] == ERROR})
            existing = writer.existing
        done = {r["case_id"] for r in existing}
        todo = [c for c in cases if c.case_id not in done]
        new_rows = []
        timing = {"cases_run": 0, "read_s": 0.0, "evaluate_s": 0.0, "wall_s": 0.0, "jobs": 1, "threads": None}

        def emit(rows, t_read, t_eval):
            if writer:
                writer.write_case(rows)
            new_rows.extend(rows)
            timing["cases_run"] += 1
            timing["read_s"] += t_read
            timing["evaluate_s"] += t_eval
            if on_case is not None:
                on_case(rows)

        if workers is not None and len(todo) < 2:  # resuming, and little is left
            workers.terminate()
            workers = None
        n_jobs = 1 if workers is None else workers.n + 1
        n_threads = v.check_threads(threads) or max(1, cores // n_jobs)
        timing.update(jobs=n_jobs, threads=n_threads, workers_started_by=workers.method if workers else None)
        t0 = time.perf_counter()
        bar = None
        if progress:
            from tqdm import tqdm
            try:  # a pseudo-terminal may report a 0 x 0 size, which would hide the bar
                width, height = os.get_terminal_size(sys.stderr.fileno())
            except (OSError, ValueError, AttributeError):
                width = height = 0
            bar = tqdm(total=len(cases), initial=len(cases) - len(todo), unit="case", file=sys.stderr,
                       ncols=min(width, 120) if width >= 40 else 100, nrows=height if height >= 2 else 24,
                       smoothing=0.1)
        try:
            def emit_bar(*res):
                emit(*res)
                if bar is not None:
                    bar.update(1)

            if dask is not None:
                _run_dask(todo, opts, n_threads if threads else 1, dask, emit_bar)
            elif n_jobs == 1:
                _run_in_process(todo, opts, n_threads, emit_bar)
            else:
                _run_pool(todo, opts, workers, n_threads, emit_bar)
                workers = None  # closed by the run
        finally:
            if bar is not None:
                bar.close()
        timing["wall_s"] = time.perf_counter() - t0
    finally:
        if workers is not None:
            workers.terminate()
        if writer:
            writer.close()
    order = {c.case_id: i for i, c in enumerate(cases)}
    rows = sorted(existing + new_rows, key=lambda r: order.get(r["case_id"], len(order)))
    return CohortResult(rows, timing)


def _worker_init(parent_pid, gate):
    """In each worker: leave Ctrl-C to the parent, exit when the parent dies (even by SIGKILL, which
    would otherwise leave the worker waiting on its queue forever), start numba's runtime, and wait at
    ``gate`` until the parent's warm-up has filled the numba cache (so that workers started early load
    the kernels instead of each compiling them)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while True:
            time.sleep(0.5)
            if not _alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="fastseg-parent-watch", daemon=True).start()
    load_runtime()  # numba's own start-up, while the parent warms up
    gate.wait()


def _alive(pid):
    """Whether the process ``pid`` (the run's parent; a forkserver worker's own parent is the
    server) still exists."""
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, another user's (a reused pid)
        return True
    return True


def _started():
    return True


def _fork_is_safe():
    """Whether worker processes may be forked: on Linux, while this process runs no other Python
    thread, numba's thread pool is not started and no OpenMP runtime is loaded (another library's
    OpenMP team, e.g. torch's, would hang a forked child's first parallel region; BLAS pools, started
    at import, re-create themselves after a fork)."""
    import threading

    if sys.platform != "linux" or threading.active_count() != 1 or pool_started():
        return False
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            maps = fh.read()
    except OSError:
        return False
    return not any(lib in maps for lib in ("libgomp", "libiomp", "libomp"))


def _start_method():
    if _fork_is_safe():
        return "fork"
    return "forkserver" if sys.platform == "linux" else "spawn"


class _Workers:
    """``n`` worker processes, started at once, before the parent's warm-up; they wait at a gate until
    the warm-up has filled the numba cache (see :func:`_worker_init`).

    Forked when that is safe (:func:`_fork_is_safe`), after this process has loaded numba's runtime:
    a worker then inherits the imports and the runtime (about 1 s of CPU per worker here) and is ready
    once it has loaded the kernels. Otherwise, on Linux, forked by a forkserver that has loaded them
    once (:mod:`fastseg._forkserver`; the server lives as long as this process, so later runs start
    their workers at once); elsewhere, and for a pool restarted after a worker died, spawned.
    """

    def __init__(self, n):
        self.n = n
        self.pool = None
        method = _start_method()
        if method == "fork":
            load_runtime()  # before the fork: the workers inherit it
        elif method == "forkserver":
            multiprocessing.get_context("forkserver").set_forkserver_preload(["fastseg._forkserver"])
        self.restart(method)

    def restart(self, method="spawn"):
        """A new pool (the first, or after a worker died)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        ctx = multiprocessing.get_context(method)
        self.method = method
        self.gate = ctx.Event()
        if self.pool is not None:
            self.gate.set()
        self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=ctx, initializer=_worker_init,
                                        initargs=(os.getpid(), self.gate))
        for _ in range(self.n):  # a pool spawns a process per submitted task while none is idle
            self.pool.submit(_started)

    def open_gate(self):
        self.gate.set()

    def terminate(self):
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            proc.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self):
        self.pool.shutdown(wait=True)


def _run_pool(todo, opts, workers, threads, emit):
    """Cases on the spawned ``workers`` and, at the same time, in this process: its kernels are loaded
    already, so it scores cases from the first moment, while the workers start. A worker that dies
    (killed, out of memory) fails the cases it held (error rows) and the pool is restarted."""
    import threading

    pending = deque(todo)
    lock = threading.Lock()  # guards pending and emit
    stop = threading.Event()
    failure = []

    def take():
        with lock:
            return pending.popleft() if pending else None

    def emit_locked(*res):
        with lock:
            if not stop.is_set():
                emit(*res)

    def local():
        try:
            _local_worker(take, opts, threads, emit_locked, stop)
        except BaseException as exc:  # noqa: BLE001 - e.g. the output cannot be written: stop the run
            failure.append(exc)
            stop.set()

    def worker_died(case):
        return [_error_row(case.case_id, "the worker process died while this case ran (killed, or out of "
                           "memory?); rerun with resume and retry_errors.", opts["convention_name"])], 0.0, 0.0

    here = threading.Thread(target=local, name="fastseg-local-worker", daemon=True)
    here.start()
    try:
        while not stop.is_set():
            inflight = {}
            broken = False
            while not stop.is_set():
                while not broken and len(inflight) < 2 * workers.n:
                    case = take()
                    if case is None:
                        break
                    try:
                        inflight[workers.pool.submit(_run_case, case, opts, threads)] = case
                    except BrokenProcessPool:
                        with lock:
                            pending.appendleft(case)
                        broken = True
                if not inflight:
                    break
                finished, _ = wait(inflight, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    case = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        res = worker_died(case)
                    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        res = [_error_row(case.case_id, f"{type(exc).__name__}: {exc}",
                                          opts["convention_name"])], 0.0, 0.0
                    emit_locked(*res)
            if not (broken and pending):
                break
            workers.restart()
        here.join()
        if failure:
            raise failure[0]
    except BaseException:  # Ctrl-C, or the output cannot be written: stop the workers now
        with lock:
            stop.set()
        workers.terminate()
        raise
    workers.close()


def _run_dask(todo, opts, threads, scheduler, emit):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ImportError("dask needs the 'dask' extra: pip install 'fastseg[dask]'.") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {client.submit(_run_case, case, opts, threads, pure=False): case for case in todo}
        for fut in as_completed(futures):
            case = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker becomes an error row
                res = ([_error_row(case.case_id, f"{type(exc).__name__}: {exc}", opts["convention_name"])], 0.0, 0.0)
            emit(*res)
    finally:
        if client is not scheduler:
            client.close()


# ------------------------------------------------------------------------------------- summary

def _quantile(s, q):
    """Linear-interpolated quantile of a sorted array that may hold +-inf (no inf - inf = NaN)."""
    pos = q * (len(s) - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    frac = pos - lo
    if lo == hi or s[lo] == s[hi] or frac == 0.0:
        return float(s[lo])
    return float(s[lo] + (s[hi] - s[lo]) * frac)


def _stats(values):
    a = np.asarray(values, dtype=np.float64)
    nan = np.isnan(a)
    a = a[~nan]
    n_inf = int(np.count_nonzero(np.isinf(a)))
    out = {"n": int(a.size), "n_inf": n_inf, "n_nan": int(np.count_nonzero(nan))}
    if a.size == 0:
        out.update(mean=math.nan, std=math.nan, median=math.nan, q1=math.nan, q3=math.nan, iqr=math.nan,
                   min=math.nan, max=math.nan)
        return out
    s = np.sort(a)
    with np.errstate(invalid="ignore"):
        mean = float(np.mean(a))  # inf when a value is inf: a miss is never averaged away
    std = (float(np.std(a, ddof=1)) if a.size > 1 else 0.0) if not n_inf else math.inf
    q1, q3 = _quantile(s, 0.25), _quantile(s, 0.75)
    iqr = q3 - q1 if not (math.isinf(q1) and q1 == q3) else 0.0
    out.update(mean=mean, std=std, median=_quantile(s, 0.5), q1=q1, q3=q3, iqr=iqr,
               min=float(s[0]), max=float(s[-1]))
    return out


def _label_key(label):
    return (0, label, "") if isinstance(label, int) else (1, 0, str(label))


def _capped(rows, cap_inf):
    """Row values with +inf replaced by the cap (``"diagonal"``: the case's ``diagonal_mm``)."""
    if cap_inf is None:
        return [r["value"] for r in rows]
    out = []
    for r in rows:
        x = r["value"]
        if x == math.inf:
            x = r["diagonal_mm"] if cap_inf == "diagonal" else float(cap_inf)
        out.append(x)
    return out


def _check_cap(cap_inf):
    if cap_inf is None or cap_inf == "diagonal":
        return cap_inf
    try:
        c = float(cap_inf)
    except (TypeError, ValueError):
        raise v.InputValueError(f"cap_inf must be None, 'diagonal' or a number of mm; got {cap_inf!r}.") from None
    if not (math.isfinite(c) and c >= 0):
        raise v.InputValueError(f"cap_inf must be a finite, non-negative number of mm; got {cap_inf!r}.")
    return c


def summarize(rows, *, cap_inf=None):
    """Per (metric, label) and per metric over all structures: n, mean, std, median, q1, q3, IQR,
    min, max and the counts of infinite and NaN values.

    NaN values (undefined, e.g. precision with an empty prediction) are counted and left out of the
    statistics; infinite values are kept (a mean over a miss is ``inf``, never a silently better
    number) unless ``cap_inf`` replaces them: ``"diagonal"`` by the physical diagonal of that case's
    volume, or a number of mm. ``std`` is the sample standard deviation (ddof=1).

    Returns
    -------
    dict
        ``n_cases``, ``n_ok``, ``n_errors``, ``errors`` (``[{case_id, error}]``), ``cap_inf``,
        ``conventions``, ``per_label`` and ``overall`` (lists of dicts with ``metric``, ``label``
        (``"all"`` in ``overall``) and the statistics).
    """
    cap_inf = _check_cap(cap_inf)
    ok = [r for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)]
    errors = [{"case_id": r["case_id"], "error": r["error"]} for r in rows if r["metric"] == ERROR]
    case_ids = list(dict.fromkeys(r["case_id"] for r in rows))
    groups, overall = {}, {}
    for r in ok:
        groups.setdefault((r["metric"], r["label"]), []).append(r)
        overall.setdefault(r["metric"], []).append(r)
    metric_order = list(overall)
    keys = sorted(groups, key=lambda k: (metric_order.index(k[0]), _label_key(k[1])))
    per_label = [{"metric": m, "label": lab, **_stats(_capped(groups[(m, lab)], cap_inf))} for m, lab in keys]
    over = [{"metric": m, "label": "all", **_stats(_capped(overall[m], cap_inf))} for m in metric_order]
    return {
        "n_cases": len(case_ids), "n_ok": len(case_ids) - len({e["case_id"] for e in errors}),
        "n_errors": len(errors), "errors": errors, "cap_inf": cap_inf,
        "conventions": sorted({r["convention"] for r in ok}),
        "per_label": per_label, "overall": over,
    }


def _num(x, width=9):
    if isinstance(x, float) and not math.isfinite(x):
        return f"{'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf'):>{width}}"
    return f"{x:>{width}.4g}"


def format_summary(summary):
    """The summary as a text table (one line per metric and label, then the overall line)."""
    head = (f"{'metric':<14}{'label':>12}{'n':>6}{'mean':>10}{'std':>10}{'median':>10}{'IQR':>10}"
            f"{'min':>10}{'max':>10}{'inf':>5}{'nan':>5}")
    lines = [head, "-" * len(head)]
    by_metric = {}
    for s in summary["per_label"]:
        by_metric.setdefault(s["metric"], []).append(s)
    overall = {s["metric"]: s for s in summary["overall"]}
    for m, items in by_metric.items():
        for s in items + ([overall[m]] if len(items) > 1 else []):
            lines.append(
                f"{m:<14}{str(s['label']):>12}{s['n']:>6} {_num(s['mean'])} {_num(s['std'])} {_num(s['median'])} "
                f"{_num(s['iqr'])} {_num(s['min'])} {_num(s['max'])}{s['n_inf']:>5}{s['n_nan']:>5}")
    tail = f"{summary['n_cases']} cases, {summary['n_ok']} ok, {summary['n_errors']} errors"
    if summary["cap_inf"] is not None:
        tail += f"; infinite distances capped at {summary['cap_inf']}" + \
            (" (each case's diagonal, mm)" if summary["cap_inf"] == "diagonal" else " mm")
    lines.append(tail)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- gates

_GATE = re.compile(r"^\s*([A-Za-z_][\w@.]*)\s*(?::\s*([^=]+?))?\s*=\s*(\S+)\s*$")


def parse_gates(specs, option="--fail-under"):
    """``["dice=0.85", "hd95:3=5,iou=0.7"]`` -> ``[(metric, label or None, threshold)]``.

    A label is an integer or a region name; without one the gate applies to the metric's overall
    mean (:func:`check_gates`) or to every label (:func:`compare`).

    Examples
    --------
    >>> parse_gates(["dice=0.85", "hd95:3=5,iou:whole_tumor=0.7"])
    [('dice', None, 0.85), ('hd95', 3, 5.0), ('iou', 'whole_tumor', 0.7)]
    """
    out = []
    for spec in specs or []:
        for part in str(spec).split(","):
            if not part.strip():
                continue
            m = _GATE.match(part)
            if not m:
                raise v.InputValueError(
                    f"{option} expects METRIC=VALUE or METRIC:LABEL=VALUE (e.g. dice=0.85, dice:3=0.9); got {part!r}.")
            metric, label, value = m.groups()
            try:
                threshold = float(value)
            except ValueError:
                raise v.InputValueError(f"{option} {part!r}: the threshold must be a number.") from None
            if math.isnan(threshold):
                raise v.InputValueError(f"{option} {part!r}: the threshold must not be NaN.")
            out.append((metric.lower(), None if label is None else _parse_label(label.strip()), threshold))
    return out


def check_gates(summary, fail_under=(), fail_over=()):
    """Check thresholds on the summary's means. Returns a list of ``{gate, value, passed, message}``.

    ``fail_under``: the mean must be >= the threshold; ``fail_over``: the mean must be <= it. Without
    a label the gate is on the metric's overall mean (pooled over every case and structure). A mean
    that is NaN, or a metric/label with no values, fails.
    """
    per = {(s["metric"], s["label"]): s for s in summary["per_label"]}
    over = {s["metric"]: s for s in summary["overall"]}
    results = []
    for gates, op in ((fail_under, ">="), (fail_over, "<=")):
        for metric, label, thr in gates:
            s = over.get(metric) if label is None else per.get((metric, label))
            where = f"{metric}" + ("" if label is None else f" of label {label}") + \
                (" (mean over all labels)" if label is None else " (mean)")
            gate = f"{metric}{'' if label is None else f':{label}'} {op} {thr:g}"
            if s is None:
                results.append({"gate": gate, "value": math.nan, "passed": False,
                                "message": f"FAILED {gate}: no values for {where} in the results."})
                continue
            val = s["mean"]
            passed = (val >= thr) if op == ">=" else (val <= thr)
            passed = bool(passed and not math.isnan(val))
            word = "ok" if passed else "FAILED"
            counts = f" ({s['n_inf']} inf, {s['n_nan']} NaN)" if s["n_inf"] or s["n_nan"] else ""
            results.append({"gate": gate, "value": val, "passed": passed,
                            "message": f"{word} {gate}: {where} = {val:.6g}{counts}"})
    return results


# ------------------------------------------------------------------------------------- compare

def _pair_values(base_rows, new_rows, cap_inf):
    """{(metric, label): (case ids, base values, new values)} over the cases in both runs."""
    def index(rows):
        out = {}
        for r, x in zip(rows, _capped(rows, cap_inf)):
            if r["metric"] not in (ERROR, NO_STRUCTURES):
                out[(r["metric"], r["label"], r["case_id"])] = x
        return out
    b, n = index(base_rows), index(new_rows)
    groups = {}
    for key in b:
        if key in n:
            groups.setdefault(key[:2], []).append((key[2], b[key], n[key]))
    return groups


def _wilcoxon_p(d):
    """Two-sided paired Wilcoxon signed-rank p-value of differences ``d``.

    Zero differences are dropped (Wilcoxon's method); +-inf are allowed (only the order of |d|
    matters, so they rank above every finite difference). Exact distribution for up to 50 untied
    differences, the normal approximation (with tie correction) otherwise: scipy's permutation
    fallback for ties is far too slow for a CI gate.
    """
    from scipy import stats
    import warnings

    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return math.nan
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    finite = np.isfinite(d)
    if not np.all(finite):
        big = (np.max(np.abs(d[finite])) if finite.any() else 1.0) * 2.0 + 1.0
        d = np.where(finite, d, np.sign(d) * big)
    tied = np.unique(np.abs(d)).size < d.size
    method = "exact" if d.size <= 50 and not tied else "asymptotic"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(stats.wilcoxon(d, method=method).pvalue)
        except ValueError:  # scipy < 1.13 names it "approx"
            return float(stats.wilcoxon(d, method="exact" if method == "exact" else "approx").pvalue)


def _bootstrap_ci(d, n_boot, seed, level=0.95):
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    with np.errstate(invalid="ignore"):
        means = np.sort(d[idx].mean(axis=1))
    means = means[~np.isnan(means)]
    if means.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    return _quantile(means, a), _quantile(means, 1.0 - a)


def compare(base_rows, new_rows, *, max_drop=(), max_rise=(), cap_inf=None, n_boot=2000, seed=0,
            alpha=None):
    """Compare two runs case by case: per (metric, label), the mean paired difference ``new - base``,
    a paired Wilcoxon signed-rank p-value and a seeded bootstrap 95% confidence interval of the mean
    difference; flag regressions.

    Parameters
    ----------
    base_rows, new_rows : list of dict
        Rows from :func:`read_results` (or ``CohortResult.rows``). Cases are paired by id; error rows
        and cases missing from either run are left out (and counted).
    max_drop, max_rise : list of (metric, label or None, limit)
        From :func:`parse_gates`. A regression is a mean difference below ``-limit`` (``max_drop``, for
        metrics where higher is better, e.g. Dice) or above ``+limit`` (``max_rise``, for distances).
        Without a label the limit applies to every label.
    cap_inf : None, "diagonal" or float
        Cap infinite values first (see :func:`summarize`); otherwise pairs that are both inf differ by 0
        and one inf gives an infinite difference.
    n_boot, seed : int
        Bootstrap resamples and seed (deterministic).
    alpha : float, optional
        When given, a regression also needs the Wilcoxon p-value to be below ``alpha``.

    Returns
    -------
    dict
        ``rows`` (per metric and label: n, base_mean, new_mean, mean_diff, ci_low, ci_high, p_value,
        limit, direction, regression), ``regressions`` (messages), ``n_base``, ``n_new``, ``n_paired``
        cases, ``missing_in_new``, ``missing_in_base`` (case ids), ``unmatched_limits`` (limits that
        matched no metric/label), ``conventions`` (of each run).
    """
    cap_inf = _check_cap(cap_inf)
    groups = _pair_values(base_rows, new_rows, cap_inf)
    def ok_ids(rows):
        return {r["case_id"] for r in rows} - {r["case_id"] for r in rows if r["metric"] == ERROR}

    b_ids, n_ids = ok_ids(base_rows), ok_ids(new_rows)
    metric_order = list(dict.fromkeys(m for m, _ in groups))
    keys = sorted(groups, key=lambda k: (metric_order.index(k[0]), _label_key(k[1])))
    limits = {}
    for gates, direction in ((max_drop, "drop"), (max_rise, "rise")):
        for metric, label, lim in gates:
            limits.setdefault(metric, []).append((label, lim, direction))
    out_rows, regressions = [], []
    for metric, label in keys:
        _, b, n = zip(*groups[(metric, label)])
        b, n = np.asarray(b, float), np.asarray(n, float)
        keep = ~(np.isnan(b) | np.isnan(n))
        b, n = b[keep], n[keep]
        with np.errstate(invalid="ignore"):
            d = np.where(b == n, 0.0, n - b)
        mean_diff = float(np.mean(d)) if d.size else math.nan
        lo, hi = _bootstrap_ci(d, n_boot, seed)
        p = _wilcoxon_p(d)
        row = {"metric": metric, "label": label, "n": int(d.size), "n_nan_dropped": int((~keep).sum()),
               "base_mean": float(np.mean(b)) if b.size else math.nan,
               "new_mean": float(np.mean(n)) if n.size else math.nan, "mean_diff": mean_diff,
               "ci_low": lo, "ci_high": hi, "p_value": p, "limit": None, "direction": None, "regression": False}
        for lab, lim, direction in limits.get(metric, []):
            if lab is not None and lab != label:
                continue
            worse = (mean_diff < -lim) if direction == "drop" else (mean_diff > lim)
            if worse and alpha is not None:
                worse = p < alpha
            row["limit"], row["direction"] = lim, direction
            if worse:
                row["regression"] = True
                regressions.append(
                    f"REGRESSION {metric} of label {label}: mean {'drop' if direction == 'drop' else 'rise'} "
                    f"{abs(mean_diff):.4g} > {lim:g} (new - base = {mean_diff:.4g}, 95% CI [{lo:.4g}, {hi:.4g}], "
                    f"Wilcoxon p = {p:.3g}, n = {d.size})")
        out_rows.append(row)
    unmatched = []
    for gates, direction in ((max_drop, "drop"), (max_rise, "rise")):
        for metric, label, lim in gates:
            if not any(r["metric"] == metric and (label is None or r["label"] == label) for r in out_rows):
                unmatched.append(f"{metric}" + ("" if label is None else f":{label}"))
    conventions = [sorted({r["convention"] for r in rows if r["metric"] not in (ERROR, NO_STRUCTURES)})
                   for rows in (base_rows, new_rows)]
    return {"rows": out_rows, "regressions": regressions, "unmatched_limits": unmatched,
            "conventions": {"base": conventions[0], "new": conventions[1]},
            "n_base": len(b_ids), "n_new": len(n_ids), "n_paired": len(b_ids & n_ids),
            "missing_in_new": sorted(b_ids - n_ids), "missing_in_base": sorted(n_ids - b_ids)}


def format_comparison(result):
    """The result of :func:`compare` as a text table (one line per metric and label)."""
    head = (f"{'metric':<14}{'label':>12}{'n':>6}{'base':>10}{'new':>10}{'new-base':>11}{'95% CI':>22}"
            f"{'p':>9}  status")
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        ci = f"[{_num(r['ci_low'], 0).strip()}, {_num(r['ci_high'], 0).strip()}]"
        status = "" if r["limit"] is None else (
            ("REGRESSION" if r["regression"] else "ok") + f" (max {r['direction']} {r['limit']:g})")
        lines.append(f"{r['metric']:<14}{str(r['label']):>12}{r['n']:>6} {_num(r['base_mean'])} {_num(r['new_mean'])}"
                     f" {_num(r['mean_diff'], 10)} {ci:>21} {_num(r['p_value'], 8)}  {status}")
    lines.append(f"{result['n_paired']} paired cases ({result['n_base']} in baseline, {result['n_new']} in new)")
    return "\n".join(lines)
