"""``gram``, ``gram_block``, ``gram_many`` and ``diag``: the Gram engine (DESIGN.md section 2).

Every call validates its inputs, asks the kernel for its spec (the numbers of its declared
maths), computes the per-row quantities and the exact diagonal, and hands the resulting
``GramProblem`` to a backend (``fastntk.backends``), which fills a block of the matrix.
``gram`` is the block primitive over the whole matrix.
"""

import contextlib
import operator

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS that compiled np.dot calls: load it now)

from . import _core as core
from . import backends, config
from ._validation import (
    as_compute_array,
    check_fits_in_memory,
    check_gram_inputs,
    check_matrix,
    is_dask_array,
    resolve_dtype,
)


def gram(kernel, X, Z=None, *, dtype=None, out=None, device="cpu", progress=False):
    """The Gram matrix ``K[i, j] = kernel(X[i], Z[j])``.

    Parameters
    ----------
    kernel : a fastntk kernel (``Linear``, ``Polynomial``, ``Gaussian``, ``Laplacian``,
        ``ArcCosine``, ``NNGP``, ``NTK``, or one declared with ``fastntk.declarations``).
    X : array_like, shape (n, d). Integer and boolean inputs are converted.
    Z : array_like, shape (m, d), optional. ``None`` (or ``X`` itself) computes the symmetric
        ``K(X, X)``, only its upper triangle of tiles, and its diagonal exactly.
    dtype : float64 (default, or ``out``'s dtype) or float32.
    out : ndarray of shape (n, m), C or F order, or a ``numpy.memmap``, filled in place; it
        must not share memory with ``X`` or ``Z``. With ``device="cuda"`` it may also be a
        C-contiguous GPU array (anything with ``__cuda_array_interface__``:
        ``numba.cuda.device_array``, ``cupy.empty``, ...): the result is then written there and
        stays on the GPU, e.g. for a GPU solver.
    device : "cpu" (default), "cuda" or "auto" (CUDA when ``numba.cuda.is_available()``, else
        the CPU). On "cuda" the inner products and the kernel's scalar map run in one tiled
        CUDA kernel (``fastntk.backends.cuda``); a host result is computed in row blocks sized
        to a share of the GPU's free memory, each copied back when done, so Gram matrices larger
        than the GPU's memory stream to host memory. Needs an NVIDIA GPU and driver, and
        ``numba.cuda`` with the CUDA toolkit's NVVM (``pip install fastntk[cuda]``).
        ``Custom`` activations run on the CPU only ("auto" picks the CPU for them); "cuda"
        without a GPU is a ``ValueError``.
    progress : show a progress bar (needs the optional ``tqdm``; silent without it).

    Returns
    -------
    ndarray of shape (n, m): ``out`` when given. With a dask array ``X`` or ``Z``, a dask
    array of blocks, one task each, chunked as the rows of ``X`` and ``Z`` (``fastntk.cluster``);
    store it with ``.store``/``to_zarr`` rather than ``out=``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> K = fk.gram(fk.Gaussian(lengthscale=1.5), X)
    >>> K.shape, bool(np.array_equal(K, K.T)), bool(np.all(np.diagonal(K) == 1.0))
    ((5, 5), True, True)
    >>> fk.gram(fk.NTK(depth=2), X, X[:2]).shape
    (5, 2)
    """
    if is_dask_array(X) or is_dask_array(Z):
        if out is not None or device != "cpu" or progress:
            raise ValueError(
                "with dask arrays, gram takes no out=, device= or progress=: store the result"
                " with dask (result.store(target), result.to_zarr(url)) and watch its progress"
                " with dask's diagnostics"
            )
        from . import cluster  # only with dask arrays: dask is optional

        return cluster.gram(gram_block, kernel, X, Z, dtype)
    return _compute(kernel, X, Z, None, None, dtype, out, device, progress, stacked=False)


