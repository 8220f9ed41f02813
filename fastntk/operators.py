"""Kernel matrices as linear operators: ``K(X, Z) @ V`` without ever storing ``K``.

A ``KernelOperator`` computes the kernel a strip of rows at a time (tiles of BLAS inner products
and the kernel's fused scalar map, exactly as ``gram``), multiplies the strip into the
right-hand sides and forgets it, in a parallel loop over strips. Memory: the inputs, the
right-hand sides and results, and one strip of ``256 x m`` entries per thread. Every product
recomputes the kernel: a product costs about as much as ``gram`` of the same shape.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import engine
from ._validation import check_gram_inputs
from .backends import cpu


class KernelOperator(LinearOperator):
    """``K(X, Z)`` (shape (n, m); ``Z=None`` for ``K(X, X)``) as a SciPy ``LinearOperator``.

    ``op @ V``, ``op.matmat(V)`` and ``op.T @ U`` (several right-hand sides at once) compute
    ``K V`` and ``K^T U`` tile by tile; ``op.normal_matmat(V)`` computes ``K^T K V`` in one pass
    (each strip of ``K`` used twice while in memory), the product conjugate gradients on the
    Nystrom normal equations need. Results are in ``dtype`` (float64 by default, or float32).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> kernel = fk.NTK(depth=2, b_std=1.0)
    >>> operator = fk.operators.KernelOperator(kernel, X)  # K is never stored
    >>> K = fk.gram(kernel, X)
    >>> V = np.ones((200, 2))
    >>> bool(np.allclose(operator @ V, K @ V))
    True
    >>> bool(np.allclose(operator.normal_matmat(V), K.T @ (K @ V)))
    True
    """

    def __init__(self, kernel, X, Z=None, *, dtype=None):
        engine.check_kernel(kernel)
        if kernel.n_outputs != 1:
            raise TypeError(f"KernelOperator takes a single kernel, got {kernel!r}")
        self.kernel = kernel
        kernel, X, Z = kernel.prepare(X, Z)
        X, Z, dtype, symmetric = check_gram_inputs(X, Z, dtype, None)
        self._problem = engine.gram_problem(kernel, X, Z, dtype, symmetric)
        diagonal = self._problem.diagonal[0]
        self._diagonal = diagonal if symmetric else np.empty(0, dtype=dtype)
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
        return cpu.strip_products(self._problem, self._diagonal, V, U, fused)
