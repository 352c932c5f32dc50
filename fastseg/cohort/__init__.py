"""Cohort evaluation: many (pred, ref) file pairs, in parallel, with a resumable results file.

Each case is read (:mod:`fastseg.io`), its geometry checked, and scored with :func:`fastseg.evaluate`.
Cases run in this process (the next case read by a helper thread while one is scored), in worker
processes together with this one (``jobs``; numba threads split so that workers x threads <= cores,
kernels compiled once, in this process, before the workers load them), or on a Dask cluster. A case
that fails (missing partner, unreadable file, shape or geometry mismatch, invalid labels...) becomes an
error row and the run goes on. Every finished case is appended to the results file at once, so a
killed run resumes (``resume=True``) without losing or repeating a finished case.

One module per job:

=================================  ==============================================================
:mod:`~fastseg.cohort.cases`       pairing two folders, manifests, lists of pairs
:mod:`~fastseg.cohort.results`     the results CSV (format, appending, repair on resume), options
:mod:`~fastseg.cohort.score`       reading and scoring one case; the in-process runner
:mod:`~fastseg.cohort.workers`     worker processes (fork / forkserver / spawn) and Dask
:mod:`~fastseg.cohort.stats`       summaries and threshold gates
:mod:`~fastseg.cohort.compare`     two runs compared case by case
:mod:`~fastseg.cohort.run`         :func:`evaluate_cohort`
=================================  ==============================================================

The results file format is described in :mod:`fastseg.cohort.results`.
"""
from .cases import Case, pair_folders, read_manifest
from .compare import compare, format_comparison
from .results import COLUMNS, read_results
from .run import CohortResult, evaluate_cohort
from .stats import check_gates, format_summary, parse_gates, summarize

__all__ = ["evaluate_cohort", "CohortResult", "Case", "pair_folders", "read_manifest", "read_results",
           "summarize", "format_summary", "parse_gates", "check_gates", "compare", "format_comparison",
           "COLUMNS"]
