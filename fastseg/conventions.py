"""Conventions: how a distance metric is defined, and presets that reproduce the peers.

Libraries in use disagree on the surface (surfels on the voxel-corner lattice weighted by area,
boundary voxels counted one each, or every object voxel), on how a percentile Hausdorff distance is
taken and how its two directions are combined, on ASSD and NSD, and on empty masks. A :class:`Convention`
fixes every one of these choices; the named presets reproduce each peer. The table below is
generated from the presets' fields (:func:`preset_table`; README's Conventions section holds the
same text):

{PRESET_TABLE}

fastseg's empty policy: both empty gives 0.0 for every distance and 1.0 for NSD; one empty gives
``+inf`` for every distance and 0.0 for NSD. A miss is never NaN (which averages silently drop) and
never 0 mm.

Peer empty-mask behaviour reproduced: surface-distance (DeepMind) gives inf for HD and NaN means when
both are empty, inf HD, a (NaN, inf) pair of directed means and NSD 0.0 when one is; MONAI gives NaN
for everything when both are empty, and inf HD, NaN for HDq < 100 (torch's quantile of infinities),
inf ASSD and NSD 0.0 when one is; MedPy and SimpleITK raise (so do the ``medpy`` and ``itk`` presets,
with a ValueError); MetricsReloaded returns 0 distances and NaN NSD when both are empty. When one
mask is empty MetricsReloaded has no defined value (its distance transform has no feature to measure
from), so the ``metricsreloaded`` preset uses fastseg's choice there: inf distances and NSD 0.0.
nnU-Net leaves a pair that is empty on both sides out of its means by scoring it NaN; seg-metrics
scores 0 mm whenever a mask is empty (a miss looks perfect); torchmetrics' Hausdorff distance fails on
two empty masks and is inf when one is empty; pymia returns inf (and -inf for surface Dice when both
are empty); plastimatch fails on two empty masks and, when one is empty, reports the float32 maximum
(3.4028234663852886e38) as HD and half of it as percentile and average Hausdorff distances.
MONAI quirk reproduced by the ``monai`` preset: a percentile of 0 gives the maximum (MONAI tests
``if not percentile``).

Beyond distances: ``band`` fixes the boundary IoU band (fastseg: within ``width`` physical units of
the background; MetricsReloaded: closer than ``width`` voxels to the mask's own border voxels) and
``skeleton`` the clDice skeleton; the ``metricsreloaded`` empty policy also gives MetricsReloaded's
NaN clDice when a skeleton is empty or nothing overlaps, and the ``nnunet`` policy NaN Dice and IoU
for two empty masks (:meth:`Convention.both_empty_overlap`).

:func:`table` computes every distance metric under every preset for one pair, with the spread and the
reason for each difference (:mod:`fastseg.conventions_table`).

Examples
--------
>>> from fastseg.conventions import get_convention
>>> get_convention("medpy").surface
'voxel'
>>> get_convention("medpy").replace(connectivity=3).connectivity
3
"""
import dataclasses
import math
import re
from dataclasses import dataclass

from ._engine.counts import BOTH_EMPTY, NOT_EMPTY, PRED_EMPTY, REF_EMPTY
from ._validation import InputTypeError, InputValueError

__all__ = ["Convention", "PRESETS", "get_convention", "preset_table", "table", "SURFACES", "EDGES",
           "TRANSFORMS", "PLANES", "PERCENTILE_RULES", "AGGREGATES", "ASSD_RULES", "EMPTY_POLICIES", "BANDS",
           "SKELETONS", "FLOAT32_MAX", "describe", "REPRODUCES", "SURFACE_METRIC", "preset_metric",
           "split_preset_metric", "check_presets"]

