"""Skeletons and centreline Dice (clDice): fastseg.topology and fastseg._kernels.skeleton.

Reference: scikit-image's ``skeletonize`` (test-only dependency). ``method="skimage"`` must equal it
voxel for voxel in 2D and 3D; the default ``method="fastseg"`` equals it in 2D and in 3D differs only
where scikit-image's re-check deletes voxels that are no longer simple, so there it is tested for
topology preservation (components, Euler number, subset, thinness) and clDice agreement.
"""
import numpy as np
import pytest
from scipy import ndimage as ndi

import fastseg
from fastseg import _validation as v
from fastseg._engine.skeletons import cldice_in_crop
from fastseg.topology import cldice, skeletonize

skimage_morphology = pytest.importorskip("skimage.morphology")
skimage_measure = pytest.importorskip("skimage.measure")
sk_skeletonize = skimage_morphology.skeletonize


# ---------------------------------------------------------------- helpers

def cldice_reference(pred, ref):
    """clDice from its definition with scikit-image's skeleton, counts in Python ints."""
    p = np.asarray(pred, bool)
    r = np.asarray(ref, bool)
    if not p.any() and not r.any():
        return 1.0
    if not p.any() or not r.any():
        return 0.0
    sp = sk_skeletonize(p)
    sr = sk_skeletonize(r)
    n_sp = int(np.count_nonzero(sp))
    n_sr = int(np.count_nonzero(sr))
    tprec = int(np.count_nonzero(sp & r)) / n_sp if n_sp else 0.0
    tsens = int(np.count_nonzero(sr & p)) / n_sr if n_sr else 0.0
    return 0.0 if tprec + tsens == 0 else 2 * tprec * tsens / (tprec + tsens)


def random_mask(rng, shape):
    """Smooth blobs (thresholded filtered noise) or plain noise; they touch the array border."""
    if rng.random() < 0.6:
        field = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.5, 2.0))
        return field > np.quantile(field, rng.uniform(0.3, 0.8))
    return rng.random(shape) < rng.uniform(0.2, 0.9)


def tubes(rng, shape, n, rmin=1.5, rmax=3.5):
    """Union of ``n`` straight tubes of random direction and radius."""
    idx = np.indices(shape, dtype=np.float64)
    m = np.zeros(shape, bool)
    for _ in range(n):
        p0 = rng.uniform(0, shape)
        d = rng.normal(size=len(shape))
        d /= np.linalg.norm(d)
        vec = idx - p0.reshape((-1,) + (1,) * len(shape))
        along = np.tensordot(d, vec, 1)
        perp = vec - d.reshape((-1,) + (1,) * len(shape)) * along
        m |= (perp ** 2).sum(0) < rng.uniform(rmin, rmax) ** 2
    return m


def n_components(m):
    return ndi.label(m, np.ones((3,) * m.ndim))[1]


def euler(m):
    return skimage_measure.euler_number(m, connectivity=m.ndim)


def has_full_block(s):
    """True when the skeleton holds a full 2x2 (2D) or 2x2x2 (3D) block, i.e. is not thin."""
    block = np.ones((2,) * s.ndim, np.int64)
    counts = ndi.correlate(s.astype(np.int64), block, mode="constant", origin=(0,) * s.ndim)
    return bool((counts == block.size).any())


# ---------------------------------------------------------------- tables

def test_euler_table_gives_the_euler_change_of_a_deletion():
    """The table is derived from cell counting; check it against scikit-image's Euler number on random
    3x3x3 neighbourhoods: the 8 corner entries of the centre voxel sum to 8 x the change of the Euler
    characteristic (26-connected foreground) when it is deleted."""
    from fastseg._kernels.skeleton import euler_table, octant_bits
    table, bits = euler_table(), octant_bits()
    assert table[1] == 1 and table[255] == -1  # isolated voxel; voxel in a full 2x2x2 block
    rng = np.random.default_rng(1)
    for _ in range(300):
        block = rng.random((3, 3, 3)) < rng.uniform(0.1, 0.9)
        block[1, 1, 1] = True
        flat = block.reshape(-1).astype(np.int64)
        total = sum(table[sum(int(flat[bits[o, k]]) << k for k in range(8))] for o in range(8))
        without = block.copy()
        without[1, 1, 1] = False
        assert total == 8 * (euler(np.pad(block, 1)) - euler(np.pad(without, 1)))


