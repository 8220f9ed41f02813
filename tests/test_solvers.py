"""The exact solvers (MATH.md section 5) against plain NumPy/SciPy formulas: dense inverses,
brute-force leave-one-out refits, the matrix exponential, and the primal ridge solution with an
explicit feature map."""

import naive
import numpy as np
import pytest
import scipy.linalg
import threadpoolctl
from scipy.linalg import LinAlgWarning
from test_feature_maps import polynomial_features

import fastntk as fk
from fastntk import solvers
from fastntk._threads import blas_threads

RNG = np.random.default_rng(11)
X = RNG.standard_normal((40, 4))
Y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1) + 0.05 * RNG.standard_normal((40, 2))
K = naive.ntk(X, depth=2)
ALPHAS = [1e-6, 1e-3, 1e-1, 3.0]
METHODS = ["cholesky", "eigh", "lstsq"]


def dense_solution(K, y, noise):
    return np.linalg.solve(K + noise * np.eye(len(K)), y)


def relative_error(actual, expected):
    return np.max(np.abs(actual - expected)) / np.max(np.abs(expected))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_solvers_equal_the_dense_inverse(method, alpha):
    expected = dense_solution(K, Y, alpha)
    condition = np.linalg.cond(K + alpha * np.eye(len(K)))
    coefficients = solvers.solve(K, Y, alpha, method=method)
    assert relative_error(coefficients, expected) < 1e-15 * condition * len(K) + 1e-12


def test_auto_is_cholesky_for_positive_alpha_and_pseudo_inverse_at_zero():
    assert solvers.factorize(K, 1e-3).method == "cholesky"
    assert solvers.factorize(K, 0.0).method == "eigh"


@pytest.mark.parametrize("method", ["eigh", "lstsq"])
def test_zero_alpha_is_the_minimum_norm_interpolant_of_a_rank_deficient_matrix(method):
    """Linear kernel of 40 points in 4 dimensions: rank 4, and K^+ y is the minimum-norm
    solution (the seed's y K^+ K(X, x))."""
    K_low_rank = X @ X.T
    expected = np.linalg.pinv(K_low_rank, rcond=1e-12) @ Y
    coefficients = solvers.solve(K_low_rank, Y, 0.0, method=method)
    assert relative_error(coefficients, expected) < 1e-9


@pytest.mark.parametrize("relative_alpha", [False, True])
def test_multi_output_columns_equal_separate_solves(relative_alpha):
    both = solvers.solve(K, Y, 1e-2, relative_alpha=relative_alpha)
    for column in range(Y.shape[1]):
        single = solvers.solve(K, Y[:, column], 1e-2, relative_alpha=relative_alpha)
        np.testing.assert_allclose(both[:, column], single, rtol=1e-13, atol=1e-13)


def test_relative_alpha_scales_by_the_mean_diagonal():
    """neural-tangents' convention: lambda = alpha * trace(K) / n."""
    mean_diagonal = np.trace(K) / len(K)
    factorization = solvers.factorize(K, 0.01, relative_alpha=True)
    assert factorization.noise == pytest.approx(0.01 * mean_diagonal, rel=1e-15)
    expected = dense_solution(K, Y, 0.01 * mean_diagonal)
    assert relative_error(factorization.solve(Y), expected) < 1e-10


