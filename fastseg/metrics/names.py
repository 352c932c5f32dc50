"""Metric names: what :func:`fastseg.evaluate` accepts and reports as row names (``dice``, ``hd95``,
``nsd@2``, ``fbeta@2``, ``tversky@0.3/0.7``...), their meanings (:data:`REGISTRY`) and how a request
expands into rows with their parameters (:func:`expand_metrics`)."""
import dataclasses
import re

import numpy as np

from .. import _validation as v
from .apl import apl_rows
from .definitions import DEFINITIONS, MetricInfo
from .overlap import FORMULAS

__all__ = ["OVERLAP", "WEIGHTED", "DISTANCE", "TOPOLOGY", "METRICS", "DEFAULT_METRICS", "COUNT_KINDS", "REGISTRY",
           "MetricInfo", "metric_info", "metric_names", "expand_metrics", "check_distinct"]

#: overlap metrics: name -> function of a Confusion
OVERLAP = FORMULAS
#: overlap metrics with a parameter in their row name (``fbeta@B``, ``tversky@A/B``)
WEIGHTED = ("fbeta", "tversky")
#: distance metrics (``hdNN`` for any percentile NN, ``nsd@T`` per tolerance, also accepted)
DISTANCE = ("hd", "assd", "masd", "nsd", "boundary_iou", "apl")  # apl: 'apl@T' per tolerance
TOPOLOGY = ("cldice",)
METRICS = tuple(OVERLAP) + WEIGHTED + DISTANCE + TOPOLOGY
DEFAULT_METRICS = ("dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd", "nsd")
#: kinds computed from the confusion counts alone
COUNT_KINDS = ("overlap",) + WEIGHTED


def _registry():
    out = {info.name: info for info in DEFINITIONS}
    assert set(METRICS) <= set(out)
    return out


def metric_info(name):
    """The :class:`MetricInfo` of a row name (``hd95``, ``nsd@2``, ``fbeta@2`` and ``tversky@0.3/0.7``
    included), its plain meaning with the row's parameter filled in; None for unknown names.

    Examples
    --------
    >>> metric_info("nsd@2").plain[:45]
    'share of both surfaces within 2 mm of the oth'
    >>> metric_info("hd95").unit, metric_info("dice").better
    ('mm', 'higher')
    """
    key = str(name).lower()
    params = {"q": "NN", "t": "T", "b": "B", "a": "A"}
    if key in REGISTRY or key == "hdnn":
        info = REGISTRY["hdNN" if key == "hdnn" else key]
    elif _HDQ.match(key):
        info, params = REGISTRY["hdNN"], {"q": _HDQ.match(key).group(1)}
    elif _NSDT.match(key) or key.startswith("apl@"):
        info, params = REGISTRY[key.partition("@")[0]], {"t": key.partition("@")[2]}
    elif _FBETA.match(key):
        info, params = REGISTRY["fbeta"], {"b": _FBETA.match(key).group(1)}
    elif _TVERSKY.match(key):
        a, b = _TVERSKY.match(key).groups()
        info, params = REGISTRY["tversky"], {"a": a, "b": b}
    else:
        return None
    return dataclasses.replace(info, name=key, plain=info.plain.format(**params))


def metric_names(metrics=None, *, percentiles=(95,), tolerance=None, beta=None, tversky=None):
    """The names of the rows :func:`evaluate` reports for these options, in order, without computing
    anything (checks them as ``evaluate`` does).

    Examples
    --------
    >>> metric_names(["dice", "hdq", "nsd"], percentiles=(95, 99), tolerance=(1, 2))
    ['dice', 'hd95', 'hd99', 'nsd@1', 'nsd@2']
    >>> metric_names(["fbeta", "tversky@0.3/0.7", "tp"], beta=2)
    ['fbeta@2', 'tversky@0.3/0.7', 'tp']
    >>> metric_names()[:5]
    ['dice', 'iou', 'precision', 'recall', 'hd']
    """
    tolerances = None if tolerance is None else v.check_tolerances(tolerance)[0]
    percentiles = tuple(v.check_percentile(q) for q in np.atleast_1d(percentiles).tolist())
    return [name for name, _, _ in expand_metrics(metrics, percentiles, tolerances, v.check_betas(beta),
                                                   v.check_tversky(tversky))]


_NUM = r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
_HDQ = re.compile(r"^hd(\d+(?:\.\d+)?)$")
_NSDT = re.compile(r"^nsd@(.+)$")
_FBETA = re.compile(rf"^fbeta@{_NUM}$")
_TVERSKY = re.compile(rf"^tversky@{_NUM}/{_NUM}$")


def _fmt(x):
    return f"{x:g}"


