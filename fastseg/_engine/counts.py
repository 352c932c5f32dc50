"""The one pass over the volume: confusion counts, bounding boxes, crops and empty states.

What every metric family shares before it diverges: the counting pass over two binary masks
(:func:`binary_counts`), the label-map pass that gives the confusion matrix of every label and every
label's bounding box at once (:func:`count_labels`), the counts and union box of a binary pair
(:func:`counts_and_box`), crops, the lift of 1D/2D arrays to the 3D kernels (:func:`as3`,
:func:`spacing3`), and the empty state of a pair. Inputs arrive validated and normalised by
:mod:`fastseg._validation` and are not checked again here; the kernels only count mask values
above 1, for the caller's error message.
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import _validation as v
from .._kernels import confusion as _k
from .._kernels import tuning
from .chunks import side_by_side
from .._kernels._jit import num_threads, serial_if_small

__all__ = ["BOTH_EMPTY", "REF_EMPTY", "PRED_EMPTY", "NOT_EMPTY", "empty_state", "Confusion", "LabelConfusion",
           "binary_counts", "count_labels", "label_confusion", "counts_and_box", "union_slices", "crop",
           "as3", "spacing3", "MASK_CLASSES", "NO_BOX_MIN", "soft_counts"]

BOTH_EMPTY = "both_empty"
REF_EMPTY = "ref_empty"
PRED_EMPTY = "pred_empty"
NOT_EMPTY = "none"


def empty_state(n_pred, n_ref):
    """The empty state of a pair from its foreground sizes (voxels or surface area)."""
    if n_pred == 0 and n_ref == 0:
        return BOTH_EMPTY
    if n_ref == 0:
        return REF_EMPTY
    if n_pred == 0:
        return PRED_EMPTY
    return NOT_EMPTY


@dataclass(frozen=True)
class Confusion:
    """Confusion counts of a binary pair (int counts) and the voxel volume they were taken at.

    Attributes
    ----------
    tp, fp, fn, tn : int
        True positives (pred & ref), false positives (pred & ~ref), false negatives (~pred & ref),
        true negatives.
    voxel_volume : float
        Product of the spacing (1.0 when no spacing was given), in spacing units cubed (mm^3).
    """

    tp: int
    fp: int
    fn: int
    tn: int
    voxel_volume: float = 1.0

    @property
    def n(self):
        """Total number of voxels."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def pred_count(self):
        return self.tp + self.fp

    @property
    def ref_count(self):
        return self.tp + self.fn

    @property
    def pred_volume(self):
        """Volume of ``pred`` in spacing units cubed (mm^3 for mm spacing)."""
        return self.pred_count * self.voxel_volume

    @property
    def ref_volume(self):
        """Volume of ``ref`` in spacing units cubed (mm^3 for mm spacing)."""
        return self.ref_count * self.voxel_volume

    @property
    def pred_volume_ml(self):
        """Volume of ``pred`` in millilitres, assuming spacing in mm."""
        return self.pred_volume / 1000.0

    @property
    def ref_volume_ml(self):
        """Volume of ``ref`` in millilitres, assuming spacing in mm."""
        return self.ref_volume / 1000.0

    @property
    def empty_state(self):
        """``"both_empty"``, ``"ref_empty"``, ``"pred_empty"`` or ``"none"``."""
        return empty_state(self.pred_count, self.ref_count)



# ---- the counting passes

def _words(a):
    """A flat uint8 array as aligned, read-only uint64 words (copying only if misaligned) plus its
    tail bytes."""
    n8 = a.size // 8 * 8
    head = a[:n8]
    if head.ctypes.data % 8:
        head = head.copy()
    return v.readonly(head).view(np.uint64), a[n8:]


def _aligned_words(a):
    """A flat uint8/uint16 array 8-byte aligned (copied only if it is not) and its whole uint64 words:
    ``(array, words, wshift)``, word ``j`` holding elements ``[j << wshift, (j + 1) << wshift)``.
    Both read-only, whatever the caller's array: numba compiles a kernel once per read-only /
    writable combination of its arguments, and fastseg compiles the read-only one only."""
    a = v.readonly(a.copy() if a.ctypes.data % 8 else a)
    wshift = 3 if a.itemsize == 1 else 2
    return a, a[: (a.size >> wshift) << wshift].view(np.uint64), wshift


