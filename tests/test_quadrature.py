"""``fk.Custom`` activations (Gauss-Hermite quadrature of the dual) against the closed forms.

Custom kernels compile per function (they are not cached on disk), so this module uses one
pair of functions per activation.
"""

import math

import numba
import numpy as np
import pytest

import fastntk as fk


@numba.njit
def relu(u):
    return max(u, 0.0)


@numba.njit
def relu_derivative(u):
    return 1.0 if u > 0 else 0.0


@numba.njit
def erf(u):
    return math.erf(u)


@numba.njit
def erf_derivative(u):
    return 2.0 / math.sqrt(math.pi) * math.exp(-u * u)


X = np.random.default_rng(0).standard_normal((7, 3))
Z = np.random.default_rng(1).standard_normal((4, 3))
#: Gauss-Hermite nodes sit at fixed points of the standard normal variable g, and the integrand
#: is phi(s g): for erf, a transition of width ~1/s. With pre-activation variance s^2 <= ~0.5
#: (these inputs, w_std = 1, b_std = 0.1) degree 32 resolves it; see the large-variance test.
X_MODERATE = 0.5 * X
Z_MODERATE = 0.5 * Z


def scaled_error(kernel, exact, X=X, Z=Z):
    """Max over K(X, X) and K(X, Z) of |error| / sqrt(K(x, x) K(z, z))."""
    errors = []
    for args in ((X,), (X, Z)):
        scale = np.sqrt(np.outer(exact.diag(args[0]), exact.diag(args[-1])))
        errors.append(np.max(np.abs(kernel(*args) - exact(*args)) / scale))
    return max(errors)


@pytest.mark.filterwarnings("ignore::fastntk.QuadratureWarning")  # large errors, on purpose
@pytest.mark.parametrize("kind, min_gain", [("nngp", 3.0), ("ntk", 2.0)])
def test_relu_quadrature_error_falls_with_degree(kind, min_gain):
    """relu has a kink and its derivative a jump: Gauss-Hermite converges algebraically, not
    spectrally (observed: about degree^-1 for the NNGP, degree^-0.6 for the NTK, whose Td is
    the expectation of a product of steps). Each fourfold increase of the degree must cut the
    error by ``min_gain``. relu(s g) = s relu(g), so the input scale does not matter here."""
    errors = []
    for degree in (8, 32, 128):
        custom = fk.Custom(relu, relu_derivative, degree=degree)
        if kind == "nngp":
            kernel, exact = fk.NNGP(2, custom, 1.3, 0.2), fk.NNGP(2, "relu", 1.3, 0.2)
        else:
            kernel, exact = fk.NTK(2, custom, 1.3, 0.2), fk.NTK(2, "relu", 1.3, 0.2)
        errors.append(scaled_error(kernel, exact))
    assert errors[0] < 0.15, errors  # 0.115 for the NTK with the rule symmetric in (x, z)
    assert errors[1] < errors[0] / min_gain and errors[2] < errors[1] / min_gain, errors
    assert errors[2] < 0.02, errors


@pytest.mark.parametrize("depth, frozen", [(1, 0), (3, 0), (3, 2)])
def test_erf_quadrature_is_accurate_at_degree_32(depth, frozen):
    custom = fk.Custom(erf, erf_derivative, degree=32)
    for kernel, exact in [
        (fk.NTK(depth, custom, 1.0, 0.1, frozen), fk.NTK(depth, "erf", 1.0, 0.1, frozen)),
        (fk.NNGP(depth, custom, 1.0, 0.1), fk.NNGP(depth, "erf", 1.0, 0.1)),
    ]:
        assert scaled_error(kernel, exact, X_MODERATE, Z_MODERATE) < 1e-8


@pytest.mark.filterwarnings("ignore::fastntk.QuadratureWarning")  # large errors, on purpose
def test_erf_quadrature_error_falls_with_degree_at_large_variance():
    """Standard normal inputs with w_std = 1.2, b_std = 0.3: pre-activation variances up to ~4,
    where degree 32 is off by about 1e-2 (the fixed nodes under-resolve erf(s g) and the
    bump erf'(s g)); the error must still fall fast with the degree: below 1e-6 at 256."""
    errors = []
    for degree in (32, 64, 256):
        custom = fk.Custom(erf, erf_derivative, degree=degree)
        errors.append(scaled_error(fk.NTK(2, custom, 1.2, 0.3), fk.NTK(2, "erf", 1.2, 0.3)))
    assert errors[1] < errors[0] / 4 and errors[2] < errors[1] / 100, errors
    assert errors[2] < 1e-6, errors


def test_custom_kernel_is_symmetric_and_in_gram_many():
    custom = fk.Custom(erf, erf_derivative, degree=16)
    kernels = [fk.NTK(2, custom), fk.NNGP(1, custom), fk.NTK(3, custom, frozen=1)]
    stacked = fk.gram_many(kernels, X)
    for index, kernel in enumerate(kernels):
        K = kernel(X)
        np.testing.assert_array_equal(K, K.T)
        np.testing.assert_allclose(stacked[index], K, rtol=1e-13, atol=0)


def test_custom_without_derivative_gives_the_nngp():
    custom = fk.Custom(erf, degree=32)
    assert not custom.has_derivative
    exact = fk.NNGP(2, "erf", 1.0, 0.1)
    for kernel in (fk.NNGP(2, custom, 1.0, 0.1), fk.NTK(2, custom, 1.0, 0.1, frozen=2)):
        assert scaled_error(kernel, exact, X_MODERATE, Z_MODERATE) < 1e-8


def test_custom_without_derivative_has_no_ntk():
    custom = fk.Custom(erf, degree=32)
    with pytest.raises(ValueError, match="NTK"):
        fk.NTK(2, custom)
    with pytest.raises(ValueError, match="NTK"):
        fk.NTK(2, custom, frozen=1)


def test_custom_equality_and_parameters():
    assert fk.Custom(erf, erf_derivative, 32) == fk.Custom(erf, erf_derivative, 32)
    assert fk.Custom(erf, erf_derivative, 32) != fk.Custom(erf, erf_derivative, 16)
    with pytest.raises(ValueError, match="degree"):
        fk.Custom(erf, degree=1)
    with pytest.raises(TypeError, match="degree"):
        fk.Custom(erf, degree=8.5)
    if not numba.config.DISABLE_JIT:  # without the JIT every function is a "compiled" one
        with pytest.raises(TypeError, match="derivative"):
            fk.Custom(erf, derivative=lambda u: u)