SHAPES_2D = [(1, 7), (5, 1), (3, 3), (9, 14), (23, 17), (40, 31)]
SHAPES_3D = [(1, 9, 12), (2, 7, 5), (6, 1, 8), (7, 8, 1), (9, 11, 10), (14, 18, 16), (20, 13, 24)]


# ---------------------------------------------------------------- skeleton vs scikit-image

@pytest.mark.parametrize("method", ["fastseg", "skimage"])
def test_skeleton_2d_equals_skimage_on_random_masks(method):
    rng = np.random.default_rng(20)
    for _ in range(10):
        for shape in SHAPES_2D:
            m = random_mask(rng, shape)
            np.testing.assert_array_equal(skeletonize(m, method=method), sk_skeletonize(m))


def test_skeleton_3d_skimage_method_equals_skimage_on_random_masks():
    rng = np.random.default_rng(30)
    for _ in range(8):
        for shape in SHAPES_3D:
            m = random_mask(rng, shape)
            np.testing.assert_array_equal(skeletonize(m, method="skimage"), sk_skeletonize(m))


def test_skeleton_3d_skimage_method_equals_skimage_on_tubes():
    rng = np.random.default_rng(31)
    for _ in range(4):
        m = tubes(rng, (24, 32, 28), 4)
        np.testing.assert_array_equal(skeletonize(m, method="skimage"), sk_skeletonize(m))


def test_skeleton_3d_default_preserves_topology():
    rng = np.random.default_rng(32)
    for _ in range(8):
        for shape in SHAPES_3D:
            m = random_mask(rng, shape)
            s = skeletonize(m)
            assert not (s & ~m).any()
            assert n_components(s) == n_components(m)
            assert euler(s) == euler(m)


def test_skeleton_2d_preserves_topology():
    rng = np.random.default_rng(21)
    for _ in range(10):
        for shape in SHAPES_2D:
            m = random_mask(rng, shape)
            s = skeletonize(m)
            assert not (s & ~m).any()
            assert n_components(s) == n_components(m)
            assert euler(s) == euler(m)


@pytest.mark.parametrize("ndim", [2, 3])
def test_skeleton_of_a_tube_is_thin(ndim):
    """No full 2x2 (2x2x2) block on single tubes. (At junctions and around small holes the 2D
    table, like scikit-image's, can leave a 2x2 block: thinness is not asserted there.)"""
    rng = np.random.default_rng(22 + ndim)
    shape = (40, 40) if ndim == 2 else (18, 22, 22)
    for _ in range(15):
        m = tubes(rng, shape, 1, 1.5, 5.0)
        s = skeletonize(m)
        assert s.any() and not has_full_block(s)
        assert n_components(s) == n_components(m)


def test_thick_bar_same_skeleton_for_both_methods():
    bar = np.zeros((9, 9, 30), bool)
    bar[2:7, 2:7, 2:28] = True
    np.testing.assert_array_equal(skeletonize(bar), sk_skeletonize(bar))
    np.testing.assert_array_equal(skeletonize(bar, method="skimage"), sk_skeletonize(bar))


def test_regression_skimage_issue_3757_thin_bar_keeps_a_centreline():
    """A 4 x 4 x N bar: scikit-image's 3D skeleton is empty; ours is one 26-connected line."""
    bar = np.zeros((6, 6, 24), bool)
    bar[1:5, 1:5, 1:23] = True
    assert not sk_skeletonize(bar).any()
    assert not skeletonize(bar, method="skimage").any()
    s = skeletonize(bar)
    assert n_components(s) == 1 and euler(s) == 1 and not has_full_block(s)
    assert cldice(bar, bar) == 1.0
    assert cldice(bar, bar, method="skimage") == 0.0  # vanished skeletons: 0.0, never NaN
    assert cldice_reference(bar, bar) == 0.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_mask_filling_the_whole_array(ndim):
    shape = (7, 9) if ndim == 2 else (7, 9, 8)
    m = np.ones(shape, bool)
    np.testing.assert_array_equal(skeletonize(m, method="skimage"), sk_skeletonize(m))
    s = skeletonize(m)
    assert s.any() and n_components(s) == 1 and euler(s) == 1


