"""The worked examples of the seed notes (seed/ntk-notes.md) as tests.

Example 1: a network with two hidden units and one input, ``f_x(w) = A11 phi(B11 x) +
A12 phi(B21 x)``, whose NTK is
``K(x, z) = sum_i phi(B_i x) phi(B_i z) + sum_i A_i^2 phi'(B_i x) phi'(B_i z) x z``.

Theorem 1: one hidden layer, ``f_x = A phi(B x) / sqrt(k)``, ``x`` on the unit sphere, weights
N(0, 1): as ``k -> inf``, ``K(x, z) = phi_check(rho) + phi_check'(rho) rho`` with ``rho = x.z``
and ``phi_check(rho) = E[phi(u) phi(v)]`` for unit-variance ``(u, v)`` of correlation ``rho``.
fastntk's first layer divides by ``d`` (``Sigma_1 = x.z / d``, MATH.md section 3), so the
sphere's points enter fastntk scaled by ``sqrt(d)``: then ``Sigma_1 = rho``.
"""

import math

import numpy as np
import pytest
from scipy.special import erf

import fastntk as fk

ACTIVATIONS = {
    "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
    "erf": (erf, lambda u: 2 / math.sqrt(math.pi) * np.exp(-(u**2))),
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float)),
}

# --- Example 1 ------------------------------------------------------------------------------------


def example_1_network(w, x, phi):
    """``A11 phi(B11 x) + A12 phi(B21 x)``, ``w = [A11, A12, B11, B21]``."""
    a11, a12, b11, b21 = w
    return a11 * phi(b11 * x) + a12 * phi(b21 * x)


def example_1_kernel(w, x, z, phi, phi_prime):
    a = np.array(w[:2])
    b = np.array(w[2:])
    return (
        np.sum(phi(b * x) * phi(b * z)) + np.sum(a**2 * phi_prime(b * x) * phi_prime(b * z)) * x * z
    )


def gradient_by_finite_differences(w, x, phi, step=1e-6):
    w = np.asarray(w, dtype=float)
    gradient = np.empty_like(w)
    for p in range(w.size):
        shift = np.zeros_like(w)
        shift[p] = step
        gradient[p] = (
            example_1_network(w + shift, x, phi) - example_1_network(w - shift, x, phi)
        ) / (2 * step)
    return gradient


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("seed", range(3))
def test_example_1_kernel_is_the_gradient_inner_product(activation, seed):
    phi, phi_prime = ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(4)
    for x, z in rng.uniform(-2, 2, size=(6, 2)):
        expected = gradient_by_finite_differences(w, x, phi) @ gradient_by_finite_differences(
            w, z, phi
        )
        assert example_1_kernel(w, x, z, phi, phi_prime) == pytest.approx(
            expected, rel=1e-7, abs=1e-8
        )


def test_example_1_gradient_has_the_seed_feature_vector():
    """grad_w f_x = [phi(B11 x), phi(B21 x), A11 x phi'(B11 x), A12 x phi'(B21 x)]."""
    phi, phi_prime = ACTIVATIONS["tanh"]
    w = np.array([0.7, -1.3, 0.4, 2.1])
    x = 0.9
    expected = [
        phi(0.4 * x),
        phi(2.1 * x),
        0.7 * x * phi_prime(0.4 * x),
        -1.3 * x * phi_prime(2.1 * x),
    ]
    np.testing.assert_allclose(gradient_by_finite_differences(w, x, phi), expected, rtol=1e-8)


def test_example_1_with_many_units_tends_to_the_one_layer_ntk():
    """With k units and the 1/sqrt(k) of Theorem 1, Example 1's kernel divided by k is a mean
    of k i.i.d. terms; in d = 1, Sigma_1 = x z and its limit is fk.NTK(depth=1). One term
    relu(Bx) relu(Bz) + A^2 1[Bx > 0] 1[Bz > 0] x z has standard deviation <= 2 |x| |z|
    (sqrt of E[...^2] <= (sqrt(3/2) + sqrt(3)) |x||z|); 6 standard deviations are allowed."""
    phi, phi_prime = ACTIVATIONS["relu"]
    k = 400_000
    rng = np.random.default_rng(11)
    a = rng.standard_normal(k)
    b = rng.standard_normal(k)
    points = np.array([-1.5, -0.4, 0.3, 1.0, 2.0])
    kernel = fk.NTK(depth=1, activation="relu")(points[:, None])
    for i, x in enumerate(points):
        for j, z in enumerate(points):
            estimate = (
                np.mean(phi(b * x) * phi(b * z))
                + np.mean(a**2 * phi_prime(b * x) * phi_prime(b * z)) * x * z
            )
            assert abs(estimate - kernel[i, j]) <= 6 * 2 * abs(x * z) / math.sqrt(k)


# --- Theorem 1 ------------------------------------------------------------------------------------


def relu_dual(rho):
    """phi_check of relu, E[relu(u) relu(v)] = (sqrt(1 - rho^2) + (pi - acos rho) rho) / (2 pi)."""
    return (np.sqrt(1 - rho**2) + (np.pi - np.arccos(rho)) * rho) / (2 * np.pi)


