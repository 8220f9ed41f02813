"""``gram``: the tiled, parallel Gram engine (DESIGN.md section 2).

For tiles of rows of ``X`` and ``Z``, compute the inner products with BLAS, apply the kernel's
scalar map in place while the tile is in cache, in a parallel Numba loop over tiles. When
``Z`` is ``X`` only tiles on or above the diagonal are computed and mirrored, and the diagonal is
then overwritten with ``k(x, x)`` computed exactly (angle 0, distance 0). With ``device="cuda"``
the same validated inputs, row quantities and exact diagonal go to the CUDA kernel of
``fastntk._cuda`` instead of the CPU tile loop.
"""

import contextlib
import functools

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS that compiled np.dot calls: load it now)
from threadpoolctl import ThreadpoolController

from . import _engine_core as core
from . import config
from ._validation import (
    as_compute_array,
    check_fits_in_memory,
    check_gram_inputs,
    check_matrix,
    resolve_dtype,
)


def gram(kernel, X, Z=None, *, dtype=None, out=None, device="cpu", progress=False):
    """The Gram matrix ``K[i, j] = kernel(X[i], Z[j])``.

    Parameters
    ----------
    kernel : a fastntk kernel (``Linear``, ``Polynomial``, ``Gaussian``, ``Laplacian``,
        ``ArcCosine``, ``NNGP``, ``NTK``).
    X : array_like, shape (n, d). Integer and boolean inputs are converted.
    Z : array_like, shape (m, d), optional. ``None`` (or ``X`` itself) computes the symmetric
        ``K(X, X)``, only its upper triangle of tiles, and its diagonal exactly.
    dtype : float64 (default, or ``out``'s dtype) or float32.
    out : ndarray of shape (n, m), C or F order, or a ``numpy.memmap``, filled in place. With
        ``device="cuda"`` it may also be a C-contiguous GPU array (anything with
        ``__cuda_array_interface__``: ``numba.cuda.device_array``, ``cupy.empty``, ...): the
        result is then written there and stays on the GPU, e.g. for a GPU solver.
    device : "cpu" (default), "cuda" or "auto" (CUDA when ``numba.cuda.is_available()``, else
        the CPU). On "cuda" the inner products and the kernel's scalar map run in one tiled
        CUDA kernel (see ``fastntk._cuda``); a host result is computed in row blocks sized to
        half the GPU's free memory, each copied back to ``out`` (or a new array) when done, so
        Gram matrices larger than the GPU's memory stream to host memory. Needs an NVIDIA GPU
        and driver, and ``numba.cuda`` with the CUDA toolkit's NVVM (``pip install
        fastntk[cuda]`` installs ``numba-cuda`` with the toolkit's pip packages). ``Custom``
        activations run on the CPU only ("auto" picks the CPU for them); "cuda" without a GPU
        is a ``ValueError``.
    progress : show a progress bar (needs the optional ``tqdm``; silent without it).

    Returns
    -------
    ndarray of shape (n, m): ``out`` when given.
    """
    return _gram(kernel, X, Z, dtype=dtype, out=out, device=device, progress=progress)


def gram_many(kernels, X, Z=None, *, dtype=None, out=None, device="cpu", progress=False):
    """Several network kernels from one pass: an array of shape (len(kernels), n, m).

    ``NNGP`` and ``NTK`` kernels of any depth and any number of frozen layers that share
    ``activation``, ``w_std`` and ``b_std`` come from one run of the layer recursion, so a depth
    sweep costs about as much as its deepest kernel. ``dtype``, ``out`` (C-contiguous, of shape
    (len(kernels), n, m)), ``device`` and ``progress`` are as in ``gram``; on the GPU at most 8
    distinct ``frozen`` values of NTK outputs fit one pass.
    """
    from .network import NetworkFamily  # network.py imports this module

    kernels = list(kernels)
    if not kernels:
        raise ValueError("kernels must name at least one kernel")
    family = NetworkFamily(tuple(kernels))
    return _gram(family, X, Z, dtype=dtype, out=out, device=device, progress=progress, stacked=True)


def diag(kernel, X, *, dtype=None):
    """``kernel(x, x)`` for every row ``x`` of ``X``: shape (n,)."""
    _check_kernel(kernel)
    X = check_matrix(X, "X")
    dtype = resolve_dtype(dtype)
    X = as_compute_array(X, dtype, "X")
    spec = kernel._spec(X.shape[1], dtype)
    return _finite_diagonal(kernel, spec, _row_info(spec, X), dtype)[0]


