"""The CPU backend: tiles of BLAS inner products and the kernel's fused map, on threads.

A block ``K[r0:r1, c0:c1]`` is computed on the tile grid of the whole matrix (tiles of
``engine.tile_size``, ``config tile_size`` capped per family, anchored at 0), so that every tile
is computed with the same BLAS call as in ``gram`` and a block is bit-identical to the same block
of ``gram``. For
each tile, BLAS computes the inner products (or the L1 distances are summed), the family's
``map_run`` maps each row of the tile while it is in cache, entries whose map is ill-conditioned
in the computed inner product (a cosine too close to +-1) are recomputed in float64 from the
rows themselves, and for ``K(X, X)`` the tile is mirrored. Tiles
inside the block are written in place; tiles that straddle its edge go through a scratch tile.

Python threads run the compiled tile loop, which releases the GIL; BLAS is limited to one
thread meanwhile, or the cores would be oversubscribed. Plain threads (not an OpenMP pool)
survive ``fork``, and threads take batches of tiles as they finish, so a core that another
process holds slows only its own batches.
"""

import concurrent.futures
import functools
import math

import numpy as np
from numba.extending import overload

from .. import _core as core
from .. import _protocol as protocol
from .. import config
from .._jit import jit, kernel_loop, shared
from .._threads import blas_threads

NAME = "cpu"


def unavailable_reason(kernel):
    """Every kernel runs on the CPU."""
    return None


def is_device_array(array):
    return False


def tile_jobs(problem, r0, r1, c0, c1, tile):
    """The corners ``(I0, J0)`` of the grid tiles a block needs: those that meet it, and for
    ``K(X, X)`` only tiles on or above the diagonal, also when only their mirror meets it."""
    rows = np.arange(0, problem.n, tile)
    cols = np.arange(0, problem.m, tile)
    starts_i, starts_j = np.meshgrid(rows, cols, indexing="ij")
    meets = (starts_i < r1) & (starts_i + tile > r0) & (starts_j < c1) & (starts_j + tile > c0)
    if problem.symmetric:
        mirror = (starts_j < r1) & (starts_j + tile > r0) & (starts_i < c1) & (starts_i + tile > c0)
        meets = (starts_j >= starts_i) & (meets | mirror)
    return np.stack([starts_i[meets], starts_j[meets]], axis=1).astype(np.int64)


def progress_total(problem, r0, r1, c0, c1):
    """``(steps, unit)`` of a progress bar of ``fill``."""
    return len(tile_jobs(problem, r0, r1, c0, c1, problem.tile)), "tile"


def fill(problem, out, r0, r1, c0, c1, bar):
    """Fill ``out`` (k, r1 - r0, c1 - c0), C-contiguous, with ``K[r0:r1, c0:c1]``."""
    tile = problem.tile
    jobs = tile_jobs(problem, r0, r1, c0, c1, tile)
    if len(jobs) == 0:
        return
    ends_i = np.minimum(jobs[:, 0] + tile, problem.n)
    ends_j = np.minimum(jobs[:, 1] + tile, problem.m)
    inside = (jobs[:, 0] >= r0) & (ends_i <= r1) & (jobs[:, 1] >= c0) & (ends_j <= c1)
    scratch = not inside.all()
    columns_x, columns_z = _distance_columns(problem)
    loop = tile_loop.get(problem.cacheable)
    run = functools.partial(
        loop,
        problem.spec,
        problem.exact_spec,
        problem.X,
        problem.Z,
        columns_x,
        columns_z,
        problem.x_start,
        problem.z_start,
        problem.rows_x,
        problem.rows_z,
        problem.exact_rows_x,
        problem.exact_rows_z,
        out,
        r0,
        r1,
        c0,
        c1,
    )
    rest = (tile, problem.n, problem.m, problem.symmetric, problem.work_shape(tile), scratch)
    # BLAS runs inside the threads' loops: one BLAS thread each, or the cores oversubscribe.
    # Pure-Python mode only: variances near underflow overflow their inverse roots (handled).
    with blas_threads(1), np.errstate(over="ignore"):
        for done in _run_batches(lambda batch: run(batch, *rest), jobs):
            bar.update(done)
    if problem.symmetric:
        first, last = max(r0, c0), min(r1, c1)
        if first < last:
            diagonal = np.arange(first, last)
            out[:, diagonal - r0, diagonal - c0] = problem.diagonal[:, diagonal - problem.x_start]


