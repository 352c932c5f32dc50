"""The plastimatch distance map (fastseg._kernels.danielsson) against a plain transcription of
plastimatch's sweeps: the kernel tests the steps of the sweeps along ``i`` 64 at a time and walks only
the chains of takes; the result must be the same float32 bits as the plain sweeps."""
import numpy as np
import pytest

from fastseg._kernels import danielsson as kd

BIG = np.float32(3.4028234663852886e38)


def plain_danielsson(features, sp2):
    """plastimatch's vector propagation step by step (float32 scalars, no shortcut)."""
    nk, nj, ni = features.shape
    s0, s1, s2 = (np.float32(x) for x in sp2)
    one = np.float32(1.0)
    known = features != 0
    vec = np.where(known[..., None], np.float32(0.0), np.full(3, BIG)).astype(np.float32)  # (k, j, i, 3): di dj dk
    sq = np.where(known, np.float32(0.0), np.float32(np.inf)).astype(np.float32)

    def offer(target, a, b, c):
        s = a * a * s0 + b * b * s1 + c * c * s2
        if s < sq[target]:
            vec[target] = (a, b, c)
            sq[target] = s

    def along(k, j):
        for i in range(1, ni):
            a, b, c = vec[k, j, i - 1]
            offer((k, j, i), a + one, b, c)
        for i in range(ni - 2, -1, -1):
            a, b, c = vec[k, j, i + 1]
            offer((k, j, i), a + one, b, c)

    def plane(k):
        along(k, 0)
        for j in range(1, nj):
            for i in range(ni):
                a, b, c = vec[k, j - 1, i]
                offer((k, j, i), a, b + one, c)
            along(k, j)
        for j in range(nj - 2, -1, -1):
            for i in range(ni):
                a, b, c = vec[k, j + 1, i]
                offer((k, j, i), a, b + one, c)
            along(k, j)

    def across_k(src, dst):
        for j in range(nj):
            for i in range(ni):
                a, b, c = vec[src, j, i]
                offer((dst, j, i), a, b, c + one)

    with np.errstate(over="ignore"):  # an unknown vector's square overflows to inf, as in float32 C
        plane(0)
        for k in range(1, nk):
            across_k(k - 1, k)
            plane(k)
        for k in range(nk - 2, -1, -1):
            across_k(k + 1, k)
            plane(k)
        a, b, c = vec[..., 0], vec[..., 1], vec[..., 2]
        d = np.sqrt(a * a * s0 + b * b * s1 + c * c * s2)
    return np.where(d >= BIG, BIG, d).astype(np.float32)


def cases():
    rng = np.random.default_rng(16)
    out = []
    for n in range(24):
        shape = tuple(int(x) for x in rng.integers(1, 9, 3))
        density = [0.02, 0.1, 0.4][n % 3]
        f = (rng.random(shape) < density).astype(np.uint8)
        sp = rng.choice([0.3, 0.8, 1.0, 2.5, 3.1], 3)
        out.append((f, sp))
    ring = np.zeros((3, 9, 11), np.uint8)
    ring[1, 2:7, 2:9] = 1
    ring[1, 3:6, 3:8] = 0
    out.append((ring, np.array([2.5, 0.8, 0.7])))
    out.append((np.zeros((2, 4, 5), np.uint8), np.ones(3)))  # no feature: the float32 maximum
    single = np.zeros((1, 1, 6), np.uint8)
    single[0, 0, 4] = 1
    out.append((single, np.ones(3)))  # 2D-like and 1D-like grids
    for ni in (16, 17, 41):
        f = (rng.random((3, 5, ni)) < 0.03).astype(np.uint8)
        out.append((f, np.array([2.5, 0.8, 0.7])))
    # rows of one word of test bits or more (64 steps at a time, the last word overlapping the one
    # before), sparse and dense so that chains of takes cross words, in both directions
    for n, ni in enumerate((63, 64, 65, 66, 127, 128, 129, 130, 200, 255)):
        density = [0.004, 0.03, 0.3][n % 3]
        f = (rng.random((2, 4, ni)) < density).astype(np.uint8)
        out.append((f, np.array([2.5, 0.8, 0.7])))
    long_row = np.zeros((1, 3, 300), np.uint8)
    long_row[0, 1, 5] = 1  # one chain the length of the row, forward and backward
    long_row[0, 2, 290] = 1
    out.append((long_row, np.array([1.0, 0.6, 0.6])))
    out.append((np.zeros((1, 2, 150), np.uint8), np.ones(3)))  # long rows, no feature
    for shape in ((1, 1, 1), (1, 1, 2), (1, 2, 1), (2, 1, 1)):  # a single voxel; rows of one voxel
        f = np.zeros(shape, np.uint8)
        f.flat[-1] = 1
        out.append((f, np.ones(3)))
    out.append((np.zeros((1, 1, 1), np.uint8), np.ones(3)))
    f2d = (rng.random((1, 37, 90)) < 0.02).astype(bool)  # 2D data, bool features
    out.append((f2d, np.array([1.0, 0.35, 0.35])))
    f = (rng.random((4, 6, 70)) < 0.05).astype(np.uint8)
    out.append((f, np.array([5.0, 0.3, 1.7])))  # strongly anisotropic
    return out


