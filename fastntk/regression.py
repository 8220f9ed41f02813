"""Kernel ridge regression and infinitely wide networks trained by gradient descent
(MATH.md section 5)."""

import logging
import warnings

import numpy as np

from . import backends, config, engine, solvers
from ._estimator import DEFAULT_KERNEL, KernelModel
from ._validation import available_memory_bytes, check_positive, is_dask_array
from .nystrom import nystrom_fit

#: The solvers of ``KernelRegressor`` and ``KernelClassifier``.
SOLVERS = (*solvers.METHODS, "nystrom")

logger = logging.getLogger("fastntk")


class Regressor(KernelModel):
    """Prediction, Gaussian-process posterior and R^2 from ``dual_coef_`` and
    ``factorization_`` (set by ``fit`` with ``kernel_``)."""

    _estimator_type = "regressor"

    def predict(self, X, return_std=False, return_cov=False):
        """Predictions ``K(X, X_fit) a``; shape (m,) or (m, t) as ``y`` in ``fit``. For a dask
        ``X``, a dask array with its row chunks, each computed where the chunk is.

        With ``return_std`` (or ``return_cov``) also the Gaussian-process posterior standard
        deviation (m,) (or covariance (m, m)), with ``K`` as the prior covariance and
        ``alpha`` as the noise variance: ``K(X, X) - K(X, X_fit) (K + lambda I)^+ K(X_fit, X)``.
        """
        if return_std and return_cov:
            raise ValueError("return_std and return_cov cannot both be requested")
        if is_dask_array(X):
            if return_std or return_cov:
                raise ValueError("return_std and return_cov take a NumPy X, not a dask array")
            return self._chunked_outputs(X)
        X = self._predict_inputs(X)
        if (return_std or return_cov) and self._precomputed:
            raise ValueError(
                "return_std and return_cov need the kernel itself; they are not available "
                "with kernel='precomputed'"
            )
        if (return_std or return_cov) and self.solver_ == "nystrom":
            raise ValueError("return_std and return_cov need an exact solver, not 'nystrom'")
        coefficients = self.dual_coef_
        prediction = np.empty((X.shape[0],) + coefficients.shape[1:], dtype=coefficients.dtype)
        explained = [] if return_cov else None
        variance = np.empty(X.shape[0]) if return_std else None
        for rows, block in self._cross_blocks(self.kernel_, X):
            prediction[rows] = block @ coefficients
            if return_std:
                reduction = self.factorization_.quadratic_form(block.T, diagonal=True)
                variance[rows] = self.kernel_.diag(X[rows], dtype=self._dtype()) - reduction
            elif return_cov:
                explained.append(block)
        if return_std:
            return prediction, np.sqrt(np.maximum(variance, 0.0))  # rounding can go below 0
        if return_cov:
            cross = np.concatenate(explained, axis=0)
            prior = engine.gram(self.kernel_, X, dtype=self._dtype(), device=self.device)
            covariance = prior - self.factorization_.quadratic_form(cross.T)
            return prediction, (covariance + covariance.T) / 2
        return prediction

    def score(self, X, y):
        """The coefficient of determination R^2 of ``predict(X)`` (averaged over outputs); a
        ``ValueError`` when ``y`` does not have one finite target per row of ``X``."""
        X, y = self._score_inputs(X, y)
        return r2_score(y, self.predict(X))

    def _set_solution(self, factorization, y):
        self.factorization_ = factorization
        self.solver_ = factorization.method
        self.dual_coef_ = factorization.solve(y)


