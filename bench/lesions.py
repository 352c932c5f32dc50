"""``python -m bench.lesions [--size small|full] [--repeats N] [--json PATH]``: lesion-wise evaluation,
fastseg against the peers on the same pair, in one run.

The case (issue 14): a 256x512x512 volume at 1 x 1 x 1 mm with 150 reference lesions (balls of radius
2-12 voxels), and a prediction that misses 20 of them, adds 30 spurious ones, shifts and erodes the
others, splits some in two and merges some neighbours; ``small`` scales it down for a smoke run.

Rows (each value checked against the peer before timing):

- ``panoptica``: ``fastseg.lesions(rule="panoptica")`` against panoptica's ``Panoptica_Evaluator``
  (connected components + naive threshold matching; optional: skipped when not installed);
- ``brats2023``: ``fastseg.lesions(rule="brats2023-gli")`` against the published BraTS 2023 procedure
  (``tests.test_lesions.ref_brats``: components, a whole-volume dilation per lesion, surface-distance);
- ``components``: fastseg's connected components against ``cc3d`` and ``scipy.ndimage.label``
  (26-connectivity, one thread).
"""
import argparse
import json
import sys
import time
import warnings

import numpy as np


def lesion_case(size="full", seed=0):
    """``(pred, ref, spacing)`` bool masks of the lesion benchmark."""
    rng = np.random.default_rng(seed)
    shape, n, rmax = ((256, 512, 512), 150, 12) if size == "full" else ((48, 96, 96), 20, 5)
    ref = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    centres = [tuple(int(rng.integers(r, s - r)) for s, r in zip(shape, (rmax, rmax, rmax))) for _ in range(n)]
    radii = rng.uniform(2, rmax, n)
    miss = set(rng.choice(n, n * 2 // 15, replace=False).tolist())
    split = set(rng.choice(sorted(set(range(n)) - miss), n // 15, replace=False).tolist())

    def ball(out, c, r, value=True):
        lo = [max(0, ci - int(r) - 1) for ci in c]
        hi = [min(s, ci + int(r) + 2) for ci, s in zip(c, shape)]
        g = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        inside = sum((gi - ci) ** 2 for gi, ci in zip(g, c)) <= r * r
        view = out[tuple(slice(a, b) for a, b in zip(lo, hi))]
        view[inside] = value

    for k, (c, r) in enumerate(zip(centres, radii)):
        ball(ref, c, r)
        if k in miss:
            continue
        shifted = tuple(ci + int(d) for ci, d in zip(c, rng.integers(-1, 2, 3)))
        ball(pred, shifted, max(1.5, r * rng.uniform(0.8, 1.1)))
        if k in split:  # a cut through the middle: two predicted pieces
            pred[shifted[0], :, :] = False
    for _ in range(n // 5):  # spurious lesions
        c = tuple(int(rng.integers(4, s - 4)) for s in shape)
        ball(pred, c, rng.uniform(1.5, 4))
    return pred, ref, (1.0, 1.0, 1.0)


def _timed(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def run(size="full", repeats=3, only=None):
    import fastseg

    pred, ref, sp = lesion_case(size)
    rows = []
    fastseg.lesions(pred[:8], ref[:8], spacing=sp)  # compile / load the kernels outside the timing

    # panoptica
    try:
        import panoptica as pan
    except ImportError:
        pan = None
    if pan is not None and (not only or "panoptica" in only):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = pan.Panoptica_Evaluator(expected_input=pan.InputType.SEMANTIC,
                                         instance_approximator=pan.ConnectedComponentsInstanceApproximator(),
                                         instance_matcher=pan.NaiveThresholdMatching(), log_times=False)
            ev.evaluate(pred[:8].astype(np.uint8), ref[:8].astype(np.uint8), verbose=False)  # its warm-up too
            t_peer, want = _timed(lambda: ev.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), verbose=False)
                                  ["ungrouped"], 1)
        t_fs, got = _timed(lambda: fastseg.lesions(pred, ref, spacing=sp, rule="panoptica"), repeats)
        c = got.case
        assert (c["tp"], c["fp"], c["fn"]) == (want.tp, want.fp, want.fn), "panoptica: counts differ"
        assert abs(c["pq"] - want.pq) <= 1e-12, "panoptica: PQ differs"
        rows.append({"row": "panoptica", "fastseg_s": t_fs, "peer_s": t_peer, "ratio": t_peer / t_fs,
                     "tp": c["tp"], "fp": c["fp"], "fn": c["fn"]})
    elif pan is None:
        rows.append({"row": "panoptica", "skipped": "panoptica not installed"})
    if not only or "brats2023" in only:
        rows.append(_brats_row(fastseg, pred, ref, sp, repeats))
    if not only or "components" in only:
        rows.append(_components_row(ref, repeats))
    return {"size": size, "shape": list(ref.shape), "rows": rows}


def _brats_row(fastseg, pred, ref, sp, repeats):
    from tests.test_lesions import ref_brats

    t_peer, want = _timed(lambda: ref_brats(pred, ref, sp, 3, 50.0), 1)
    t_fs, got = _timed(lambda: fastseg.lesions(pred, ref, spacing=sp, rule="brats2023-gli"), repeats)
    for k in ("tp", "fn", "fp"):
        assert got.case[k] == want[k], f"brats2023: {k} differs"
    assert abs(got.case["lesionwise_dice"] - want["lesionwise_dice"]) <= 1e-12
    assert abs(got.case["lesionwise_hd95"] - want["lesionwise_hd95"]) <= 1e-9 * max(1.0, want["lesionwise_hd95"])
    return {"row": "brats2023", "fastseg_s": t_fs, "peer_s": t_peer, "ratio": t_peer / t_fs,
            "lesionwise_dice": got.case["lesionwise_dice"], "lesionwise_hd95": got.case["lesionwise_hd95"]}


def _components_row(ref, repeats):
    from scipy import ndimage

    from fastseg._engine.components import label_components
    from fastseg._kernels._jit import thread_limit

    m = np.ascontiguousarray(ref.view(np.uint8))
    with thread_limit(1):
        t_fs, (lab, n) = _timed(lambda: label_components(m, 26), repeats)
    t_sp, (lab_sp, n_sp) = _timed(lambda: ndimage.label(m, structure=np.ones((3, 3, 3))), repeats)
    assert n == n_sp and np.array_equal(lab, lab_sp), "components differ from scipy.ndimage.label"
    row = {"row": "components", "fastseg_s": t_fs, "scipy_s": t_sp, "ratio_scipy": t_sp / t_fs}
    try:
        import cc3d
        t_cc, _ = _timed(lambda: cc3d.connected_components(m, connectivity=26), repeats)
        row.update(cc3d_s=t_cc, ratio_cc3d=t_cc / t_fs)
    except ImportError:
        row["cc3d"] = "not installed"
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="full", choices=("full", "small"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", action="append", choices=("panoptica", "brats2023", "components"))
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    res = run(a.size, a.repeats, a.only)
    for r in res["rows"]:
        print(json.dumps(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
