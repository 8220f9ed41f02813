"""The public feature maps of ``fastntk.features`` (MATH.md sections 1 and 4).

Each map is checked against the kernel it estimates and, where one exists, against an
independent reference: the plain NumPy kernels of ``naive.py``, the test-side polynomial map
and the Monte Carlo bounds of ``test_feature_maps.py`` (its docstring states them: max error
over the entries <= 6 standard deviations of one term / sqrt(D), at two D, and a smaller error
at the larger D), and MATH.md's worked example.
"""

import math

import naive
import numba
import numpy as np
import pytest
from cases import assert_scaled_close
from scipy.special import erf
from test_feature_maps import (
    FOURIER_SIGMA,
    X,
    Z,
    double_factorial,
    fourth_moment,
    monte_carlo_errors,
    polynomial_features,
    scale_of,
)

import fastntk as fk
from fastntk import features

BOTH = np.vstack([X, Z])


def gram_of(feature_map, count, rng, **options):
    """``phi(X) phi(Z)^T`` with one draw of the weights for both (X and Z stacked)."""
    phi = feature_map(BOTH, count, seed=rng, **options)
    return phi[: len(X)] @ phi[len(X) :].T


# --- polynomial ---------------------------------------------------------------------------------


@pytest.mark.parametrize("degree", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("gamma", [None, 0.5])
@pytest.mark.parametrize("coef0", [0.0, 1.0, 3.0])
def test_polynomial_features_give_the_polynomial_kernel(degree, gamma, coef0):
    phi_x = features.polynomial(X, degree, gamma, coef0)
    phi_z = features.polynomial(Z, degree, gamma, coef0)
    reference = naive.polynomial(X, Z, degree, gamma, coef0)
    scale = scale_of(
        naive.polynomial_diag(X, degree, gamma, coef0),
        naive.polynomial_diag(Z, degree, gamma, coef0),
    )
    assert_scaled_close(phi_x @ phi_z.T, reference, scale, 1e-13, "features vs naive")
    kernel = fk.Polynomial(degree=degree, gamma=gamma, coef0=coef0)
    assert_scaled_close(phi_x @ phi_z.T, kernel(X, Z), scale, 1e-13, "features vs fastntk")


@pytest.mark.parametrize("degree", [1, 2, 4])
@pytest.mark.parametrize("coef0", [0.0, 2.0])
def test_polynomial_features_are_the_monomials_of_the_test_map(degree, coef0):
    """The same scaled monomials as the test-side map (which builds each from
    itertools.combinations_with_replacement and its multinomial coefficient), up to order;
    with coef0 = 0 the test map's columns holding sqrt(coef0) are zero and left out here."""
    ours = features.polynomial(X, degree, 0.7, coef0)
    theirs = polynomial_features(X, degree, 0.7, coef0)
    theirs = theirs[:, np.any(theirs != 0, axis=0)]
    n_variables = X.shape[1] + (coef0 > 0)
    assert ours.shape == theirs.shape == (len(X), math.comb(n_variables + degree - 1, degree))
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(theirs, axis=1), rtol=1e-13)


def test_polynomial_features_match_the_math_md_example():
    """MATH.md: d = 2, degree 2, coef0 = 0 (gamma = 1) gives [x1^2, sqrt(2) x1 x2, x2^2]."""
    x1, x2 = 1.5, -2.0
    expected = [[x1**2, math.sqrt(2) * x1 * x2, x2**2]]
    np.testing.assert_allclose(
        features.polynomial([[x1, x2]], degree=2, gamma=1.0, coef0=0.0), expected, rtol=1e-15
    )


def test_polynomial_features_in_float32():
    phi32 = features.polynomial(X, 3, None, 1.0, dtype=np.float32)
    assert phi32.dtype == np.float32
    np.testing.assert_allclose(phi32, features.polynomial(X, 3, None, 1.0), rtol=1e-5, atol=1e-6)


def test_polynomial_features_too_many_to_fit_fail_before_allocating():
    """C(1000 + 11, 10) ~ 1e23 features: a MemoryError that says how much, not an attempt."""
    with pytest.raises(MemoryError, match="GiB"):
        features.polynomial(np.ones((5, 1000)), degree=10)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"coef0": -1.0}, ValueError, "coef0"),
        ({"degree": -1}, ValueError, "degree"),
        ({"degree": 2.5}, TypeError, "degree"),
        ({"gamma": 0.0}, ValueError, "gamma"),
        ({"dtype": np.int32}, TypeError, "dtype"),
    ],
)
def test_polynomial_features_reject_bad_parameters(options, error, message):
    with pytest.raises(error, match=message):
        features.polynomial(X, **options)


