"""Kernels against explicit feature maps built here in plain NumPy (MATH.md sections 1 and 4).

Exact maps (linear, polynomial) must agree to rounding. Random feature maps are Monte Carlo
estimates: the mean of D i.i.d. terms with standard deviation sigma per entry, so the error is
about sigma / sqrt(D). Each test states sigma from a bound on the variance of one term and
asserts max error <= 6 sigma / sqrt(D) over the 100-odd entries (with fixed seeds; a Gaussian
6-sigma excursion has probability 2e-9 per entry), at two D, and that the larger D does better.
"""

import itertools
import math

import numpy as np
import pytest
from cases import assert_scaled_close

import fastntk as fk

RNG = np.random.default_rng(2024)
X = RNG.standard_normal((8, 3))
Z = 0.7 * RNG.standard_normal((5, 3))
SAMPLES = np.vstack([X, Z])
N_SIGMA = 6
FEATURE_COUNTS = (2000, 32000)


def scale_of(K_xx_diagonal, K_zz_diagonal):
    return np.sqrt(np.outer(np.abs(K_xx_diagonal), np.abs(K_zz_diagonal)))


# --- exact feature maps -------------------------------------------------------------------------


def linear_features(X, c):
    return np.hstack([X, np.full((len(X), 1), math.sqrt(c))])


def polynomial_features(X, degree, gamma, coef0):
    """All monomials of degree ``degree`` in ``x~ = [sqrt(gamma) x, sqrt(coef0)]``, each scaled
    by the square root of its multinomial coefficient ``degree! / prod(a_i!)``."""
    extended = np.hstack([math.sqrt(gamma) * X, np.full((len(X), 1), math.sqrt(coef0))])
    columns = []
    for indices in itertools.combinations_with_replacement(range(extended.shape[1]), degree):
        counts = np.bincount(indices, minlength=extended.shape[1])
        multinomial = math.factorial(degree) / math.prod(math.factorial(a) for a in counts)
        columns.append(math.sqrt(multinomial) * np.prod(extended**counts, axis=1))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("c", [0.0, 0.5, 4.0])
def test_linear_equals_its_feature_map(c):
    phi_x, phi_z = linear_features(X, c), linear_features(Z, c)
    scale = scale_of(np.sum(phi_x**2, 1), np.sum(phi_z**2, 1))
    assert_scaled_close(fk.Linear(c)(X, Z), phi_x @ phi_z.T, scale, 1e-12)
    assert_scaled_close(
        fk.Linear(c)(X), phi_x @ phi_x.T, scale_of(*[np.sum(phi_x**2, 1)] * 2), 1e-12
    )


