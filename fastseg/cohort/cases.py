"""The cases of a cohort: pairing two folders by file name, reading a CSV manifest, or taking a list
of pairs; a case that cannot run carries its reason (it becomes an error row, the run goes on).

DICOM cases (structures paired by name, :mod:`fastseg.cohort.structures`): a case's file may be a
DICOM-SEG or RTSTRUCT file (``case01.dcm`` pairs as ``case01``), or, with ``folders=True``, a folder
named after the case holding one SEG or RTSTRUCT (and possibly its image series). A case's
``image`` (the manifest's optional ``image`` column, a 4th item of a pair) is the folder of the image
series whose grid both sides are placed on."""
import csv
import os
import re
import unicodedata
from dataclasses import dataclass

from .. import _validation as v
from ..io import case_id as case_id_of
from .results import text_safe

__all__ = ["Case", "pair_folders", "read_manifest", "as_cases"]


@dataclass(frozen=True)
class Case:
    """One case of a cohort: its id, the two file paths (None when missing), when the pairing
    already knows the case cannot run, the reason, and the image series folder (DICOM, optional)."""

    case_id: str
    pred: object = None
    ref: object = None
    problem: str = ""
    image: object = None


# ------------------------------------------------------------------------------------------- pairing

def _image_files(folder, folders=False):
    """{case_id: [paths]} of the image files (and ``.dcm`` files; with ``folders``, the sub-folders)
    directly inside ``folder``. A symbolic link to nothing is kept (its case gets an error row that
    says so, rather than a "missing" partner). Case ids are in Unicode NFC form, so that a name
    written decomposed (as macOS file systems may) pairs with the same name written composed."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith("."):
            continue
        if folders and os.path.isdir(path):
            out.setdefault(unicodedata.normalize("NFC", name), []).append(path)
            continue
        cid = case_id_of(name)
        if cid is None and name.lower().endswith(".dcm") and len(name) > 4:
            cid = name[:-4]
        if cid is None or not (os.path.isfile(path) or _broken_link(path)):
            continue
        out.setdefault(unicodedata.normalize("NFC", cid), []).append(path)
    return out


def _broken_link(path):
    return os.path.islink(path) and not os.path.exists(path)


def _link_problem(paths):
    """The problem of a case whose only file is a symbolic link to nothing, else ""."""
    for p in paths:
        if len(p) == 1 and _broken_link(p[0]):
            return f"broken symbolic link: {p[0]} points to {os.readlink(p[0])}, which does not exist."
    return ""


_CHANNEL = re.compile(r"^(.*)_(\d{4})$")


def _did_you_mean(cid, others, where):
    """A hint for a case id with no partner that matches one across an nnU-Net channel suffix
    (``case_010_0000`` for images, ``case_010`` for segmentations)."""
    m = _CHANNEL.match(cid)
    if m and m.group(1) in others:
        return (f" Did you mean {m.group(1)!r} in {where}? '_{m.group(2)}' is nnU-Net's channel suffix of input "
                f"images; predictions and references are named without it (rename, or pair with --manifest).")
    with_suffix = sorted(o for o in others if _CHANNEL.match(o) and _CHANNEL.match(o).group(1) == cid)
    if with_suffix:
        return (f" Did you mean {with_suffix[0]!r} in {where}? '_{_CHANNEL.match(with_suffix[0]).group(2)}' is "
                f"nnU-Net's channel suffix of input images; predictions and references are named without it "
                f"(rename, or pair with --manifest).")
    return ""


def pair_folders(pred_dir, ref_dir, *, folders=False):
    """Cases from two folders, paired by file name without extension.

    ``case.nii`` pairs with ``case.nii.gz`` (and with ``case.nrrd``, ``case.mha``, ``case.dcm``...).
    With ``folders=True`` a sub-folder is a case too (its name the case id: a DICOM case folder). A
    file without a partner, or two files for one case in a folder, gives a :class:`Case` with a
    ``problem`` (an error row in the results; the run goes on). Files with other extensions are ignored.

    Returns
    -------
    list of Case, sorted by case id.
    """
    for name, folder in (("PRED", pred_dir), ("REF", ref_dir)):
        if not os.path.isdir(folder):
            raise v.InputValueError(f"{name} must be a folder of images; got {os.fspath(folder)!r}.")
    preds, refs = _image_files(pred_dir, folders), _image_files(ref_dir, folders)
    cases = []
    for cid in sorted(set(preds) | set(refs)):
        p, r = preds.get(cid, []), refs.get(cid, [])
        problem = ""
        if len(p) > 1 or len(r) > 1:
            many = p if len(p) > 1 else r
            problem = f"ambiguous case: several files for {cid!r}: {', '.join(os.path.basename(x) for x in many)}."
        elif _link_problem((p, r)):
            problem = _link_problem((p, r))
        elif not r:
            problem = (f"missing ref: no file for case {cid!r} in {os.fspath(ref_dir)} (pred: {p[0]})."
                       + _did_you_mean(cid, refs, "REF"))
        elif not p:
            problem = (f"missing pred: no file for case {cid!r} in {os.fspath(pred_dir)} (ref: {r[0]})."
                       + _did_you_mean(cid, preds, "PRED"))
        cases.append(Case(cid, p[0] if len(p) == 1 else None, r[0] if len(r) == 1 else None, problem))
    return cases


def read_manifest(path):
    """Cases from a CSV manifest with the columns ``case_id, pred, ref`` and optionally ``image``
    (the folder of the DICOM image series of the case; other columns ignored).

    Relative paths are relative to the manifest's folder. An empty ``pred`` or ``ref`` cell gives a case
    with a ``problem`` (an error row); a missing file gives an error row when the case runs.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=_delimiter(f.readline()))
            f.seek(0)
            header = next(reader, None)
            # (line number, cells) of every row that is not blank: Excel writes rows of empty cells
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except OSError as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: it is not UTF-8 text (byte {exc.start}); "
                                f"save it as UTF-8 CSV with the columns case_id,pred,ref.") from None
    except csv.Error as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: {exc}.") from None
    if not header or not rows:
        raise v.InputValueError(f"the manifest {path} has no cases (expected a header case_id,pred,ref and rows).")
    fields = [h.strip().lower() for h in header]  # "case_id, pred, ref" and "Case_ID,Pred,Ref" read too
    missing = [c for c in ("case_id", "pred", "ref") if c not in fields]
    if missing:
        raise v.InputValueError(f"the manifest {path} needs the columns case_id, pred, ref; "
                                f"missing {', '.join(missing)} (found {', '.join(map(str, header))}).")
    repeated = sorted({c for c in ("case_id", "pred", "ref", "image") if fields.count(c) > 1})
    if repeated:
        raise v.InputValueError(f"the manifest {path} has the column {', '.join(repeated)} more than once "
                                f"(header: {', '.join(map(str, header))}).")
    col = {c: fields.index(c) for c in ("case_id", "pred", "ref", "image") if c in fields}
    base = os.path.dirname(os.path.abspath(path))

    def cell(row, name):
        return row[col[name]].strip() if name in col and col[name] < len(row) else ""

    def where(cell_path):
        return os.path.join(base, os.path.expanduser(cell_path))

    cases, seen = [], {}
    for line, row in rows:
        cid = cell(row, "case_id")
        if not cid:
            raise v.InputValueError(f"the manifest {path}, line {line}: empty case_id.")
        if cid in seen:
            raise v.InputValueError(f"the manifest {path}: case_id {cid!r} appears more than once "
                                    f"(lines {seen[cid]} and {line}).")
        seen[cid] = line
        p, r, image = cell(row, "pred"), cell(row, "ref"), cell(row, "image")
        p = where(p) if p else None
        r = where(r) if r else None
        problem = "" if p and r else (f"missing {'pred' if not p else 'ref'}: empty cell in the manifest {path}, "
                                      f"line {line}.")
        cases.append(Case(cid, p, r, problem, where(image) if image else None))
    return cases