@pytest.mark.parametrize("shape", [(5, 6), (4, 5, 6)])
def test_structures_touching_every_border(shape):
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = rng.random(shape) < 0.7
        for axis in range(m.ndim):
            idx = [slice(None)] * m.ndim
            idx[axis] = 0
            m[tuple(idx)] = True
            idx[axis] = -1
            m[tuple(idx)] = True
        np.testing.assert_array_equal(skeletonize(m, method="skimage"), sk_skeletonize(m))
        assert n_components(skeletonize(m)) == n_components(m)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (1, 1, 1), (4, 5, 6), (1, 5, 6)])
def test_single_voxel_is_its_own_skeleton(shape):
    m = np.zeros(shape, bool)
    m[tuple(s // 2 for s in shape)] = True
    np.testing.assert_array_equal(skeletonize(m), m)
    np.testing.assert_array_equal(sk_skeletonize(m), m)


@pytest.mark.parametrize("shape", [(6, 7), (3, 6, 7), (0, 4), (0, 3, 4)])
def test_empty_mask_has_empty_skeleton(shape):
    s = skeletonize(np.zeros(shape, np.uint8))
    assert s.dtype == bool and s.shape == shape and not s.any()


def test_skeleton_does_not_depend_on_padding_or_memory_order():
    rng = np.random.default_rng(7)
    m = random_mask(rng, (10, 12, 9))
    big = np.zeros((16, 15, 20), bool)
    big[3:13, 2:14, 5:14] = m
    s = skeletonize(m)
    np.testing.assert_array_equal(skeletonize(big)[3:13, 2:14, 5:14], s)
    np.testing.assert_array_equal(skeletonize(np.asfortranarray(m)), s)
    np.testing.assert_array_equal(skeletonize(m.astype(np.float32)), s)


def test_one_slice_volumes_follow_skimage():
    """scikit-image sweeps 4 directions for a (1, H, W) volume and 6 when there are more slices, even
    if the foreground lies in one of them: the crop must not change which rule applies."""
    rng = np.random.default_rng(8)
    for _ in range(10):
        plane = random_mask(rng, (15, 13))
        flat = plane[None]
        vol = np.zeros((3, 15, 13), bool)
        vol[1] = plane
        for m in (flat, vol):
            np.testing.assert_array_equal(skeletonize(m, method="skimage"), sk_skeletonize(m))
        assert cldice(vol, vol, method="skimage") == pytest.approx(cldice_reference(vol, vol), rel=1e-12)


# ---------------------------------------------------------------- clDice: hand-built cases

def test_tube_shifted_by_one_voxel_across():
    """A 3 x 3 square tube along axis 2, shifted by one voxel along axis 1. Its skeleton is a segment
    of the centre line (y = 5, z = 5), which lies inside the shifted tube (y in 5..7) and vice versa:
    Tprec = Tsens = 1, clDice = 1, while Dice = 2 * 2/3 * L / (2 L) = 2/3."""
    ref = np.zeros((11, 11, 20), bool)
    ref[4:7, 4:7, 2:18] = True
    pred = np.roll(ref, 1, axis=1)
    s = skeletonize(ref)
    assert s.any() and not (s & ~ref).any()
    assert set(map(tuple, np.argwhere(s)[:, :2])) == {(5, 5)}
    assert cldice(pred, ref) == 1.0
    assert fastseg.dice(pred, ref) == pytest.approx(2 / 3, rel=1e-12)
    # shifted by two: each centre line now lies outside the other tube, Tprec = Tsens = 0 -> 0.0
    assert cldice(np.roll(ref, 2, axis=1), ref) == 0.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_thin_line_shifted_along_itself(ndim):
    """A one-voxel-wide line of length L is its own skeleton; shifted by one along its axis, L - 1 of
    its voxels are inside the other: Tprec = Tsens = (L - 1)/L, clDice = (L - 1)/L = 0.9 for L = 10."""
    shape = (5, 16) if ndim == 2 else (5, 5, 16)
    ref = np.zeros(shape, bool)
    ref[(2,) * (ndim - 1) + (slice(3, 13),)] = True
    pred = np.roll(ref, 1, axis=-1)
    np.testing.assert_array_equal(skeletonize(ref), ref)
    assert cldice(pred, ref) == pytest.approx(0.9, rel=1e-12)
    # shifted by one across: no overlap at all
    assert cldice(np.roll(ref, 1, axis=0), ref) == 0.0


def branching_tree():
    """A 3-pixel-thick trunk with two side branches."""
    ref = np.zeros((40, 40), bool)
    ref[5:35, 18:21] = True  # trunk
    ref[18:21, 5:18] = True  # left branch
    ref[8:11, 21:35] = True  # right branch
    return ref


def test_missing_branch_scores_lower_than_uniform_thickening():
    ref = branching_tree()
    missing = ref.copy()
    missing[8:11, 21:35] = False
    thick = ndi.binary_dilation(ref)
    assert cldice(thick, ref) == 1.0  # the thick centreline stays inside, the thin one is covered
    assert cldice(missing, ref) < 0.9
    # Dice ranks them the other way round: that is why clDice exists
    assert fastseg.dice(missing, ref) > fastseg.dice(thick, ref)
    ref3 = np.repeat(ref[None], 3, axis=0)
    ref3[[0, 2]] = ndi.binary_erosion(ref)  # a 3D tree: thick in the middle slice
    assert cldice(ndi.binary_dilation(ref3), ref3) > cldice(np.repeat(missing[None], 3, axis=0) & ref3, ref3)


# ---------------------------------------------------------------- clDice vs reference, properties

@pytest.mark.parametrize("ndim", [2, 3])
def test_cldice_matches_skimage_reference_on_random_pairs(ndim):
    rng = np.random.default_rng(40 + ndim)
    shapes = SHAPES_2D if ndim == 2 else SHAPES_3D
    for _ in range(5):
        for shape in shapes:
            ref = random_mask(rng, shape)
            pred = random_mask(rng, shape) if rng.random() < 0.5 else ndi.binary_dilation(ref)
            expected = cldice_reference(pred, ref)
            assert cldice(pred, ref, method="skimage") == pytest.approx(expected, rel=1e-12, abs=0)
            if ndim == 2:
                assert cldice(pred, ref) == pytest.approx(expected, rel=1e-12, abs=0)


def test_cldice_default_agrees_with_skimage_reference_on_tubes():
    rng = np.random.default_rng(50)
    diffs = []
    for k in range(9):
        ref = tubes(rng, (20, 28, 28), 3)
        if k % 3 == 0:
            pred = ndi.binary_dilation(ref)
        elif k % 3 == 1:
            pred = np.roll(ref, 1, axis=2)
        else:
            pred = ndi.binary_erosion(ref) | tubes(rng, ref.shape, 1)
        expected = cldice_reference(pred, ref)
        assert cldice(pred, ref, method="skimage") == pytest.approx(expected, rel=1e-12, abs=0)
        diffs.append(abs(cldice(pred, ref) - expected))
    assert max(diffs) < 0.1 and np.mean(diffs) < 0.03


@pytest.mark.parametrize("method", ["fastseg", "skimage"])
def test_cldice_is_symmetric_and_bounded(method):
    rng = np.random.default_rng(60)
    for shape in SHAPES_2D[2:] + SHAPES_3D[3:]:
        p = random_mask(rng, shape)
        r = random_mask(rng, shape)
        a = cldice(p, r, method=method)
        assert a == cldice(r, p, method=method)
        assert 0.0 <= a <= 1.0
        assert cldice(p, p, method=method) == 1.0 or method == "skimage"


def test_cldice_does_not_depend_on_threads_dtype_or_memory_order():
    rng = np.random.default_rng(61)
    ref = tubes(rng, (30, 30, 30), 3)
    pred = np.roll(ref, 1, axis=0) | tubes(rng, ref.shape, 1)
    base = cldice(pred, ref, threads=1)
    assert cldice(pred, ref, threads=2) == base
    assert cldice(pred, ref) == base
    assert cldice(pred.astype(np.float64), np.asfortranarray(ref.astype(np.int16))) == base


def test_cldice_in_crop_equals_cldice():
    rng = np.random.default_rng(62)
    ref = np.zeros((12, 30, 30), bool)
    pred = np.zeros_like(ref)
    ref[2:9, 4:25, 6:20] = random_mask(rng, (7, 21, 14))
    pred[3:10, 5:27, 3:20] = random_mask(rng, (7, 22, 17))
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(ref | pred))
    pc = np.ascontiguousarray(pred[box]).view(np.uint8)
    rc = np.ascontiguousarray(ref[box]).view(np.uint8)
    for method in ("fastseg", "skimage"):
        assert cldice_in_crop(pc, rc, method=method) == cldice(pred, ref, method=method)


@pytest.mark.parametrize("shape", [(6, 7), (3, 6, 7)])
def test_empty_masks(shape):
    empty = np.zeros(shape, bool)
    full = np.zeros(shape, bool)
    full[(1,) * len(shape)] = True
    assert cldice(empty, empty) == 1.0
    assert cldice(full, empty) == 0.0
    assert cldice(empty, full) == 0.0
    assert cldice(np.zeros((0,) + shape[1:]), np.zeros((0,) + shape[1:])) == 1.0
    assert cldice_in_crop(empty.view(np.uint8), empty.view(np.uint8)) == 1.0
    assert cldice_in_crop(full.view(np.uint8), empty.view(np.uint8)) == 0.0


# ---------------------------------------------------------------- errors

def test_shape_mismatch():
    with pytest.raises(v.InputValueError, match=r"pred and ref must have the same shape; got \(4, 4\) and \(4, 5\)\."):
        cldice(np.zeros((4, 4)), np.zeros((4, 5)))


@pytest.mark.parametrize("bad", [np.array([[0, 2], [1, 0]], np.uint8), np.array([[0, 0.5], [1, 0]]),
                                 np.array([[0, -1], [1, 0]], np.int8), np.array([[0, np.nan], [1, 0]])])
def test_non_binary_values(bad):
    ok = np.zeros((2, 2), bool)
    with pytest.raises(ValueError, match=r"pred must be a binary mask .* 1 of 4 voxels hold other values"):
        cldice(bad, ok)
    with pytest.raises(v.InputValueError, match=r"ref must be a binary mask"):
        cldice(ok, bad)
    with pytest.raises(v.InputValueError, match=r"mask must be a binary mask .* 1 of 4 voxels"):
        skeletonize(bad)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5)])
