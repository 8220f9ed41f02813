"""The piecewise-linear activations, erf, the step and the sign (MATH.md section 2); the
rules of a declaration are in ``fastntk.activations`` and ``fastntk.declarations``."""

import math
from dataclasses import dataclass

import numpy as np
import scipy.special

from ._jit import jit
from ._math import acos, arc_cosine_j, asin, at_least, at_most, sin_of_acos, theta_minus_sine
from ._validation import check_real
from .declarations import Activation

__all__ = ["ABReLU", "Abs", "Erf", "Identity", "LeakyReLU", "ReLU", "SigmoidLike", "Sign", "Step"]


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

    def angle_dual(p, theta, remaining, sxz, x, z):
        # deficit = (b - a)^2 / 2 g e(theta) + a b g (1 - cos theta), with g = sx sz and
        # e = 1 - (sin theta + (pi - theta) cos theta) / pi
        #   = ((pi - theta)(1 - cos theta) + theta - sin theta) / pi, free of cancellation.
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
    """``phi(u) = abs(u)``."""

    name = "abs"
    slopes = (-1.0, 1.0)


@dataclass(frozen=True)
class Identity(PiecewiseLinear):
    """``phi(u) = u``: the network is linear."""

    name = ("identity", "linear")
    slopes = (1.0, 1.0)


class ScaledErf(Activation):
    """``phi(u) = a erf(b u) + c``: with ``q = 1 / sqrt(1 + 2 b^2 s)``,
    ``T = a^2 (2/pi) asin(2 b^2 sxz q_x q_z) + c^2`` and
    ``Td = a^2 b^2 (4/pi) / sqrt((1 + 2 b^2 sxx)(1 + 2 b^2 szz) - 4 b^4 sxz^2)`` (Williams
    1997; neural-tangents' ``Erf``). Subclasses give ``a``, ``b`` and ``c``."""

    parameters = ("a_squared", "b_squared", "c_squared")
    rows = ("q",)

    def parameter_values(self, dtype):
        return self.a**2, self.b**2, self.c**2

    def row_values(p, variance):
        one = type(variance)(1)
        return (one / math.sqrt(one + (p.b_squared + p.b_squared) * variance),)

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        two = type(c)(2)
        pi = type(c)(math.pi)
        r = at_least(-one, at_most(one, two * p.b_squared * sxz * (x.q * z.q)))
        # (1 + 2 b^2 sxx)(1 + 2 b^2 szz) - 4 b^4 sxz^2, written so that it is >= 1 after rounding.
        sines = p.b_squared * x.root * z.root * sin_of_acos(c)
        determinant = (
            one
            + two * p.b_squared * (x.root * x.root + z.root * z.root)
            + (two + two) * sines * sines
        )
        return (
            p.a_squared * (two / pi * asin(r)) + p.c_squared,
            p.a_squared * p.b_squared * ((two + two) / (pi * math.sqrt(determinant))),
        )

    def phi(self, u):
        values = self.a * scipy.special.erf(self.b * u)
        return (values + self.c).astype(u.dtype) if self.c else values.astype(u.dtype)

    def phi_prime(self, u):
        scale = self.a * self.b * (2 / math.sqrt(math.pi))
        return (scale * np.exp(-np.square(self.b * u))).astype(u.dtype)


@dataclass(frozen=True)
class Erf(ScaledErf):
    """``phi(u) = a erf(b u) + c`` (``Erf()``: ``erf(u)``)."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    name = "erf"

    def __post_init__(self):
        for field in ("a", "b", "c"):
            object.__setattr__(self, field, check_real(getattr(self, field), field))


@dataclass(frozen=True)
class SigmoidLike(ScaledErf):
    """neural-tangents' ``Sigmoid_like``: ``phi(u) = erf(u / 2.4020563531719796) / 2 + 1/2``,
    the erf closest to the logistic sigmoid in squared error on [-5, 5]."""

    name = "sigmoid_like"
    a = 0.5
    b = 1 / 2.4020563531719796
    c = 0.5


@dataclass(frozen=True)
class Step(Activation):
    """Heaviside step ``phi(u) = 1[u > 0]``: ``T = (pi - theta) / (2 pi)``. NNGP only: its
    derivative is zero almost everywhere and a delta at 0, so the NTK is not defined."""

    name = "step"
    has_derivative = False
    scale_invariant = True

    def dual(p, sxz, c, x, z):
        return (type(c)(math.pi) - acos(c)) * type(c)(0.5 / math.pi), type(c)(0)

    def angle_dual(p, theta, remaining, sxz, x, z):
        # T(x, x) = 1/2 for every variance: the deficit is 1/2 - T.
        return remaining * (0.5 / math.pi), 0.0, theta * (0.5 / math.pi), 0.0

    def phi(self, u):
        return (u > 0).astype(u.dtype)


@dataclass(frozen=True)
class Sign(Activation):
    """``phi(u) = sign(u)``: ``T = (2/pi) asin c = 1 - 2 theta / pi``. NNGP only, as for the
    step: the derivative is a delta at 0 (neural-tangents sets the NTK to zero)."""

    name = "sign"
    has_derivative = False
    scale_invariant = True

    def dual(p, sxz, c, x, z):
        return type(c)(2 / math.pi) * asin(c), type(c)(0)

    def angle_dual(p, theta, remaining, sxz, x, z):
        # T(x, x) = 1 for every variance: the deficit is 1 - T = 2 theta / pi.
        return (remaining - theta) * (1 / math.pi), 0.0, theta * (2 / math.pi), 0.0

    def phi(self, u):
        return np.sign(u).astype(u.dtype)
