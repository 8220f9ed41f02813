"""The Nystrom solver on singular centre matrices: duplicate rows, few distinct points, data of
low rank, all-zero inputs, and kernel products that overflow.

Whenever the centres' functions ``k(., c)`` span those of every training row, Nystrom kernel ridge
regression is exact kernel ridge regression, so its predictions must equal the exact solver's:
Cholesky for ``alpha > 0``, minimum-norm least squares (``lstsq``) at ``alpha = 0``. Tolerance:
CG stops at relative residual 1e-7 (float32: 1e-4) of the preconditioned system, which here is
well conditioned (a few iterations), so the predictions agree to ``1e-5`` (float32: ``1e-3``) of
the targets' largest magnitude.
"""

import numpy as np
import pytest

import fastntk as fk
from fastntk import nystrom

pytestmark = pytest.mark.filterwarnings("error::fastntk.nystrom.ConvergenceWarning")

RNG = np.random.default_rng(20)
TOLERANCE = {np.float64: 1e-5, np.float32: 1e-3}
KERNELS = [fk.Linear(1.0), fk.Gaussian(1.5), fk.NTK(2)]


def exact_predictions(kernel, X, y, alpha, Z):
    solver = "cholesky" if alpha > 0 else "lstsq"
    return fk.KernelRegressor(kernel, alpha=alpha, solver=solver).fit(X, y).predict(Z)


def assert_matches_exact(kernel, X, y, alpha, n_centers, *, seed=0, dtype=np.float64):
    """Nystrom's predictions on the training rows and on new points are finite and equal the
    exact solver's; returns the fit."""
    Z = np.vstack([X, RNG.standard_normal((10, X.shape[1]))])
    model = fk.KernelRegressor(
        kernel, alpha=alpha, solver="nystrom", n_centers=n_centers, random_state=seed, dtype=dtype
    ).fit(X, y)
    predicted = model.predict(Z)
    assert np.isfinite(predicted).all()
    expected = exact_predictions(kernel, X, y, alpha, Z)
    scale = np.max(np.abs(y))
    assert np.max(np.abs(predicted - expected)) <= TOLERANCE[dtype] * scale
    return nystrom.nystrom_fit(kernel, X, y, alpha, n_centers=n_centers, seed=seed, dtype=dtype)


def repeated(points, counts):
    """Rows of ``points``, the i-th repeated ``counts[i]`` times, in a random order."""
    rows = np.repeat(points, counts, axis=0)
    return rows[RNG.permutation(len(rows))]


# --- all rows equal ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha", [0.0, 1e-6, 1e-2])
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_all_rows_equal(kernel, alpha, dtype):
    """20 copies of one row (10 centres, all the same): the basis is that one row."""
    X = np.tile(RNG.standard_normal((1, 5)), (20, 1))
    y = RNG.standard_normal(20)
    fit = assert_matches_exact(kernel, X, y, alpha, 10, dtype=dtype)
    assert fit.basis.size == 1
    assert np.count_nonzero(fit.coefficients) == 1


# --- few distinct points -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-6])
@pytest.mark.parametrize("kernel", [fk.Gaussian(1.5), fk.NTK(2)], ids=repr)
def test_few_distinct_points_unbalanced(kernel, alpha):
    """9 distinct points repeated 8 to 100 times (300 rows), two-column targets. 296 centres
    include each point (pigeonhole: 300 - 8 < 296) for any seed; the basis is the 9 points."""
    points = RNG.standard_normal((9, 4))
    X = repeated(points, [100, 60, 40, 30, 25, 15, 12, 10, 8])
    assert len(X) == 300
    y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1) + 0.1 * RNG.standard_normal((300, 2))
    for seed in range(3):
        fit = assert_matches_exact(kernel, X, y, alpha, 296, seed=seed)
        assert fit.basis.size == 9
        assert fit.iterations <= 2 * 9  # a 9 x 9 system per output


def test_few_distinct_points_reproducer():
    """The reported case: 300 rows of 9 distinct points, Gaussian kernel, 50 centres (off by 0.12
    with CG not converging before). With these seeds every point is among the centres."""
    rng = np.random.default_rng(0)
    points = rng.standard_normal((9, 3))
    X = points[rng.integers(0, 9, 300)]
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(300)
    fit = nystrom.nystrom_fit(fk.Gaussian(), X, y, 1e-6, n_centers=50, seed=0)
    assert len(np.unique(fit.centers, axis=0)) == 9  # the premise of an exact answer
    assert_matches_exact(fk.Gaussian(), X, y, 1e-6, 50)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_few_distinct_points_float32(kernel):
    X = repeated(RNG.standard_normal((6, 3)), [20, 15, 10, 8, 4, 3])
    y = np.cos(X[:, 0]) + X[:, 2]
    """6 distinct points (60 rows; 58 centres hold each, as 60 - 3 < 58) in float32: the basis is
    the 6 points, or 4 for the linear kernel's 4 features."""
    fit = assert_matches_exact(kernel, X, y, 1e-3, 58, dtype=np.float32)
    assert fit.basis.size == (4 if isinstance(kernel, fk.Linear) else 6)