# --- random Fourier features --------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [fk.Gaussian(0.7), fk.Gaussian(2.0), fk.Laplacian(0.7)])
def test_random_fourier_features_estimate_the_kernel(kernel):
    def estimate(count, rng):
        return gram_of(features.random_fourier, count, rng, kernel=kernel)

    reference = naive.gaussian if isinstance(kernel, fk.Gaussian) else naive.laplacian
    exact = reference(X, Z, kernel.lengthscale)
    assert_scaled_close(kernel(X, Z), exact, 1.0, 1e-13, "fastntk vs naive")
    monte_carlo_errors(estimate, exact, FOURIER_SIGMA)


# --- random first layers: the depth-1 NNGP ------------------------------------------------------


#: One Custom activation for all tests: each new one compiles its own Gram loops.
TANH = fk.Custom(numba.njit(lambda u: math.tanh(u)), numba.njit(lambda u: 1 - math.tanh(u) ** 2))


#: Each activation beside its plain NumPy function (for the fourth moments of the bound).
NNGP_ACTIVATIONS = {
    "relu": ("relu", lambda u: np.maximum(u, 0.0)),
    "erf": ("erf", erf),
    "abs": ("abs", np.abs),
    "step": ("step", lambda u: (u > 0).astype(float)),
    "leaky_relu": (fk.LeakyReLU(0.2), lambda u: np.where(u > 0, u, 0.2 * u)),
    "tanh": (TANH, np.tanh),
}


@pytest.mark.parametrize("name", list(NNGP_ACTIVATIONS))
@pytest.mark.parametrize("w_std, b_std", [(1.0, 0.0), (1.5, 0.4)])
def test_random_features_estimate_the_depth_1_nngp(name, w_std, b_std):
    """One term ``w^2 phi(u) phi(v)`` has standard deviation at most
    ``w^2 (E[phi(u)^4] E[phi(v)^4])^(1/4)`` (Cauchy-Schwarz); the constant feature b_std adds
    the exact ``b_std^2``."""
    activation, phi = NNGP_ACTIVATIONS[name]
    d = X.shape[1]

    def estimate(count, rng):
        return gram_of(
            features.random_features, count, rng, activation=activation, w_std=w_std, b_std=b_std
        )

    variance_x = w_std**2 * np.sum(X**2, 1) / d + b_std**2
    variance_z = w_std**2 * np.sum(Z**2, 1) / d + b_std**2
    moments_x = np.array([fourth_moment(phi, v) for v in variance_x])
    moments_z = np.array([fourth_moment(phi, v) for v in variance_z])
    sigma = w_std**2 * np.outer(moments_x, moments_z) ** 0.25
    monte_carlo_errors(estimate, fk.NNGP(1, activation, w_std, b_std)(X, Z), sigma)


def test_random_features_end_with_the_bias_feature():
    phi = features.random_features(X, 50, "erf", w_std=1.2, b_std=0.3, seed=1)
    assert phi.shape == (len(X), 51)
    np.testing.assert_array_equal(phi[:, -1], 0.3)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arc_cosine_features_estimate_the_arc_cosine_kernel(order):
    """One term ``2 H(u) H(v) u^q v^q`` has standard deviation at most
    ``sqrt(2 (4q - 1)!!) (|x| |z|)^q`` (test_feature_maps.py)."""

    def estimate(count, rng):
        return gram_of(features.arc_cosine, count, rng, order=order)

    norms = np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1)) ** order
    sigma = math.sqrt(2 * double_factorial(4 * order - 1)) * norms
    exact = naive.arc_cosine(X, Z, order)
    assert_scaled_close(fk.ArcCosine(order)(X, Z), exact, norms, 1e-12, "fastntk vs naive")
    monte_carlo_errors(estimate, exact, sigma)


# --- seeds and dtypes of the random maps --------------------------------------------------------

