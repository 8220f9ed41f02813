"""The solvers on a given kernel matrix, and ``fit`` + ``predict`` end to end, against NumPy and
SciPy references (and scikit-learn's ``KernelRidge`` when installed), in the same run.

- ``fastntk.solvers.solve`` (Cholesky) against ``scipy.linalg.cho_factor`` + ``cho_solve``;
  ``RegularizationPath`` with 20 ``alpha`` (one tridiagonal reduction and a tridiagonal solve
  per ``alpha``) against ``numpy.linalg.eigh`` and the filter ``1 / (s + alpha)``.
- ``KernelRegressor(NTK(depth=3)).fit(X, y).predict(X_test)`` and the same with
  ``KernelClassifier`` against the NumPy NTK (``references.numpy_network``) with ``cho_factor``
  + ``cho_solve``, and against ``KernelRidge(kernel="precomputed")`` on fastntk's Gram matrices.

n in {1000, 4000} training points, ``n / 4`` test points, d = 16, float64. LAPACK runs with one
thread everywhere (``threads=1``, or threadpoolctl for the references), as in
``test_bench_solvers.py``: on a shared two-core machine a second LAPACK thread makes timings
meaningless. Before timing, every reference is checked to compute what fastntk computes.
"""

import numpy as np
import pytest
import scipy.linalg
from references import numpy_network
from threadpoolctl import threadpool_limits

import fastntk as fk

D = 16
DEPTH = 3
KERNEL = fk.NTK(depth=DEPTH)
ALPHA = 1e-3
PATH_ALPHAS = np.logspace(-6, 1, 20)
N_CLASSES = 3
SIZES = (1000, 4000)
#: Timed rounds per size (after one warm-up round): an eigendecomposition at n = 4000 on one
#: thread takes several seconds.
ROUNDS = {1000: 5, 4000: 2}


