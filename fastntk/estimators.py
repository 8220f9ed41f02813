"""Kernel regression and classification estimators (MATH.md section 5, DESIGN.md section 4).

They follow scikit-learn's conventions without needing it: ``__init__`` only stores its
arguments, ``get_params``/``set_params``, fitted attributes end in ``_``, ``predict`` before
``fit`` raises ``NotFittedError``, ``score`` is R^2 (regressors) or accuracy (classifiers).
With scikit-learn installed they work in ``Pipeline``, ``GridSearchCV`` and ``clone``.

Memory: ``fit`` computes the training Gram matrix into one F-ordered buffer and factorizes it
there (``fastntk.solvers``), so an exact fit holds one ``n x n`` matrix; ``predict`` works in
blocks of test rows.
"""

import functools
import inspect
import logging
import sys
import warnings

import numpy as np

from . import engine, solvers
from ._validation import (
    available_memory_bytes,
    check_fits_in_memory,
    check_matrix,
    check_positive,
    resolve_dtype,
)
from .network import NTK
from .nystrom import nystrom_fit

#: The kernel of estimators built without one.
DEFAULT_KERNEL = NTK(depth=3)

#: The regularisers a cross-validated estimator tries, relative to ``trace(K) / n``.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-7, 1, 17))

#: The depths and frozen-layer counts a cross-validated estimator tries by default: every
#: ``NTK(depth=D, frozen=F)`` with ``1 <= D <= 5`` and ``0 <= F < D``, and the NNGPs (F = D).
DEFAULT_KERNELS = tuple(
    NTK(depth=depth, frozen=frozen) for depth in range(1, 6) for frozen in range(depth + 1)
)

#: Nystrom centres of ``solver="nystrom"`` by default (fewer when there are fewer samples).
DEFAULT_CENTERS = 5000

#: The solvers of ``KernelRegressor`` and ``KernelClassifier``.
SOLVERS = (*solvers.METHODS, "nystrom")

logger = logging.getLogger("fastntk")

