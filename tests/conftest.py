"""What the test modules share: the one equality of test values, the one-thread fixture, and the
NIfTI cohort writers.

``tests`` is a package (``tests/__init__.py``): modules import from it as ``from tests.conftest import
same`` and ``from tests import peers``, and so do the benchmarks. pytest puts the repository first on
``sys.path`` (``pythonpath = ["."]``), as ``python -m bench.<module>`` does from the repository, so this
regular package wins over a top-level ``tests`` package another distribution installs (seg-metrics
1.2 does).
"""
import math
import numbers
from pathlib import Path

import numpy as np
import pytest

#: the cohort phantoms' geometry (``fastseg.phantom.phantom_pair``): spacing in mm and origin in
#: array-axis order, centred on the world origin for SHAPE
SPACING = (2.5, 0.8, 0.8)
SHAPE = (24, 32, 32)
ORIGIN = (-30.0, -12.8, -12.8)


# ----------------------------------------------------------------------------------- equality

def same(got, want, rtol=0.0, atol=0.0):
    """True when ``got`` equals ``want``.

    Real numbers: NaN equals NaN, an infinity only the same infinity, other values within
    ``max(rtol * max(|got|, |want|), atol)`` (:func:`math.isclose`; exactly with the default zeros);
    two integers exactly. Arrays (same shape) element by element alike, integer or bool ``want``
    exactly. Dicts (same keys), lists and tuples (same length) item by item; anything else by ``==``.
    """
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same(got[k], want[k], rtol, atol) for k in want)
    if isinstance(want, (list, tuple)):
        return isinstance(got, (list, tuple, np.ndarray)) and len(got) == len(want) and all(
            same(g, w, rtol, atol) for g, w in zip(got, want))
    if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            return False
        if want.dtype.kind in "biu":
            return bool(np.array_equal(got, want))
        g, w = got.astype(float), want.astype(float)
        with np.errstate(invalid="ignore"):
            close = np.abs(g - w) <= np.maximum(rtol * np.maximum(np.abs(g), np.abs(w)), atol)
        return bool(np.all((g == w) | (np.isnan(g) & np.isnan(w)) | (np.isfinite(g) & np.isfinite(w) & close)))
    if isinstance(want, numbers.Integral) and isinstance(got, numbers.Integral):
        return int(got) == int(want)
    if isinstance(want, numbers.Real) and isinstance(got, numbers.Real):
        g, w = float(got), float(want)
        if math.isnan(g) or math.isnan(w):
            return math.isnan(g) and math.isnan(w)
        if math.isinf(g) or math.isinf(w):
            return g == w
        return math.isclose(g, w, rel_tol=rtol, abs_tol=atol)
    return bool(got == want)


# ----------------------------------------------------------------------------------- threads

@pytest.fixture(scope="module")
def one_numba_thread():
    """numba's parallel kernels on one thread for the whole module, the previous count restored after.

    For modules that make many tiny calls (``pytestmark = pytest.mark.usefixtures("one_numba_thread")``):
    on a busy 2-core machine each parallel launch can cost milliseconds. Thread-count invariance is
    tested with explicit ``threads=`` arguments.
    """
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


# ----------------------------------------------------------------------------------- NIfTI files

def affine_of(spacing=SPACING, origin=ORIGIN):
    """A NIfTI affine with axis-aligned ``spacing`` and ``origin`` (array-axis order)."""
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = origin
    return aff


def save_nifti(path, arr, spacing=SPACING, origin=ORIGIN, **kw):
    """``arr`` written as a NIfTI-1 file (``.nii`` or ``.nii.gz`` by the name); returns ``str(path)``.
    ``kw`` go to ``nibabel.Nifti1Image``."""
    import nibabel as nib

    nib.save(nib.Nifti1Image(arr, affine_of(spacing, origin), **kw), str(path))
    return str(path)


def write_cohort(root, n=3, shape=SHAPE):
    """``n`` phantom pairs as ``root/pred/case_XX.nii.gz`` and ``root/ref/case_XX.nii.gz`` (seeds 0 to
    n - 1, spacing SPACING); returns the two folders as Paths."""
    from fastseg.phantom import phantom_pair

    pred_dir, ref_dir = Path(root) / "pred", Path(root) / "ref"
    pred_dir.mkdir(parents=True, exist_ok=True)
    ref_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p, r, _ = phantom_pair(shape=shape, spacing=SPACING, seed=i)
        save_nifti(pred_dir / f"case_{i:02d}.nii.gz", p)
        save_nifti(ref_dir / f"case_{i:02d}.nii.gz", r)
    return pred_dir, ref_dir


@pytest.fixture(scope="module")
def cohort3(tmp_path_factory):
    """A module's three-case cohort (``write_cohort``): ``(pred_dir, ref_dir)``."""
    return write_cohort(tmp_path_factory.mktemp("cohort3"), n=3)


def break_second_write(monkeypatch, error, cls=None, n=2):
    """Make the results file's second write (its second case, after the header) write half of its text,
    flush it, then raise ``error``: a disk filling up, Ctrl-C in the middle of a case. ``cls``: another
    append-file class (the lesion file), ``n``: another write."""
    from fastseg.cohort import results as R

    cls = R.ResultsFile if cls is None else cls

    class Breaking:
        def __init__(self, f):
            self.f, self.k = f, 0

        def write(self, text):
            self.k += 1
            if self.k == n:
                self.f.write(text[: len(text) // 2])
                self.f.flush()
                raise error
            return self.f.write(text)

        def __getattr__(self, name):
            return getattr(self.f, name)

    real_init = cls.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        self.f = Breaking(self.f)

    monkeypatch.setattr(cls, "__init__", init)