class KernelRegressor(Regressor):
    """Kernel ridge regression, ``f(x) = K(x, X) (K + lambda I)^+ y`` (MATH.md section 5).

    Parameters
    ----------
    kernel : a fastntk kernel (default ``NTK(depth=3)``) or "precomputed" (then ``fit`` takes
        the training kernel matrix and ``predict`` the test-by-train matrix).
    alpha : float >= 0, the regulariser ``lambda``; 0 is minimum-norm interpolation.
    solver : "auto", "cholesky", "eigh", "lstsq" (exact, see ``fastntk.solvers``) or
        "nystrom" (``n_centers`` centres and conjugate gradients, see ``fastntk.nystrom``; the
        ``n x n`` matrix is never formed). "auto" is exact (Cholesky for ``lambda > 0``, else
        the pseudo-inverse) when the ``n x n`` matrix fits ``memory_budget``, else "nystrom".
    relative_alpha : ``lambda = alpha * trace(K) / n`` (neural-tangents' convention).
    n_centers : Nystrom centres (default ``min(n, 5000)``), sampled uniformly with
        ``random_state`` (a seed or ``numpy.random.Generator``).
    memory_budget : bytes the exact solver may use for its ``n x n`` matrix (default: the
        share ``config exact_memory_share``, one half, of the memory available when ``fit``
        starts).
    cg_tol, cg_max_iter : conjugate-gradient stopping rule of "nystrom" (``tol`` and
        ``max_iter`` of ``nystrom_fit``).
    progress : show the Gram matrix's or the conjugate gradients' progress.
    dtype : float64 (default) or float32, of the kernel matrix and the solve.
    device : where the Gram matrices are computed: "cpu", "cuda" or "auto" (``fastntk.gram``).
    threads : BLAS threads of the solver (default: one up to n = 2048, else every usable CPU).

    Attributes
    ----------
    dual_coef_ : (n,) or (n, t), the coefficients ``a`` (with "nystrom": (m,) or (m, t), of
    the centres ``centers_``). ``solver_``: the solver used (the choice of "auto" is also
    logged at INFO level by the ``fastntk`` logger). ``factorization_``: of ``K + lambda I``
    (exact solvers). ``n_iter_``, ``cg_residuals_``: of "nystrom". ``kernel_``: the kernel.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> kernel = fk.NTK(depth=2, b_std=1.0)
    >>> model = fk.KernelRegressor(kernel, alpha=1e-3).fit(X, y)
    >>> K = fk.gram(kernel, X)
    >>> bool(np.allclose(model.dual_coef_, np.linalg.solve(K + 1e-3 * np.eye(200), y)))
    True
    >>> X_test = rng.uniform(-1, 1, (100, 2))
    >>> bool(model.score(X_test, np.sin(3 * X_test[:, 0]) * X_test[:, 1]) > 0.99)
    True
    """

    def __init__(
        self,
        kernel=DEFAULT_KERNEL,
        alpha=1e-6,
        *,
        solver="auto",
        relative_alpha=False,
        n_centers=None,
        random_state=None,
        memory_budget=None,
        cg_tol=None,
        cg_max_iter=100,
        progress=False,
        dtype=None,
        device="cpu",
        threads=None,
    ):
        self.kernel = kernel
        self.alpha = alpha
        self.solver = solver
        self.relative_alpha = relative_alpha
        self.n_centers = n_centers
        self.random_state = random_state
        self.memory_budget = memory_budget
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.progress = progress
        self.dtype = dtype
        self.device = device
        self.threads = threads

    def fit(self, X, y):
        """Fit to inputs ``X`` (n, d) (or the kernel matrix) and targets ``y`` (n,) or (n, t).

        A dask ``X`` (with ``y`` a dask array of the same row chunks, or a NumPy array) is fitted
        by "nystrom" where its chunks are, on a ``distributed.Client``'s workers when one is
        running (``fastntk.nystrom_fit``); ``X_fit_`` is then None. An exact solver (asked for,
        or chosen by "auto") gathers the rows into this process, once the ``n x n`` matrix is
        known to fit (else a ``MemoryError`` naming "nystrom").
        """
        self._check_kernel_parameter(self.kernel)
        check_positive(self.alpha, "alpha", allow_zero=True)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        self.kernel_ = self.kernel
        for stale in ("centers_", "n_iter_", "cg_residuals_", "factorization_"):
            self.__dict__.pop(stale, None)
        choice = None
        if is_dask_array(X):
            X = self._chunked_inputs(X, fitted=False)
            choice = self._chosen_solver(X.shape[0])
            if choice == "nystrom":
                self._record_chunked_fit_inputs(X)
                self._fit_nystrom(X, y)
                return self
            # An exact solve needs K in this process: the rows are gathered, if K fits.
            self._check_training_matrix_fits(X.shape[0])
        X = self._fit_inputs(X)
        y = solvers.check_targets(y, X.shape[0], "X")
        if (choice or self._chosen_solver(X.shape[0])) == "nystrom":
            self._fit_nystrom(self.X_fit_, y)
            return self
        factorization = solvers.factorize(
            self._training_matrix(self.kernel, X),
            self.alpha,
            method=self.solver,
            relative_alpha=self.relative_alpha,
            overwrite_K=True,
            threads=self.threads,
        )
        self._set_solution(factorization, y)
        return self

    def _chosen_solver(self, n):
        if self.solver != "auto":
            if self.solver == "nystrom" and self._precomputed:
                raise ValueError("solver='nystrom' needs the kernel, not kernel='precomputed'")
            return self.solver
        if self._precomputed:
            return "auto"
        needed = n * n * self._dtype().itemsize
        budget = self.memory_budget
        if budget is None:
            available = available_memory_bytes()
            share = config.get("exact_memory_share")
            budget = available * share if available is not None else float("inf")
        else:
            budget = check_positive(budget, "memory_budget")
        choice = "auto" if needed <= budget else "nystrom"
        logger.info(
            "%s(solver='auto'): the %d x %d kernel matrix needs %.3g GiB, the budget is %.3g GiB:"
            " using the %s solver",
            type(self).__name__,
            n,
            n,
            needed / 2**30,
            budget / 2**30,
            "exact" if choice == "auto" else "Nystrom",
        )
        return choice

    def _record_chunked_fit_inputs(self, X):
        """The shape of a dask ``X`` fitted by Nystrom; ``X_fit_`` is None: the rows stay where
        they are, and the predictor needs only ``centers_``."""
        self.X_fit_ = None
        self.n_features_in_ = X.shape[1]
        self.input_shape_ = X.shape[1:]
        self.n_fit_samples_ = X.shape[0]

    def _fit_nystrom(self, X, y):
        n = self.n_fit_samples_
        default = min(n, config.get("nystrom_centers"))
        n_centers = default if self.n_centers is None else self.n_centers
        if backends.resolve(self.device, self.kernel) is not backends.cpu:
            warnings.warn(
                f"solver='nystrom' computes its kernel products on the CPU; device="
                f"{self.device!r} is used only by predict",
                backends.DeviceWarning,
                stacklevel=3,
            )
        fit = nystrom_fit(
            self.kernel,
            X,
            y,
            self.alpha,
            n_centers=n_centers,
            relative_alpha=self.relative_alpha,
            seed=self.random_state,
            tol=self.cg_tol,
            max_iter=self.cg_max_iter,
            dtype=self._dtype(),
            threads=self.threads,
            progress=self.progress,
        )
        self.solver_ = "nystrom"
        self.centers_ = fit.centers
        self.dual_coef_ = fit.coefficients
        self.n_iter_ = fit.iterations
        self.cg_residuals_ = fit.residuals

    def _basis(self):
        return self.centers_ if self.solver_ == "nystrom" else self.X_fit_


