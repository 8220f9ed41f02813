"""Activations built from exp, sin and the normal CDF, with their closed-form duals
(neural-tangents 0.6.5's ``stax`` names, parameters and meanings; MATH.md section 2).

Each dual is written in a form without cancellation where the value is not itself a small
difference, e.g. ``e^y - e^-y cos 2c = -e^y expm1(-2y) + 2 e^-y sin^2 c`` for the sine.
"""

import math
from dataclasses import dataclass

import numpy as np
import scipy.special

from ._math import asin, at_least, at_most, sin_of_acos, sinh_and_cosh
from ._validation import check_positive, check_real
from .declarations import Activation

__all__ = ["Cos", "Exp", "ExpNormalized", "Gabor", "Gaussian", "Gelu", "Rbf", "Sin"]


def _check_reals(activation, names):
    for name in names:
        object.__setattr__(activation, name, check_real(getattr(activation, name), name))


@dataclass(frozen=True)
class Gelu(Activation):
    """``phi(u) = u Phi(u)``, ``Phi`` the standard normal CDF (Tsuchida et al. 2021, "Avoiding
    kernel fixed points"; neural-tangents' ``Gelu``). With ``p = 1 / sqrt(1 + s)``,
    ``delta^2 = (1 + sxx)(1 + szz) - sxz^2`` and ``A = asin(sxz p_x p_z)``::

        T  = sxz / 4 + (sxz^2 + sxx szz delta^2) p_x^2 p_z^2 / (2 pi delta) + sxz A / (2 pi)
        Td = 1/4 + A / (2 pi) + sxz (1 / delta^2 + (1 - sxx szz) p_x^2 p_z^2 + 1) / (2 pi delta)

    ``approximate=True`` makes ``phi`` the tanh approximation of the GELU for finite networks
    and features; the dual stays the exact GELU's, as in neural-tangents (the two kernels differ
    by about 1e-4 of their scale at unit variance).
    """

    approximate: bool = False

    name = "gelu"
    rows = ("p",)

    def __post_init__(self):
        if not isinstance(self.approximate, (bool, np.bool_)):
            raise TypeError(f"approximate must be True or False, got {self.approximate!r}")

    def row_values(p, variance):
        one = type(variance)(1)
        return (one / math.sqrt(one + variance),)

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        quarter = type(c)(0.25)
        inverse_two_pi = type(c)(0.5 / math.pi)
        products = x.p * z.p
        angle = asin(at_least(-one, at_most(one, sxz * products)))
        sines = x.root * z.root * sin_of_acos(c)
        delta_squared = one + x.variance + z.variance + sines * sines  # >= 1 after rounding
        delta = math.sqrt(delta_squared)
        variances = x.variance * z.variance
        squared_products = products * products
        value = sxz * quarter + inverse_two_pi * (
            (sxz * sxz + variances * delta_squared) * squared_products / delta + sxz * angle
        )
        slope = (
            quarter
            + inverse_two_pi * angle
            + inverse_two_pi
            * sxz
            / delta
            * (one / delta_squared + (one - variances) * squared_products + one)
        )
        return value, slope

    def phi(self, u):
        if self.approximate:
            inner = math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)
            return (0.5 * u * (1 + np.tanh(inner))).astype(u.dtype)
        return (u * scipy.special.ndtr(u)).astype(u.dtype)

    def phi_prime(self, u):
        if self.approximate:
            inner = math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)
            tanh = np.tanh(inner)
            slope = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * u**2)
            return (0.5 * (1 + tanh) + 0.5 * u * (1 - tanh**2) * slope).astype(u.dtype)
        density = np.exp(-0.5 * np.square(u)) / math.sqrt(2 * math.pi)
        return (scipy.special.ndtr(u) + u * density).astype(u.dtype)


