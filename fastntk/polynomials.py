"""Polynomial and rectified-monomial activations, with exact duals at every variance
(neural-tangents 0.6.5's ``stax`` names and meanings; MATH.md section 2).

The dual of a polynomial ``p(u) = sum_i a_i u^i`` follows from Isserlis' theorem: with
``A_k(s) = sum_m a_{k+2m} C(k+2m, k) (2m-1)!! s^m``,

    T  = sum_k k! sxz^k A_k(sxx) A_k(szz)
    Td = dT / dsxz = sum_k k k! sxz^(k-1) A_k(sxx) A_k(szz)

(Price's theorem gives ``Td = dT / dsxz``). This is neural-tangents' ``Polynomial`` written
without square roots (its ``r_l(s) = sqrt(l!) s^(l/2) A_l(s)``), and it covers ``Monomial`` of
any degree and ``Hermite`` at every variance.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.polynomial.hermite_e as hermite_e

from ._math import acos, sin_of_acos
from ._validation import check_int, check_real
from .basic_activations import ReLU, Step
from .declarations import Activation

__all__ = ["Hermite", "Monomial", "Polynomial", "RectifiedMonomial"]

#: The highest degree of the polynomial activations: beyond it ``k!`` and the double
#: factorials of the dual leave float64 (171! overflows), and the alternating sums of
#: ``Hermite`` lose every digit long before.
MAX_DEGREE = 60


def _moment_table(coefficients):
    """``table[k, m] = sqrt(k!) a_{k+2m} C(k+2m, k) (2m-1)!!``: the factor ``k!`` of the dual
    split between the two rows, so that ``T = sum_k sxz^k (sum_m table[k, m] sxx^m)
    (sum_m table[k, m] szz^m)``."""
    degree = len(coefficients) - 1
    table = np.zeros((degree + 1, degree // 2 + 1))
    for k in range(degree + 1):
        for m in range((degree - k) // 2 + 1):
            double_factorial = math.prod(range(2 * m - 1, 0, -2))
            table[k, m] = (
                math.sqrt(math.factorial(k))
                * coefficients[k + 2 * m]
                * math.comb(k + 2 * m, k)
                * double_factorial
            )
    return table


class PolynomialActivation(Activation):
    """A polynomial ``phi``; subclasses give ``coefficients`` (``a_0, a_1, ...``)."""

    parameters = ("table",)

    @property
    def coefficients(self):
        raise NotImplementedError

    def parameter_values(self, dtype):
        table = _moment_table(self.coefficients)
        with np.errstate(over="ignore"):
            converted = table.astype(dtype)
        if not np.isfinite(converted).all():
            raise ValueError(
                f"{self!r}: the moments of its dual overflow {np.dtype(dtype).name}; "
                "use float64 or a lower degree"
            )
        return (converted,)

    def dual(p, sxz, c, x, z):
        table = p.table
        value = type(c)(0)
        slope = type(c)(0)
        power = type(c)(1)  # sxz^(k - 1) before the update of step k
        previous_power = type(c)(0)
        for k in range(table.shape[0]):
            a_x = type(c)(0)
            a_z = type(c)(0)
            for m in range(table.shape[1] - 1, -1, -1):
                a_x = a_x * x.variance + table[k, m]
                a_z = a_z * z.variance + table[k, m]
            moment = a_x * a_z
            slope += type(c)(k) * previous_power * moment  # a float32 k: no float64 step
            value += power * moment
            previous_power = power
            power = power * sxz
        return value, slope

    def phi(self, u):
        return np.polynomial.polynomial.polyval(u, self.coefficients).astype(u.dtype)

    def phi_prime(self, u):
        derivative = np.polynomial.polynomial.polyder(self.coefficients)
        return np.polynomial.polynomial.polyval(u, derivative).astype(u.dtype)


@dataclass(frozen=True)
class Polynomial(PolynomialActivation):
    """``phi(u) = coef[0] + coef[1] u + ... + coef[n] u^n`` (not ``fastntk.Polynomial``, the
    kernel); the dual is in the module docstring."""

    coef: tuple

    def __post_init__(self):
        values = np.atleast_1d(np.asarray(self.coef, dtype=object))
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"coef must be a non-empty sequence of numbers, got {self.coef!r}")
        if values.size - 1 > MAX_DEGREE:
            raise ValueError(f"coef must have at most {MAX_DEGREE + 1} coefficients")
        coefficients = tuple(check_real(value, "coef") for value in values)
        object.__setattr__(self, "coef", coefficients)

    @property
    def coefficients(self):
        return self.coef


@dataclass(frozen=True)
class Monomial(PolynomialActivation):
    """``phi(u) = u^degree``, any degree up to ``MAX_DEGREE`` (neural-tangents: 0 to 5)."""

    degree: int

    def __post_init__(self):
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 0, MAX_DEGREE))

    @property
    def coefficients(self):
        return (0.0,) * self.degree + (1.0,)


@dataclass(frozen=True)
class Hermite(PolynomialActivation):
    """``phi(u) = He_n(u) / sqrt(n!)``, the probabilists' Hermite polynomial of ``degree``
    normalised to unit norm under the standard normal.

    neural-tangents' ``Hermite`` assumes unit-variance pre-activations, where ``T = sxz^n``
    and ``Td = n sxz^(n-1)``; here the dual is exact at every variance (the module docstring's
    formula for the polynomial), equal to those at unit variance.
    """

    degree: int

    def __post_init__(self):
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 0, MAX_DEGREE))

    @property
    def coefficients(self):
        power_basis = hermite_e.herme2poly([0.0] * self.degree + [1.0])
        return tuple(power_basis / math.sqrt(math.factorial(self.degree)))


@dataclass(frozen=True)
class RectifiedMonomial(Activation):
    """``phi(u) = u^degree 1[u >= 0]``, the activation of Cho and Saul's arc-cosine kernel of
    order ``degree``: ``T = (sx sz)^n J_n(theta) / (2 pi)`` and, by Price's theorem,
    ``Td = n^2 (sx sz)^(n-1) J_(n-1)(theta) / (2 pi)``, with ``J_0 = pi - theta``, ``J_1 = sin
    theta + (pi - theta) cos theta`` and ``J_n = (2n - 1) cos theta J_(n-1) + (n - 1)^2 sin^2
    theta J_(n-2)``. Degree 0 is the step (NNGP only) and degree 1 the ReLU, whose duals have
    an infinite slope at ``theta = 0`` and are computed by ``Step``'s and ``ReLU``'s
    declarations (with their angle refinement); from degree 2 on the slope is finite.
    """

    degree: int

    declared_per_instance = True

    def __post_init__(self):
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 0, MAX_DEGREE))

    @property
    def has_derivative(self):
        return self.degree > 0

    @property
    def scale_invariant(self):
        return self.degree == 0

    def spec(self, dtype):
        if self.degree == 0:
            return Step().spec(dtype)
        if self.degree == 1:
            return ReLU().spec(dtype)
        return _RectifiedPower(self.degree).spec(dtype)

    def phi(self, u):
        positive = u >= 0
        return np.where(positive, np.power(np.where(positive, u, 0), self.degree), 0).astype(
            u.dtype
        )

    def phi_prime(self, u):
        positive = u >= 0
        power = np.power(np.where(positive, u, 0), self.degree - 1) if self.degree > 1 else 1.0
        return np.where(positive, self.degree * power, 0).astype(u.dtype)


@dataclass(frozen=True)
class _RectifiedPower(RectifiedMonomial):
    """The declaration of ``RectifiedMonomial`` from degree 2 on."""

    parameters = ("degree",)
    spec = Activation.spec

    def parameter_values(self, dtype):
        return (self.degree,)

    def dual(p, sxz, c, x, z):
        sine = sin_of_acos(c)
        previous = type(c)(math.pi) - acos(c)  # J_0
        current = sine + previous * c  # J_1
        for n in range(2, p.degree + 1):
            odd = type(c)(2 * n - 1)
            square = type(c)((n - 1) * (n - 1))
            previous, current = current, odd * c * current + square * sine * sine * previous
        scale = type(c)(1)
        for _ in range(p.degree - 1):
            scale *= x.root * z.root
        inverse_two_pi = type(c)(0.5 / math.pi)
        return (
            scale * x.root * z.root * current * inverse_two_pi,
            type(c)(p.degree * p.degree) * scale * previous * inverse_two_pi,
        )