def test_wrong_dimensions(shape):
    a = np.zeros(shape, bool)
    n = len(shape)
    with pytest.raises(v.InputValueError, match=rf"clDice supports 2D or 3D inputs; got pred with {n} dimensions"):
        cldice(a, a)
    with pytest.raises(v.InputValueError, match=rf"skeletonize supports 2D or 3D inputs; got mask with {n} dimensions"):
        skeletonize(a)


def test_bad_options_and_types():
    a = np.zeros((4, 4), bool)
    with pytest.raises(v.InputValueError, match=r'method must be "fastseg" or "skimage"; got \'lee\''):
        cldice(a, a, method="lee")
    with pytest.raises(v.InputValueError, match="method must be"):
        skeletonize(a, method=None)
    with pytest.raises(v.InputValueError, match="threads must be None or a positive integer; got 0"):
        cldice(a, a, threads=0)
    with pytest.raises(v.InputTypeError, match="threads must be None or a positive integer"):
        cldice(a, a, threads=1.5)
    with pytest.raises(TypeError, match="pred must be a boolean, integer or float array"):
        cldice(np.array([["a", "b"]]), a[:1, :2])
    with pytest.raises(TypeError, match="mask must be a boolean, integer or float array"):
        skeletonize(np.zeros((2, 2), object))
