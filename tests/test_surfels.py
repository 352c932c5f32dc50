"""Surface extraction: boundary voxels and corner-lattice surfels (fastseg._kernels.surface) and the
surfel area / contour length tables (fastseg._surfel_tables).

References: scipy's binary_erosion for boundary voxels, a numpy shift-and-sum for neighbour codes,
DeepMind's surface-distance for the weights, and values worked out by hand.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from fastseg import _surfel_tables as tables
from fastseg._kernels.surface import boundary_voxels, surfel_codes, surfel_weights, surfels
from fastseg._kernels.tuning import NCHUNKS

SPACINGS_3D = [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (0.7, 1.9, 1.3), (3.0, 0.25, 1.1),
               (0.5, 0.5, 4.0)]
SPACINGS_2D = [(1.0, 1.0), (0.8, 2.5), (3.0, 0.3), (1.7, 1.7)]


# --- helpers and slow, obviously-correct references

def as3d(mask):
    """uint8 C-contiguous (Z, Y, X) view of a 2D or 3D mask, and the is2d flag."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if mask.ndim == 2:
        return mask[None], True
    return mask, False


def ref_boundary(mask, connectivity):
    m = mask != 0
    st = ndimage.generate_binary_structure(m.ndim, connectivity)
    return m & ~ndimage.binary_erosion(m, structure=st)


def ref_codes(mask):
    """Neighbour codes by shifting a zero-padded copy: bit 4a + 2b + c (2D: 2b + c) for voxel
    (k-1+a, j-1+b, i-1+c)."""
    m = np.pad(mask != 0, 1).astype(np.int64)
    shape = tuple(s + 1 for s in mask.shape)
    codes = np.zeros(shape, dtype=np.int64)
    for n in range(2 ** mask.ndim):
        off = [(n >> (mask.ndim - 1 - d)) & 1 for d in range(mask.ndim)]
        codes |= m[tuple(slice(o, o + s) for o, s in zip(off, shape))] << n
    return codes


def reverse_bits(code, nbits):
    return int(format(code, f"0{nbits}b")[::-1], 2)


def random_masks(ndim, seed, count=6):
    """Random masks of small random shapes: noise of several densities (touching every border) and
    smoothed blobs."""
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        shape = tuple(int(s) for s in rng.integers(1, 12 if ndim == 3 else 30, ndim))
        if n % 2:
            m = rng.random(shape) < rng.uniform(0.2, 0.95)
        else:
            m = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) > rng.uniform(-0.2, 0.2)
        out.append(m.astype(np.uint8))
    return out


def special_masks(ndim):
    shape = (5, 6, 7)[:ndim] if ndim == 3 else (6, 7)
    single = np.zeros(shape, np.uint8)
    single[(2,) * ndim] = 1
    corner = np.zeros(shape, np.uint8)
    corner[(0,) * ndim] = 1
    return {
        "empty": np.zeros(shape, np.uint8),
        "full": np.ones(shape, np.uint8),
        "single": single,
        "corner": corner,
        "one_voxel_array": np.ones((1,) * ndim, np.uint8),
        "line": np.ones((1,) * (ndim - 1) + (9,), np.uint8),
        "values_not_0_1": (np.arange(np.prod(shape)).reshape(shape) % 3 * 7).astype(np.uint8),
    }


# --- boundary voxels

@pytest.mark.parametrize("ndim,connectivity", [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_boundary_random_vs_scipy(ndim, connectivity, seed):
    for mask in random_masks(ndim, seed):
        m3, is2d = as3d(mask)
        got = boundary_voxels(m3, connectivity, is2d, NCHUNKS).reshape(mask.shape)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, ref_boundary(mask, connectivity))


@pytest.mark.parametrize("ndim,connectivity", [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
def test_boundary_special_masks(ndim, connectivity):
    for name, mask in special_masks(ndim).items():
        m3, is2d = as3d(mask)
        got = boundary_voxels(m3, connectivity, is2d, NCHUNKS).reshape(mask.shape)
        np.testing.assert_array_equal(got, ref_boundary(mask, connectivity), err_msg=name)


def test_boundary_full_and_empty_by_hand():
    full = np.ones((4, 5, 6), np.uint8)
    got = boundary_voxels(full, 1, False, NCHUNKS)
    assert got.sum() == full.size - 2 * 3 * 4  # only the 2x3x4 interior is not boundary
    assert boundary_voxels(np.zeros((4, 5, 6), np.uint8), 3, False, NCHUNKS).sum() == 0
    # 2D: the size-1 axis 0 adds no boundary
    img = np.ones((1, 5, 6), np.uint8)
    assert boundary_voxels(img, 1, True, NCHUNKS).sum() == 30 - 3 * 4


def test_boundary_independent_of_chunking():
    mask = random_masks(3, 7, count=1)[0]
    ref = boundary_voxels(mask, 2, False, NCHUNKS)
    for nchunks in (1, 3, 1000):
        np.testing.assert_array_equal(boundary_voxels(mask, 2, False, nchunks), ref)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), ndim=st.sampled_from([2, 3]))
def test_boundary_and_codes_property(data, ndim):
    shape = data.draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=1, max_side=7))
    mask = data.draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 1, 1, 3])))
    connectivity = data.draw(st.integers(1, ndim))
    m3, is2d = as3d(mask)
    got = boundary_voxels(m3, connectivity, is2d, NCHUNKS).reshape(shape)
    np.testing.assert_array_equal(got, ref_boundary(mask, connectivity))
    codes = surfel_codes(m3, is2d, NCHUNKS)
    np.testing.assert_array_equal(codes.reshape(codes.shape[3 - ndim:]), ref_codes(mask))