#: Bytes of test-by-train kernel rows ``predict`` holds at a time.
PREDICT_BLOCK_BYTES = 2**28


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (as scikit-learn's ``NotFittedError``). When
    scikit-learn is loaded, the error raised is also an instance of its ``NotFittedError``."""


class DataConversionWarning(UserWarning):
    """Class labels given as a column vector (n, 1) were flattened to (n,)."""


def _sklearn_flavoured(own_class):
    """``own_class``, or when scikit-learn is loaded, a subclass of it and of scikit-learn's
    class of the same name (so that code written for scikit-learn recognises it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return own_class
    return _subclass_of_both(own_class, getattr(sklearn_exceptions, own_class.__name__))


@functools.cache
def _subclass_of_both(own_class, sklearn_class):
    return type(own_class.__name__, (own_class, sklearn_class), {"__module__": __name__})


class _Estimator:
    """Parameters, ``repr`` and scikit-learn tags, from the ``__init__`` signature."""

    _estimator_type = None

    @classmethod
    def _parameter_names(cls):
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep=True):
        """The estimator's parameters, as a dict."""
        return {name: getattr(self, name) for name in self._parameter_names()}

    def set_params(self, **params):
        """Set parameters by name; returns the estimator."""
        names = self._parameter_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(
                    f"{name!r} is not a parameter of {type(self).__name__}; "
                    f"valid parameters are {names}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name, value in self.get_params().items():
            default = defaults[name].default
            if not (value is default or _equal(value, default)):
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True, multi_output=not classifier),
            classifier_tags=ClassifierTags(multi_class=True) if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            input_tags=InputTags(pairwise=self._precomputed),
        )

    @property
    def _precomputed(self):
        return isinstance(getattr(self, "kernel", None), str) and self.kernel == "precomputed"

    def _check_is_fitted(self):
        if not hasattr(self, "n_fit_samples_"):
            raise _sklearn_flavoured(NotFittedError)(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            )


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class _KernelModel(_Estimator):
    """What every estimator shares: checked inputs and the kernel matrices of fit and predict.

    Attributes set by ``fit``: ``n_fit_samples_``, ``n_features_in_`` (with
    ``kernel="precomputed"``: the number of training samples), ``X_fit_`` (the training inputs,
    ``None`` when precomputed).
    """

    def _dtype(self):
        return resolve_dtype(self.dtype)

    @property
    def _progress(self):
        return bool(getattr(self, "progress", False))

    def _check_kernel_parameter(self, kernel):
        if isinstance(kernel, str):
            if kernel != "precomputed":
                raise ValueError(
                    f"kernel must be a fastntk kernel or 'precomputed', got {kernel!r}"
                )
            return
        engine._check_kernel(kernel)

    def _fit_inputs(self, X):
        """Checked training inputs; records their shape."""
        X = check_matrix(X, "X")
        if self._precomputed:
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    f"with kernel='precomputed', X must be the square training kernel matrix, "
                    f"got shape {X.shape}"
                )
            self.X_fit_ = None
        else:
            self.X_fit_ = np.array(X, dtype=self._dtype(), order="C")
        self.n_features_in_ = X.shape[1]
        self.n_fit_samples_ = X.shape[0]
        return X

    def _training_matrix(self, kernel, X):
        """``K(X, X)`` in a fresh buffer the solvers may overwrite (C-ordered view of an
        F-ordered array: LAPACK then works on it without a copy)."""
        dtype = self._dtype()
        n = X.shape[0]
        if self._precomputed:
            return np.array(X, dtype=dtype, order="C", copy=True)
        check_fits_in_memory(n * n * dtype.itemsize, f"the {n} x {n} training kernel")
        buffer = np.empty((n, n), dtype=dtype, order="F")
        engine.gram(kernel, self.X_fit_, out=buffer, device=self.device, progress=self._progress)
        return buffer.T

    def _predict_inputs(self, X):
        self._check_is_fitted()
        X = check_matrix(X, "X")
        if X.shape[1] != self.n_features_in_:
            meaning = " (one per training sample)" if self._precomputed else ""
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input{meaning}"
            )
        return X

    def _basis(self):
        """The points ``x_j`` of the fitted predictor ``sum_j a_j k(x, x_j)``."""
        return self.X_fit_

    def _cross_blocks(self, kernel, X):
        """``(rows, K(X[rows], basis))`` in blocks of at most ``PREDICT_BLOCK_BYTES``."""
        dtype = self._dtype()
        basis = self._basis()
        columns = self.n_fit_samples_ if basis is None else basis.shape[0]
        rows_per_block = max(1, PREDICT_BLOCK_BYTES // (columns * dtype.itemsize))
        for start in range(0, X.shape[0], rows_per_block):
            rows = slice(start, min(start + rows_per_block, X.shape[0]))
            if self._precomputed:
                yield rows, np.asarray(X[rows], dtype=dtype)
            else:
                yield (
                    rows,
                    engine.gram(kernel, X[rows], basis, dtype=dtype, device=self.device),
                )


class _Regressor(_KernelModel):
    """Prediction, Gaussian-process posterior and R^2 from ``dual_coef_`` and
    ``factorization_`` (set by ``fit`` with ``kernel_``)."""

    _estimator_type = "regressor"

    def predict(self, X, return_std=False, return_cov=False):
        """Predictions ``K(X, X_fit) a``; shape (m,) or (m, t) as ``y`` in ``fit``.

        With ``return_std`` (or ``return_cov``) also the Gaussian-process posterior standard
        deviation (m,) (or covariance (m, m)), with ``K`` as the prior covariance and
        ``alpha`` as the noise variance: ``K(X, X) - K(X, X_fit) (K + lambda I)^+ K(X_fit, X)``.
        """
        if return_std and return_cov:
            raise ValueError("return_std and return_cov cannot both be requested")
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
        """The coefficient of determination R^2 of ``predict(X)`` (averaged over outputs)."""
        return r2_score(y, self.predict(X))

    def _set_solution(self, factorization, y):
        self.factorization_ = factorization
        self.solver_ = factorization.method
        self.dual_coef_ = factorization.solve(y)


class KernelRegressor(_Regressor):
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
    memory_budget : bytes the exact solver may use for its ``n x n`` matrix (default: half of
        the memory available when ``fit`` starts).
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
        """Fit to inputs ``X`` (n, d) (or the kernel matrix) and targets ``y`` (n,) or (n, t)."""
        self._check_kernel_parameter(self.kernel)
        check_positive(self.alpha, "alpha", allow_zero=True)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        X = self._fit_inputs(X)
        y = solvers.check_targets(y, X.shape[0])
        self.kernel_ = self.kernel
        for stale in ("centers_", "n_iter_", "cg_residuals_", "factorization_"):
            self.__dict__.pop(stale, None)
        if self._chosen_solver(X.shape[0]) == "nystrom":
            self._fit_nystrom(y)
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
            budget = available / 2 if available is not None else float("inf")
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

    def _fit_nystrom(self, y):
        n = self.n_fit_samples_
        n_centers = min(n, DEFAULT_CENTERS) if self.n_centers is None else self.n_centers
        fit = nystrom_fit(
            self.kernel,
            self.X_fit_,
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


class KernelRegressorCV(_Regressor):
    """Kernel ridge regression with the kernel and ``alpha`` chosen by leave-one-out error.

    For each candidate kernel one eigendecomposition gives every ``alpha``'s closed-form
    leave-one-out residuals (or GCV score); network kernels that share activation, ``w_std``
    and ``b_std`` (any depths and frozen-layer counts) come from one pass of the Gram engine.

    Parameters
    ----------
    kernels : a kernel or a sequence of kernels (default: ``NTK(depth=D, frozen=F)`` for
        ``D <= 5``, ``F <= D``), or "precomputed" (``fit`` takes the training kernel matrix).
    alphas : the regularisers tried (default ``1e-7 ... 10``, relative to ``trace(K) / n``).
    relative_alpha : whether ``alphas`` are relative to ``trace(K) / n`` (default True).
    criterion : "loo" (mean squared leave-one-out residual) or "gcv".
    dtype, device, threads : as for ``KernelRegressor``.

    Attributes
    ----------
    best_kernel_, best_alpha_, best_score_ (the criterion, smaller is better); ``cv_results_``:
    a dict of equal-length lists ``kernel``, ``alpha``, ``score``; ``dual_coef_`` and
    ``factorization_`` of the chosen model.
    """

    _criteria = ("loo", "gcv")

    def __init__(
        self,
        kernels=DEFAULT_KERNELS,
        alphas=DEFAULT_ALPHAS,
        *,
        relative_alpha=True,
        criterion="loo",
        dtype=None,
        device="cpu",
        threads=None,
    ):
        self.kernels = kernels
        self.alphas = alphas
        self.relative_alpha = relative_alpha
        self.criterion = criterion
        self.dtype = dtype
        self.device = device
        self.threads = threads

    @property
    def _precomputed(self):
        return isinstance(self.kernels, str) and self.kernels == "precomputed"

    def fit(self, X, y):
        """Choose the kernel and ``alpha``, then fit with them."""
        candidates = self._candidate_kernels()
        alphas = solvers._check_alphas(self.alphas)
        if self.criterion not in self._criteria:
            raise ValueError(f"criterion must be one of {self._criteria}, got {self.criterion!r}")
        X = self._fit_inputs(X)
        targets = self._targets(y, X.shape[0])
        results = {"kernel": [], "alpha": [], "score": []}
        best = None
        for kernel, matrix in self._training_matrices(candidates, X):
            path = solvers.RegularizationPath(
                matrix, relative_alpha=self.relative_alpha, overwrite_K=True, threads=self.threads
            )
            scores = self._path_scores(path, targets, alphas)
            results["kernel"] += [kernel] * len(alphas)
            results["alpha"] += [float(a) for a in alphas]
            results["score"] += [float(s) for s in scores]
            index = int(np.argmin(scores))
            if best is None or scores[index] < best[0]:
                best = (scores[index], kernel, float(alphas[index]), path)
        self.best_score_, self.best_kernel_, self.best_alpha_, path = best
        self.cv_results_ = results
        self.kernel_ = None if self._precomputed else self.best_kernel_
        self._set_solution(path.factorization(self.best_alpha_), targets)
        return self

    def _targets(self, y, n):
        return solvers.check_targets(y, n)

    def _path_scores(self, path, y, alphas):
        if self.criterion == "gcv":
            return np.nan_to_num(path.gcv(y, alphas), nan=np.inf)
        return np.nan_to_num(path.leave_one_out_mse(y, alphas), nan=np.inf)

    def _candidate_kernels(self):
        if self._precomputed:
            return ["precomputed"]
        kernels = self.kernels
        kernels = [kernels] if hasattr(kernels, "_spec") else list(kernels)
        if not kernels:
            raise ValueError("kernels must name at least one kernel")
        for kernel in kernels:
            self._check_kernel_parameter(kernel)
        return kernels

    def _training_matrices(self, kernels, X):
        """``(kernel, K)`` for each candidate, network families from one pass (as many
        kernels per pass as a quarter of the available memory holds)."""
        if self._precomputed:
            yield "precomputed", np.array(X, dtype=self._dtype(), order="C", copy=True)
            return
        dtype = self._dtype()
        n = X.shape[0]
        available = available_memory_bytes() or 2**34
        per_pass = max(1, int(available // 4 // (n * n * dtype.itemsize)))
        for group in network_groups(kernels):
            if len(group) == 1 or self.device != "cpu":
                for kernel in group:
                    yield kernel, self._training_matrix(kernel, X)
                continue
            for start in range(0, len(group), per_pass):
                chunk = group[start : start + per_pass]
                stacked = engine.gram_many(chunk, self.X_fit_, dtype=dtype)
                yield from zip(chunk, stacked, strict=True)
                del stacked


def network_groups(kernels):
    """Kernels grouped so that each group of network kernels shares one Gram pass."""
    from .network import _NetworkKernel

    groups = {}
    for kernel in kernels:
        if isinstance(kernel, _NetworkKernel):
            key = ("network", kernel.activation, kernel.w_std, kernel.b_std)
        else:
            key = ("single", id(kernel))
        groups.setdefault(key, []).append(kernel)
    return list(groups.values())


class _OneHotClassifier(_Estimator):
    """Classification by kernel regression on one-hot targets (optionally centred): the
    predicted class is the largest output (MATH.md section 5)."""

    _estimator_type = "classifier"

    def _encode(self, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; the class labels "
                "were flattened to shape (n,)",
                _sklearn_flavoured(DataConversionWarning),
                stacklevel=3,
            )
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of class labels, got shape {y.shape}")
        if np.issubdtype(y.dtype, np.floating):
            if not np.isfinite(y).all():
                raise ValueError("y contains NaN or infinity")
            if (y != np.round(y)).any():
                raise ValueError(
                    "Unknown label type: continuous; y must hold class labels (integers, "
                    "strings or booleans); for real-valued targets use a regressor"
                )
        self.classes_, codes = np.unique(y, return_inverse=True)
        targets = np.zeros((y.shape[0], len(self.classes_)))
        targets[np.arange(y.shape[0]), codes] = 1.0
        if self.centered:
            targets -= 1.0 / len(self.classes_)
        return targets

    def _after_fit(self):
        for name in ("n_features_in_", "n_fit_samples_"):
            if hasattr(self.regressor_, name):
                setattr(self, name, getattr(self.regressor_, name))
        return self

    def decision_function(self, X):
        """The regression outputs, (m, n_classes); for two classes the difference of the
        second and the first output, (m,) (positive means ``classes_[1]``)."""
        self._check_is_fitted()
        scores = self.regressor_.predict(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X):
        """The class with the largest regression output."""
        self._check_is_fitted()
        return self.classes_[np.argmax(self.regressor_.predict(X), axis=1)]

    def score(self, X, y):
        """Accuracy of ``predict(X)`` against the labels ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


class KernelClassifier(_OneHotClassifier):
    """Kernel regression on one-hot class targets; ``predict`` returns the arg-max class.

    Parameters are those of ``KernelRegressor`` (including ``solver="nystrom"`` for large n),
    and ``centered``: subtract ``1 / n_classes`` from the one-hot targets. Attributes:
    ``classes_``, ``regressor_`` (the fitted ``KernelRegressor``).
    """

    def __init__(
        self,
        kernel=DEFAULT_KERNEL,
        alpha=1e-6,
        *,
        centered=False,
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
        self.centered = centered
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
        """Fit to inputs ``X`` (or the kernel matrix) and class labels ``y``."""
        targets = self._encode(y)
        parameters = self.get_params()
        del parameters["centered"]
        self.regressor_ = KernelRegressor(**parameters).fit(X, targets)
        return self._after_fit()


class _LeaveOneOutAccuracy(KernelRegressorCV):
    """Chooses by leave-one-out accuracy on one-hot targets (ties: smaller squared error)."""

    def _path_scores(self, path, y, alphas):
        residuals = path.leave_one_out_residuals(y, alphas)
        predictions = y[np.newaxis] - residuals
        labels = np.argmax(y, axis=1)
        accuracy = np.mean(np.argmax(predictions, axis=2) == labels, axis=1)
        mse = np.nan_to_num(np.mean((residuals**2).reshape(len(alphas), -1), axis=1), nan=np.inf)
        # Error rate first; the squared error, scaled below one step of the rate, breaks ties.
        return (1.0 - accuracy) + mse / (1.0 + mse) / (y.shape[0] + 1)


class KernelClassifierCV(_OneHotClassifier):
    """Kernel classifier with the kernel and ``alpha`` chosen by leave-one-out accuracy.

    Parameters as ``KernelRegressorCV`` (without ``criterion``), and ``centered``.
    Attributes: ``classes_``, ``regressor_`` (its ``best_kernel_``, ``best_alpha_``,
    ``cv_results_`` whose ``score`` is the leave-one-out error rate).
    """

    def __init__(
        self,
        kernels=DEFAULT_KERNELS,
        alphas=DEFAULT_ALPHAS,
        *,
        centered=False,
        relative_alpha=True,
        dtype=None,
        device="cpu",
        threads=None,
    ):
        self.kernels = kernels
        self.alphas = alphas
        self.centered = centered
        self.relative_alpha = relative_alpha
        self.dtype = dtype
        self.device = device
        self.threads = threads

    @property
    def _precomputed(self):
        return isinstance(self.kernels, str) and self.kernels == "precomputed"

    def fit(self, X, y):
        """Choose the kernel and ``alpha`` by leave-one-out accuracy, then fit."""
        targets = self._encode(y)
        parameters = self.get_params()
        del parameters["centered"]
        self.regressor_ = _LeaveOneOutAccuracy(**parameters).fit(X, targets)
        return self._after_fit()

    @property
    def best_kernel_(self):
        self._check_is_fitted()
        return self.regressor_.best_kernel_

    @property
    def best_alpha_(self):
        self._check_is_fitted()
        return self.regressor_.best_alpha_


class GradientDescentRegressor(_KernelModel):
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
        solvers._check_times(self.time)
        X = self._fit_inputs(X)
        self.y_fit_ = solvers.check_targets(y, X.shape[0])
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
        """R^2 of ``predict(X)`` at the ``time`` parameter (which must be a scalar)."""
        if np.ndim(self.time):
            raise ValueError("score needs a scalar time")
        return r2_score(y, self.predict(X))


def r2_score(y_true, y_pred):
    """The coefficient of determination, averaged over outputs (as scikit-learn's
    ``r2_score``: 1 for a perfect fit of a constant target, else 0 for constant targets)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        y_true = y_true.reshape(y_pred.shape)
    true = y_true.reshape(y_true.shape[0], -1)
    pred = y_pred.reshape(y_pred.shape[0], -1)
    residual = np.sum((true - pred) ** 2, axis=0)
    total = np.sum((true - true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - residual / total, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
