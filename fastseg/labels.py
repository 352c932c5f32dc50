"""Label names and regions from nnU-Net v2's ``dataset.json``.

nnU-Net v2 declares ``"labels": {"background": 0, "liver": 1, "kidneys": [2, 3]}``: a name for each
label value, and a list for a region (a union of labels scored as one structure). A dataset with
regions (a list of two or more labels) is region-based: nnU-Net then evaluates exactly the entries
of ``labels`` (regions and single labels, not the labels a region is made of), and its
``regions_class_order`` gives, for each entry in order, the label its region is painted with in the
predicted maps. When it is given, fastseg checks it as nnU-Net does (one label per entry) and that
each painted label belongs to its region: otherwise the predicted maps cannot show that region and its
scores would be wrong. Without it (a file written only to name the structures) the regions are scored
as declared. ``"ignore": L`` (nnU-Net's ignore label) becomes
``ignore_label``.
"""
import os
from dataclasses import dataclass

from . import _validation as v

__all__ = ["LabelSpec", "read_labels_json", "labels_from_dataset", "merge_label_options",
           "check_ignore_options"]


@dataclass(frozen=True)
class LabelSpec:
    """What a ``dataset.json`` says about the structures to score.

    ``names`` ``{label: name}``; ``labels`` the labels to score (the single-label entries);
    ``regions`` ``{name: [labels]}`` or None; ``ignore_label`` or None; ``regions_class_order`` as
    given (or None). ``evaluate_kwargs()`` gives the matching options of :func:`fastseg.evaluate`.
    """

    names: dict
    labels: list
    regions: dict = None
    ignore_label: int = None
    regions_class_order: list = None

    def evaluate_kwargs(self):
        """``labels``, ``regions``, ``names`` and ``ignore_label`` for :func:`fastseg.evaluate`."""
        return {"labels": list(self.labels), "regions": None if self.regions is None else dict(self.regions),
                "names": dict(self.names), "ignore_label": self.ignore_label}


def _members(value, where):
    """An entry's label value(s) as a list of ints (an int, or a non-empty list of them)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise v.InputValueError(f"{where} must be a label or a non-empty list of labels; got [].")
    try:
        return [v.check_label(x, where) for x in items]
    except (TypeError, ValueError):
        raise v.InputValueError(f"{where} must be a non-negative integer label or a list of them; "
                                f"got {value!r}.") from None


def labels_from_dataset(data, source="dataset.json"):
    """A :class:`LabelSpec` from the parsed content of a ``dataset.json`` (``source`` names it in errors).

    Examples
    --------
    >>> spec = labels_from_dataset({"labels": {"background": 0, "liver": 1, "kidneys": [2, 3], "spleen": 4}})
    >>> spec.names, spec.labels, spec.regions
    ({1: 'liver', 4: 'spleen'}, [1, 4], {'kidneys': [2, 3]})
    """
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, dict) or not labels:
        raise v.InputValueError(f"{source} must hold a \"labels\" object of name -> label (nnU-Net v2), e.g. "
                                f"{{\"background\": 0, \"liver\": 1}}; got {str(labels)[:80]!r}.")
    names, regions, entries, ignore = {}, {}, [], None
    for name, value in labels.items():
        where = f"{source}: label {name!r}"
        members = _members(value, where)
        if name == "ignore":
            if isinstance(value, list):
                raise v.InputValueError(f"{where} (nnU-Net's ignore label) must be one label; got {value!r}.")
            ignore = members[0]
            continue
        if set(members) == {0}:  # the background
            continue
        if not name.strip() or name.strip().isdigit():
            raise v.InputValueError(f"{where}: a structure name must be text, not a number; rename it.")
        entries.append((name, members))
        if len(set(members)) > 1:
            regions[name] = sorted(set(members))
        else:
            names[members[0]] = name
    order = data.get("regions_class_order")
    if regions and order is not None:
        if not isinstance(order, list) or len(order) != len(entries):
            raise v.InputValueError(f"{source}: \"regions_class_order\" must have one label per structure "
                                    f"({len(entries)}: {', '.join(n for n, _ in entries)}); got {order!r}.")
        for (name, members), painted in zip(entries, order):
            painted, = _members(painted, f"{source}: regions_class_order")
            if painted not in members:
                raise v.InputValueError(
                    f"{source}: regions_class_order paints {name!r} with label {painted}, which is not one of its "
                    f"labels {members}; the predicted maps could not show {name!r}.")
    try:
        names = v.check_names(names)
    except ValueError as exc:
        raise v.InputValueError(f"{source}: {exc}") from None
    return LabelSpec(names, list(names), regions or None, ignore, order if regions else None)


def read_labels_json(path):
    """A :class:`LabelSpec` from an nnU-Net v2 ``dataset.json`` file (see the module docstring).

    Raises
    ------
    ValueError
        The file cannot be read, is not JSON, or its ``labels`` / ``regions_class_order`` are not
        nnU-Net's (the message names the file and the entry).
    """
    path = os.fspath(path)
    return labels_from_dataset(v.read_json_file(path, "cannot read the labels file"), path)


def merge_label_options(labels_json, labels, regions, names, ignore_label):
    """What ``fastseg evaluate`` scores, from ``--labels-json`` (a path or None) and the other options:
    the file's labels unless ``labels`` is given, its regions with ``regions`` added (a region of both
    must agree), its names overridden by ``names`` (``--label-names``), its ignore label (which must
    agree with ``ignore_label``). Returns ``(labels, regions, names or None, ignore_label)``."""
    names = dict(names or {})
    if labels_json:
        spec = read_labels_json(labels_json)
        names = {**spec.names, **names}
        if labels is None:
            labels = spec.labels
        for name, members in (spec.regions or {}).items():
            if regions and name in regions and sorted(set(regions[name])) != members:
                raise v.InputValueError(f"--regions {name}={','.join(map(str, regions[name]))} differs from the region "
                                        f"{name!r} of {labels_json} ({','.join(map(str, members))}).")
        if spec.regions:
            regions = {**spec.regions, **(regions or {})}
        if spec.ignore_label is not None:
            if ignore_label is not None and ignore_label != spec.ignore_label:
                raise v.InputValueError(f"--ignore-label {ignore_label} differs from the ignore label "
                                        f"{spec.ignore_label} of {labels_json}.")
            ignore_label = spec.ignore_label
    return labels, regions, names or None, ignore_label


def check_ignore_options(labels_json, given_ignore, ignore, labels, regions, given_labels, given_regions):
    """Refuse an ignore label that ``fastseg evaluate`` would also score (in its labels or a region,
    :func:`fastseg._validation.check_ignore_label`), naming the option each came from (``--ignore-label``
    or ``--labels-json``; ``--labels``, ``--regions`` or ``--labels-json``). ``given_*``: the options as
    given; ``ignore``, ``labels``, ``regions``: as :func:`merge_label_options` merged them."""
    if ignore is None:
        return
    json_text = f"--labels-json {labels_json}"
    ignore_text = f"--ignore-label {ignore}" if given_ignore is not None else f"the ignore label {ignore} of {json_text}"
    labels_text = (f"--labels {','.join(map(str, given_labels))}" if given_labels is not None
                   else f"the labels of {json_text} ({','.join(map(str, labels or []))})")

    def region_text(name, members):
        if given_regions and name in given_regions:
            return f"--regions {name}={','.join(map(str, given_regions[name]))}"
        return f"the region {name!r} of {json_text} ({','.join(map(str, members))})"

    v.check_ignore_label(ignore, labels, regions, ignore_text=ignore_text, labels_text=labels_text,
                         region_text=region_text)  # an InputValueError: the command line exits 2
