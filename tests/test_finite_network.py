"""``fastntk.FiniteNetwork`` (MATH.md sections 3-5).

References: the test-side network of ``test_feature_maps.py`` (plain NumPy from MATH.md, with its
own forward, backward and layer shares), explicit Jacobians by central differences, the seed's
Example 1 formula (``test_seed_examples.py``), the infinite-width kernels (``fastntk.NTK`` and
``naive.ntk``) and the linearised gradient-descent dynamics iterated step by step.

Convergence with width is measured, not assumed: for each of ``SEEDS`` networks at widths
``NARROW`` and ``WIDE = 16 NARROW`` the test computes the error, and the ratio of the mean errors
must be ``sqrt(16) = 4`` within 3 standard errors. The standard error comes from the spread over
the seeds: ``log(ratio)`` has standard deviation about
``sqrt((s_narrow / m_narrow)^2 + (s_wide / m_wide)^2) / sqrt(SEEDS)`` (``m``, ``s`` the mean and
standard deviation of one network's error). The ``O(1 / width)`` corrections to the
``1 / sqrt(width)`` law shift the ratio by a few percent at these widths (error times
``sqrt(width)`` is constant within 7 % from 64 to 1024), well inside that band.
"""

import math

import naive
import numba
import numpy as np
import pytest
from cases import assert_scaled_close
from scipy.special import erf
from test_feature_maps import Network
from test_seed_examples import example_1_kernel, example_1_network

import fastntk as fk
from fastntk.finite import FiniteNetwork

RNG = np.random.default_rng(31)
X = RNG.standard_normal((8, 3))
Z = 0.8 * RNG.standard_normal((5, 3))
NARROW, WIDE = 64, 1024
SEEDS = 12
#: One Custom activation for all tests: each new one compiles its own loops.
TANH = fk.Custom(numba.njit(lambda u: math.tanh(u)), numba.njit(lambda u: 1 - math.tanh(u) ** 2))


def assert_falls_like_inverse_sqrt_width(narrow_errors, wide_errors, what):
    narrow_errors, wide_errors = np.asarray(narrow_errors), np.asarray(wide_errors)
    ratio = narrow_errors.mean() / wide_errors.mean()
    relative_spreads = [
        errors.std(ddof=1) / errors.mean() for errors in (narrow_errors, wide_errors)
    ]
    standard_error = math.hypot(*relative_spreads) / math.sqrt(len(narrow_errors))
    expected = math.sqrt(WIDE / NARROW)
    assert abs(math.log(ratio / expected)) <= 3 * standard_error, (
        f"{what}: mean error {narrow_errors.mean():.4g} at width {NARROW}, "
        f"{wide_errors.mean():.4g} at {WIDE}: ratio {ratio:.3g}, expected {expected:.3g} "
        f"within a factor exp(3 * {standard_error:.3g})"
    )


# --- the network against the test-side network --------------------------------------------------


@pytest.mark.parametrize(
    "activation, w_std, b_std, depth, frozen",
    [
        ("relu", 1.0, 0.0, 2, 0),
        ("erf", 1.3, 0.4, 2, 1),
        ("abs", 1.0, 0.2, 3, 0),
        ("relu", 1.2, 0.1, 1, 1),
    ],
)
def test_network_and_kernels_match_the_test_side_network(activation, w_std, b_std, depth, frozen):
    network = FiniteNetwork(3, 7, depth, activation, w_std, b_std, frozen=frozen, seed=1)
    reference = Network(3, 7, depth, activation, w_std, b_std, np.random.default_rng(0))
    reference.weights = [weights.copy() for weights in network.weights]
    reference.biases = [biases.copy() for biases in network.biases]
    np.testing.assert_allclose(network(X), reference.output(X), rtol=1e-13, atol=1e-14)
    assert_scaled_close(
        network.empirical_ntk(X, Z), reference.empirical_ntk(X, Z, frozen), 1.0, 1e-13, "NTK"
    )
    assert_scaled_close(
        network.empirical_ntk(X), reference.empirical_ntk(X, X, frozen), 1.0, 1e-13, "NTK(X, X)"
    )
    assert_scaled_close(
        network.empirical_nngp(X, Z), reference.empirical_nngp(X, Z), 1.0, 1e-13, "NNGP"
    )


