"""Cohort stage: ``fastseg.evaluate_cohort`` over NIfTI files (reading included), in this process and
with one worker process per core, against the loop a DeepMind user writes (nibabel + a per-label
loop), all scoring Dice, HD95, ASSD and NSD@2 mm of every label.

Cohort (written once per session by the tests' ``write_cohort``, deterministic):
``fastseg.phantom.phantom_pair`` label maps of 5 structures, spacing (2.5, 0.8, 0.8) mm; full: 6 cases
of 96 x 256 x 256, small: 2 of 16 x 40 x 40.
Values are checked case by case against ``fastseg.evaluate`` (and DeepMind's loop against fastseg's
``"deepmind"`` convention) before timing.
"""
import math
import time

import numpy as np
import pytest

import fastseg

from bench import peers_extra as px
from bench.tasks import EVAL_METRICS, TOLERANCE
from tests.conftest import same, write_cohort

SIZES = {"full": (6, (96, 256, 256)), "small": (2, (16, 40, 40))}
TOOLS = ("fastseg", "fastseg-jobs", "deepmind")


@pytest.fixture(scope="session")
def cohort(tmp_path_factory, bench_size):
    n, shape = SIZES[bench_size]
    pred_dir, ref_dir = write_cohort(tmp_path_factory.mktemp("cohort"), n=n, shape=shape)
    pairs = [(f"case_{i:02d}", str(pred_dir / f"case_{i:02d}.nii.gz"), str(ref_dir / f"case_{i:02d}.nii.gz"))
             for i in range(n)]
    return {"pairs": pairs, "voxels": n * math.prod(shape), "n": n, "shape": shape}


def _cohort_values(res):
    out = {}
    for r in res.rows:
        assert r["metric"] != "error", r
        key = {"nsd@2": "nsd"}.get(r["metric"], r["metric"])
        out.setdefault(r["case_id"], {}).setdefault(int(r["label"]), {})[key] = r["value"]
    return out


def run_fastseg(pairs, jobs, convention="fastseg"):
    res = fastseg.evaluate_cohort(pairs, metrics=list(EVAL_METRICS), convention=convention, jobs=jobs)
    return _cohort_values(res)


def _load(path):
    import nibabel as nib

    img = nib.load(path)
    return np.asarray(img.dataobj), tuple(float(z) for z in img.header.get_zooms()[:3])


def run_deepmind(pairs):
    out = {}
    for cid, p, r in pairs:
        pred, sp = _load(p)
        ref, _ = _load(r)
        labels = [int(x) for x in np.union1d(np.unique(pred), np.unique(ref)) if x != 0]
        out[cid] = px.deepmind_label_loop(pred, ref, labels, sp, tolerance=TOLERANCE)
    return out


def _direct(pairs, convention):
    """The reference: fastseg.evaluate on each case read with nibabel."""
    out = {}
    for cid, p, r in pairs:
        pred, sp = _load(p)
        ref, _ = _load(r)
        res = fastseg.evaluate(pred, ref, metrics=list(EVAL_METRICS), spacing=sp, convention=convention)
        out[cid] = {int(k): {"dice": v["dice"], "hd95": v["hd95"], "assd": v["assd"], "nsd": v["nsd@2"]}
                    for k, v in res.to_dict().items()}
    return out


@pytest.mark.parametrize("tool", TOOLS)
def test_cohort(benchmark, cohort, bench_size, tool):
    pairs = cohort["pairs"]
    if tool == "deepmind":
        if not px.available("deepmind"):
            pytest.skip("surface-distance not installed")
        fn, want, rtol, versus = (lambda: run_deepmind(pairs)), _direct(pairs, "deepmind"), 1e-12, "fastseg"
    else:
        jobs = 1 if tool == "fastseg" else 0  # 0: one worker per core
        if jobs != 1 and benchmark.disabled:
            pytest.skip("worker processes take seconds to start: full benchmark runs only")
        fn, want, rtol, versus = (lambda: run_fastseg(pairs, jobs, "deepmind")), _direct(pairs, "deepmind"), 0, None
    t0 = time.perf_counter()
    value = benchmark.pedantic(fn, rounds=1, iterations=1) if benchmark.disabled else fn()
    first = time.perf_counter() - t0
    assert same(value, want, rtol), f"cohort/{tool}: values differ from fastseg.evaluate per case"
    n, shape = cohort["n"], cohort["shape"]
    label = {"fastseg": "fastseg.evaluate_cohort(jobs=1)", "fastseg-jobs": "fastseg.evaluate_cohort(jobs=0: one per core)",
             "deepmind": "nibabel + DeepMind loop over labels"}[tool]
    benchmark.group = f"cohort / phantom{n}"
    benchmark.extra_info.update(
        task="cohort", case=f"phantom{n}", size=bench_size, tool=tool, label=label, versus=versus,
        voxels=cohort["voxels"], shape=list(shape), checked_against="fastseg.evaluate per case" if tool != "deepmind"
        else "fastseg.evaluate(convention='deepmind') per case", value=None, first_call_s=first,
        note=f"{n} cases of {'x'.join(map(str, shape))}, NIfTI reading included")
    if not benchmark.disabled:
        benchmark.pedantic(fn, rounds=3 if first < 10 else 1, iterations=1, warmup_rounds=0)
