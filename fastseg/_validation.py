"""Validation and normalisation of user input: the one place where arguments are checked.

Everything here turns what a user passes into what the kernels expect (C-contiguous, read-only,
native byte order, a closed set of dtypes) and raises a clear ``TypeError``/``ValueError`` otherwise.
"""
import json
import math
import numbers
import operator
import os

import numpy as np


class FastsegError(Exception):
    """Base class of fastseg's own exceptions (each also subclasses TypeError or ValueError)."""


class InputTypeError(FastsegError, TypeError):
    """An argument is the wrong kind of object or has an unsupported dtype."""


class InputValueError(FastsegError, ValueError):
    """An argument has a wrong value (shape, range, NaN, spacing...)."""


def as_array(x, name):
    """``np.asarray(x)`` with a clear TypeError for objects that are not numeric arrays.

    Masked arrays are refused: ``np.asarray`` would drop their mask, and fastseg has no notion of
    masked voxels (``ignore_label`` of :func:`fastseg.evaluate` is the way to leave voxels out).
    """
    if isinstance(x, np.ma.MaskedArray):
        raise InputTypeError(
            f"{name} is a numpy masked array, whose mask fastseg would silently drop; fill the masked "
            f"values first, e.g. np.ma.filled({name}, 0)."
        )
    try:
        a = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - any failure to convert is the user's type problem
        raise InputTypeError(f"{name} must be an array-like of numbers; got {type(x).__name__} ({exc}).") from exc
    if a.dtype == object or not (a.dtype == bool or np.issubdtype(a.dtype, np.number)) or np.iscomplexobj(a):
        raise InputTypeError(
            f"{name} must be a boolean, integer or float array; got dtype {a.dtype} "
            f"from {type(x).__name__}."
        )
    return a


def check_same_shape(pred, ref):
    if pred.shape != ref.shape:
        raise InputValueError(f"pred and ref must have the same shape; got {pred.shape} and {ref.shape}.")


def check_ndim(a, allowed, what, name="pred"):
    """Refuse arrays whose number of dimensions is not in ``allowed``."""
    if a.ndim not in allowed:
        dims = " or ".join(f"{d}D" for d in allowed)
        raise InputValueError(
            f"{what} supports {dims} inputs; got {name} with {a.ndim} dimensions (shape {a.shape})."
        )


def _spacing_type_error(spacing, ndim, name):
    return InputTypeError(
        f"{name} must be None, a number, or one number per axis ({ndim}); got {spacing!r}: pass numbers "
        f"(not strings or bools), e.g. {name}={(1.0,) * ndim}."
    )