def test_weights_are_drawn_layer_by_layer_from_the_seed():
    network = FiniteNetwork(2, 3, 2, seed=5)
    rng = np.random.default_rng(5)
    for shape, weights, biases in zip(
        [(3, 2), (3, 3), (1, 3)], network.weights, network.biases, strict=True
    ):
        np.testing.assert_array_equal(weights, rng.standard_normal(shape))
        np.testing.assert_array_equal(biases, rng.standard_normal(shape[0]))


# --- the empirical NTK is the inner product of gradients ------------------------------------------


def trained_parameters(network):
    """The trained arrays (weights and biases above ``frozen``), in a fixed order."""
    layers = range(network.frozen, network.depth + 1)
    return [group[layer] for layer in layers for group in (network.weights, network.biases)]


def finite_difference_jacobian(network, rows, step=1e-6):
    """d f_a(x_i) / d theta_p by central differences, shape (n, n_outputs, n_parameters)."""
    columns = []
    for array in trained_parameters(network):
        flat = array.reshape(-1)  # a view: perturbing it perturbs the network
        for p in range(flat.size):
            original = flat[p]
            flat[p] = original + step
            plus = network(rows).reshape(len(rows), -1)
            flat[p] = original - step
            minus = network(rows).reshape(len(rows), -1)
            flat[p] = original
            columns.append((plus - minus) / (2 * step))
    return np.stack(columns, axis=2)


@pytest.mark.parametrize("activation", ["erf", "relu", TANH])
@pytest.mark.parametrize("frozen, n_outputs", [(0, 1), (1, 1), (0, 2)])
def test_empirical_ntk_is_the_inner_product_of_explicit_gradients(activation, frozen, n_outputs):
    network = FiniteNetwork(
        3, 4, 2, activation, 1.3, 0.5, frozen=frozen, n_outputs=n_outputs, seed=2
    )
    jacobian_x = finite_difference_jacobian(network, X[:4])
    jacobian_z = finite_difference_jacobian(network, Z[:3])
    kernels = network.empirical_ntk(X[:4], Z[:3]).reshape(n_outputs, 4, 3)
    for output in range(n_outputs):
        explicit = jacobian_x[:, output] @ jacobian_z[:, output].T
        np.testing.assert_allclose(kernels[output], explicit, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["relu", "erf", TANH])
@pytest.mark.parametrize("seed", range(3))
def test_seed_example_1_exactly(activation, seed):
    """Example 1, ``f = A11 phi(B11 x) + A12 phi(B21 x)``, is the network with d = 1, two hidden
    units, no biases, ``W_1 = B``, ``W_2 = A`` and the NTK parameterization's ``1 / sqrt(2)`` on
    the output layer (Theorem 1's scaling): ``f = Example 1 / sqrt(2)``. Every gradient then
    carries that factor, so the empirical NTK is Example 1's kernel divided by the width, 2."""
    phi, phi_prime = {
        "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float)),
        "erf": (erf, lambda u: 2 / math.sqrt(math.pi) * np.exp(-(u**2))),
    }.get(activation, (np.tanh, lambda u: 1 - np.tanh(u) ** 2))
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(4)  # [A11, A12, B11, B21]
    network = FiniteNetwork(1, 2, 1, activation, w_std=1.0, b_std=0.0)
    network.weights[0][:] = w[2:, None]
    network.weights[1][:] = w[None, :2]
    points = rng.uniform(-2, 2, size=6)
    example_outputs = [example_1_network(w, x, phi) for x in points]
    np.testing.assert_allclose(
        network(points[:, None]), np.array(example_outputs) / math.sqrt(2), rtol=1e-14
    )
    example_kernel = np.array(
        [[example_1_kernel(w, x, z, phi, phi_prime) for z in points] for x in points]
    )
    np.testing.assert_allclose(
        network.empirical_ntk(points[:, None]), example_kernel / 2, rtol=1e-13, atol=1e-15
    )