@pytest.mark.parametrize("degree", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("gamma", [None, 0.5, 2.0])
@pytest.mark.parametrize("coef0", [0.0, 1.0, 3.0])
def test_polynomial_equals_its_feature_map(degree, gamma, coef0):
    g = 1.0 / X.shape[1] if gamma is None else gamma
    phi_x = polynomial_features(X, degree, g, coef0)
    phi_z = polynomial_features(Z, degree, g, coef0)
    kernel = fk.Polynomial(degree=degree, gamma=gamma, coef0=coef0)
    norms_x, norms_z = np.sum(phi_x**2, 1), np.sum(phi_z**2, 1)
    assert_scaled_close(kernel(X, Z), phi_x @ phi_z.T, scale_of(norms_x, norms_z), 1e-12)
    assert_scaled_close(kernel(X), phi_x @ phi_x.T, scale_of(norms_x, norms_x), 1e-12)


def test_polynomial_feature_map_matches_math_md_example():
    """MATH.md: d = 2, p = 2, coef0 = 0 gives [x1^2, sqrt(2) x1 x2, x2^2] (gamma = 1)."""
    x = np.array([[1.5, -2.0]])
    expected = np.array([[1.5**2, math.sqrt(2) * 1.5 * -2.0, 4.0, 0.0, 0.0, 0.0]])
    features = polynomial_features(x, 2, 1.0, 0.0)
    np.testing.assert_allclose(np.sort(np.abs(features)), np.sort(np.abs(expected)), rtol=1e-15)


# --- random Fourier features --------------------------------------------------------------------


def fourier_features(X, W, offsets):
    """``sqrt(2/D) cos(W x + b)``."""
    return math.sqrt(2.0 / W.shape[0]) * np.cos(X @ W.T + offsets)


# One term of phi(x).phi(z) is 2 cos(w.x + b) cos(w.z + b) = cos(w.(x - z)) + cos(w.(x + z) + 2b);
# the two parts are uncorrelated (b uniform), so Var <= E[cos^2] + 1/2 <= 1.5: sigma = sqrt(1.5).
FOURIER_SIGMA = math.sqrt(1.5)


def monte_carlo_errors(estimate, exact, sigma):
    """Max error of ``estimate(D, rng)`` over entries, for each D, with its bound."""
    errors = []
    for seed, count in enumerate(FEATURE_COUNTS):
        error = np.max(np.abs(estimate(count, np.random.default_rng(seed)) - exact) / sigma)
        errors.append(error)
        assert error <= N_SIGMA / math.sqrt(count), (
            f"D = {count}: max error / sigma = {error:.4g} > {N_SIGMA}/sqrt(D) = "
            f"{N_SIGMA / math.sqrt(count):.4g}"
        )
    assert errors[1] < errors[0], f"error did not shrink with D: {errors}"


@pytest.mark.parametrize("lengthscale", [0.7, 2.0])
def test_gaussian_is_the_mean_of_random_fourier_features(lengthscale):
    def estimate(count, rng):
        W = rng.standard_normal((count, 3)) / lengthscale
        offsets = rng.uniform(0, 2 * np.pi, count)
        return fourier_features(X, W, offsets) @ fourier_features(Z, W, offsets).T

    monte_carlo_errors(estimate, fk.Gaussian(lengthscale)(X, Z), FOURIER_SIGMA)


@pytest.mark.parametrize("lengthscale", [0.7, 2.0])
def test_laplacian_is_the_mean_of_cauchy_fourier_features(lengthscale):
    """E[cos(w.(x - z))] with w_k i.i.d. Cauchy(0, 1/l) is prod_k exp(-|x_k - z_k| / l)."""

    def estimate(count, rng):
        W = rng.standard_cauchy((count, 3)) / lengthscale
        offsets = rng.uniform(0, 2 * np.pi, count)
        return fourier_features(X, W, offsets) @ fourier_features(Z, W, offsets).T

    monte_carlo_errors(estimate, fk.Laplacian(lengthscale)(X, Z), FOURIER_SIGMA)


# --- random step / relu features (arc-cosine) ---------------------------------------------------


def double_factorial(k):
    return 1 if k <= 0 else k * double_factorial(k - 2)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arc_cosine_is_the_mean_of_random_threshold_features(order):
    """phi(x) = sqrt(2/D) step(W x) (W x)^q, W ~ N(0, I). One term 2 H(u) H(v) u^q v^q with
    u = w.x: E[term^2] <= 4 sqrt(E[H(u) u^4q] E[H(v) v^4q]) = 2 (4q-1)!! (|x||z|)^2q, so
    sigma = sqrt(2 (4q-1)!!) (|x| |z|)^q; errors are measured in units of it."""

    def features(X, W):
        projections = X @ W.T
        return math.sqrt(2.0 / W.shape[0]) * (projections > 0) * projections**order

    def estimate(count, rng):
        W = rng.standard_normal((count, 3))
        return features(X, W) @ features(Z, W).T

    norms = np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1)) ** order
    sigma = math.sqrt(2 * double_factorial(4 * order - 1)) * norms
    monte_carlo_errors(estimate, fk.ArcCosine(order)(X, Z), sigma)


# --- one hidden layer: NNGP from random features ------------------------------------------------

ACTIVATION_FUNCTIONS = {
    "relu": lambda u: np.maximum(u, 0.0),
    "erf": None,  # filled below (scipy)
    "abs": np.abs,
    "step": lambda u: (u > 0).astype(float),
}
try:
    from scipy.special import erf as _erf

    ACTIVATION_FUNCTIONS["erf"] = _erf
except ImportError:  # pragma: no cover - scipy is a dependency of fastntk
    del ACTIVATION_FUNCTIONS["erf"]