def gram_block(kernel, X, Z=None, rows=None, columns=None, *, dtype=None, out=None, device="cpu"):
    """The block ``K[rows, columns]`` of ``K(X, Z)`` (``Z=None``: of the symmetric ``K(X, X)``).

    The unit of work an external scheduler (Dask, a job queue) calls: blocks are independent,
    and each is bit-identical to the same block of ``gram(kernel, X, Z)`` on the same device,
    exact diagonal included. (On the CPU the block is computed on the tile grid of the whole
    matrix, so that every inner product comes from the same BLAS call as in ``gram``;
    ``gram(kernel, X[rows], Z[columns])`` agrees only to rounding.) Only the rows of ``X`` and
    ``Z`` the block's tiles need are checked and read.

    Parameters
    ----------
    rows, columns : ``slice(start, stop)`` (step 1), ``(start, stop)``, or None for all.
    kernel, X, Z, dtype, out, device : as in ``gram``; ``out`` has the block's shape.

    Returns
    -------
    ndarray of shape (len(rows), len(columns)): ``out`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> kernel = fk.NTK(depth=2)
    >>> block = fk.gram_block(kernel, X, rows=(1, 4), columns=(0, 2))
    >>> bool(np.array_equal(block, fk.gram(kernel, X)[1:4, 0:2]))
    True
    """
    return _compute(kernel, X, Z, rows, columns, dtype, out, device, False, stacked=False)


def gram_many(kernels, X, Z=None, *, dtype=None, out=None, device="cpu", progress=False):
    """Several network kernels from one pass: an array of shape (len(kernels), n, m).

    ``NNGP`` and ``NTK`` kernels of any depth and any number of frozen layers that share
    ``activation``, ``w_std`` and ``b_std`` come from one run of the layer recursion, so a depth
    sweep costs about as much as its deepest kernel. ``dtype``, ``out`` (C-contiguous, of shape
    (len(kernels), n, m)), ``device`` and ``progress`` are as in ``gram``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> K = fk.gram_many([fk.NTK(depth=1), fk.NTK(depth=2), fk.NNGP(depth=2)], X)
    >>> K.shape
    (3, 5, 5)
    >>> bool(np.allclose(K[1], fk.gram(fk.NTK(depth=2), X)))
    True
    """
    kernels = list(kernels)
    if not kernels:
        raise ValueError("kernels must name at least one kernel")
    for kernel in kernels:
        check_kernel(kernel)
    family = kernels[0].stacked(kernels)
    return _compute(family, X, Z, None, None, dtype, out, device, progress, stacked=True)


def diag(kernel, X, *, dtype=None):
    """``kernel(x, x)`` for every row ``x`` of ``X``: shape (n,).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> kernel = fk.NTK(depth=2)
    >>> bool(np.array_equal(fk.diag(kernel, X), np.diagonal(fk.gram(kernel, X))))
    True
    """
    check_kernel(kernel)
    kernel, X, _ = kernel.prepare(X, None)
    X = check_matrix(X, "X")
    dtype = resolve_dtype(dtype)
    X = _scaled_rows(kernel, as_compute_array(X, dtype, "X"))
    spec = kernel.spec(X.shape[1], dtype)
    return _row_data(kernel, spec, X, dtype)[1][0]


def check_kernel(kernel):
    """A ``TypeError`` unless ``kernel`` is a fastntk kernel."""
    if not (callable(getattr(kernel, "spec", None)) and hasattr(kernel, "n_outputs")):
        raise TypeError(f"kernel must be a fastntk kernel (e.g. fastntk.NTK(...)), got {kernel!r}")