def problem(n):
    """Training inputs, test inputs, regression targets and class labels (``N_CLASSES`` classes,
    the largest of the first ``N_CLASSES`` features)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D))
    X_test = rng.standard_normal((n // 4, D))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
    labels = np.argmax(X[:, :N_CLASSES], axis=1)
    return X, X_test, y, labels


def one_hot(labels):
    return np.eye(N_CLASSES)[labels]


def relative_difference(result, reference):
    return np.max(np.abs(result - reference)) / np.max(np.abs(reference))


def timed(benchmark, function, n, group, role):
    benchmark.group = group
    benchmark.extra_info["role"] = role
    return benchmark.pedantic(function, rounds=ROUNDS[n], warmup_rounds=1)


# --- solvers on a given matrix -----------------------------------------------------------------


def fastntk_solve(K, y):
    return fk.solvers.solve(K, y, ALPHA, method="cholesky", threads=1)


def scipy_solve(K, y):
    with threadpool_limits(1, user_api="blas"):
        shifted = K + ALPHA * np.eye(K.shape[0])
        return scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(shifted, overwrite_a=True, check_finite=False),
            y,
            check_finite=False,
        )


def fastntk_path(K, y):
    return fk.solvers.RegularizationPath(K, threads=1).coefficients(y, PATH_ALPHAS)


def numpy_path(K, y):
    """``Q diag(1 / (s + alpha)) Q^T y`` for every ``alpha``, from ``numpy.linalg.eigh``."""
    with threadpool_limits(1, user_api="blas"):
        s, Q = np.linalg.eigh(K)
        filters = 1.0 / (s[:, None] + PATH_ALPHAS[None, :])
        return (Q @ (filters * (Q.T @ y)[:, None])).T


#: Kind of solve -> (fastntk, reference, role of the reference, what the group measures).
SOLVES = {
    "cholesky": (
        fastntk_solve,
        scipy_solve,
        "reference: scipy cho_factor + cho_solve",
        f"(K + {ALPHA} I) a = y",
    ),
    "path": (fastntk_path, numpy_path, "reference: numpy eigh", "20 alphas from one reduction"),
}

#: How far the solutions may differ: the condition number of ``K + alpha I`` (about 1e3 at the
#: n = 300 of the check) times float64 rounding, with a margin of 1e3; a wrong solve differs at
#: order 1.
SOLUTION_AGREEMENT = 1e-10


@pytest.fixture(scope="module")
def gram_matrices():
    """The NTK Gram matrix and targets of each size, computed once."""
    fk.gram(KERNEL, problem(300)[0])  # compile
    return {n: (fk.gram(KERNEL, problem(n)[0]), problem(n)[2]) for n in SIZES}


def test_solve_references_agree():
    K, y = fk.gram(KERNEL, problem(300)[0]), problem(300)[2]
    for kind, (subject, reference, _, _) in SOLVES.items():
        difference = relative_difference(subject(K, y), reference(K, y))
        assert difference < SOLUTION_AGREEMENT, f"{kind}: the reference differs by {difference}"


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", list(SOLVES))
@pytest.mark.parametrize("implementation", ["fastntk", "reference"])
def test_solver(benchmark, gram_matrices, kind, n, implementation):
    K, y = gram_matrices[n]
    subject, reference, reference_role, what = SOLVES[kind]
    function = subject if implementation == "fastntk" else reference
    role = "subject" if implementation == "fastntk" else reference_role
    group = f"solver: {what}, NTK(depth={DEPTH}) Gram matrix, n={n}"
    timed(benchmark, lambda: function(K, y), n, group, role)


# --- fit + predict end to end ----------------------------------------------------------------


def fastntk_regression(X, y, X_test):
    return fk.KernelRegressor(KERNEL, alpha=ALPHA, threads=1).fit(X, y).predict(X_test)


def fastntk_classification(X, labels, X_test):
    return fk.KernelClassifier(KERNEL, alpha=ALPHA, threads=1).fit(X, labels).predict(X_test)


def numpy_scipy_regression(X, y, X_test):
    """The NumPy NTK, Cholesky in place, then ``K(X_test, X) a``."""
    with threadpool_limits(1, user_api="blas"):
        K = numpy_network(X, depth=DEPTH)
        K.flat[:: K.shape[0] + 1] += ALPHA
        factor = scipy.linalg.cho_factor(K, overwrite_a=True, check_finite=False)
        coefficients = scipy.linalg.cho_solve(factor, y, check_finite=False)
        return numpy_network(X_test, X, depth=DEPTH) @ coefficients


def sklearn_regression(X, y, X_test):
    """scikit-learn's ``KernelRidge`` on fastntk's Gram matrices."""
    from sklearn.kernel_ridge import KernelRidge

    with threadpool_limits(1, user_api="blas"):
        model = KernelRidge(alpha=ALPHA, kernel="precomputed").fit(fk.gram(KERNEL, X), y)
        return model.predict(fk.gram(KERNEL, X_test, X))


def as_classifier(regression):
    """Kernel regression on one-hot targets, then the arg-max class (MATH.md section 5)."""

    def classify(X, labels, X_test):
        return np.argmax(regression(X, one_hot(labels), X_test), axis=1)

    return classify


#: Estimator -> {implementation: (function, role)}.
ESTIMATORS = {
    "KernelRegressor": {
        "fastntk": (fastntk_regression, "subject"),
        "numpy": (numpy_scipy_regression, "reference: numpy ntk + scipy cho_solve"),
        "sklearn": (sklearn_regression, "reference: sklearn KernelRidge (precomputed)"),
    },
    "KernelClassifier": {
        "fastntk": (fastntk_classification, "subject"),
        "numpy": (as_classifier(numpy_scipy_regression), "reference: numpy ntk + scipy cho_solve"),
        "sklearn": (
            as_classifier(sklearn_regression),
            "reference: sklearn KernelRidge (precomputed)",
        ),
    },
}

#: Predictions of the regressors may differ by the NumPy NTK's own error (about 1e-8 relative on
#: the diagonal, see test_bench_gram.py) times the condition number of ``K + alpha I`` (about
#: 1e3). Predicted classes then differ only where two outputs tie to within that: not at all.
PREDICTION_AGREEMENT = 1e-5


@pytest.fixture(scope="module", autouse=True)
def compiled():
    X, X_test, y, labels = problem(300)
    fastntk_regression(X, y, X_test)
    fastntk_classification(X, labels, X_test)


@pytest.mark.parametrize("implementation", ["numpy", "sklearn"])
def test_estimator_references_agree(implementation):
    if implementation == "sklearn":
        pytest.importorskip("sklearn")
    X, X_test, y, labels = problem(300)
    regression = ESTIMATORS["KernelRegressor"][implementation][0]
    difference = relative_difference(fastntk_regression(X, y, X_test), regression(X, y, X_test))
    assert difference < PREDICTION_AGREEMENT, f"{implementation} regression differs by {difference}"
    classification = ESTIMATORS["KernelClassifier"][implementation][0]
    disagreements = np.count_nonzero(
        fastntk_classification(X, labels, X_test) != classification(X, labels, X_test)
    )
    assert disagreements == 0, f"{implementation} predicts {disagreements} other classes"


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize("implementation", ["fastntk", "numpy", "sklearn"])
def test_fit_predict(benchmark, estimator, n, implementation):
    if implementation == "sklearn":
        pytest.importorskip("sklearn")
    X, X_test, y, labels = problem(n)
    targets = labels if estimator == "KernelClassifier" else y
    function, role = ESTIMATORS[estimator][implementation]
    group = f"{estimator}(NTK(depth={DEPTH})) fit + predict, n={n}, {n // 4} test points, d={D}"
    timed(benchmark, lambda: function(X, targets, X_test), n, group, role)
