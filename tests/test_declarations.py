"""A kernel family and an activation declared entirely in this file, with no edit to fastntk,
computed on the CPU and on the CUDA simulator against plain NumPy formulas; and incomplete
declarations, which fail when the class is defined.
"""

import math
from dataclasses import dataclass

import naive
import numpy as np
import pytest

import fastntk as fk
from fastntk.declarations import Activation, DeclarationError, ScalarKernel

RTOL = {np.float64: 1e-12, np.float32: 1e-5}


@dataclass(frozen=True)
class RationalQuadratic(ScalarKernel):
    """``k(x, z) = (1 + |x - z|^2 / (2 a l^2)) ** -a``."""

    lengthscale: float = 1.0
    alpha: float = 1.0

    parameters = ("inverse_two_a_variance", "alpha")
    rows = ("squared_norm",)

    def parameter_values(self, n_features, dtype):
        return (0.5 / (self.alpha * self.lengthscale**2), self.alpha)

    def row_values(p, squared_norm):
        return (squared_norm,)

    def value(p, dot, x, z):
        distance = x.squared_norm + z.squared_norm - (dot + dot)
        distance = distance if distance > 0 else type(dot)(0)
        return (1 + distance * p.inverse_two_a_variance) ** -p.alpha

    def diagonal(p, x):
        return type(x.squared_norm)(1)


@dataclass(frozen=True)
class CosineSimilarity(ScalarKernel):
    """``k(x, z) = x . z / (|x| |z|)``, 0 when either is the zero vector."""

    rows = ("inverse_norm",)

    def parameter_values(self, n_features, dtype):
        return ()

    def row_values(p, squared_norm):
        return (1 / math.sqrt(squared_norm) if squared_norm > 0 else 0 * squared_norm,)

    def value(p, dot, x, z):
        return dot * (x.inverse_norm * z.inverse_norm)

    def diagonal(p, x):
        return type(x.inverse_norm)(1) if x.inverse_norm > 0 else type(x.inverse_norm)(0)


@dataclass(frozen=True)
class ScaledExp(Activation):
    """``phi(u) = exp(s u)``: ``T = exp(s^2 sxx / 2) exp(s^2 szz / 2) exp(s^2 sxz)``,
    ``Td = s^2 T``. Its dual reads a per-layer quantity no built-in activation uses,
    ``half_exp = exp(s^2 v / 2)``."""

    scale: float = 0.5

    parameters = ("squared_scale",)
    rows = ("half_exp",)

    def parameter_values(self, dtype):
        return (self.scale**2,)

    def row_values(p, variance):
        return (math.exp(p.squared_scale * variance / 2),)

    def dual(p, sxz, c, x, z):
        t = x.half_exp * z.half_exp * math.exp(p.squared_scale * sxz)
        return t, p.squared_scale * t

    def phi(self, u):
        return np.exp(self.scale * u)

    def phi_prime(self, u):
        return self.scale * np.exp(self.scale * u)


def rational_quadratic_reference(X, Z, lengthscale, alpha):
    distances = np.sum((X[:, None, :] - Z[None, :, :]) ** 2, axis=2)
    return (1 + distances / (2 * alpha * lengthscale**2)) ** -alpha


def cosine_reference(X, Z):
    norms_x, norms_z = np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1)
    scale = np.outer(norms_x, norms_z)
    return np.where(scale > 0, X @ Z.T / np.where(scale > 0, scale, 1), 0.0)


def inputs():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((11, 4))
    X[2] = 0.0
    X[7] = X[3]
    Z = 0.8 * rng.standard_normal((7, 4))
    Z[1] = -X[0]
    return X, Z


X, Z = inputs()

CASES = [
    (RationalQuadratic(0.9, 1.7), lambda X, Z: rational_quadratic_reference(X, Z, 0.9, 1.7)),
    (CosineSimilarity(), cosine_reference),
    (
        fk.NNGP(depth=2, activation=ScaledExp(0.5), w_std=1.2, b_std=0.3),
        lambda X, Z: naive.nngp(X, Z, 2, naive.exp(0.5), 1.2, 0.3),
    ),
    (
        fk.NTK(depth=3, activation=ScaledExp(0.4), b_std=0.2, frozen=1),
        lambda X, Z: naive.ntk(X, Z, 3, naive.exp(0.4), 1.0, 0.2, frozen=1),
    ),
]
IDS = ["rational-quadratic", "cosine", "nngp-exp", "ntk-exp"]


