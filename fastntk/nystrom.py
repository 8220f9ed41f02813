"""Kernel regression for large n: Nystrom centres and preconditioned conjugate gradients
(the recipe of Falkon: Rudi, Carratino and Rosasco, NeurIPS 2017).

With ``m`` centres ``C`` (rows of ``X``, sampled uniformly without replacement), the predictor
``f(x) = K(x, C) a`` minimises ``|K_nm a - y|^2 + lambda a^T K_mm a``, whose normal equations are
``H a = K_nm^T y``, ``H = K_nm^T K_nm + lambda K_mm``; with ``m = n`` this is exact kernel ridge
regression. ``H`` is never formed: each conjugate-gradient step applies it with one pass over
``K_nm`` (``KernelOperator.normal_matmat``), computed tile by tile and forgotten. The
preconditioner approximates ``H`` by ``(n/m) K_mm^2 + lambda K_mm = T^T A^T A T`` with
``T^T T = K_mm`` and ``A^T A = (n/m) T T^T + lambda I`` (Cholesky factors), and CG (SciPy's)
runs on ``B^T H B`` with ``B = T^-1 A^-1``. Several outputs share every pass: CG runs on the
block-diagonal system of all columns at once, which has the spectrum of one column's system.

Memory: O(n d) for the data, O(m^2) for the preconditioner, one strip of ``K_nm`` per thread;
never O(n^2) or O(n m).
"""

import contextlib
import inspect
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, cg

from . import engine, solvers
from ._threads import blas_threads, resolve_threads
from ._validation import as_compute_array, check_int, check_matrix, check_positive, resolve_dtype
from .operators import KernelOperator

logger = logging.getLogger("fastntk")

#: Relative residual at which CG stops by default, per dtype (float32 cannot go much lower).
DEFAULT_TOLERANCE = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}


class ConvergenceWarning(UserWarning):
    """Conjugate gradients stopped at ``max_iter`` before reaching ``tol``."""


@dataclass
class NystromFit:
    """The result of ``nystrom_fit``: predictions are ``K(x, centers) @ coefficients``."""

    centers: np.ndarray
    center_indices: np.ndarray
    coefficients: np.ndarray
    noise: float
    iterations: int
    converged: bool
    residuals: list = field(default_factory=list)  # relative residual after each iteration


def nystrom_fit(
    kernel,
    X,
    y,
    alpha,
    *,
    n_centers,
    relative_alpha=False,
    seed=None,
    tol=None,
    max_iter=100,
    dtype=None,
    threads=None,
    progress=False,
):
    """Fit Nystrom kernel ridge regression by preconditioned conjugate gradients.

    Parameters
    ----------
    kernel : a fastntk kernel.
    X : (n, d) inputs; y : (n,) or (n, t) targets.
    alpha : float >= 0, ``lambda`` (with ``relative_alpha``, times the mean of ``k(x, x)``).
    n_centers : int, ``1 <= m <= n``.
    seed : seed or ``numpy.random.Generator`` of the uniform choice of centres.
    tol : relative residual of the preconditioned system at which CG stops (default 1e-7 in
        float64, 1e-4 in float32); max_iter : CG iterations at most.
    dtype : float64 (default) or float32, of the kernel products.
    threads : BLAS threads of the ``m x m`` factorizations.
    progress : show CG iterations and residuals (needs the optional ``tqdm``; else logged).
    """
    X = check_matrix(X, "X")
    dtype = resolve_dtype(dtype)
    X = as_compute_array(X, dtype, "X")
    n = X.shape[0]
    y = solvers.check_targets(y, n)
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    m = check_int(n_centers, "n_centers", 1)
    if m > n:
        raise ValueError(f"n_centers must be <= the number of samples {n}, got {m}")
    tol = DEFAULT_TOLERANCE[dtype] if tol is None else check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 1)
    threads = resolve_threads(threads, m)

    rng = np.random.default_rng(seed)
    center_indices = np.sort(rng.choice(n, size=m, replace=False))
    centers = X[center_indices]
    noise = alpha * float(np.mean(engine.diag(kernel, X, dtype=dtype))) if relative_alpha else alpha

    K_mm = engine.gram(kernel, centers, dtype=dtype)
    T, A = _preconditioner(np.array(K_mm, order="F"), n, noise, threads)
    operator = KernelOperator(kernel, X, centers, dtype=dtype)
    targets = y.reshape(n, -1).astype(dtype, copy=False)
    width = targets.shape[1]

    def precondition(v):  # B v = T^-1 A^-1 v
        return _triangular(T, _triangular(A, v, threads), threads)

    def precondition_transposed(v):  # B^T v = A^-T T^-T v
        return _triangular(A, _triangular(T, v, threads, "T"), threads, "T")

    def apply(stacked):
        v = precondition(stacked.reshape(m, width))
        with blas_threads(threads):
            h = operator.normal_matmat(v) + noise * (K_mm @ v)
        return precondition_transposed(h).ravel()

    system = LinearOperator((m * width, m * width), matvec=apply, dtype=dtype)
    right_side = precondition_transposed(operator.T @ targets).ravel()
    tracker = _ResidualTracker(system, right_side)
    with _progress(progress, max_iter) as report:

        def callback(x):
            report(tracker.update(x))

        solution, info = cg(
            tracker.operator,
            right_side,
            maxiter=max_iter,
            callback=callback,
            atol=0.0,
            **{_CG_RELATIVE_TOLERANCE: tol},
        )
    if info > 0:
        warnings.warn(
            f"conjugate gradients stopped after {max_iter} iterations at relative residual "
            f"{tracker.residuals[-1] if tracker.residuals else float('nan'):.2e} > tol {tol:.1e}; "
            "raise max_iter or tol, or use more centres",
            ConvergenceWarning,
            stacklevel=2,
        )
    coefficients = precondition(solution.reshape(m, width))
    coefficients = coefficients[:, 0] if y.ndim == 1 else coefficients
    return NystromFit(
        centers=centers,
        center_indices=center_indices,
        coefficients=coefficients,
        noise=noise,
        iterations=len(tracker.residuals),
        converged=info == 0,
        residuals=tracker.residuals,
    )