def _gpu(device, kernel):
    """The CUDA module when ``kernel`` is to run on the GPU, None for the CPU.

    ``fastntk._cuda`` (and with it ``numba.cuda``) is imported only here, on request.
    """
    if device == "cpu":
        return None
    if device not in ("cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    try:
        from . import _cuda
    except ImportError as error:
        reason = f"numba.cuda cannot be imported ({error}); pip install fastntk[cuda]"
    else:
        reason = _cuda.unavailable_reason(kernel)
        if reason is None:
            return _cuda
    if device == "auto":
        return None
    raise ValueError(f"device='cuda': {reason}")


def _prepare_out(out, shape, dtype, stacked):
    """``(result, target, swapped)``: what ``gram`` returns, the 3-D C-ordered ``(k, n, m)``
    array the tile loop writes, and whether X and Z trade places to write it.

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


def _check_kernel(kernel):
    if not (hasattr(kernel, "_spec") and hasattr(kernel, "_n_outputs")):
        raise TypeError(f"kernel must be a fastntk kernel (e.g. fastntk.NTK(...)), got {kernel!r}")


def _gram(kernel, X, Z, *, dtype, out, device, progress, stacked=False):
    _check_kernel(kernel)
    gpu = _gpu(device, kernel)
    out_on_gpu = gpu is not None and gpu.is_device_array(out)
    if out_on_gpu and dtype is None:
        dtype = out.dtype
    X, Z, dtype, symmetric = check_gram_inputs(X, Z, dtype, None if out_on_gpu else out)
    spec = kernel._spec(X.shape[1], dtype)
    shape = (kernel._n_outputs, X.shape[0], Z.shape[0])
    if out_on_gpu:
        result, target, swapped = out, gpu.device_view(out, shape, dtype), False
    else:
        result, target, swapped = _prepare_out(out, shape, dtype, stacked)
    if swapped:
        X, Z = Z, X
    rows, diagonal_x = prepared_rows(kernel, spec, X, Z, dtype, symmetric)
    if gpu is not None:
        launches = gpu.n_row_blocks(target.shape, dtype, out_on_gpu)
        with progress_bar(progress, launches, "row block") as bar:
            gpu.fill(spec, X, Z, rows, diagonal_x, target, symmetric, bar)
        return result
    _run_tiles(kernel, spec, X, Z, rows, target, symmetric, progress)
    if symmetric:
        core.set_diagonal(target, diagonal_x)
    return result


def prepared_rows(kernel, spec, X, Z, dtype, symmetric):
    """``(rows, diagonal_x)``: the per-row data the tile hooks read, ``(rows_x, rows_z,
    exact_rows_x, exact_rows_z)`` (the exact rows, in float64, only for float32), and
    ``k(x, x)`` of every row of ``X``, checked finite (as ``k(z, z)``)."""
    rows_x = _row_info(spec, X)
    diagonal_x = _finite_diagonal(kernel, spec, rows_x, dtype)
    if symmetric:
        rows_z = rows_x
    else:
        rows_z = _row_info(spec, Z)
        _finite_diagonal(kernel, spec, rows_z, dtype)
    if dtype == np.float32:
        exact_rows_x = _row_info(spec, X.astype(np.float64))
        exact_rows_z = exact_rows_x if symmetric else _row_info(spec, Z.astype(np.float64))
    else:
        exact_rows_x = exact_rows_z = np.empty((0, 0), dtype=np.float64)
    return (rows_x, rows_z, exact_rows_x, exact_rows_z), diagonal_x


def _row_info(spec, X):
    with np.errstate(over="ignore", invalid="ignore"):  # pure-Python mode: see _finite_diagonal
        return core.row_info(spec, X)


def _finite_diagonal(kernel, spec, rows, dtype):
    """``k(x, x)``, checked finite: every |k(x, z)| <= sqrt(k(x, x) k(z, z)) is then finite."""
    with np.errstate(over="ignore", invalid="ignore"):  # pure-Python mode: checked just below
        values = core.diagonal(spec, rows)
    if not np.isfinite(values).all():
        remedy = "float64, " if dtype == np.float32 else ""
        raise ValueError(
            f"{kernel!r} overflows {dtype} on this input (k(x, x) is not finite); use "
            f"{remedy}fewer layers, a smaller w_std or degree, or rescale the input"
        )
    return values


def _tile_plan(n, m, tile, symmetric):
    starts_i = np.arange(0, n, tile)
    starts_j = np.arange(0, m, tile)
    i, j = np.meshgrid(starts_i, starts_j, indexing="ij")
    keep = j >= i if symmetric else np.ones_like(i, dtype=bool)
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def _run_tiles(kernel, spec, X, Z, rows, out, symmetric, progress):
    tile = config.TILE_SIZE
    tiles = _tile_plan(X.shape[0], Z.shape[0], tile, symmetric)
    workers = numba.get_num_threads()
    fill = core.fill_tiles if kernel._cacheable else core.fill_tiles_uncached
    n_steps = config.PROGRESS_STEPS if progress else 1
    batches = np.array_split(tiles, min(n_steps, len(tiles)))
    # BLAS runs inside the parallel loop: one BLAS thread per worker, or the cores oversubscribe.
    limit = _blas_controller().limit(limits=1, user_api="blas")
    # Pure-Python mode only: variances near underflow overflow their inverse roots (handled).
    quiet = np.errstate(over="ignore")
    with limit, quiet, progress_bar(progress, len(tiles), "tile") as bar:
        for batch in batches:
            fill(spec, X, Z, *rows, out, batch, tile, workers, symmetric)
            bar.update(len(batch))


@functools.cache
def _blas_controller():
    """One scan of the loaded BLAS libraries (a scan per call costs milliseconds)."""
    return ThreadpoolController()


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