def gram_problem(kernel, X, Z, dtype, symmetric, rows=None, columns=None):
    """The ``GramProblem`` of the block ``(rows, columns)`` (``(start, stop)`` pairs, None for
    all) of ``K(X, Z)``, from checked, converted ``X`` and ``Z``: the rows the block's tiles
    need, their per-row quantities and exact diagonals (checked finite)."""
    n, m = X.shape[0], Z.shape[0]
    r0, r1 = rows or (0, n)
    c0, c1 = columns or (0, m)
    spec = kernel.spec(X.shape[1], dtype)
    tile = tile_size(spec)
    x_start, x_stop = _tile_span(r0, r1, n, tile)
    z_start, z_stop = _tile_span(c0, c1, m, tile)
    X_rows = _scaled_rows(kernel, X[x_start:x_stop])
    Z_rows = (
        X_rows
        if symmetric and (z_start, z_stop) == (x_start, x_stop)
        else _scaled_rows(kernel, Z[z_start:z_stop])
    )
    rows_x, diagonal = _row_data(kernel, spec, X_rows, dtype)
    rows_z = rows_x if Z_rows is X_rows else _row_data(kernel, spec, Z_rows, dtype)[0]
    exact_spec = exact_rows_x = exact_rows_z = None
    refines = type(spec).refines
    if (
        dtype == np.float64
        and refines
        and config.get("float64_refinement")
        and type(spec).refines_float64(spec)
    ):
        exact_spec, exact_rows_x, exact_rows_z = spec, rows_x, rows_z
    elif dtype == np.float32 and refines:
        exact_spec = kernel.spec(X.shape[1], np.float64)
        exact_rows_x = _row_data(kernel, exact_spec, X_rows.astype(np.float64), dtype, False)[0]
        exact_rows_z = (
            exact_rows_x
            if Z_rows is X_rows
            else _row_data(kernel, exact_spec, Z_rows.astype(np.float64), dtype, False)[0]
        )
    return core.GramProblem(
        spec=spec,
        exact_spec=exact_spec,
        X=X_rows,
        Z=Z_rows,
        x_start=x_start,
        z_start=z_start,
        n=n,
        m=m,
        rows_x=rows_x,
        rows_z=rows_z,
        exact_rows_x=exact_rows_x,
        exact_rows_z=exact_rows_z,
        diagonal=diagonal,
        symmetric=symmetric,
        n_outputs=kernel.n_outputs,
        cacheable=kernel.cacheable,
        tile=tile,
    )


def tile_size(spec):
    """The side of the CPU's tiles for a spec: ``config tile_size``, at most the family's
    ``largest_tile(spec)`` (convolutional entries cost so much that a few tiles would leave
    threads idle)."""
    configured = config.get("tile_size")
    largest_tile = getattr(type(spec), "largest_tile", None)
    return configured if largest_tile is None else min(configured, largest_tile(spec))


def _scaled_rows(kernel, X):
    """``X`` with each row of a scale-invariant kernel multiplied by the power of two that puts
    its largest entry in [1/2, 1), when some row lies outside a safe range (``X`` itself
    otherwise). Exact: inner products, norms and cosines of the other rows are unchanged to
    the last bit, and no squared norm under- or overflows."""
    if not kernel.scale_invariant or X.size == 0:
        return X
    largest = np.maximum(X.max(axis=1), -X.min(axis=1))
    exponents = np.frexp(largest)[1]
    safe = np.finfo(X.dtype).maxexp // 8
    if np.all((np.abs(exponents) <= safe) | (largest == 0)):
        return X
    return np.ldexp(X, -exponents[:, np.newaxis]).astype(X.dtype, copy=False)


def _tile_span(start, stop, size, tile):
    """``[start, stop)`` widened to whole tiles of the grid anchored at 0."""
    return start // tile * tile, min(size, -(-stop // tile) * tile)


def _compute(kernel, X, Z, rows, columns, dtype, out, device, progress, stacked):
    check_kernel(kernel)
    kernel, X, Z = kernel.prepare(X, Z)
    backend = backends.resolve(device, kernel)
    out_on_device = backend.is_device_array(out)
    if out_on_device and dtype is None:
        dtype = out.dtype
    X, Z, dtype, symmetric = check_gram_inputs(X, Z, dtype, None if out_on_device else out)
    rows = _range(rows, X.shape[0], "rows")
    columns = _range(columns, Z.shape[0], "columns")
    shape = (kernel.n_outputs, rows[1] - rows[0], columns[1] - columns[0])
    if out_on_device:
        result, target, swapped = out, backend.device_view(out, shape, dtype), False
    else:
        _check_no_overlap(out, X, Z)
        result, target, swapped = _prepare_out(out, shape, dtype, stacked)
    if swapped:
        X, Z, rows, columns = Z, X, columns, rows
    problem = gram_problem(kernel, X, Z, dtype, symmetric, rows, columns)
    total, unit = backend.progress_total(problem, *rows, *columns)
    with progress_bar(progress, total, unit) as bar:
        backend.fill(problem, target, *rows, *columns, bar)
    return result


