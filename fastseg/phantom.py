"""Deterministic synthetic phantoms: anisotropic CT-like label maps and predictions for demos,
tests and benchmarks."""
import numpy as np

#: organ name -> (label, centre as a fraction of the shape, semi-axes in mm)
__all__ = ["phantom_pair", "ellipsoid", "ORGANS"]

ORGANS = {
    "liver": (1, (0.50, 0.45, 0.35), (70.0, 80.0, 95.0)),
    "spleen": (2, (0.50, 0.40, 0.78), (35.0, 45.0, 25.0)),
    "kidney_left": (3, (0.45, 0.65, 0.70), (30.0, 25.0, 22.0)),
    "kidney_right": (4, (0.45, 0.65, 0.30), (30.0, 25.0, 22.0)),
    "lesion": (5, (0.55, 0.45, 0.40), (10.0, 10.0, 10.0)),
}


def ellipsoid(shape, spacing, centre, semi_axes_mm):
    """Boolean ellipsoid in an array of ``shape`` with ``spacing`` (array-axis order)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    acc = 0.0
    for g, n, s, c, a in zip(grids, shape, spacing, centre, semi_axes_mm):
        acc = acc + (((g - c * (n - 1)) * s) / a) ** 2
    return acc <= 1.0


def phantom_pair(shape=(48, 160, 160), spacing=(2.5, 0.8, 0.8), *, seed=0, organs=None):
    """A reference label map of ellipsoidal organs and a prediction with realistic errors.

    The prediction shifts and rescales each organ a little, drops the lesion's last slices and adds a
    small false-positive blob, so every metric has something to measure.

    Returns
    -------
    pred, ref : ndarray of uint8, shape ``shape``
    spacing : tuple of float
    """
    rng = np.random.default_rng(seed)
    organs = ORGANS if organs is None else organs
    ref = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    scale = min(1.0, min(n * s for n, s in zip(shape, spacing)) / 240.0)
    for label, centre, axes in organs.values():
        axes = tuple(a * scale for a in axes)
        ref[ellipsoid(shape, spacing, centre, axes)] = label
        shift = tuple(c + rng.normal(0.0, 0.01) for c in centre)
        grow = tuple(a * rng.uniform(0.92, 1.06) for a in axes)
        pred[ellipsoid(shape, spacing, shift, grow)] = label
    fp_centre = (0.3, 0.2, 0.2)
    pred[ellipsoid(shape, spacing, fp_centre, tuple(6.0 * scale for _ in shape))] = 2
    return pred, ref, tuple(float(s) for s in spacing)
