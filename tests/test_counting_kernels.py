"""The one-pass counting kernels (issue 18): binary confusion counts on 64-bit words and the label-map
pass on runs found word by word, checked exactly against NumPy.

Sizes straddle what the kernels treat apart: the numpy path below ``tuning.SMALL_COUNT``, whole words
(8 voxels) and their tails, the byte-sum blocks (``tuning.COUNT_BLOCK`` words), the run test blocks
(``tuning.RUN_BLOCK`` words), rows shorter than a word, runs crossing rows and chunks; inputs misaligned
in memory, Fortran-ordered, and with values above 1.
"""
import numpy as np
import pytest

import fastseg
from fastseg._engine import counts as C
from fastseg._kernels import confusion as K
from fastseg._kernels import tuning

SMALL = tuning.SMALL_COUNT
BLOCK_VOXELS = 8 * tuning.COUNT_BLOCK


def numpy_counts(p, r):
    p = np.asarray(p).astype(bool)
    r = np.asarray(r).astype(bool)
    return int(np.count_nonzero(p & r)), int(np.count_nonzero(p)), int(np.count_nonzero(r))


def random_mask(n, density, seed):
    return (np.random.default_rng(seed).random(n) < density).astype(np.uint8)


# ------------------------------------------------------------------------------- binary counts

SIZES = sorted({SMALL - 1, SMALL, SMALL + 1, SMALL + 7, SMALL + 63, SMALL + 64, BLOCK_VOXELS * 20 - 1,
                BLOCK_VOXELS * 20, BLOCK_VOXELS * 20 + 9, 100_003, (1 << 18) + 5})


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("density", [0.0, 0.03, 0.5, 1.0])
def test_binary_counts_equal_numpy(n, density):
    p = random_mask(n, density, n)
    r = random_mask(n, density, n + 1) if 0 < density < 1 else p.copy()
    want = numpy_counts(p, r)
    assert C.binary_counts(p, r) == want
    c = fastseg.confusion(p.view(bool), r.view(bool))
    assert (c.tp, c.tp + c.fp, c.tp + c.fn, c.n) == want + (n,)


@pytest.mark.parametrize("nwords", [0, 1, 2, 15, 16, 17, 239, 240, 241, 255, 256, 481, 5003])
@pytest.mark.parametrize("block", [1, 16, 240, 255])
@pytest.mark.parametrize("nchunks", [1, 3, 64])
def test_binary_kernel_blocks_and_chunks(nwords, block, nchunks):
    rng = np.random.default_rng(nwords * 7 + block)
    p = (rng.random(8 * nwords) < 0.4).astype(np.uint8)
    r = (rng.random(8 * nwords) < 0.6).astype(np.uint8)
    got = K.binary_counts(p.view(np.uint64), r.view(np.uint64), block, nchunks)
    assert got.tolist() == list(numpy_counts(p, r)) + [0, 0]


def test_binary_kernel_full_byte_lanes():
    """All ones over many full blocks of 255 words: every byte lane reaches 255, and no carry leaks."""
    n = 8 * (255 * 5 + 3)
    ones = np.ones(n, np.uint8)
    got = K.binary_counts(ones.view(np.uint64), ones.view(np.uint64), 255, 2)
    assert got.tolist() == [n, n, n, 0, 0]
    assert tuning.COUNT_BLOCK <= 255  # the byte lanes' bound (kernel docstring)


