"""fastseg._engine.shared_surfaces.model_sets: the directed distance sets of several surface models
computed together are the very arrays distances_in_crop gives for each model alone (same bits), on the
parity cases (2D, 3D, anisotropic, image border, thin, far apart, one-sided empty), for the presets'
models and for variants (connectivity, image-edge rules, thin crops where plastimatch's adaptive
edge differs), with and without threads."""
import numpy as np
import pytest

import fastseg
from fastseg import _validation as v
from fastseg._engine.counts import counts_and_box, crop
from fastseg._engine.distances import crop_edges, distances_in_crop
from fastseg._engine.shared_surfaces import model_sets
from fastseg._kernels._jit import thread_limit
from fastseg.conventions import PRESETS

from tests.test_parity import ALL

VARIANTS = [
    PRESETS["medpy"].replace(connectivity=2),
    PRESETS["medpy"].replace(connectivity=3),
    PRESETS["medpy"].replace(edge="foreground"),
    PRESETS["seg-metrics"].replace(connectivity=1),
    PRESETS["plastimatch"].replace(connectivity=3),
    PRESETS["medpy"].replace(edge="adaptive"),
]
CONVS = list(PRESETS.values()) + VARIANTS


def cropped(pred, ref, sp):
    p, r, sp, _ = v.spatial_pair(pred, ref, sp, "test")
    _, _, box = counts_and_box(p, r)
    pc, rc = crop([p, r], box)
    return pc, rc, sp, crop_edges(box, p.shape)


def assert_same_sets(pc, rc, sp, edges, convs, threads=None):
    with thread_limit(threads):
        got = model_sets(pc, rc, sp, convs, edges)
    assert list(got) == list(dict.fromkeys(c.surface_key(pc.ndim) for c in convs))
    for conv in convs:
        want = distances_in_crop(pc, rc, sp, conv, edges)
        sets = got[conv.surface_key(pc.ndim)]
        for a, b in zip(sets, want):
            assert a.dtype == b.dtype and a.shape == b.shape, conv.name
            np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64), err_msg=conv.name)  # bits


CASES = {c: pair for c, pair in ALL.items() if pair[0].any() or pair[1].any()}


@pytest.mark.parametrize("case_id", list(CASES))
def test_same_bits_as_each_model_alone(case_id):
    assert_same_sets(*cropped(*CASES[case_id]), CONVS)


@pytest.mark.parametrize("case_id", ["blob3d-0", "border-blob3d", "blob2d-1", "far-apart3d"])
def test_same_bits_on_one_thread(case_id):
    assert_same_sets(*cropped(*CASES[case_id]), CONVS, threads=1)


def test_thin_crop_adaptive_edge_and_image_edge():
    """A crop one voxel thick (plastimatch's adaptive edge is foreground there) on the image edge
    (seg-metrics' foreground edge): the shared boundaries must follow each rule."""
    ref = np.zeros((6, 9, 10), bool)
    ref[0, 1:8, 2:9] = True
    pred = np.zeros_like(ref)
    pred[0, 2:9, 1:7] = True
    assert_same_sets(*cropped(pred, ref, (2.0, 0.7, 0.9)), CONVS)


def test_far_queries_beyond_the_first_search_list():
    """Far-apart structures: distances beyond the ordered search's first offset list, where each model
    searches its own queries as it does alone."""
    ref = np.zeros((3, 200, 200), bool)
    ref[1, 2:6, 2:6] = True
    pred = np.zeros_like(ref)
    pred[1, 150:198, 150:198] = True
    assert_same_sets(*cropped(pred, ref, (1.0, 1.0, 1.0)), CONVS)


def test_extreme_spacing_and_missing_edges():
    pred, ref, _ = CASES["blob3d-0"]
    assert_same_sets(*cropped(pred, ref, (1e-30, 2e-30, 1e-30)), CONVS)
    pc, rc, sp, _ = cropped(pred, ref, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="where the crop lies"):
        model_sets(pc, rc, sp, [PRESETS["seg-metrics"]], None)
    got = model_sets(pc, rc, sp, [PRESETS["monai"], PRESETS["itk"]], None)  # no edge rule needed
    assert set(got) == {PRESETS["monai"].surface_key(3), PRESETS["itk"].surface_key(3)}


def test_table_uses_the_shared_sets():
    pred, ref, sp = CASES["blob3d-0"]
    t = fastseg.conventions.table(pred, ref, spacing=sp)
    sd = fastseg.surface_distances(pred, ref, spacing=sp, convention="itk")
    assert t["hd95"].values["itk"] == fastseg.hd95(sd)


