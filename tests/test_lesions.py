"""Lesion-wise evaluation (fastseg.lesions) against independent references written here from each
rule's published definition (explicit loops over scipy.ndimage.label components, brute-force
matching, DeepMind's surface-distance for BraTS's HD95), hand-built split / merge / miss / spurious
cases worked out by hand, invariants, and parity with panoptica where it is installed.
"""
import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

import fastseg
from fastseg.metrics.lesions import RULES, LesionRule, lesions


def _blobs(shape, n, rng, rmax=3):
    m = np.zeros(shape, bool)
    grid = np.indices(shape)
    for _ in range(n):
        c = [rng.integers(0, s) for s in shape]
        r = rng.uniform(0.6, rmax)
        m |= sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r
    return m


def _pair(seed, shape=(12, 20, 20)):
    """A reference with a few lesions and a prediction that keeps, moves, drops and adds some."""
    rng = np.random.default_rng(seed)
    ref = _blobs(shape, int(rng.integers(0, 6)), rng)
    pred = ndimage.shift(ref.astype(float), [int(x) for x in rng.integers(-1, 2, len(shape))], order=0) > 0.5
    pred &= rng.random(shape) > 0.05
    pred |= _blobs(shape, int(rng.integers(0, 3)), rng, rmax=1.8)
    if rng.random() < 0.3:
        lab, n = ndimage.label(pred)
        if n:
            pred[lab == rng.integers(1, n + 1)] = False
    return pred, ref


def _full(ndim):
    return ndimage.generate_binary_structure(ndim, ndim)


# ---------------------------------------------------------------------------------------- references

def ref_components(m):
    return ndimage.label(m, structure=_full(m.ndim))


def ref_greedy(pred, ref, threshold, strict):
    """Panoptica-style naive matching by explicit loops: every overlapping pair's IoU computed from
    the masks, pairs by decreasing IoU (ties: ref id, pred id), one-to-one."""
    rl, nr = ref_components(ref)
    pl, npr = ref_components(pred)
    pairs = []
    for i in range(1, nr + 1):
        for j in range(1, npr + 1):
            a, b = rl == i, pl == j
            inter = np.count_nonzero(a & b)
            if inter:
                pairs.append((-inter / np.count_nonzero(a | b), i, j))
    used_r, used_p, matched = set(), set(), []
    for s, i, j in sorted(pairs):
        if i in used_r or j in used_p:
            continue
        if -s > threshold or (-s == threshold and not strict):
            matched.append((i, j, -s))
            used_r.add(i)
            used_p.add(j)
    return nr, npr, matched


def ref_bipartite_total(pred, ref):
    """The largest total IoU of any one-to-one assignment (brute force over permutations)."""
    rl, nr = ref_components(ref)
    pl, npr = ref_components(pred)
    iou = np.zeros((nr, npr))
    for i in range(nr):
        for j in range(npr):
            a, b = rl == i + 1, pl == j + 1
            u = np.count_nonzero(a | b)
            iou[i, j] = np.count_nonzero(a & b) / u
    best = 0.0
    if nr <= npr:
        for perm in itertools.permutations(range(npr), nr):
            best = max(best, sum(iou[i, perm[i]] for i in range(nr)))
    else:
        for perm in itertools.permutations(range(nr), npr):
            best = max(best, sum(iou[perm[j], j] for j in range(npr)))
    return best


def ref_wmh(pred, ref):
    """The WMH challenge's lesion recall and F1 (its evaluation.py: fully connected components)."""
    rl, nr = ref_components(ref)
    pl, npr = ref_components(pred)
    recall = 1.0 if nr == 0 else len(set(np.unique(rl[pred])) - {0}) / nr
    precision = 1.0 if npr == 0 else len(set(np.unique(pl[ref])) - {0}) / npr
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return recall, precision, f1