@pytest.mark.parametrize("case", range(len(cases())))
def test_same_bits_as_the_plain_sweeps(case):
    f, sp = cases()[case]
    sp2 = (np.asarray(sp, np.float32) ** 2).astype(np.float32)
    want = plain_danielsson(f, sp2)
    got = kd.danielsson(f, sp2)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    query = np.arange(f.size, dtype=np.int64)[::2]
    scratch = np.full((kd.SCRATCH_ROWS, f.size), np.float32(7.0))  # any content
    at = kd.danielsson_at(f, sp2, query, scratch)
    np.testing.assert_array_equal(at.view(np.uint32), want.reshape(-1)[query].view(np.uint32))
    again = kd.danielsson_at(f, sp2, query, scratch)  # the scratch of the previous map reused
    np.testing.assert_array_equal(again, at)


def test_no_feature_gives_the_float32_maximum():
    f = np.zeros((2, 3, 4), np.uint8)
    assert (kd.danielsson(f, np.ones(3, np.float32)) == BIG).all()


def long_row_cases():
    """Random grids of rows longer than a word of test bits, at densities from sparse to dense."""
    rng = np.random.default_rng(3)
    out = []
    for n in range(40):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(60, 200)))
        f = (rng.random(shape) < [0.005, 0.02, 0.08, 0.3][n % 4]).astype(np.uint8)
        sp = rng.choice([0.3, 0.8, 1.0, 2.5, 3.1, 7.0], 3)
        out.append((f, sp))
    return out


@pytest.mark.parametrize("case", range(len(long_row_cases())))
def test_same_bits_as_the_plain_sweeps_long_rows(case):
    f, sp = long_row_cases()[case]
    sp2 = (np.asarray(sp, np.float32) ** 2).astype(np.float32)
    want = plain_danielsson(f, sp2)
    np.testing.assert_array_equal(kd.danielsson(f, sp2).view(np.uint32), want.view(np.uint32))


def seeded_case(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 10)), int(rng.integers(60, 140)))
    f = (rng.random(shape) < [0.02, 0.08, 0.3][seed % 3]).astype(np.uint8)
    sp = rng.choice([0.3, 0.8, 1.0, 2.5, 3.1, 7.0], 3)
    return f, sp


# Grids (found by search) where a word of test bits has a bit set inside a chain of takes, in the
# forward or the backward sweep along i: a bit the chain made stale, which the walk must not follow.
@pytest.mark.parametrize("seed", [2536, 97, 2828, 3836, 5470, 5301, 4364, 3797, 1585, 983])
def test_same_bits_as_the_plain_sweeps_stale_bits(seed):
    f, sp = seeded_case(seed)
    sp2 = (np.asarray(sp, np.float32) ** 2).astype(np.float32)
    want = plain_danielsson(f, sp2)
    np.testing.assert_array_equal(kd.danielsson(f, sp2).view(np.uint32), want.view(np.uint32))


def test_same_bits_as_the_plain_sweeps_on_a_larger_grid():
    """Several planes of long rows with ring-shaped features: many chains of takes, in every sweep."""
    rng = np.random.default_rng(7)
    k, j, i = np.meshgrid(np.arange(5), np.arange(23), np.arange(150), indexing="ij")
    r = np.sqrt(((i - 70) * 0.7) ** 2 + ((j - 11) * 0.9) ** 2 + ((k - 2) * 2.5) ** 2)
    f = ((np.abs(r - 20) < 0.8) | (rng.random(r.shape) < 0.002)).astype(np.uint8)
    sp2 = (np.asarray([0.7, 0.9, 2.5], np.float32) ** 2).astype(np.float32)
    want = plain_danielsson(f, sp2)
    np.testing.assert_array_equal(kd.danielsson(f, sp2).view(np.uint32), want.view(np.uint32))


# Both sweeps along i share one test: the backward flags are corrected where the forward walk changed
# the row (cleared under a chain, set again at the voxel before the one where it stopped). Short
# dense rows with anisotropic spacing: many forward chains followed by backward takes next to them.
@pytest.mark.parametrize("seed", range(16))
def test_same_bits_as_the_plain_sweeps_backward_after_forward_chains(seed):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(2, 7)), int(rng.integers(5, 90)))
    f = (rng.random(shape) < [0.05, 0.15, 0.3][seed % 3]).astype(np.uint8)
    sp = rng.choice([0.3, 0.5, 1.0, 2.5, 7.0], 3)
    sp2 = (np.asarray(sp, np.float32) ** 2).astype(np.float32)
    want = plain_danielsson(f, sp2)
    np.testing.assert_array_equal(kd.danielsson(f, sp2).view(np.uint32), want.view(np.uint32))
    query = np.arange(f.size, dtype=np.int64)[::-1]
    scratch = np.full((kd.SCRATCH_ROWS, f.size), np.float32(-3.0))
    at = kd.danielsson_at(f, sp2, query, scratch)
    np.testing.assert_array_equal(at.view(np.uint32), want.reshape(-1)[query].view(np.uint32))
