"""Activations of the network kernels, each one declaration (MATH.md section 2).

An activation declares its NumPy form ``phi`` (and ``phi_prime``), its dual
``(T, Td) = (E[phi(u) phi(v)], E[phi'(u) phi'(v)])`` for
``(u, v) ~ N(0, [[sxx, sxz], [sxz, szz]])`` as a scalar function of ``sxz``, the clipped
correlation ``c`` and the per-layer records ``x`` and ``z`` (``variance``, ``root``,
``inverse_root`` and the quantities it declares in ``rows``), and its parameters. See
``fastntk.declarations`` for the rules; the network recursion never names an activation.
"""

import math
from dataclasses import dataclass

import numba
import numpy as np
import scipy.special

from ._jit import jit
from ._math import acos, arc_cosine_j, asin, at_least, at_most, sin_of_acos, theta_minus_sine
from ._validation import check_int, check_real
from .declarations import Activation

__all__ = ["ABReLU", "Abs", "Activation", "Custom", "Erf", "Identity", "LeakyReLU", "ReLU"]
__all__ += ["Step", "as_activation"]


@jit
def _relu_parts(c, sx, sz):
    """The dual of ``max(u, 0)``: ``sx sz (sin theta + (pi - theta) c) / (2 pi)`` and
    ``(pi - theta) / (2 pi)``, ``theta = arccos c``."""
    remaining = type(c)(math.pi) - acos(c)
    inverse_two_pi = type(c)(0.5 / math.pi)
    return (
        sx * sz * (sin_of_acos(c) + remaining * c) * inverse_two_pi,
        remaining * inverse_two_pi,
    )


class PiecewiseLinear(Activation):
    """``phi(u) = a u`` for ``u < 0`` and ``b u`` for ``u >= 0`` (``slopes = (a, b)``):
    ``T = a b sxz + (b - a)^2 sx sz (sin theta + (pi - theta) c) / (2 pi)``,
    ``Td = a b + (b - a)^2 (pi - theta) / (2 pi)``, ``theta = arccos c``. Subclasses give
    ``slopes`` and share this dual's compiled code."""

    parameters = ("a", "b")

    @property
    def slopes(self):
        raise NotImplementedError

    def parameter_values(self, dtype):
        return self.slopes

    def dual(p, sxz, c, x, z):
        relu_t, relu_td = _relu_parts(c, x.root, z.root)
        slope_gap = (p.b - p.a) * (p.b - p.a)
        return p.a * p.b * sxz + slope_gap * relu_t, p.a * p.b + slope_gap * relu_td

    def angle_dual(p, theta, sxz, x, z):
        # deficit = (b - a)^2 / 2 g e(theta) + a b g (1 - cos theta), with g = sx sz and
        # e = 1 - (sin theta + (pi - theta) cos theta) / pi
        #   = ((pi - theta)(1 - cos theta) + theta - sin theta) / pi, free of cancellation.
        remaining = math.pi - theta
        half_sine = math.sin(0.5 * theta)
        versine = 2.0 * half_sine * half_sine
        g = x.root * z.root
        relu_t = g * arc_cosine_j(1, theta, remaining) * (0.5 / math.pi)
        relu_td = remaining * (0.5 / math.pi)
        slope_gap = (p.b - p.a) * (p.b - p.a)
        excess = (remaining * versine + theta_minus_sine(theta)) * (1 / math.pi)
        deficit = g * (0.5 * slope_gap * excess + p.a * p.b * versine)
        return (
            p.a * p.b * sxz + slope_gap * relu_t,
            p.a * p.b + slope_gap * relu_td,
            deficit,
            0.5 * (p.a * p.a + p.b * p.b),
        )

    def phi(self, u):
        """``a u`` for ``u < 0``, ``b u`` for ``u >= 0``, as ``(b - a) max(u, 0) + a u``."""
        negative_slope, positive_slope = self.slopes
        values = (positive_slope - negative_slope) * np.maximum(u, 0)
        if negative_slope != 0:
            values += negative_slope * u
        return values

    def phi_prime(self, u):
        negative_slope, positive_slope = self.slopes
        return np.where(u < 0, negative_slope, positive_slope).astype(u.dtype)


@dataclass(frozen=True)
class ABReLU(PiecewiseLinear):
    """``phi(u) = a u`` for ``u < 0`` and ``b u`` for ``u >= 0``."""

    a: float = 0.0
    b: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "a", check_real(self.a, "a"))
        object.__setattr__(self, "b", check_real(self.b, "b"))

    @property
    def slopes(self):
        return self.a, self.b


@dataclass(frozen=True)
class ReLU(PiecewiseLinear):
    """``phi(u) = max(u, 0)``."""

    name = "relu"
    slopes = (0.0, 1.0)


@dataclass(frozen=True)
class LeakyReLU(PiecewiseLinear):
    """``phi(u) = u`` for ``u >= 0`` and ``slope u`` otherwise."""

    slope: float = 0.01

    name = "leaky_relu"

    def __post_init__(self):
        object.__setattr__(self, "slope", check_real(self.slope, "slope"))

    @property
    def slopes(self):
        return self.slope, 1.0


@dataclass(frozen=True)
class Abs(PiecewiseLinear):
    """``phi(u) = |u|``."""

    name = "abs"
    slopes = (-1.0, 1.0)


@dataclass(frozen=True)
class Identity(PiecewiseLinear):
    """``phi(u) = u``: the network is linear."""

    name = ("identity", "linear")
    slopes = (1.0, 1.0)


