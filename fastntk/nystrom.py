"""Kernel regression for large n: Nystrom centres and preconditioned conjugate gradients
(the recipe of Falkon: Rudi, Carratino and Rosasco, NeurIPS 2017).

With ``m`` centres ``C`` (rows of ``X``, sampled uniformly without replacement), the predictor
``f(x) = K(x, C) a`` minimises ``|K_nm a - y|^2 + lambda a^T K_mm a``, whose normal equations are
``H a = K_nm^T y``, ``H = K_nm^T K_nm + lambda K_mm``; with ``m = n`` this is exact kernel ridge
regression. ``H`` is never formed: each conjugate-gradient step applies it with one pass over
``K_nm`` (``KernelOperator.normal_matmat``), computed tile by tile and forgotten.

Duplicate rows (categorical features) or data of low rank make ``K_mm`` singular, and a plain
Cholesky factor of it amplifies rounding without bound. So the centres are first reduced to a
*basis*: exact duplicate rows are merged (each distinct centre ``u`` weighted by its count
``w_u``; those with ``k(u, u) = 0`` dropped), and a Cholesky factorization with complete pivoting
(LAPACK ``pstrf``) of the distinct centres' ``K_uu``, ``P^T K_uu P = R^T R``, stops when every
remaining centre's Schur complement is below ``m_u eps`` of its own ``k(u, u)`` (``pstrf`` on
the unit-diagonal ``D^-1/2 K_uu D^-1/2`` with LAPACK's own rank tolerance, so that the decision
does not depend on the centres' scales). Its ``r`` leading pivots are the basis ``S``; the other
centres' functions ``k(., u)`` lie in the span of the basis's to that tolerance, so ``f`` loses
nothing by having coefficients only on ``S`` (the others get 0).

With ``R = [R_11 R_12]`` and ``T = R_11`` (``T^T T = K_SS``), the centres with their counts
estimate ``K_nS^T K_nS`` by ``(n/m) K_Su W K_uS = T^T ((n/m) R W R^T) T``, so Falkon's
preconditioner of ``H_SS`` is ``T^T A^T A T`` with ``A^T A = (n/m) R W R^T + lambda I``
(Cholesky). CG (SciPy's) runs on the ``r x r`` system ``B^T H_SS B``, ``B = T^-1 A^-1``, whose
``lambda`` part is ``lambda A^-T A^-1``, so ``K_mm`` is not kept. Several outputs share every
pass: CG runs on the block-diagonal system of all columns at once, which has the spectrum of one
column's system. Kernel values, CG iterates or coefficients that are not finite raise
``ValueError``.

Memory: O(n d) for the data, O(m^2) for the preconditioner, one strip of ``K_nS`` per thread;
never O(n^2) or O(n m).
"""

import contextlib
import inspect
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack, solve_triangular
from scipy.sparse.linalg import LinearOperator, cg

from . import engine, solvers
from ._threads import blas_threads, resolve_threads
from ._validation import (
    as_compute_array,
    check_int,
    check_matrix,
    check_positive,
    is_dask_array,
    resolve_dtype,
)
from .operators import KernelOperator

logger = logging.getLogger("fastntk")

#: Relative residual at which CG stops by default, per dtype (float32 cannot go much lower).
DEFAULT_TOLERANCE = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}


class ConvergenceWarning(UserWarning):
    """Conjugate gradients stopped at ``max_iter`` before reaching ``tol``."""