def _range(selection, size, name):
    """``(start, stop)`` of a block's rows or columns."""
    if selection is None:
        return 0, size
    if isinstance(selection, slice):
        if selection.step not in (None, 1):
            raise ValueError(f"{name} must be a slice with step 1, got {selection}")
        start, stop, _ = selection.indices(size)
    else:
        try:
            start, stop = (operator.index(value) for value in selection)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a slice or a (start, stop) pair of integers, got {selection!r}"
            ) from None
        if not 0 <= start <= stop <= size:
            raise ValueError(f"{name} {selection!r} is not within 0 .. {size}")
    return start, max(start, stop)


def _check_no_overlap(out, X, Z):
    """``out`` must not share memory with the inputs: it is written while they are read."""
    if out is None:
        return
    for name, array in (("X", X), ("Z", Z)):
        if isinstance(array, np.ndarray) and np.shares_memory(out, array):
            raise ValueError(f"out shares memory with {name}; pass a separate output array")


def _prepare_out(out, shape, dtype, stacked):
    """``(result, target, swapped)``: what ``gram`` returns, the 3-D C-ordered ``(k, n, m)``
    array the backend writes, and whether X and Z trade places to write it.

    A 2-D F-ordered ``out`` is filled as the C-ordered ``out.T``, which is ``K(Z, X)``.
    """
    expected = shape if stacked else shape[1:]
    if out is None:
        check_fits_in_memory(
            int(np.prod(shape)) * dtype.itemsize, f"a Gram matrix of shape {expected}"
        )
        target = np.empty(shape, dtype=dtype)
        return (target if stacked else target[0]), target, False
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype} but the computation is in {dtype}")
    if out.shape != expected:
        raise ValueError(f"out must have shape {expected}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    view = np.asarray(out)
    if view.flags.c_contiguous:
        return out, view.reshape(shape), False
    if not stacked and view.flags.f_contiguous:
        return out, view.T[np.newaxis], True
    raise ValueError("out must be C-contiguous (or F-contiguous when 2-D)")


def _row_data(kernel, spec, X, dtype, check_rows=True):
    """``(rows, diagonal)`` of the rows of ``X``, both checked finite: every
    ``|k(x, z)| <= sqrt(k(x, x) k(z, z))`` is then finite, and no map meets ``inf - inf``;
    with ``check_rows`` also by the kernel's own ``check_rows``."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # pure-Python mode: checked below
            rows, values = core.row_data.get(kernel.cacheable)(spec, X)
    except ArithmeticError as error:  # raised by a function the kernel was given (Custom)
        raise ValueError(
            f"{kernel!r}: computing k(x, x) raised {type(error).__name__}: {error}"
        ) from error
    if check_rows:  # not again for the float64 copies of float32 rows
        kernel.check_rows(spec, rows)
    if not (np.isfinite(values).all() and np.isfinite(rows).all()):
        remedy = "float64, " if dtype == np.float32 else ""
        raise ValueError(
            f"{kernel!r} overflows {dtype} on this input (k(x, x) or a row's squared norm is "
            f"not finite); use {remedy}fewer layers, a smaller w_std or degree, or rescale the "
            "input (with the lengthscale)"
        )
    return rows, values


class _Silent:
    def update(self, _):
        pass

    def set_description(self, _):
        pass


@contextlib.contextmanager
def progress_bar(progress, total, unit, desc="gram"):
    """A tqdm bar when ``progress`` (and tqdm is installed), else one that shows nothing."""
    if not progress:
        yield _Silent()
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield _Silent()
        return
    with tqdm(total=total, unit=unit, desc=desc) as bar:
        yield bar