# --- convergence to the infinite-width kernels ----------------------------------------------------


@pytest.mark.parametrize(
    "activation, w_std, b_std, depth, frozen",
    [("relu", 1.0, 0.0, 2, 0), ("erf", 1.3, 0.4, 2, 1), ("relu", 1.4, 0.3, 3, 0)],
)
def test_empirical_kernels_converge_like_inverse_sqrt_width(
    activation, w_std, b_std, depth, frozen
):
    """Relative Frobenius error of the empirical NTK and NNGP on (X, Z), per network."""
    targets = {
        "ntk": fk.NTK(depth, activation, w_std, b_std, frozen=frozen)(X, Z),
        "nngp": fk.NNGP(depth, activation, w_std, b_std)(X, Z),
    }
    errors = {(name, width): [] for name in targets for width in (NARROW, WIDE)}
    for width in (NARROW, WIDE):
        for seed in range(SEEDS):
            network = FiniteNetwork(
                3, width, depth, activation, w_std, b_std, frozen=frozen, seed=seed
            )
            empirical = {"ntk": network.empirical_ntk(X, Z), "nngp": network.empirical_nngp(X, Z)}
            for name, target in targets.items():
                error = np.linalg.norm(empirical[name] - target) / np.linalg.norm(target)
                errors[name, width].append(error)
    for name in targets:
        assert_falls_like_inverse_sqrt_width(errors[name, NARROW], errors[name, WIDE], name)


# --- gradient descent -----------------------------------------------------------------------------


def squared_loss(network, rows, targets):
    return 0.5 * np.sum(
        (network(rows).reshape(len(rows), -1) - targets.reshape(len(rows), -1)) ** 2
    )