def binary_counts(p, r):
    """``(sum(p & r), sum(p), sum(r))`` of two flat uint8 masks, refusing values other than 0/1."""
    if p.size < tuning.SMALL_COUNT:  # numpy is faster than starting a parallel kernel
        v.raise_if_not_binary("pred", np.count_nonzero(p > 1), p.size)
        v.raise_if_not_binary("ref", np.count_nonzero(r > 1), r.size)
        return int(np.count_nonzero(p & r)), int(np.count_nonzero(p)), int(np.count_nonzero(r))
    pw, ptail = _words(p)
    rw, rtail = _words(r)
    tp, sum_p, sum_r, bad_p, bad_r = (int(x) for x in _k.binary_counts(pw, rw, tuning.COUNT_BLOCK,
                                                                       tuning.NCHUNKS))
    bad_p = np.count_nonzero(p > 1) if bad_p or np.any(ptail > 1) else 0
    bad_r = np.count_nonzero(r > 1) if bad_r or np.any(rtail > 1) else 0
    v.raise_if_not_binary("pred", bad_p, p.size)
    v.raise_if_not_binary("ref", bad_r, r.size)
    tp += int(np.count_nonzero(ptail & rtail))
    return tp, sum_p + int(np.count_nonzero(ptail)), sum_r + int(np.count_nonzero(rtail))


@dataclass(frozen=True)
class LabelConfusion:
    """Confusion matrix of two label maps, with every label's bounding box in each map.

    Attributes
    ----------
    labels : ndarray of int64, shape (K,)
        Label values, in increasing order.
    matrix : ndarray of int64, shape (K, K)
        ``matrix[i, j]`` = number of voxels with ``ref == labels[i]`` and ``pred == labels[j]``.
    bbox_pred, bbox_ref : ndarray of int64, shape (K, 2 * ndim) or None
        Inclusive ``[min0, max0, min1, max1, ...]`` per label (``min > max`` if the label is absent);
        None for arrays of more than 3 dimensions.
    shape : tuple
        Shape of the label maps.
    pred_counts, ref_counts : ndarray of int64, shape (K,)
        Voxels of each label in ``pred`` and in ``ref`` (over the whole map, whatever ``labels`` kept).
    """

    labels: np.ndarray
    matrix: np.ndarray
    bbox_pred: object
    bbox_ref: object
    shape: tuple
    pred_counts: np.ndarray
    ref_counts: np.ndarray

    def index(self, label):
        i = np.searchsorted(self.labels, label)
        if i < self.labels.size and self.labels[i] == label:
            return int(i)
        return None

    def binary(self, labels, voxel_volume=1.0):
        """:class:`Confusion` of the structure made of one label or a union of labels."""
        idx = [self.index(lab) for lab in np.atleast_1d(labels)]
        idx = [i for i in idx if i is not None]
        n = int(np.prod(self.shape))
        if not idx:
            return Confusion(0, 0, 0, n, voxel_volume)
        tp = int(self.matrix[np.ix_(idx, idx)].sum())
        fn = int(self.ref_counts[idx].sum()) - tp
        fp = int(self.pred_counts[idx].sum()) - tp
        return Confusion(tp, fp, fn, n - tp - fp - fn, voxel_volume)

    def bbox(self, labels, which="union"):
        """Inclusive bounding box ``[min0, max0, ...]`` of labels in ``"pred"``, ``"ref"`` or their union;
        None when absent everywhere (or for arrays of more than 3 dimensions)."""
        if self.bbox_pred is None:
            return None
        boxes = []
        for lab in np.atleast_1d(labels):
            i = self.index(lab)
            if i is None:
                continue
            if which in ("pred", "union"):
                boxes.append(self.bbox_pred[i])
            if which in ("ref", "union"):
                boxes.append(self.bbox_ref[i])
        boxes = [b for b in boxes if b[0] <= b[1]]
        if not boxes:
            return None
        b = np.array(boxes)
        out = np.empty(b.shape[1], dtype=np.int64)
        out[0::2] = b[:, 0::2].min(axis=0)
        out[1::2] = b[:, 1::2].max(axis=0)
        return out



#: the lower corner of an absent label's box in the label kernel's output (``min > max``)
NO_BOX_MIN = 1 << 62

#: value -> class for a binary pair through the label pass: 0, 1, and 2 for anything else
MASK_CLASSES = np.full(256, 2, dtype=np.int64)
MASK_CLASSES[0] = 0
MASK_CLASSES[1] = 1
MASK_CLASSES.flags.writeable = False

#: value -> itself: the classes of a uint8 label map. Like every table given to the label kernel it
#: is read-only: numba compiles one specialisation per read-only / writable combination of its
#: arguments, so tables of both kinds would compile the kernel twice.
UINT8_CODES = np.arange(256, dtype=np.int64)
UINT8_CODES.flags.writeable = False


