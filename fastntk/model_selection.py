"""The kernel and ``alpha`` chosen by closed-form leave-one-out error (or GCV): one
eigendecomposition per kernel for every ``alpha``, one Gram pass per network family."""

import numpy as np

from . import config, engine, solvers
from ._validation import available_memory_bytes
from .classification import OneHotClassifier
from .network import NTK, network_groups
from .regression import Regressor

#: The regularisers a cross-validated estimator tries, relative to ``trace(K) / n``.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-7, 1, 17))

#: The depths and frozen-layer counts a cross-validated estimator tries by default: every
#: ``NTK(depth=D, frozen=F)`` with ``1 <= D <= 5`` and ``0 <= F < D``, and the NNGPs (F = D).
DEFAULT_KERNELS = tuple(
    NTK(depth=depth, frozen=frozen) for depth in range(1, 6) for frozen in range(depth + 1)
)


class KernelRegressorCV(Regressor):
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

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> kernels = [fk.NTK(depth=depth, b_std=1.0) for depth in (1, 2, 3)]
    >>> model = fk.KernelRegressorCV(kernels, alphas=[1e-4, 1e-2, 1.0]).fit(X, y)
    >>> len(model.cv_results_["score"])  # every kernel with every alpha
    9
    >>> bool(model.best_score_ == min(model.cv_results_["score"]))
    True
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
        alphas = solvers.check_alphas(self.alphas)
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
        return solvers.check_targets(y, n, "X")

    def _path_scores(self, path, y, alphas):
        if self.criterion == "gcv":
            return np.nan_to_num(path.gcv(y, alphas), nan=np.inf)
        return np.nan_to_num(path.leave_one_out_mse(y, alphas), nan=np.inf)

    def _candidate_kernels(self):
        if self._precomputed:
            return ["precomputed"]
        kernels = self.kernels
        kernels = [kernels] if hasattr(kernels, "spec") else list(kernels)
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
        share = config.get("stacked_memory_share")
        per_pass = max(1, int(available * share // (n * n * dtype.itemsize)))
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


class LeaveOneOutAccuracy(KernelRegressorCV):
    """Chooses by leave-one-out accuracy on one-hot targets (ties: smaller squared error)."""

    def _path_scores(self, path, y, alphas):
        residuals = path.leave_one_out_residuals(y, alphas)
        predictions = y[np.newaxis] - residuals
        labels = np.argmax(y, axis=1)
        accuracy = np.mean(np.argmax(predictions, axis=2) == labels, axis=1)
        mse = np.nan_to_num(np.mean((residuals**2).reshape(len(alphas), -1), axis=1), nan=np.inf)
        # Error rate first; the squared error, scaled below one step of the rate, breaks ties.
        return (1.0 - accuracy) + mse / (1.0 + mse) / (y.shape[0] + 1)


class KernelClassifierCV(OneHotClassifier):
    """Kernel classifier with the kernel and ``alpha`` chosen by leave-one-out accuracy.

    Parameters as ``KernelRegressorCV`` (without ``criterion``), and ``centered``.
    Attributes: ``classes_``, ``regressor_`` (its ``best_kernel_``, ``best_alpha_``,
    ``cv_results_`` whose ``score`` is the leave-one-out error rate).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> digits = fk.datasets.load_digits(images=False)
    >>> kernels = [fk.NTK(depth=depth) for depth in (1, 2, 3)]
    >>> model = fk.KernelClassifierCV(kernels, alphas=[1e-4, 1e-2, 1.0])
    >>> model = model.fit(digits.X[:500], digits.y[:500])
    >>> bool(model.score(digits.X[500:1000], digits.y[500:1000]) > 0.9)
    True
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
        self.regressor_ = LeaveOneOutAccuracy(**parameters).fit(X, targets)
        return self._after_fit()

    @property
    def best_kernel_(self):
        self._check_is_fitted()
        return self.regressor_.best_kernel_

    @property
    def best_alpha_(self):
        self._check_is_fitted()
        return self.regressor_.best_alpha_
