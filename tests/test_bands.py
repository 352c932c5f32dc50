"""The inner bands of boundary IoU computed group by group (``fastseg._engine.bands``): the same counts,
to the voxel, as the transform of the whole crop, and as an independent reference (scipy's Euclidean
distance transform of each mask's background, padded: the image edge is a boundary).

The grouped path cuts the crop into boxes around its foreground (blocks of ``BLOCK`` voxels), lets
boxes overlap (each voxel counted in its own group's box only) and computes small groups side by side
in one array; the cases below are built to reach each of those: stray voxels, a hollow shell with a
voxel inside (another group's blocks inside a box), groups touching the crop's edge, 2D crops, and
widths that are exact multiples of the spacing (distances equal to the width)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import fastseg
from fastseg._engine import bands
from fastseg.conventions import get_convention

MR = get_convention("metricsreloaded")


def _u8(m):
    return np.ascontiguousarray(m).astype(np.uint8)


def reference_counts(pc, rc, sp, width):
    """fastseg's physical band by scipy: a mask's voxels whose distance to the background (beyond the
    crop included) is at most ``width``."""
    out = []
    for m in (pc, rc):
        m = np.asarray(m, bool)
        padded = np.pad(m, 1)
        d = ndimage.distance_transform_edt(padded, sampling=sp)[tuple(slice(1, -1) for _ in m.shape)]
        out.append(m & (d <= width))
    return int(np.count_nonzero(out[0] & out[1])), int(np.count_nonzero(out[0] | out[1]))


def reference_voxel_counts(pc, rc, width):
    """MetricsReloaded's band: a mask's voxels closer than ``width`` voxels to its border voxels (face
    connectivity, the image edge a boundary)."""
    out = []
    for m in (pc, rc):
        m = np.asarray(m, bool)
        border = m & ~ndimage.binary_erosion(m, ndimage.generate_binary_structure(m.ndim, 1), border_value=0)
        if not border.any():
            out.append(np.zeros_like(m))
            continue
        d = ndimage.distance_transform_edt(~border)
        out.append(m & (d < width))
    return int(np.count_nonzero(out[0] & out[1])), int(np.count_nonzero(out[0] | out[1]))


def salted_pair(rng, shape, n_salt, blob=True):
    """A blob pair (the reference, and the prediction shifted by a voxel) with stray voxels added to
    both, some at the crop's edges."""
    grid = np.indices(shape)
    c = [n / 2 for n in shape]
    r = min(shape) / 4
    ref = sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r if blob else np.zeros(shape, bool)
    pred = np.roll(ref, 1, axis=-1)
    for m in (pred, ref):
        idx = tuple(rng.integers(0, n, n_salt) for n in shape)
        m[idx] = True
        m[(0,) * len(shape)] = True
    return _u8(pred), _u8(ref)


SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (0.8, 0.8, 5.0), (3.0, 1.0, 0.5)]
WIDTHS = [0.5, 1.0, 1.6, 2.0, 2.4, 3.0, 5.0]


@pytest.mark.parametrize("sp", SPACINGS)
@pytest.mark.parametrize("width", WIDTHS)
def test_grouped_bands_equal_the_whole_crop_and_scipy(sp, width):
    rng = np.random.default_rng(int(width * 10) + int(sum(sp) * 100))
    pc, rc = salted_pair(rng, (30, 40, 36), 40)
    whole = bands.band_counts(pc, rc, np.asarray(sp), width, grouped=False)
    grouped = bands.band_counts(pc, rc, np.asarray(sp), width, grouped=True)
    assert grouped == whole
    assert whole == reference_counts(pc, rc, sp, width)


@pytest.mark.parametrize("width", [1.0, 1.5, 2.0, 3.0])
def test_grouped_voxel_bands_equal_the_whole_crop_and_the_reference(width):
    rng = np.random.default_rng(int(width * 10))
    pc, rc = salted_pair(rng, (28, 33, 40), 30)
    sp = np.array([2.5, 0.8, 0.8])
    whole = bands.band_counts(pc, rc, sp, width, MR, grouped=False)
    assert bands.band_counts(pc, rc, sp, width, MR, grouped=True) == whole
    assert whole == reference_voxel_counts(pc, rc, width)


