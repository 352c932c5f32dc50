"""The bit counts of ``fastseg._kernels._jit`` (used by the Danielsson sweeps to walk set bits): numba's
LLVM intrinsics where this numba has them, and the loops that replace them otherwise, give the same
counts as Python's integer arithmetic."""
import numba
import numpy as np

from fastseg._kernels import _jit


@numba.njit
def _counts(words, out):
    for t in range(words.size):
        m = words[t]
        out[t, 0] = _jit.trailing_zeros(m)
        out[t, 1] = _jit.leading_zeros(m)
        out[t, 2] = _jit.trailing_zeros_loop(m)
        out[t, 3] = _jit.leading_zeros_loop(m)


def test_bit_counts_equal_pythons():
    rng = np.random.default_rng(5)
    singles = [1 << k for k in range(64)]
    mixed = rng.integers(1, 2 ** 63, 2000, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 2000, dtype=np.uint64)
    shifted = [int(x) >> int(s) for x, s in zip(mixed[:500], rng.integers(0, 63, 500))]
    words = np.array(singles + [int(x) for x in mixed] + [max(x, 1) for x in shifted] + [2 ** 64 - 1], np.uint64)
    out = np.empty((words.size, 4), np.int64)
    _counts(words, out)
    want_t = [(int(w) & -int(w)).bit_length() - 1 for w in words]
    want_l = [64 - int(w).bit_length() for w in words]
    assert out[:, 0].tolist() == want_t and out[:, 2].tolist() == want_t
    assert out[:, 1].tolist() == want_l and out[:, 3].tolist() == want_l