# --- neighbour codes and surfel kernels

@pytest.mark.parametrize("ndim", [2, 3])
def test_codes_vs_shift_reference(ndim):
    masks = random_masks(ndim, 3) + list(special_masks(ndim).values())
    for mask in masks:
        m3, is2d = as3d(mask)
        got = surfel_codes(m3, is2d, NCHUNKS)
        ref = ref_codes(mask)
        assert got.shape == (1,) * (3 - ndim) + ref.shape
        np.testing.assert_array_equal(got.reshape(ref.shape), ref)


@pytest.mark.parametrize("ndim", [2, 3])
def test_surfel_kernels_agree(ndim):
    full = 2 ** 2 ** ndim - 1
    spacing = SPACINGS_3D[2] if ndim == 3 else SPACINGS_2D[1]
    table = tables.areas(spacing)
    for mask in random_masks(ndim, 4) + list(special_masks(ndim).values()):
        m3, is2d = as3d(mask)
        codes = surfel_codes(m3, is2d, NCHUNKS)
        weights = surfel_weights(m3, table, is2d, NCHUNKS)
        codes2, index, weight = surfels(m3, table, is2d, NCHUNKS)
        np.testing.assert_array_equal(codes2, codes)
        surface = (codes != 0) & (codes != full)
        np.testing.assert_array_equal(index, np.flatnonzero(surface))
        np.testing.assert_array_equal(weight, table[codes.ravel()[index]])
        np.testing.assert_array_equal(weights.ravel(), np.where(surface, table[codes], 0).ravel())
        assert np.all(weight > 0)
        for nchunks in (1, 5):
            _, index1, weight1 = surfels(m3, table, is2d, nchunks)
            np.testing.assert_array_equal(index1, index)
            np.testing.assert_array_equal(weight1, weight)


def test_surfels_empty_and_full():
    table = tables.areas((1.0, 2.0, 3.0))
    for mask in (np.zeros((3, 4, 5), np.uint8), np.zeros((0, 4, 5), np.uint8)):
        codes, index, weight = surfels(mask, table, False, NCHUNKS)
        assert codes.shape == tuple(s + 1 for s in mask.shape)
        assert index.size == 0 and weight.size == 0
    # a full array has its surface on the lattice border: every border corner, no interior one
    codes, index, weight = surfels(np.ones((3, 4, 5), np.uint8), table, False, NCHUNKS)
    assert index.size == 4 * 5 * 6 - 2 * 3 * 4
    np.testing.assert_allclose(weight.sum(), box_area((3, 4, 5), (1.0, 2.0, 3.0)), rtol=1e-12)


# --- tables: hand-derived values

def box_area(n, s):
    """Midpoint-marching-cubes area of a box of n = (n0, n1, n2) voxels with spacing s, by hand.

    Interior face corners see 4 voxels of one slab: a flat square, e.g. s1*s2 on the faces normal to
    axis 0, (n1 - 1)(n2 - 1) of them per face. Edge corners see 2 voxels: a 45-degree strip of area
    s_edge * hypot(s_u, s_v) / 2, (n_edge - 1) of them per edge, 4 edges per axis. The 8 box corners
    see 1 voxel: the corner triangle of the single-voxel case.
    """
    a, b, c = s
    faces = 2 * ((n[1] - 1) * (n[2] - 1) * b * c + (n[0] - 1) * (n[2] - 1) * a * c
                 + (n[0] - 1) * (n[1] - 1) * a * b)
    edges = 2 * ((n[0] - 1) * a * math.hypot(b, c) + (n[1] - 1) * b * math.hypot(a, c)
                 + (n[2] - 1) * c * math.hypot(a, b))
    return faces + edges + single_voxel_area(s)


