"""The exact solvers (MATH.md section 5) against plain NumPy/SciPy formulas: dense inverses,
brute-force leave-one-out refits, the matrix exponential, and the primal ridge solution with an
explicit feature map."""

import re
import tracemalloc
import warnings

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
from fastntk._validation import SYMMETRY_TOLERANCE, check_symmetric

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


def slightly_indefinite(smallest):
    """``(K, Q, s)``, ``K = Q diag(s) Q^T`` of order 30 with eigenvalues 1 .. 29 and
    ``smallest * mean(s)``: jitter of ``-smallest`` of the mean diagonal or more makes it
    positive definite."""
    Q = np.linalg.qr(RNG.standard_normal((30, 30)))[0]
    s = np.arange(30.0)
    s[0] = smallest * np.sum(s[1:]) / (30 - smallest)
    K = (Q * s) @ Q.T
    return (K + K.T) / 2, Q, s


def test_jitter_up_to_lambda_rescues_cholesky_with_a_warning():
    """lambda = 1.2e-10 of the mean diagonal on an eigenvalue -1.5e-10: jitter 1e-12 is too
    little, 1e-10 suffices and is below lambda."""
    K_indefinite, _, s = slightly_indefinite(-1.5e-10)
    mean_diagonal = np.trace(K_indefinite) / 30
    noise = 1.2e-10 * mean_diagonal
    with pytest.warns(LinAlgWarning, match="jitter") as record:
        factorization = solvers.factorize(K_indefinite, noise, method="cholesky")
    assert factorization.method == "cholesky"
    assert factorization.noise == pytest.approx(noise + 1e-10 * mean_diagonal, rel=1e-12)
    assert f"{factorization.noise - noise:.3g}" in str(record[0].message)