@pytest.mark.parametrize("method", METHODS + ["auto"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_callers_matrix_is_never_changed_unless_asked(method, order):
    matrix = np.array(K, order=order)
    before = matrix.copy()
    solvers.solve(matrix, Y, 1e-3, method=method)
    solvers.RegularizationPath(matrix).coefficients(Y, [1e-3])
    assert np.array_equal(matrix, before)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_overwrite_factors_in_the_callers_memory(order, dtype):
    matrix = np.array(K, order=order, dtype=dtype)
    factorization = solvers.factorize(matrix, 1e-3, overwrite_K=True)
    assert factorization.method == "cholesky"
    assert np.shares_memory(factorization.factor, matrix)
    tolerance = 1e-10 if dtype == np.float64 else 2e-3
    expected = dense_solution(K, Y, 1e-3)
    assert relative_error(factorization.solve(Y), expected) < tolerance


def test_singular_matrix_gets_jitter_with_a_warning():
    """Duplicated points make K singular: Cholesky at alpha = 0 fails, jitter rescues it."""
    X_repeated = np.vstack([X[:10], X[:10]])
    K_singular = naive.ntk(X_repeated, depth=2)
    with pytest.warns(LinAlgWarning, match="jitter") as record:
        factorization = solvers.factorize(K_singular, 0.0, method="cholesky")
    assert factorization.method == "cholesky"
    mean_diagonal = np.trace(K_singular) / len(K_singular)
    relative_jitter = factorization.noise / mean_diagonal
    assert any(
        relative_jitter == pytest.approx(step) for step in solvers.JITTER_STEPS[np.dtype("float64")]
    )
    assert f"{factorization.noise:.3g}" in str(record[0].message)
    # Targets consistent on the duplicates: the jittered fit still interpolates them.
    y = np.vstack([Y[:10], Y[:10]])
    fitted = K_singular @ factorization.solve(y)
    assert relative_error(fitted, y) < 1e-6


def test_jitter_attempts_restore_the_matrix_they_overwrote():
    """Each failed attempt overwrites part of the buffer; the next one must see K again, so the
    result equals a fresh Cholesky of K + (noise + jitter) I."""
    X_repeated = np.vstack([X[:10], X[:10]])
    K_singular = naive.ntk(X_repeated, depth=2)
    buffer = np.array(K_singular, order="F")
    with pytest.warns(LinAlgWarning):
        factorization = solvers.factorize(buffer, 0.0, method="cholesky", overwrite_K=True)
    fresh = scipy.linalg.cholesky(K_singular + factorization.noise * np.eye(20), lower=False)
    np.testing.assert_allclose(np.triu(factorization.factor), fresh, rtol=1e-12, atol=1e-12)


def test_indefinite_matrix_falls_back_to_least_squares():
    indefinite = K - 2 * np.max(np.abs(K)) * np.eye(len(K))
    with pytest.warns(LinAlgWarning, match="least squares"):
        factorization = solvers.factorize(indefinite, 0.0, method="cholesky")
    assert factorization.method == "lstsq"
    expected = np.linalg.solve(indefinite, Y)
    assert relative_error(factorization.solve(Y), expected) < 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_quadratic_forms_equal_the_dense_formula(method):
    B = RNG.standard_normal((len(K), 5))
    factorization = solvers.factorize(K, 1e-2, method=method)
    expected = B.T @ np.linalg.solve(K + 1e-2 * np.eye(len(K)), B)
    np.testing.assert_allclose(factorization.quadratic_form(B), expected, rtol=1e-9)
    np.testing.assert_allclose(
        factorization.quadratic_form(B, diagonal=True), np.diag(expected), rtol=1e-9
    )


# --- the regularisation path ------------------------------------------------------------------


def brute_force_leave_one_out(K, y, noise):
    residuals = np.empty_like(y)
    for i in range(len(K)):
        keep = np.arange(len(K)) != i
        coefficients = dense_solution(K[np.ix_(keep, keep)], y[keep], noise)
        residuals[i] = y[i] - K[i, keep] @ coefficients
    return residuals


def test_path_coefficients_equal_separate_solves():
    path = solvers.RegularizationPath(K)
    coefficients = path.coefficients(Y, ALPHAS)
    assert coefficients.shape == (len(ALPHAS),) + Y.shape
    for alpha, actual in zip(ALPHAS, coefficients, strict=True):
        condition = np.linalg.cond(K + alpha * np.eye(len(K)))
        expected = dense_solution(K, Y, alpha)
        assert relative_error(actual, expected) < 1e-15 * condition * len(K) + 1e-12


@pytest.mark.parametrize("targets", ["one", "two"])
def test_closed_form_leave_one_out_equals_refitting_without_each_point(targets):
    y = Y[:, 0] if targets == "one" else Y
    path = solvers.RegularizationPath(K)
    alphas = [1e-3, 1e-1, 3.0]
    residuals = path.leave_one_out_residuals(y, alphas)
    assert residuals.shape == (len(alphas),) + y.shape
    for alpha, actual in zip(alphas, residuals, strict=True):
        np.testing.assert_allclose(actual, brute_force_leave_one_out(K, y, alpha), rtol=1e-7)
    mse = path.leave_one_out_mse(y, alphas)
    np.testing.assert_allclose(mse, [np.mean(r**2) for r in residuals], rtol=1e-12)


def test_gcv_equals_its_definition():
    path = solvers.RegularizationPath(K)
    alphas = [1e-3, 1e-1, 3.0]
    n = len(K)
    for alpha, actual in zip(alphas, path.gcv(Y, alphas), strict=True):
        hat = K @ np.linalg.inv(K + alpha * np.eye(n))
        residual = (np.eye(n) - hat) @ Y
        expected = n * np.sum(residual**2) / np.trace(np.eye(n) - hat) ** 2
        assert actual == pytest.approx(expected, rel=1e-8)


def test_path_relative_alpha_matches_factorize():
    path = solvers.RegularizationPath(K, relative_alpha=True)
    expected = solvers.solve(K, Y, 0.05, relative_alpha=True)
    assert relative_error(path.coefficients(Y, [0.05])[0], expected) < 1e-10


def test_gradient_descent_coefficients_follow_the_matrix_exponential():
    """f_t(X) = K K^-1 (I - exp(-eta K t)) y on the training points (MATH.md section 5)."""
    path = solvers.RegularizationPath(K)
    eta = 0.05
    times = [0.0, 1.0, 20.0]
    coefficients = path.gradient_descent_coefficients(Y, times, eta)
    for t, actual in zip(times, coefficients, strict=True):
        expected = np.linalg.solve(K, (np.eye(len(K)) - scipy.linalg.expm(-eta * t * K)) @ Y)
        np.testing.assert_allclose(K @ actual, K @ expected, rtol=1e-7, atol=1e-9)


def test_gradient_descent_equals_discrete_steps_for_a_small_learning_rate():
    """Plain gradient descent on 1/2 |K b - y|^2 in function space: f <- f - eta K (f - y).
    With eta small the steps follow the flow to O(eta)."""
    eta, steps = 1e-3, 2000
    f = np.zeros_like(Y)
    for _ in range(steps):
        f -= eta * K @ (f - Y)
    path = solvers.RegularizationPath(K)
    flow = K @ path.gradient_descent_coefficients(Y, [steps], eta)[0]
    assert relative_error(flow, f) < 10 * eta * np.max(np.linalg.eigvalsh(K))


def test_gradient_descent_at_infinite_time_is_minimum_norm_regression():
    path = solvers.RegularizationPath(K)
    at_infinity = path.gradient_descent_coefficients(Y, [np.inf], 1.0)[0]
    expected = solvers.solve(K, Y, 0.0, method="eigh")
    np.testing.assert_allclose(at_infinity, expected, rtol=1e-12, atol=1e-12)
    late = path.gradient_descent_coefficients(Y, [1e12], 1.0)[0]
    assert relative_error(late, expected) < 1e-3


# --- threads and bad input ----------------------------------------------------------------------


def test_blas_threads_are_limited_while_solving():
    with blas_threads(1):
        limited = [
            lib["num_threads"]
            for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"
        ]
    assert limited and all(count == 1 for count in limited)
    one = solvers.solve(K, Y, 1e-3, threads=1)
    two = solvers.solve(K, Y, 1e-3, threads=2)
    np.testing.assert_allclose(one, two, rtol=1e-12)


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda: solvers.solve(K, Y, -1.0), ValueError, "alpha"),
        (lambda: solvers.solve(K, Y, np.nan), ValueError, "alpha"),
        (lambda: solvers.solve(K[:, :5], Y, 1.0), ValueError, "square"),
        (lambda: solvers.solve(K, Y[:5], 1.0), ValueError, "samples"),
        (lambda: solvers.solve(K, np.where(Y > 0, np.nan, Y), 1.0), ValueError, "NaN"),
        (lambda: solvers.solve(np.where(K > 0.5, np.inf, K), Y, 1.0), ValueError, "infinity"),
        (lambda: solvers.solve(K, Y, 1.0, method="qr"), ValueError, "method"),
        (lambda: solvers.solve(K, Y, 1.0, threads=0), ValueError, "threads"),
        (lambda: solvers.solve(K.astype(complex), Y, 1.0), ValueError, "Complex"),
        (lambda: solvers.RegularizationPath(K).coefficients(Y, [-1.0]), ValueError, "alphas"),
        (
            lambda: solvers.RegularizationPath(K).gradient_descent_coefficients(Y, [-1], 1),
            ValueError,
            "times",
        ),
        (
            lambda: solvers.RegularizationPath(K).gradient_descent_coefficients(Y, [1], 0),
            ValueError,
            "learning_rate",
        ),
        (lambda: solvers.factorize(K, 1.0).solve(Y[:3]), ValueError, "rows"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# --- primal and dual ----------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["cholesky", "eigh", "lstsq"])
@pytest.mark.parametrize("degree, coef0", [(2, 1.0), (3, 0.5)])
def test_primal_ridge_with_explicit_features_equals_dual_kernel_ridge(solver, degree, coef0):
    """w = (Phi^T Phi + lambda I)^-1 Phi^T y and f = Phi* w, against K* (K + lambda I)^-1 y."""
    gamma, alpha = 0.5, 0.1
    X_test = RNG.standard_normal((15, 4))
    phi = polynomial_features(X, degree, gamma, coef0)
    phi_test = polynomial_features(X_test, degree, gamma, coef0)
    weights = np.linalg.solve(phi.T @ phi + alpha * np.eye(phi.shape[1]), phi.T @ Y)
    primal = phi_test @ weights
    kernel = fk.Polynomial(degree=degree, gamma=gamma, coef0=coef0)
    model = fk.KernelRegressor(kernel, alpha=alpha, solver=solver).fit(X, Y)
    assert relative_error(model.predict(X_test), primal) < 1e-8
