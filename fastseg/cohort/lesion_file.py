"""The per-lesion results file of a cohort run with ``lesions=`` (``--lesions``): one CSV row per
lesion unit (a matched pair or group, a missed reference lesion, a spurious prediction) of every
structure of every case, appended case by case, kept in step with the main results file on resume.

Columns: ``case_id, label, name`` then :data:`fastseg.metrics.lesions.INSTANCE_COLUMNS` (ids joined by
``;``) and one ``nsd@T`` per tolerance. A case's lesion rows are written before its rows in the main
file (and, with ``fsync``, synced before them), so a case the main file holds always has its lesion
rows; on resume, lesion rows of cases the main file does not hold (a run killed in between) are dropped
and the case runs again.

A case's rows in the main file say how many lesion rows it has (:func:`expected_units`: ``lesion_tp +
lesion_fn + lesion_fp + lesion_n_excluded`` over its structures). Given those rows (``results=``), a
resume refuses a lesion file that lacks rows of a kept case, or holds other rows for it: a file written
beside another results file, or by a run that had no ``lesions_out`` (a resume that adds, drops or
moves ``--lesions-out``), would otherwise leave the two files disagreeing about which cases are done.
"""
import csv
import io as _stdio
import math
import os

from .. import _validation as v
from ..metrics.lesions import INSTANCE_COLUMNS
from .._output import write_text_atomic
from .results import AppendFile, output_error

__all__ = ["LesionFile", "lesion_columns", "lesion_rows", "read_lesion_rows", "expected_units"]

#: the per-case rows whose sum is a case's number of lesion rows (units) in each structure
UNIT_METRICS = ("lesion_tp", "lesion_fn", "lesion_fp", "lesion_n_excluded")


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
    if x is None:
        return ""
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


def _read_text(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise v.InputValueError(f"cannot read the lesion results file {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise v.InputValueError(f"{path} is not a fastseg lesion results file (not UTF-8 text); choose another "
                                f"lesion file, or pass overwrite.") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return text


def read_lesion_rows(path):
    """The rows of a per-lesion file as dicts of strings (a partly written last line left out)."""
    return list(csv.DictReader(_stdio.StringIO(_read_text(path))))


def expected_units(rows):
    """``{case_id: n}``: the number of lesion rows each case of these main-file rows has (0 for an error
    case or a case with nothing to score)."""
    out = {}
    for r in rows:
        n = out.setdefault(r["case_id"], 0)
        if r["metric"] in UNIT_METRICS:
            out[r["case_id"]] = n + int(round(float(r["value"])))
    return out


class LesionFile(AppendFile):
    """Appends each case's lesion rows at once; on resume keeps only the cases in ``keep``.

    ``results``: the main file's kept rows; when given, a resume checks that the lesion file holds
    exactly the rows they imply for every kept case (:func:`expected_units`), and refuses it otherwise.
    ``fsync``: sync the file after each case (and the rewritten file before it replaces the old one).
    """

    what = "the lesion results file"

    def __init__(self, path, tolerances, *, resume, keep, results=None, fsync=False):
        self.path = os.fspath(path)
        self.fsync = bool(fsync)
        self.columns = lesion_columns(tolerances)
        header = ",".join(self.columns) + "\n"
        try:
            kept = ""
            if resume:
                kept = self._kept(keep, results, os.path.exists(self.path) and os.path.getsize(self.path) > 0)
            write_text_atomic(self.path, header + kept, make_folder=False, fsync=self.fsync)
            self.f = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise output_error("the lesion results file", self.path, exc) from exc
        self.size = self.f.tell()

    def _kept(self, keep, results, exists):
        """The text of the rows of the kept cases (checked against ``results`` when given)."""
        lines = _read_text(self.path).splitlines(keepends=True) if exists else []
        head = next(csv.reader(lines[:1]), self.columns)
        if head != self.columns:
            other = head[:3] == ["case_id", "label", "name"] and "unit" in head
            raise v.InputValueError(
                f"{self.path} " + ("was written with other columns" if other else
                                   "is not a fastseg lesion results file") +
                f" (its header is {','.join(head)[:200]!r}); write a new lesion file or overwrite this one.")
        kept = [r for r in csv.DictReader(lines[1:], fieldnames=self.columns) if r["case_id"] in keep]
        if results is not None:
            want = {cid: n for cid, n in expected_units(results).items() if cid in keep}
            have, torn = {}, set()
            for r in kept:
                have[r["case_id"]] = have.get(r["case_id"], 0) + 1
                if None in r or any(r[c] is None for c in self.columns):  # a row of too many or few fields
                    torn.add(r["case_id"])
            bad = sorted(torn | {cid for cid in set(want) | set(have) if want.get(cid, 0) != have.get(cid, 0)})
            if bad:
                shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                raise v.InputValueError(
                    f"{self.path} does not hold the lesion rows of {len(bad)} case(s) the results file holds "
                    f"({shown}): it was not written beside that results file (a resume that adds, drops or "
                    f"moves the lesion file?). Resume with the lesion file of the run that wrote the results, "
                    f"or start again with overwrite.")
        return _text(kept, self.columns)

    def write_case(self, rows):
        self.append(_text(rows, self.columns))
