"""``evaluate_cohort``: the run itself: options, warm-up, the results file, local or pooled or Dask
execution, progress, and the rows in case order."""
import dataclasses
import json
import os
import sys
import time

from .. import _validation as v
from .._version import __version__
from .._output import check_new_output, to_pandas
from ..metrics.apl import slice_axis_of
from ..metrics.lesions import lesion_rule_of
from .cases import as_cases, pair_folders
from .conventions import preset_options, with_presets
from .lesion_file import LesionFile
from .structures import named_options
from .guard import ResultsLock, check_and_record_options, check_output_path, run_options
from .results import COLUMNS, ERROR, INT_LABEL, ResultsFile, readable_spacing, safe_row, text_safe, wide_table
from .score import run_in_process
from .stats import summarize
from .workers import Workers, dask_client, prepare, run_dask, run_pool

__all__ = ["evaluate_cohort", "CohortResult", "cores"]


def cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------- the run

class CohortResult:
    """The rows of a cohort run (typed dicts with the :data:`COLUMNS` keys), in case order.

    ``errors`` lists ``(case_id, message)``; ``summary()`` aggregates per label and metric;
    ``timing`` has the wall, reading and evaluation seconds of the cases run in this call; ``options``
    the record of the options that define the values (as in ``OUT.options.json``).
    """

    def __init__(self, rows, timing=None, options=None):
        self.rows = rows
        self.timing = timing or {}
        self.options = options

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

    def to_pandas(self, wide=False):
        """A ``pandas.DataFrame`` of the rows (pandas is optional): long (:data:`COLUMNS`), or with
        ``wide=True`` one row per case and structure and one column per metric (spacing as text, 6
        significant digits per axis; see :func:`fastseg.cohort.results.wide_table`)."""
        if not wide:
            return to_pandas(self.rows, COLUMNS)
        records, metrics = wide_table(self.rows)
        for d in records:
            d["spacing"] = readable_spacing(d["spacing"])
        head = ["case_id", "label", "name", "empty_state", "convention", "spacing", "shape"]
        return to_pandas(records, head + metrics + ["error"])

    def __repr__(self):
        return (f"CohortResult({len(self.case_ids)} cases, {len(self.rows)} rows, "
                f"{len(self.errors)} errors)")


