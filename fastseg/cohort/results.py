"""The results file: a long-format CSV appended case by case, read back, repaired after a crash, and
the record of the options that wrote it.

Results file (CSV, long format)
-------------------------------
One row per (case, structure, metric), columns :data:`COLUMNS`:

``case_id, label, name, metric, value, empty_state, convention``
    as in :class:`fastseg.EvaluationResult` (``label`` is an integer label or a region name;
    ``name`` the label's name, a region's own name, or empty); values are written exactly
    (``repr``), infinities and NaN as ``inf``, ``nan``. Files written before ``name`` existed
    (:data:`LEGACY_COLUMNS`) are still read, and rewritten with it when a run resumes them.
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
row with ``metric == "no_structures"``. Each run records its options next to the file
(``OUT.options.json``).

Wide table (``--wide``)
-----------------------
One row per case and structure, one column per metric (:func:`wide_table`): ``case_id, label, name,
empty_state, convention, spacing, shape``, the metrics, ``error``; spacing printed with 6 significant
digits per axis. An error case is one row with its ``error``.
"""
import csv
import functools
import io as _stdio
import math
import os
import re

from .. import _validation as v
from .._output import check_new_output, write_text_atomic

__all__ = ["COLUMNS", "LEGACY_COLUMNS", "ERROR", "NO_STRUCTURES", "INT_LABEL", "error_row", "one_line",
           "parse_label", "text_safe", "safe_row", "read_results", "ResultsFile", "AppendFile", "OutputError",
           "output_error", "check_header", "readable_spacing", "wide_table", "wide_csv", "rows_to_text"]

class OutputError(v.FastsegError, OSError):
    """An output of the run cannot be written (full disk, read-only or missing folder...); the message
    names the file and the cause. Nothing already written is lost."""


def output_error(what, path, exc):
    """An :class:`OutputError` for ``exc`` (an OSError) while writing ``what`` at ``path``."""
    cause = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
    return OutputError(f"cannot write {what} {os.fspath(path)}: {cause}.")


COLUMNS = ["case_id", "label", "name", "metric", "value", "empty_state", "convention", "spacing", "shape",
           "diagonal_mm", "case_rows", "error"]
#: the columns of results files written before label names (fastseg 0.1): still read
LEGACY_COLUMNS = [c for c in COLUMNS if c != "name"]
ERROR = "error"
NO_STRUCTURES = "no_structures"


# -------------------------------------------------------------------------------- rows and CSV format

def one_line(msg):
    return " ".join(str(msg).split())


def text_safe(x):
    """``x`` writable as UTF-8: a string holding undecodable bytes of a file name (``\\udcff``, as
    ``os.listdir`` returns a Latin-1 name on a UTF-8 system) gets them as ``\\xff`` escapes, so that
    one oddly named file becomes a case like any other instead of failing the run's every write."""
    if isinstance(x, str):
        try:
            x.encode("utf-8")
        except UnicodeEncodeError:
            return x.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return x


def safe_row(row):
    """``row`` (a dict) with every string value made :func:`text_safe` (the same dict when nothing changes)."""
    if all(text_safe(val) is val for val in row.values()):
        return row
    return {k: text_safe(val) for k, val in row.items()}


def error_row(cid, message, convention=""):
    return {"case_id": cid, "label": "", "name": "", "metric": ERROR, "value": math.nan, "empty_state": "",
            "convention": convention, "spacing": None, "shape": None, "diagonal_mm": math.nan,
            "case_rows": 1, "error": one_line(message)}


def fmt_float(x):
    return repr(float(x))


def format_row(row):
    is_error = row["metric"] == ERROR
    return [
        row["case_id"], "" if row["label"] == "" else str(row["label"]), row.get("name", ""), row["metric"],
        "" if is_error else fmt_float(row["value"]), row["empty_state"], row["convention"],
        "" if row["spacing"] is None else "x".join(fmt_float(s) for s in row["spacing"]),
        "" if row["shape"] is None else "x".join(str(int(n)) for n in row["shape"]),
        "" if is_error else fmt_float(row["diagonal_mm"]), str(row["case_rows"]), row["error"],
    ]