RANDOM_MAPS = {
    "fourier-gaussian": lambda A, **kw: features.random_fourier(A, 64, fk.Gaussian(1.3), **kw),
    "fourier-laplacian": lambda A, **kw: features.random_fourier(A, 64, fk.Laplacian(1.3), **kw),
    "nngp-erf": lambda A, **kw: features.random_features(A, 64, "erf", 1.2, 0.5, **kw),
    "arc-cosine": lambda A, **kw: features.arc_cosine(A, 64, 1, **kw),
}


@pytest.mark.parametrize("name", list(RANDOM_MAPS))
def test_one_integer_seed_gives_the_same_weights_for_any_rows(name):
    random_map = RANDOM_MAPS[name]
    stacked = random_map(BOTH, seed=7)
    np.testing.assert_array_equal(random_map(X, seed=7), stacked[: len(X)])
    np.testing.assert_array_equal(random_map(Z, seed=7), stacked[len(X) :])
    np.testing.assert_array_equal(
        random_map(X, seed=np.random.default_rng(7)), random_map(X, seed=7)
    )
    assert not np.allclose(random_map(X, seed=8), stacked[: len(X)])
    rng = np.random.default_rng(7)
    first, second = random_map(X, seed=rng), random_map(X, seed=rng)
    assert not np.allclose(first, second), "a Generator must be advanced by each call"


@pytest.mark.parametrize("name", list(RANDOM_MAPS))
def test_float32_features_are_the_float64_ones_rounded(name):
    random_map = RANDOM_MAPS[name]
    phi32, phi64 = random_map(X, seed=3, dtype=np.float32), random_map(X, seed=3)
    assert phi32.dtype == np.float32 and phi64.dtype == np.float64
    # float32 inputs, weights and products: a few float32 roundings of values of order |W x|.
    scale = 1 + np.abs(X).sum(axis=1, keepdims=True) * 4
    assert_scaled_close(phi32, phi64, scale, 1e-5, "float32 vs float64")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: features.random_fourier(X, 0), ValueError, "n_features"),
        (lambda: features.random_fourier(X, 10, fk.ArcCosine(1)), TypeError, "kernel"),
        (lambda: features.random_fourier(X, 10, seed="a"), TypeError, "seed"),
        (lambda: features.random_fourier(X, 10, seed=-1), ValueError, "seed"),
        (lambda: features.random_fourier(X[0], 10), ValueError, "X"),
        (lambda: features.random_features(X, 10, "softmax"), ValueError, "activation"),
        (lambda: features.random_features(X, 10, w_std=0.0), ValueError, "w_std"),
        (lambda: features.random_features(X, 10, b_std=-1.0), ValueError, "b_std"),
        (lambda: features.random_features(X, 2.0), TypeError, "width"),
        (lambda: features.arc_cosine(X, 10, order=3), ValueError, "order"),
        (lambda: features.arc_cosine(X, 10**15), MemoryError, "GiB"),
    ],
)
def test_random_maps_reject_bad_input_before_drawing(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- activations as NumPy functions -------------------------------------------------------------

ELEMENTWISE = [
    ("relu", lambda u: np.maximum(u, 0.0)),
    ("abs", np.abs),
    ("identity", lambda u: u),
    (fk.LeakyReLU(0.1), lambda u: np.where(u > 0, u, 0.1 * u)),
    (fk.ABReLU(-0.5, 2.0), lambda u: np.where(u > 0, 2.0 * u, -0.5 * u)),
    ("erf", erf),
    ("step", lambda u: (u > 0).astype(float)),
    (TANH, np.tanh),
]


@pytest.mark.parametrize("activation, reference", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_activations_and_their_derivatives(activation, reference, dtype):
    """The function against a plain formula; the derivative against central differences (away
    from the kinks at 0); both keep the dtype."""
    functions = features.elementwise(activation)
    u = np.linspace(-3, 3, 40).astype(dtype)  # no point at 0
    values = functions.function(u)
    assert values.dtype == dtype
    np.testing.assert_allclose(values, reference(u.astype(np.float64)), rtol=1e-6, atol=1e-7)
    if functions.derivative is None:
        assert not fk.activations.as_activation(activation).has_derivative
        return
    derivative = functions.derivative(u)
    assert derivative.dtype == dtype
    step = 1e-6
    u64 = u.astype(np.float64)
    expected = (reference(u64 + step) - reference(u64 - step)) / (2 * step)
    np.testing.assert_allclose(derivative, expected, rtol=1e-5, atol=1e-6)
