"""Connected components (``fastseg._engine.components``): labels equal to ``scipy.ndimage.label``'s
exactly (same numbering: raster order of each component's first voxel), equal to cc3d's up to the
numbering where cc3d is installed, component sizes and boxes against NumPy, the connectivity option,
and results independent of the thread count and of the kernel's chunking."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from fastseg._engine.components import CONNECTIVITIES, component_stats, label_components
from fastseg._kernels import components as kernels
from fastseg._kernels import tuning
from fastseg._kernels._jit import max_threads, thread_limit
from fastseg._validation import InputValueError, readonly

RANK = {4: 1, 8: 2, 6: 1, 18: 2, 26: 3}  # the scipy structure of each connectivity
DENSITIES = (0.0, 0.03, 0.15, 0.35, 0.5, 0.65, 0.9, 1.0)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scipy_labels(mask, connectivity):
    structure = ndimage.generate_binary_structure(mask.ndim, RANK[connectivity])
    labels, n = ndimage.label(mask, structure=structure)
    return labels.astype(np.int32), n


@st.composite
def masks(draw, ndim):
    """Random masks of a few shapes (size-1 axes included, rows longer than the kernel's 64-byte
    blocks, rows of whole 8-byte words), densities from empty to full, noise or blobs (noise grown by
    a dilation)."""
    width = draw(st.one_of(st.integers(1, 150), st.sampled_from([8, 16, 64, 72, 128])))  # rows of whole words too
    if ndim == 2:
        shape = (draw(st.integers(1, 24)), width)
    else:
        shape = (draw(st.integers(1, 7)), draw(st.integers(1, 12)), width)
    density = draw(st.sampled_from(DENSITIES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.random(shape) < density
    if draw(st.booleans()) and 0.0 < density < 0.5:
        mask = ndimage.binary_dilation(mask, iterations=draw(st.integers(1, 2)))
    return np.ascontiguousarray(mask.astype(np.uint8))


def check_against_scipy(mask):
    for connectivity in CONNECTIVITIES[mask.ndim]:
        labels, n = label_components(mask, connectivity)
        want, n_want = scipy_labels(mask, connectivity)
        assert labels.dtype == np.int32 and labels.shape == mask.shape
        assert n == n_want, connectivity
        np.testing.assert_array_equal(labels, want, err_msg=f"connectivity {connectivity}")


@SETTINGS
@given(masks(2))
def test_2d_equals_scipy(mask):
    check_against_scipy(mask)


@SETTINGS
@given(masks(3))
def test_3d_equals_scipy(mask):
    check_against_scipy(mask)


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (1, 9), (9, 1), (3, 4, 5), (1, 1, 1), (1, 6, 70), (4, 1, 1)])
def test_empty_and_full(shape):
    for fill, n_want in ((0, 0), (1, 1)):
        mask = np.full(shape, fill, np.uint8)
        for connectivity in CONNECTIVITIES[len(shape)]:
            labels, n = label_components(mask, connectivity)
            assert n == n_want
            np.testing.assert_array_equal(labels, mask.astype(np.int32))


def test_zero_size():
    for shape in ((0, 4), (3, 0), (0, 2, 2), (2, 0, 3), (2, 3, 0)):
        labels, n = label_components(np.zeros(shape, np.uint8))
        assert n == 0 and labels.shape == shape and labels.dtype == np.int32


def test_numbering_is_raster_order_of_first_voxel():
    # a U whose right arm starts first: scipy numbers by first voxel, not by where the arms join
    m = np.array([[0, 0, 0, 1],
                  [1, 0, 0, 1],
                  [1, 0, 0, 1],
                  [1, 1, 1, 1],
                  [0, 0, 0, 0],
                  [0, 1, 0, 0]], np.uint8)
    labels, n = label_components(m, 4)
    assert n == 2
    assert labels[0, 3] == 1 and labels[1, 0] == 1 and labels[5, 1] == 2


def test_diagonals():
    m2 = np.eye(4, dtype=np.uint8)
    assert label_components(m2, 4)[1] == 4
    assert label_components(m2, 8)[1] == 1
    m3 = np.zeros((2, 2, 2), np.uint8)
    m3[0, 0, 0] = m3[1, 1, 1] = 1  # corner contact only
    assert [label_components(m3, c)[1] for c in (6, 18, 26)] == [2, 2, 1]
    m3[1, 1, 1] = 0
    m3[1, 1, 0] = 1  # edge contact
    assert [label_components(m3, c)[1] for c in (6, 18, 26)] == [2, 1, 1]


@pytest.mark.parametrize("width", [333, 336])  # rows not on word boundaries (byte by byte), on them (words)
def test_long_rows_and_unaligned_input(width):
    """Rows much longer than a word, sparse and dense, and a mask not aligned on 8 bytes (copied) or
    not uint8 (converted)."""
    rng = np.random.default_rng(7)
    base = rng.random((3, 5, width)) < 0.002
    base[1, 2, 10:300] = True
    base[2, 4, 64:200] = True
    base[0, 0, :] = True
    base[0, 3] = rng.random(width) < 0.5
    base[1, 4, -9:] = True
    buf = np.zeros(base.size + 1, np.uint8)
    unaligned = buf[1:].reshape(base.shape)
    unaligned[...] = base
    assert unaligned.ctypes.data % 8 != 0
    want, n_want = scipy_labels(base, 26)
    for mask in (base.astype(np.uint8), unaligned, base):
        labels, n = label_components(mask)
        assert n == n_want
        np.testing.assert_array_equal(labels, want)


def test_default_is_the_full_neighbourhood():
    rng = np.random.default_rng(3)
    for shape, full in (((20, 30), 8), ((6, 8, 10), 26)):
        mask = (rng.random(shape) < 0.4).astype(np.uint8)
        for a, b in zip(label_components(mask), label_components(mask, full)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ndim,bad", [(2, 6), (2, 26), (2, 0), (3, 4), (3, 8), (3, 27), (3, "26"), (3, 26.0),
                                      (3, True), (2, -8)])
def test_invalid_connectivity(ndim, bad):
    mask = np.zeros((3,) * ndim, np.uint8)
    with pytest.raises(InputValueError, match="connectivity"):
        label_components(mask, bad)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2)])
def test_other_dimensions(shape):
    with pytest.raises(InputValueError, match="2D and 3D"):
        label_components(np.zeros(shape, np.uint8))


def test_numpy_integer_connectivity():
    mask = np.eye(5, dtype=np.uint8)
    assert label_components(mask, np.int64(8))[1] == 1


# ----------------------------------------------------------------------------------- cc3d

def test_equals_cc3d_up_to_numbering():
    cc3d = pytest.importorskip("cc3d")
    rng = np.random.default_rng(11)
    cases = [(rng.random((8, 20, 90)) < d).astype(np.uint8) for d in (0.05, 0.3, 0.6)]
    cases += [(rng.random((40, 90)) < d).astype(np.uint8) for d in (0.1, 0.5)]
    cases.append(ndimage.binary_dilation(rng.random((10, 30, 30)) < 0.01, iterations=2).astype(np.uint8))
    for mask in cases:
        for connectivity in CONNECTIVITIES[mask.ndim]:
            labels, n = label_components(mask, connectivity)
            theirs = np.asarray(cc3d.connected_components(mask, connectivity=connectivity)).astype(np.int64)
            assert n == int(theirs.max()), connectivity
            fg = mask != 0
            assert np.array_equal(labels != 0, theirs != 0)
            pairs = np.unique(np.stack([labels[fg], theirs[fg]]), axis=1)
            assert pairs.shape[1] == n  # a bijection between the two numberings


# ----------------------------------------------------------------------------------- stats

def stats_reference(labels, n):
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    boxes = np.zeros((n + 1, 2 * labels.ndim), np.int64)
    for i in range(1, n + 1):
        idx = np.nonzero(labels == i)
        for d, ax in enumerate(idx):
            boxes[i, 2 * d] = ax.min()
            boxes[i, 2 * d + 1] = ax.max()
    return sizes, boxes


@SETTINGS
@given(st.one_of(masks(2), masks(3)))
def test_stats_equal_numpy(mask):
    labels, n = label_components(mask)
    sizes, boxes = component_stats(labels, n)
    want_sizes, want_boxes = stats_reference(labels, n)
    assert sizes.dtype == np.int64 and boxes.dtype == np.int64
    assert boxes.shape == (n + 1, 2 * mask.ndim)
    np.testing.assert_array_equal(sizes, want_sizes)
    np.testing.assert_array_equal(boxes[1:], want_boxes[1:])


def test_stats_of_any_labels_array():
    """Labels not from label_components (several runs of one label in a row, touching labels, a
    gap in the numbering) and arrays not int32 or C-ordered."""
    labels = np.array([[0, 2, 2, 1, 1, 0, 2],
                       [3, 3, 0, 0, 1, 2, 2]], np.int64)
    for arr in (labels, np.asfortranarray(labels), labels.astype(np.int32)[None]):
        sizes, boxes = component_stats(arr, 4)
        assert sizes.tolist() == [4, 3, 5, 2, 0]
        box = boxes[:, -4:]
        assert box[1].tolist() == [0, 1, 3, 4] and box[2].tolist() == [0, 1, 1, 6] and box[3].tolist() == [1, 1, 0, 1]
        assert box[4].tolist() == [2**62, -1, 2**62, -1]  # label 4 has no voxel


def test_stats_many_labels_small_budget(monkeypatch):
    """Past the buffer budget the stats run on fewer chunks: the same result."""
    rng = np.random.default_rng(5)
    labels, n = label_components((rng.random((6, 40, 40)) < 0.2).astype(np.uint8), 6)
    want = component_stats(labels, n)
    monkeypatch.setattr(tuning, "COMPONENT_BUFFERS", 56 * (n + 1) * 2)
    got = component_stats(labels, n)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------- determinism

def test_independent_of_threads_and_chunks():
    rng = np.random.default_rng(9)
    shape = (17, 128, 128)  # above SMALL_WORK: the parallel path
    assert np.prod(shape) > tuning.SMALL_WORK
    mask = ndimage.binary_dilation(rng.random(shape) < 0.02).astype(np.uint8)
    want, n_want = scipy_labels(mask, 26)
    results = []
    for threads in sorted({1, 2, max_threads()}):
        with thread_limit(threads):
            labels, n = label_components(mask)
            results.append((labels, n, component_stats(labels, n)))
    for labels, n, (sizes, boxes) in results:
        assert n == n_want
        np.testing.assert_array_equal(labels, want)
        np.testing.assert_array_equal(sizes, results[0][2][0])
        np.testing.assert_array_equal(boxes, results[0][2][1])
    # any number of chunks (the serial merge across chunk boundaries), 3D and 2D
    for m in (mask[:, :40, :50], mask[3]):
        m = np.ascontiguousarray(m)
        m3 = m.reshape((1,) * (3 - m.ndim) + m.shape)
        flat = readonly(m3.reshape(-1))  # read-only, as the engine passes it: no second specialisation
        words = flat[: flat.size // 8 * 8].view(np.uint64)
        for connectivity in CONNECTIVITIES[m.ndim]:
            want, n_want = scipy_labels(m, connectivity)
            tol = {4: (0, -1, -1), 8: (1, -1, -1), 6: (0, 0, -1), 18: (1, 1, 0), 26: (1, 1, 1)}[connectivity]
            for nchunks in (1, 2, 5, 64, 1000):
                out = np.zeros(flat.size, np.int32)
                n = kernels.label_into(flat, words, out, *m3.shape, *tol, nchunks)
                assert n == n_want
                np.testing.assert_array_equal(out.reshape(m.shape), want)