def ref_brats(pred, ref, spacing, dilation, volume_threshold):
    """BraTS 2023 lesion-wise Dice and HD95 from the published procedure: reference components
    grouped by the components of the dilated reference, each lesion's dilation over the whole
    volume, predicted components intersecting it, Dice and surface-distance's HD95 per lesion,
    small lesions left out, 374 mm for false positives and infinities."""
    sd = pytest.importorskip("surface_distance")
    st2 = ndimage.generate_binary_structure(3, 2)
    full = _full(3)
    gt_cc, _ = ndimage.label(ref, structure=full)
    dil_cc, n_dil = ndimage.label(ndimage.binary_dilation(ref, structure=st2, iterations=dilation), structure=full)
    lesions_map = np.where(gt_cc > 0, dil_cc, 0)
    pred_cc, _ = ndimage.label(pred, structure=full)
    vox = float(np.prod(spacing))
    tp_ids, rows = set(), []
    for comp in range(1, n_dil + 1):
        gt = lesions_map == comp
        if not gt.any():
            continue
        grown = ndimage.binary_dilation(gt, structure=st2, iterations=dilation)
        hits = set(np.unique(pred_cc[grown])) - {0}
        tp_ids |= hits
        p = np.isin(pred_cc, list(hits))
        dice = 2.0 * np.count_nonzero(p & gt) / (np.count_nonzero(p) + np.count_nonzero(gt))
        # surface-distance gives inf for an empty prediction (its own np.Inf fails under NumPy 2)
        hd = sd.compute_robust_hausdorff(sd.compute_surface_distances(gt, p, spacing), 95) if p.any() else math.inf
        rows.append((np.count_nonzero(gt) * vox, bool(hits), dice, hd))
    fp = len(set(np.unique(pred_cc)) - {0} - tp_ids)
    kept = [r for r in rows if r[0] > volume_threshold]
    n = len(kept) + fp
    lw_dice = sum(r[2] for r in kept) / n if n else 1.0
    lw_hd = (sum(374.0 if math.isinf(r[3]) else r[3] for r in kept) + 374.0 * fp) / n if n else 0.0
    return {"tp": sum(r[1] for r in kept), "fn": sum(not r[1] for r in kept), "fp": fp,
            "lesionwise_dice": lw_dice, "lesionwise_hd95": lw_hd}


# ---------------------------------------------------------------------------------------- parity

SEEDS = range(30)


@pytest.mark.parametrize("seed", SEEDS)
def test_greedy_matching_equals_the_explicit_loop(seed):
    pred, ref = _pair(seed)
    for rule, thr, strict in (("fastseg", 0.5, True), ("panoptica", 0.5, False)):
        nr, npr, matched = ref_greedy(pred, ref, thr, strict)
        res = lesions(pred, ref, spacing=(2.5, 0.8, 0.8), rule=rule)
        c = res.case
        assert (c["n_ref"], c["n_pred"], c["tp"]) == (nr, npr, len(matched))
        assert (c["fn"], c["fp"]) == (nr - len(matched), npr - len(matched))
        got = sorted((r["ref_ids"][0], r["pred_ids"][0], r["iou"]) for r in res.instances if r["status"] == "tp")
        assert [(i, j) for i, j, _ in got] == sorted((i, j) for i, j, _ in matched)
        for (_, _, a), (_, _, b) in zip(got, sorted(matched)):
            assert a == pytest.approx(b, rel=1e-12)
        if matched:
            assert c["sq"] == pytest.approx(np.mean([m[2] for m in matched]), rel=1e-12)
        denom = len(matched) + 0.5 * (nr + npr - 2 * len(matched))
        if denom:
            assert c["rq"] == pytest.approx(len(matched) / denom) and c["pq"] == pytest.approx(c["sq"] * c["rq"])


