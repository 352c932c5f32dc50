"""fastseg.transform.edt and its kernel: equality with scipy.ndimage.distance_transform_edt, with a
brute-force reference, invariances (memory order, thread count, spacing scale) and argument errors.
"""
import itertools

import numpy as np

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from fastseg._kernels.tuning import SMALL_TRANSFORM
from fastseg.transform import edt
from fastseg._kernels.edt import (
    _transform_parallel, _transform_serial, distance_to_features_into, sq_distance_to_features,
    sq_distance_to_features_into,
)

from tests.conftest import same

RTOL = 1e-12


def scipy_edt(mask, spacing):
    return ndimage.distance_transform_edt(mask, sampling=spacing)


def brute_edt(mask, spacing):
    """Distance from each voxel to every zero voxel, minimum taken explicitly (small arrays only)."""
    mask = np.asarray(mask)
    sp = np.broadcast_to(np.asarray(spacing, float), (mask.ndim,))
    grid = np.indices(mask.shape).reshape(mask.ndim, -1).T * sp
    zeros = grid[(mask == 0).ravel()]
    if len(zeros) == 0:
        return np.full(mask.shape, np.inf)
    d2 = ((grid[:, None, :] - zeros[None, :, :]) ** 2).sum(-1).min(1)
    return np.sqrt(d2).reshape(mask.shape)


def random_mask(rng, shape, density):
    m = rng.random(shape) < density
    if m.size and m.all():
        m.flat[rng.integers(m.size)] = False  # keep a zero: scipy is ill-defined without one
    return m


# ----------------------------------------------------------------------------- agreement with scipy

@pytest.mark.parametrize("shape, spacing", [
    ((9, 11, 13), (0.8, 0.8, 2.5)),
    ((9, 11, 13), (2.5, 0.8, 0.8)),
    ((12, 10, 7), (1.0, 1.0, 1.0)),
    ((23, 17), (1.0, 3.0)),
    ((17, 23), (0.3, 1.7)),
    ((40, 40), (1.0, 1.0)),
])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_random_masks_match_scipy(shape, spacing, density):
    rng = np.random.default_rng(hash((shape, spacing, density)) % 2**32)
    m = random_mask(rng, shape, density)
    assert same(edt(m, spacing=spacing), scipy_edt(m, spacing), RTOL)


def test_blob_matches_scipy_and_brute_force():
    z, y, x = np.indices((12, 14, 16))
    m = ((z - 6) / 5.0) ** 2 + ((y - 7) / 6.0) ** 2 + ((x - 8) / 4.0) ** 2 < 1
    sp = (2.5, 0.8, 0.7)
    d = edt(m, spacing=sp)
    assert same(d, scipy_edt(m, sp), RTOL)
    assert same(d, brute_edt(m, sp), RTOL)


@pytest.mark.parametrize("shape", [(1, 9, 8), (9, 1, 8), (9, 8, 1), (1, 1, 9), (1, 9, 1), (9, 1, 1),
                                   (7, 1), (1, 7), (1, 1)])
def test_odd_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    sp = (2.0, 0.5, 1.5)[:len(shape)]
    for density in (0.3, 0.7, 1.0):
        m = random_mask(rng, shape, density)
        assert same(edt(m, spacing=sp), scipy_edt(m, sp), RTOL)


def test_single_voxel():
    assert edt(np.zeros((1, 1, 1))).tolist() == [[[0.0]]]
    assert edt(np.ones((1, 1, 1))).tolist() == [[[np.inf]]]