SURFACES = ("surfel", "voxel", "object")
EDGES = ("background", "foreground", "adaptive")
TRANSFORMS = ("exact", "danielsson")
PLANES = ("2d", "slab")
PERCENTILE_RULES = ("weighted_nearest_rank", "linear_per_direction", "linear_pooled", "floor_rank_per_direction")
AGGREGATES = ("max", "mean")
ASSD_RULES = ("pooled", "mean_of_directed")
NSD_RULES = ("pooled", "mean_of_directed")
EMPTY_POLICIES = ("fastseg", "deepmind", "monai", "raise", "metricsreloaded", "nnunet", "seg-metrics",
                  "torchmetrics", "pymia", "plastimatch")
BANDS = ("physical", "voxels")
SKELETONS = ("fastseg", "skimage")
#: the float32 maximum, plastimatch's distance to an empty mask
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Convention:
    """Every choice that defines a distance (and boundary / centreline) metric.

    Attributes
    ----------
    name : str
        A label recorded in every result.
    surface : {"surfel", "voxel", "object"}
        ``"surfel"``: surface elements on the voxel-corner lattice (Nikolov et al. 2021), each weighted
        by its physical area (length in 2D). ``"voxel"``: boundary voxels, i.e. foreground voxels with a
        background neighbour, each weighted 1. ``"object"``: every foreground voxel, weighted 1 (the
        distance of a voxel inside the other mask is 0; SimpleITK's Hausdorff filter).
    connectivity : int
        Neighbourhood that defines a boundary voxel: 1 = faces, up to ``ndim`` = full (3 = full in 2D
        and 3D).
    edge : {"background", "foreground", "adaptive"}
        Boundary voxels: what lies beyond the image. ``"background"``: the image edge is a boundary
        (``mask & ~erosion``); ``"foreground"``: it is not (SimpleITK's ``LabelContour``);
        ``"adaptive"``: background along the axes where the bounding box of the pair spans more than
        one voxel, foreground along the others (plastimatch, which crops to that box).
    transform : {"exact", "danielsson"}
        Distances between boundary voxels: exact, or plastimatch's float32 vector propagation
        (Danielsson 1980, its scan order), which overestimates a few of them.
    plane : {"2d", "slab"}
        Surfels of a 2D mask: contour lengths (``"2d"``), or the surfels of a one-voxel 3D slab with
        spacing 1.0 along the added last axis (``"slab"``, pymia).
    percentile : {"weighted_nearest_rank", "linear_per_direction", "linear_pooled", "floor_rank_per_direction"}
        How the q-th percentile Hausdorff distance is taken: weighted nearest rank on the cumulative
        surface weight per direction; linear interpolation per direction (``numpy.percentile``);
        linear over both directions pooled; or per direction the ``floor(q/100 n - 1)``-th smallest
        of the ``n`` distances, 0-based, in float32 (plastimatch).
    aggregate : {"max", "mean"}
        How the two directed percentiles (below 100) are combined: the larger, or their mean
        (plastimatch). The Hausdorff distance itself is always the larger directed maximum.
    assd : {"pooled", "mean_of_directed"}
        ASSD as the weighted mean over both directions pooled, or the mean of the two directed means.
    nsd : {"pooled", "mean_of_directed"}
        NSD as the weight within tolerance over both surfaces pooled, or the mean of the two directed
        fractions, computed as panoptica does: ``(t_r + t_p) / ((t_r + t_p + f_r) + f_p)`` with
        ``t``/``f`` each surface's fraction within / beyond the tolerance (``r``: the reference's).
    empty : str, one of EMPTY_POLICIES
        What empty masks give (see the module docstring).
    band : {"physical", "voxels"}
        Boundary IoU band of a mask: its voxels within ``width`` (spacing units, inclusive) of the
        background (``"physical"``), or closer than ``width`` voxels (unit spacing, strict) to its own
        border voxels (``"voxels"``, MetricsReloaded).
    skeleton : {"fastseg", "skimage"}
        clDice skeleton (:func:`fastseg.topology.skeletonize` ``method``).
    """

    name: str = "fastseg"
    surface: str = "surfel"
    connectivity: int = 1
    percentile: str = "weighted_nearest_rank"
    assd: str = "pooled"
    empty: str = "fastseg"
    edge: str = "background"
    transform: str = "exact"
    plane: str = "2d"
    aggregate: str = "max"
    nsd: str = "pooled"
    band: str = "physical"
    skeleton: str = "fastseg"

    def __post_init__(self):
        for field, allowed in (("surface", SURFACES), ("percentile", PERCENTILE_RULES), ("assd", ASSD_RULES),
                               ("empty", EMPTY_POLICIES), ("edge", EDGES), ("transform", TRANSFORMS),
                               ("plane", PLANES), ("aggregate", AGGREGATES), ("nsd", NSD_RULES), ("band", BANDS),
                               ("skeleton", SKELETONS)):
            value = getattr(self, field)
            if value not in allowed:
                raise InputValueError(f"Convention.{field} must be one of {allowed}; got {value!r}.")
        if isinstance(self.connectivity, bool) or not isinstance(self.connectivity, int) or not 1 <= self.connectivity <= 3:
            raise InputValueError(f"Convention.connectivity must be 1, 2 or 3; got {self.connectivity!r}.")
        if self.transform == "danielsson" and self.surface != "voxel":
            raise InputValueError("Convention.transform='danielsson' needs surface='voxel'.")

    def replace(self, **changes):
        """A copy with some choices changed (the name gets a ``*`` unless one is given)."""
        if "name" not in changes:
            changes["name"] = self.name.rstrip("*") + "*"
        return dataclasses.replace(self, **changes)

    @property
    def weighted(self):
        """True when surface elements are weighted by physical area (surfel mode)."""
        return self.surface == "surfel"

    def surface_key(self, ndim):
        """What the surface computation of a ``ndim``-D pair depends on: two conventions with the
        same key share their directed distance sets (the rest of a convention only derives metrics)."""
        if self.surface == "surfel":
            return ("surfel", self.plane if ndim == 2 else "2d")
        if self.surface == "object":
            return ("object",)
        return ("voxel", min(self.connectivity, ndim), self.edge, self.transform)

    # ---- the rules that differ between peers, in one place

    def check_empty(self, state):
        """Raise when this convention defines no surface distance for the pair's empty ``state``
        (``empty="raise"``, as MedPy and SimpleITK; two empty masks under ``"torchmetrics"`` and
        ``"plastimatch"``)."""
        if state == NOT_EMPTY:
            return
        if self.empty == "raise" or (self.empty in ("torchmetrics", "plastimatch") and state == BOTH_EMPTY):
            side = {BOTH_EMPTY: "both masks are", REF_EMPTY: "ref is", PRED_EMPTY: "pred is"}[state]
            peer = {"raise": "MedPy and SimpleITK", "torchmetrics": "torchmetrics",
                    "plastimatch": "plastimatch"}[self.empty]
            raise InputValueError(
                f"{side} empty, and the {self.name!r} convention (like {peer}) defines no surface distance "
                f"for {'two empty masks' if self.empty != 'raise' else 'empty masks'}; use convention='fastseg' "
                f"for inf/0.0 results."
            )

    def empty_value(self, state, metric):
        """The value the empty-mask policy fixes for ``metric`` (``"hd"`` the Hausdorff distance,
        ``"hdq"`` a percentile below 100, ``"mean"`` or ``"nsd"``) of a pair in ``state``, or None when
        it is computed from the distance sets."""
        policy = self.empty
        metric_hd = "hd" if metric == "hdq" else metric
        if state == NOT_EMPTY or policy == "deepmind":
            return None  # deepmind: its own arithmetic on the (possibly empty) sets, reproduced as is
        if policy == "monai":
            if state == BOTH_EMPTY:
                return math.nan
            return {"hd": None, "mean": math.inf, "nsd": 0.0}[metric_hd]
        if policy == "metricsreloaded" and state == BOTH_EMPTY:
            return math.nan if metric == "nsd" else 0.0
        if policy == "nnunet" and state == BOTH_EMPTY:
            return math.nan
        if policy == "seg-metrics":
            return 1.0 if metric == "nsd" else 0.0
        if policy == "pymia":
            if metric == "nsd":
                return -math.inf if state == BOTH_EMPTY else 0.0
            return math.inf
        if policy == "plastimatch":
            return {"hd": FLOAT32_MAX, "hdq": FLOAT32_MAX / 2, "mean": FLOAT32_MAX / 2, "nsd": 0.0}[metric]
        # fastseg (and metricsreloaded, nnunet, torchmetrics one-sided: inf, see the module docstring)
        if state == BOTH_EMPTY:
            return 1.0 if metric == "nsd" else 0.0
        return 0.0 if metric == "nsd" else math.inf

    def hd_percentile(self, percentile):
        """The percentile this convention actually takes when asked for ``percentile``: MONAI tests
        ``if not percentile`` and returns the maximum for 0."""
        if self.empty == "monai" and percentile == 0.0:
            return 100.0
        return percentile

    def both_empty_overlap(self, metric="dice"):
        """Dice or IoU of two empty masks: NaN under ``empty="nnunet"`` (nnU-Net leaves such pairs out
        of its means), else 1.0 (DESIGN section 5)."""
        return math.nan if self.empty == "nnunet" else 1.0

    def cldice_from(self, sp_in_ref, n_sp, sr_in_pred, n_sr):
        """clDice from the skeleton counts (``|S(pred) & ref|``, ``|S(pred)|``, ``|S(ref) & pred|``,
        ``|S(ref)|``) of two non-empty masks. ``empty="metricsreloaded"``: NaN when a skeleton is empty
        or nothing overlaps (MetricsReloaded divides 0 by 0); otherwise an empty skeleton scores 0.0
        and clDice is 0.0 when both ratios are."""
        if self.empty == "metricsreloaded":
            if n_sp == 0 or n_sr == 0 or sp_in_ref + sr_in_pred == 0:
                return math.nan
        tprec = sp_in_ref / n_sp if n_sp else 0.0
        tsens = sr_in_pred / n_sr if n_sr else 0.0
        if tprec + tsens == 0.0:
            return 0.0
        return 2.0 * tprec * tsens / (tprec + tsens)

    def empty_cldice(self, state):
        """clDice when a mask is empty: NaN under ``empty="metricsreloaded"`` (an empty skeleton), else
        1.0 for two empty masks and 0.0 for one."""
        if self.empty == "metricsreloaded":
            return math.nan
        return 1.0 if state == BOTH_EMPTY else 0.0