def evaluate_cohort(pairs, ref_dir=None, *, labels=None, metrics=None, tolerance=None, percentiles=(95,),
                    convention="fastseg", regions=None, ignore_label=None, boundary_width=None, beta=None,
                    tversky=None, names=None, slice_axis=None, lesions=None, lesions_out=None, conventions=None,
                    pair_by="label",
                    aliases=None, structures=None, jobs=1, threads=None, out=None, resume=False, overwrite=False,
                    retry_errors=False, fsync=False, geometry_tolerance=1e-3, check_affine=True, reader="auto",
                    progress=False, dask=None, on_case=None):
    """Score a cohort of (pred, ref) image files: one :func:`fastseg.evaluate` per case.

    Parameters
    ----------
    pairs : sequence, dict, or a folder
        :class:`Case` objects (see :func:`pair_folders`, :func:`read_manifest`), ``(case_id, pred,
        ref)`` or ``(pred, ref)`` tuples of paths, or ``{case_id: (pred, ref)}``; or the folder of
        predictions, with ``ref_dir``.
    ref_dir : str or os.PathLike, optional
        The folder of references when ``pairs`` is the folder of predictions: cases are paired by file
        name as the command line does (:func:`pair_folders`).
    labels, metrics, tolerance, percentiles, convention, regions, ignore_label, boundary_width, beta, tversky, names, \
            slice_axis
        As in :func:`fastseg.evaluate`, for every case. Region names must not be integers. With
        ``names`` every row has the structure's ``name`` (see :func:`fastseg.labels.read_labels_json`
        for nnU-Net's ``dataset.json``).
    lesions : str, LesionRule or True, optional
        Also evaluate every structure lesion-wise (``evaluate(..., lesions=...)``): per-case lesion
        metrics join the rows (``lesion_f1``, ``lesion_pq``, ``lesionwise_dice``...).
    pair_by : {"label", "name"}, optional
        ``"label"`` (default): structures are label values of label maps. ``"name"``: each file's
        structures (DICOM-SEG segments, RTSTRUCT ROIs, or the labels of a label map named by
        ``names``) are paired across pred and ref by name, case-insensitive, surrounding spaces
        ignored, each scored as its own mask (overlapping ROIs allowed); a structure on one side
        only is a miss. See :mod:`fastseg.cohort.structures`. A case may then be ``(case_id, pred,
        ref, image)``, ``image`` the folder of the DICOM image series (the grid of both sides).
    aliases : dict or str or os.PathLike, optional
        With ``pair_by="name"``: ``{"Lung_L": ["LeftLung", "lung left"]}`` (or a JSON file of it):
        the listed names are the structure ``Lung_L``.
    structures : sequence of str, optional
        With ``pair_by="name"``: the structures to score, in order (each reported in every case,
        absent ones as both empty). Default: every structure found in the files' headers.
    conventions : str or sequence of str, optional
        Also every surface-distance metric under these presets (``"all"``, ``"monai,medpy"`` or a
        list; the run's own convention left out), as rows ``METRIC/PRESET`` (``hd95/monai``) at the cost
        of one surface computation per structure and surface model (:mod:`fastseg.cohort.conventions`).
    lesions_out : str or os.PathLike, optional
        With ``lesions``: one CSV row per lesion unit of every case
        (:mod:`fastseg.cohort.lesion_file`), appended case by case and kept in step with ``out`` on
        resume.
    jobs : int, optional
        Processes scoring cases: this one and ``jobs - 1`` workers. Default 1 (this process only);
        ``None`` or 0 means one per core. At most one per core and one per case. The workers are
        forked on Linux while this process runs no other thread, no numba thread pool and no OpenMP
        runtime (they inherit the loaded imports); otherwise forked by a forkserver that loaded them
        once (Linux; it serves the later runs of this process too) or spawned. They start before the
        warm-up and wait while this process scores the first case, then load the kernels it compiled
        (on a fresh install they would otherwise each compile them). This process scores cases from
        the start.
    threads : int, optional
        Numba threads per worker. Default: ``cores // jobs`` (workers x threads <= cores).
    out : str or os.PathLike, optional
        Results CSV (format in the module docstring); each finished case is appended and flushed at
        once. Without it, rows are only returned.
    resume : bool, optional
        Keep the complete cases already in ``out`` and run only the others. A partly written last line
        or case (a killed run) is dropped and that case runs again. Every run records its options in
        ``OUT.options.json``; resuming a file whose record is missing, or with other options (metrics, tolerances, convention, labels,
        regions, label names, ignore label, geometry checks) is refused.
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
    from ..conventions import get_convention

    if ref_dir is not None or isinstance(pairs, (str, os.PathLike)):
        if ref_dir is None or not isinstance(pairs, (str, os.PathLike)):
            raise v.InputTypeError("pass two folders (pred_dir, ref_dir), or one sequence of pairs; "
                                   f"got {type(pairs).__name__} and {type(ref_dir).__name__}.")
        pairs = pair_folders(pairs, ref_dir, folders=pair_by == "name")
    cases = as_cases(pairs)
    for name in (regions or {}):
        if isinstance(name, str) and INT_LABEL.match(name.strip()):
            raise v.InputValueError(f"region names must not be integers (they would read as labels); got {name!r}.")
    if isinstance(labels, str):
        raise v.InputTypeError(f"labels must be a sequence of integers or None; got {labels!r}.")
    conv = get_convention(convention)
    opts = {
        "evaluate": dict(labels=None if labels is None else [int(x) for x in labels], metrics=metrics,
                         tolerance=tolerance, percentiles=percentiles, convention=conv,
                         regions=None if regions is None else dict(regions), ignore_label=ignore_label,
                         boundary_width=boundary_width, beta=beta, tversky=tversky, names=v.check_names(names),
                         slice_axis=None if slice_axis is None else slice_axis_of(slice_axis, (1.0,) * 3, 3,
                                                                                  warn=False),
                         lesions=None if lesions is None or lesions is False
                         else lesion_rule_of("fastseg" if lesions is True else lesions)),
        "convention_name": conv.name, "reader": reader,
        "geometry_tolerance": float(v.check_fraction(geometry_tolerance, "geometry_tolerance")),
        "check_affine": bool(check_affine),
    }
    by_name = named_options(opts, pair_by, aliases, structures, cases)
    preset_options(opts, conventions)
    if resume and out is None:
        raise v.InputValueError("resume needs an output file (out=...) to resume from.")
    inputs = [p for c in cases for p in (c.pred, c.ref)]
    if out is not None:
        out = check_output_path(out, inputs, what="out")
        check_new_output(out, resume=resume, overwrite=overwrite)
    if lesions_out is not None:
        if opts["evaluate"]["lesions"] is None:
            raise v.InputValueError("lesions_out needs lesions= (the rule of the lesion-wise evaluation).")
        own = [] if out is None else [out, out + ".options.json", out + ".lock", out + ".tmp"]  # out and its records
        lesions_out = check_output_path(lesions_out, inputs + own, what="lesions_out")
        check_new_output(lesions_out, resume=resume, overwrite=overwrite)
    n_cores = cores()
    n_jobs = n_cores if not jobs else int(jobs)
    if n_jobs < 1:
        raise v.InputValueError(f"jobs must be a positive integer (or 0 for one per core); got {jobs!r}.")
    n_jobs = 1 if dask is not None else max(1, min(n_jobs, n_cores, len(cases)))
    workers = writer = lesion_writer = None
    client, own_client = None, False
    locks = []  # one run per file: the results file and the lesion file, each
    try:
        for path in (out, lesions_out):
            if path is not None:
                locks.append(ResultsLock(path))
        if dask is not None:  # connected before any file is made: an address that answers leaves none behind
            client, own_client = dask_client(dask)
        workers = Workers(n_jobs - 1) if n_jobs > 1 else None  # this process is one of the n_jobs
        metric_names = with_presets(prepare(opts), opts)  # the workers' gate opens in run_pool, after the first case
        names = opts["evaluate"]["names"]
        rule = opts["evaluate"]["lesions"]
        record = dict(run_options(opts, metric_names),
                      names=None if names is None else {str(k): n for k, n in sorted(names.items())},
                      lesions=None if rule is None else json.loads(json.dumps(dataclasses.asdict(rule))),
                      conventions=opts["conventions"], **by_name)
        if lesions_out is not None and out is not None:  # a resume must name the same lesion file (or none)
            record["lesions_out"] = _beside(lesions_out, out)
        if out is not None:
            # again, under the lock: another run may have written the file since the first check, and
            # this run, refused later by ResultsFile, must not have replaced that run's options record
            check_new_output(out, resume=resume, overwrite=overwrite)
            check_and_record_options(out, record, resume)
        writer = ResultsFile(out, resume=resume, overwrite=overwrite, fsync=fsync) if out is not None else None
        existing = writer.existing if writer else []
        if retry_errors and writer:
            writer.drop_cases({r["case_id"] for r in existing if r["metric"] == ERROR})
            existing = writer.existing
        done = {r["case_id"] for r in existing}
        todo = [c for c in cases if text_safe(c.case_id) not in done]
        if lesions_out is not None:
            tols = opts["evaluate"]["tolerance"]
            lesion_writer = LesionFile(lesions_out, None if tols is None else v.check_tolerances(tols)[0],
                                       resume=resume, keep=done, results=existing, fsync=fsync)
        new_rows = []
        timing = {"cases_run": 0, "read_s": 0.0, "evaluate_s": 0.0, "wall_s": 0.0, "jobs": 1, "threads": None}

        def emit(rows, t_read, t_eval, lesion_rows=()):
            rows = [safe_row(r) for r in rows]  # as written, and as a resumed run reads them back
            lesion_rows = [safe_row(r) for r in lesion_rows]
            if lesion_writer:  # before the main file: a case it holds always has its lesion rows
                lesion_writer.write_case(lesion_rows)
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
        n_threads = v.check_threads(threads) or max(1, n_cores // n_jobs)
        if dask is not None:  # threads per case on the cluster's workers: the given number, or 1
            n_threads = n_threads if threads else 1
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
                run_dask(todo, opts, n_threads, client, emit_bar)
            elif n_jobs == 1:
                run_in_process(todo, opts, n_threads, emit_bar)
            else:
                run_pool(todo, opts, workers, n_threads, emit_bar)
                workers = None  # closed by the run
        finally:
            if bar is not None:
                bar.close()
        timing["wall_s"] = time.perf_counter() - t0
    finally:
        if workers is not None:
            workers.terminate()
        if own_client:
            client.close()
        if writer:
            writer.close()
        if lesion_writer:
            lesion_writer.close()
        for lock in locks:
            lock.release()
    order = {text_safe(c.case_id): i for i, c in enumerate(cases)}
    rows = sorted(existing + new_rows, key=lambda r: order.get(r["case_id"], len(order)))
    return CohortResult(rows, timing, {"fastseg": __version__, "options": record})


def _beside(path, out):
    """``path`` relative to ``out``'s folder (absolute where none exists: another drive)."""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(out)))
    except ValueError:
        return os.path.abspath(path)