@pytest.mark.parametrize("shape, spacing", [((6, 7, 8), (2.5, 0.8, 0.8)), ((9, 10), (1.0, 3.0))])
def test_all_ones_but_one_zero(shape, spacing):
    for idx in [(0,) * len(shape), tuple(s - 1 for s in shape), tuple(s // 2 for s in shape)]:
        m = np.ones(shape, bool)
        m[idx] = False
        d = edt(m, spacing=spacing)
        assert same(d, scipy_edt(m, spacing), RTOL)
        # Hand-worked: the distance to the single zero, axis by axis.
        expected = np.sqrt(sum(((np.indices(shape)[i] - idx[i]) * spacing[i]) ** 2 for i in range(len(shape))))
        assert same(d, expected, RTOL)


def test_single_foreground_voxel_in_a_corner():
    m = np.zeros((5, 6, 7), bool)
    m[0, 0, 0] = True
    d = edt(m, spacing=(2.5, 0.8, 0.7))
    assert same(d[0, 0, 0], 0.7, RTOL)  # the nearest zero is one step along the finest axis
    assert np.count_nonzero(d) == 1
    assert same(d, scipy_edt(m, (2.5, 0.8, 0.7)), RTOL)


def test_shift_along_anisotropic_axis():
    """A line of foreground k voxels long along axis 0: distance grows by spacing[0] per voxel."""
    m = np.zeros((9, 3, 3), bool)
    m[1:8, 1, 1] = True
    d = edt(m, spacing=(2.5, 0.8, 0.8))
    # Across the line the zero is one step away on axis 1 or 2 (0.8), nearer than along axis 0 (2.5).
    assert same(d[1:8, 1, 1], np.full(7, 0.8), RTOL)
    m[1:8, :, :] = True
    d = edt(m, spacing=(2.5, 0.8, 0.8))
    assert same(d[1:8, 1, 1], 2.5 * np.array([1, 2, 3, 4, 3, 2, 1.0]), RTOL)


def test_all_zeros():
    for shape in [(4, 5, 6), (3, 4)]:
        d = edt(np.zeros(shape), spacing=0.5)
        assert d.shape == shape and d.dtype == np.float64 and not d.any()


def test_no_zero_voxel_gives_inf():
    """scipy returns distances to a point outside the array here; fastseg returns +inf."""
    for shape in [(4, 5, 6), (3, 4), (1, 1)]:
        d = edt(np.ones(shape, np.int16))
        assert np.isinf(d).all() and (d > 0).all()


def test_empty_arrays():
    assert edt(np.zeros((0, 4))).shape == (0, 4)
    assert edt(np.ones((3, 0, 2), bool)).shape == (3, 0, 2)


def test_dtypes_and_nan():
    rng = np.random.default_rng(3)
    m = random_mask(rng, (6, 7, 8), 0.6)
    ref = edt(m, spacing=(1.0, 2.0, 3.0))
    for a in [m.astype(np.uint8), m.astype(np.int64) * -3, m.astype(np.float32) * 0.25,
              m.astype(">f8"), m.astype(">i4") * 7]:
        np.testing.assert_array_equal(edt(a, spacing=(1.0, 2.0, 3.0)), ref)
    f = m.astype(float)
    f[m] = np.nan  # NaN is non-zero: foreground, as in scipy
    np.testing.assert_array_equal(edt(f, spacing=(1.0, 2.0, 3.0)), ref)
    assert edt([[0, 1, 1]]).tolist() == [[0.0, 1.0, 2.0]]  # nested lists are array-likes


# ----------------------------------------------------------------------------- invariances

def test_memory_order_and_views_give_identical_output():
    rng = np.random.default_rng(4)
    base = random_mask(rng, (14, 16, 18), 0.6)
    sp = (2.5, 0.8, 0.7)
    ref = edt(base, spacing=sp)
    f = np.asfortranarray(base)
    ro = base.copy()
    ro.flags.writeable = False
    for a in [f, ro, base.astype(">u2")]:
        np.testing.assert_array_equal(edt(a, spacing=sp), ref)
    big = random_mask(rng, (28, 32, 36), 0.6)
    view = big[::2, 1::2, ::-2]
    np.testing.assert_array_equal(edt(view, spacing=sp), edt(np.ascontiguousarray(view), spacing=sp))
    # Transposed view: same values as transposing the result of the transposed-spacing call.
    t = base.transpose(2, 0, 1)
    np.testing.assert_array_equal(edt(t, spacing=(0.7, 2.5, 0.8)),
                                  edt(np.ascontiguousarray(t), spacing=(0.7, 2.5, 0.8)))
    assert same(edt(t, spacing=(0.7, 2.5, 0.8)), ref.transpose(2, 0, 1), RTOL)
    assert edt(f).flags.c_contiguous


def test_thread_count_is_bit_identical_and_restored():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    m = random_mask(rng, (32, 36, 40), 0.7)  # above the size where the kernel goes parallel
    before = numba.get_num_threads()
    one = edt(m, spacing=(2.5, 0.8, 0.8), threads=1)
    assert numba.get_num_threads() == before
    two = edt(m, spacing=(2.5, 0.8, 0.8), threads=2)
    assert numba.get_num_threads() == before
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("k", [0.1, 3.0, 7.25])
def test_spacing_scale_invariance(k):
    rng = np.random.default_rng(6)
    for shape, sp in [((8, 9, 10), np.array([2.5, 0.8, 0.8])), ((15, 12), np.array([1.0, 3.0]))]:
        m = random_mask(rng, shape, 0.7)
        assert same(edt(m, spacing=k * sp), k * edt(m, spacing=sp), RTOL)


def test_scalar_spacing_equals_per_axis_spacing():
    m = random_mask(np.random.default_rng(7), (5, 6, 7), 0.6)
    np.testing.assert_array_equal(edt(m, spacing=1.5), edt(m, spacing=(1.5, 1.5, 1.5)))
    np.testing.assert_array_equal(edt(m), edt(m, spacing=1))


# ----------------------------------------------------------------------------- property test

@st.composite
def masks_and_spacings(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9))
    density = draw(st.sampled_from([0.1, 0.5, 0.8, 0.97]))
    seed = draw(st.integers(0, 2**32 - 1))
    m = random_mask(np.random.default_rng(seed), shape, density)
    sp = draw(st.lists(st.floats(0.05, 20.0), min_size=len(shape), max_size=len(shape)))
    return m, tuple(sp)


@settings(max_examples=60, deadline=None, database=None)
@given(masks_and_spacings())
def test_property_matches_scipy(case):
    m, sp = case
    d = edt(m, spacing=sp)
    assert same(d, scipy_edt(m, sp), RTOL)
    assert (d[~m] == 0).all() and (d[m] > 0).all()


# ----------------------------------------------------------------------------- the kernel directly

def test_kernel_without_features_is_all_inf():
    for shape in [(3, 4, 5), (1, 6, 7), (1, 1, 1)]:
        d = sq_distance_to_features(np.zeros(shape, np.uint8), np.array([2.5, 0.8, 0.8]), SMALL_TRANSFORM)
        assert d.shape == shape and d.dtype == np.float64
        assert np.isinf(d).all() and not np.isnan(d).any()


def test_kernel_squared_distances_and_into_variants():
    rng = np.random.default_rng(8)
    feats = (rng.random((7, 8, 9)) < 0.1).astype(np.uint8)
    feats[3, 4, 5] = 2  # any non-zero value is a feature
    sp = np.array([2.5, 0.8, 0.7])
    sq = sq_distance_to_features(feats, sp, SMALL_TRANSFORM)
    assert same(np.sqrt(sq), brute_edt(feats == 0, sp), RTOL)
    assert (sq[feats != 0] == 0).all()
    out = np.full(feats.shape, np.nan)
    sq_distance_to_features_into(feats, sp, out, SMALL_TRANSFORM)
    np.testing.assert_array_equal(out, sq)
    distance_to_features_into(feats, sp, out, SMALL_TRANSFORM)
    np.testing.assert_array_equal(out, np.sqrt(sq))


@pytest.mark.parametrize("shape", [(5, 6, 7), (1, 9, 8), (40, 36, 33)])
def test_kernel_serial_and_parallel_paths_are_bit_identical(shape):
    rng = np.random.default_rng(10)
    feats = (rng.random(shape) < 0.2).astype(np.uint8)
    sp = np.array([2.5, 0.8, 0.7])
    a = np.empty(shape)
    b = np.empty(shape)
    _transform_serial(feats, sp, True, a)
    _transform_parallel(feats, sp, True, b)
    np.testing.assert_array_equal(a, b)
    assert same(a, brute_edt(feats == 0, sp) if feats.size < 5000 else scipy_edt(feats == 0, sp), RTOL)


def test_kernel_2d_through_size_one_axis():
    """2D callers pass (1, H, W) with spacing (1, s0, s1): the size-1 axis contributes nothing."""
    rng = np.random.default_rng(9)
    feats = (rng.random((11, 13)) < 0.15).astype(np.uint8)
    sq = sq_distance_to_features(feats[None], np.array([1.0, 0.8, 2.5]), SMALL_TRANSFORM)[0]
    assert same(np.sqrt(sq), scipy_edt(feats == 0, (0.8, 2.5)), RTOL)


def test_kernel_lines_without_features_give_no_nan():
    """Lines (along the first pass) without a feature hold inf; the envelopes must not make NaN."""
    feats = np.zeros((6, 5, 4), np.uint8)
    feats[2, 0, 0] = 1
    feats[0, 4, 3] = 1
    sp = np.array([1.0, 2.0, 3.0])
    sq = sq_distance_to_features(feats, sp, SMALL_TRANSFORM)
    assert np.isfinite(sq).all()
    assert same(np.sqrt(sq), brute_edt(feats == 0, sp), RTOL)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2), ()])