PRESETS = {
    "fastseg": Convention(),
    "deepmind": Convention(name="deepmind", assd="mean_of_directed", empty="deepmind"),
    "monai": Convention(name="monai", surface="voxel", percentile="linear_per_direction", empty="monai"),
    "medpy": Convention(name="medpy", surface="voxel", percentile="linear_pooled", empty="raise"),
    "metricsreloaded": Convention(name="metricsreloaded", surface="voxel", percentile="linear_per_direction",
                                  empty="metricsreloaded", band="voxels", skeleton="skimage"),
    "nnunet": Convention(name="nnunet", empty="nnunet"),
    "plastimatch": Convention(name="plastimatch", surface="voxel", edge="adaptive", transform="danielsson",
                              percentile="floor_rank_per_direction", aggregate="mean", assd="mean_of_directed",
                              empty="plastimatch"),
    "itk": Convention(name="itk", surface="object", percentile="linear_per_direction", assd="mean_of_directed",
                      empty="raise"),
    "seg-metrics": Convention(name="seg-metrics", surface="voxel", connectivity=3, edge="foreground",
                              percentile="linear_pooled", empty="seg-metrics"),
    "torchmetrics": Convention(name="torchmetrics", surface="voxel", percentile="linear_per_direction",
                               empty="torchmetrics"),
    "pymia": Convention(name="pymia", plane="slab", assd="mean_of_directed", empty="pymia"),
    "panoptica": Convention(name="panoptica", surface="voxel", percentile="linear_pooled", assd="mean_of_directed",
                            nsd="mean_of_directed"),
}

