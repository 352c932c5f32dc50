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
from fastseg._engine.components import occupied_blocks
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


def groups_of(pc, rc, pad):
    """:func:`bands.groups` of two cropped masks, as :func:`bands.band_counts` finds them."""
    p3, r3 = pc.reshape((1,) * (3 - pc.ndim) + pc.shape), rc.reshape((1,) * (3 - rc.ndim) + rc.shape)
    block = [min(bands.BLOCK, n) for n in p3.shape]
    occ = occupied_blocks((pc, rc), block)
    return bands.groups(occ, block, p3.shape, pad, lambda box: (p3[box], r3[box]))


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
    found = groups_of(pc, rc, bands.band_pad(3, np.ones(3), 2.0, False))
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
    for box, own in groups_of(pc, rc, pad):
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


def canonical_counts(pc, rc, sp, width):
    """fastseg's physical band by brute force with the canonical sums: a mask's voxel is in its band
    when some background voxel (beyond the crop too) lies at ``((dk sk)**2 + (dj sj)**2) + (di si)**2 <=
    width**2``, in floating point, in that order."""
    out = []
    w2 = width * width
    s3 = (1.0,) * (3 - len(sp)) + tuple(sp)
    for m in (pc, rc):
        m3 = np.asarray(m, bool).reshape((1,) * (3 - m.ndim) + m.shape)
        r = [0 if (m.ndim == 2 and a == 0) else int(math.ceil(width / s)) + 1 for a, s in enumerate(s3)]
        bg = np.pad(~m3, [(x, x) for x in r], constant_values=True)  # beyond the crop: background
        band = np.zeros(m3.shape, bool)
        for dk in range(-r[0], r[0] + 1):
            for dj in range(-r[1], r[1] + 1):
                for di in range(-r[2], r[2] + 1):
                    if (dk * s3[0]) ** 2 + (dj * s3[1]) ** 2 + (di * s3[2]) ** 2 <= w2:
                        band |= bg[tuple(slice(x + d, x + d + n) for x, d, n in zip(r, (dk, dj, di), m3.shape))]
        out.append(m3 & band)
    return int(np.count_nonzero(out[0] & out[1])), int(np.count_nonzero(out[0] | out[1]))


@pytest.mark.parametrize("sp, width", [((2.5, 0.8, 0.8), 4.0), ((2.5, 0.8, 0.8), 1.6), ((2.5, 0.8, 0.8), 2.4),
                                       ((0.8, 0.8, 5.0), 4.0), ((0.7, 0.7, 2.1), 1.4), ((0.3, 0.9, 0.9), 1.8)])
def test_ties_at_the_band_edge_follow_the_canonical_sums(sp, width):
    """Widths that are whole multiples of an inexact spacing put many voxels exactly at the band's edge:
    their squared distance is the width's up to rounding, and the transform's rounding depends on the
    box it runs in. The band follows the canonical sums there, so the grouped and whole-crop counts
    agree, with a brute-force reference (hypothesis found 321 against 320 at 4 mm on 0.8 mm voxels
    before)."""
    rng = np.random.default_rng(0)
    for shape, n_salt in (((18, 18, 40), 0), ((20, 30, 33), 25)):
        pc, rc = salted_pair(rng, shape, n_salt)
        want = canonical_counts(pc, rc, sp, width)
        assert bands.band_counts(pc, rc, np.asarray(sp), width, grouped=False) == want
        assert bands.band_counts(pc, rc, np.asarray(sp), width, grouped=True) == want


def test_exact_spacings_need_no_settling():
    """With sums that are exact in floating point (1 mm, 0.5 mm, 0.9765625 mm voxels; integer widths) no
    band test can be a tie: the transform decides alone."""
    assert bands._reach((1.0, 1.0, 1.0), 4.0, False, (50, 50, 50)) is None
    assert bands._reach((1.0, 0.5, 0.5), 2.25, False, (50, 50, 50)) is None
    assert bands._reach((2.0, 0.9765625, 0.9765625), 9.0, False, (50, 50, 50)) is None
    assert bands._reach((2.5, 0.8, 0.8), 4.0, False, (50, 50, 50)) is None  # 2 mm: no offset at 2 mm
    assert bands._reach((2.5, 0.8, 0.8), 1.6 * 1.6, False, (50, 50, 50)) is not None


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