@pytest.mark.parametrize("activation", ["erf", "relu"])
@pytest.mark.parametrize("frozen, n_outputs", [(0, 1), (1, 2)])
def test_one_gradient_step_follows_the_finite_difference_gradient(activation, frozen, n_outputs):
    """theta_1 - theta_0 = -eta dL/dtheta, L = 1/2 sum |f - y|^2, the gradient by central
    differences of L; frozen layers do not move."""
    network = FiniteNetwork(
        3, 5, 2, activation, 1.2, 0.3, frozen=frozen, n_outputs=n_outputs, seed=4
    )
    targets = np.random.default_rng(4).standard_normal((6, n_outputs)).squeeze()
    rows = X[:6]
    before = [array.copy() for array in network.weights + network.biases]
    step = 1e-6
    gradients = []
    for array in trained_parameters(network):
        flat, gradient = array.reshape(-1), np.empty(array.size)
        for p in range(flat.size):
            original = flat[p]
            flat[p] = original + step
            plus = squared_loss(network, rows, targets)
            flat[p] = original - step
            minus = squared_loss(network, rows, targets)
            flat[p] = original
            gradient[p] = (plus - minus) / (2 * step)
        gradients.append(gradient.reshape(array.shape))
    initial_loss = squared_loss(network, rows, targets)
    learning_rate = 0.05
    network.fit(rows, targets, learning_rate, steps=1)
    assert network.loss_curve_ == pytest.approx([initial_loss], rel=1e-14)
    after = network.weights + network.biases
    depth = network.depth
    for layer in range(frozen):
        np.testing.assert_array_equal(after[layer], before[layer])
        np.testing.assert_array_equal(after[depth + 1 + layer], before[depth + 1 + layer])
    moves = [
        after[group * (depth + 1) + layer] - before[group * (depth + 1) + layer]
        for layer in range(frozen, depth + 1)
        for group in (0, 1)
    ]
    for move, gradient in zip(moves, gradients, strict=True):
        np.testing.assert_allclose(move, -learning_rate * gradient, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("frozen, n_outputs", [(0, 1), (1, 1), (0, 3)])
def test_infinite_width_prediction_is_the_linearised_dynamics(frozen, n_outputs):
    """Against k explicit steps of the linearised gradient descent on the function values, with
    Theta from the NumPy reference: u <- u - eta Theta(., X) (u(X) - y), from u = f_0."""
    network = FiniteNetwork(3, 32, 2, "erf", 1.2, 0.3, frozen=frozen, n_outputs=n_outputs, seed=6)
    targets = np.random.default_rng(6).standard_normal((len(X), n_outputs)).squeeze()
    activation = naive.erf()
    theta_train = naive.ntk(X, X, 2, activation, 1.2, 0.3, frozen)
    theta_test = naive.ntk(Z, X, 2, activation, 1.2, 0.3, frozen)
    learning_rate, steps = 0.9 / np.linalg.eigvalsh(theta_train)[-1], 40
    train, test = network(X), network(Z)
    for _ in range(steps):
        residual = train - targets
        train, test = (
            train - learning_rate * theta_train @ residual,
            test - learning_rate * theta_test @ residual,
        )
    prediction = network.infinite_width_prediction(X, targets, Z, learning_rate, steps)
    np.testing.assert_allclose(prediction, test, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(
        network.infinite_width_prediction(X, targets, Z, learning_rate, 0), network(Z)
    )
    with pytest.raises(ValueError, match="learning_rate"):
        network.infinite_width_prediction(
            X, targets, Z, 2.5 / np.linalg.eigvalsh(theta_train)[-1], 1
        )


@pytest.mark.parametrize(
    "activation, w_std, b_std, depth",
    [("relu", 1.0, 0.0, 1), ("relu", 1.0, 0.2, 2), ("erf", 1.3, 0.3, 1)],
)
def test_gradient_descent_tracks_the_ntk_dynamics_closer_as_width_grows(
    activation, w_std, b_std, depth
):
    """The trained network's test outputs against the infinite-width linearised prediction from
    the same initial outputs (relative to the prediction's change from f_0): the gap is
    O(1 / sqrt(width)) (Lee et al. 2019), so it must fall by about 4 from NARROW to WIDE."""
    rows, test_rows = X, Z
    targets = np.sin(rows.sum(axis=1))
    kernel = fk.NTK(depth, activation, w_std, b_std)
    learning_rate, steps = 1.0 / np.linalg.eigvalsh(kernel(rows))[-1], 30
    gaps = {NARROW: [], WIDE: []}
    for width in gaps:
        for seed in range(SEEDS):
            network = FiniteNetwork(3, width, depth, activation, w_std, b_std, seed=seed)
            initial = network(test_rows)
            expected = network.infinite_width_prediction(
                rows, targets, test_rows, learning_rate, steps
            )
            trained = network.fit(rows, targets, learning_rate, steps)(test_rows)
            gaps[width].append(
                np.linalg.norm(trained - expected) / np.linalg.norm(expected - initial)
            )
    assert_falls_like_inverse_sqrt_width(gaps[NARROW], gaps[WIDE], "gradient descent gap")


# --- other activations, dtypes and bad input ------------------------------------------------------


def test_step_network_trains_only_its_last_layer():
    with pytest.raises(ValueError, match="frozen"):
        FiniteNetwork(3, 8, 1, "step")
    network = FiniteNetwork(3, 8, 2, "step", b_std=0.5, frozen=2, seed=0)
    np.testing.assert_allclose(
        network.empirical_ntk(X, Z), network.empirical_nngp(X, Z), rtol=1e-15
    )
    hidden = [weights.copy() for weights in network.weights[:2]]
    network.fit(X, np.ones(len(X)), 0.01, 5)
    for before, after in zip(hidden, network.weights[:2], strict=True):
        np.testing.assert_array_equal(before, after)
    assert network.loss_curve_[-1] < network.loss_curve_[0]


def test_float32_network_is_the_float64_network_rounded():
    network32 = FiniteNetwork(3, 64, 2, "erf", 1.2, 0.3, seed=9, dtype=np.float32)
    network64 = FiniteNetwork(3, 64, 2, "erf", 1.2, 0.3, seed=9)
    for weights32, weights64 in zip(network32.weights, network64.weights, strict=True):
        np.testing.assert_array_equal(weights32, weights64.astype(np.float32))
    kernel32 = network32.empirical_ntk(X, Z)
    assert kernel32.dtype == np.float32 and network32(X).dtype == np.float32
    scale = np.abs(network64.empirical_ntk(X, Z)).max()
    assert_scaled_close(kernel32, network64.empirical_ntk(X, Z), scale, 1e-5, "float32 NTK")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: FiniteNetwork(0, 8), ValueError, "n_features"),
        (lambda: FiniteNetwork(3, 8.0), TypeError, "width"),
        (lambda: FiniteNetwork(3, 8, depth=0), ValueError, "depth"),
        (lambda: FiniteNetwork(3, 8, activation="softmax"), ValueError, "activation"),
        (lambda: FiniteNetwork(3, 8, w_std=-1.0), ValueError, "w_std"),
        (lambda: FiniteNetwork(3, 8, frozen=2), ValueError, "frozen"),
        (lambda: FiniteNetwork(3, 8, n_outputs=0), ValueError, "n_outputs"),
        (lambda: FiniteNetwork(3, 8, seed="x"), TypeError, "seed"),
        (lambda: FiniteNetwork(3, 8, dtype=np.int64), TypeError, "dtype"),
        (lambda: FiniteNetwork(3, 10**9, depth=3), MemoryError, "GiB"),
        (lambda: FiniteNetwork(3, 8)(X[:, :2]), ValueError, "n_features"),
        (lambda: FiniteNetwork(3, 8).empirical_ntk(X, np.ones((2, 4))), ValueError, "Z"),
        (lambda: FiniteNetwork(3, 8).fit(X, np.ones(3), 0.1, 1), ValueError, "y"),
        (lambda: FiniteNetwork(3, 8, n_outputs=2).fit(X, np.ones(8), 0.1, 1), ValueError, "y"),
        (lambda: FiniteNetwork(3, 8).fit(X, np.ones(8), 0.0, 1), ValueError, "learning_rate"),
        (lambda: FiniteNetwork(3, 8).fit(X, np.ones(8), 0.1, -1), ValueError, "steps"),
        (lambda: FiniteNetwork(3, 8).fit(X, ["a"] * 8, 0.1, 1), TypeError, "y"),
        (lambda: FiniteNetwork(3, 8).fit(X, np.ones(8, "m8[s]"), 0.1, 1), TypeError, "timedelta"),
        (lambda: FiniteNetwork(3, 8).fit(X, np.ones(8, complex), 0.1, 1), ValueError, "Complex"),
    ],
)
def test_bad_input_is_rejected_with_its_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "n_outputs, shape",
    [(1, (7,)), (1, (9,)), (1, (7, 1)), (1, (8, 2)), (2, (8,)), (2, (8, 3)), (2, (7, 2))],
)
@pytest.mark.parametrize("method", ["fit", "infinite_width_prediction"])
def test_wrong_target_shape_is_reported_as_passed(n_outputs, shape, method):
    """The shape in the message is the caller's, not the (n, 1) column it becomes inside."""
    network = FiniteNetwork(3, 8, n_outputs=n_outputs, seed=0)
    call = getattr(network, method)
    extra = (0.1, 1) if method == "fit" else (X, 0.1, 1)
    expected = "(8,)" if n_outputs == 1 else "(8, 2)"
    with pytest.raises(ValueError) as raised:
        call(X, np.ones(shape), *extra)
    assert str(raised.value) == f"y must have shape {expected}, got {shape}"


def test_diverging_gradient_descent_is_reported():
    with pytest.raises(FloatingPointError, match="learning_rate"):
        FiniteNetwork(3, 8, seed=0).fit(X, np.ones(len(X)), 1e6, 200)
