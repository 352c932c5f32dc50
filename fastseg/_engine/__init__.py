"""fastseg's engine: the computations that metric families share.

- :mod:`fastseg._engine.counts`: the one pass over the volume (confusion counts of binary pairs and
  label maps, every label's bounding box), crops, the 2D -> 3D lift and empty states;
- :mod:`fastseg._engine.distances`: surfaces and exact surface distances inside a crop, and the
  inner bands of boundary IoU;
- :mod:`fastseg._engine.skeletons`: skeletons and clDice inside a crop.

Inputs arrive validated by :mod:`fastseg._validation`; nothing here checks them again. Private to
fastseg: its names are the package's internal API (used by ``metrics/``, ``evaluate`` and, later,
instance metrics), not a user API.
"""