def test_a_group_inside_another_groups_box_is_counted_once():
    """A hollow shell with stray voxels in its cavity: the shell's box holds the other groups' blocks,
    and the cavity's voxels must be counted in their own boxes only."""
    shape = (72, 72, 72)
    grid = np.indices(shape)
    d2 = sum((g - 36) ** 2 for g in grid)
    ref = (d2 <= 33 ** 2) & (d2 >= 30 ** 2)  # its blocks are two blocks away from the centre's
    pred = ref.copy()
    pred[36, 36, 36] = ref[36, 36, 36] = True  # the centre: far from the shell, its own group
    pred[35, 37, 36] = True
    pc, rc = _u8(pred), _u8(ref)
    found = bands.groups(pc, rc, bands.band_pad(3, np.ones(3), 2.0, False))
    assert len(found) >= 2 and any(own is not None for _, own in found)
    for sp, width in (((1.0, 1.0, 1.0), 2.0), ((2.0, 1.0, 1.0), 3.0)):
        want = reference_counts(pc, rc, sp, width)
        assert bands.band_counts(pc, rc, np.asarray(sp), width, grouped=True) == want
        assert bands.band_counts(pc, rc, np.asarray(sp), width, MR, grouped=True) == \
            reference_voxel_counts(pc, rc, width)


def test_every_foreground_voxel_is_the_own_voxel_of_one_group():
    rng = np.random.default_rng(3)
    pc, rc = salted_pair(rng, (25, 50, 47), 60)
    pad = bands.band_pad(3, np.array([2.5, 0.8, 0.8]), 2.0, False)
    seen = np.zeros(pc.shape, np.int64)
    for box, own in bands.groups(pc, rc, pad):
        mine = np.ones([s.stop - s.start for s in box], bool) if own is None else own
        seen[box] += (pc[box] | rc[box]).astype(bool) & mine
        # own foreground lies at least pad inside the box, unless the box meets the crop's edge there
        fg = np.argwhere((pc[box] | rc[box]).astype(bool) & mine)
        for ax, (s, p, n) in enumerate(zip(box, pad, pc.shape)):
            if s.start > 0:
                assert fg[:, ax].min() >= p
            if s.stop < n:
                assert fg[:, ax].max() <= s.stop - s.start - 1 - p
    assert np.array_equal(seen, (pc | rc).astype(np.int64))


@pytest.mark.parametrize("width", [0.8, 1.6, 2.0])
def test_grouped_bands_in_2d(width):
    rng = np.random.default_rng(7)
    pc, rc = salted_pair(rng, (70, 90), 50)
    sp = np.array([0.8, 1.6])
    whole = bands.band_counts(pc, rc, sp, width, grouped=False)
    assert bands.band_counts(pc, rc, sp, width, grouped=True) == whole == reference_counts(pc, rc, sp, width)
    whole = bands.band_counts(pc, rc, sp, width, MR, grouped=False)
    assert bands.band_counts(pc, rc, sp, width, MR, grouped=True) == whole == reference_voxel_counts(pc, rc, width)


def test_edge_cases():
    sp = np.array([1.0, 2.0, 0.5])
    empty = np.zeros((9, 10, 11), np.uint8)
    assert bands.band_counts(empty, empty, sp, 2.0, grouped=True) == (0, 0)
    one = empty.copy()
    one[4, 5, 6] = 1
    assert bands.band_counts(one, empty, sp, 2.0, grouped=True) == (0, 1)
    assert bands.band_counts(one, one, sp, 2.0, grouped=True) == (1, 1)
    full = np.ones((9, 10, 11), np.uint8)  # the whole crop, every side on the image edge
    for conv in (None, MR):
        assert bands.band_counts(full, one, sp, 1.0, conv, grouped=True) == \
            bands.band_counts(full, one, sp, 1.0, conv, grouped=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), nz=st.integers(1, 24), ny=st.integers(3, 40), nx=st.integers(3, 40),
       n_salt=st.integers(0, 30), blob=st.booleans(), sp=st.sampled_from(SPACINGS),
       width=st.sampled_from(WIDTHS + [0.3, 1.25, 4.0]))
def test_grouped_bands_property(seed, nz, ny, nx, n_salt, blob, sp, width):
    rng = np.random.default_rng(seed)
    pc, rc = salted_pair(rng, (nz, ny, nx), n_salt, blob)
    sp = np.asarray(sp)
    for conv in (None, MR):
        assert bands.band_counts(pc, rc, sp, width, conv, grouped=True) == \
            bands.band_counts(pc, rc, sp, width, conv, grouped=False)


def test_large_sparse_crops_take_the_groups(monkeypatch):
    """The public function on a salted organ-like volume: groups are used (a crop of 2 Mvox or more
    whose groups hold under half of it) and the value is the whole crop's."""
    rng = np.random.default_rng(11)
    pc, rc = salted_pair(rng, (64, 192, 192), 80)
    calls = []
    real = bands.groups
    monkeypatch.setattr(bands, "groups", lambda *a: calls.append(1) or real(*a))
    sp = (2.5, 0.8, 0.8)
    got = fastseg.boundary_iou(pc.astype(bool), rc.astype(bool), width=2.0, spacing=sp)
    assert calls
    inter, union = bands.band_counts(pc, rc, np.asarray(sp), 2.0, grouped=False)
    assert got == inter / union
    assert math.isclose(got, np.divide(*reference_counts(pc, rc, sp, 2.0)), rel_tol=0, abs_tol=0)