def _bbox_to_input_axes(bb, ndim, transposed):
    """Kernel boxes are over a 3D view (1D/2D get leading size-1 axes; F-order input is transposed)."""
    if ndim > 3:
        return None
    bb = bb[:, 2 * (3 - ndim):]
    if transposed:
        k = bb.shape[0]
        bb = bb.reshape(k, ndim, 2)[:, ::-1, :].reshape(k, 2 * ndim)
    return np.ascontiguousarray(bb)


def _as_3d(a):
    if a.ndim <= 3:
        return as3(a)
    return a.reshape((int(np.prod(a.shape[:-2])),) + a.shape[-2:])


def label_confusion(p, r, lut_p, lut_r, k, transposed, shape):
    """Run the label kernel on validated C-contiguous maps; boxes returned in input-axis order.

    ``lut_p``, ``lut_r`` (read-only int64, as every table given to the kernel, so that it compiles
    once) map each stored value to a class in ``[0, k)``; returns the ``(k, k)`` matrix (rows: ref)
    and the boxes of every class in each map.

    The rows are cut into chunks, each counted by the serial kernel ``label_runs`` into its own
    buffers, side by side on threads (:func:`fastseg._engine.chunks.side_by_side`; the kernel releases the GIL), then
    summed and united here. Counts and boxes are integers: they do not depend on the chunks. A serial
    kernel run on threads compiles in about half the time of numba's parallel one.
    """
    nz, ny, nx = _as_3d(p).shape
    nrows = nz * ny
    with serial_if_small(nz * ny * nx):
        threads = num_threads()
        # chunks: enough rows each to pay for a private k x k buffer (zeroed, then summed: with k = 256
        # for uint8 maps, 16 chunks cost about 1 ms more than 2 on an 8 Mvox map), two per thread
        # for balance; small maps, or one thread, in one chunk
        nchunks = 1 if threads < 2 else int(max(1, min(2 * threads, 16, tuning.DENSE_BUDGET // max(1, k * k * 8),
                                                        (nz * ny * nx) // (1 << 16), nrows)))
        pf, pw, wshift = _aligned_words(p.reshape(-1))
        rf, rw, _ = _aligned_words(r.reshape(-1))
        cms = np.zeros((nchunks, k, k), dtype=np.int64)
        bbps = np.empty((nchunks, k, 6), dtype=np.int64)
        bbps[:, :, 0::2] = NO_BOX_MIN
        bbps[:, :, 1::2] = -1
        bbrs = bbps.copy()

        def work(c):
            _k.label_runs(pf, rf, pw, rw, ny, nx, lut_p, lut_r, wshift, tuning.RUN_BLOCK, nrows * c // nchunks,
                          nrows * (c + 1) // nchunks, cms[c], bbps[c], bbrs[c])

        side_by_side(work, nchunks, threads)
    cm = cms.sum(axis=0) if nchunks > 1 else cms[0]
    bbp = _unite(bbps)
    bbr = _unite(bbrs)
    ndim = len(shape)
    return cm, _bbox_to_input_axes(bbp, ndim, transposed), _bbox_to_input_axes(bbr, ndim, transposed)


def _unite(boxes):
    """The union of the chunks' boxes ``(nchunks, k, 6)``: smallest lower, largest upper bounds."""
    if boxes.shape[0] == 1:
        return boxes[0]
    out = np.empty(boxes.shape[1:], np.int64)
    out[:, 0::2] = boxes[:, :, 0::2].min(axis=0)
    out[:, 1::2] = boxes[:, :, 1::2].max(axis=0)
    return out


def _present_labels(p, r):
    """uint16 label codes present in either map, and a LUT from code to compact index."""
    with serial_if_small(p.size):
        seen = _k.label_presence(v.readonly(p.reshape(-1)), v.readonly(r.reshape(-1)), tuning.LABEL_CODES,
                                 int(max(1, min(16, p.size >> 18))))
    codes = np.flatnonzero(seen.any(axis=0))
    lut = np.zeros(tuning.LABEL_CODES, np.int64)
    lut[codes] = np.arange(codes.size)
    return codes.astype(np.int64), v.readonly(lut)


def count_labels(p, r, values, shape, transposed):
    """One pass over two validated label maps: the confusion matrix over every label present, each
    label's counts and boxes.

    ``p``, ``r``: C-contiguous uint8/uint16 maps (``fastseg._validation.label_pair`` then
    ``c_layout``); ``values``: the code -> label table of ``label_pair`` (None: codes are labels);
    ``shape``: the maps' shape as the user gave them; ``transposed``: whether ``c_layout`` transposed
    them (boxes are returned in the user's axis order). Uses the calling thread limit.
    """
    if p.dtype == np.uint8:
        cm, bbp, bbr = label_confusion(p, r, UINT8_CODES, UINT8_CODES, 256, transposed, shape)
        present = np.flatnonzero(cm.any(axis=0) | cm.any(axis=1))
        cm = cm[np.ix_(present, present)]
        bbp = None if bbp is None else bbp[present]
        bbr = None if bbr is None else bbr[present]
        codes = present.astype(np.int64)
    else:
        codes, lut = _present_labels(p, r)
        if codes.size == 0:
            e = np.zeros(0, np.int64)
            no_box = None if len(shape) > 3 else np.zeros((0, 2 * len(shape)), np.int64)
            return LabelConfusion(e, np.zeros((0, 0), np.int64), no_box,
                                  None if no_box is None else no_box.copy(), shape, e, e.copy())
        if codes.size * codes.size * 8 > tuning.DENSE_LIMIT:
            raise v.InputValueError(
                f"pred and ref hold {codes.size} distinct labels; a dense confusion matrix of that "
                f"size does not fit in memory (at most about 8000 labels)."
            )
        cm, bbp, bbr = label_confusion(p, r, lut, lut, max(1, codes.size), transposed, shape)
    labels = codes if values is None else values[codes]
    return LabelConfusion(labels, cm, bbp, bbr, shape, cm.sum(axis=0), cm.sum(axis=1))


def soft_counts(p, r8):
    """``(sum p, sum r, sum p*r, #p outside [0, 1] or NaN, #r above 1)`` of a flat C-ordered float
    probability map and a flat uint8 mask, in one pass."""
    with serial_if_small(p.size):
        return tuple(float(x) for x in _k.soft_sums(p, r8, tuning.NCHUNKS))


# ---- binary pairs: counts and the union box

def union_slices(boxes, ndim):
    """The bounding box of the non-empty inclusive boxes ``[min0, max0, ...]`` (rows of ``boxes``)
    as a tuple of slices; None when every box is empty (``min > max``)."""
    box = boxes[boxes[:, 0] <= boxes[:, 1]]
    if box.size == 0:
        return None
    return tuple(slice(int(box[:, 2 * a].min()), int(box[:, 2 * a + 1].max()) + 1) for a in range(ndim))


def counts_and_box(p, r, names=("pred", "ref")):
    """One pass over two C-ordered uint8 masks (2D/3D): the foreground count of each (refusing
    values other than 0/1, named by ``names`` in the error) and the bounding box of their union as
    a tuple of slices (None when both are empty)."""
    cm, bbp, bbr = label_confusion(p, r, MASK_CLASSES, MASK_CLASSES, 3, False, p.shape)
    v.raise_if_not_binary(names[0], cm[:, 2].sum(), p.size)
    v.raise_if_not_binary(names[1], cm[2, :].sum(), r.size)
    box = union_slices(np.concatenate([bbp[1:2], bbr[1:2]]), p.ndim)
    return int(cm[:, 1].sum()), int(cm[1, :].sum()), box


def crop(arrays, box, widen=False):
    """C-contiguous ``arrays`` inside ``box`` (inclusive ``[min0, max0, ...]`` or slices): copies, or
    views where the box covers whole rows (and planes) of C-ordered arrays. ``widen``: first widen the
    box to whole rows and planes when that adds at most a sixteenth of its voxels (a box of nearly
    the whole image, as stray voxels make it: a view instead of a copy of the image), for callers
    whose result does not change with background around the box."""
    if not isinstance(box, tuple):
        box = tuple(slice(int(box[2 * a]), int(box[2 * a + 1]) + 1) for a in range(len(box) // 2))
    if widen and arrays:
        shape = arrays[0].shape
        rows = box[:1] + tuple(slice(0, n) for n in shape[1:])
        if 16 * _volume(rows, shape) <= 17 * _volume(box, shape):
            box = rows
    return [np.ascontiguousarray(a[box]) for a in arrays]


def _volume(box, shape):
    return math.prod(len(range(*s.indices(n))) for s, n in zip(box, shape))


# ---- the lift to the 3D kernels

def as3(a):
    """A 1D/2D/3D array as a 3D view with leading axes of size 1."""
    return a.reshape((1,) * (3 - a.ndim) + a.shape)


def spacing3(sp):
    """Spacing of a 1D/2D/3D array for its :func:`as3` view (1.0 on the added axes), float64."""
    return np.concatenate([np.ones(3 - sp.size), sp]).astype(np.float64)