def single_voxel_area(s):
    """A single voxel: each of its 8 corners cuts off the triangle through the 3 edge midpoints
    (h, 0, 0), (0, h, 0), (0, 0, h), h = 1/2, area vector (1/8, 1/8, 1/8) in index space, i.e.
    (s1 s2, s0 s2, s0 s1) / 8 physically. Total: sqrt((s0 s1)^2 + (s0 s2)^2 + (s1 s2)^2); for unit
    spacing sqrt(3), the area of the octahedron with vertices at the face centres."""
    a, b, c = s
    return math.sqrt((a * b) ** 2 + (a * c) ** 2 + (b * c) ** 2)


@pytest.mark.parametrize("spacing", SPACINGS_3D)
def test_single_voxel_area_by_hand(spacing):
    t = tables.surface_areas(spacing)
    a, b, c = spacing
    for bit in range(8):  # one foreground voxel in the 2x2x2 block, or one background voxel
        assert t[1 << bit] == pytest.approx(single_voxel_area(spacing) / 8, rel=1e-14)
        assert t[255 - (1 << bit)] == pytest.approx(single_voxel_area(spacing) / 8, rel=1e-14)
    # half blocks are flat squares: low nibble = slice k-1 (normal to axis 0), bits with c = 0
    # (normal to axis 2), bits with b = 0 (normal to axis 1)
    assert t[0b00001111] == pytest.approx(b * c, rel=1e-14)
    assert t[0b01010101] == pytest.approx(a * b, rel=1e-14)
    assert t[0b00110011] == pytest.approx(a * c, rel=1e-14)
    assert t[0] == 0 and t[255] == 0
    mask = np.zeros((3, 3, 3), np.uint8)
    mask[1, 1, 1] = 1
    _, index, weight = surfels(mask, t, False, NCHUNKS)
    assert index.size == 8
    assert weight.sum() == pytest.approx(single_voxel_area(spacing), rel=1e-14)


@pytest.mark.parametrize("spacing", SPACINGS_2D)
def test_single_pixel_perimeter_by_hand(spacing):
    """A single pixel: 4 corner segments between edge midpoints, each hypot(s0, s1) / 2: the diamond
    through the edge midpoints, perimeter 2 hypot(s0, s1)."""
    t = tables.contour_lengths(spacing)
    a, b = spacing
    for bit in range(4):
        assert t[1 << bit] == pytest.approx(math.hypot(a, b) / 2, rel=1e-14)
    assert t[0b0011] == pytest.approx(b, rel=1e-14)  # row j-1 foreground: a horizontal segment
    assert t[0b0101] == pytest.approx(a, rel=1e-14)  # column i-1 foreground: a vertical segment
    assert t[0b1001] == t[0b0110] == pytest.approx(math.hypot(a, b), rel=1e-14)  # saddles
    mask = np.zeros((1, 3, 3), np.uint8)
    mask[0, 1, 1] = 1
    _, index, weight = surfels(mask, t, True, NCHUNKS)
    assert index.size == 4
    assert weight.sum() == pytest.approx(2 * math.hypot(a, b), rel=1e-14)


@pytest.mark.parametrize("spacing", SPACINGS_3D)
def test_table_complement_symmetry(spacing):
    """A pattern and its complement have the same surface."""
    t = tables.surface_areas(spacing)
    np.testing.assert_allclose(t, t[255 - np.arange(256)], rtol=1e-14)
    t2 = tables.contour_lengths(spacing[:2])
    np.testing.assert_allclose(t2, t2[15 - np.arange(16)], rtol=1e-14)


@pytest.mark.parametrize("spacing", SPACINGS_3D)
def test_box_area_exact_and_analytic(spacing):
    n = (7, 11, 16)
    mask = np.zeros((9, 14, 18), np.uint8)
    mask[1:8, 2:13, 1:17] = 1
    _, _, weight = surfels(mask, tables.areas(spacing), False, NCHUNKS)
    assert weight.sum() == pytest.approx(box_area(n, spacing), rel=1e-12)
    # against the box of side n * s: edges are bevelled, so a little less
    big = np.ones((30, 32, 34), np.uint8)
    _, _, weight = surfels(big, tables.areas(spacing), False, NCHUNKS)
    L = [k * s for k, s in zip(big.shape, spacing)]
    exact = 2 * (L[0] * L[1] + L[0] * L[2] + L[1] * L[2])
    assert weight.sum() == pytest.approx(box_area(big.shape, spacing), rel=1e-12)
    assert 0.9 * exact < weight.sum() < exact


def test_rectangle_perimeter_exact():
    a, b = 0.8, 2.5
    mask = np.zeros((1, 12, 9), np.uint8)
    mask[0, 2:9, 1:9] = 1  # 7 x 8 pixels, touching the right border
    _, _, weight = surfels(mask, tables.areas((a, b)), True, NCHUNKS)
    assert weight.sum() == pytest.approx(2 * 7 * b + 2 * 6 * a + 2 * math.hypot(a, b), rel=1e-12)


