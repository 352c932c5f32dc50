"""Cohorts whose structures are paired by name (DICOM-SEG segments, RTSTRUCT ROIs, label maps with
names), not by label number: planners and products number and spell structures differently.

Pairing
-------
A structure's *key* is its name without surrounding whitespace, case-folded (``" Heart"`` and
``"HEART"`` are one structure). An alias map ``{"Lung_L": ["LeftLung", "lung left"]}`` makes every
listed name (and the canonical one) the structure ``Lung_L``. A name present on one side only is
scored as a miss (one side empty), never dropped.

Numbering
---------
Results rows carry an integer ``label`` per structure, the same in every case of a run, and the
structure's ``name``: the structure list of the run (``structures=``, or the names found in the
cases' headers before the run: every reference's, in order of first appearance, then the
predictions' other names) numbered from 1. It is
recorded in the options record, so ``resume`` refuses a run whose structures are numbered otherwise.
Two runs on the same references number the references' structures alike (``fastseg compare`` pairs
structures by number); give ``structures=`` to fix the numbering whatever the files hold.

Overlap
-------
Each structure is its own mask. Structures are packed into as few pairs of label maps as keep every
label map free of overlap (one pair when nothing overlaps: a single :func:`fastseg.evaluate` call);
an organ inside the body contour goes to a second pair. Every value is that of the structure's own
binary masks.
"""
import os
import time
from collections.abc import Mapping

import numpy as np

from .. import _validation as v
from ..evaluate import evaluate
from ..io import Volume, check_geometry, load_structures
from ..io.structures import structure_file, structure_names

__all__ = ["PAIR_BY", "name_key", "read_aliases", "Aliases", "cohort_structures", "read_named_case",
           "score_named_case", "named_options", "layers"]

PAIR_BY = ("label", "name")


def name_key(name):
    """The key names are compared by: surrounding whitespace dropped, case-folded."""
    return str(name).strip().casefold()


def read_aliases(aliases):
    """``{canonical name: [other names]}`` from a mapping or a JSON file (``aliases`` names it in
    errors): each value a name or a list of names. Refuses a name given for two structures."""
    if aliases is None:
        return {}
    source = "aliases"
    if isinstance(aliases, (str, os.PathLike)):
        source = f"aliases file {os.fspath(aliases)}"
        aliases = v.read_json_file(aliases, "cannot read", prefix="aliases: ",
                                   hint='; write an object such as {"Lung_L": ["LeftLung", "lung left"]}')
    if not isinstance(aliases, Mapping):
        raise v.InputTypeError(f"{source} must map each structure name to its other names, e.g. "
                               f"{{\"Lung_L\": [\"LeftLung\", \"lung left\"]}}; got {type(aliases).__name__}.")
    out, owner = {}, {}
    for canonical, others in aliases.items():
        others = [others] if isinstance(others, str) else others
        if not isinstance(canonical, str) or not canonical.strip() or not isinstance(others, (list, tuple)) \
                or not all(isinstance(o, str) and o.strip() for o in others):
            raise v.InputValueError(f"{source}: {canonical!r}: each entry maps a structure name to a name or a "
                                    f"list of names (non-empty text); got {others!r}.")
        canonical = canonical.strip()
        for name in [canonical] + [o.strip() for o in others]:
            key = name_key(name)
            if key in owner and owner[key] != canonical:
                raise v.InputValueError(f"{source}: the name {name!r} is given for two structures, {owner[key]!r} "
                                        f"and {canonical!r}; a name must stand for one structure.")
            owner[key] = canonical
        out[canonical] = [o.strip() for o in others]
    return out


class Aliases:
    """Canonical names: ``Aliases(read_aliases(...))("lung left") == "Lung_L"``; a name without alias
    is returned stripped."""

    def __init__(self, mapping):
        self.mapping = dict(mapping or {})
        self.lookup = {name_key(n): c for c, others in self.mapping.items() for n in [c] + list(others)}

    def __call__(self, name):
        return self.lookup.get(name_key(name), str(name).strip())


