"""What every backend shares: the problem a backend is given, and compiled helpers.

A ``GramProblem`` is a validated Gram computation: the kernel's spec, the rows of ``X`` and
``Z`` a block needs with their per-row quantities (and, for float32, their float64 ones), and
the exact diagonal. A backend fills a block ``K[r0:r1, c0:c1]`` of it (``fastntk.backends``).
"""

from dataclasses import dataclass

import numpy as np

from . import _protocol as protocol
from ._jit import jit, kernel_loop


@dataclass
class GramProblem:
    """``K(X, Z)`` (or the symmetric ``K(X, X)``) of one kernel spec, with global row indices.

    ``X`` holds the rows ``x_start, x_start + 1, ...`` of the whole ``X`` (of ``n`` rows), and
    ``Z`` the rows from ``z_start`` of the whole ``Z`` (of ``m`` rows; the same matrix when
    ``symmetric``). ``rows_x``/``rows_z`` are their per-row quantities, ``exact_*`` the float64
    ones (float32 problems of refining families only, else None), ``diagonal`` the ``(k, len(X))``
    exact ``k(x, x)`` of the rows of ``X``.
    """

    spec: tuple
    exact_spec: tuple
    X: np.ndarray
    Z: np.ndarray
    x_start: int
    z_start: int
    n: int
    m: int
    rows_x: np.ndarray
    rows_z: np.ndarray
    exact_rows_x: np.ndarray
    exact_rows_z: np.ndarray
    diagonal: np.ndarray
    symmetric: bool
    n_outputs: int
    cacheable: bool
    tile: int  # the side of the CPU's tiles (``engine.tile_size``)

    @property
    def dtype(self):
        return self.X.dtype

    def work_shape(self, run):
        """The shape of the scratch that ``map_run`` needs for runs of up to ``run`` entries
        (``fastntk._protocol``), as Python ints (CUDA's local arrays need constants)."""
        rows, columns = type(self.spec).work_shape(self.spec, run)
        return (int(rows), int(columns))


@kernel_loop
def row_data(spec, X):
    """``(rows, diagonal)``: the per-row quantities of the rows of ``X`` and their exact
    ``k(x, x)``, shape ``(k, n)``; one compiled function for both, computed on the host for
    every backend."""
    return protocol.row_data(spec, X)


#: Side of the square blocks in which a region is copied transposed: both the reads and the
#: writes then stay within a few cache lines per row.
_BLOCK = 16


@jit
def copy_region(source, si, sj, target, ti, tj, rows, cols, transpose):
    """``target[:, ti + a, tj + b] = source[:, si + a, sj + b]`` for ``a < rows, b < cols``, or
    with ``transpose`` ``target[:, ti + b, tj + a] = source[:, si + a, sj + b]`` (in square
    blocks, so that reads and writes both stay within a few cache lines per row)."""
    for k in range(source.shape[0]):
        if not transpose:
            for a in range(rows):
                target_row = target[k, ti + a, tj : tj + cols]
                source_row = source[k, si + a, sj : sj + cols]
                for b in range(cols):
                    target_row[b] = source_row[b]
            continue
        for bb in range(0, cols, _BLOCK):
            for ab in range(0, rows, _BLOCK):
                for b in range(bb, min(bb + _BLOCK, cols)):
                    target_row = target[k, ti + b]
                    for a in range(ab, min(ab + _BLOCK, rows)):
                        target_row[tj + a] = source[k, si + a, sj + b]


@jit
def mirror_square(target, i0, j0, size):
    """Copy the strict upper triangle of the square ``target[:, i0:i0 + size, j0:j0 + size]``
    onto its lower one (BLAS may round ``x_i . x_j`` and ``x_j . x_i`` differently: K must be
    exactly symmetric)."""
    for k in range(target.shape[0]):
        for jb in range(0, size, _BLOCK):
            for ib in range(0, size, _BLOCK):
                for j in range(jb, min(jb + _BLOCK, size)):
                    row = target[k, i0 + j]
                    for i in range(ib, min(ib + _BLOCK, size, j)):
                        row[j0 + i] = target[k, i0 + i, j0 + j]


@jit
def mirror_upper_triangle(matrix):
    """Copy the strict upper triangle of the C-ordered square ``matrix`` onto its lower one."""
    n = matrix.shape[0]
    mirror_square(matrix.reshape((1, n, n)), 0, 0, n)