def test_sphere_and_disc_analytic():
    """Midpoint marching cubes / squares on digitised round shapes: the staircase biases the area a
    few percent up (+8.5% for this sphere, +6.7% for this disc, at unit spacing)."""
    r = 20.0
    g = np.indices((45, 45, 45)) - 22.0
    ball = ((g ** 2).sum(axis=0) <= r * r).astype(np.uint8)
    _, _, weight = surfels(ball, tables.areas((1.0, 1.0, 1.0)), False, NCHUNKS)
    assert weight.sum() == pytest.approx(4 * math.pi * r * r, rel=0.12)
    g = np.indices((1, 61, 61))[1:] - 30.0
    disc = ((g ** 2).sum(axis=0) <= 25.0 ** 2).astype(np.uint8)  # (1, 61, 61)
    _, _, weight = surfels(disc, tables.areas((1.0, 1.0)), True, NCHUNKS)
    assert weight.sum() == pytest.approx(2 * math.pi * 25.0, rel=0.1)


# --- tables and surface points against DeepMind's surface-distance

@pytest.mark.parametrize("spacing", SPACINGS_3D)
def test_area_table_equals_deepmind(spacing):
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    theirs = lookup.create_table_neighbour_code_to_surface_area(spacing)
    ours = tables.surface_areas(spacing)
    # DeepMind's code has bit 7 - (4a + 2b + c) for voxel offset (a, b, c): the reverse of ours
    for code in range(256):
        assert ours[code] == pytest.approx(theirs[reverse_bits(code, 8)], rel=1e-12, abs=0), code


@pytest.mark.parametrize("spacing", SPACINGS_2D)
def test_length_table_equals_deepmind(spacing):
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    theirs = lookup.create_table_neighbour_code_to_contour_length(spacing)
    ours = tables.contour_lengths(spacing)
    for code in range(16):
        assert ours[code] == pytest.approx(theirs[reverse_bits(code, 4)], rel=1e-12, abs=0), code


@pytest.mark.parametrize("ndim", [2, 3])
def test_surface_points_equal_deepmind(ndim):
    """Same surface corners (DeepMind's neighbour-code map, their kernel and table) and the same
    multiset of weights as ``compute_surface_distances``."""
    sd = pytest.importorskip("surface_distance")
    lookup = sd.lookup_tables
    spacings = SPACINGS_3D if ndim == 3 else SPACINGS_2D
    masks = random_masks(ndim, 11) + random_masks(ndim, 12)
    for n, (gt, pred) in enumerate(zip(masks[::2], masks[1::2])):
        spacing = spacings[n % len(spacings)]
        pred = np.resize(pred, gt.shape)  # same shape, different content
        if not gt.any() or not pred.any():  # DeepMind's empty case needs np.Inf (gone in NumPy 2)
            continue
        if ndim == 3:
            kernel = lookup.ENCODE_NEIGHBOURHOOD_3D_KERNEL
            table = lookup.create_table_neighbour_code_to_surface_area(spacing)
            full = 255
        else:
            kernel = lookup.ENCODE_NEIGHBOURHOOD_2D_KERNEL
            table = lookup.create_table_neighbour_code_to_contour_length(spacing)
            full = 15
        weights = {}
        for name, mask in (("gt", gt), ("pred", pred)):
            m3, is2d = as3d(mask)
            _, index, weight = surfels(m3, tables.areas(spacing), is2d, NCHUNKS)
            # DeepMind's internals: correlate the mask, zero-padded at the end of each axis, with
            # their 2x2(x2) kernel; the padded array is exactly our corner lattice
            padded = np.pad(mask, [(0, 1)] * ndim)
            their_codes = ndimage.correlate(padded, kernel, mode="constant", cval=0)
            their_surface = (their_codes != 0) & (their_codes != full)
            np.testing.assert_array_equal(index, np.flatnonzero(their_surface))
            np.testing.assert_allclose(weight, table[their_codes[their_surface]], rtol=1e-12)
            weights[name] = weight
        res = sd.compute_surface_distances(gt.astype(bool), pred.astype(bool), spacing)
        for name in ("gt", "pred"):
            theirs = np.sort(res[f"surfel_areas_{name}"])
            np.testing.assert_allclose(np.sort(weights[name]), theirs, rtol=1e-12)
            assert weights[name].sum() == pytest.approx(theirs.sum(), rel=1e-12)


def test_tables_cached_and_read_only():
    assert tables.triangle_vectors() is tables.triangle_vectors()
    assert tables.triangle_vectors().shape[0] == 256
    assert tables.segment_vectors().shape == (16, 2, 2)
    with pytest.raises(ValueError):
        tables.triangle_vectors()[1, 0, 0] = 1.0
    assert tables.areas((1.0, 1.0)).shape == (16,) and tables.areas((1.0, 1.0, 1.0)).shape == (256,)