@dataclass(frozen=True)
class Erf(Activation):
    """``phi(u) = erf(u)``: ``T = (2/pi) asin(2 sxz q_x q_z)``,
    ``Td = (4/pi) / sqrt((1 + 2 sxx)(1 + 2 szz) - 4 sxz^2)``, ``q = 1 / sqrt(1 + 2 s)``."""

    name = "erf"
    rows = ("q",)

    def row_values(p, variance):
        one = type(variance)(1)
        return (one / math.sqrt(one + (variance + variance)),)

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        two = type(c)(2)
        pi = type(c)(math.pi)
        r = at_least(-one, at_most(one, two * sxz * (x.q * z.q)))
        # (1 + 2 sxx)(1 + 2 szz) - 4 sxz^2, written so that it is >= 1 after rounding.
        sines = x.root * z.root * sin_of_acos(c)
        determinant = one + two * (x.root * x.root + z.root * z.root) + (two + two) * sines * sines
        return two / pi * asin(r), (two + two) / (pi * math.sqrt(determinant))

    def phi(self, u):
        return scipy.special.erf(u)

    def phi_prime(self, u):
        return (2 / math.sqrt(math.pi)) * np.exp(-np.square(u))


@dataclass(frozen=True)
class Step(Activation):
    """Heaviside step ``phi(u) = 1[u > 0]``: ``T = (pi - theta) / (2 pi)``. NNGP only: its
    derivative is zero almost everywhere and a delta at 0, so the NTK is not defined."""

    name = "step"
    has_derivative = False
    scale_invariant = True

    def dual(p, sxz, c, x, z):
        return (type(c)(math.pi) - acos(c)) * type(c)(0.5 / math.pi), type(c)(0)

    def angle_dual(p, theta, sxz, x, z):
        # T(x, x) = 1/2 for every variance: the deficit is 1/2 - T.
        return (math.pi - theta) * (0.5 / math.pi), 0.0, theta * (0.5 / math.pi), 0.0

    def phi(self, u):
        return (u > 0).astype(u.dtype)


@dataclass(frozen=True)
class Custom(Activation):
    """Any activation as a Numba-compiled scalar function, by Gauss-Hermite quadrature.

    ``function`` and ``derivative`` are ``numba.njit`` functions of one float. Without
    ``derivative`` only the NNGP is available; for the NTK pass it (for ``phi = tanh``:
    ``derivative = njit(lambda u: 1 - math.tanh(u) ** 2)``). ``degree`` Gauss-Hermite nodes per
    dimension (``degree**2`` evaluations per entry and layer). The nodes are fixed in units of
    the pre-activation's standard deviation, so the error grows with the variance for
    activations that saturate (erf) and falls only slowly with ``degree`` at kinks (relu:
    about ``degree**-1`` for the NNGP); the tests measure both against the closed forms.
    Gram matrices with custom activations are compiled per function and not cached on disk.
    """

    function: object
    derivative: object = None
    degree: int = 32

    parameters = ("function", "derivative", "nodes", "weights")
    cacheable = False
    cuda_unavailable = "Custom activations run on the CPU only"

    def __post_init__(self):
        for name in ("function", "derivative"):
            value = getattr(self, name)
            compiled = hasattr(value, "py_func") or numba.config.DISABLE_JIT
            if value is not None and not (callable(value) and compiled):
                raise TypeError(
                    f"Custom activation {name} must be a numba.njit function, got {value!r}"
                )
        if self.function is None:
            raise TypeError("Custom activation needs a function")
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 2, 400))

    @property
    def has_derivative(self):
        return self.derivative is not None

    def parameter_values(self, dtype):
        nodes, weights = np.polynomial.hermite_e.hermegauss(self.degree)
        weights = weights / math.sqrt(2 * math.pi)
        derivative = self.derivative if self.derivative is not None else self.function
        return self.function, derivative, nodes.astype(dtype), weights.astype(dtype)

    def dual(p, sxz, c, x, z):
        # u = sx g1, v = sz (c g1 + sqrt(1 - c^2) g2) with g1, g2 independent standard normals.
        along = z.root * c
        across = z.root * sin_of_acos(c)
        nodes = p.nodes
        weights = p.weights
        nngp = type(c)(0)
        ntk = type(c)(0)
        for i in range(nodes.shape[0]):
            u = x.root * nodes[i]
            inner = type(c)(0)
            inner_derivative = type(c)(0)
            for j in range(nodes.shape[0]):
                v = along * nodes[i] + across * nodes[j]
                inner += weights[j] * p.function(v)
                inner_derivative += weights[j] * p.derivative(v)
            nngp += weights[i] * p.function(u) * inner
            ntk += weights[i] * p.derivative(u) * inner_derivative
        return nngp, ntk

    def phi(self, u):
        return _apply_compiled(self.function, u)

    def phi_prime(self, u):
        return _apply_compiled(self.derivative, u)


def _apply_compiled(function, values):
    """A compiled scalar ``function`` applied to every entry of ``values``."""
    contiguous = np.ascontiguousarray(values)
    result = np.empty_like(contiguous)
    _apply_to_each(function, contiguous.reshape(-1), result.reshape(-1))
    return result


@numba.njit(error_model="numpy")
def _apply_to_each(function, values, out):
    for i in range(values.shape[0]):
        out[i] = function(values[i])


def as_activation(activation):
    """An ``Activation`` from itself or its name."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in Activation.named:
        return Activation.named[activation.lower()]()
    raise ValueError(
        f"unknown activation {activation!r}: use one of {sorted(Activation.named)} or an "
        "Activation (ABReLU, LeakyReLU, Custom, ...)"
    )