# --- duplicated centres among distinct rows ------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-4])
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_duplicated_centres_solve_the_normal_equations(kernel, alpha):
    """40 distinct rows, 10 of them repeated 6 more times (n = 100), 60 centres, which then hold
    duplicates: the solution satisfies the normal equations of all 60 centres,
    ``(K_nm^T K_nm + lambda K_mm) a = K_nm^T y``, and is 0 off a basis of distinct rows."""
    distinct = RNG.standard_normal((40, 4))
    X = repeated(distinct, [7] * 10 + [1] * 30)
    y = np.sin(X[:, 0] + X[:, 1]) + 0.05 * RNG.standard_normal(100)
    fit = nystrom.nystrom_fit(kernel, X, y, alpha, n_centers=60, seed=1, tol=1e-10, max_iter=500)
    assert len(np.unique(fit.centers, axis=0)) < 60  # the premise: duplicated centres
    basis_rows = fit.centers[fit.basis]
    assert len(np.unique(basis_rows, axis=0)) == fit.basis.size
    off_basis = np.setdiff1d(np.arange(60), fit.basis)
    assert np.all(fit.coefficients[off_basis] == 0)
    K_nm = fk.gram(kernel, X, fit.centers)
    K_mm = fk.gram(kernel, fit.centers)
    right = K_nm.T @ y
    left = (K_nm.T @ K_nm + alpha * K_mm) @ fit.coefficients
    assert np.max(np.abs(left - right)) <= 1e-6 * np.max(np.abs(right))


# --- data of low rank ----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-6, 1e-2])
@pytest.mark.parametrize(
    "kernel, rank",
    [(fk.Linear(), 2), (fk.Linear(1.0), 3), (fk.Polynomial(2, coef0=1.0), 6)],
    ids=["linear", "linear-offset", "quadratic"],
)
def test_points_in_a_plane(kernel, rank, alpha):
    """200 points in a 2-D subspace of R^6: the kernel's feature space on them has dimension
    ``rank`` (2 coordinates; with the offset, 3; quadratic, 6), which 30 generic centres span:
    the basis has exactly that size and the answer is exact."""
    X = RNG.standard_normal((200, 2)) @ RNG.standard_normal((2, 6))
    y = np.sin(X[:, 0]) + X[:, 1]
    fit = assert_matches_exact(kernel, X, y, alpha, 30)
    assert fit.basis.size == rank


def test_rank_does_not_depend_on_the_scale_of_one_centre():
    """One row 1e8 times longer than the others: with a floor relative to the largest
    ``k(c, c)``, every other centre would fall below it. The basis is still all 3 directions."""
    X = RNG.standard_normal((60, 3))
    X[0] *= 1e8
    y = RNG.standard_normal(60)
    fit = nystrom.nystrom_fit(fk.Linear(), X, y, 1e-6, n_centers=60, seed=0)
    assert fit.basis.size == 3


# --- all-zero inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-3])
@pytest.mark.parametrize(
    "kernel, rank",
    [
        (fk.Linear(), 0),
        (fk.Linear(1.0), 1),
        (fk.Gaussian(), 1),
        (fk.NTK(2), 0),
        (fk.NTK(2, b_std=0.5), 1),
    ],
    ids=repr,
)
def test_all_zero_inputs(kernel, rank, alpha):
    """X = 0: the kernel is 0 (no basis, f = 0) or a constant (one basis point, f = the
    shrunk mean), never 'not positive semi-definite'."""
    X = np.zeros((30, 3))
    y = RNG.standard_normal(30) + 1.0
    fit = assert_matches_exact(kernel, X, y, alpha, 10)
    assert fit.basis.size == rank
    if rank == 0:
        assert fit.iterations == 0 and fit.converged and np.all(fit.coefficients == 0)


# --- non-finite results raise --------------------------------------------------------------------


def test_overflowing_preconditioner_raises():
    """Rows of norm 1.3e154: ``k(x, x) = 1.69e308`` is finite, but ``(n/m) K_mm^2`` is not."""
    X = RNG.standard_normal((40, 3))
    X *= 1.3e154 / np.linalg.norm(X, axis=1, keepdims=True)
    with pytest.raises(ValueError, match="preconditioner is not finite"):
        nystrom.nystrom_fit(fk.Linear(), X, RNG.standard_normal(40), 1e-3, n_centers=20)


@pytest.mark.parametrize("seed", range(3))
def test_overflowing_conjugate_gradients_raise(seed):
    """Centres of norm about 1 (finite preconditioner) and one other row of norm 1.3e154, whose
    ``K_nm^T K_nm`` overflows in the first CG product: an error, not a NaN prediction."""
    X = RNG.standard_normal((50, 3))
    y = RNG.standard_normal(50)
    centres = nystrom.nystrom_fit(fk.Linear(), X, y, 1e-3, n_centers=25, seed=seed).center_indices
    X[np.setdiff1d(np.arange(50), centres)[0]] = [1.3e154, 0.0, 0.0]
    model = fk.KernelRegressor(
        fk.Linear(), alpha=1e-3, solver="nystrom", n_centers=25, random_state=seed
    )
    with pytest.raises(ValueError, match="conjugate-gradient iterate is not finite"):
        model.fit(X, y)