def _run_batches(work, jobs):
    """Run ``work(batch)`` over batches of ``jobs`` on ``config threads`` threads; yield the
    size of each batch as it finishes (a progress bar's steps)."""
    threads = min(config.get("threads"), len(jobs))
    steps = max(config.get("progress_steps"), 4 * threads)
    batches = np.array_split(jobs, min(len(jobs), steps))
    if threads == 1:
        for batch in batches:
            work(batch)
            yield len(batch)
        return
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="fastntk") as pool:
        sizes = {pool.submit(work, batch): len(batch) for batch in batches}
        try:
            for future in concurrent.futures.as_completed(sizes):
                future.result()
                yield sizes[future]
        finally:
            for future in sizes:
                future.cancel()


def _distance_columns(problem):
    """``X.T`` and ``Z.T`` (C-contiguous) for L1 distances, whose loops then run along
    samples; empty for inner products."""
    if type(problem.spec).products != "l1":
        empty = np.empty((0, 0), dtype=problem.dtype)
        return empty, empty
    columns_x = np.ascontiguousarray(problem.X.T)
    columns_z = columns_x if problem.Z is problem.X else np.ascontiguousarray(problem.Z.T)
    return columns_x, columns_z


# --- compiled ---------------------------------------------------------------------------------


def tile_products(spec, A, a0, B, columns_b, b0, rows, cols, dots):
    """Inner products (or L1 distances, or none) of ``A[a0:a0 + rows]`` and ``B[b0:b0 + cols]``."""
    return _PRODUCTS[type(spec).products](spec, A, a0, B, columns_b, b0, rows, cols, dots)


@overload(tile_products)
def _tile_products_typed(spec, A, a0, B, columns_b, b0, rows, cols, dots):
    if getattr(spec, "instance_class", None) is None:
        return None
    return _PRODUCTS[spec.instance_class.products].py_func


@jit
def _dot_products(spec, A, a0, B, columns_b, b0, rows, cols, dots):
    np.dot(A[a0 : a0 + rows], B[b0 : b0 + cols].T, dots)


@jit
def _l1_distances(spec, A, a0, B, columns_b, b0, rows, cols, dots):
    for i in range(rows):
        row = dots[i]
        for j in range(cols):
            row[j] = 0
        for k in range(A.shape[1]):
            x = A[a0 + i, k]
            z = columns_b[k, b0 : b0 + cols]
            for j in range(cols):
                row[j] += abs(x - z[j])


@jit
def _no_products(spec, A, a0, B, columns_b, b0, rows, cols, dots):
    """A family whose map reads its rows alone (``products = "none"``)."""


_PRODUCTS = {"dot": _dot_products, "l1": _l1_distances, "none": _no_products}