def test_jitter_attempts_restore_the_matrix_they_overwrote():
    """Each failed attempt overwrites part of the buffer; the next one must see K again, so the
    result equals a fresh Cholesky of K + (noise + jitter) I."""
    K_indefinite, _, _ = slightly_indefinite(-1.5e-10)
    noise = 1.2e-10 * np.trace(K_indefinite) / 30
    buffer = np.array(K_indefinite, order="F")
    with pytest.warns(LinAlgWarning):
        factorization = solvers.factorize(buffer, noise, method="cholesky", overwrite_K=True)
    assert np.shares_memory(factorization.factor, buffer)
    fresh = scipy.linalg.cholesky(K_indefinite + factorization.noise * np.eye(30), lower=False)
    np.testing.assert_allclose(np.triu(factorization.factor), fresh, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("share", [0.0, 0.5e-10, 0.9e-10])
def test_jitter_larger_than_lambda_falls_back_to_least_squares(share):
    """The same matrix needs jitter 1e-10 of its mean diagonal: more than lambda, so the
    answer is least squares on K + lambda I itself, not on a more regularised matrix."""
    K_indefinite, Q, s = slightly_indefinite(-1.5e-10)
    noise = share * np.trace(K_indefinite) / 30
    with pytest.warns(LinAlgWarning, match="least squares") as record:
        factorization = solvers.factorize(K_indefinite, noise, method="cholesky")
    assert factorization.method == "lstsq" and factorization.noise == noise
    assert f"lambda = {noise:.3g}" in str(record[0].message)
    shifted = s + noise
    keep = np.abs(shifted) > 30 * np.finfo(float).eps * np.max(np.abs(s))
    expected = Q @ (np.where(keep, 1 / np.where(keep, shifted, 1), 0)[:, None] * (Q.T @ Y[:30]))
    condition = np.max(np.abs(shifted)) / np.min(np.abs(shifted[keep]))
    actual = factorization.solve(Y[:30])
    assert relative_error(actual, expected) < 1e-15 * condition * 30 + 1e-12


# --- alpha = 0 on a singular matrix: the minimum-norm solution ----------------------------------


def minimum_norm_reference(A, A_test, y):
    """For ``K = A A^T`` (rank r): ``K^+ y = U S^-2 U^T y`` from the thin SVD of ``A``, and
    the predictions ``A_test A^+ y`` of minimum-norm least squares in feature space."""
    U, S, Vt = np.linalg.svd(A, full_matrices=False)
    rank = np.sum(S > S[0] * 1e-10)
    U, S, Vt = U[:, :rank], S[:rank], Vt[:rank]
    coefficients = U @ ((U.T @ y) / S[:, None] ** 2)
    predictions = A_test @ (Vt.T @ ((U.T @ y) / S[:, None]))
    return coefficients, predictions


#: (n, rank) of the linear-kernel Gram matrices of X (n, rank): rank-deficient, alpha = 0.
LOW_RANKS = [(200, 1), (200, 5), (200, 20), (150, 60), (120, 119)]


@pytest.mark.parametrize("method", METHODS + ["auto"])
@pytest.mark.parametrize("n, rank", LOW_RANKS)
def test_zero_alpha_on_a_singular_matrix_is_the_minimum_norm_solution(method, n, rank):
    """Cholesky cannot factor a singular K at lambda = 0 and jitter would give coefficients
    of size |y| / jitter along the null space of K, whose rounding costs the predictions
    their digits: it falls back to least squares, whose cutoff drops that rounding."""
    rng = np.random.default_rng(n + rank)
    A, A_test = rng.standard_normal((n, rank)), rng.standard_normal((9, rank))
    y = rng.standard_normal((n, 2))
    K_singular = A @ A.T
    expected_coefficients, expected_predictions = minimum_norm_reference(A, A_test, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        factorization = solvers.factorize(K_singular, 0.0, method=method)
    if method == "cholesky":
        assert factorization.method == "lstsq"
        assert any("minimum-norm" in str(w.message) for w in record)
    coefficients = factorization.solve(y)
    assert relative_error(coefficients, expected_coefficients) < 1e-8
    assert relative_error(A_test @ A.T @ coefficients, expected_predictions) < 1e-8


@pytest.mark.parametrize("solver", ["auto", "cholesky", "eigh", "lstsq"])
@pytest.mark.parametrize("n, rank", LOW_RANKS[1:4])
def test_zero_alpha_regressor_on_a_singular_kernel_is_minimum_norm(solver, n, rank):
    rng = np.random.default_rng(n * rank)
    A, A_test = rng.standard_normal((n, rank)), rng.standard_normal((9, rank))
    y = rng.standard_normal(n)
    _, expected = minimum_norm_reference(A, A_test, y[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        model = fk.KernelRegressor(fk.Linear(), alpha=0.0, solver=solver).fit(A, y)
    assert relative_error(model.predict(A_test), expected[:, 0]) < 1e-8


def test_zero_alpha_on_duplicated_points_interpolates_them():
    """Duplicated points make an NTK matrix singular: the minimum-norm solution gives equal
    coefficients to the copies of a point (and fits targets consistent on them)."""
    X_repeated = np.vstack([X[:10], X[:10]])
    K_singular = naive.ntk(X_repeated, depth=2)
    y = np.vstack([Y[:10], Y[:10]])
    with pytest.warns(LinAlgWarning, match="least squares"):
        factorization = solvers.factorize(K_singular, 0.0, method="cholesky")
    coefficients = factorization.solve(y)
    expected = np.linalg.solve(naive.ntk(X[:10], depth=2), Y[:10]) / 2
    assert relative_error(coefficients, np.vstack([expected, expected])) < 1e-9


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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_path_coefficients_are_the_same_before_and_after_the_eigenvectors(dtype):
    """The tridiagonal solves (before any eigenvector exists) and Q diag(1/(s+lambda)) Q^T y
    (after) both equal the dense inverse within n eps times its condition number (measured:
    under 2 eps times it)."""
    K_typed = K.astype(dtype)
    path = solvers.RegularizationPath(K_typed)
    tridiagonal = path.coefficients(Y, ALPHAS)
    assert path._eigenvectors is None
    path.eigenvectors  # noqa: B018 (formed on first use)
    eigen = path.coefficients(Y, ALPHAS)
    for alpha, first, second in zip(ALPHAS, tridiagonal, eigen, strict=True):
        assert first.dtype == second.dtype == dtype
        expected = dense_solution(K_typed.astype(np.float64), Y, alpha)
        condition = np.linalg.cond(K + alpha * np.eye(len(K)))
        bound = np.finfo(dtype).eps * condition * len(K)
        assert relative_error(first, expected) < bound
        assert relative_error(second, expected) < bound


def test_path_eigendecomposition_is_the_matrix():
    path = solvers.RegularizationPath(K)
    np.testing.assert_allclose(path.eigenvalues, np.linalg.eigvalsh(K), rtol=0, atol=1e-13)
    Q = path.eigenvectors
    np.testing.assert_allclose(Q.T @ Q, np.eye(len(K)), rtol=0, atol=1e-13)
    np.testing.assert_allclose(K @ Q, Q * path.eigenvalues, rtol=0, atol=1e-12)


def test_path_at_alpha_zero_on_a_singular_matrix_is_the_pseudo_inverse():
    """The rank-4 linear kernel: lambda = 0 drops its null space, which only the eigenvectors
    can do, so the path forms them; a positive lambda in the same call stays exact."""
    K_low_rank = X @ X.T
    path = solvers.RegularizationPath(K_low_rank)
    at_zero, at_one = path.coefficients(Y, [0.0, 1.0])
    assert relative_error(at_zero, np.linalg.pinv(K_low_rank, rcond=1e-12) @ Y) < 1e-9
    assert relative_error(at_one, dense_solution(K_low_rank, Y, 1.0)) < 1e-12


@pytest.mark.parametrize("n", [1, 2, 3])
def test_path_of_a_tiny_matrix(n):
    K_small = K[:n, :n].copy()
    path = solvers.RegularizationPath(K_small)
    coefficients = path.coefficients(Y[:n], [1e-2, 1.0])
    for alpha, actual in zip([1e-2, 1.0], coefficients, strict=True):
        assert relative_error(actual, dense_solution(K_small, Y[:n], alpha)) < 1e-12
    np.testing.assert_allclose(path.eigenvalues, np.linalg.eigvalsh(K_small), atol=1e-14)
    residuals = path.leave_one_out_residuals(Y[:n], [1.0])
    assert residuals.shape == (1, n, 2)


def test_path_keeps_its_reduction_in_the_callers_matrix_with_overwrite_K():
    """One n x n matrix until the eigenvectors are formed: the reflectors stay in K's buffer."""
    K_owned = K.copy()
    path = solvers.RegularizationPath(K_owned, overwrite_K=True)
    assert np.shares_memory(path._reduction.reflectors, K_owned)
    K_kept = K.copy()
    solvers.RegularizationPath(K_kept).coefficients(Y, ALPHAS)
    assert np.array_equal(K_kept, K)


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
        (lambda: solvers.solve(np.ones(5), np.ones(5)), ValueError, r"square 2-D .*\(5,\)"),
        (lambda: solvers.solve(np.ones((2, 3, 3)), Y, 1.0), ValueError, r"\(2, 3, 3\)"),
        (lambda: solvers.solve(np.ones((0, 0)), np.ones(0)), ValueError, r"non-empty"),
        (lambda: solvers.factorize(np.ones(5)), ValueError, r"square 2-D .*\(5,\)"),
        (lambda: solvers.RegularizationPath(np.ones(5)), ValueError, r"square 2-D .*\(5,\)"),
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
    with pytest.raises(error, match=fragment) as raised:
        call()
    assert "-1 samples" not in str(raised.value)


# --- symmetry ------------------------------------------------------------------------------------

X_TEST = RNG.standard_normal((40, 4))
SQUARE_CROSS_KERNELS = {
    "ntk": naive.ntk(X_TEST, X, depth=2),
    "gaussian": naive.gaussian(X_TEST, X, lengthscale=2.0),
    "linear": naive.linear(X_TEST, X),
}
SOLVER_ENTRY_POINTS = {
    "solve cholesky": lambda K: solvers.solve(K, Y, 1e-3, method="cholesky"),
    "solve eigh": lambda K: solvers.solve(K, Y, 0.0, method="eigh"),
    "solve lstsq": lambda K: solvers.solve(K, Y, 1e-3, method="lstsq"),
    "factorize auto": lambda K: solvers.factorize(K, 1e-3),
    "factorize in place": lambda K: solvers.factorize(K, 1e-3, overwrite_K=True),
    "path": lambda K: solvers.RegularizationPath(K),
}


@pytest.mark.parametrize("entry", SOLVER_ENTRY_POINTS)
@pytest.mark.parametrize("kernel", SQUARE_CROSS_KERNELS)
@pytest.mark.parametrize("dtype, order", [(np.float64, "C"), (np.float32, "C"), (np.float64, "F")])
def test_a_square_test_by_train_matrix_is_refused(entry, kernel, dtype, order):
    """K(X_test, X_train) of the same size is square but not symmetric: Cholesky would read
    one triangle and lstsq the whole, so any answer would be arbitrary."""
    K_cross = np.array(SQUARE_CROSS_KERNELS[kernel], dtype=dtype, order=order)
    before = K_cross.copy()
    with pytest.raises(ValueError, match="K must be symmetric") as raised:
        SOLVER_ENTRY_POINTS[entry](K_cross)
    i, j = (int(k) for k in re.search(r"K\[(\d+), (\d+)\]", str(raised.value)).groups())
    worst = np.max(np.abs(K_cross - K_cross.T))
    assert abs(K_cross[i, j] - K_cross[j, i]) == pytest.approx(worst, rel=1e-6)
    assert np.array_equal(K_cross, before)


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symmetry_tolerance_is_relative_to_the_largest_entry(scale, dtype):
    """An antisymmetric perturbation of 0.5 (passes) or 2 (refused) times the tolerance,
    relative to max |K|, whatever the scale of K; at n = 1100 with blocks of 512 the largest
    difference lies in a ragged off-diagonal block."""
    n = 1100
    A = np.random.default_rng(1).standard_normal((n, 3))
    K_big = (A @ A.T + np.eye(n)) * scale
    tolerance = SYMMETRY_TOLERANCE * np.max(np.abs(K_big))
    for factor, refused in [(0.5, False), (2.0, True)]:
        perturbed = K_big.copy()
        perturbed[1090, 20] += factor * tolerance
        perturbed = perturbed.astype(dtype)
        if refused:
            with pytest.raises(ValueError, match=r"K\[20, 1090\]"):
                solvers.RegularizationPath(perturbed)
        else:
            solvers.RegularizationPath(perturbed)


def strip_gram_float32(n, d, seed):
    """``A A^T`` of float32 rows computed by strips of 7 columns, as a caller might, every
    other strip summing the features in reverse order: the two triangles round differently
    (at d = 700, by a few float32 roundings), whatever order the BLAS sums a strip in."""
    A = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    reverse = A[:, ::-1].copy()
    strips = [
        (reverse @ reverse[c : c + 7].T) if c // 7 % 2 else (A @ A[c : c + 7].T)
        for c in range(0, n, 7)
    ]
    return np.hstack(strips)


def rounded_asymmetrically(K_exact, ulps, seed):
    """``K_exact`` in float32 with every entry off by up to ``ulps`` float32 roundings of the
    largest entry, independently above and below the diagonal."""
    noise = np.random.default_rng(seed).uniform(-1, 1, K_exact.shape)
    step = ulps * np.finfo(np.float32).eps * np.max(np.abs(K_exact))
    return (K_exact + step * noise).astype(np.float32)


@pytest.mark.parametrize("compute", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make",
    [
        lambda: strip_gram_float32(200, 700, 0),
        lambda: rounded_asymmetrically(naive.ntk(X, depth=2), 10, 1),
        lambda: rounded_asymmetrically(naive.gaussian(X, lengthscale=2.0), 100, 2),
        lambda: rounded_asymmetrically(naive.linear(X) + np.eye(40), 1000, 3),
    ],
    ids=["strip products", "NTK 10 ulps", "Gaussian 100 ulps", "linear 1000 ulps"],
)
def test_rounding_asymmetry_of_a_float32_gram_matrix_passes(make, compute):
    """Accepted in float32 and converted to float64 (as a float32 matrix reaches an estimator
    of dtype float64); the solve is that of its symmetric part up to the asymmetry."""
    K32 = make()
    assert not np.array_equal(K32, K32.T)
    n = len(K32)
    y = np.random.default_rng(n).standard_normal(n)
    actual = solvers.solve(K32.astype(compute), y, 1e-2, method="cholesky")
    symmetric = (K32.astype(np.float64) + K32.T.astype(np.float64)) / 2
    expected = np.linalg.solve(symmetric + 1e-2 * np.eye(n), y)
    condition = np.linalg.cond(symmetric + 1e-2 * np.eye(n))
    asymmetry = np.max(np.abs(K32 - K32.T)) / np.max(np.abs(symmetric))
    precision = np.finfo(compute).eps * np.sqrt(n)
    assert relative_error(actual, expected) < 10 * (asymmetry + precision) * condition


def test_symmetry_check_holds_no_n_by_n_temporary():
    """Blocks of 512: its temporaries are a few block x block arrays, far from n x n."""
    n = 2000
    K_large = np.ones((n, n))
    tracemalloc.start()
    try:
        check_symmetric(K_large, "K")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 512 * 512 * 8
    assert peak < K_large.nbytes / 2


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
