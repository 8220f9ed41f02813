"""Large-n machinery: the matrix-free kernel operator against ``gram``, the Nystrom solver against
the exact one, the memory-budget choice of ``solver="auto"``, and out-of-core Gram matrices."""

import logging

import numpy as np
import pytest
import scipy.sparse.linalg

import fastntk as fk
from fastntk import nystrom
from fastntk.network import NetworkFamily
from fastntk.operators import KernelOperator

RNG = np.random.default_rng(8)
X = RNG.standard_normal((70, 4))
Z = RNG.standard_normal((45, 4))
Y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1) + 0.05 * RNG.standard_normal((70, 2))
KERNELS = [
    fk.NTK(3),
    fk.NNGP(2, "erf", b_std=0.3),
    fk.Gaussian(1.5),
    fk.Laplacian(2.0),
    fk.ArcCosine(2),
    fk.Polynomial(3),
    fk.Linear(0.5),
]
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 16: the inputs span several strips and tiles, with partial edges."""
    monkeypatch.setenv("FASTNTK_TILE_SIZE", str(16))


def relative_error(actual, expected):
    return np.max(np.abs(actual - expected)) / np.max(np.abs(expected))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_operator_products_equal_products_with_the_gram_matrix(small_tiles, kernel, dtype):
    for Z_or_none in (Z, None):
        K = fk.gram(kernel, X, Z_or_none, dtype=dtype).astype(np.float64)
        operator = KernelOperator(kernel, X, Z_or_none, dtype=dtype)
        assert operator.shape == K.shape and operator.dtype == dtype
        V = RNG.standard_normal((K.shape[1], 3))
        U = RNG.standard_normal((K.shape[0], 2))
        tolerance = TOLERANCE[dtype]
        assert relative_error(operator @ V, K @ V) < tolerance
        assert relative_error(operator @ V[:, 0], K @ V[:, 0]) < tolerance
        assert relative_error(operator.T @ U, K.T @ U) < tolerance
        assert relative_error(operator.rmatvec(U[:, 1]), K.T @ U[:, 1]) < tolerance
        normal, product = operator.normal_matmat(V, also_product=True)
        assert relative_error(normal, K.T @ (K @ V)) < tolerance
        assert relative_error(product, K @ V) < tolerance


def test_operator_is_a_scipy_linear_operator():
    operator = KernelOperator(fk.NTK(2), X)
    assert isinstance(operator, scipy.sparse.linalg.LinearOperator)
    K = fk.gram(fk.NTK(2), X)
    b = RNG.standard_normal(len(X))
    shifted = operator + 0.1 * scipy.sparse.linalg.aslinearoperator(np.eye(len(X)))
    tolerance = {nystrom._CG_RELATIVE_TOLERANCE: 1e-12}
    solution, info = scipy.sparse.linalg.cg(shifted, b, atol=0.0, **tolerance)
    assert info == 0
    np.testing.assert_allclose(solution, np.linalg.solve(K + 0.1 * np.eye(len(X)), b), rtol=1e-9)


def test_operator_bad_input():
    with pytest.raises(ValueError, match="features"):
        KernelOperator(fk.NTK(2), X, Z[:, :3])
    with pytest.raises(TypeError, match="single kernel"):
        KernelOperator(NetworkFamily((fk.NTK(1), fk.NTK(2))), X)
    with pytest.raises(ValueError, match="dimension mismatch"):
        KernelOperator(fk.NTK(2), X, Z) @ np.ones((len(X), 2))
    with pytest.raises(ValueError, match="shape"):
        KernelOperator(fk.NTK(2), X, Z).normal_matmat(np.ones((len(X), 2)))


# --- the Nystrom solver -------------------------------------------------------------------------


def exact_predictions(kernel, alpha, X_test):
    return fk.KernelRegressor(kernel, alpha=alpha, solver="cholesky").fit(X, Y).predict(X_test)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nystrom_with_all_points_as_centres_is_the_exact_solver(small_tiles, dtype):
    """m = n: the preconditioner is H itself, and CG converges at once to the exact solution."""
    kernel = fk.NTK(2)
    model = fk.KernelRegressor(
        kernel, alpha=1e-2, solver="nystrom", n_centers=len(X), random_state=0, dtype=dtype
    ).fit(X, Y)
    assert model.solver_ == "nystrom" and model.n_iter_ <= 3
    tolerance = 1e-8 if dtype == np.float64 else 1e-3
    assert relative_error(model.predict(Z), exact_predictions(kernel, 1e-2, Z)) < tolerance


def test_nystrom_error_falls_as_centres_grow():
    """Average over 8 seeds of the relative gap to the exact predictions, at m = 10, 25, 50."""
    kernel = fk.NTK(2)
    exact = exact_predictions(kernel, 1e-2, Z)
    gaps = []
    for m in (10, 25, 50):
        errors = [
            relative_error(
                fk.KernelRegressor(
                    kernel, alpha=1e-2, solver="nystrom", n_centers=m, random_state=seed
                )
                .fit(X, Y)
                .predict(Z),
                exact,
            )
            for seed in range(8)
        ]
        gaps.append(np.mean(errors))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.5 * gaps[0]


def test_nystrom_solution_solves_the_normal_equations():
    """(K_nm^T K_nm + lambda K_mm) a = K_nm^T y, checked with dense matrices."""
    kernel, alpha = fk.Gaussian(2.0), 1e-3
    fit = nystrom.nystrom_fit(kernel, X, Y, alpha, n_centers=30, seed=3, tol=1e-10)
    assert fit.converged and fit.residuals[-1] <= 1e-10
    K_nm = fk.gram(kernel, X, fit.centers)
    K_mm = fk.gram(kernel, fit.centers)
    left = (K_nm.T @ K_nm + alpha * K_mm) @ fit.coefficients
    assert relative_error(left, K_nm.T @ Y) < 1e-7
    assert np.array_equal(fit.centers, X[fit.center_indices])
    assert len(np.unique(fit.center_indices)) == 30


def test_tracked_residuals_equal_the_true_residuals():
    """The CG residual reported per iteration equals |b - M x_k| / |b| computed directly."""
    A = RNG.standard_normal((30, 30))
    M = A @ A.T + 30 * np.eye(30)
    b = RNG.standard_normal(30)
    tracker = nystrom._ResidualTracker(scipy.sparse.linalg.aslinearoperator(M), b)
    true = []

    def callback(x):
        tracker.update(x)
        true.append(np.linalg.norm(b - M @ x) / np.linalg.norm(b))

    scipy.sparse.linalg.cg(
        tracker.operator,
        b,
        atol=0.0,
        maxiter=12,
        callback=callback,
        **{nystrom._CG_RELATIVE_TOLERANCE: 1e-14},
    )
    assert len(true) == len(tracker.residuals) > 5
    np.testing.assert_allclose(tracker.residuals, true, rtol=1e-6, atol=1e-13)


def test_nystrom_warns_when_it_does_not_converge():
    with pytest.warns(nystrom.ConvergenceWarning, match="max_iter"):
        fit = nystrom.nystrom_fit(
            fk.NTK(2), X, Y, 1e-6, n_centers=40, seed=0, tol=1e-14, max_iter=1
        )
    assert not fit.converged and fit.iterations == 1


def test_nystrom_classifier_with_progress():
    labels = (X[:, 0] > 0).astype(int)
    classifier = fk.KernelClassifier(
        fk.NTK(2), alpha=1e-3, solver="nystrom", n_centers=40, random_state=1, progress=True
    ).fit(X, labels)
    assert classifier.regressor_.solver_ == "nystrom"
    assert classifier.score(X, labels) > 0.9
    assert classifier.regressor_.n_iter_ == len(classifier.regressor_.cg_residuals_) >= 1


@pytest.mark.parametrize(
    "n_centers, error, fragment",
    [(71, ValueError, "n_centers"), (0, ValueError, "n_centers"), (2.5, TypeError, "n_centers")],
)
def test_nystrom_bad_number_of_centres(n_centers, error, fragment):
    with pytest.raises(error, match=fragment):
        fk.KernelRegressor(fk.NTK(2), solver="nystrom", n_centers=n_centers).fit(X, Y)


def test_nystrom_has_no_posterior_variance():
    model = fk.KernelRegressor(fk.NTK(2), solver="nystrom", n_centers=20).fit(X, Y)
    with pytest.raises(ValueError, match="exact solver"):
        model.predict(Z, return_std=True)


# --- the choice of solver -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "budget, expected", [(70 * 70 * 8, "cholesky"), (70 * 70 * 8 - 1, "nystrom")]
)
def test_auto_solver_follows_the_memory_budget(caplog, budget, expected):
    with caplog.at_level(logging.INFO, logger="fastntk"):
        model = fk.KernelRegressor(fk.NTK(2), alpha=1e-3, memory_budget=budget, n_centers=30).fit(
            X, Y
        )
    assert model.solver_ == expected
    chosen = "exact" if expected == "cholesky" else "Nystrom"
    assert any(f"using the {chosen} solver" in record.getMessage() for record in caplog.records)


def test_auto_solver_default_budget_is_the_available_memory(monkeypatch):
    from fastntk import regression

    monkeypatch.setattr(regression, "available_memory_bytes", lambda: 2 * 70 * 70 * 8)
    assert fk.KernelRegressor(fk.NTK(2), alpha=1e-3).fit(X, Y).solver_ == "cholesky"
    monkeypatch.setattr(regression, "available_memory_bytes", lambda: 2 * 70 * 70 * 8 - 2)
    model = fk.KernelRegressor(fk.NTK(2), alpha=1e-3, n_centers=30).fit(X, Y)
    assert model.solver_ == "nystrom"


# --- out-of-core Gram matrices ------------------------------------------------------------------


def test_gram_into_a_memmap_with_progress(tmp_path, small_tiles):
    kernel = fk.NTK(3)
    path = tmp_path / "gram.f64"
    out = np.memmap(path, dtype=np.float64, mode="w+", shape=(len(X), len(Z)))
    result = fk.gram(kernel, X, Z, out=out, progress=True)
    assert result is out
    out.flush()
    del out, result
    on_disk = np.memmap(path, dtype=np.float64, mode="r", shape=(len(X), len(Z)))
    np.testing.assert_array_equal(on_disk, fk.gram(kernel, X, Z))
