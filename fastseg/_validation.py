"""Validation and normalisation of user input: the one place where arguments are checked.

Everything here turns what a user passes into what the kernels expect (C-contiguous, read-only,
native byte order, a closed set of dtypes) and raises a clear ``TypeError``/``ValueError`` otherwise.
"""
import numbers
import operator

import numpy as np


class FastsegError(Exception):
    """Base class of fastseg's own exceptions (each also subclasses TypeError or ValueError)."""


class InputTypeError(FastsegError, TypeError):
    """An argument is the wrong kind of object or has an unsupported dtype."""


class InputValueError(FastsegError, ValueError):
    """An argument has a wrong value (shape, range, NaN, spacing...)."""


def as_array(x, name):
    """``np.asarray(x)`` with a clear TypeError for objects that are not numeric arrays."""
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


def normalize_spacing(spacing, ndim, name="spacing"):
    """Spacing as a float64 array of one positive finite value per axis (array-axis order).

    ``None`` means 1.0 per axis; a scalar applies to every axis.
    """
    if spacing is None:
        return np.ones(ndim, dtype=np.float64)
    if isinstance(spacing, (bool, np.bool_)) or (isinstance(spacing, np.ndarray) and spacing.dtype == bool):
        raise InputTypeError(f"{name} must be None, a number, or one number per axis ({ndim}); got {spacing!r}.")
    if isinstance(spacing, (numbers.Real, np.generic)) and not isinstance(spacing, (bool, np.bool_)):
        values = np.full(ndim, float(spacing))
    else:
        try:
            values = np.asarray(spacing, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"{name} must be None, a number, or one number per axis ({ndim}); got {spacing!r}."
            ) from exc
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
    return (
        f"{name} must be a binary mask (bool, or numbers that are all 0 or 1); {bad} of {size} voxels "
        f"hold other values{extra}. For label maps use fastseg.evaluate(pred, ref, labels=...), "
        f"or pass e.g. {name} == label."
    )


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


def binary_pair(pred, ref, *, flat=False):
    """Validate two masks; return uint8, read-only views in a common layout.

    With ``flat=True`` the result is two 1D views in the same element order (for counts: C or
    Fortran order both work without a copy). Otherwise two C-contiguous arrays of the original shape.
    Values above 1 in bool/uint8/int8 input are not checked here: kernels count them in their pass
    and the caller reports them with :func:`raise_if_not_binary`.
    """
    p = as_array(pred, "pred")
    r = as_array(ref, "ref")
    check_same_shape(p, r)
    p8, _ = uint8_mask(p, "pred")
    r8, _ = uint8_mask(r, "ref")
    if flat:
        if p8.flags.f_contiguous and r8.flags.f_contiguous and not (p8.flags.c_contiguous and r8.flags.c_contiguous):
            return readonly(p8.ravel(order="F")), readonly(r8.ravel(order="F"))
        return readonly(_c_contiguous(p8).ravel()), readonly(_c_contiguous(r8).ravel())
    return readonly(_c_contiguous(p8)), readonly(_c_contiguous(r8))


def c_layout(arrays, spacing):
    """Arrays that are all Fortran-ordered are transposed (a free view) with their spacing reversed,
    so spatial kernels can take C order without a copy; others are made C-contiguous.

    Returns ``(arrays, spacing, transposed)``.
    """
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


def raise_if_not_probability(name, bad, size):
    if bad:
        raise InputValueError(
            f"{name} must hold probabilities in [0, 1] with no NaN; {int(bad)} of {size} values do not."
        )


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

def label_list(labels, name="labels"):
    """A sequence of label values as an int64 array, refusing non-integers and negatives."""
    try:
        a = np.atleast_1d(np.asarray(labels))
    except Exception as exc:  # noqa: BLE001
        raise InputTypeError(f"{name} must be a sequence of non-negative integers; got {labels!r}.") from exc
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a.dtype == bool or a.dtype.kind not in "iuf":
        raise InputTypeError(f"{name} must be a sequence of non-negative integers; got {labels!r}.")
    if a.dtype.kind == "f" and not (np.all(np.isfinite(a)) and np.all(a == np.floor(a))):
        raise InputValueError(f"{name} must be non-negative integers; got {a.tolist()}.")
    if a.min() < 0:
        raise InputValueError(f"{name} must be non-negative integers; got {a.tolist()}.")
    return a.reshape(-1).astype(np.int64)


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
        raise InputValueError(
            f"{name} must be a label map of non-negative integers; got a negative label ({lo})."
        )
    hi = int(a.max())
    if hi < 256:
        return a.astype(np.uint8), hi
    if hi < 65536:
        return a.astype(np.uint16), hi
    return a, hi


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
            raise InputValueError(
                f"pred and ref hold {values.size} distinct labels; at most 65536 are supported."
            )
        inverse = inverse.astype(np.uint16 if values.size > 256 else np.uint8)
        p = inverse[: p.size].reshape(p.shape)
        r = inverse[p.size:].reshape(r.shape)
        values = values.astype(np.int64)
    if p.dtype != r.dtype:
        p = p.astype(np.uint16)
        r = r.astype(np.uint16)
    return p, r, values