@pytest.mark.parametrize("n", [SMALL + 13, 100_003])
@pytest.mark.parametrize("where", ["first", "middle", "last_word", "tail"])
@pytest.mark.parametrize("value", [2, 255])
@pytest.mark.parametrize("which", ["pred", "ref"])
def test_values_above_one_detected(n, where, value, which):
    p = random_mask(n, 0.3, 1)
    r = random_mask(n, 0.3, 2)
    pos = {"first": 0, "middle": n // 2 + 3, "last_word": n // 8 * 8 - 1, "tail": n - 1}[where]
    bad = p if which == "pred" else r
    bad[pos] = value
    with pytest.raises(ValueError, match=which):
        C.binary_counts(p, r)
    with pytest.raises(ValueError):
        fastseg.confusion(p, r)


@pytest.mark.parametrize("which", [0, 1])
def test_binary_kernel_flags_the_array_holding_the_value(which):
    a = [np.zeros(8 * 1000, np.uint8), np.zeros(8 * 1000, np.uint8)]
    a[which][5001] = 3
    got = K.binary_counts(a[0].view(np.uint64), a[1].view(np.uint64), 240, 7)
    assert got[3 + which] == 1 and got[4 - which] == 0


@pytest.mark.parametrize("offset", [1, 3, 7])
def test_binary_counts_misaligned_views(offset):
    n = 3 * SMALL + 5
    base_p = random_mask(n + 16, 0.4, offset)
    base_r = random_mask(n + 16, 0.4, offset + 10)
    p = base_p[offset:offset + n]
    r = base_r[offset + 1:offset + 1 + n]  # misaligned differently from p
    assert p.ctypes.data % 8 and r.ctypes.data % 8 != p.ctypes.data % 8
    assert C.binary_counts(p, r) == numpy_counts(p, r)
    shape = (3, SMALL // 64, 64)
    pv = base_p[offset:offset + int(np.prod(shape))].view(bool).reshape(shape)
    rv = base_r[offset + 1:offset + 1 + int(np.prod(shape))].view(bool).reshape(shape)
    c = fastseg.confusion(pv, rv)
    assert (c.tp, c.tp + c.fp, c.tp + c.fn) == numpy_counts(pv, rv)


def test_binary_counts_fortran_order_and_views():
    rng = np.random.default_rng(5)
    p = rng.random((37, 41, 29)) < 0.3
    r = rng.random((37, 41, 29)) < 0.3
    want = numpy_counts(p, r)
    for a, b in [(np.asfortranarray(p), np.asfortranarray(r)), (np.asfortranarray(p), r), (p[:, ::-1], r[:, ::-1]),
                 (p.transpose(1, 0, 2), r.transpose(1, 0, 2))]:
        c = fastseg.confusion(a, b)
        assert (c.tp, c.tp + c.fp, c.tp + c.fn) == want


def test_binary_counts_thread_count_independent():
    p = random_mask((1 << 19) + 3, 0.2, 8).reshape(-1)
    r = random_mask((1 << 19) + 3, 0.2, 9).reshape(-1)
    results = {fastseg.confusion(p, r, threads=t) for t in (1, 2, None)}
    assert len(results) == 1
    (c,) = results
    assert (c.tp, c.tp + c.fp, c.tp + c.fn) == numpy_counts(p, r)


# ------------------------------------------------------------------------- label-map confusion

def reference_label_confusion(pred, ref):
    """Labels, matrix (np.bincount) and boxes (np.nonzero) of two label maps, 3D or less."""
    labels = np.union1d(np.unique(pred), np.unique(ref))
    ip = np.searchsorted(labels, pred.reshape(-1))
    ir = np.searchsorted(labels, ref.reshape(-1))
    k = labels.size
    m = np.bincount(ir * k + ip, minlength=k * k).reshape(k, k)
    boxes = []
    for a in (pred, ref):
        bb = np.empty((k, 2 * a.ndim), np.int64)
        for i, lab in enumerate(labels):
            idx = np.nonzero(a == lab)
            if idx[0].size == 0:
                bb[i, 0::2], bb[i, 1::2] = 1, 0  # absent: min > max
            else:
                bb[i, 0::2] = [x.min() for x in idx]
                bb[i, 1::2] = [x.max() for x in idx]
        boxes.append(bb)
    return labels, m, boxes[0], boxes[1]


def check_labels(pred, ref, **kw):
    cm = fastseg.confusion_matrix(pred, ref, **kw)
    labels, m, bp, br = reference_label_confusion(np.asarray(pred), np.asarray(ref))
    assert cm.labels.tolist() == labels.tolist()
    assert np.array_equal(cm.matrix, m)
    for got, want in ((cm.bbox_pred, bp), (cm.bbox_ref, br)):
        present = want[:, 0] <= want[:, 1]
        assert np.array_equal(got[present], want[present])
        assert np.all(got[~present][:, 0::2] > got[~present][:, 1::2])
    return cm


def blobs(shape, labels, seed, n=12):
    """Boxes of random labels painted on background: long runs, crossing rows where a box spans them."""
    rng = np.random.default_rng(seed)
    a = np.zeros(shape, dtype=labels.dtype)
    for _ in range(n):
        lo = [int(rng.integers(0, s)) for s in shape]
        hi = [int(rng.integers(l, s)) + 1 for l, s in zip(lo, shape)]
        a[tuple(slice(l, h) for l, h in zip(lo, hi))] = rng.choice(labels)
    return a


def noise(shape, labels, seed, p_same=0.7):
    rng = np.random.default_rng(seed)
    p = rng.choice(labels, shape)
    r = np.where(rng.random(shape) < p_same, p, rng.choice(labels, shape))
    return p, r


LABEL_CASES = [
    ("uint8 few", np.uint8, [0, 1, 2]),
    ("uint8 many", np.uint8, list(range(0, 256, 1))),
    ("uint16 few", np.uint16, [0, 7, 60000]),
    ("uint16 many", np.uint16, list(range(0, 3000, 3))),
]
LABEL_SHAPES = [(3, 50, 67), (2, 33, 9), (1, 1, 7000), (5, 300, 3), (4, 16, 64), (40, 41), (1001,)]


@pytest.mark.parametrize("name, dtype, values", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
@pytest.mark.parametrize("shape", LABEL_SHAPES, ids=str)
def test_label_confusion_equals_bincount_and_boxes(name, dtype, values, shape):
    labels = np.array(values, dtype=dtype)
    seed = int(np.prod(shape)) + len(values)
    check_labels(blobs(shape, labels, seed), blobs(shape, labels, seed + 1))  # long runs
    p, r = noise(shape, labels, seed)
    check_labels(p, r)  # runs of one or a few voxels
    q = blobs(shape, labels, seed)
    check_labels(q, q.copy())  # pred == ref


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_label_confusion_uniform_maps_one_run_per_chunk(dtype):
    """A map of one label: one run through every row of each chunk (boxes span the whole map)."""
    for shape in [(7, 9, 11), (3, 1, 5), (64, 64, 64)]:
        a = np.full(shape, 5, dtype)
        cm = check_labels(a, a.copy())
        assert cm.bbox_pred.tolist() == [[0, shape[0] - 1, 0, shape[1] - 1, 0, shape[2] - 1]]
        b = a.copy()
        b[-1, -1, -1] = 6
        check_labels(a, b)
        b = a.copy()
        b[1 % shape[0], 0, 0] = 0  # a run crossing rows and planes, ending mid-map
        check_labels(b, a)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("offset", [1, 2, 5])
def test_label_confusion_misaligned_views(dtype, offset):
    """C-contiguous views that do not start on an 8-byte boundary (copied to aligned words)."""
    shape = (6, 17, 23)
    n = int(np.prod(shape))
    labels = np.array([0, 3, 4, 9], dtype)
    bp = np.concatenate([blobs((n,), labels, 3, n=40), np.zeros(8, dtype)])
    br = np.concatenate([blobs((n,), labels, 4, n=40), np.zeros(8, dtype)])
    p = bp[offset:offset + n].reshape(shape)
    r = br[offset + 1:offset + 1 + n].reshape(shape)
    assert p.flags.c_contiguous and p.ctypes.data % 8
    check_labels(p, r)


def test_label_confusion_fortran_order_and_threads():
    labels = np.arange(11, dtype=np.uint8)
    p = blobs((37, 45, 51), labels, 11, n=30)
    r = blobs((37, 45, 51), labels, 12, n=30)
    a = check_labels(p, r, threads=1)
    b = check_labels(p, r, threads=2)
    f = check_labels(np.asfortranarray(p), np.asfortranarray(r))
    for x in (b, f):
        assert np.array_equal(a.matrix, x.matrix)
        assert np.array_equal(a.bbox_pred, x.bbox_pred) and np.array_equal(a.bbox_ref, x.bbox_ref)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(3, 50, 67), (2, 5, 3), (1, 1, 1000), (9, 64, 16)], ids=str)
def test_label_kernel_blocks_and_chunks(dtype, shape):
    """The kernel itself: any test block and any chunking give the same matrix and boxes."""
    labels = np.array([0, 1, 2, 200], dtype)
    p = blobs(shape, labels, 5, n=20)
    r = np.where(np.random.default_rng(6).random(shape) < 0.05, labels[3], blobs(shape, labels, 7, n=20)).astype(dtype)
    k = 256 if dtype == np.uint8 else tuning.LABEL_CODES
    pf, pw, wshift = C._aligned_words(p.reshape(-1))
    rf, rw, _ = C._aligned_words(r.reshape(-1))
    assert wshift == (3 if dtype == np.uint8 else 2)
    _, m, bp, br = reference_label_confusion(p, r)
    present = np.union1d(np.unique(p), np.unique(r)).astype(np.int64)
    lut = np.zeros(k, np.int64)
    lut[present] = np.arange(present.size)
    for block in (1, 2, tuning.RUN_BLOCK):
        for nchunks in (1, 5, 16):
            cm, bbp, bbr = K.label_confusion(pf, rf, pw, rw, *shape, lut, lut, present.size, wshift, block, nchunks)
            assert np.array_equal(cm, m), (block, nchunks)
            for got, want in ((bbp, bp), (bbr, br)):
                ok = want[:, 0] <= want[:, 1]
                assert np.array_equal(got[ok], want[ok]), (block, nchunks)
                assert np.all(got[~ok][:, 0::2] > got[~ok][:, 1::2])


def test_counts_and_box_binary_masks():
    """The binary pair through the label pass (the surface metrics' first step): counts and union box."""
    rng = np.random.default_rng(3)
    for shape in [(20, 31, 45), (64, 64), (5, 1, 9)]:
        p = np.zeros(shape, np.uint8)
        r = np.zeros(shape, np.uint8)
        p[tuple(slice(s // 4, s // 2 + 1) for s in shape)] = 1
        r[tuple(slice(s // 3, 3 * s // 4 + 1) for s in shape)] = 1
        p |= (rng.random(shape) < 0.01).astype(np.uint8)
        n_pred, n_ref, box = C.counts_and_box(p, r)
        assert (n_pred, n_ref) == (int(p.sum()), int(r.sum()))
        idx = np.nonzero(p | r)
        assert box == tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
        bad = p.copy()
        bad.reshape(-1)[-1] = 2
        with pytest.raises(ValueError):
            C.counts_and_box(bad, r)
    empty = np.zeros((4, 5, 6), np.uint8)
    assert C.counts_and_box(empty, empty) == (0, 0, None)


# ------------------------------------------------------------------------ the roofline machinery

def test_roofline_small_dry_run(tmp_path):
    """``bench.roofline`` on the small cases: values checked, every stage measured, the docs section
    replaced in place; the gate's verdict follows the fraction (numbers on small cases mean nothing)."""
    from bench import roofline

    result = roofline.measure("small", repeats=1, threads=(1,))
    assert [s["name"] for s in result["stages"]] == ["binary confusion", "label confusion", "boundary extraction"]
    for s in result["stages"]:
        assert s["bytes"] > 0 and s["per_threads"]["1"]["gbs"] > 0 and s["probe"]["gbs"] > 0
    page = tmp_path / "benchmarks.md"
    page.write_text("# page\n\n## Targets\n\ntext\n\n## Results per case\n\nrows\n")
    roofline.write_docs(result, page)
    roofline.write_docs(result, page)  # replaced, not added twice
    text = page.read_text()
    assert text.count(roofline.BEGIN) == 1 and text.count(roofline.END) == 1
    assert text.index("## Targets") < text.index(roofline.BEGIN) < text.index("## Results per case")
    for s in result["stages"]:
        s["per_threads"]["1"]["fraction"] = 0.4
    bad = roofline.failures(result, 1)
    assert [b.split(":")[0] for b in bad] == ["roofline binary confusion/organ", "roofline label confusion/organs10"]
    for s in result["stages"]:
        s["per_threads"]["1"]["fraction"] = roofline.GATE_FRACTION
    assert roofline.failures(result, 1) == []