def _delimiter(first_line):
    """``,``, or ``;`` / tab when the header is separated by those (a spreadsheet's export in some
    locales, a TSV file) and names the columns case_id, pred, ref that way."""
    for d in (",", ";", "\t"):
        if {"case_id", "pred", "ref"} <= {c.strip().strip('"').lower() for c in first_line.split(d)}:
            return d
    return ","


def as_cases(pairs):
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
            cid = case_id_of(p if p is not None else r)
            if cid is None:
                raise v.InputValueError(f"cannot derive a case id from {p!r}; pass (case_id, pred, ref).")
            item = (cid, p, r)
        if len(item) not in (3, 4):
            raise v.InputTypeError(f"pairs must hold (case_id, pred, ref[, image]) or (pred, ref); got {item!r}.")
        cid, p, r, image = item if len(item) == 4 else (*item, None)
        problem = "" if p is not None and r is not None else f"missing {'pred' if p is None else 'ref'}."
        cases.append(Case(str(cid), p, r, problem, image))
    written = {}  # as the results file holds them: an undecodable byte of a name as a \xff escape
    for c in cases:
        written.setdefault(text_safe(c.case_id), []).append(c.case_id)
    dup = {k: ids for k, ids in written.items() if len(ids) > 1}
    if dup:
        raise v.InputValueError("case ids must be unique as the results file writes them; repeated: " + ", ".join(
            k if len(set(ids)) == 1 else f"{k} (from {' and '.join(ascii(i) for i in dict.fromkeys(ids))})"
            for k, ids in sorted(dup.items())) + ".")
    return cases