def _check(kernel, reference, dtype, device):
    for Z_or_none in (Z, None):
        got = fk.gram(kernel, X, Z_or_none, dtype=dtype, device=device)
        expected = reference(X, X if Z_or_none is None else Z)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    square = fk.gram(kernel, X, dtype=dtype, device=device)
    np.testing.assert_array_equal(square, square.T)
    np.testing.assert_array_equal(np.diag(square), kernel.diag(X, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel, reference", CASES, ids=IDS)
def test_declared_here_on_the_cpu(kernel, reference, dtype, monkeypatch):
    """Square and rectangular K against NumPy, on tiles of 4 so that tiles and their mirrors
    are exercised; exactly symmetric with the exact diagonal."""
    monkeypatch.setenv("FASTNTK_TILE_SIZE", "4")
    _check(kernel, reference, dtype, "cpu")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel, reference", CASES, ids=IDS)
def test_declared_here_on_the_cuda_simulator(kernel, reference, dtype, monkeypatch):
    cuda = pytest.importorskip("numba.cuda")
    if not cuda.is_available():
        pytest.skip("no CUDA GPU and no simulator")
    monkeypatch.setenv("FASTNTK_CUDA_TILE_SIZE", "4")
    _check(kernel, reference, dtype, "cuda")


def test_declared_activation_in_the_feature_maps():
    """The activation's NumPy form serves the finite-width maps: random features estimate its
    NNGP within 6 sigma / sqrt(width) of the kernel's scale."""
    width = 20000
    kernel = fk.NNGP(depth=1, activation=ScaledExp(0.5))
    features = fk.features.random_features(X, width, ScaledExp(0.5), seed=0)
    exact = kernel(X)
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    # One term exp(s (u + v)) has variance at most E exp(4 s u)-ish; 6 sigma with a loose bound.
    bound = 6 * math.exp(2 * 0.25 * np.max(np.sum(X**2, axis=1) / X.shape[1])) / math.sqrt(width)
    assert np.max(np.abs(features @ features.T - exact) / scale) < bound


def test_families_declared_outside_fastntk_are_not_cached():
    assert not RationalQuadratic().cacheable
    assert not fk.NTK(activation=ScaledExp()).cacheable
    assert fk.Gaussian().cacheable and fk.NTK().cacheable


# --- incomplete declarations ------------------------------------------------------------------


def test_a_kernel_without_its_diagonal_fails_when_defined():
    with pytest.raises(DeclarationError, match=r"kernel family Halfway .*no diagonal\(p, x\)"):

        class Halfway(ScalarKernel):
            def parameter_values(self, n_features, dtype):
                return ()

            def value(p, dot, x, z):
                return dot


def test_a_kernel_that_names_rows_it_does_not_compute_fails():
    with pytest.raises(DeclarationError, match=r"Rowless .*no row_values\(p, squared_norm\)"):

        class Rowless(ScalarKernel):
            rows = ("norm",)

            def parameter_values(self, n_features, dtype):
                return ()

            def value(p, dot, x, z):
                return dot

            def diagonal(p, x):
                return x.norm


def test_a_kernel_map_with_the_wrong_parameters_fails():
    with pytest.raises(DeclarationError, match=r"Twisted: value must take \(p, dot, x, z\)"):

        class Twisted(ScalarKernel):
            def parameter_values(self, n_features, dtype):
                return ()

            def value(p, dot):
                return dot

            def diagonal(p, x):
                return 1.0


def test_an_activation_without_its_dual_or_derivative_fails():
    with pytest.raises(DeclarationError, match=r"activation Mute .*no dual\(p, sxz, c, x, z\)"):

        class Mute(Activation):
            def phi(self, u):
                return u

            def phi_prime(self, u):
                return np.ones_like(u)

    with pytest.raises(DeclarationError, match=r"activation Flat .*no phi_prime"):

        class Flat(Activation):
            def dual(p, sxz, c, x, z):
                return sxz, 1.0

            def phi(self, u):
                return u


def test_an_activation_may_not_rename_the_layer_quantities():
    with pytest.raises(DeclarationError, match="bad name 'variance'"):

        class Shadow(Activation):
            rows = ("variance",)

            def row_values(p, variance):
                return (variance,)

            def dual(p, sxz, c, x, z):
                return sxz, 1.0

            def phi(self, u):
                return u

            def phi_prime(self, u):
                return np.ones_like(u)


def _scaled_dot_family(factor):
    """A kernel family ``k = factor x . z`` declared anew on each call, under one name (as a
    notebook cell run twice declares it)."""

    @dataclass(frozen=True)
    class ScaledDot(ScalarKernel):
        def parameter_values(self, n_features, dtype):
            return ()

        def value(p, dot, x, z):
            return factor * dot

        def diagonal(p, x):
            return 0.0

    return ScaledDot


def test_a_family_declared_again_runs_its_own_maths():
    """Two declarations of one class name with different maps each compute their own (Numba
    names compiled code after the argument types: the second must not reuse the first's)."""
    X = np.random.default_rng(4).standard_normal((5, 3))
    for factor in (1.0, 2.0, -0.5):
        K = fk.gram(_scaled_dot_family(factor)(), X)
        np.testing.assert_allclose(K[0, 1:], factor * (X[1:] @ X[0]), rtol=1e-14)