@pytest.mark.parametrize("names", [["seg-metrics"], ["monai", "seg-metrics"], ["itk", "seg-metrics"],
                                   ["itk"], ["medpy", "plastimatch"]])
@pytest.mark.parametrize("case_id", ["blob3d-0", "border-blob3d", "blob2d-1"])
def test_subsets_of_models_share_their_searches(names, case_id):
    """Without the object model the voxels outside the other mask searched from its face boundary are
    the boundary models' own; with it, every voxel there."""
    convs = [PRESETS[n] for n in names] + [PRESETS["medpy"].replace(connectivity=2, edge="foreground")]
    assert_same_sets(*cropped(*CASES[case_id]), convs)


@pytest.mark.parametrize("threads", [1, 2])
def test_task_runner_waits_for_dependencies_and_raises_the_first_error(threads):
    from fastseg._engine.shared_surfaces import _run

    seen = []
    tasks = [("a", (), lambda: seen.append("a")), ("c", ("a", "b"), lambda: seen.append("c")),
             ("b", (), lambda: seen.append("b"))]
    _run(tasks[:1] + tasks[2:] + tasks[1:2] if threads == 1 else tasks, threads)
    assert sorted(seen) == ["a", "b", "c"] and seen[-1] == "c"

    def boom():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _run([("x", (), boom), ("y", ("x",), lambda: seen.append("y"))], threads)
    assert "y" not in seen


def test_then_is_called_once_per_model_with_its_sets():
    pc, rc, sp, edges = cropped(*CASES["blob3d-0"])
    calls = []
    got = model_sets(pc, rc, sp, CONVS, edges, then=lambda key, sets: calls.append((key, sets)))
    assert sorted(map(repr, (k for k, _ in calls))) == sorted(map(repr, got))
    assert all(sets is got[key] for key, sets in calls)


def test_same_bits_on_a_crop_large_enough_for_the_helper_thread():
    """Above tuning.SMALL_WORK voxels the models' tasks run on two threads (the ones above are serial)."""
    z, y, x = np.ogrid[:50, :100, :100]
    ref = (z - 25) ** 2 / 2.0 + (y - 50) ** 2 + (x - 49) ** 2 < 34 ** 2
    pred = (z - 24) ** 2 / 2.0 + (y - 52) ** 2 + (x - 50) ** 2 < 33 ** 2
    pred[25, 2:98, 40:44] = True
    pc, rc, sp, edges = cropped(pred, ref, (2.0, 0.9, 0.8))
    assert pc.size >= fastseg._kernels.tuning.SMALL_WORK
    assert_same_sets(pc, rc, sp, edges, CONVS, threads=2)


def test_task_runner_refuses_a_task_that_waits_for_a_missing_one():
    from fastseg._engine.shared_surfaces import _run

    with pytest.raises(RuntimeError, match="not in the list"):
        _run([("a", (), lambda: None), ("b", ("missing",), lambda: None)], 2)


@pytest.mark.parametrize("case_id", sorted(ALL)[:12])
def test_crop_surfaces_stages_in_any_order(case_id):
    """``CropSurfaces`` (distances_in_crop in stages, as model_sets runs a surfel model as tasks): the
    two directions searched in either order, or on two threads at once, give the arrays of
    distances_in_crop, for the surfel and boundary models (2D and 3D; pymia's 2D slab; one-sided
    empties); the object model has no stages and is refused by name."""
    from concurrent.futures import ThreadPoolExecutor

    from fastseg._engine.distances import CropSurfaces

    pred, ref, sp = ALL[case_id]
    if not (np.any(pred) or np.any(ref)):
        return
    pc, rc, sp, edges = cropped(pred, ref, sp)
    for name in ("fastseg", "pymia", "monai", "seg-metrics"):
        conv = PRESETS[name]
        want = distances_in_crop(pc, rc, sp, conv, edges)
        stages = CropSurfaces(pc, rc, sp, conv, edges)
        d1, d0 = stages.directed(1), stages.directed(0)
        with ThreadPoolExecutor(2) as pool:
            t0, t1 = pool.submit(stages.directed, 0), pool.submit(stages.directed, 1)
            both = (t0.result(), t1.result())
        for got in (stages.sets(d0, d1), stages.sets(*both)):
            for g, w in zip(got, want):
                assert np.array_equal(np.asarray(g), np.asarray(w))
    with pytest.raises(ValueError, match="object model"):
        CropSurfaces(pc, rc, sp, PRESETS["itk"], edges)
