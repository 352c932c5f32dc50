"""Connected components: ``fastseg._engine.components.label_components`` (on one thread, and on
numba's threads) against cc3d (``connected_components``, 26-connectivity) and
``scipy.ndimage.label``; and ``component_stats`` against ``scipy.ndimage.find_objects`` +
``np.bincount``.

Case (generated here, seeded): a lesion-like mask, ~150 balls of radius 2-12 voxels scattered in a
256 x 512 x 512 uint8 volume (``full``); 40 x 96 x 96 with 12 balls of radius 1-5 (``small``, the
smoke run). Every tool's labels are checked before timing: fastseg's equal scipy's exactly (same
numbering), cc3d's up to the numbering.
"""
import os
import time

import numpy as np
import pytest
from scipy import ndimage

from fastseg._engine.components import component_stats, label_components
from fastseg._kernels._jit import thread_limit

SHAPES = {"full": ((256, 512, 512), 150, (2.0, 12.0)), "small": ((40, 96, 96), 12, (1.0, 5.0))}
TOOLS = ("fastseg-1thread", "fastseg", "cc3d", "scipy")

_CASES = {}


def lesion_mask(size):
    """The seeded lesion-like mask of ``size`` (cached per process; read-only)."""
    if size not in _CASES:
        shape, n, (r_lo, r_hi) = SHAPES[size]
        rng = np.random.default_rng(12)
        mask = np.zeros(shape, np.uint8)
        for _ in range(n):
            r = rng.uniform(r_lo, r_hi)
            c = [rng.uniform(0, s) for s in shape]
            lo = [max(0, int(np.floor(ci - r))) for ci in c]
            hi = [min(s, int(np.ceil(ci + r)) + 1) for ci, s in zip(c, shape)]
            z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            ball = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
            mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= ball.astype(np.uint8)
        mask.setflags(write=False)
        labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
        _CASES[size] = (mask, labels, count)
    return _CASES[size]


def _fastseg_1thread(mask):
    with thread_limit(1):
        return label_components(mask, 26)


def _fastseg(mask):
    return label_components(mask, 26)


def _cc3d(mask):
    import cc3d

    return cc3d.connected_components(mask, connectivity=26, return_N=True)


def _scipy(mask):
    return ndimage.label(mask, structure=np.ones((3, 3, 3)))


RUN = {"fastseg-1thread": _fastseg_1thread, "fastseg": _fastseg, "cc3d": _cc3d, "scipy": _scipy}


def _check(tool, got, want, n_want):
    labels, n = got
    assert int(n) == n_want, f"{tool}: {n} components, scipy {n_want}"
    if tool.startswith("fastseg") or tool == "scipy":
        assert np.array_equal(labels, want), f"{tool}: labels differ from scipy's"
    else:  # the same partition, numbered otherwise
        fg = want != 0
        assert np.array_equal(np.asarray(labels) != 0, fg)
        pairs = np.unique(np.stack([want[fg], np.asarray(labels)[fg].astype(np.int64)]), axis=1)
        assert pairs.shape[1] == n_want, f"{tool}: not the same components as scipy's"


def _time(benchmark, fn, arg, first):
    budget = float(os.environ.get("FASTSEG_BENCH_BUDGET", "3"))
    rounds = max(3, min(30, int(budget / max(first, 1e-6))))
    return benchmark.pedantic(fn, args=(arg,), rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("tool", TOOLS)
def test_label_components(benchmark, bench_size, tool):
    if tool == "cc3d":
        pytest.importorskip("cc3d")
    mask, want, n_want = lesion_mask(bench_size)
    fn = RUN[tool]
    t0 = time.perf_counter()
    got = fn(mask)  # also the warm-up: numba kernels load or compile here
    first = time.perf_counter() - t0
    _check(tool, got, want, n_want)
    benchmark.group = f"components / lesions {bench_size}"
    benchmark.extra_info.update(task="components", case="lesions", size=bench_size, tool=tool,
                                shape=list(mask.shape), components=n_want, first_call_s=first)
    if benchmark.disabled:
        benchmark.pedantic(fn, args=(mask,), rounds=1, iterations=1)
        return
    _time(benchmark, fn, mask, first)


def _stats_fastseg(labels):
    with thread_limit(1):
        return component_stats(labels, int(labels.max()))


def _stats_scipy(labels):
    n = int(labels.max())
    return np.bincount(labels.ravel(), minlength=n + 1), ndimage.find_objects(labels, max_label=n)


@pytest.mark.parametrize("tool", ("fastseg-1thread", "scipy"))
def test_component_stats(benchmark, bench_size, tool):
    mask, want, n_want = lesion_mask(bench_size)
    labels = label_components(mask)[0]
    fn = _stats_fastseg if tool == "fastseg-1thread" else _stats_scipy
    t0 = time.perf_counter()
    got = fn(labels)
    first = time.perf_counter() - t0
    sizes, boxes = _stats_fastseg(labels) if tool != "fastseg-1thread" else got
    ref_sizes, ref_slices = _stats_scipy(labels)
    assert np.array_equal(sizes, ref_sizes)
    assert all(boxes[i + 1].tolist() == [v for s in sl for v in (s.start, s.stop - 1)]
               for i, sl in enumerate(ref_slices))
    benchmark.group = f"component stats / lesions {bench_size}"
    benchmark.extra_info.update(task="component_stats", case="lesions", size=bench_size, tool=tool,
                                components=n_want, first_call_s=first)
    if benchmark.disabled:
        benchmark.pedantic(fn, args=(labels,), rounds=1, iterations=1)
        return
    _time(benchmark, fn, labels, first)
