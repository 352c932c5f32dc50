"""``EvaluationResult``: the rows :func:`fastseg.evaluate` returns, indexed, converted (dict, JSON,
long or wide DataFrame) and printed."""
import json
import math

from ._output import json_clean, to_pandas

__all__ = ["EvaluationResult", "structure_title"]


def structure_title(label, name=""):
    """How a structure is shown to people: ``"1 liver"`` for a named label, else the label or region."""
    if name and name != label:
        return f"{label} {name}"
    return str(label)


class EvaluationResult:
    """Rows of (label, metric, value, empty_state, convention) from :func:`evaluate`.

    ``result["dice"]`` gives ``{label: value}``; ``result["dice"][3]`` one value. ``rows`` is the list
    of row dicts; ``to_dict()``, ``to_json()`` and ``to_pandas()`` convert. With label names
    (``evaluate(..., names=...)``) every row also has a ``name`` (the label's name, a region's own name,
    ``""`` for an unnamed label) and ``names`` maps each structure to it.
    """

    def __init__(self, rows, spacing, convention, names=None, lesions=None):
        self.rows = rows
        self.spacing = spacing
        self.convention = convention
        self.names = names  #: None, or {structure: name} for every structure of the rows
        self.lesions = lesions  #: None, or {structure: LesionResult} with evaluate(..., lesions=...)

    @property
    def labels(self):
        return list(dict.fromkeys(r["label"] for r in self.rows))

    @property
    def metrics(self):
        return list(dict.fromkeys(r["metric"] for r in self.rows))

    def __getitem__(self, metric):
        out = {r["label"]: r["value"] for r in self.rows if r["metric"] == metric}
        if not out and metric not in self.metrics:
            raise KeyError(f"no metric {metric!r} in this result; it has {self.metrics}.")
        return out

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def empty_states(self):
        """``{label: empty_state}`` (the state of each structure's pair of masks)."""
        return {r["label"]: r["empty_state"] for r in self.rows}

    def to_dict(self):
        """``{label: {metric: value, ..., "empty_state": state}}`` (and ``"name"`` with names)."""
        out = {}
        for r in self.rows:
            d = out.setdefault(r["label"], {"empty_state": r["empty_state"]})
            if "name" in r:
                d["name"] = r["name"]
            d[r["metric"]] = r["value"]
        return out

    def to_json(self, **kwargs):
        """JSON of the rows; inf and NaN become the strings "inf", "-inf", "nan" (valid JSON)."""
        rows = [{k: json_clean(val) for k, val in r.items()} for r in self.rows]
        data = {"convention": self.convention, "spacing": list(self.spacing), "rows": rows}
        if self.names is not None:
            data["names"] = {str(k): n for k, n in self.names.items()}
        return json.dumps(data, **kwargs)

    def wide_rows(self):
        """One dict per structure: ``label`` (``name``), ``empty_state``, ``convention``, then one key
        per metric."""
        out = {}
        for r in self.rows:
            d = out.get(r["label"])
            if d is None:
                d = out[r["label"]] = {"label": r["label"]}
                if "name" in r:
                    d["name"] = r["name"]
                d.update(empty_state=r["empty_state"], convention=r["convention"])
            d[r["metric"]] = r["value"]
        return list(out.values())

    def to_pandas(self, wide=False):
        """A ``pandas.DataFrame`` (pandas is optional): long, one row per structure and metric, or with
        ``wide=True`` one row per structure and one column per metric. A ``name`` column follows
        ``label`` when the result has label names."""
        named = self.names is not None
        if wide:
            head = ["label"] + (["name"] if named else []) + ["empty_state", "convention"]
            return to_pandas(self.wide_rows(), head + self.metrics)
        return to_pandas(self.rows, ["label"] + (["name"] if named else []) +
                         ["metric", "value", "empty_state", "convention"])

    def __repr__(self):
        metrics = self.metrics
        d = self.to_dict()
        titles = {label: structure_title(label, vals.get("name", "")) for label, vals in d.items()}
        lw = max([12] + [len(t) for t in titles.values()])
        width = max([9] + [len(m) + 1 for m in metrics])
        head = f"{'label':>{lw}} " + "".join(f"{m:>{width}}" for m in metrics) + "  empty_state"
        lines = [f"EvaluationResult(convention={self.convention!r}, spacing={tuple(self.spacing)})", head]
        for label, vals in d.items():
            cells = "".join(f"{vals.get(m, math.nan):>{width}.4g}" for m in metrics)
            lines.append(f"{titles[label]:>{lw}} {cells}  {vals['empty_state']}")
        return "\n".join(lines)