INT_LABEL = re.compile(r"^\d+$")


def parse_label(s):
    return int(s) if INT_LABEL.match(s) else s


@functools.lru_cache(maxsize=1024)
def _axes(text, kind):
    """``"2.5x0.8x0.8"`` -> a tuple of ``kind`` (the same few strings repeat on every row of a case)."""
    return tuple(kind(s) for s in text.split("x")) if text else None


def parse_row(rec, columns=COLUMNS):
    """A CSV record (dict of str) -> a typed row; raises ValueError when malformed."""
    if None in rec or any(rec.get(c) is None for c in columns):
        raise ValueError("wrong number of fields")
    return {
        "case_id": rec["case_id"], "label": parse_label(rec["label"]), "name": rec.get("name", ""),
        "metric": rec["metric"],
        "value": float(rec["value"]) if rec["value"] != "" else math.nan,
        "empty_state": rec["empty_state"], "convention": rec["convention"],
        "spacing": _axes(rec["spacing"], float), "shape": _axes(rec["shape"], int),
        "diagonal_mm": float(rec["diagonal_mm"]) if rec["diagonal_mm"] else math.nan,
        "case_rows": int(rec["case_rows"]), "error": rec["error"],
    }


def rows_to_text(rows):
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow(format_row(row))
    return buf.getvalue()


def parse_text(text, path):
    """Typed rows of the complete cases in a results file's text; and whether the file needs rewriting:
    something was dropped (a partly written last line, malformed rows, cases with fewer rows than
    ``case_rows``) or it has the columns of an older version (:data:`LEGACY_COLUMNS`)."""
    dropped = False
    if text and not text.endswith("\n"):  # killed in the middle of a line: drop the partial line
        text = text[: text.rfind("\n") + 1]
        dropped = True
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], dropped
    columns = check_header(next(csv.reader(lines[:1])), path)
    dropped = dropped or columns != COLUMNS
    by_case = {}
    for rec in csv.DictReader(lines[1:], fieldnames=columns):
        try:
            row = parse_row(rec, columns)
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


def check_header(header, path):
    """Refuse a file whose header (a list of column names) is not a fastseg results file's; returns
    its columns (:data:`COLUMNS`, or :data:`LEGACY_COLUMNS` for a file of fastseg 0.1)."""
    if header in (COLUMNS, LEGACY_COLUMNS):
        return list(header)
    raise v.InputValueError(
        f"{path} is not a fastseg results file (its header is {','.join(header)[:200]!r}); "
        f"choose another output file, or pass overwrite.")


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
    except UnicodeDecodeError:
        raise v.InputValueError(f"{path} is not a fastseg results file (not UTF-8 text).") from None
    rows, _ = parse_text(text, path)
    return rows


