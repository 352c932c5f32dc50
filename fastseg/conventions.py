"""Conventions: how a surface-distance metric is defined, and presets that reproduce the peers.

Libraries in use disagree on the surface (surfels on the voxel-corner lattice weighted by area, or
boundary voxels counted one each), on how a percentile Hausdorff distance is taken, on ASSD, and on
empty masks. A :class:`Convention` fixes every one of these choices; the named presets reproduce
each peer exactly:

========================  ==========  ====================  ===============  ==================
preset                    surface     HD percentile         ASSD             empty masks
========================  ==========  ====================  ===============  ==================
``"fastseg"`` (default)   surfels     area-weighted nearest pooled, weighted fastseg (below)
                                      rank per direction,
                                      then max
``"deepmind"``            surfels     same                  mean of the two  surface-distance's
                                                            directed means   (inf / NaN)
``"monai"``               voxels      linear per direction, pooled           MONAI's (NaN)
                                      then max
``"medpy"``               voxels      linear, both          pooled           raise ValueError
                                      directions pooled
``"metricsreloaded"``     voxels      linear per direction, pooled           MetricsReloaded's
                                      then max                               (0 for both empty)
========================  ==========  ====================  ===============  ==================

fastseg's empty policy: both empty gives 0.0 for every distance and 1.0 for NSD; one empty gives
``+inf`` for every distance and 0.0 for NSD. A miss is never NaN (which averages silently drop) and
never 0 mm.

Peer empty-mask behaviour reproduced: surface-distance (DeepMind) gives inf for HD and NaN means when
both are empty, inf HD, a (NaN, inf) pair of directed means and NSD 0.0 when one is; MONAI gives NaN
for everything when both are empty, and inf HD, NaN for HDq < 100 (torch's quantile of infinities),
inf ASSD and NSD 0.0 when one is; MedPy raises (so does the ``medpy`` preset, with a ValueError);
MetricsReloaded returns 0 distances and NaN NSD when both are empty. When one mask is empty
MetricsReloaded has no defined value (its distance transform has no feature to measure from), so the
``metricsreloaded`` preset uses fastseg's choice there: inf distances and NSD 0.0.
MONAI quirk reproduced by the ``monai`` preset: a percentile of 0 gives the maximum (MONAI tests
``if not percentile``).

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
from dataclasses import dataclass

from ._engine.counts import BOTH_EMPTY, NOT_EMPTY, PRED_EMPTY, REF_EMPTY
from ._validation import InputTypeError, InputValueError

__all__ = ["Convention", "PRESETS", "get_convention", "SURFACES", "PERCENTILE_RULES", "ASSD_RULES", "EMPTY_POLICIES"]

SURFACES = ("surfel", "voxel")
PERCENTILE_RULES = ("weighted_nearest_rank", "linear_per_direction", "linear_pooled")
ASSD_RULES = ("pooled", "mean_of_directed")
EMPTY_POLICIES = ("fastseg", "deepmind", "monai", "raise", "metricsreloaded")


@dataclass(frozen=True)
class Convention:
    """Every choice that defines a surface-distance metric.

    Attributes
    ----------
    name : str
        A label recorded in every result.
    surface : {"surfel", "voxel"}
        ``"surfel"``: surface elements on the voxel-corner lattice (Nikolov et al. 2021), each weighted
        by its physical area (length in 2D). ``"voxel"``: boundary voxels, i.e. foreground voxels with a
        background neighbour (outside the image counts as background), each weighted 1.
    connectivity : int
        Neighbourhood that defines a boundary voxel: 1 = faces, up to ``ndim`` = full.
    percentile : {"weighted_nearest_rank", "linear_per_direction", "linear_pooled"}
        How the q-th percentile Hausdorff distance is taken: weighted nearest rank on the cumulative
        surface weight per direction, then the larger; linear interpolation per direction
        (``numpy.percentile``), then the larger; or linear over both directions pooled.
    assd : {"pooled", "mean_of_directed"}
        ASSD as the weighted mean over both directions pooled, or the mean of the two directed means.
    empty : {"fastseg", "deepmind", "monai", "raise", "metricsreloaded"}
        What empty masks give (see the module docstring).
    """

    name: str = "fastseg"
    surface: str = "surfel"
    connectivity: int = 1
    percentile: str = "weighted_nearest_rank"
    assd: str = "pooled"
    empty: str = "fastseg"

    def __post_init__(self):
        for field, allowed in (("surface", SURFACES), ("percentile", PERCENTILE_RULES),
                               ("assd", ASSD_RULES), ("empty", EMPTY_POLICIES)):
            value = getattr(self, field)
            if value not in allowed:
                raise InputValueError(f"Convention.{field} must be one of {allowed}; got {value!r}.")
        if isinstance(self.connectivity, bool) or not isinstance(self.connectivity, int) or not 1 <= self.connectivity <= 3:
            raise InputValueError(f"Convention.connectivity must be 1, 2 or 3; got {self.connectivity!r}.")

    def replace(self, **changes):
        """A copy with some choices changed (the name gets a ``*`` unless one is given)."""
        if "name" not in changes:
            changes["name"] = self.name.rstrip("*") + "*"
        return dataclasses.replace(self, **changes)

    @property
    def weighted(self):
        """True when surface elements are weighted by physical area (surfel mode)."""
        return self.surface == "surfel"

    # ---- the rules that differ between peers, in one place

    def check_empty(self, state):
        """Raise when this convention defines no surface distance for the pair's empty ``state``
        (``empty="raise"``, as MedPy)."""
        if self.empty == "raise" and state != NOT_EMPTY:
            side = {BOTH_EMPTY: "both masks are", REF_EMPTY: "ref is", PRED_EMPTY: "pred is"}[state]
            raise InputValueError(
                f"{side} empty, and the {self.name!r} convention (like MedPy) defines no surface distance "
                f"for empty masks; use convention='fastseg' for inf/0.0 results."
            )

    def empty_value(self, state, metric):
        """The value the empty-mask policy fixes for ``metric`` (``"hd"``, ``"mean"`` or ``"nsd"``)
        of a pair in ``state``, or None when it is computed from the distance sets."""
        policy = self.empty
        if state == NOT_EMPTY or policy == "deepmind":
            return None  # deepmind: its own arithmetic on the (possibly empty) sets, reproduced as is
        if policy == "monai":
            if state == BOTH_EMPTY:
                return math.nan
            return {"hd": None, "mean": math.inf, "nsd": 0.0}[metric]
        if policy == "metricsreloaded" and state == BOTH_EMPTY:
            return math.nan if metric == "nsd" else 0.0
        # fastseg (and metricsreloaded one-sided: inf, see the module docstring)
        if state == BOTH_EMPTY:
            return 1.0 if metric == "nsd" else 0.0
        return 0.0 if metric == "nsd" else math.inf

    def hd_percentile(self, percentile):
        """The percentile this convention actually takes when asked for ``percentile``: MONAI tests
        ``if not percentile`` and returns the maximum for 0."""
        if self.empty == "monai" and percentile == 0.0:
            return 100.0
        return percentile


PRESETS = {
    "fastseg": Convention(),
    "deepmind": Convention(name="deepmind", assd="mean_of_directed", empty="deepmind"),
    "monai": Convention(name="monai", surface="voxel", percentile="linear_per_direction", empty="monai"),
    "medpy": Convention(name="medpy", surface="voxel", percentile="linear_pooled", empty="raise"),
    "metricsreloaded": Convention(name="metricsreloaded", surface="voxel",
                                  percentile="linear_per_direction", empty="metricsreloaded"),
}


def get_convention(convention):
    """A :class:`Convention` from a preset name or a Convention instance."""
    if isinstance(convention, Convention):
        return convention
    if isinstance(convention, str):
        try:
            return PRESETS[convention.lower()]
        except KeyError:
            raise InputValueError(
                f"convention must be one of {sorted(PRESETS)} or a fastseg.Convention; got {convention!r}."
            ) from None
    raise InputTypeError(
        f"convention must be a preset name or a fastseg.Convention; got {type(convention).__name__}."
    )