@pytest.mark.parametrize("conv, width", [(None, 2.0), (None, 1.6), (MR, 1.0), (MR, 2.0)])
@pytest.mark.parametrize("shape", [(20, 30, 33), (30, 41)])
def test_a_box_widened_to_whole_rows_is_a_view_with_the_same_counts(conv, width, shape):
    """boundary_iou crops a box of nearly the whole image (stray voxels) as a view of whole rows and
    planes instead of copying it: the background added around the box changes no count."""
    from fastseg._engine.counts import counts_and_box, crop

    rng = np.random.default_rng(len(shape) + int(width * 10))
    pc, rc = salted_pair(rng, shape, 25)
    pc[..., -1] = rc[..., -1] = 0  # the box ends one voxel short along the rows
    pc[(0,) * (len(shape) - 1) + (-2,)] = 1
    pc[(-1,) * (len(shape) - 1) + (0,)] = 1  # whole along the other axes
    sp = np.array([2.5, 0.8, 0.8][-len(shape):])
    box = counts_and_box(pc, rc)[2]
    tight = crop([pc, rc], box)
    wide = crop([pc, rc], box, widen=True)
    assert tight[0].shape != wide[0].shape and np.shares_memory(wide[0], pc) and np.shares_memory(wide[1], rc)
    for grouped in (False, True):
        assert (bands.band_counts(*wide, sp, width, conv, grouped=grouped)
                == bands.band_counts(*tight, sp, width, conv, grouped=grouped))
    far = crop([pc[:, :4], rc[:, :4]], counts_and_box(pc[:, :4], rc[:, :4])[2], widen=True)  # no view: a copy
    assert far[0].flags.c_contiguous and not np.shares_memory(far[0], pc)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_label_blocks_equal_numpy(dtype):
    from fastseg._engine.components import label_blocks

    rng = np.random.default_rng(5)
    shape = (13, 30, 37)
    p = rng.integers(0, 6, shape).astype(dtype) * (rng.random(shape) < 0.05)
    r = np.zeros(shape, dtype)
    r[2:9, 5:20, 3:30] = 3
    if dtype == np.uint16:
        p[p == 5] = 700
        r[0, 0, :4] = 700
    labels = [1, 3, 700 if dtype == np.uint16 else 5, 999]
    got = label_blocks((np.ascontiguousarray(p), r), labels, (4, 8, 8))
    for lab in labels:
        m = (p == lab) | (r == lab)
        full = np.zeros([-(-n // b) * b for n, b in zip(shape, (4, 8, 8))], bool)
        full[:shape[0], :shape[1], :shape[2]] = m
        want = full.reshape(full.shape[0] // 4, 4, full.shape[1] // 8, 8, full.shape[2] // 8, 8).any(axis=(1, 3, 5))
        assert np.array_equal(got[lab].astype(bool), want), lab


def salted_label_maps(rng, shape, n_salt):
    """Three organs (blocks and a ball) and stray voxels of every label in pred, at random."""
    ref = np.zeros(shape, np.uint8)
    ref[5:20, 30:90, 40:100] = 1
    ref[22:40, 100:150, 20:70] = 2
    grid = np.indices(shape)
    ref[sum((g - c) ** 2 for g, c in zip(grid, (30, 60, 140))) <= 15 ** 2] = 3
    pred = np.roll(ref, 2, axis=2)
    idx = tuple(rng.integers(0, n, n_salt) for n in shape)
    pred[idx] = rng.integers(1, 4, n_salt)
    for lab in (1, 2, 3):  # each label's box: the whole image
        pred[(0,) * len(shape)] = pred[tuple(n - 1 for n in shape)] = lab
        pred = np.roll(pred, 1, axis=0)
    return pred, ref


def test_evaluate_boundary_iou_of_salted_maps_from_their_blocks(monkeypatch):
    """evaluate's boundary IoU of each structure of salted label maps (boxes spanning the image, 2 Mvox
    and more) comes from the maps' blocks, never a mask of the whole box, and equals the whole-crop
    count of each structure's binary masks, regions included, under both band rules."""
    import importlib

    ev = importlib.import_module("fastseg.evaluate")  # the module (fastseg.evaluate is the function)
    rng = np.random.default_rng(8)
    pred, ref = salted_label_maps(rng, (48, 220, 220), 60)
    sp = (2.5, 0.8, 0.8)
    used = []
    real = ev.structure_band_counts
    monkeypatch.setattr(ev, "structure_band_counts", lambda *a, **k: used.append(1) or real(*a, **k))
    for conv in ("fastseg", "metricsreloaded"):
        used.clear()
        res = fastseg.evaluate(pred, ref, spacing=sp, metrics=["boundary_iou"], boundary_width=2.0,
                               convention=conv, regions={"one_two": [1, 2]})
        assert len(used) == 4
        for key, members in ((1, [1]), (2, [2]), (3, [3]), ("one_two", [1, 2])):
            pm, rm = _u8(np.isin(pred, members)), _u8(np.isin(ref, members))
            inter, union = bands.band_counts(pm, rm, np.asarray(sp), 2.0, get_convention(conv), grouped=False)
            assert res["boundary_iou"][key] == inter / union, (conv, key)


def test_evaluate_boundary_iou_of_salted_2d_maps():
    rng = np.random.default_rng(9)
    ref = np.zeros((1500, 1500), np.uint8)
    ref[100:400, 200:700] = 1
    ref[800:1200, 900:1000] = 2
    pred = np.roll(ref, 3, axis=0)
    idx = tuple(rng.integers(0, 1500, 40) for _ in range(2))
    pred[idx] = rng.integers(1, 3, 40)
    sp = (0.7, 1.3)
    res = fastseg.evaluate(pred, ref, spacing=sp, metrics=["boundary_iou"], boundary_width=3.0)
    for lab in (1, 2):
        inter, union = bands.band_counts(_u8(pred == lab), _u8(ref == lab), np.asarray(sp), 3.0, grouped=False)
        assert res["boundary_iou"][lab] == inter / union
        assert fastseg.boundary_iou(pred == lab, ref == lab, width=3.0, spacing=sp) == inter / union
