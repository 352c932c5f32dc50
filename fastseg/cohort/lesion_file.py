"""The per-lesion results file of a cohort run with ``lesions=`` (``--lesions``): one CSV row per
lesion unit (a matched pair or group, a missed reference lesion, a spurious prediction) of every
structure of every case, appended case by case, kept in step with the main results file on resume.

Columns: ``case_id, label, name`` then :data:`fastseg.metrics.lesions.INSTANCE_COLUMNS` (ids joined by
``;``) and one ``nsd@T`` per tolerance. A case's lesion rows are written before its rows in the main
file, so a case the main file holds always has its lesion rows; on resume, lesion rows of cases the
main file does not hold (a run killed in between) are dropped and the case runs again.
"""
import csv
import io as _stdio
import math
import os

from .. import _validation as v
from ..metrics.lesions import INSTANCE_COLUMNS
from .results import AppendFile, output_error

__all__ = ["LesionFile", "lesion_columns", "lesion_rows", "read_lesion_rows"]


def lesion_columns(tolerances):
    """The file's columns for these NSD tolerances."""
    return ["case_id", "label", "name", *INSTANCE_COLUMNS, *(f"nsd@{t:g}" for t in tolerances or ())]


def lesion_rows(case_id, result):
    """Per-lesion rows of one case from an :class:`fastseg.EvaluationResult` computed with ``lesions=``."""
    names = result.names or {}
    out = []
    for label, res in (result.lesions or {}).items():
        for r in res.instances:
            out.append({"case_id": case_id, "label": label, "name": names.get(label, ""), **r})
    return out


def _cell(x):
    if isinstance(x, tuple):
        return ";".join(str(i) for i in x)
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    return str(x)


def _text(rows, columns):
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([_cell(r.get(c, "")) for c in columns])
    return buf.getvalue()


def read_lesion_rows(path):
    """The rows of a per-lesion file as dicts of strings (a partly written last line left out)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise v.InputValueError(f"cannot read the lesion results file {path}: {exc.strerror or exc}.") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(_stdio.StringIO(text)))


class LesionFile(AppendFile):
    """Appends each case's lesion rows at once; on resume keeps only the cases in ``keep``."""

    what = "the lesion results file"

    def __init__(self, path, tolerances, *, resume, keep):
        self.path = os.fspath(path)
        self.columns = lesion_columns(tolerances)
        header = ",".join(self.columns) + "\n"
        try:
            kept = ""
            if resume and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                rows = read_lesion_rows(self.path)
                if rows and list(rows[0]) != self.columns:
                    raise v.InputValueError(f"{self.path} was written with other columns; write a new lesion file "
                                            f"or overwrite this one.")
                kept = "".join(_text([r], self.columns) for r in rows if r["case_id"] in keep)
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(header + kept)
            os.replace(tmp, self.path)
            self.f = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise output_error("the lesion results file", self.path, exc) from exc
        self.size = self.f.tell()

    def write_case(self, rows):
        self.append(_text(rows, self.columns))