#: what each preset reproduces of its peer (the other metrics follow the preset's rules)
REPRODUCES = {
    "fastseg": "fastseg's own definitions (DESIGN.md)",
    "deepmind": "surface-distance: HD, HDq, directed means, NSD",
    "monai": "MONAI: HD, HDq, ASSD, directed ASD, NSD",
    "medpy": "MedPy: hd, hd95, assd, asd",
    "metricsreloaded": "MetricsReloaded: hd, hd_perc, assd, masd, nsd, boundary_iou, cldice",
    "nnunet": "nnU-Net: Dice, IoU, counts (no distances: fastseg's)",
    "plastimatch": "plastimatch dice --hausdorff: boundary HD, percent HD, average HD",
    "itk": "SimpleITK HausdorffDistanceImageFilter: HD, average HD",
    "seg-metrics": "seg-metrics: hd, hd95, msd",
    "torchmetrics": "torchmetrics hausdorff_distance (2D; 3D by the same rules)",
    "pymia": "pymia: HDRFDST (any percentile), SURFDICE",
    "panoptica": "panoptica's per-instance HD, HD95, ASSD and NSD (boundary voxels by erosion, pooled HD95, mean of "
                 "the two directed means and fractions)",
}

_CONNECTIVITY = {1: "face", 2: "face+edge", 3: "full"}
_EDGE = {"background": "image edge is a boundary", "foreground": "image edge is not a boundary",
         "adaptive": "edge of the pair's box is a boundary along axes longer than 1 voxel"}