def fourth_moment(phi, variance, degree=80):
    """E[phi(u)^4], u ~ N(0, variance), by Gauss-Hermite quadrature (numpy)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    return np.sum(weights * phi(math.sqrt(variance) * nodes) ** 4) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("activation", list(ACTIVATION_FUNCTIONS))
@pytest.mark.parametrize("w_std, b_std", [(1.0, 0.0), (1.5, 0.4)])
def test_nngp_depth_1_is_the_mean_of_random_network_features(activation, w_std, b_std):
    """(w^2/k) phi(h(x)).phi(h(z)) + b^2 with h = w B x + b beta, B ~ N(0, 1/d), beta ~ N(0, 1)
    (MATH.md sections 3-4; w = 1, b = 0 is phi(Bx).phi(Bz) / k). One term w^2 phi(u) phi(v)
    has sigma <= w^2 (E[phi(u)^4] E[phi(v)^4])^(1/4) (Cauchy-Schwarz)."""
    phi = ACTIVATION_FUNCTIONS[activation]
    d = X.shape[1]

    def estimate(count, rng):
        B = rng.standard_normal((count, d)) / math.sqrt(d)
        beta = rng.standard_normal(count)
        features_x = phi(w_std * X @ B.T + b_std * beta)
        features_z = phi(w_std * Z @ B.T + b_std * beta)
        return w_std**2 / count * features_x @ features_z.T + b_std**2

    variance_x = w_std**2 * np.sum(X**2, 1) / d + b_std**2
    variance_z = w_std**2 * np.sum(Z**2, 1) / d + b_std**2
    moments_x = np.array([fourth_moment(phi, v) for v in variance_x])
    moments_z = np.array([fourth_moment(phi, v) for v in variance_z])
    sigma = w_std**2 * np.outer(moments_x, moments_z) ** 0.25
    monte_carlo_errors(estimate, fk.NNGP(1, activation, w_std, b_std)(X, Z), sigma)


# --- finite-width networks: the empirical NNGP and NTK ------------------------------------------

DERIVATIVES = {
    "relu": lambda u: (u > 0).astype(float),
    "erf": lambda u: 2 / math.sqrt(math.pi) * np.exp(-(u**2)),
    "abs": np.sign,
}


class Network:
    """A fully-connected network in NTK parameterization (MATH.md section 3), weights N(0, 1):
    ``h1 = w W1 x / sqrt(d) + b b1``, ``a_l = phi(h_l)``,
    ``h_{l+1} = w W_{l+1} a_l / sqrt(width) + b b_{l+1}``, output ``f = h_{L+1}`` (scalar)."""

    def __init__(self, d, width, depth, activation, w_std, b_std, rng):
        self.phi = ACTIVATION_FUNCTIONS[activation]
        self.phi_prime = DERIVATIVES[activation]
        self.w_std, self.b_std = w_std, b_std
        sizes = [d] + [width] * depth + [1]
        self.weights = [
            rng.standard_normal((n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]

    def forward(self, X):
        """Activations ``a_0 = x, a_1, ..., a_L`` and pre-activations ``h_1 .. h_{L+1}``
        (rows are samples)."""
        activations, preactivations = [X], []
        for index, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = activations[-1]
            h = self.w_std * a @ W.T / math.sqrt(W.shape[1]) + self.b_std * b
            preactivations.append(h)
            if index < len(self.weights) - 1:
                activations.append(self.phi(h))
        return activations, preactivations

    def output(self, X):
        return self.forward(X)[1][-1][:, 0]

    def backward(self, preactivations):
        """``delta_l = df/dh_l`` for l = 1 .. L+1 (each (n, n_l))."""
        deltas = [np.ones_like(preactivations[-1])]
        for index in range(len(self.weights) - 1, 0, -1):
            W = self.weights[index]
            upstream = self.w_std * deltas[0] @ W / math.sqrt(W.shape[1])
            deltas.insert(0, self.phi_prime(preactivations[index - 1]) * upstream)
        return deltas

    def layer_shares(self, X, Z):
        """Each layer's share of <grad f(x), grad f(z)> from ``df/dW_l = delta_l a_{l-1}^T``:
        ``(delta_l(x).delta_l(z)) (w^2 a_{l-1}(x).a_{l-1}(z) / n_{l-1} + b^2)``."""
        activations_x, pre_x = self.forward(X)
        activations_z, pre_z = self.forward(Z)
        deltas_x, deltas_z = self.backward(pre_x), self.backward(pre_z)
        shares = []
        for a_x, a_z, delta_x, delta_z in zip(
            activations_x, activations_z, deltas_x, deltas_z, strict=True
        ):
            inputs = self.w_std**2 * a_x @ a_z.T / a_x.shape[1] + self.b_std**2
            shares.append((delta_x @ delta_z.T) * inputs)
        return shares

    def empirical_ntk(self, X, Z, frozen=0):
        """Sum of the shares of the trained layers ``frozen + 1 .. L + 1``."""
        return sum(self.layer_shares(X, Z)[frozen:])

    def empirical_nngp(self, X, Z):
        activations_x, _ = self.forward(X)
        activations_z, _ = self.forward(Z)
        a_x, a_z = activations_x[-1], activations_z[-1]
        return self.w_std**2 * a_x @ a_z.T / a_x.shape[1] + self.b_std**2

    # flat parameters, only to check the layer-share identity against finite differences
    def parameters(self):
        return np.concatenate(
            [p.ravel() for pair in zip(self.weights, self.biases, strict=True) for p in pair]
        )

    def set_parameters(self, flat):
        offset = 0
        for index in range(len(self.weights)):
            for group in (self.weights, self.biases):
                size = group[index].size
                group[index] = flat[offset : offset + size].reshape(group[index].shape)
                offset += size


def finite_difference_jacobian(network, X, step=1e-6):
    """d f(x_i) / d theta_p by central differences: (n, n_parameters)."""
    theta = network.parameters()
    columns = []
    for p in range(theta.size):
        shifted = theta.copy()
        shifted[p] += step
        network.set_parameters(shifted)
        plus = network.output(X)
        shifted[p] -= 2 * step
        network.set_parameters(shifted)
        minus = network.output(X)
        columns.append((plus - minus) / (2 * step))
    network.set_parameters(theta)
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("activation", ["erf", "relu"])
@pytest.mark.parametrize("w_std, b_std", [(1.0, 0.0), (1.3, 0.5)])
def test_layer_share_identity_equals_the_gradient_inner_product(activation, w_std, b_std):
    """The test network's NTK formula is checked against an explicit Jacobian (central
    differences) on a tiny network: the identity the convergence test relies on."""
    network = Network(3, 4, 2, activation, w_std, b_std, np.random.default_rng(5))
    jacobian_x = finite_difference_jacobian(network, X[:4])
    jacobian_z = finite_difference_jacobian(network, Z[:3])
    n_weights = [W.size + b.size for W, b in zip(network.weights, network.biases, strict=True)]
    starts = np.cumsum([0] + n_weights)
    explicit = [
        jacobian_x[:, s:e] @ jacobian_z[:, s:e].T
        for s, e in zip(starts[:-1], starts[1:], strict=True)
    ]
    shares = network.layer_shares(X[:4], Z[:3])
    for layer, (share, expected) in enumerate(zip(shares, explicit, strict=True), start=1):
        np.testing.assert_allclose(share, expected, rtol=1e-6, atol=1e-7, err_msg=f"layer {layer}")
    np.testing.assert_allclose(
        network.empirical_ntk(X[:4], Z[:3]), jacobian_x @ jacobian_z.T, rtol=1e-6, atol=1e-7
    )


WIDTHS = (128, 2048)
SEEDS = range(4)


def mean_scaled_error(estimates, exact, scale):
    """Mean over seeds of the max over entries of |estimate - exact| / scale."""
    return np.mean([np.max(np.abs(estimate - exact) / scale) for estimate in estimates])


@pytest.mark.parametrize(
    "activation, w_std, b_std, depth, frozen",
    [
        ("relu", 1.0, 0.0, 2, 0),
        ("relu", 1.4, 0.3, 2, 1),
        ("erf", 1.2, 0.2, 2, 0),
        ("abs", 1.0, 0.1, 1, 0),
    ],
)
def test_empirical_ntk_and_nngp_converge_with_width(activation, w_std, b_std, depth, frozen):
    """Finite-width kernels fluctuate around the infinite-width ones by O(1/sqrt(width)): the
    mean (over seeds) of the max scaled error must fall with width, by about sqrt(16) = 4 here;
    at least 2 is asserted. Bound C / sqrt(width), C = 10: one term of a layer's average of
    ``width`` terms has standard deviation <= sqrt(6) ~ 2.4 times the scale for relu
    (Cauchy-Schwarz as in the NNGP test: E[relu(u)^4] = 3 v^2 / 2 for u ~ N(0, v), against
    a mean of v / 2), less for erf/abs; two layers add, and the max over 40 entries is ~2
    standard deviations (observed: C ~ 2-5)."""
    ntk = fk.NTK(depth, activation, w_std, b_std, frozen=frozen)
    nngp = fk.NNGP(depth, activation, w_std, b_std)
    targets = {
        "ntk": (ntk(X, Z), scale_of(ntk.diag(X), ntk.diag(Z))),
        "nngp": (nngp(X, Z), scale_of(nngp.diag(X), nngp.diag(Z))),
    }
    errors = {name: [] for name in targets}
    for width in WIDTHS:
        networks = [
            Network(3, width, depth, activation, w_std, b_std, np.random.default_rng(seed))
            for seed in SEEDS
        ]
        empirical_ntks = [network.empirical_ntk(X, Z, frozen) for network in networks]
        empirical_nngps = [network.empirical_nngp(X, Z) for network in networks]
        errors["ntk"].append(mean_scaled_error(empirical_ntks, *targets["ntk"]))
        errors["nngp"].append(mean_scaled_error(empirical_nngps, *targets["nngp"]))
    for name, (narrow, wide) in errors.items():
        assert wide < narrow / 2, (
            f"{name}: error {narrow:.3g} at width {WIDTHS[0]}, {wide:.3g} at {WIDTHS[1]}"
        )
        assert wide < 10 / math.sqrt(WIDTHS[1]), f"{name}: error {wide:.3g} at width {WIDTHS[1]}"