@dataclass(frozen=True)
class Sinusoid(Activation):
    """``phi(u) = a sin(b u + phase)``. With ``y = b^2 sxz``, ``s_1 = exp(b^2 (sxz - (sxx +
    szz) / 2))``, ``s_2 = exp(-b^2 (sxz + (sxx + szz) / 2))`` and ``D = s_1 - s_2``
    (``-s_1 expm1(-2y)`` for ``y >= 0``, ``s_2 expm1(2y)`` otherwise: no cancellation)::

        T  = a^2 / 2 (s_1 - s_2 cos 2 phase) = a^2 / 2 (D + 2 s_2 sin^2 phase)
        Td = a^2 b^2 / 2 (s_1 + s_2 cos 2 phase) = a^2 b^2 / 2 (D + 2 s_2 cos^2 phase)

    (neural-tangents' ``Sin``). Subclasses give the ``phase`` of their ``c`` and its
    ``sin^2`` and ``cos^2``, each computed from the user's ``c`` without rounding ``pi / 2``."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    parameters = ("half_a_squared", "b_squared", "sine_squared", "cosine_squared")

    def __post_init__(self):
        _check_reals(self, ("a", "b", "c"))

    @property
    def phase(self):
        raise NotImplementedError

    def phase_squares(self):
        raise NotImplementedError

    def parameter_values(self, dtype):
        return (0.5 * self.a**2, self.b**2, *self.phase_squares())

    def dual(p, sxz, c, x, z):
        half_sum = type(c)(0.5) * (x.variance + z.variance)
        y = p.b_squared * sxz
        two = type(c)(2)
        # One exp and one expm1: s_2 = s_1 e^(-2y) and D = -s_1 expm1(-2y) for y >= 0.
        if y >= 0:
            above = math.exp(p.b_squared * (sxz - half_sum))
            decay = math.expm1(-two * y)
            below = above + above * decay
            difference = -above * decay
        else:
            below = math.exp(-p.b_squared * (sxz + half_sum))
            difference = below * math.expm1(two * y)
        return (
            p.half_a_squared * (difference + two * below * p.sine_squared),
            p.half_a_squared * p.b_squared * (difference + two * below * p.cosine_squared),
        )

    def phi(self, u):
        return (self.a * np.sin(self.b * u + self.phase)).astype(u.dtype)

    def phi_prime(self, u):
        return (self.a * self.b * np.cos(self.b * u + self.phase)).astype(u.dtype)


@dataclass(frozen=True)
class Sin(Sinusoid):
    """``phi(u) = a sin(b u + c)``."""

    name = "sin"

    @property
    def phase(self):
        return self.c

    def phase_squares(self):
        return math.sin(self.c) ** 2, math.cos(self.c) ** 2


@dataclass(frozen=True)
class Cos(Sinusoid):
    """``phi(u) = a cos(b u + c) = a sin(b u + c + pi / 2)``."""

    name = "cos"

    @property
    def phase(self):
        return self.c + 0.5 * math.pi

    def phase_squares(self):
        return math.cos(self.c) ** 2, math.sin(self.c) ** 2


@dataclass(frozen=True)
class Rbf(Activation):
    """``phi(u) = sqrt(2) sin(sqrt(2 gamma) u + pi / 4)``, whose dual is the Gaussian kernel of
    the pre-activations: ``T = exp(-gamma (sxx + szz - 2 sxz))``, ``Td = 2 gamma T``
    (neural-tangents' ``Rbf``)."""

    gamma: float = 1.0

    name = "rbf"
    parameters = ("gamma",)

    def __post_init__(self):
        object.__setattr__(self, "gamma", check_positive(self.gamma, "gamma"))

    def parameter_values(self, dtype):
        return (self.gamma,)

    def dual(p, sxz, c, x, z):
        value = math.exp(-p.gamma * (x.variance + z.variance - (sxz + sxz)))
        return value, (p.gamma + p.gamma) * value

    def phi(self, u):
        return (math.sqrt(2) * np.sin(math.sqrt(2 * self.gamma) * u + 0.25 * math.pi)).astype(
            u.dtype
        )

    def phi_prime(self, u):
        scale = 2 * math.sqrt(self.gamma)
        return (scale * np.cos(math.sqrt(2 * self.gamma) * u + 0.25 * math.pi)).astype(u.dtype)


@dataclass(frozen=True)
class Exp(Activation):
    """``phi(u) = a exp(b u)``: ``T = a^2 exp(b^2 (sxx + szz + 2 sxz) / 2)``, ``Td = b^2 T``
    (neural-tangents' ``Exp``)."""

    a: float = 1.0
    b: float = 1.0

    name = "exp"
    parameters = ("a_squared", "b_squared")

    def __post_init__(self):
        _check_reals(self, ("a", "b"))

    def parameter_values(self, dtype):
        return self.a**2, self.b**2

    def dual(p, sxz, c, x, z):
        half = type(c)(0.5)
        value = p.a_squared * math.exp(p.b_squared * (half * (x.variance + z.variance) + sxz))
        return value, p.b_squared * value

    def phi(self, u):
        return (self.a * np.exp(self.b * u)).astype(u.dtype)

    def phi_prime(self, u):
        return (self.a * self.b * np.exp(self.b * u)).astype(u.dtype)


@dataclass(frozen=True)
class Gaussian(Activation):
    """``phi(u) = a exp(b u^2)`` (not ``fastntk.Gaussian``, the kernel). With ``D = (1 - 2 b
    sxx)(1 - 2 b szz) - 4 b^2 sxz^2``: ``T = a^2 / sqrt(D)``, ``Td = 4 a^2 b^2 sxz / D^(3/2)``
    (neural-tangents' ``Gaussian``). For ``b > 0`` the moments exist only while ``4 b
    Sigma(x, x) < 1`` at every layer; other inputs are a ``ValueError``."""

    a: float = 1.0
    b: float = -1.0

    name = "gaussian"
    parameters = ("a_squared", "b")

    def __post_init__(self):
        _check_reals(self, ("a", "b"))

    def parameter_values(self, dtype):
        return self.a**2, self.b

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        two = type(c)(2)
        # 1 - 2 b (sxx + szz) + 4 b^2 (sxx szz - sxz^2), the last term as a square of sines.
        sines = two * p.b * x.root * z.root * sin_of_acos(c)
        determinant = one - two * p.b * (x.variance + z.variance) + sines * sines
        value = p.a_squared / math.sqrt(determinant)
        return value, (two + two) * p.b * p.b * sxz * value / determinant

    def phi(self, u):
        return (self.a * np.exp(self.b * np.square(u))).astype(u.dtype)

    def phi_prime(self, u):
        return (2 * self.a * self.b * u * np.exp(self.b * np.square(u))).astype(u.dtype)

    def check_variances(self, variances, derivative):
        largest = np.max(variances[np.isfinite(variances)], initial=0.0)
        if self.b > 0 and not 4 * self.b * largest < 1:
            raise ValueError(
                f"{self!r}: E[phi(u)^2] is infinite for pre-activation variances of at least "
                f"1 / (4 b) = {0.25 / self.b:.6g}, and this input reaches {largest:.6g}; "
                "use b <= 0 or rescale the input"
            )


@dataclass(frozen=True)
class Gabor(Activation):
    """``phi(u) = exp(-u^2) sin(u)`` (neural-tangents' ``Gabor``). With ``S = sxx + szz``,
    ``D = (1 + 2 sxx)(1 + 2 szz) - 4 sxz^2``, ``E = 1/2 - (1 + S) / (2 D)`` and ``m = sxz / D``
    (the moments of the Gaussian tilted by ``exp(-u^2 - v^2)``)::

        T  = exp(-E) sinh(m) / sqrt(D)
        Td = dT / dsxz = exp(-E) / sqrt(D) (sinh(m) (4 sxz (1 + S) / D^2 + 4 sxz / D)
                                              + cosh(m) (1 / D + 8 sxz^2 / D^2))
    """

    name = "gabor"

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        two = type(c)(2)
        four = type(c)(4)
        half = type(c)(0.5)
        total = x.variance + z.variance
        sines = two * x.root * z.root * sin_of_acos(c)
        determinant = one + two * total + sines * sines
        inverse = one / determinant
        m = sxz * inverse
        envelope = math.exp((one + total) * half * inverse - half) * math.sqrt(inverse)
        sinh, cosh = sinh_and_cosh(m)
        value = envelope * sinh
        slope = envelope * (
            sinh * four * sxz * inverse * ((one + total) * inverse + one)
            + cosh * inverse * (one + two * four * sxz * sxz * inverse)
        )
        return value, slope

    def phi(self, u):
        return (np.exp(-np.square(u)) * np.sin(u)).astype(u.dtype)

    def phi_prime(self, u):
        return (np.exp(-np.square(u)) * (np.cos(u) - 2 * u * np.sin(u))).astype(u.dtype)


@dataclass(frozen=True)
class ExpNormalized(Activation):
    """The "Gaussian normalized kernel" of Shankar et al. 2020 (neural-tangents'
    ``ExpNormalized``): ``T = sqrt(sxx szz) exp(gamma (c + shift))``, ``Td = gamma exp(gamma
    (c + shift))``, ``c`` the correlation (always clipped into [-1, 1] here, so ``do_clip`` does
    not change the result beyond rounding).

    It is a dual map but no activation's: ``T`` depends on the pre-activations' scale only
    through ``sqrt(sxx szz)``, as a normalisation layer's output would, and no elementwise
    ``phi`` has it for every variance. So ``fastntk.features`` and ``FiniteNetwork`` refuse it,
    as neural-tangents' finite-width ``apply_fn`` does.
    """

    gamma: float = 1.0
    shift: float = -1.0
    do_clip: bool = False

    name = "exp_normalized"
    parameters = ("gamma", "shift")
    has_function = False

    def __post_init__(self):
        _check_reals(self, ("gamma", "shift"))
        # gamma < 0 makes T negative where the rows are anti-parallel: not a kernel.
        object.__setattr__(self, "gamma", check_positive(self.gamma, "gamma", allow_zero=True))
        if not isinstance(self.do_clip, (bool, np.bool_)):
            raise TypeError(f"do_clip must be True or False, got {self.do_clip!r}")

    def parameter_values(self, dtype):
        return self.gamma, self.shift

    def dual(p, sxz, c, x, z):
        factor = math.exp(p.gamma * (c + p.shift))
        return x.root * z.root * factor, p.gamma * factor

    def phi(self, u):
        raise TypeError(f"{self!r} is a normalised dual map with no elementwise function")

    def phi_prime(self, u):
        raise TypeError(f"{self!r} is a normalised dual map with no elementwise function")