_QUANTILE = {"weighted_nearest_rank": "nearest rank on the cumulative surface weight",
             "linear_per_direction": "linear interpolation", "linear_pooled": "linear interpolation",
             "floor_rank_per_direction": "the floor(q n - 1)-th smallest, float32"}
_ASSD = {"pooled": "mean over both directions pooled", "mean_of_directed": "mean of the two directed means"}
_NSD = {"pooled": "both surfaces pooled", "mean_of_directed": "mean of the two directed fractions"}
_EMPTY = {"fastseg": "both: 0 mm, NSD 1; one: inf, NSD 0", "deepmind": "as surface-distance: inf / NaN",
          "monai": "both: NaN; one: inf (NaN HDq)", "raise": "raises", "metricsreloaded":
          "both: 0 mm, NSD NaN; one: inf", "nnunet": "both: NaN (Dice, IoU too); one: inf",
          "seg-metrics": "0 mm", "torchmetrics": "both: raises; one: inf",
          "pymia": "inf (NSD both: -inf, one: 0)", "plastimatch": "both: raises; one: float32 max"}


def describe(conv):
    """``{column: words}`` of a convention: what the generated table and the reasons say."""
    if conv.surface == "surfel":
        surface = "surfels weighted by area" + (", 2D as a 1-voxel slab" if conv.plane == "slab" else "")
    elif conv.surface == "object":
        surface = "every object voxel"
    else:
        surface = f"boundary voxels ({_CONNECTIVITY[conv.connectivity]}; {_EDGE[conv.edge]})"
        if conv.transform == "danielsson":
            surface += ", Danielsson distances"
    pooled = conv.percentile == "linear_pooled"
    aggregate = "pooled" if pooled else {"max": "max", "mean": "mean (HD: max)"}[conv.aggregate]
    return {"surface model": surface, "quantile rule": _QUANTILE[conv.percentile], "direction aggregation":
            aggregate, "ASSD": _ASSD[conv.assd], "NSD": _NSD[conv.nsd], "empty masks": _EMPTY[conv.empty]}