def cohort_structures(cases, aliases, structures=None, names=None):
    """The run's structure list: ``structures`` (canonicalised, distinct), or every name found in
    the cases' headers: the references' in order of first appearance, then the predictions' other
    names. Files that cannot be read add nothing (their case fails when it runs)."""
    canon = Aliases(aliases)
    out = {}
    if structures is not None:
        if isinstance(structures, str):
            raise v.InputTypeError(f"structures must be a sequence of names; got {structures!r}.")
        for s in structures:
            if not isinstance(s, str) or not s.strip():
                raise v.InputValueError(f"structures must be non-empty names; got {s!r}.")
            c = canon(s)
            if name_key(c) in out:
                raise v.InputValueError(f"structures: {s!r} names the structure {out[name_key(c)]!r} a second time.")
            out[name_key(c)] = c
        return list(out.values())
    for side in ("ref", "pred"):  # every reference structure first: runs of two models on one reference set
        for case in cases:        # number the reference's structures alike (compare pairs them by number)
            if not case.problem:
                for n in structure_names(getattr(case, side), names) or []:
                    out.setdefault(name_key(canon(n)), canon(n))
    return list(out.values())


def _is_rtstruct(path):
    from ..io.dicom import dicom_kind

    try:
        return dicom_kind(structure_file(path)) == "rtstruct"
    except Exception:  # noqa: BLE001 - an unreadable file fails when it is read
        return False


def read_named_case(case, opts):
    """Read one case's structures (never raises): ``((pred, ref) Structures or None, error or None,
    seconds)``. The grid: the case's ``image`` series when given; else an RTSTRUCT side's series,
    on which the other side is placed too."""
    from .score import message

    t0 = time.perf_counter()
    if case.problem:
        return None, case.problem, 0.0
    names = opts["evaluate"]["names"]
    try:
        order = ("pred", "ref") if _is_rtstruct(case.pred) and not _is_rtstruct(case.ref) else ("ref", "pred")
        got = {}
        for side in order:
            first, reference = next(iter(got.values()), None), case.image
            if first is not None and first.grid is not None and (first.kind == "rtstruct" or reference is not None):
                reference = first.grid  # the series the first side was placed on (read once)
            got[side] = load_structures(getattr(case, side), reference=reference, names=names, reader=opts["reader"])
    except Exception as exc:  # noqa: BLE001 - a failing case becomes an error row, the run goes on
        return None, message(exc), time.perf_counter() - t0
    return (got["pred"], got["ref"]), None, time.perf_counter() - t0


def _pairs(pred, ref, opts):
    """``[(number, name, pred item or None, ref item or None)]`` in number order."""
    canon, numbers = Aliases(opts["aliases"]), {name_key(n): i + 1 for i, n in enumerate(opts["structures"])}
    display = dict(zip(numbers.values(), opts["structures"]))
    sides = []
    for what, s in (("pred", pred), ("ref", ref)):
        by_key = {}
        for item in s.items:
            key = name_key(canon(item[0]))
            if key in by_key:
                raise v.InputValueError(f"{what} {s.source} holds {by_key[key][0]!r} and {item[0]!r}, which are one "
                                        f"structure {canon(item[0])!r} by name (case and surrounding spaces ignored"
                                        f"{', aliases applied' if opts['aliases'] else ''}); rename one, or fix the aliases.")
            by_key[key] = item
        sides.append(by_key)
    keys = list(numbers) if opts["explicit"] else list(dict.fromkeys([*sides[1], *sides[0]]))
    unknown = [k for k in keys if k not in numbers]
    if unknown:
        name = (sides[0].get(unknown[0]) or sides[1].get(unknown[0]))[0]
        raise v.InputValueError(f"structure {canon(name)!r} is not in the run's structure list (its file's "
                                f"names could not be read before the run); list the structures with structures= "
                                f"(--structures).")
    return sorted((numbers[k], display[numbers[k]], sides[0].get(k), sides[1].get(k)) for k in keys
                  if opts["explicit"] or k in numbers)