def _fill_tiles_python(
    spec,
    exact_spec,
    X,
    Z,
    columns_x,
    columns_z,
    x_start,
    z_start,
    rows_x,
    rows_z,
    exact_rows_x,
    exact_rows_z,
    out,
    r0,
    r1,
    c0,
    c1,
    jobs,
    tile,
    n,
    m,
    symmetric,
    work_shape,
    scratch_needed,
):
    """The tiles ``jobs`` of a block (see the module docstring). For ``K(X, X)``, ``X`` and
    ``Z`` are two stretches of the same matrix (the block's rows and its columns) and a tile
    reads its rows and columns from whichever holds them."""
    dtype = out.dtype
    dots_buffer = np.empty(tile * tile, dtype=dtype)
    work = np.empty(work_shape, dtype=dtype)
    side = tile if scratch_needed else 0
    scratch = np.empty((out.shape[0], side, side), dtype=dtype)
    x_end = x_start + X.shape[0]
    for t in range(jobs.shape[0]):
        i0 = jobs[t, 0]
        j0 = jobs[t, 1]
        i1 = min(i0 + tile, n)
        j1 = min(j0 + tile, m)
        rows = i1 - i0
        cols = j1 - j0
        # Where the tile's rows and columns are (only K(X, X) can find either in either).
        rows_in_x = not symmetric or (x_start <= i0 and i1 <= x_end)
        cols_in_z = not symmetric or not (x_start <= j0 and j1 <= x_end)
        A, rows_a, a0 = (X, rows_x, i0 - x_start)
        if not rows_in_x:
            A, rows_a, a0 = (Z, rows_z, i0 - z_start)
        B, columns_b, rows_b, b0 = (Z, columns_z, rows_z, j0 - z_start)
        if not cols_in_z:
            B, columns_b, rows_b, b0 = (X, columns_x, rows_x, j0 - x_start)
        dots = dots_buffer[: rows * cols].reshape((rows, cols))
        tile_products(spec, A, a0, B, columns_b, b0, rows, cols, dots)
        direct = r0 <= i0 and i1 <= r1 and c0 <= j0 and j1 <= c1
        target = out if direct else scratch
        ti = i0 - r0 if direct else 0
        tj = j0 - c0 if direct else 0
        # A tile on the diagonal of K(X, X) maps its upper triangle, then mirrors it.
        upper = symmetric and i0 == j0
        for i in range(rows):
            first = i if upper else 0
            protocol.map_run(spec, dots[i, first:], rows_a, a0 + i, rows_b, b0 + first, work,
                             target, ti + i, tj + first)  # fmt: skip
        if exact_spec is not None:
            exact_a = exact_rows_x if rows_in_x else exact_rows_z
            exact_b = exact_rows_z if cols_in_z else exact_rows_x
            _refine(exact_spec, spec, A, a0, B, b0, dots, rows_a, rows_b, exact_a, exact_b,
                    work_shape, target, ti, tj, upper)  # fmt: skip
        if symmetric and i0 == j0:
            core.mirror_square(target, ti, tj, rows)
        if not direct:
            a_low, a_high = max(i0, r0), min(i1, r1)
            b_low, b_high = max(j0, c0), min(j1, c1)
            if a_low < a_high and b_low < b_high:
                core.copy_region(scratch, a_low - i0, b_low - j0, out, a_low - r0, b_low - c0,
                                 a_high - a_low, b_high - b_low, np.bool_(False))  # fmt: skip
        if symmetric and i0 != j0:
            # The mirror tile (j0, i0): source rows a in [i0, i1) land in columns a.
            a_low, a_high = max(i0, c0), min(i1, c1)
            b_low, b_high = max(j0, r0), min(j1, r1)
            if a_low < a_high and b_low < b_high:
                rows_copied, cols_copied = a_high - a_low, b_high - b_low
                source_i, source_j = ti + a_low - i0, tj + b_low - j0
                core.copy_region(
                    target, source_i, source_j, out, b_low - r0, a_low - c0, rows_copied,
                    cols_copied, np.bool_(True),
                )  # fmt: skip


#: The compiled tile loop.
tile_loop = kernel_loop(_fill_tiles_python)


@shared
def _refine(
    exact_spec,
    spec,
    A,
    a0,
    B,
    b0,
    dots,
    rows_a,
    rows_b,
    exact_a,
    exact_b,
    work_shape,
    out,
    ti,
    tj,
    upper,
):
    """Recompute in float64 the entries of a tile that need it (``needs_refinement``), with
    the float64 spec and row quantities (``fastntk._protocol.refine``); with ``upper`` only
    those on and above the tile's diagonal."""
    one = np.empty(1)
    work = np.empty(work_shape)
    for i in range(dots.shape[0]):
        for j in range(i if upper else 0, dots.shape[1]):
            if protocol.needs_refinement(spec, dots[i, j], rows_a, a0 + i, rows_b, b0 + j):
                protocol.refine(exact_spec, A, a0 + i, B, b0 + j, exact_a, exact_b, one, work,
                                out, ti + i, tj + j)  # fmt: skip


# --- kernel products without storing K (fastntk.operators) ------------------------------------