class GradientDescentRegressor(KernelModel):
    """An infinitely wide network trained by gradient descent (MATH.md section 5).

    Full-batch gradient descent on ``1/2 |f(X) - y|^2`` (a sum over samples and outputs) with
    learning rate ``eta``, from zero output, in the continuous-time limit: after time ``t``
    (``t`` steps of size ``eta`` when ``eta`` is small),
    ``f_t(x) = K(x, X) K^+ (I - exp(-eta K t)) y``, computed from one eigendecomposition of
    ``K``. ``t = inf`` is minimum-norm kernel regression (``KernelRegressor(alpha=0)``).
    With ``kernel=NTK(...)`` this is the trained network; with ``NNGP`` only its last layer is
    trained. (neural-tangents' ``gradient_descent_mse`` averages the loss: its time is ours
    times ``n * t_outputs``.)

    Parameters
    ----------
    kernel : a fastntk kernel (default ``NTK(depth=3)``) or "precomputed".
    learning_rate : float > 0, ``eta``.
    time : float >= 0 or ``numpy.inf``, the training time ``predict`` uses by default.
    dtype, device, threads : as for ``KernelRegressor``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> kernel = fk.NTK(depth=2, b_std=1.0)
    >>> trained = fk.GradientDescentRegressor(kernel, learning_rate=1.0, time=np.inf).fit(X, y)
    >>> interpolation = fk.KernelRegressor(kernel, alpha=0.0).fit(X, y)
    >>> X_test = rng.uniform(-1, 1, (10, 2))
    >>> bool(np.allclose(trained.predict(X_test), interpolation.predict(X_test)))
    True
    """

    _estimator_type = "regressor"

    def __init__(
        self,
        kernel=DEFAULT_KERNEL,
        learning_rate=1.0,
        time=np.inf,
        *,
        dtype=None,
        device="cpu",
        threads=None,
    ):
        self.kernel = kernel
        self.learning_rate = learning_rate
        self.time = time
        self.dtype = dtype
        self.device = device
        self.threads = threads

    def fit(self, X, y):
        """Eigendecompose ``K(X, X)``; remember ``y``."""
        self._check_kernel_parameter(self.kernel)
        check_positive(self.learning_rate, "learning_rate")
        solvers.check_times(self.time)
        X = self._fit_inputs(X)
        self.y_fit_ = solvers.check_targets(y, X.shape[0], "X")
        self.kernel_ = self.kernel
        self.path_ = solvers.RegularizationPath(
            self._training_matrix(self.kernel, X), overwrite_K=True, threads=self.threads
        )
        return self

    def predict(self, X, time=None):
        """The network's output at training time ``time`` (default: the ``time`` parameter):
        shape (m,) or (m, t) as ``y``, with a leading axis when ``time`` is a sequence."""
        X = self._predict_inputs(X)
        times = self.time if time is None else time
        coefficients = self.path_.gradient_descent_coefficients(
            self.y_fit_, times, self.learning_rate
        )  # (T, n[, t])
        prediction = np.empty((coefficients.shape[0], X.shape[0]) + coefficients.shape[2:])
        for rows, block in self._cross_blocks(self.kernel_, X):
            prediction[:, rows] = np.einsum("mn,Tn...->Tm...", block, coefficients)
        return prediction if np.ndim(times) else prediction[0]

    def score(self, X, y):
        """R^2 of ``predict(X)`` at the ``time`` parameter (which must be a scalar); a
        ``ValueError`` when ``y`` does not have one finite target per row of ``X``."""
        if np.ndim(self.time):
            raise ValueError("score needs a scalar time")
        X, y = self._score_inputs(X, y)
        return r2_score(y, self.predict(X))


def r2_score(y_true, y_pred):
    """The coefficient of determination, averaged over outputs (as scikit-learn's
    ``r2_score``: 1 for a perfect fit of a constant target, else 0 for constant targets).
    Shapes (n,) and (n, 1) are the same; other mismatches are a ``ValueError``."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    true = y_true.reshape(y_true.shape[0], -1)
    pred = y_pred.reshape(y_pred.shape[0], -1)
    if true.shape != pred.shape:
        raise ValueError(
            f"y has shape {y_true.shape} but the predictions have shape {y_pred.shape}"
        )
    residual = np.sum((true - pred) ** 2, axis=0)
    total = np.sum((true - true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - residual / total, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
