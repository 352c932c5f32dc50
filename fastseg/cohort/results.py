"""The results file: a long-format CSV appended case by case, read back, repaired after a crash, and
the record of the options that wrote it.

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
row with ``metric == "no_structures"``. Each run records its options next to the file
(``OUT.options.json``).
"""
import csv
import io as _stdio
import json
import math
import os
import re

from .. import _validation as v
from .._output import check_new_output, write_json_atomic
from .._version import __version__

__all__ = ["COLUMNS", "ERROR", "NO_STRUCTURES", "INT_LABEL", "error_row", "one_line", "parse_label",
           "read_results", "ResultsFile", "options_file", "run_options", "check_and_record_options"]

COLUMNS = ["case_id", "label", "metric", "value", "empty_state", "convention", "spacing", "shape",
           "diagonal_mm", "case_rows", "error"]
ERROR = "error"
NO_STRUCTURES = "no_structures"


# -------------------------------------------------------------------------------- rows and CSV format

def one_line(msg):
    return " ".join(str(msg).split())


def error_row(cid, message, convention=""):
    return {"case_id": cid, "label": "", "metric": ERROR, "value": math.nan, "empty_state": "",
            "convention": convention, "spacing": None, "shape": None, "diagonal_mm": math.nan,
            "case_rows": 1, "error": one_line(message)}


def fmt_float(x):
    return repr(float(x))


def format_row(row):
    is_error = row["metric"] == ERROR
    return [
        row["case_id"], "" if row["label"] == "" else str(row["label"]), row["metric"],
        "" if is_error else fmt_float(row["value"]), row["empty_state"], row["convention"],
        "" if row["spacing"] is None else "x".join(fmt_float(s) for s in row["spacing"]),
        "" if row["shape"] is None else "x".join(str(int(n)) for n in row["shape"]),
        "" if is_error else fmt_float(row["diagonal_mm"]), str(row["case_rows"]), row["error"],
    ]


INT_LABEL = re.compile(r"^\d+$")


def parse_label(s):
    return int(s) if INT_LABEL.match(s) else s


def parse_row(rec):
    """A CSV record (dict of str) -> a typed row; raises ValueError when malformed."""
    if None in rec or any(rec.get(c) is None for c in COLUMNS):
        raise ValueError("wrong number of fields")
    return {
        "case_id": rec["case_id"], "label": parse_label(rec["label"]), "metric": rec["metric"],
        "value": float(rec["value"]) if rec["value"] != "" else math.nan,
        "empty_state": rec["empty_state"], "convention": rec["convention"],
        "spacing": tuple(float(s) for s in rec["spacing"].split("x")) if rec["spacing"] else None,
        "shape": tuple(int(n) for n in rec["shape"].split("x")) if rec["shape"] else None,
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
            row = parse_row(rec)
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
    rows, _ = parse_text(text, path)
    return rows


class ResultsFile:
    """Appends each finished case to the CSV at once (one write, flush, optional fsync)."""

    def __init__(self, path, *, resume, overwrite, fsync):
        self.path = os.fspath(path)
        self.fsync = fsync
        self.existing = []
        check_new_output(self.path, resume=resume, overwrite=overwrite)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and resume:
            with open(self.path, encoding="utf-8", newline="") as f:
                text = f.read()
            self.existing, dropped = parse_text(text, self.path)
            if dropped:  # rewrite without the partial line / incomplete cases, atomically
                tmp = self.path + ".tmp"
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    f.write(",".join(COLUMNS) + "\n" + rows_to_text(self.existing))
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
        self._write(rows_to_text(rows))

    def drop_cases(self, ids):
        """Forget (and remove from the file) the rows of ``ids`` (to retry failed cases)."""
        if not ids:
            return
        self.existing = [r for r in self.existing if r["case_id"] not in ids]
        self.f.close()
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(COLUMNS) + "\n" + rows_to_text(self.existing))
        os.replace(tmp, self.path)
        self.f = open(self.path, "a", encoding="utf-8", newline="")

    def close(self):
        self.f.close()



def options_file(out):
    return os.fspath(out) + ".options.json"


def run_options(opts, metric_names):
    """What decides a results file's values: compared when a run resumes it (JSON-normalised)."""
    e = opts["evaluate"]
    regions = e["regions"]
    record = {"metrics": list(metric_names), "convention": opts["convention_name"], "labels": e["labels"],
              "regions": None if regions is None else {str(k): [int(x) for x in vals] for k, vals in regions.items()},
              "ignore_label": e["ignore_label"], "boundary_width": e["boundary_width"],
              "geometry_tolerance": opts["geometry_tolerance"], "check_affine": opts["check_affine"]}
    return json.loads(json.dumps(record))


def check_and_record_options(out, record, resume):
    """Refuse to resume a results file written with other options (its rows would mix two runs'
    definitions), then record this run's options next to it (``OUT.options.json``)."""
    path = options_file(out)
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
    write_json_atomic(path, {"fastseg": __version__, "options": record}, indent=1, make_folder=False)
