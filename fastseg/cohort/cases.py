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
from dataclasses import dataclass

from .. import _validation as v
from ..io import case_id as case_id_of

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
    directly inside ``folder``."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith("."):
            continue
        if folders and os.path.isdir(path):
            out.setdefault(name, []).append(path)
            continue
        cid = case_id_of(name)
        if cid is None and name.lower().endswith(".dcm") and len(name) > 4:
            cid = name[:-4]
        if cid is None or not os.path.isfile(path):
            continue
        out.setdefault(cid, []).append(path)
    return out


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
            rows = list(csv.DictReader(f))
            fields = rows and list(rows[0].keys())
    except OSError as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: it is not UTF-8 text (byte {exc.start}); "
                                f"save it as UTF-8 CSV with the columns case_id,pred,ref.") from None
    except csv.Error as exc:
        raise v.InputValueError(f"cannot read the manifest {path}: {exc}.") from None
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
        image = (row.get("image") or "").strip()
        problem = "" if p and r else f"missing {'pred' if not p else 'ref'}: empty cell in the manifest {path}."
        cases.append(Case(cid, p, r, problem, os.path.join(base, image) if image else None))
    return cases


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
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise v.InputValueError(f"case ids must be unique; repeated: {', '.join(dup)}.")
    return cases