def test_rejects_wrong_ndim(shape):
    with pytest.raises(ValueError, match=f"edt supports 2D and 3D masks; got an array with {len(shape)} dim"):
        edt(np.ones(shape))


@pytest.mark.parametrize("spacing, pattern", [
    ((1.0, 2.0), r"one positive value per axis \(3\)"),
    ((1.0, 2.0, 3.0, 4.0), r"one positive value per axis \(3\)"),
    ((1.0, 0.0, 1.0), "positive finite"),
    ((1.0, -1.0, 1.0), "positive finite"),
    ((1.0, np.nan, 1.0), "positive finite"),
    ((1.0, np.inf, 1.0), "positive finite"),
    (0.0, "positive finite"),
])
def test_rejects_bad_spacing(spacing, pattern):
    with pytest.raises(ValueError, match=pattern):
        edt(np.ones((3, 3, 3)), spacing=spacing)


@pytest.mark.parametrize("mask", ["abc", object(), np.array([[1 + 1j]]), None])
def test_rejects_non_arrays(mask):
    with pytest.raises(TypeError, match="mask must be"):
        edt(mask)


def test_rejects_bad_threads():
    with pytest.raises(ValueError, match="threads"):
        edt(np.ones((3, 3)), threads=0)
    with pytest.raises(TypeError, match="threads"):
        edt(np.ones((3, 3)), threads=1.5)


def test_exhaustive_tiny_2d_masks():
    """Every 3x3 mask with at least one zero, anisotropic spacing: scipy and brute force agree with us."""
    sp = (1.0, 2.5)
    for bits in itertools.product((0, 1), repeat=9):
        m = np.array(bits, bool).reshape(3, 3)
        if m.all():
            continue
        d = edt(m, spacing=sp)
        assert same(d, scipy_edt(m, sp), RTOL)


def test_agrees_with_seung_lab_edt_when_installed():
    """The `edt` package (float32 output) as a peer: same distances to float32 precision."""
    peer = pytest.importorskip("edt")
    rng = np.random.default_rng(11)
    for shape, sp in [((10, 12, 14), (2.5, 0.8, 0.8)), ((20, 17), (1.0, 3.0))]:
        m = random_mask(rng, shape, 0.8)
        theirs = peer.edt(m.astype(np.uint8), anisotropy=sp, black_border=False, parallel=1)
        np.testing.assert_allclose(edt(m, spacing=sp), theirs, rtol=1e-6, atol=1e-6)