@pytest.mark.parametrize("seed", SEEDS)
def test_bipartite_matching_is_maximal(seed):
    pred, ref = _pair(seed, shape=(10, 16, 16))
    if max(ref_components(ref)[1], ref_components(pred)[1]) > 7:
        pytest.skip("too many lesions for the brute-force permutations")
    res = lesions(pred, ref, rule="bipartite")
    total = sum(r["iou"] for r in res.instances if r["status"] == "tp")
    assert total == pytest.approx(ref_bipartite_total(pred, ref), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_wmh_detection_equals_the_challenge_definition(seed):
    pred, ref = _pair(seed)
    recall, precision, f1 = ref_wmh(pred, ref)
    c = lesions(pred, ref, rule="wmh").case
    assert (c["lesion_recall"], c["lesion_precision"]) == pytest.approx((recall, precision), rel=1e-12)
    assert c["lesion_f1"] == pytest.approx(f1, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule, dilation, threshold", [("brats2023-gli", 3, 50.0), ("brats2023-met", 1, 2.0)])
def test_brats2023_equals_the_published_procedure(seed, rule, dilation, threshold):
    pred, ref = _pair(seed, shape=(14, 22, 22))
    spacing = (1.5, 1.0, 0.9)
    assert_brats_case(lesions(pred, ref, spacing=spacing, rule=rule).case,
                      ref_brats(pred, ref, spacing, dilation, threshold))


def assert_brats_case(c, want):
    """A lesions() case against a BraTS reference: the counts exactly, lesion-wise Dice and HD95 to rounding."""
    for k in ("tp", "fn", "fp"):
        assert c[k] == want[k], k
    assert c["lesionwise_dice"] == pytest.approx(want["lesionwise_dice"], rel=1e-12)
    assert c["lesionwise_hd95"] == pytest.approx(want["lesionwise_hd95"], rel=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule, matcher", [("panoptica", "NaiveThresholdMatching"),
                                           ("panoptica-bipartite", "MaxBipartiteMatching")])
def test_panoptica_parity(seed, rule, matcher):
    pan = pytest.importorskip("panoptica")
    pred, ref = _pair(seed)
    if seed % 3 == 0:  # more pairs near the threshold: split some reference lesions
        pred = pred & ~(np.indices(pred.shape)[2] % 7 == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = pan.Panoptica_Evaluator(expected_input=pan.InputType.SEMANTIC,
                                     instance_approximator=pan.ConnectedComponentsInstanceApproximator(),
                                     instance_matcher=getattr(pan, matcher)(), log_times=False)
        want = ev.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), verbose=False)["ungrouped"]
    res = lesions(pred, ref, rule=rule)
    c = res.case
    assert (c["tp"], c["fp"], c["fn"]) == (want.tp, want.fp, want.fn)
    tp_dice = [r["dice"] for r in res.instances if r["status"] == "tp"]
    if tp_dice:  # panoptica's SQ on Dice: the mean Dice of the matched pairs
        assert np.mean(tp_dice) == pytest.approx(want.sq_dsc, rel=1e-12)
    for k in ("rq", "sq", "pq"):
        w = getattr(want, k)
        assert (math.isnan(c[k]) and math.isnan(w)) or c[k] == pytest.approx(w, rel=1e-12), k


def _close_pair(seed, shape=(12, 20, 20)):
    """Lesions predicted well (grown or shrunk by a voxel here and there, a few dropped, a few added):
    most are matched at IoU >= 0.5, so the per-lesion distances are compared on many pairs."""
    rng = np.random.default_rng(seed)
    ref = _blobs(shape, int(rng.integers(2, 6)), rng, rmax=3.5)
    lab, n = ndimage.label(ref, structure=_full(3))
    pred = np.zeros_like(ref)
    for i in range(1, n + 1):
        m = lab == i
        k = rng.integers(0, 4)
        pred |= m if k == 0 else ndimage.binary_dilation(m) if k == 1 else (ndimage.binary_erosion(m) | (m & (rng.random(shape) < 0.5)))
    pred |= _blobs(shape, int(rng.integers(0, 2)), rng, rmax=1.5)
    return pred, ref