def _preconditioner(K_mm, n, noise, threads):
    """Upper Cholesky factors ``T`` of ``K_mm`` (plus Falkon's jitter ``m eps mean(diag)``) and
    ``A`` of ``(n/m) T T^T + lambda I``."""
    m = K_mm.shape[0]
    jitter = m * np.finfo(K_mm.dtype).eps * float(np.mean(np.diagonal(K_mm)))
    factorization = solvers.factorize(
        K_mm, jitter, method="cholesky", overwrite_K=True, threads=threads
    )
    if factorization.method != "cholesky":
        raise ValueError("the kernel matrix of the centres is not positive semi-definite")
    T = np.triu(factorization.factor)
    with blas_threads(threads):
        inner = (n / m) * (T @ T.T)
    inner[np.diag_indices(m)] += noise
    with blas_threads(threads):
        A = scipy.linalg.cholesky(inner, lower=False, overwrite_a=True, check_finite=False)
    return T, A


def _triangular(U, B, threads, trans="N"):
    with blas_threads(threads):
        return scipy.linalg.solve_triangular(U, B, trans=trans, lower=False, check_finite=False)


class _ResidualTracker:
    """The residual ``|b - M x_k| / |b|`` after each CG iteration without extra products.

    Each CG iteration applies ``M`` once, to its search direction ``p``, and moves
    ``x_k = x_{k-1} + a p``; so ``r_k = r_{k-1} - a M p`` with ``a`` read off the step (or
    ``r_k = b - M x_k`` when the last product was of the iterate itself). Otherwise (another
    CG variant) the residual is NaN.
    """

    def __init__(self, system, right_side):
        self.residuals = []
        self._system = system
        self._norm = float(np.linalg.norm(right_side)) or 1.0
        self._right_side = right_side.astype(np.float64)
        self._residual = self._right_side
        self._previous = np.zeros_like(right_side)
        self._last = None
        self.operator = LinearOperator(system.shape, matvec=self._matvec, dtype=system.dtype)

    def _matvec(self, p):
        q = self._system.matvec(p)
        self._last = (np.array(p, dtype=np.float64).ravel(), np.asarray(q, np.float64).ravel())
        return q

    def update(self, x):
        x = np.asarray(x, dtype=np.float64).ravel()
        step = x - self._previous
        self._previous = x.copy()
        p, q = self._last if self._last is not None else (None, None)
        p_norm = float(p @ p) if p is not None else 0.0
        along = float(step @ p) if p is not None else 0.0
        parallel = p_norm > 0 and along**2 >= (1 - 1e-6) * p_norm * float(step @ step)
        if p is not None and np.array_equal(p, x):
            # Some CG versions (SciPy < 1.12) apply M to the iterate itself to check it.
            self._residual = self._right_side - q
        elif parallel and np.isfinite(self._residual).all():
            self._residual = self._residual - (along / p_norm) * q
        else:
            self._residual = np.full_like(self._residual, np.nan)
        self.residuals.append(float(np.linalg.norm(self._residual)) / self._norm)
        return len(self.residuals), self.residuals[-1]


#: SciPy 1.12 renamed cg's relative tolerance from ``tol`` to ``rtol``.
_CG_RELATIVE_TOLERANCE = "rtol" if "rtol" in inspect.signature(cg).parameters else "tol"


@contextlib.contextmanager
def _progress(progress, total):
    """``report((iteration, residual))``: a tqdm bar when ``progress`` and tqdm is installed,
    else a DEBUG log line (INFO when ``progress``)."""
    level = logging.INFO if progress else logging.DEBUG
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="iteration", desc="conjugate gradients")
        except ImportError:
            bar = None

    def report(state):
        iteration, residual = state
        if bar is not None:
            bar.update(1)
            bar.set_postfix(residual=f"{residual:.2e}")
        else:
            logger.log(level, "conjugate gradients: iteration %d, residual %.3e", *state)

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()
