"""``evaluate_cohort(conventions=...)`` / ``fastseg evaluate --conventions``: every case's
surface-distance metrics under other presets too, next to the run's own.

Rows: for each structure and each selected preset (the run's own convention left out: its values are
the plain rows), one row per surface-distance metric of the run (``hd``, ``hdNN``, ``assd``, ``masd``,
``nsd@T``), named ``METRIC/PRESET`` (``hd95/monai``, ``nsd@2/seg_metrics``: a hyphen of a preset's
name is written ``_``, which gate specifications accept), with the preset in the ``convention``
column. The results file, the summary (one line per such name), the wide table (one column per
name), gates (``--fail-over hd95/monai=5``) and ``fastseg compare`` take them as any metric. A
preset that defines no distance for a structure's empty state (MedPy and SimpleITK when a mask is
empty, torchmetrics and plastimatch when both are) gives NaN there (alone, ``evaluate`` under that
preset fails the case).

Cost: per structure one surface computation per distinct surface model of the selected presets
(:func:`fastseg.conventions_table.by_structure`), on top of the run's own.

The selection is part of the options record (``conventions``; the metric list holds the new names):
``--resume`` refuses a results file written with another selection.
"""
from .. import _validation as v
from ..conventions_table import SURFACE_METRIC, by_structure, check_presets, preset_metric

__all__ = ["preset_options", "with_presets", "preset_rows", "gate_names"]


def preset_options(opts, conventions):
    """Check the selection and put it in ``opts["conventions"]`` (a list of preset names, or None)."""
    if conventions is None:
        opts["conventions"] = None
        return
    if opts.get("pair_by") == "name":
        raise v.InputValueError("conventions= scores label maps per label; it does not support pair_by='name' "
                                "(structures paired by name) yet.")
    opts["conventions"] = check_presets(conventions, exclude=opts["convention_name"])


def with_presets(metric_names, opts):
    """The run's metric names followed by the per-preset ones (refusing a selection with no
    surface-distance metric to repeat)."""
    presets = opts.get("conventions")
    if not presets:
        return list(metric_names)
    surface = [m for m in metric_names if SURFACE_METRIC.match(m)]
    if not surface:
        raise v.InputValueError(f"conventions= repeats the surface-distance metrics (hd, hdNN, assd, masd, nsd@T) "
                                f"under other presets; none is among this run's metrics {list(metric_names)}.")
    return list(metric_names) + [preset_metric(m, p) for p in presets for m in surface]


def gate_names(metric_names, conventions, convention):
    """The per-preset names a run with this selection adds to ``metric_names`` (for checking gates
    before the run; errors as :func:`preset_options` and :func:`with_presets`)."""
    opts = {"convention_name": convention}
    preset_options(opts, conventions)
    return with_presets(metric_names, opts)[len(metric_names):]


def preset_rows(pred, ref, spacing, threads, opts):
    """The per-preset rows of one case (label maps already read and checked), in the row format of
    :class:`fastseg.EvaluationResult`; none without a selection."""
    presets = opts.get("conventions")
    if not presets:
        return []
    e = opts["evaluate"]
    return by_structure(pred, ref, presets=presets, spacing=spacing, labels=e["labels"], regions=e["regions"],
                        ignore_label=e["ignore_label"], metrics=e["metrics"], tolerance=e["tolerance"],
                        percentiles=e["percentiles"], names=e["names"], threads=threads)
