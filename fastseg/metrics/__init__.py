"""Metric families, one module each: :mod:`~fastseg.metrics.overlap` (counts of one pass),
:mod:`~fastseg.metrics.surface` (surface distances), :mod:`~fastseg.metrics.topology` (skeletons,
clDice). A new family (e.g. lesion-wise instance metrics) joins here as a module of its own, built
on the shared engine (:mod:`fastseg._engine`); its public names are re-exported by ``fastseg``.
"""