def _weighted(key, name, betas, weights):
    """Rows of an F-beta or Tversky request: ``fbeta`` / ``tversky`` (over the options) or with the
    parameter in the name (``fbeta@2``, ``tversky@0.3/0.7``)."""
    if key == "fbeta":
        if not betas:
            raise v.InputValueError("metric 'fbeta' needs beta= (e.g. beta=2.0 weighs recall twice as much as "
                                    "precision), or ask for 'fbeta@2'.")
        return [(f"fbeta@{_fmt(b)}", "fbeta", b) for b in betas]
    if key == "tversky":
        if not weights:
            raise v.InputValueError("metric 'tversky' needs tversky=(alpha, beta) (e.g. tversky=(0.3, 0.7)), or "
                                    "ask for 'tversky@0.3/0.7'.")
        return [(f"tversky@{_fmt(a)}/{_fmt(b)}", "tversky", (a, b)) for a, b in weights]
    m = _FBETA.match(key) or _TVERSKY.match(key)
    if m is None:
        raise v.InputValueError(f"metric {name!r}: write 'fbeta@B' with a number B >= 0 (e.g. 'fbeta@2') or "
                                f"'tversky@A/B' with numbers A, B >= 0 (e.g. 'tversky@0.3/0.7').")
    if key.startswith("fbeta"):
        b = v.check_fraction(float(m.group(1)), "beta")
        return [(f"fbeta@{_fmt(b)}", "fbeta", b)]
    a, b = (v.check_fraction(float(x), "tversky weight") for x in m.groups())
    return [(f"tversky@{_fmt(a)}/{_fmt(b)}", "tversky", (a, b))]


def expand_metrics(metrics, percentiles, tolerances, betas=None, weights=None):
    """Requested metric names -> the list of (row name, kind, parameter)."""
    if metrics is None:
        names = []
        for m in DEFAULT_METRICS:
            if m == "hd95":
                names.append("hdq")  # each percentile as given (a name read back would be rounded)
            elif m != "nsd" or tolerances:
                names.append(m)
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
    out = []
    for name in names:
        if not isinstance(name, str):
            raise v.InputTypeError(f"metrics must be names (str); got {name!r}.")
        key = name.lower()
        if key in OVERLAP:
            out.append((key, "overlap", None))
        elif key in WEIGHTED or key.startswith(("fbeta@", "tversky@")):
            out.extend(_weighted(key, name, betas, weights))
        elif key in ("hd", "hausdorff"):
            out.append(("hd", "hd", 100.0))
        elif key == "hdq":
            out.extend((f"hd{_fmt(q)}", "hd", q) for q in percentiles)
        elif _HDQ.match(key):
            q = v.check_percentile(float(_HDQ.match(key).group(1)))
            out.append((f"hd{_fmt(q)}", "hd", q))
        elif key in ("assd", "masd"):
            out.append((key, key, None))
        elif key == "nsd" or _NSDT.match(key):
            if key == "nsd":
                if not tolerances:
                    raise v.InputValueError(
                        "metric 'nsd' needs a tolerance in spacing units: pass tolerance=2.0 (or several, "
                        "tolerance=(1.0, 2.0)), or ask for 'nsd@2'."
                    )
                out.extend((f"nsd@{_fmt(t)}", "nsd", t) for t in tolerances)
            else:
                try:
                    t = float(_NSDT.match(key).group(1))
                except ValueError:
                    raise v.InputValueError(f"metric {name!r}: the tolerance after '@' must be a number.") from None
                t, = v.check_tolerances(t)[0]
                out.append((f"nsd@{_fmt(t)}", "nsd", t))
        elif key == "apl" or key.startswith("apl@"):
            out.extend(apl_rows(key, name, tolerances))
        elif key == "boundary_iou":
            out.append((key, key, None))
        elif key == "cldice":
            out.append((key, key, None))
        else:
            raise v.InputValueError(
                f"unknown metric {name!r}; valid metrics are {', '.join(METRICS)}, 'hdNN' for any "
                f"percentile NN (e.g. 'hd95'), 'nsd@T' for a tolerance T, 'fbeta@B' for a beta B and "
                f"'tversky@A/B' for weights A, B."
            )
    check_distinct(out)
    seen = set()
    return [m for m in out if not (m[0] in seen or seen.add(m[0]))]


def check_distinct(rows):
    """Refuse two requested parameters that row names (6 significant digits) cannot tell apart: one
    would be dropped as a repeat (``tolerance=[2.4, 2.4000001]``: one ``nsd@2.4`` row). Values equal up
    to rounding (``3 * 0.8`` and 2.4) are one request. ``rows``: ``[(row name, kind, parameter)]``."""
    seen = {}
    for name, _, param in rows:
        if name in seen and not _same(seen[name], param):
            raise v.InputValueError(f"{seen[name]!r} and {param!r} would share the row name {name!r} (row names keep "
                                    f"6 significant digits): ask for one of them, or for values that differ there.")
        seen.setdefault(name, param)


def _same(a, b):
    if a is None or b is None:
        return a is b
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=1e-9, atol=0.0)))


#: every metric name evaluate accepts (``hdNN`` and ``nsd@T`` stand for their families)
REGISTRY = _registry()
