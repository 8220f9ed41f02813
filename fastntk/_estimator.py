"""What the estimators share: scikit-learn's conventions and the kernel matrices of fit and
predict (DESIGN.md section 4).

The estimators follow scikit-learn's conventions without needing it: ``__init__`` only stores
its arguments, ``get_params``/``set_params``, fitted attributes end in ``_``, ``predict`` before
``fit`` raises ``NotFittedError``. With scikit-learn installed they work in ``Pipeline``,
``GridSearchCV`` and ``clone``.

Memory: ``fit`` computes the training Gram matrix into one F-ordered buffer and factorizes it
there (``fastntk.solvers``), so an exact fit holds one ``n x n`` matrix; ``predict`` works in
blocks of test rows.
"""

import functools
import inspect
import sys

import numpy as np

from . import config, engine, solvers
from ._validation import (
    check_fits_in_memory,
    check_samples,
    check_symmetric,
    is_dask_array,
    resolve_dtype,
)
from .network import NTK
from .operators import KernelOperator

#: The kernel of estimators built without one.
DEFAULT_KERNEL = NTK(depth=3)


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (as scikit-learn's ``NotFittedError``). When
    scikit-learn is loaded, the error raised is also an instance of its ``NotFittedError``."""


class DataConversionWarning(UserWarning):
    """Class labels given as a column vector (n, 1) were flattened to (n,)."""


def sklearn_flavoured(own_class):
    """``own_class``, or when scikit-learn is loaded, a subclass of it and of scikit-learn's
    class of the same name (so that code written for scikit-learn recognises it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return own_class
    return _subclass_of_both(own_class, getattr(sklearn_exceptions, own_class.__name__))


@functools.cache
def _subclass_of_both(own_class, sklearn_class):
    return type(own_class.__name__, (own_class, sklearn_class), {"__module__": __name__})


class Estimator:
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
            raise sklearn_flavoured(NotFittedError)(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            )


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class KernelModel(Estimator):
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
        engine.check_kernel(kernel)

    def _input_ranks(self):
        """The ranks of the inputs every kernel of the estimator takes (2: rows; the
        convolutional kernels also take images and signals)."""
        if self._precomputed:
            return (2,)
        kernels = getattr(self, "kernels", None)
        if kernels is None:
            kernels = [self.kernel]
        elif hasattr(kernels, "spec"):
            kernels = [kernels]
        ranks = [set(getattr(kernel, "input_ranks", (2,))) for kernel in kernels]
        return tuple(sorted(set.intersection(*ranks))) if ranks else (2,)

    def _samples(self, X):
        self._refuse_precomputed_chunks(X)
        return check_samples(X, "X", self._input_ranks())

    def _refuse_precomputed_chunks(self, X):
        if self._precomputed and is_dask_array(X):
            raise ValueError(
                "kernel='precomputed' takes the kernel matrix as a NumPy array, not a dask "
                "array; pass the kernel itself, whose products are then computed where the "
                "chunks of X are (solver='nystrom')"
            )

    def _chunked_inputs(self, X, fitted):
        """A dask ``X`` of rows of features checked by its shape (its values are checked where
        they are, by the computation); ``fitted``: against the fitted number of features."""
        self._refuse_precomputed_chunks(X)
        if X.ndim != 2:
            raise ValueError(f"a dask X must hold rows of features (n, d), got shape {X.shape}")
        if fitted and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    def _fit_inputs(self, X):
        """Checked training inputs; records their shape. With ``kernel="precomputed"`` a
        ``ValueError`` unless ``X`` is square and symmetric (up to rounding)."""
        X = self._samples(X)
        if self._precomputed:
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    f"with kernel='precomputed', X must be the square training kernel matrix, "
                    f"got shape {X.shape}"
                )
            check_symmetric(X, "X", " (with kernel='precomputed', the training kernel matrix)")
            self.X_fit_ = None
        else:
            self.X_fit_ = np.array(X, dtype=self._dtype(), order="C")
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = X.shape[1:]
        self.n_fit_samples_ = X.shape[0]
        return X

    def _training_matrix(self, kernel, X):
        """``K(X, X)`` in a fresh buffer the solvers may overwrite (C-ordered view of an
        F-ordered array: LAPACK then works on it without a copy)."""
        dtype = self._dtype()
        n = X.shape[0]
        if self._precomputed:
            return np.array(X, dtype=dtype, order="C", copy=True)
        self._check_training_matrix_fits(n)
        buffer = np.empty((n, n), dtype=dtype, order="F")
        engine.gram(kernel, self.X_fit_, out=buffer, device=self.device, progress=self._progress)
        return buffer.T

    def _check_training_matrix_fits(self, n):
        """A ``MemoryError`` naming the remedies when the ``n x n`` training kernel does not fit
        in the memory available now."""
        check_fits_in_memory(
            n * n * self._dtype().itemsize,
            f"the {n} x {n} training kernel",
            "use solver='nystrom', which never forms it, or dtype=float32, which halves it",
        )

    def _score_inputs(self, X, y):
        """``(X, y)`` checked for ``score``: finite numeric targets, one per row of ``X``."""
        self._check_is_fitted()
        X = self._samples(X)
        return X, solvers.check_targets(y, X.shape[0], "X")

    def _predict_inputs(self, X):
        self._check_is_fitted()
        X = self._samples(X)
        expected = getattr(self, "input_shape_", X.shape[1:])
        if X.ndim > 2 and X.shape[1:] != expected:
            raise ValueError(
                f"X holds inputs of shape {X.shape[1:]}, but {type(self).__name__} was fitted "
                f"on inputs of shape {expected}"
            )
        if X.shape[1] != self.n_features_in_ and X.ndim == 2:
            meaning = " (one per training sample)" if self._precomputed else ""
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input{meaning}"
            )
        return X

    def _basis(self):
        """The points ``x_j`` of the fitted predictor ``sum_j a_j k(x, x_j)``."""
        return self.X_fit_

    def _chunked_outputs(self, X):
        """``K(X, basis) @ dual_coef_`` for a dask ``X``: a dask array with the row chunks of
        ``X``, each chunk's rows computed on the worker that holds it (``fastntk.cluster``)."""
        from . import cluster  # only with dask arrays: dask is optional

        self._check_is_fitted()
        X = self._chunked_inputs(X, fitted=True)
        return cluster.predict(
            KernelOperator, self.kernel_, X, self._basis(), self.dual_coef_, self._dtype()
        )

    def _cross_blocks(self, kernel, X):
        """``(rows, K(X[rows], basis))`` in blocks of ``config predict_block_bytes`` at most."""
        dtype = self._dtype()
        basis = self._basis()
        columns = self.n_fit_samples_ if basis is None else basis.shape[0]
        rows_per_block = max(1, config.get("predict_block_bytes") // (columns * dtype.itemsize))
        for start in range(0, X.shape[0], rows_per_block):
            rows = slice(start, min(start + rows_per_block, X.shape[0]))
            if self._precomputed:
                yield rows, np.asarray(X[rows], dtype=dtype)
            else:
                yield (
                    rows,
                    engine.gram(kernel, X[rows], basis, dtype=dtype, device=self.device),
                )
