"""Checks of user input, in one place, before any heavy work (DESIGN.md section 5)."""

import numbers
import os

import numpy as np
import scipy.sparse

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_real_array(array, name):
    """``array`` as an ndarray of real numbers (object arrays converted when their elements
    are numbers).

    Raises
    ------
    ValueError
        For complex dtypes.
    TypeError
        For strings, ``datetime64``, ``timedelta64`` and other non-numeric dtypes.
    """
    array = np.asarray(array)
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must hold real numbers, got dtype object: {error}") from error
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real: Complex data not supported (dtype {array.dtype})")
    # NumPy counts timedelta64 as an integer type: converted, NaT would become -9.2e18.
    is_time = array.dtype.kind in "mM"
    if is_time or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def check_matrix(array, name):
    """Return ``array`` as a 2-D, non-empty, finite, real numeric ndarray (not yet converted).

    Object arrays are accepted when their elements convert to numbers. The messages contain
    the phrases scikit-learn's estimator checks look for.
    """
    if array is None:
        raise TypeError(f"{name} must be a 2-D array, got None")
    if scipy.sparse.issparse(array):
        raise TypeError(
            f"{name} is a sparse matrix; sparse input is not supported, pass a dense array "
            "(e.g. .toarray())"
        )
    array = as_real_array(array, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}. Reshape your "
            "data: one sample with x.reshape(1, -1), one feature with x.reshape(-1, 1)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        empty = "sample" if array.shape[0] == 0 else "feature"
        raise ValueError(
            f"{name} must have at least one row and one column: found 0 {empty}(s) "
            f"(shape={array.shape}) while a minimum of 1 is required."
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def check_samples(array, name, ranks=(2,)):
    """``array`` checked as ``check_matrix`` does, or when ``ranks`` (the input ranks a kernel
    takes) allows, an array of ``array.ndim`` in ``ranks``: images ``(n, H, W, C)`` or signals
    ``(n, L, C)``, non-empty, finite and real (not yet converted)."""
    if tuple(ranks) == (2,):
        return check_matrix(array, name)
    if array is None:
        raise TypeError(f"{name} must be an array, got None")
    array = as_real_array(array, name)
    if array.ndim == 2 and 2 in ranks:
        return check_matrix(array, name)
    if array.ndim not in ranks:
        expected = " or ".join(str(rank) for rank in sorted(ranks))
        raise ValueError(
            f"{name} must have {expected} dimensions (images (n, H, W, C) or signals (n, L, C), "
            f"channels last), got shape {array.shape}; a single input needs a leading axis of 1"
        )
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def resolve_dtype(dtype, out=None):
    """The computation dtype: ``dtype`` if given, else ``out``'s, else float64."""
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if dtype is None:
        dtype = out.dtype if out is not None else np.float64
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def as_compute_array(array, dtype, name):
    """``array`` converted to ``dtype``, C-contiguous; values too large for float32 are an error."""
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(converted).all():
        raise ValueError(f"{name} has values too large for {dtype}")
    return converted


#: How to install what dask inputs need.
DASK_EXTRA = "pip install fastntk[dask]"


def is_dask_array(array):
    """Whether ``array`` is a ``dask.array.Array``, without importing dask."""
    return any(
        cls.__name__ == "Array" and cls.__module__.split(".")[0] == "dask"
        for cls in type(array).__mro__
    )


def check_gram_inputs(X, Z, dtype, out):
    """Validate ``X``, ``Z`` and ``dtype``; return ``(X, Z, dtype, symmetric)`` ready to compute."""
    symmetric = Z is None or Z is X
    X = check_matrix(X, "X")
    if not symmetric:
        Z = check_matrix(Z, "Z")
        if Z.shape[1] != X.shape[1]:
            raise ValueError(
                f"X and Z must have the same number of features, got X {X.shape} and Z {Z.shape}"
            )
    dtype = resolve_dtype(dtype, out)
    X = as_compute_array(X, dtype, "X")
    Z = X if symmetric else as_compute_array(Z, dtype, "Z")
    return X, Z, dtype, symmetric


def check_positive(value, name, *, allow_zero=False):
    """``value`` as a float, checked finite and > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def check_int(value, name, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value


def available_memory_bytes():
    """Memory the OS can give now (MemAvailable on Linux), or None when it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(n_bytes, what, remedy="pass out=numpy.memmap(...) to write it to disk"):
    """Raise ``MemoryError`` before allocating ``n_bytes`` that the machine does not have; its
    message ends with ``remedy``, what the caller can do instead (the default suits ``gram``,
    which takes ``out=``)."""
    available = available_memory_bytes()
    if available is not None and n_bytes > available:
        raise MemoryError(
            f"{what} needs {n_bytes / 2**30:.2f} GiB but only {available / 2**30:.2f} GiB "
            f"are available; {remedy}"
        )


def check_sample_count(n_y, n, other):
    """Raise ``ValueError`` unless the targets' ``n_y`` samples match the ``n`` of ``other``."""
    if n_y != n:
        raise ValueError(
            f"y has {n_y} samples but {other} has {n}: they must have the same number of samples"
        )


#: Asymmetry accepted in a matrix meant to be symmetric, relative to its largest entry: the
#: rounding of a float32 computation with room to spare, whatever the dtype, since a matrix
#: computed in float32 may reach the solvers converted to float64. A test-by-train matrix passed
#: by mistake differs from its transpose by a share of order one.
SYMMETRY_TOLERANCE = float(np.sqrt(np.finfo(np.float32).eps))


def check_symmetric(matrix, name, role="", block=512):
    """Raise ``ValueError`` unless the finite square ``matrix`` equals its transpose up to
    ``SYMMETRY_TOLERANCE`` times its largest absolute entry on or above the diagonal.

    Blocks above the diagonal are compared with the transposed blocks below it, so the only
    temporary is one ``block x block`` difference, never an ``n x n`` one. ``role`` says in
    the message what the matrix is for.
    """
    n = matrix.shape[0]
    # Integer differences could wrap around, boolean ones are not defined.
    dtype = matrix.dtype if matrix.dtype in FLOAT_DTYPES else np.dtype(np.float64)
    difference = np.empty((min(block, n), min(block, n)), dtype=dtype)
    scale = worst = 0.0
    where = (0, 0)
    for r0 in range(0, n, block):
        for c0 in range(r0, n, block):
            upper = matrix[r0 : r0 + block, c0 : c0 + block]
            lower = matrix[c0 : c0 + block, r0 : r0 + block]
            scale = max(scale, float(upper.max()), -float(upper.min()))
            part = difference[: upper.shape[0], : upper.shape[1]]
            np.subtract(upper, lower.T, out=part, dtype=dtype)
            np.abs(part, out=part)
            index = int(np.argmax(part))
            if part.flat[index] > worst:
                worst = float(part.flat[index])
                i, j = np.unravel_index(index, part.shape)
                where = (r0 + int(i), c0 + int(j))
    if worst > SYMMETRY_TOLERANCE * scale:
        i, j = where
        raise ValueError(
            f"{name} must be symmetric{role}, but {name}[{i}, {j}] = {matrix[i, j]:.6g} and "
            f"{name}[{j}, {i}] = {matrix[j, i]:.6g} differ by {worst:.3g}, more than rounding "
            f"({SYMMETRY_TOLERANCE:.1e} of max |{name}| = {scale:.3g}); was a test-by-train "
            f"matrix passed? A matrix symmetric up to rounding can be passed as "
            f"({name} + {name}.T) / 2"
        )