class AppendFile:
    """An output appended case by case (``self.f``, opened by the subclass, ``self.size`` its length after
    the last complete case): a write that fails (full disk...) is undone, the file cut back to that
    length so it never holds a torn line, and raised as an :class:`OutputError` naming ``what``."""

    what = "the output"
    fsync = False
    f = None

    def append(self, text):
        if self.f is None:
            raise OutputError(f"cannot write {self.what} {self.path}: an earlier write failed.")
        try:
            self.f.write(text)
            self.f.flush()
            if self.fsync:
                os.fsync(self.f.fileno())
        except OSError as exc:
            self.undo()
            raise output_error(self.what, self.path, exc) from exc
        except BaseException:  # Ctrl-C in the middle of a case: closing would flush half of it
            self.undo()
            raise
        self.size = self.f.tell()

    def undo(self):
        """Cut the file back to its last complete case after a failed write (best effort)."""
        try:
            self.f.close()
        except OSError:
            pass
        try:
            os.truncate(self.path, self.size)
        except OSError:
            pass
        self.f = None

    def close(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass


class ResultsFile(AppendFile):
    """Appends each finished case to the CSV at once (one write, flush, optional fsync).

    A write that fails (full disk...) is undone: the file is cut back to its last complete case, so
    it never holds a torn line (and if even that fails, ``resume`` drops the torn line). Every
    failure to write is an :class:`OutputError` naming the file.
    """

    what = "the results file"

    def __init__(self, path, *, resume, overwrite, fsync):
        self.path = os.fspath(path)
        self.fsync = fsync
        self.existing = []
        self.f = None
        check_new_output(self.path, resume=resume, overwrite=overwrite)
        try:
            exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
            if exists and resume:
                with open(self.path, encoding="utf-8", newline="") as f:
                    text = f.read()
                self.existing, dropped = parse_text(text, self.path)
                if dropped:  # rewrite without the partial line / incomplete cases, atomically
                    self._rewrite()
                self.f = open(self.path, "a", encoding="utf-8", newline="")
            else:
                self.f = open(self.path, "w", encoding="utf-8", newline="")
        except UnicodeDecodeError:
            raise v.InputValueError(f"{self.path} is not a fastseg results file (not UTF-8 text); choose "
                                    f"another output file, or pass overwrite.") from None
        except OSError as exc:
            raise output_error("the results file", self.path, exc) from exc
        self.size = self.f.tell()
        if self.size == 0:
            self.append(",".join(COLUMNS) + "\n")

    def _rewrite(self):
        write_text_atomic(self.path, ",".join(COLUMNS) + "\n" + rows_to_text(self.existing), make_folder=False,
                          fsync=True)

    def write_case(self, rows):
        self.append(rows_to_text(rows))

    def drop_cases(self, ids):
        """Forget (and remove from the file) the rows of ``ids`` (to retry failed cases)."""
        if not ids:
            return
        self.existing = [r for r in self.existing if r["case_id"] not in ids]
        self.f.close()
        try:
            self._rewrite()
            self.f = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise output_error("the results file", self.path, exc) from exc
        self.size = self.f.tell()


# -------------------------------------------------------------------------------- the wide table

def readable_spacing(spacing):
    """Spacing for people: 6 significant digits per axis (``2.5x0.8x0.8``, not ``0.800000011920929``)."""
    return "" if spacing is None else "x".join(f"{float(s):.6g}" for s in spacing)


def wide_table(rows):
    """``(records, metrics)``: one record per case and structure (keys ``case_id, label, name,
    empty_state, convention, spacing, shape, error`` and one per metric), in row order; an error case
    is one record with its ``error``, a case with nothing to score one with empty state
    ``no_structures``. ``metrics`` lists the metric names in order of appearance."""
    out, metrics = {}, {}
    for r in rows:
        key = (r["case_id"], r["label"])
        d = out.get(key)
        if d is None:
            state = NO_STRUCTURES if r["metric"] == NO_STRUCTURES else r["empty_state"]
            d = out[key] = {"case_id": r["case_id"], "label": r["label"], "name": r.get("name", ""),
                            "empty_state": state, "convention": r["convention"], "spacing": r["spacing"],
                            "shape": r["shape"], "error": r["error"]}
        if r["metric"] not in (ERROR, NO_STRUCTURES):
            metrics.setdefault(r["metric"])
            d[r["metric"]] = r["value"]
    return list(out.values()), list(metrics)


def wide_csv(rows):
    """The text of the wide CSV of ``rows`` (values exact, as in the results file)."""
    records, metrics = wide_table(rows)
    head = ["case_id", "label", "name", "empty_state", "convention", "spacing", "shape"]
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head + metrics + ["error"])
    for d in records:
        w.writerow([d["case_id"], d["label"], d["name"], d["empty_state"], d["convention"],
                    readable_spacing(d["spacing"]), "" if d["shape"] is None else "x".join(map(str, d["shape"]))]
                   + [fmt_float(d[m]) if m in d else "" for m in metrics] + [d["error"]])
    return buf.getvalue()
