"""The compiled core of the Gram engine: per-family hooks and the parallel tile loop.

Each kernel family registers, for its spec class,
- ``row_info(spec, X) -> (r, n)``: per-row quantities the scalar map needs (norms, the
  diagonal of every layer of a network), stored transposed so tile loops read them contiguously;
- ``tile_products(spec, X, Z, rows_z, i0, i1, j0, j1, dots)``: inner products (BLAS) or
  distances of the tile ``X[i0:i1]`` x ``Z[j0:j1]``;
- ``map_tile(spec, dots, rows_x, rows_z, i0, j0, out)``: the scalar map of the tile whose
  corner is ``(i0, j0)``, written into ``out[:, i0:i0 + ti, j0:j0 + tj]`` while ``dots`` is
  still in cache;
- ``refine_tile(spec, X, Z, dots, rows_x, rows_z, exact_rows_x, exact_rows_z, i0, j0, out)``
  (float32 only, angle-based kernels): recompute in float64 the entries whose cosine is too
  close to +-1 for float32 (``arccos(1 - e) ~ sqrt(2 e)`` turns rounding of 6e-8 into errors of
  3e-4); ``exact_rows_*`` are the float64 row quantities;
- ``diagonal(spec, rows_x) -> (n_outputs, n)``: ``k(x, x)`` exactly (angle 0, distance 0).

Hooks take whole arrays and offsets rather than slices: Numba types a column slice as
non-contiguous, and LLVM then will not vectorise the loops that read it.
"""

import numpy as np
from numba import prange

from ._dispatch import spec_dispatch
from ._jit import jit, parallel_jit, parallel_jit_uncached

row_info, register_row_info = spec_dispatch("row_info")
tile_products, register_tile_products = spec_dispatch("tile_products")
map_tile, register_map_tile = spec_dispatch("map_tile")
refine_tile, register_refine_tile = spec_dispatch("refine_tile")
diagonal, register_diagonal = spec_dispatch("diagonal")


@jit
def dot_products(spec, X, Z, rows_z, i0, i1, j0, j1, dots):
    """Inner products of a tile with BLAS (the default ``tile_products``)."""
    np.dot(X[i0:i1], Z[j0:j1].T, dots)


@jit
def nothing_to_refine(spec, X, Z, dots, rows_x, rows_z, exact_rows_x, exact_rows_z, i0, j0, out):
    """The ``refine_tile`` of kernels whose float32 values need no float64 help."""


#: Side of the square blocks in which a tile is copied transposed: both the reads and the
#: writes then stay within a few cache lines per row.
_BLOCK = 16


@jit
def _mirror_tile(out, i0, i1, j0, j1):
    """Copy tile ``(i, j)`` of ``out`` onto tile ``(j, i)``, in square blocks so that reads and
    writes both stay within a few cache lines per row. A tile on the diagonal copies its upper
    triangle onto its lower one (BLAS may round ``x_i . x_j`` and ``x_j . x_i`` differently:
    K must be exactly symmetric)."""
    for k in range(out.shape[0]):
        for jb in range(j0, j1, _BLOCK):
            for ib in range(i0, i1, _BLOCK):
                for j in range(jb, min(jb + _BLOCK, j1)):
                    i_end = min(ib + _BLOCK, i1)
                    if i0 == j0:
                        i_end = min(i_end, j)
                    target = out[k, j]
                    for i in range(ib, i_end):
                        target[i] = out[k, i, j]


def _fill_tiles(
    spec, X, Z, rows_x, rows_z, exact_rows_x, exact_rows_z, out, tiles, tile, workers, symmetric
):
    n = X.shape[0]
    m = Z.shape[0]
    for worker in prange(workers):
        dots_buffer = np.empty(tile * tile, dtype=out.dtype)
        for t in range(worker, tiles.shape[0], workers):
            i0 = tiles[t, 0]
            j0 = tiles[t, 1]
            i1 = min(i0 + tile, n)
            j1 = min(j0 + tile, m)
            dots = dots_buffer[: (i1 - i0) * (j1 - j0)].reshape((i1 - i0, j1 - j0))
            tile_products(spec, X, Z, rows_z, i0, i1, j0, j1, dots)
            map_tile(spec, dots, rows_x, rows_z, i0, j0, out)
            if exact_rows_x.shape[1] > 0:
                refine_tile(
                    spec, X, Z, dots, rows_x, rows_z, exact_rows_x, exact_rows_z, i0, j0, out
                )
            if symmetric:
                _mirror_tile(out, i0, i1, j0, j1)


#: The tile loop, cached; ``fill_tiles_uncached`` serves specs that hold a user's function.
fill_tiles = parallel_jit(_fill_tiles)
fill_tiles_uncached = parallel_jit_uncached(_fill_tiles)


def _strip_products(
    spec,
    X,
    Z,
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
):
    """Products with ``K = K(X, Z)`` without storing it: for each block of ``tile`` rows of
    ``X`` (workers take blocks round-robin) the strip ``S = K(X_block, Z)`` is computed tile by
    tile into a per-worker buffer, then

    - ``out_v[block] = S @ V`` when ``V`` has columns (``K @ V``);
    - ``partial_u[worker] += S.T @ U[block]`` when ``U`` has columns (``K.T @ U``);
    - ``partial_u[worker] += S.T @ (S @ V)`` when ``fused`` (``K.T @ K @ V`` in one pass).

    The caller sums ``partial_u`` over workers. ``diagonal_x`` (empty unless ``Z`` is ``X``)
    overwrites ``K[i, i]`` with its exact value, as ``gram`` does.
    """
    n = X.shape[0]
    m = Z.shape[0]
    n_blocks = (n + tile - 1) // tile
    refine = exact_rows_x.shape[1] > 0
    for worker in prange(workers):
        strip = np.empty((1, tile, m), dtype=out_v.dtype)
        dots_buffer = np.empty(tile * tile, dtype=out_v.dtype)
        for block in range(worker, n_blocks, workers):
            i0 = block * tile
            i1 = min(i0 + tile, n)
            rows = i1 - i0
            # Contiguous copies of the block's row data: the hooks then see the same array
            # types as in the Gram loop (no new specialisations, vectorised loops).
            X_block = X[i0:i1]
            rows_block = np.ascontiguousarray(rows_x[:, i0:i1])
            exact_block = np.ascontiguousarray(exact_rows_x[:, i0:i1]) if refine else exact_rows_x
            for j0 in range(0, m, tile):
                j1 = min(j0 + tile, m)
                dots = dots_buffer[: rows * (j1 - j0)].reshape((rows, j1 - j0))
                tile_products(spec, X_block, Z, rows_z, 0, rows, j0, j1, dots)
                map_tile(spec, dots, rows_block, rows_z, 0, j0, strip)
                if refine:
                    refine_tile(
                        spec,
                        X_block,
                        Z,
                        dots,
                        rows_block,
                        rows_z,
                        exact_block,
                        exact_rows_z,
                        0,
                        j0,
                        strip,
                    )
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


#: The matrix-free products, cached; ``strip_products_uncached`` serves user functions.
strip_products = parallel_jit(_strip_products)
strip_products_uncached = parallel_jit_uncached(_strip_products)


@jit
def mirror_upper_triangle(matrix):
    """Copy the strict upper triangle of the C-ordered square ``matrix`` onto its lower one."""
    n = matrix.shape[0]
    _mirror_tile(matrix.reshape((1, n, n)), 0, n, 0, n)


@jit
def set_diagonal(out, values):
    for k in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[k, i, i] = values[k, i]