@dataclass
class NystromFit:
    """The result of ``nystrom_fit``: predictions are ``K(x, centers) @ coefficients``.

    ``basis`` indexes the centres that carry the solution (``coefficients`` are 0 on the others,
    duplicates or numerically in the basis's span).
    """

    centers: np.ndarray
    center_indices: np.ndarray
    coefficients: np.ndarray
    noise: float
    iterations: int
    converged: bool
    basis: np.ndarray
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

    The preconditioner is Falkon's, built on a basis of the centres (duplicates merged, a
    pivoted Cholesky factorization dropping the centres in the span of the others; see the
    module docstring), so that duplicate rows, data of low rank or a zero kernel give the
    solution of the exact solver's problem restricted to the centres, not NaN.

    Parameters
    ----------
    kernel : a fastntk kernel.
    X : (n, d) inputs; y : (n,) or (n, t) targets. A dask ``X`` (and ``y``, with the same row
        chunks) is fitted where its chunks are: each CG iteration is a map over the chunks and
        a sum of ``m x t`` results (``fastntk.cluster.ChunkedKernelOperator``), on a
        ``distributed.Client`` when one is running.
    alpha : float >= 0, ``lambda`` (with ``relative_alpha``, times the mean of ``k(x, x)``).
    n_centers : int, ``1 <= m <= n``.
    seed : seed or ``numpy.random.Generator`` of the uniform choice of centres.
    tol : relative residual of the preconditioned system at which CG stops (default 1e-7 in
        float64, 1e-4 in float32); max_iter : CG iterations at most.
    dtype : float64 (default) or float32, of the kernel products.
    threads : BLAS threads of the ``m x m`` factorizations.
    progress : show CG iterations and residuals (needs the optional ``tqdm``; else logged).

    Raises
    ------
    ValueError : if the kernel matrix of the centres, the preconditioner, a CG iterate or the
        coefficients are not finite (kernel values or their products that overflow, or a kernel
        that is not positive semi-definite).
    """
    dtype = resolve_dtype(dtype)
    chunked = is_dask_array(X)
    if chunked:
        from . import cluster  # only with dask arrays: dask is optional

        X, y = cluster.training_inputs(X, y, dtype)
    else:
        kernel, X, _ = kernel.prepare(X, None)  # images as rows, the kernel bound to their shape
        X = check_matrix(X, "X")
        X = as_compute_array(X, dtype, "X")
        y = solvers.check_targets(y, X.shape[0])
    n = X.shape[0]
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    m = check_int(n_centers, "n_centers", 1)
    if m > n:
        raise ValueError(f"n_centers must be <= the number of samples {n}, got {m}")
    tol = DEFAULT_TOLERANCE[dtype] if tol is None else check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 1)
    threads = resolve_threads(threads, m)

    rng = np.random.default_rng(seed)
    center_indices = np.sort(rng.choice(n, size=m, replace=False))
    centers = X[center_indices].compute() if chunked else X[center_indices]
    if not relative_alpha:
        noise = alpha
    elif chunked:
        noise = alpha * cluster.mean_diagonal(engine.diag, kernel, X, dtype)
    else:
        noise = alpha * float(np.mean(engine.diag(kernel, X, dtype=dtype)))

    basis, T, A = _preconditioner(kernel, centers, n, noise, dtype, threads)
    targets = y.reshape(n, -1).astype(dtype, copy=False)
    width = targets.shape[1]
    coefficients = np.zeros((m, width), dtype=dtype)
    info, residuals = 0, []
    if basis.size:
        operator = (
            cluster.ChunkedKernelOperator(KernelOperator, kernel, X, centers[basis], dtype)
            if chunked
            else KernelOperator(kernel, X, centers[basis], dtype=dtype)
        )
        solution, info, residuals = _conjugate_gradients(
            operator,
            targets,
            T,
            A,
            noise,
            tol,
            max_iter,
            threads,
            progress,
        )
        with blas_threads(threads):
            coefficients[basis] = _triangular(T, _triangular(A, solution))
        _require_finite(coefficients, "coefficients")
    if info > 0:
        warnings.warn(
            f"conjugate gradients stopped after {max_iter} iterations at relative residual "
            f"{residuals[-1] if residuals else float('nan'):.2e} > tol {tol:.1e}; "
            "raise max_iter or tol, or use more centres",
            ConvergenceWarning,
            stacklevel=2,
        )
    return NystromFit(
        centers=centers,
        center_indices=center_indices,
        coefficients=coefficients[:, 0] if y.ndim == 1 else coefficients,
        noise=noise,
        iterations=len(residuals),
        converged=info == 0,
        residuals=residuals,
        basis=basis,
    )


def _conjugate_gradients(operator, targets, T, A, noise, tol, max_iter, threads, progress):
    """CG on ``B^T H B beta = B^T K_nS^T y``, ``B = T^-1 A^-1``, all columns at once:
    ``(beta, info, residuals)``."""
    r, width = A.shape[0], targets.shape[1]

    def apply(stacked):
        with blas_threads(threads):
            u = _triangular(A, stacked.reshape(r, width))
            h = operator.normal_matmat(_triangular(T, u))
            # B^T (lambda K_SS) B = lambda A^-T A^-1 as T^T T = K_SS: no K_SS product.
            return _triangular(A, _triangular(T, h, "T") + noise * u, "T").ravel()

    system = LinearOperator((r * width, r * width), matvec=apply, dtype=A.dtype)
    with blas_threads(threads):
        right_side = _triangular(A, _triangular(T, operator.rmatmat(targets), "T"), "T").ravel()
    tracker = _ResidualTracker(system, right_side)
    with _progress(progress, max_iter) as report:

        def callback(x):
            # A NaN iterate stays NaN: stop now rather than after max_iter useless passes.
            _require_finite(x, "conjugate-gradient iterate")
            report(tracker.update(x))

        solution, info = cg(
            tracker.operator,
            right_side,
            maxiter=max_iter,
            callback=callback,
            atol=0.0,
            **{_CG_RELATIVE_TOLERANCE: tol},
        )
    return solution.reshape(r, width), info, tracker.residuals


def _preconditioner(kernel, centers, n, noise, dtype, threads):
    """``(basis, T, A)``: the indices into ``centers`` of the basis ``S`` (in pivot order), the
    upper triangular ``T`` with ``T^T T = K_SS`` and ``A`` with ``A^T A = (n/m) R W R^T +
    lambda I`` (module docstring)."""
    m = centers.shape[0]
    # Merging exact duplicates first leaves pstrf only the rank decisions rounding makes hard.
    _, first, counts = np.unique(centers, axis=0, return_index=True, return_counts=True)
    K = engine.gram(kernel, centers[first], dtype=dtype)
    _require_finite(K, "kernel matrix of the centres")
    diagonal = np.diagonal(K).copy()
    # k(c, c) = 0 makes k(., c) = 0 (Cauchy-Schwarz): such a centre adds nothing.
    positive = np.flatnonzero(diagonal > 0)
    if positive.size < diagonal.size:
        K, first, counts = K[np.ix_(positive, positive)], first[positive], counts[positive]
    if not positive.size:
        return np.empty(0, dtype=np.intp), np.empty((0, 0), dtype), np.empty((0, 0), dtype)
    # Rounding in a Schur complement's diagonal is relative to that centre's own k(c, c), so the
    # rank is decided on the unit-diagonal matrix: a centre of large norm cannot push the others
    # under the floor.
    root = np.sqrt(diagonal[positive])
    K /= root[:, np.newaxis]
    K /= root[np.newaxis, :]
    pstrf, potrf = lapack.get_lapack_funcs(("pstrf", "potrf"), (K,))
    with blas_threads(threads):
        # K is symmetric: its C-ordered buffer is itself in the F order LAPACK works in.
        factor, pivots, rank, info = pstrf(
            K.T if K.flags.c_contiguous else K,
            tol=K.shape[0] * np.finfo(dtype).eps,
            lower=0,
            overwrite_a=1,
        )
    if info < 0:
        raise RuntimeError(f"LAPACK pstrf failed with info={info}")
    order = pivots - 1
    weights = (n / m) * counts[order].astype(dtype)
    R = np.triu(factor[:rank]) * root[order]
    with blas_threads(threads), np.errstate(over="ignore", invalid="ignore"):
        inner = (R * weights) @ R.T
    inner[np.diag_indices(rank)] += noise
    # An overflow is reported as one, not as the failed potrf it would cause.
    _require_finite(inner, "preconditioner")
    with blas_threads(threads):
        A, info = potrf(inner.T, lower=0, clean=1, overwrite_a=1)
    if info != 0:
        # pstrf's pivots keep R's rows independent: this needs an R_11 far worse conditioned
        # than its pivots, which pivoting makes rare (no test case produces one).
        raise ValueError(
            f"the Nystrom preconditioner is not positive definite (LAPACK potrf info={info}): "
            "the kernel matrix of the centres is too ill-conditioned; use a larger alpha or "
            "fewer centres"
        )
    return first[order[:rank]], np.ascontiguousarray(R[:, :rank]), A


def _require_finite(values, what):
    """A non-finite fit is an error, never a NaN prediction with a warning."""
    if not np.isfinite(values).all():
        raise ValueError(
            f"the Nystrom {what} is not finite (NaN or infinity): kernel values or their "
            f"products exceed {np.finfo(values.dtype).max:.1e} (rescale X, or compute in float64) "
            "or the kernel is not positive semi-definite"
        )


def _triangular(U, B, trans="N"):
    return solve_triangular(U, B, trans=trans, lower=False, check_finite=False)


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