def strip_products(problem, diagonal, V, U, fused):
    """``(K V, K^T U or K^T K V)`` of the whole ``K(X, Z)`` of ``problem``, strip by strip (see
    ``operators.KernelOperator``). Thread ``w`` of ``W`` takes the strips ``w, w + W, ...``
    and sums its ``K^T`` products in its own buffer: the result depends on ``W`` only."""
    n, m = problem.n, problem.m
    tile = problem.tile
    threads = max(1, min(config.get("threads"), math.ceil(n / tile)))
    width = max(V.shape[1], U.shape[1])
    out_v = np.empty((n, V.shape[1]), dtype=problem.dtype)
    needs_u = fused or U.shape[1] > 0
    partial_u = np.zeros((threads if needs_u else 0, m, width), dtype=problem.dtype)
    columns_x, columns_z = _distance_columns(problem)
    loop = strip_loop.get(problem.cacheable)
    run = functools.partial(
        loop,
        problem.spec,
        problem.exact_spec,
        problem.X,
        problem.Z,
        columns_z,
        problem.rows_x,
        problem.rows_z,
        problem.exact_rows_x,
        problem.exact_rows_z,
        diagonal,
        V,
        U,
        out_v,
        partial_u,
        tile,
        threads,
        fused,
        problem.work_shape(tile),
    )
    with blas_threads(1), np.errstate(over="ignore"):
        if threads == 1:
            run(0)
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                for future in [pool.submit(run, worker) for worker in range(threads)]:
                    future.result()
    return out_v, partial_u.sum(axis=0) if needs_u else None


def _strip_products_python(
    spec,
    exact_spec,
    X,
    Z,
    columns_z,
    rows_x,
    rows_z,
    exact_rows_x,
    exact_rows_z,
    diagonal_x,
    V,
    U,
    out_v,
    partial_u,
    tile,
    workers,
    fused,
    work_shape,
    worker,
):
    """Strips ``S = K(X_block, Z)`` of ``tile`` rows for one thread, computed tile by tile into
    its own buffer, then

    - ``out_v[block] = S @ V`` when ``V`` has columns (``K @ V``);
    - ``partial_u[worker] += S.T @ U[block]`` when ``U`` has columns (``K.T @ U``);
    - ``partial_u[worker] += S.T @ (S @ V)`` when ``fused`` (``K.T @ K @ V`` in one pass).

    ``diagonal_x`` (empty unless ``Z`` is ``X``) overwrites ``K[i, i]`` with its exact value,
    as ``gram`` does.
    """
    n = X.shape[0]
    m = Z.shape[0]
    n_blocks = (n + tile - 1) // tile
    dtype = out_v.dtype
    strip = np.empty((1, tile, m), dtype=dtype)
    dots_buffer = np.empty(tile * tile, dtype=dtype)
    work = np.empty(work_shape, dtype=dtype)
    for block in range(worker, n_blocks, workers):
        i0 = block * tile
        i1 = min(i0 + tile, n)
        rows = i1 - i0
        for j0 in range(0, m, tile):
            j1 = min(j0 + tile, m)
            dots = dots_buffer[: rows * (j1 - j0)].reshape((rows, j1 - j0))
            tile_products(spec, X, i0, Z, columns_z, j0, rows, j1 - j0, dots)
            for i in range(rows):
                protocol.map_run(spec, dots[i], rows_x, i0 + i, rows_z, j0, work, strip, i, j0)
            if exact_spec is not None:
                _refine(exact_spec, spec, X, i0, Z, j0, dots, rows_x, rows_z, exact_rows_x,
                        exact_rows_z, work_shape, strip, np.int64(0), j0, False)  # fmt: skip
        S = strip[0, :rows]
        for i in range(min(rows, diagonal_x.shape[0] - i0)):
            S[i, i0 + i] = diagonal_x[i0 + i]
        if V.shape[1] > 0:
            product = np.dot(S, V)
            out_v[i0:i1] = product
            if fused:
                partial_u[worker] += np.dot(S.T, product)
        if U.shape[1] > 0:
            partial_u[worker] += np.dot(S.T, U[i0:i1])


#: The compiled strip loop of kernel products.
strip_loop = kernel_loop(_strip_products_python)