def relu_dual_derivative(rho):
    """d/drho of ``relu_dual``: the sqrt terms cancel, leaving (pi - arccos rho) / (2 pi)."""
    return (np.pi - np.arccos(rho)) / (2 * np.pi)


def erf_dual(rho):
    """E[erf(u) erf(v)] = (2/pi) asin(2 rho / 3) for unit variances."""
    return 2 / np.pi * np.arcsin(2 * rho / 3)


def erf_dual_derivative(rho):
    return 4 / np.pi / np.sqrt(9 - 4 * rho**2)


DUALS = {"relu": (relu_dual, relu_dual_derivative), "erf": (erf_dual, erf_dual_derivative)}


def erf_dual_by_quadrature(rho, degree=160):
    """E[erf(u) erf(v)], u = g1, v = rho g1 + sqrt(1 - rho^2) g2, by 2-D Gauss-Hermite."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    weights = weights / math.sqrt(2 * math.pi)
    g1, g2 = np.meshgrid(nodes, nodes, indexing="ij")
    v = rho * g1 + math.sqrt(1 - rho**2) * g2
    return np.sum(np.outer(weights, weights) * erf(g1) * erf(v))


def relu_dual_by_quadrature(rho):
    """E[relu(u) relu(v)] = integral over g1 > 0 of g1 E[relu(rho g1 + s g2)] pdf(g1), with the
    inner mean in closed form, E[relu(m + s g)] = m Phi(m/s) + s pdf(m/s), s = sqrt(1 - rho^2)
    (Gauss-Hermite converges slowly at the kink)."""
    from scipy.integrate import quad
    from scipy.stats import norm

    s = math.sqrt(1 - rho**2)

    def integrand(g):
        m = rho * g
        return g * (m * norm.cdf(m / s) + s * norm.pdf(m / s)) * norm.pdf(g)

    value, _ = quad(integrand, 0, np.inf, epsabs=1e-14, epsrel=1e-13)
    return value


DUALS_BY_QUADRATURE = {"erf": erf_dual_by_quadrature, "relu": relu_dual_by_quadrature}


@pytest.mark.parametrize("activation", list(DUALS))
@pytest.mark.parametrize("rho", [-0.95, -0.5, 0.0, 0.3, 0.8, 0.99])
def test_dual_activations_are_the_gaussian_expectations(activation, rho):
    """The closed forms used below are E[phi(u) phi(v)] (by quadrature) and their derivatives
    are what their names say (central differences)."""
    dual, derivative = DUALS[activation]
    assert dual(rho) == pytest.approx(DUALS_BY_QUADRATURE[activation](rho), abs=1e-11)
    step = 1e-6
    assert derivative(rho) == pytest.approx(
        (dual(rho + step) - dual(rho - step)) / (2 * step), abs=1e-8
    )


def unit_sphere_points(count, d, rng):
    points = rng.standard_normal((count, d))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.mark.parametrize("activation", list(DUALS))
@pytest.mark.parametrize("d", [1, 2, 5, 30])
def test_theorem_1_one_hidden_layer_ntk_on_the_sphere(activation, d):
    rng = np.random.default_rng(d)
    points = unit_sphere_points(10, d, rng)
    if d > 1:  # an exactly repeated point and its antipode
        points = np.vstack([points, points[:1], -points[1:2]])
    rho = np.clip(points @ points.T, -1, 1)
    if d > 1:  # the exact cosines of the repeated point and of its antipode
        rho[0, -2] = rho[-2, 0] = 1.0
        rho[1, -1] = rho[-1, 1] = -1.0
    dual, derivative = DUALS[activation]
    expected = dual(rho) + derivative(rho) * rho
    K = fk.NTK(depth=1, activation=activation, w_std=1.0, b_std=0.0)(math.sqrt(d) * points)
    off = ~np.eye(len(points), dtype=bool)
    np.testing.assert_allclose(K[off], expected[off], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.diag(K), dual(1.0) + derivative(1.0), rtol=1e-14)


@pytest.mark.parametrize("activation", list(DUALS))
def test_theorem_1_nngp_is_the_dual_activation(activation):
    """The NNGP of the same network (only A trained) is phi_check(rho) alone."""
    points = unit_sphere_points(8, 4, np.random.default_rng(3))
    rho = np.clip(points @ points.T, -1, 1)
    K = fk.NNGP(depth=1, activation=activation)(2.0 * points)
    off = ~np.eye(8, dtype=bool)
    np.testing.assert_allclose(K[off], DUALS[activation][0](rho)[off], rtol=1e-10, atol=1e-12)


def test_theorem_1_relu_values_at_special_angles():
    """rho = 1: 1/2 + 1/2; rho = 0: 1/(2 pi) + 0; rho = -1: 0 + 0."""
    points = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]) * math.sqrt(2)
    K = fk.NTK(depth=1, activation="relu")(points)
    np.testing.assert_allclose(K[0, 0], 1.0, rtol=1e-15)
    np.testing.assert_allclose(K[0, 1], 1 / (2 * np.pi), rtol=1e-12)
    assert abs(K[0, 2]) <= 1e-12