def _is_real(x):
    """A real number that is not a bool (Python or numpy scalar); strings are not numbers."""
    return isinstance(x, (numbers.Real, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


#: the largest ratio between the voxel sizes of two axes that distances accept: with the spacing
#: scaled by a power of two (``fastseg._engine.distances.unit_spacing``), every squared distance and
#: surfel area then stays a normal float64, so distances are exact at any spacing within it
MAX_ANISOTROPY = 2.0 ** 250


def normalize_spacing(spacing, ndim, name="spacing", *, distances=False):
    """Spacing as a float64 array of one positive finite value per axis (array-axis order).

    ``None`` means 1.0 per axis; a scalar applies to every axis. Strings (``"2"``) and bools are
    refused, alone or inside a sequence, rather than converted. With ``distances=True`` (distance
    metrics, EDT) axes whose voxel sizes differ by more than :data:`MAX_ANISOTROPY` are refused.
    """
    if spacing is None:
        return np.ones(ndim, dtype=np.float64)
    if _is_real(spacing):
        spacing = float(spacing)
    elif isinstance(spacing, (str, bytes, bool, np.bool_)) or (
            isinstance(spacing, (list, tuple)) and any(isinstance(x, (str, bytes, bool, np.bool_)) for x in spacing)):
        raise _spacing_type_error(spacing, ndim, name)
    try:
        given = np.asarray(spacing)
        if not (given.dtype.kind in "iuf" or (given.dtype == object and all(_is_real(x) for x in given.flat))):
            raise TypeError(f"dtype {given.dtype}")
        values = given.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise _spacing_type_error(spacing, ndim, name) from exc
    if values.ndim == 0:
        values = np.full(ndim, float(values))
    if values.ndim != 1 or values.size != ndim:
        raise InputValueError(
            f"{name} must have one positive value per axis ({ndim}); got {tuple(np.ravel(spacing).tolist())}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InputValueError(
            f"{name} must have one positive finite value per axis ({ndim}); got {tuple(values.tolist())}."
        )
    if distances and values.size and values.max() / MAX_ANISOTROPY > values.min():
        raise InputValueError(
            f"{name} {tuple(values.tolist())} has voxel sizes differing by a factor above 2**250 (about 2e75), "
            f"beyond what float64 squared distances can hold; check that every axis is in the same unit."
        )
    return values


def _c_contiguous(a):
    """C-contiguous without copying when already so; unlike np.ascontiguousarray keeps 0-d arrays 0-d."""
    return a if a.flags.c_contiguous else np.array(a, order="C")


def readonly(a):
    """A read-only view of ``a`` (kernels take read-only inputs; the caller's array is untouched)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _offending_message(name, bad, n_nan, size):
    extra = f" ({n_nan} of them NaN)" if n_nan else ""
    return (f"{name} must be a binary mask (bool, or numbers that are all 0 or 1); {bad} of {size} voxels hold "
            f"other values{extra}. For label maps use fastseg.evaluate(pred, ref, labels=...), or pass e.g. "
            f"{name} == label.")


def uint8_mask(a, name):
    """A uint8 view of a mask, without copying bool/uint8/int8 input; other dtypes are checked here."""
    if a.dtype == bool or a.dtype == np.uint8 or a.dtype == np.int8:
        return a.view(np.uint8), False  # values > 1 are counted by the kernels
    nonzero = a != 0
    not_one = a != 1
    bad = int(np.count_nonzero(nonzero & not_one))
    if bad:
        n_nan = int(np.count_nonzero(np.isnan(a))) if a.dtype.kind == "f" else 0
        raise InputValueError(_offending_message(name, bad, n_nan, a.size))
    return nonzero.view(np.uint8), True


def raise_if_not_binary(name, bad, size):
    """Called by metrics after a kernel counted values above 1 in a uint8 view."""
    if bad:
        raise InputValueError(_offending_message(name, int(bad), 0, size))


def _mask_views(pred, ref):
    """Two validated masks of one shape as uint8 views (or 0/1 copies), in the layout they came in."""
    p = as_array(pred, "pred")
    r = as_array(ref, "ref")
    check_same_shape(p, r)
    return uint8_mask(p, "pred")[0], uint8_mask(r, "ref")[0]


def binary_pair(pred, ref, *, flat=False):
    """Validate two masks; return uint8, read-only views in a common layout.

    With ``flat=True`` the result is two 1D views in the same element order (for counts: C or
    Fortran order both work without a copy). Otherwise two C-contiguous arrays of the original shape.
    Values above 1 in bool/uint8/int8 input are not checked here: kernels count them in their pass
    and the caller reports them with :func:`raise_if_not_binary`.
    """
    p8, r8 = _mask_views(pred, ref)
    if flat:
        if p8.flags.f_contiguous and r8.flags.f_contiguous and not (p8.flags.c_contiguous and r8.flags.c_contiguous):
            return readonly(p8.ravel(order="F")), readonly(r8.ravel(order="F"))
        return readonly(_c_contiguous(p8).ravel()), readonly(_c_contiguous(r8).ravel())
    return readonly(_c_contiguous(p8)), readonly(_c_contiguous(r8))


def spatial_pair(pred, ref, spacing, what):
    """Validate two binary 2D/3D masks and their spacing for the distance pipeline.

    Returns ``(p, r, spacing, given)`` as :func:`c_layout` lays them out (``spacing`` in their axis
    order; ``given``: the spacing in the user's axis order): the same decision ``evaluate`` takes on
    label maps (whose comparisons ``map == label`` are these masks), so that both compute on the same
    array and give the same bits. Values above 1 are left to the counting kernel.
    """
    p8, r8 = _mask_views(pred, ref)
    check_ndim(p8, (2, 3), what)
    given = normalize_spacing(spacing, p8.ndim, distances=True)
    (p, r), sp, _ = c_layout([p8, r8], given)
    return p, r, sp, given


def c_layout(arrays, spacing):
    """Arrays that are all Fortran-ordered are transposed (a free view) with their spacing reversed,
    so spatial kernels can take C order without a copy; others are made C-contiguous.

    Non-contiguous arrays are first made contiguous in their own order (numpy's order "K", the layout
    numpy gives ``a == label``): the decision then depends only on the order of the strides, so a
    label map and the masks compared from it are laid out alike. Returns ``(arrays, spacing, transposed)``.
    """
    arrays = [a if a.flags.c_contiguous or a.flags.f_contiguous else a.copy(order="K") for a in arrays]
    if all(a.flags.f_contiguous and not a.flags.c_contiguous for a in arrays):
        return [readonly(a.T) for a in arrays], spacing[::-1].copy(), True
    return [readonly(_c_contiguous(a)) for a in arrays], spacing, False


def probability_map(pred, name="pred"):
    """A probability map as a read-only C-ordered flat float32/float64 array (range checked in kernels)."""
    a = as_array(pred, name)
    if a.dtype == bool:
        a = a.view(np.uint8)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def raise_if_not_probability(name, bad, flat, shape):
    """``bad`` values of a probability map (``flat``, of ``shape``) outside [0, 1] or NaN: name the first."""
    if bad:
        first = int(np.flatnonzero(~((flat >= 0) & (flat <= 1)))[0])
        raise InputValueError(f"{name} must hold probabilities in [0, 1] with no NaN (logits need a sigmoid or "
                              f"softmax first, 0-255 maps scaling); {int(bad)} of {flat.size} values do not, the first "
                              f"{float(flat[first])!r} at index {tuple(map(int, np.unravel_index(first, shape)))}.")


def check_fraction(value, name, *, low=0.0, high=None, inclusive_low=True):
    """A finite real number within bounds, e.g. Tversky weights or beta."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.generic)):
        raise InputTypeError(f"{name} must be a real number; got {value!r}.")
    v = float(value)
    ok = np.isfinite(v) and (v >= low if inclusive_low else v > low) and (high is None or v <= high)
    if not ok:
        bound = f">= {low}" if inclusive_low else f"> {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise InputValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return v


def check_percentile(percentile):
    """A percentile in [0, 100] as a float."""
    return check_fraction(percentile, "percentile", low=0.0, high=100.0)


def check_tolerances(tolerance):
    """NSD tolerances as a tuple of floats >= 0 and a flag saying whether a single value was given."""
    if tolerance is None:
        raise InputValueError(
            "nsd needs a tolerance in spacing units (e.g. tolerance=2.0 for 2 mm); none was given."
        )
    scalar = np.ndim(tolerance) == 0
    values = [tolerance] if scalar else list(tolerance)
    if not values:
        raise InputValueError("tolerance must be a number or a non-empty sequence of numbers; got [].")
    return tuple(check_fraction(t, "tolerance") for t in values), scalar


def check_betas(beta):
    """F-beta's beta: one number or a sequence of them, as a tuple of finite floats >= 0 (None: None)."""
    if beta is None:
        return None
    values = [beta] if np.ndim(beta) == 0 else list(beta)
    if not values:
        raise InputValueError("beta must be a number or a non-empty sequence of numbers; got [].")
    return tuple(check_fraction(b, "beta") for b in values)


def check_tversky(weights):
    """Tversky weights: one ``(alpha, beta)`` pair or a sequence of pairs, as a tuple of float pairs (each
    finite and >= 0; None: None)."""
    if weights is None:
        return None
    items = list(weights) if np.iterable(weights) and not isinstance(weights, (str, bytes)) else []
    if len(items) == 2 and all(_is_real(x) for x in items):
        items = [items]
    if not items or any(isinstance(p, (str, bytes)) or not np.iterable(p) or len(list(p)) != 2 for p in items):
        raise InputValueError(f"tversky must be an (alpha, beta) pair of weights or a list of pairs, e.g. "
                              f"tversky=(0.3, 0.7); got {weights!r}.")
    return tuple((check_fraction(a, "tversky alpha"), check_fraction(b, "tversky beta")) for a, b in items)


def check_names(names):
    """Label names ``{label: name}`` as a dict of int -> str (None: None). Keys are labels; names are
    distinct (two structures with one name could not be told apart) non-empty one-line strings, not
    numbers (they would read as labels)."""
    from collections.abc import Mapping

    if names is None:
        return None
    if not isinstance(names, Mapping):
        raise InputTypeError(f"names must be a dict of label -> name, e.g. names={{1: 'liver'}}; got "
                             f"{type(names).__name__}.")
    out, seen = {}, {}
    for label, text in names.items():
        lab = check_label(label, "a label in names")
        if not isinstance(text, str) or not text.strip():
            raise InputValueError(f"the name of label {lab} must be a non-empty string; got {text!r}.")
        text = text.strip()
        if any(ord(ch) < 32 for ch in text) or text.isdigit():
            raise InputValueError(f"the name of label {lab} must be one line of text and not a number; got {text!r}.")
        if text in seen and seen[text] != lab:
            raise InputValueError(f"labels {seen[text]} and {lab} have the same name {text!r}; give each its own name.")
        seen[text] = lab
        out[lab] = text
    return out


SKELETON_METHODS = ("fastseg", "skimage")


def skeleton_method(method):
    """``method`` of the skeleton functions; True for ``"fastseg"`` (full re-check), False for ``"skimage"``."""
    if not isinstance(method, str) or method not in SKELETON_METHODS:
        raise InputValueError(f'method must be "fastseg" or "skimage"; got {method!r}.')
    return method == "fastseg"


def check_threads(threads):
    if threads is None:
        return None
    try:
        n = operator.index(threads)
    except TypeError as exc:
        raise InputTypeError(f"threads must be None or a positive integer; got {threads!r}.") from exc
    if n < 1:
        raise InputValueError(f"threads must be None or a positive integer; got {threads!r}.")
    return n


# ---------------------------------------------------------------- label maps

_INT64_MAX = int(np.iinfo(np.int64).max)


def check_label(value, name):
    """One label given as an option (``ignore_label``): a non-negative Python or numpy integer, as int.

    Bools, floats (even 1.0) and strings are refused: ``int()`` would turn 1.5, True and "1" into 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise InputTypeError(
            f"{name} must be a non-negative integer; got {value!r} ({type(value).__name__}): pass an int, "
            f"e.g. {name}=255."
        )
    if value < 0:
        raise InputValueError(f"{name} must be a non-negative integer; got {value!r}: pass a label of the maps.")
    return int(value)


def check_ignore_label(ignore_label, labels=None, regions=None, *, ignore_text=None, labels_text=None,
                       region_text=None):
    """The ignore label as an int (None: None), refused when it is also scored: in ``labels`` or a
    region (its reference voxels are left out of every structure, so it would be scored on the
    prediction's stray voxels alone, and a region would count them as false positives). The texts
    name the arguments in the message (default: :func:`fastseg.evaluate`'s keywords; the command line
    names its options; ``region_text(name, members)``)."""
    if ignore_label is None:
        return None
    from collections.abc import Mapping

    ig = check_label(ignore_label, "ignore_label")
    why = f"{ignore_text or f'ignore_label={ig}'} is also in {{}}: the ignore label's reference voxels are left out " \
          f"of every structure, so {{}}. Drop {ig} from {{}}, or choose another ignore label."
    if labels is not None and ig in label_list(labels).tolist():
        raise InputValueError(why.format(labels_text or f"labels={label_list(labels).tolist()!r}",
                                         f"label {ig} would be scored on the prediction's stray voxels alone", "the labels"))
    for name, members in (regions.items() if isinstance(regions, Mapping) else ()):  # other types: evaluate says
        values = label_list(members, f"region {name!r}").tolist()
        if ig in values:
            raise InputValueError(why.format(region_text(name, values) if region_text else
                                             f"the region {name!r} of regions ({values})",
                                             f"the region would count the prediction's voxels of label {ig} "
                                             f"elsewhere as false positives", "the region"))
    return ig


def _label_item(x, name, labels):
    """One member of ``labels`` as an int (integers, or floats without fraction; no bool, no str)."""
    if isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_)):
        value = int(x)
    elif isinstance(x, (float, np.floating)):
        if not (math.isfinite(x) and float(x).is_integer()):
            raise InputValueError(f"{name} must be non-negative integers; got {x!r} in {labels!r}: drop the fraction.")
        value = int(x)
    else:
        raise InputTypeError(f"{name} must be non-negative integers; got {x!r} ({type(x).__name__}) in {labels!r}: "
                             f"pass ints, e.g. [1, 2].")
    if not 0 <= value <= _INT64_MAX:
        raise InputValueError(f"{name} must be non-negative integers up to 2**63 - 1; got {value} in {labels!r}: "
                              f"pass the labels of the maps.")
    return value


def label_list(labels, name="labels"):
    """One label or a sequence of them as an int64 array.

    Each label is a non-negative integer up to 2**63 - 1: a Python or numpy integer, or a float without
    fraction; bools, strings and other objects are refused (nothing is wrapped around or truncated).
    """
    if isinstance(labels, np.ndarray):
        a = labels.reshape(-1)
        if a.dtype == bool or a.dtype.kind not in "iuf":
            raise InputTypeError(f"{name} must be non-negative integers; got an array of dtype {a.dtype}: pass ints, "
                                 f"e.g. [1, 2].")
        if a.dtype.kind == "f" or (a.size and (a.min() < 0 or a.max() > _INT64_MAX)):
            return np.array([_label_item(x, name, labels) for x in a.tolist()], dtype=np.int64)
        return a.astype(np.int64)
    items = [labels] if isinstance(labels, (str, bytes)) or not np.iterable(labels) else list(labels)
    return np.array([_label_item(x, name, labels) for x in items], dtype=np.int64)


def _label_dtype(a, name):
    """Normalise one label map to uint8/uint16 when its values allow; return (array, max value)."""
    if a.dtype == bool:
        return a.view(np.uint8), 1
    if a.dtype in (np.uint8, np.uint16) and a.dtype.isnative:
        return a, None
    if a.size == 0:
        return np.zeros(a.shape, np.uint8), 0
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise InputValueError(f"{name} must be a label map of non-negative integers; it holds NaN or inf.")
        if np.any(a != np.floor(a)):
            raise InputValueError(f"{name} must be a label map of non-negative integers; it holds non-integer values.")
    lo = a.min()
    if lo < 0:
        raise InputValueError(f"{name} must be a label map of non-negative integers; got a negative label ({lo}).")
    hi = int(a.max())
    if hi < 256:
        return a.astype(np.uint8), hi
    if hi < 65536:
        return a.astype(np.uint16), hi
    return a, hi


def instance_pair(pred, ref):
    """Validate two instance maps (non-negative integers, 0 background, every other id one instance)
    of the same shape; returns C-contiguous integer arrays (floats holding integers are converted)."""
    out = []
    for a, name in ((as_array(pred, "pred"), "pred"), (as_array(ref, "ref"), "ref")):
        if a.dtype == bool:
            a = a.view(np.uint8)
        elif a.dtype.kind == "f":
            if not (np.all(np.isfinite(a)) and np.all(a == np.floor(a))):
                raise InputValueError(f"{name} must be an instance map of non-negative integers; it holds "
                                      f"non-integer values.")
            a = a.astype(np.int64)
        if a.size and a.min() < 0:
            raise InputValueError(f"{name} must be an instance map of non-negative integers; got a negative id "
                                  f"({a.min()}).")
        out.append(_c_contiguous(a))
    check_same_shape(out[0], out[1])
    return out[0], out[1]


def label_pair(pred, ref):
    """Validate two label maps of the same shape.

    Returns ``(p, r, values)``: C-contiguous read-only arrays of one dtype (uint8 or uint16) and
    ``values``, None when array values are the labels themselves, or an int64 array mapping the stored
    codes back to the original labels (used only when labels exceed 65535).
    """
    p = as_array(pred, "pred")
    r = as_array(ref, "ref")
    check_same_shape(p, r)
    p, _ = _label_dtype(p, "pred")
    r, _ = _label_dtype(r, "ref")
    values = None
    if p.dtype.itemsize > 2 or r.dtype.itemsize > 2:
        values, inverse = np.unique(np.concatenate([np.ravel(p), np.ravel(r)]), return_inverse=True)
        if values.size > 65536:
            raise InputValueError(f"pred and ref hold {values.size} distinct labels; at most 65536 are supported.")
        inverse = inverse.astype(np.uint16 if values.size > 256 else np.uint8)
        p = inverse[: p.size].reshape(p.shape)
        r = inverse[p.size:].reshape(r.shape)
        values = values.astype(np.int64)
    if p.dtype != r.dtype:
        p = p.astype(np.uint16)
        r = r.astype(np.uint16)
    return p, r, values


def read_json_file(path, cannot_read, prefix="", hint=""):
    """The parsed content of a user's JSON file; else an :class:`InputValueError`, ``"{prefix}{cannot_read}
    {path}: {reason}."`` (unreadable) or ``"{prefix}{path} is not a JSON file ({error}){hint}."``."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise InputValueError(f"{prefix}{cannot_read} {path}: {exc.strerror or exc}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputValueError(f"{prefix}{path} is not a JSON file ({exc}){hint}.") from None