def _fits(layer, item):
    return item is None or item[1] is None or not np.any(layer[item[1]][item[2]])


def _paint(layer, item, value):
    if item is not None and item[1] is not None:
        layer[item[1]][item[2]] = value


def layers(pred, ref, pairs):
    """Pairs of label maps ``(P, R, numbers)`` holding every structure of ``pairs`` with no overlap
    inside any map: a structure joins the first pair where both its masks fit."""
    out = []
    dtype = np.uint8 if max([n for n, *_ in pairs], default=0) < 256 else np.uint16
    for number, _, p, r in pairs:
        for P, R, nums in out:
            if _fits(P, p) and _fits(R, r):
                break
        else:
            P, R, nums = np.zeros(pred.shape, dtype), np.zeros(ref.shape, dtype), []
            out.append((P, R, nums))
        _paint(P, p, number)
        _paint(R, r, number)
        nums.append(number)
    return out


def score_named_case(case, opts, threads, read):
    """Score a case read by :func:`read_named_case`: ``(rows, results)``, the rows of every
    :class:`~fastseg.EvaluationResult` in structure order; raises on a failure (the caller makes the
    error row)."""
    pv, rv = read
    try:
        check_geometry(*(Volume(np.broadcast_to(False, s.shape), s.spacing, s.affine) for s in (pv, rv)),
                       tolerance=opts["geometry_tolerance"], check_affine=opts["check_affine"])
    except ValueError as exc:
        hint = "" if case.image is not None or "rtstruct" in (pv.kind, rv.kind) or "labels" in (pv.kind, rv.kind) else (
            " A DICOM-SEG without its image series lies on its own frames: give the series (the manifest's "
            "image column, or evaluate_cohort pairs (case_id, pred, ref, image)) to place both on its grid.")
        raise type(exc)(f"{exc}{hint}") from None
    pairs = _pairs(pv, rv, opts)
    kwargs = {k: val for k, val in opts["evaluate"].items() if k not in ("labels", "names", "regions", "ignore_label")}
    results = []
    for P, R, nums in layers(pv, rv, pairs):
        names = {n: name for n, name, _, _ in pairs if n in nums}
        results.append(evaluate(P, R, spacing=rv.spacing, labels=nums, names=names, threads=threads, **kwargs))
    rows = sorted((r for res in results for r in res.rows), key=lambda r: r["label"])
    return rows, results



def named_options(opts, pair_by, aliases, structures, cases):
    """Check the pairing options of :func:`fastseg.evaluate_cohort` and put them in ``opts``; returns
    what the options record adds (``pair_by``, ``aliases``, ``structures``; nothing when pairing by
    label)."""
    if pair_by not in PAIR_BY:
        raise v.InputValueError(f"pair_by must be one of {PAIR_BY}; got {pair_by!r}.")
    opts["pair_by"] = pair_by
    if pair_by == "label":
        for option, value in (("aliases", aliases), ("structures", structures)):
            if value is not None:
                raise v.InputValueError(f"{option} pairs structures by name: it needs pair_by='name' "
                                        f"(--pair-by name); got {option}={value!r} with pair_by='label'.")
        return {}
    e = opts["evaluate"]
    for option in ("labels", "regions", "ignore_label"):
        if e[option] is not None:
            raise v.InputValueError(f"{option} selects label values; with pair_by='name' structures are chosen by "
                                    f"name (structures=[...], --structures); got {option}={e[option]!r}.")
    opts["aliases"] = read_aliases(aliases)
    opts["explicit"] = structures is not None
    opts["structures"] = cohort_structures(cases, opts["aliases"], structures, e["names"])
    return {"pair_by": "name", "aliases": opts["aliases"], "structures": list(opts["structures"])}
