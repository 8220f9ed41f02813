"""Classification by kernel regression on one-hot targets (MATH.md section 5)."""

import numbers
import warnings

import numpy as np

from ._estimator import DEFAULT_KERNEL, DataConversionWarning, Estimator, sklearn_flavoured
from ._validation import check_sample_count, is_dask_array
from .regression import KernelRegressor


class OneHotClassifier(Estimator):
    """Classification by kernel regression on one-hot targets (optionally centred): the
    predicted class is the largest output (MATH.md section 5)."""

    _estimator_type = "classifier"

    def _encode(self, y):
        """The regression targets of the labels ``y``: one column per class, 1 in the label's
        column (less ``1 / n_classes`` when ``centered``). A dask ``y`` gives dask targets
        with its row chunks: only its distinct labels come to this process."""
        if is_dask_array(y):
            if y.ndim != 1:
                raise ValueError(f"y must be a 1-D array of class labels, got shape {y.shape}")
            from . import cluster  # only with dask arrays: dask is optional

            distinct = cluster.dask_array_module().unique(y).compute()
            self.classes_ = self._check_classes(distinct)
            return y.map_blocks(
                _one_hot,
                self.classes_,
                self.centered,
                new_axis=1,
                chunks=(y.chunks[0], (len(self.classes_),)),
                dtype=np.float64,
            )
        y = self._labels(y, stacklevel=4)
        self.classes_ = self._check_classes(y)
        return _one_hot(y, self.classes_, self.centered)

    @staticmethod
    def _check_classes(labels):
        """The sorted distinct ``labels``; a ``ValueError`` for labels that are not classes."""
        if np.issubdtype(labels.dtype, np.floating):
            if not np.isfinite(labels).all():
                raise ValueError("y contains NaN or infinity")
            if (labels != np.round(labels)).any():
                raise ValueError(
                    "Unknown label type: continuous; y must hold class labels (integers, "
                    "strings or booleans); for real-valued targets use a regressor"
                )
        return np.unique(labels)

    def _labels(self, y, stacklevel=3):
        """``y`` as a 1-D array of labels (a column vector flattened, with a warning); a
        ``ValueError`` for None or another shape, a ``TypeError`` for labels of mixed types."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        given, y = y, np.asarray(y)
        _check_label_types(given, y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; the class labels "
                "were flattened to shape (n,)",
                sklearn_flavoured(DataConversionWarning),
                stacklevel=stacklevel,
            )
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of class labels, got shape {y.shape}")
        return y

    def _after_fit(self):
        for name in ("n_features_in_", "input_shape_", "n_fit_samples_"):
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
        """The class with the largest regression output (for a dask ``X``, a dask array with
        its row chunks)."""
        self._check_is_fitted()
        indices = np.argmax(self.regressor_.predict(X), axis=1)
        if is_dask_array(indices):
            return indices.map_blocks(_class_of, self.classes_, dtype=self.classes_.dtype)
        return _class_of(indices, self.classes_)

    def score(self, X, y):
        """Accuracy of ``predict(X)`` against the labels ``y``; a ``ValueError`` when ``y``
        does not have one label per row of ``X``."""
        self._check_is_fitted()
        X = self.regressor_._samples(X)
        y = self._labels(y)
        check_sample_count(y.shape[0], X.shape[0], "X")
        return float(np.mean(self.predict(X) == y))


def _one_hot(labels, classes, centered):
    targets = np.zeros((labels.shape[0], len(classes)))
    targets[np.arange(labels.shape[0]), np.searchsorted(classes, labels)] = 1.0
    if centered:
        targets -= 1.0 / len(classes)
    return targets


def _class_of(indices, classes):
    return classes[indices]


def _check_label_types(given, labels):
    """A ``TypeError`` naming the types when the labels mix numbers, strings or other
    objects: they cannot be sorted into ``classes_``. A list that mixes numbers and strings
    becomes a string array in NumPy, which would turn the label 1 into "1", so the list's own
    elements are inspected."""
    if labels.dtype != object and not (
        labels.dtype.kind in "US" and not isinstance(given, np.ndarray)
    ):
        return
    elements = labels if labels.dtype == object else np.asarray(given, dtype=object)
    types = {type(element) for element in elements.ravel()}
    if len({_label_kind(kind) for kind in types}) > 1:
        names = ", ".join(sorted(kind.__name__ for kind in types))
        raise TypeError(
            f"y mixes label types ({names}); class labels must be all numbers or all strings"
        )


def _label_kind(kind):
    """Labels of one kind sort together: strings, bytes, numbers (booleans included); any
    other type is a kind of its own."""
    for family in (str, bytes, (numbers.Number, np.bool_)):
        if issubclass(kind, family):
            return family
    return kind


class KernelClassifier(OneHotClassifier):
    """Kernel regression on one-hot class targets; ``predict`` returns the arg-max class.

    Parameters are those of ``KernelRegressor`` (including ``solver="nystrom"`` for large n),
    and ``centered``: subtract ``1 / n_classes`` from the one-hot targets. Attributes:
    ``classes_``, ``regressor_`` (the fitted ``KernelRegressor``).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> digits = fk.datasets.load_digits(images=False)  # (1797, 64)
    >>> model = fk.KernelClassifier(fk.NTK(depth=3), alpha=1e-3, relative_alpha=True)
    >>> model = model.fit(digits.X[:500], digits.y[:500])
    >>> bool(model.score(digits.X[500:1000], digits.y[500:1000]) > 0.9)
    True
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