@pytest.mark.parametrize("seed", SEEDS)
def test_panoptica_per_lesion_distances(seed):
    """panoptica's per-instance ASSD and HD95 (its instance metrics, averaged over the matched pairs)
    equal the ``panoptica`` rule's per-unit values."""
    pan = pytest.importorskip("panoptica")
    pred, ref = _close_pair(seed)
    res = lesions(pred, ref, rule="panoptica")
    tp = [r for r in res.instances if r["status"] == "tp"]
    if not tp:
        pytest.skip("no matched pair")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = pan.Panoptica_Evaluator(expected_input=pan.InputType.SEMANTIC,
                                     instance_approximator=pan.ConnectedComponentsInstanceApproximator(),
                                     instance_matcher=pan.NaiveThresholdMatching(), log_times=False,
                                     instance_metrics=[pan.Metric.DSC, pan.Metric.IOU, pan.Metric.ASSD,
                                                       pan.Metric.HD95])
        want = ev.evaluate(pred.astype(np.uint8), ref.astype(np.uint8), verbose=False)["ungrouped"]
    assert want.tp == len(tp)
    assert np.mean([r["assd"] for r in tp]) == pytest.approx(want.sq_assd, rel=1e-9)
    assert np.mean([r["hd95"] for r in tp]) == pytest.approx(want.sq_hd95, rel=1e-9)
    assert np.mean([r["dice"] for r in tp]) == pytest.approx(want.sq_dsc, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_per_lesion_distances_equal_the_single_metric_functions(seed):
    sp = (2.5, 0.8, 0.8)
    n_tp = 0
    pred, ref = _pair(seed)
    res = lesions(pred, ref, spacing=sp, tolerance=[1.0, 2.0], rule="bipartite")
    rl, _ = ref_components(ref)
    pl, _ = ref_components(pred)
    for r in res.instances:
        if r["status"] != "tp":
            continue
        n_tp += 1
        a, b = np.isin(pl, r["pred_ids"]), np.isin(rl, r["ref_ids"])
        assert r["hd95"] == pytest.approx(fastseg.hd95(a, b, spacing=sp), rel=1e-12)
        assert r["assd"] == pytest.approx(fastseg.assd(a, b, spacing=sp), rel=1e-12)
        assert r["nsd@2"] == pytest.approx(fastseg.nsd(a, b, spacing=sp, tolerance=2.0), rel=1e-12)
        assert r["dice"] == pytest.approx(fastseg.dice(a, b), rel=1e-12)
        ca = np.array(ndimage.center_of_mass(a)) * sp
        cb = np.array(ndimage.center_of_mass(b)) * sp
        assert r["centroid_distance_mm"] == pytest.approx(np.linalg.norm(ca - cb), rel=1e-9, abs=1e-12)
    assert n_tp == res.case["tp"]


# ---------------------------------------------------------------------------------------- by hand

def _squares(*boxes, shape=(20, 20)):
    m = np.zeros(shape, bool)
    for y0, y1, x0, x1 in boxes:
        m[y0:y1, x0:x1] = True
    return m


def test_no_lesion_anywhere():
    z = np.zeros((8, 8), bool)
    c = lesions(z, z).case
    assert (c["n_ref"], c["n_pred"], c["tp"], c["fp"], c["fn"]) == (0, 0, 0, 0, 0)
    assert c["lesion_f1"] == c["pq"] == c["rq"] == c["sq"] == c["lesionwise_dice"] == 1.0
    assert c["lesionwise_hd95"] == 0.0 and c["avd_percent"] == 0.0
    assert math.isnan(c["lesion_precision"]) and math.isnan(c["lesion_recall"])
    p = lesions(z, z, rule="panoptica").case
    assert math.isnan(p["pq"]) and math.isnan(p["rq"])  # as panoptica
    w = lesions(z, z, rule="wmh").case
    assert w["lesion_recall"] == w["lesion_precision"] == w["lesion_f1"] == 1.0


def test_one_side_only():
    a = _squares((2, 6, 2, 6))
    z = np.zeros_like(a)
    miss = lesions(z, a, spacing=(1.0, 2.0)).case
    assert (miss["tp"], miss["fn"], miss["fp"]) == (0, 1, 0)
    assert miss["lesion_recall"] == 0.0 and math.isnan(miss["lesion_precision"]) and miss["lesion_f1"] == 0.0
    diag = math.hypot(20 * 1.0, 20 * 2.0)
    assert miss["lesionwise_dice"] == 0.0 and miss["lesionwise_hd95"] == pytest.approx(diag)
    assert miss["pq"] == 0.0 and miss["avd_percent"] == 100.0
    spur = lesions(a, z).case
    assert (spur["tp"], spur["fn"], spur["fp"]) == (0, 0, 1) and spur["avd_percent"] == math.inf
    assert lesions(a, z, rule="brats2023-gli").case["lesionwise_hd95"] == 374.0


def test_split_lesion():
    """One reference square predicted as two halves: one-to-one matching keeps the better half (IoU
    8/16 = 0.5: not above 0.5, so no match under fastseg; matched under panoptica's >=); any-overlap
    and BraTS count the lesion detected by both pieces."""
    ref = _squares((2, 6, 2, 6))
    pred = _squares((2, 6, 2, 4), (2, 6, 5, 7))  # 8 voxels + 8 voxels (one outside), a gap in column 4
    f = lesions(pred, ref).case
    assert (f["tp"], f["fn"], f["fp"]) == (0, 1, 2)
    p = lesions(pred, ref, rule="panoptica")
    assert (p.case["tp"], p.case["fn"], p.case["fp"]) == (1, 0, 1)
    unit = next(r for r in p.instances if r["status"] == "tp")
    assert unit["pred_ids"] == (1,) and unit["iou"] == 0.5 and unit["dice"] == pytest.approx(2 / 3)
    w = lesions(pred, ref, rule="wmh").case
    assert (w["lesion_recall"], w["lesion_precision"]) == (1.0, 1.0)
    b = lesions(pred[None], ref[None], rule="brats2023-met")
    tp, = [r for r in b.instances if r["status"] == "tp"]
    assert tp["pred_ids"] == (1, 2) and tp["dice"] == pytest.approx(2 * 12 / (16 + 16))
    assert b.case["fp"] == 0


def test_merged_lesions():
    """Two reference squares covered by one prediction: one of them matched at most."""
    ref = _squares((2, 6, 2, 6), (2, 6, 8, 12))
    pred = _squares((2, 6, 2, 12))  # 40 voxels
    f = lesions(pred, ref).case
    assert (f["tp"], f["fn"], f["fp"]) == (0, 2, 1)  # IoU 16/40 each
    bp = lesions(pred, ref, rule="bipartite").case
    assert (bp["tp"], bp["fn"], bp["fp"]) == (1, 1, 0)
    w = lesions(pred, ref, rule="wmh").case
    assert (w["lesion_recall"], w["lesion_precision"]) == (1.0, 1.0)


def test_border_touching_anisotropic_volumes():
    ref = _squares((0, 4, 16, 20))
    pred = _squares((0, 4, 17, 20))
    res = lesions(pred, ref, spacing=(2.0, 0.5))
    r, = res.instances
    assert r["status"] == "tp" and r["ref_volume_ml"] == pytest.approx(16 * 1.0 / 1000)
    assert r["hd"] == pytest.approx(0.5) and r["iou"] == 0.75


def test_instanced_maps_and_connectivity():
    """Two touching lesions given as ids stay two; as a mask they are one component."""
    ids = np.zeros((6, 10), np.int32)
    ids[1:4, 1:4] = 7
    ids[1:4, 4:7] = 3
    m = lesions(ids > 0, ids > 0).case
    assert m["n_ref"] == 1
    i = lesions(ids, ids, instances=True).case
    assert i["n_ref"] == 2 and i["tp"] == 2 and i["pq"] == 1.0
    diag = np.zeros((5, 5), bool)
    diag[1, 1] = diag[2, 2] = True
    assert lesions(diag, diag).case["n_ref"] == 1
    assert lesions(diag, diag, connectivity=4).case["n_ref"] == 2


def test_size_bins():
    ref = _squares((0, 2, 0, 2), (5, 15, 5, 15))
    pred = _squares((5, 15, 5, 15))
    c = lesions(pred, ref, spacing=(1.0, 1.0), size_bins_ml=(0, 0.01, 1)).case
    assert c["recall@[0,0.01)ml"] == 0.0 and c["recall@[0.01,1)ml"] == 1.0


@pytest.mark.parametrize("kwargs, err, match", [
    ({"rule": "nope"}, ValueError, "rule must be one of"),
    ({"matching": "random"}, ValueError, "matching must be one of"),
    ({"threshold": 1.5}, ValueError, "threshold"),
    ({"connectivity": 5}, ValueError, "connectivity"),
    ({"size_bins_ml": (1, 0)}, ValueError, "increasing"),
    ({"tolerance": -1}, ValueError, "tolerance"),
])
def test_bad_options(kwargs, err, match):
    a = _squares((2, 6, 2, 6))
    with pytest.raises(err, match=match):
        lesions(a, a, **kwargs)


def test_bad_inputs():
    a = _squares((2, 6, 2, 6))
    with pytest.raises(ValueError, match="binary"):
        lesions(a.astype(np.uint8) * 2, a)
    with pytest.raises(ValueError, match="negative"):
        lesions(-a.astype(np.int32), a, instances=True)
    with pytest.raises(ValueError, match="same shape"):
        lesions(a, a[:5])
    with pytest.raises(ValueError, match="2D or 3D"):
        lesions(a[0], a[0])
    with pytest.raises(ValueError, match="empty"):
        lesions(a, np.zeros_like(a), rule=LesionRule(convention="medpy"))


# ---------------------------------------------------------------------------------------- invariants

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_invariants(seed):
    pred, ref = _pair(seed, shape=(8, 14, 14))
    for name in ("fastseg", "bipartite", "wmh"):
        a = lesions(pred, ref, rule=name).case
        b = lesions(ref, pred, rule=name).case
        assert a["tp"] + a["fn"] == a["n_ref"]
        assert 0.0 <= a["pq"] <= 1.0 and a["pq"] <= a["rq"] + 1e-12
        if name != "wmh":  # one-to-one: swapping the sides swaps misses and spurious lesions
            assert (a["tp"], a["fn"], a["fp"]) == (b["tp"], b["fp"], b["fn"])
            assert a["pq"] == pytest.approx(b["pq"], rel=1e-12)
    same = lesions(ref, ref).case
    assert same["fn"] == same["fp"] == 0 and same["lesionwise_hd95"] == 0.0
    assert same["pq"] == 1.0 or same["n_ref"] == 0


def test_results_convert():
    pred, ref = _pair(5)
    res = lesions(pred, ref, spacing=(2.5, 0.8, 0.8))
    rows = res.rows
    assert {r["metric"] for r in rows} >= {"lesion_tp", "lesion_fp", "lesion_fn", "lesion_pq", "lesion_f1",
                                          "lesionwise_dice", "lesion_recall@[0.01,0.1)ml"}
    assert all(r["label"] == "lesions" and r["convention"] == "fastseg" for r in rows)
    from fastseg.metrics.lesions import lesion_metric_names

    assert [r["metric"] for r in rows] == lesion_metric_names()
    d = res.to_dict()
    assert len(d["instances"]) == len(res.instances)
    pd = pytest.importorskip("pandas")
    assert isinstance(res.to_pandas(), pd.DataFrame)
    assert set(RULES) >= {"fastseg", "panoptica", "wmh", "brats2023-gli", "brats2023-met"}
