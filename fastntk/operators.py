"""Kernel matrices as linear operators: ``K(X, Z) @ V`` without ever storing ``K``.

A ``KernelOperator`` computes the kernel a strip of rows at a time (tiles of BLAS inner products
and the kernel's fused scalar map, exactly as ``gram``), multiplies the strip into the
right-hand sides and forgets it, in a parallel loop over strips. Memory: the inputs, the
right-hand sides and results, and one strip of ``256 x m`` entries per thread. Every product
recomputes the kernel: a product costs about as much as ``gram`` of the same shape.
"""

import numba
import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import _engine_core as core
from . import config, engine
from ._threads import blas_threads
from ._validation import check_gram_inputs


class KernelOperator(LinearOperator):
    """``K(X, Z)`` (shape (n, m); ``Z=None`` for ``K(X, X)``) as a SciPy ``LinearOperator``.

    ``op @ V``, ``op.matmat(V)`` and ``op.T @ U`` (several right-hand sides at once) compute
    ``K V`` and ``K^T U`` tile by tile; ``op.normal_matmat(V)`` computes ``K^T K V`` in one pass
    (each strip of ``K`` used twice while in memory), the product conjugate gradients on the
    Nystrom normal equations need. Results are in ``dtype`` (float64 by default, or float32).
    """

    def __init__(self, kernel, X, Z=None, *, dtype=None):
        engine._check_kernel(kernel)
        if kernel._n_outputs != 1:
            raise TypeError(f"KernelOperator takes a single kernel, got {kernel!r}")
        X, Z, dtype, symmetric = check_gram_inputs(X, Z, dtype, None)
        spec = kernel._spec(X.shape[1], dtype)
        rows, diagonal_x = engine.prepared_rows(kernel, spec, X, Z, dtype, symmetric)
        self.kernel = kernel
        self._spec = spec
        self._X, self._Z = X, Z
        self._rows = rows
        self._diagonal = diagonal_x[0] if symmetric else np.empty(0, dtype=dtype)
        self._products = core.strip_products if kernel._cacheable else core.strip_products_uncached
        super().__init__(dtype=dtype, shape=(X.shape[0], Z.shape[0]))

    def _matmat(self, V):
        return self._run(V=self._columns(V, self.shape[1], "V"))[0]

    def _rmatmat(self, U):
        return self._run(U=self._columns(U, self.shape[0], "U"))[1]

    def _matvec(self, v):
        return self._matmat(np.reshape(v, (-1, 1)))[:, 0]

    def _rmatvec(self, u):
        return self._rmatmat(np.reshape(u, (-1, 1)))[:, 0]

    def normal_matmat(self, V, *, also_product=False):
        """``K^T (K V)`` for ``V`` of shape (m,) or (m, t), from one pass over ``K``; with
        ``also_product`` also ``K V``."""
        vector = np.ndim(V) == 1
        V = self._columns(np.reshape(V, (self.shape[1], -1)) if vector else V, self.shape[1], "V")
        product, normal = self._run(V=V, fused=True)
        if vector:
            product, normal = product[:, 0], normal[:, 0]
        return (normal, product) if also_product else normal

    def _columns(self, B, rows, name):
        B = np.asarray(B)
        if B.ndim != 2 or B.shape[0] != rows:
            raise ValueError(f"{name} must have shape ({rows}, t), got {B.shape}")
        return np.ascontiguousarray(B, dtype=self.dtype)

    def _run(self, V=None, U=None, fused=False):
        n, m = self.shape
        V = np.empty((m, 0), dtype=self.dtype) if V is None else V
        U = np.empty((n, 0), dtype=self.dtype) if U is None else U
        width = max(V.shape[1], U.shape[1])
        workers = numba.get_num_threads()
        out_v = np.empty((n, V.shape[1]), dtype=self.dtype)
        needs_u = fused or U.shape[1] > 0
        partial_u = np.zeros((workers if needs_u else 0, m, width), dtype=self.dtype)
        # BLAS runs inside the parallel loop: one BLAS thread per worker.
        with blas_threads(1), np.errstate(over="ignore"):
            self._products(
                self._spec,
                self._X,
                self._Z,
                *self._rows,
                self._diagonal,
                V,
                U,
                out_v,
                partial_u,
                config.TILE_SIZE,
                workers,
                fused,
            )
        return out_v, partial_u.sum(axis=0) if needs_u else None