def preset_table():
    """The table of the presets (Markdown), generated from their fields: the one text that the module
    docstring and README's Conventions section show."""
    cols = ["surface model", "quantile rule", "direction aggregation", "ASSD", "NSD", "empty masks"]
    lines = ["| preset | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, conv in PRESETS.items():
        words = describe(conv)
        lines.append(f"| `{name}` | " + " | ".join(words[c] for c in cols) + " |")
    return "\n".join(lines)


def get_convention(convention):
    """A :class:`Convention` from a preset name or a Convention instance."""
    if isinstance(convention, Convention):
        return convention
    if isinstance(convention, str):
        try:  # seg_metrics for seg-metrics: the spelling of row names such as hd95/seg_metrics
            return PRESETS[convention.lower().replace("_", "-")]
        except KeyError:
            raise InputValueError(
                f"convention must be one of {sorted(PRESETS)} or a fastseg.Convention; got {convention!r}."
            ) from None
    raise InputTypeError(
        f"convention must be a preset name or a fastseg.Convention; got {type(convention).__name__}."
    )


#: the metrics a convention changes that come from the surface distances: ``hd``, ``hdNN``, ``assd``,
#: ``masd``, ``nsd@T``
SURFACE_METRIC = re.compile(r"^(hd|hd\d+(\.\d+)?|assd|masd|nsd@.+)$")


def preset_metric(metric, preset):
    """The row name of ``metric`` under another preset than the run's: ``hd95/monai``, a name that gate
    specifications (``--fail-over hd95/monai=5``) and comparisons accept, so a hyphen of the preset's
    name is written as an underscore (``hd95/seg_metrics``)."""
    return f"{metric}/{preset.replace('-', '_')}"


def split_preset_metric(name):
    """``"hd95/monai"`` -> ``("hd95", "monai")``, ``"hd/seg_metrics"`` -> ``("hd", "seg-metrics")``; a
    name without a preset -> ``(name, None)``."""
    metric, sep, token = str(name).rpartition("/")
    preset = token.replace("_", "-")
    if sep and preset in PRESETS and SURFACE_METRIC.match(metric):
        return metric, preset
    return str(name), None


def check_presets(conventions, exclude=None):
    """The preset names of ``conventions``: ``"all"`` (every preset), a comma-separated string or a
    sequence of names; ``exclude`` (the run's own convention) is left out. Refuses unknown names,
    Convention objects that are not presets and an empty selection."""
    if isinstance(conventions, str):
        items = [x.strip() for x in conventions.split(",") if x.strip()]
    elif isinstance(conventions, (list, tuple)):
        items = list(conventions)
    else:
        raise InputTypeError(f"conventions must be 'all', a comma-separated string or a list of preset names; "
                               f"got {type(conventions).__name__}.")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise InputTypeError(f"conventions must name presets; got {item!r} (a custom Convention has no "
                                   f"preset name for its rows).")
        if item.lower() == "all":
            names.extend(PRESETS)
        else:
            names.append(get_convention(item).name)
    names = [n for n in dict.fromkeys(names) if n != exclude]
    if not names:
        raise InputValueError(f"conventions must name at least one preset other than the run's own "
                                f"({exclude!r}); got {conventions!r}.")
    return names


def table(pred, ref, *, spacing=None, tolerance=None, presets=None, threads=None):
    """Every distance metric of one pair under every preset, with the spread and the reasons.

    See :func:`fastseg.conventions_table.table` (this is the same function).
    """
    from .conventions_table import table as _table

    return _table(pred, ref, spacing=spacing, tolerance=tolerance, presets=presets, threads=threads)


__doc__ = __doc__.replace("{PRESET_TABLE}", preset_table())
