"""What the benchmarks time: for each task (a stage or a metric), the cases it runs on and the tools
that compute it -- fastseg and its peers -- each with the check that runs before any timing.

Shared by the pytest benchmarks (``bench/test_*.py``), the peak-memory subprocesses
(:mod:`bench.memory`), the report and the regression gate.

A :class:`Task` turns a :class:`bench.cases.Case` into the input of its tools (``prepare``, untimed:
e.g. the crop a stage benchmark works on). A :class:`Tool` computes a value from that input
(``run``, the timed call); ``reference`` gives the value it must reproduce, computed by *another*
implementation under the matching convention: fastseg under the peer's convention for a peer, a
peer (or the NumPy/SciPy baseline when the peer is absent) for fastseg. ``versus`` names the fastseg
row a peer's speed-up is measured against (the fastseg call doing the same work under the same
convention).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import fastseg
from fastseg._kernels import edt as _kedt
from fastseg._engine import distances as _dist
from fastseg._kernels._jit import thread_limit
from fastseg._kernels.tuning import SMALL_TRANSFORM
from fastseg._surfel_tables import areas as _areas

from . import cases
from . import peers_extra as px

__all__ = ["Task", "Tool", "TASKS", "reference_value", "tool_available"]


@dataclass(frozen=True)
class Tool:
    """One implementation of a task.

    ``needs``: peer names (:data:`bench.peers_extra.MODULES`) that must be installed.
    ``reference``: list of ``(other tool's name or function(inp), rtol)``; the first installed is
    used (see :func:`reference_value`). ``versus``: the fastseg tool this one's time is compared with
    (None for fastseg's own rows). ``slow``: seconds per call on the full case can be tens.
    """

    name: str
    label: str
    run: Callable
    needs: tuple = ()
    reference: tuple = ()
    versus: str = None
    note: str = ""
    slow: bool = False

    @property
    def is_fastseg(self):
        return self.name.startswith("fastseg")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    cases: tuple
    tools: dict
    prepare: Callable = None
    voxels: Callable = None
    summary: Callable = None  # value -> something short and JSON-able for the report
    note: str = ""
    metric_names: tuple = field(default=())

    def input(self, case):
        return case if self.prepare is None else self.prepare(case)

    def n_voxels(self, inp):
        return inp.voxels if self.voxels is None else self.voxels(inp)


def tool_available(tool):
    return all(px.available(n) for n in tool.needs)


def reference_value(task, tool, inp, cheap=False):
    """``(expected, rtol, label)`` for ``tool`` on ``inp``, or None when no reference is installed.

    A reference is another tool of the task (by name) or a function with a ``ref_label``; the first
    one installed is used. ``cheap``: for fastseg's rows, use only the last reference (the always
    installed NumPy/SciPy baseline or fastseg's own other path) -- the smoke run checks every peer
    against fastseg in the peer's own row anyway.
    """
    refs = tool.reference[-1:] if cheap and tool.is_fastseg else tool.reference
    for ref, rtol in refs:
        if isinstance(ref, str):
            other = task.tools[ref]
            if tool_available(other):
                return other.run(inp), rtol, other.label
        else:
            return ref(inp), rtol, getattr(ref, "ref_label", ref.__name__)
    return None


def _named(label, fn):
    """A reference function with the label the report shows under *checked against*."""
    fn.ref_label = label
    return fn


def _one_thread(fn):
    def run(*args):
        with thread_limit(1):
            return fn(*args)
    return run


# ============================================================================ overlap: confusion

def _conf_tuple(c):
    return (c.tp, c.fp, c.fn, c.tn)


CONFUSION = Task(
    name="confusion",
    title="Confusion counts (TP, FP, FN, TN) of a binary pair",
    cases=("organ", "lesion", "mni", "slice2d"),
    tools={
        "fastseg": Tool("fastseg", "fastseg.confusion", lambda c: _conf_tuple(fastseg.confusion(c.pred, c.ref)),
                        reference=(("numpy", 0),)),
        "fastseg-1t": Tool("fastseg-1t", "fastseg.confusion, 1 thread",
                           lambda c: _conf_tuple(fastseg.confusion(c.pred, c.ref, threads=1)),
                           reference=(("numpy", 0),)),
        "numpy": Tool("numpy", "NumPy: 3 x np.count_nonzero (p & r, p, r)", lambda c: px.numpy_confusion(c.pred, c.ref),
                      reference=(("fastseg", 0),), versus="fastseg"),
        "numpy-floor": Tool("numpy-floor", "floor: one np.count_nonzero over one array",
                            lambda c: px.numpy_floor(c.pred, c.ref),
                            reference=((_named("fastseg.confusion(...).pred_count",
                                               lambda c: fastseg.confusion(c.pred, c.ref).pred_count), 0),),
                            versus="fastseg",
                            note="reads one mask once: the memory-speed floor (fastseg reads two)"),
    },
)

DICE = Task(
    name="dice",
    title="Dice of a binary pair",
    cases=("organ", "mni"),
    tools={
        "fastseg": Tool("fastseg", "fastseg.dice", lambda c: fastseg.dice(c.pred, c.ref), reference=(("numpy", 1e-15),)),
        "numpy": Tool("numpy", "NumPy count_nonzero expressions", lambda c: px.numpy_dice(c.pred, c.ref),
                      reference=(("fastseg", 1e-15),), versus="fastseg"),
        "deepmind": Tool("deepmind", "DeepMind compute_dice_coefficient", lambda c: px.deepmind_dice(c.pred, c.ref),
                         needs=("deepmind",), reference=(("fastseg", 1e-12),), versus="fastseg"),
        "medpy": Tool("medpy", "MedPy dc", lambda c: px.medpy_dice(c.pred, c.ref), needs=("medpy",),
                      reference=(("fastseg", 1e-12),), versus="fastseg"),
        "monai": Tool("monai", "MONAI compute_dice (one-hot float32)", lambda c: px.monai_dice(c.pred, c.ref),
                      needs=("monai",), reference=(("fastseg", 1e-6),), versus="fastseg", note="float32 result"),
        "sitk": Tool("sitk", "SimpleITK LabelOverlapMeasures", lambda c: px.sitk_dice(c.pred, c.ref, c.spacing),
                     needs=("sitk",), reference=(("fastseg", 1e-12),), versus="fastseg"),
    },
)

CONFUSION_MATRIX = Task(
    name="confusion_matrix",
    title="Confusion matrix of two uint8 label maps (11 labels with background)",
    cases=("organs10",),
    tools={
        "fastseg": Tool("fastseg", "fastseg.confusion_matrix", lambda c: fastseg.confusion_matrix(c.pred, c.ref).matrix,
                        reference=(("bincount", 0),), note="also finds every label's bounding box in both maps"),
        "fastseg-1t": Tool("fastseg-1t", "fastseg.confusion_matrix, 1 thread",
                           lambda c: fastseg.confusion_matrix(c.pred, c.ref, threads=1).matrix,
                           reference=(("bincount", 0),)),
        "bincount": Tool("bincount", "NumPy bincount(ref.astype(int64)*K + pred)",
                         lambda c: px.bincount_matrix(c.pred, c.ref), reference=(("fastseg", 0),), versus="fastseg"),
    },
    summary=lambda m: int(np.trace(m)),
)


# ================================================================================ stages on a crop

@dataclass(frozen=True)
class Crop:
    """A stage input: the reference mask cropped to the bounding box of the pair's union (as the
    distance pipeline does), as uint8 (C-ordered), bool, its surface features, and the spacing."""

    mask: np.ndarray
    spacing: tuple
    features: np.ndarray  # uint8 boundary voxels of ``mask`` (EDT input)

    @property
    def voxels(self):
        return int(self.mask.size)

    @property
    def is2d(self):
        return self.mask.ndim == 2


def _crop(case):
    sl = px.bbox_slices(case.pred | case.ref)
    m = np.ascontiguousarray(case.ref[sl]).view(np.uint8)
    feats = px.boundary(m.astype(bool)).view(np.uint8)
    return Crop(m, case.spacing, np.ascontiguousarray(feats))


def _as3(a):
    return a.reshape((1,) * (3 - a.ndim) + a.shape)


def _sp3(sp):
    return np.array((1.0,) * (3 - len(sp)) + tuple(sp), np.float64)


def fastseg_surfels(crop):
    """fastseg's surfel step as the engine runs it (row ranges on threads): lattice codes, surface
    corners and areas. -> (n, total area)."""
    table = _areas(tuple(crop.spacing))
    _, _, w = _dist.dense_surfels(np.ascontiguousarray(_as3(crop.mask)), table, crop.is2d)
    return int(w.size), float(w.sum())


def numpy_surfels(crop):
    """NumPy reference for the surfel step: codes from 2**ndim shifted slices of the padded mask
    (fastseg's bit layout), surface corners, areas from fastseg's table. -> (n, total area)."""
    m = np.pad(crop.mask.astype(np.uint8), 1)
    nd = m.ndim
    out_shape = tuple(n - 1 for n in m.shape)
    code = np.zeros(out_shape, np.uint8)
    for bits in range(2 ** nd):
        offs = [(bits >> (nd - 1 - a)) & 1 for a in range(nd)]
        code |= m[tuple(slice(o, o + n) for o, n in zip(offs, out_shape))] << bits
    full = 2 ** (2 ** nd) - 1
    w = _areas(tuple(crop.spacing))[code[(code != 0) & (code != full)]]
    return int(w.size), float(w.sum())


def fastseg_boundary(crop):
    """fastseg's boundary step as the engine runs it (row ranges on threads)."""
    return _dist.dense_boundary(np.ascontiguousarray(_as3(crop.mask)), 1, crop.is2d).reshape(crop.mask.shape)


def scipy_boundary(crop):
    return px.boundary(crop.mask.view(bool)).view(np.uint8)


SURFELS = Task(
    name="surfels",
    title="Surfels on the corner lattice (codes, surface corners, areas) of one cropped mask",
    cases=("organ", "mni", "slice2d"),
    prepare=_crop,
    tools={
        "fastseg": Tool("fastseg", "fastseg surfel kernel", fastseg_surfels,
                        reference=(("deepmind", 1e-12), ("numpy", 1e-12))),
        "numpy": Tool("numpy", "NumPy shifted slices + table", numpy_surfels,
                      reference=(("fastseg", 1e-12),), versus="fastseg"),
        "deepmind": Tool("deepmind", "DeepMind's step: ndimage.correlate + lookup table",
                         lambda c: px.deepmind_surfels(c.mask.view(bool), c.spacing), needs=("deepmind",),
                         reference=(("fastseg", 1e-12),), versus="fastseg"),
    },
    note="value: (number of surfels, total area in mm^2 or mm)",
)

BOUNDARY = Task(
    name="boundary",
    title="Boundary voxels (face connectivity) of one cropped mask",
    cases=("organ", "mni", "slice2d"),
    prepare=_crop,
    tools={
        "fastseg": Tool("fastseg", "fastseg boundary kernel", fastseg_boundary, reference=(("scipy", 0),)),
        "scipy": Tool("scipy", "m & ~scipy.ndimage.binary_erosion(m)", scipy_boundary,
                      reference=(("fastseg", 0),), versus="fastseg"),
    },
    summary=lambda b: int(np.count_nonzero(b)),
)


def fastseg_edt(crop):
    f = _as3(crop.features)
    out = np.empty(f.shape, np.float64)
    _kedt.distance_to_features_into(f, _sp3(crop.spacing), out, SMALL_TRANSFORM)
    return out.reshape(crop.features.shape)


def scipy_edt(crop):
    return px.edt_scipy(crop.features == 0, crop.spacing)


def edtpkg_edt(crop):
    return px.edt_package(crop.features == 0, crop.spacing)


EDT = Task(
    name="edt",
    title="Exact anisotropic EDT to the boundary voxels of one cropped mask",
    cases=("organ", "mni", "slice2d"),
    prepare=_crop,
    tools={
        "fastseg": Tool("fastseg", "fastseg EDT kernel (float64, sqrt taken)", fastseg_edt,
                        reference=(("scipy", 1e-12),)),
        "fastseg-1t": Tool("fastseg-1t", "fastseg EDT kernel, 1 thread", _one_thread(fastseg_edt),
                           reference=(("scipy", 1e-12),)),
        "scipy": Tool("scipy", "scipy.ndimage.distance_transform_edt(sampling=)", scipy_edt,
                      reference=(("fastseg", 1e-12),), versus="fastseg"),
        "edt": Tool("edt", "edt package edt(anisotropy=), parallel=1", edtpkg_edt, needs=("edt",),
                    reference=(("fastseg", 1e-5),), versus="fastseg", note="float32 output"),
    },
    summary=lambda d: float(np.max(d)),
)


# ====================================================================== surface-distance metrics

_SEGMETRICS = fastseg.Convention(name="segmetrics", surface="voxel", connectivity=3, percentile="linear_pooled")


def _fs_hd(conv, q, threads=None):
    return lambda c: fastseg.hausdorff(c.pred, c.ref, percentile=q, spacing=c.spacing, convention=conv,
                                       threads=threads)


def numpy_surfel_sets(case):
    """Always-installed reference for the surfel-mode metrics: crop, NumPy surfel codes, SciPy EDT on
    the corner lattice (DeepMind's algorithm, without DeepMind). -> ``[(d_pred_to_ref, w_pred),
    (d_ref_to_pred, w_ref)]``, distances and surfel areas (unsorted)."""
    sl = px.bbox_slices(case.pred | case.ref)
    table = _areas(tuple(case.spacing))
    sets = []
    for m in (case.pred[sl], case.ref[sl]):
        mm = np.pad(m.astype(np.uint8), 1)
        nd = mm.ndim
        shape = tuple(n - 1 for n in mm.shape)
        code = np.zeros(shape, np.uint8)
        for bits in range(2 ** nd):
            offs = [(bits >> (nd - 1 - a)) & 1 for a in range(nd)]
            code |= mm[tuple(slice(o, o + n) for o, n in zip(offs, shape))] << bits
        full = 2 ** (2 ** nd) - 1
        border = (code != 0) & (code != full)
        sets.append((border, table[code]))
    (bp, ap), (br, ar) = sets
    d_to_r = px.edt_scipy(~br, case.spacing)
    d_to_p = px.edt_scipy(~bp, case.spacing)
    return [(d_to_r[bp], ap[bp]), (d_to_p[br], ar[br])]


def numpy_surfel_hd(case, q):
    """Surfel-mode HDq of :func:`numpy_surfel_sets`: weighted nearest rank per direction, the larger."""
    out = []
    for d, w in numpy_surfel_sets(case):
        order = np.lexsort((w, d))
        d, w = d[order], w[order]
        cum = np.cumsum(w) / np.sum(w)
        out.append(float(d[min(int(np.searchsorted(cum, q / 100.0)), d.size - 1)]))
    return max(out)


def numpy_surfel_assd(case):
    """Surfel-mode ASSD of :func:`numpy_surfel_sets` as DeepMind users reduce it: the mean of the two
    directed area-weighted means."""
    return 0.5 * sum(float(np.sum(d * w) / np.sum(w)) for d, w in numpy_surfel_sets(case))


def numpy_surfel_nsd(case, tolerance):
    """Surfel-mode surface Dice of :func:`numpy_surfel_sets`: area within ``tolerance`` (``<=``) of
    the other surface, over the total area of both."""
    sets = numpy_surfel_sets(case)
    return float(sum(np.sum(w[d <= tolerance]) for d, w in sets) / sum(np.sum(w) for _, w in sets))


def _hd_tools(q):
    surfel_refs = (("deepmind", 1e-12),
                   (_named("crop + NumPy surfels + SciPy EDT", lambda c: numpy_surfel_hd(c, q)), 1e-12))
    tools = {
        "fastseg": Tool("fastseg", "fastseg (surfels; = convention 'fastseg'/'deepmind')", _fs_hd("deepmind", q),
                        reference=surfel_refs),
        "fastseg-1t": Tool("fastseg-1t", "fastseg (surfels), 1 thread", _fs_hd("deepmind", q, 1),
                           reference=surfel_refs),
        "fastseg-voxel": Tool("fastseg-voxel", "fastseg convention='monai' (boundary voxels)", _fs_hd("monai", q),
                              reference=(("crop-scipy", 1e-12),)),
        "fastseg-voxel-1t": Tool("fastseg-voxel-1t", "fastseg convention='monai', 1 thread", _fs_hd("monai", q, 1),
                                 reference=(("crop-scipy", 1e-12),)),
        "deepmind": Tool("deepmind", "DeepMind surface-distance", lambda c: px.deepmind_hd(c.pred, c.ref, c.spacing, q),
                         needs=("deepmind",), reference=(("fastseg", 1e-12),), versus="fastseg"),
        "monai": Tool("monai", "MONAI compute_hausdorff_distance", lambda c: px.monai_hd(c.pred, c.ref, c.spacing, q),
                      needs=("monai",), reference=(("fastseg-voxel", 1e-5),), versus="fastseg-voxel",
                      note="float32 (torch quantile)"),
        "crop-scipy": Tool("crop-scipy", "crop + binary_erosion + scipy EDT",
                           lambda c: px.crop_hd(c.pred, c.ref, c.spacing, q), reference=(("fastseg-voxel", 1e-12),),
                           versus="fastseg-voxel", note="MONAI's definition (convention 'monai')"),
        "crop-edt": Tool("crop-edt", "crop + binary_erosion + edt package",
                         lambda c: px.crop_hd(c.pred, c.ref, c.spacing, q, backend="edt"), needs=("edt",),
                         reference=(("fastseg-voxel", 1e-5),), versus="fastseg-voxel",
                         note="MONAI's definition; edt returns float32"),
    }
    if q in (95.0, 100.0):
        tools["medpy"] = Tool(
            "medpy", "MedPy hd95" if q == 95.0 else "MedPy hd", lambda c: px.medpy_hd(c.pred, c.ref, c.spacing, q),
            needs=("medpy",), reference=((_named("fastseg convention='medpy'", _fs_hd("medpy", q)), 1e-12),),
            versus="fastseg-voxel", slow=True,
            note="pooled percentile: convention 'medpy', the same work as fastseg-voxel")
    if q == 95.0:
        tools["segmetrics"] = Tool(
            "segmetrics", "seg-metrics write_metrics(metrics=['hd95'])",
            lambda c: px.segmetrics_metric(c.pred, c.ref, c.spacing, "hd95"), needs=("segmetrics", "sitk"),
            reference=((_named("fastseg Convention(surface='voxel', connectivity=3, percentile='linear_pooled')",
                               _fs_hd(_SEGMETRICS, q)), 1e-5),), versus="fastseg-voxel", slow=True,
            note="ITK contours, full connectivity, pooled; float32")
    if q == 100.0:
        tools["sitk"] = Tool("sitk", "SimpleITK HausdorffDistanceImageFilter",
                             lambda c: px.sitk_hausdorff(c.pred, c.ref, c.spacing), needs=("sitk",),
                             reference=((_named("crop + SciPy EDT at every object voxel (the same all-voxel "
                                                "definition)", lambda c: px.voxel_set_hd(c.pred, c.ref, c.spacing)),
                                         1e-12),),
                             versus="fastseg-voxel",
                             note="different definition: all object voxels, not surfaces")
    return tools


HD95 = Task(
    name="hd95",
    title="HD95 of a binary pair, whole pipeline from the full volumes",
    cases=("organ", "lesion", "mni", "slice2d"),
    tools=_hd_tools(95.0),
)

HD = Task(
    name="hd",
    title="Hausdorff distance (max) of a binary pair",
    cases=("organ",),
    tools={k: t for k, t in _hd_tools(100.0).items()
           if k in ("fastseg", "fastseg-voxel", "deepmind", "crop-scipy", "sitk")},
)


# ============================================================================ ASSD and surface Dice

def _fs_assd(conv, threads=None):
    return lambda c: fastseg.assd(c.pred, c.ref, spacing=c.spacing, convention=conv, threads=threads)


def _fastseg_rows(fs, surfel_label, voxel_label, surfel_refs):
    """fastseg's four rows of a surface-distance metric task: surfels (convention 'deepmind') and boundary
    voxels (convention 'monai'), each also on one thread. ``fs(conv, threads)`` makes the call."""
    voxel_refs = (("crop-scipy", 1e-12),)
    return {
        "fastseg": Tool("fastseg", f"fastseg ({surfel_label})", fs("deepmind"), reference=surfel_refs),
        "fastseg-1t": Tool("fastseg-1t", "fastseg (surfels), 1 thread", fs("deepmind", 1), reference=surfel_refs),
        "fastseg-voxel": Tool("fastseg-voxel", f"fastseg convention='monai' ({voxel_label})", fs("monai"),
                              reference=voxel_refs),
        "fastseg-voxel-1t": Tool("fastseg-voxel-1t", "fastseg convention='monai', 1 thread", fs("monai", 1),
                                 reference=voxel_refs),
    }


_ASSD_SURFEL_REFS = (("deepmind", 1e-12), (_named("crop + NumPy surfels + SciPy EDT", numpy_surfel_assd), 1e-12))

ASSD = Task(
    name="assd",
    title="ASSD (average symmetric surface distance) of a binary pair",
    cases=("organ", "lesion", "mni", "slice2d"),
    tools={
        **_fastseg_rows(_fs_assd, "surfels, mean of the directed means; convention 'deepmind'",
                        "boundary voxels, pooled", _ASSD_SURFEL_REFS),
        "deepmind": Tool("deepmind", "DeepMind compute_average_surface_distance, mean of the pair",
                         lambda c: px.deepmind_assd(c.pred, c.ref, c.spacing), needs=("deepmind",),
                         reference=(("fastseg", 1e-12),), versus="fastseg"),
        "monai": Tool("monai", "MONAI compute_average_surface_distance(symmetric=True)",
                      lambda c: px.monai_assd(c.pred, c.ref, c.spacing), needs=("monai",),
                      reference=(("fastseg-voxel", 1e-5),), versus="fastseg-voxel", note="float32 result"),
        "medpy": Tool("medpy", "MedPy assd", lambda c: px.medpy_assd(c.pred, c.ref, c.spacing), needs=("medpy",),
                      reference=((_named("fastseg convention='medpy'", _fs_assd("medpy")), 1e-12),),
                      versus="fastseg-voxel", slow=True,
                      note="pooled mean: convention 'medpy', the same value and work as fastseg-voxel"),
        "segmetrics": Tool("segmetrics", "seg-metrics write_metrics(metrics=['msd'])",
                           lambda c: px.segmetrics_metric(c.pred, c.ref, c.spacing, "msd"),
                           needs=("segmetrics", "sitk"),
                           reference=((_named("fastseg Convention(surface='voxel', connectivity=3, "
                                              "percentile='linear_pooled')", _fs_assd(_SEGMETRICS)), 1e-5),),
                           versus="fastseg-voxel", slow=True,
                           note="its 'msd' is a pooled ASSD; ITK contours, full connectivity; float32"),
        "crop-scipy": Tool("crop-scipy", "crop + binary_erosion + scipy EDT",
                           lambda c: px.crop_assd(c.pred, c.ref, c.spacing), reference=(("fastseg-voxel", 1e-12),),
                           versus="fastseg-voxel", note="MONAI's definition (convention 'monai')"),
        "crop-edt": Tool("crop-edt", "crop + binary_erosion + edt package",
                         lambda c: px.crop_assd(c.pred, c.ref, c.spacing, backend="edt"), needs=("edt",),
                         reference=(("fastseg-voxel", 1e-5),), versus="fastseg-voxel",
                         note="MONAI's definition; edt returns float32"),
    },
    note="fastseg.masd is not timed on its own: MetricsReloaded (which defines MASD) is not installed, and "
         "DeepMind's ASSD (the mean of its two directed means, the 'deepmind' rows) is already MASD",
)

TOLERANCE = 2.0


def _fs_nsd(conv, threads=None):
    return lambda c: fastseg.nsd(c.pred, c.ref, tolerance=TOLERANCE, spacing=c.spacing, convention=conv,
                                 threads=threads)


_NSD_SURFEL_REFS = (("deepmind", 1e-12), (_named("crop + NumPy surfels + SciPy EDT",
                                                lambda c: numpy_surfel_nsd(c, TOLERANCE)), 1e-12))

NSD = Task(
    name="nsd",
    title=f"NSD (normalised surface distance, surface Dice) at {TOLERANCE:g} mm of a binary pair",
    cases=("organ", "lesion", "mni", "slice2d"),
    tools={
        **_fastseg_rows(_fs_nsd, "surfels by area; = convention 'fastseg'/'deepmind'", "boundary voxels counted",
                        _NSD_SURFEL_REFS),
        "deepmind": Tool("deepmind", "DeepMind compute_surface_dice_at_tolerance",
                         lambda c: px.deepmind_nsd(c.pred, c.ref, c.spacing, TOLERANCE), needs=("deepmind",),
                         reference=(("fastseg", 1e-12),), versus="fastseg"),
        "monai": Tool("monai", "MONAI compute_surface_dice",
                      lambda c: px.monai_nsd(c.pred, c.ref, c.spacing, TOLERANCE), needs=("monai",),
                      reference=(("fastseg-voxel", 1e-5),), versus="fastseg-voxel",
                      note="boundary voxels counted (convention 'monai'); float32 result"),
        "monai-subvoxels": Tool("monai-subvoxels", "MONAI compute_surface_dice(use_subvoxels=True)",
                                lambda c: px.monai_nsd(c.pred, c.ref, c.spacing, TOLERANCE, subvoxels=True),
                                needs=("monai",), reference=(("fastseg", 1e-5),), versus="fastseg", slow=True,
                                note="DeepMind's surfels weighted by area; float32 result"),
        "crop-scipy": Tool("crop-scipy", "crop + binary_erosion + scipy EDT",
                           lambda c: px.crop_nsd(c.pred, c.ref, c.spacing, TOLERANCE),
                           reference=(("fastseg-voxel", 1e-12),), versus="fastseg-voxel",
                           note="MONAI's definition (convention 'monai')"),
        "crop-edt": Tool("crop-edt", "crop + binary_erosion + edt package",
                         lambda c: px.crop_nsd(c.pred, c.ref, c.spacing, TOLERANCE, backend="edt"), needs=("edt",),
                         reference=(("fastseg-voxel", 1e-12),), versus="fastseg-voxel",
                         note="MONAI's definition; edt returns float32"),
    },
)


# ================================================================================== Boundary IoU

BOUNDARY_WIDTH = 2.0


def _fs_biou(threads=None):
    return lambda c: fastseg.boundary_iou(c.pred, c.ref, width=BOUNDARY_WIDTH, spacing=c.spacing, threads=threads)


BOUNDARY_IOU = Task(
    name="boundary_iou",
    title=f"Boundary IoU (band width {BOUNDARY_WIDTH:g} mm) of a binary pair",
    cases=("organ", "lesion", "mni", "slice2d"),
    tools={
        "fastseg": Tool("fastseg", "fastseg.boundary_iou", _fs_biou(), reference=(("scipy", 1e-12),)),
        "fastseg-1t": Tool("fastseg-1t", "fastseg.boundary_iou, 1 thread", _fs_biou(1), reference=(("scipy", 1e-12),)),
        "scipy": Tool("scipy", "crop + pad + scipy EDT of each mask, band = EDT <= width",
                      lambda c: px.band_iou(c.pred, c.ref, c.spacing, BOUNDARY_WIDTH),
                      reference=(("fastseg", 1e-12),), versus="fastseg"),
        "edt": Tool("edt", "crop + pad + edt package EDT of each mask, band = EDT <= width",
                    lambda c: px.band_iou(c.pred, c.ref, c.spacing, BOUNDARY_WIDTH, backend="edt"), needs=("edt",),
                    reference=(("fastseg", 1e-12),), versus="fastseg", note="float32 distances"),
    },
    note="no installed peer computes Boundary IoU (DeepMind, MONAI, MedPy, seg-metrics, SimpleITK have none): "
         "NumPy/SciPy and edt-package baselines only",
)


# ========================================================================================= clDice

_AORTA = next(k for k, (name, _, _) in cases.ORGANS10.items() if name == "aorta")


def _vessel_pair(case):
    """Binary cases as they are; the ``organs10`` label map -> its aorta as a binary pair (the one
    vessel-like structure of the standard cases: a tube 22 mm wide along axis 0)."""
    if not case.is_labels:
        return case
    return dataclasses.replace(case, pred=case.pred == _AORTA, ref=case.ref == _AORTA,
                               description=f"the aorta (label {_AORTA}) of organs10")


def _fastseg_skeleton_cldice(method):
    return _named(f"fastseg.skeletonize(method='{method}') + NumPy counts (clDice definition)",
                  lambda c: px.cldice_by_definition(c.pred, c.ref,
                                                    lambda m: fastseg.skeletonize(m, method=method)))


CLDICE = Task(
    name="cldice",
    title=f"clDice of a binary pair (on organs10: its aorta, label {_AORTA}, a vessel-like tube)",
    cases=("organ", "organs10", "mni", "slice2d"),
    prepare=_vessel_pair,
    tools={
        "fastseg": Tool("fastseg", "fastseg.cldice (topology-preserving thinning)",
                        lambda c: fastseg.cldice(c.pred, c.ref),
                        reference=((_fastseg_skeleton_cldice("fastseg"), 1e-12),),
                        note="3D skeleton differs from scikit-image's where its re-check erases voxels"),
        "fastseg-skimage": Tool("fastseg-skimage", "fastseg.cldice(method='skimage')",
                                lambda c: fastseg.cldice(c.pred, c.ref, method="skimage"),
                                reference=(("skimage", 1e-12), (_fastseg_skeleton_cldice("skimage"), 1e-12))),
        "skimage": Tool("skimage", "crop + skimage.morphology.skeletonize + NumPy counts",
                        lambda c: px.skimage_cldice(c.pred, c.ref), needs=("skimage",),
                        reference=(("fastseg-skimage", 1e-12),), versus="fastseg-skimage",
                        note="the clDice paper's definition and skeleton"),
    },
    note="thinning is sequential (no 1-thread rows); MONAI's SoftclDiceLoss uses a soft (pooling) skeleton, a "
         "different definition: not timed",
)


# ===================================================================================== evaluate

EVAL_METRICS = ("dice", "hd95", "assd", "nsd@2")


def _norm_eval(res):
    """EvaluationResult -> {label: {"dice", "hd95", "assd", "nsd"}}."""
    d = res.to_dict()
    return {int(k): {"dice": v["dice"], "hd95": v["hd95"], "assd": v["assd"], "nsd": v["nsd@2"]}
            for k, v in d.items()}


def fs_evaluate(conv, threads=None):
    return lambda c: _norm_eval(fastseg.evaluate(c.pred, c.ref, metrics=list(EVAL_METRICS), spacing=c.spacing,
                                                 convention=conv, threads=threads))


def fs_single_loop(case, conv="deepmind"):
    """What a user of fastseg's single-metric functions writes: per label, per metric, one call."""
    out = {}
    for lab in case.labels:
        p, r = case.pred == lab, case.ref == lab
        kw = dict(spacing=case.spacing, convention=conv)
        out[lab] = {"dice": fastseg.dice(p, r), "hd95": fastseg.hd95(p, r, **kw), "assd": fastseg.assd(p, r, **kw),
                    "nsd": fastseg.nsd(p, r, tolerance=TOLERANCE, **kw)}
    return out


EVALUATE = Task(
    name="evaluate",
    title="10 organs: Dice, HD95, ASSD, NSD@2 mm for every label",
    cases=("organs10",),
    tools={
        "fastseg": Tool("fastseg", "fastseg.evaluate (convention 'deepmind')", fs_evaluate("deepmind"),
                        reference=(("deepmind", 1e-12), ("fastseg-loop", 0))),
        "fastseg-1t": Tool("fastseg-1t", "fastseg.evaluate, 1 thread", fs_evaluate("deepmind", 1),
                           reference=(("fastseg-loop", 0),)),
        "fastseg-monai": Tool("fastseg-monai", "fastseg.evaluate (convention 'monai')", fs_evaluate("monai"),
                              reference=(("monai", 1e-5),
                                         (_named("fastseg single-metric functions (convention 'monai')",
                                                 lambda c: fs_single_loop(c, "monai")), 0))),
        "fastseg-loop": Tool("fastseg-loop", "fastseg single-metric functions, per label and metric",
                             fs_single_loop, reference=(("fastseg", 0),), versus="fastseg"),
        "deepmind": Tool("deepmind", "DeepMind, loop over labels", lambda c: px.deepmind_label_loop(
                         c.pred, c.ref, c.labels, c.spacing), needs=("deepmind",),
                         reference=(("fastseg", 1e-12),), versus="fastseg"),
        "monai": Tool("monai", "MONAI functional metrics, loop over labels", lambda c: px.monai_label_loop(
                      c.pred, c.ref, c.labels, c.spacing), needs=("monai",),
                      reference=(("fastseg-monai", 1e-5),), versus="fastseg-monai", slow=True,
                      note="float32 results"),
    },
    summary=lambda d: {str(k): v["hd95"] for k, v in d.items()},
)


TASKS = {t.name: t for t in (CONFUSION, DICE, CONFUSION_MATRIX, BOUNDARY, SURFELS, EDT, HD95, HD, ASSD, NSD,
                              BOUNDARY_IOU, CLDICE, EVALUATE)}
