"""Activations of the network kernels and their dual activations (MATH.md section 2).

For ``(u, v) ~ N(0, [[sxx, sxz], [sxz, szz]])`` the dual activation is
``T = E[phi(u) phi(v)]`` and its derivative ``Td = E[phi'(u) phi'(v)]``. Each dual below is a
scalar function of ``sxz``, ``sx = sqrt(sxx)``, ``sz = sqrt(szz)``, ``qx = 1/sqrt(1 + 2 sxx)``,
``qz`` and the clipped correlation ``c = sxz / (sx sz)`` (0 when either variance is 0), so that
the Gram loops pass per-row quantities computed once and the diagonal passes ``c = 1`` exactly.
"""

import math
from collections import namedtuple
from dataclasses import dataclass

import numba
import numpy as np

from ._jit import jit
from ._math import acos, asin, at_least, at_most, sin_of_acos
from ._validation import check_int, check_real

ABReLUSpec = namedtuple("ABReLUSpec", ["a", "b"])
ErfSpec = namedtuple("ErfSpec", ["scale"])
StepSpec = namedtuple("StepSpec", ["scale"])
QuadratureSpec = namedtuple("QuadratureSpec", ["function", "derivative", "nodes", "weights"])


class Activation:
    """Base class of activations; ``has_derivative`` says whether the NTK is defined."""

    has_derivative = True
    cacheable = True

    def _spec(self, dtype):
        raise NotImplementedError


class _PiecewiseLinear(Activation):
    """``phi(u) = a u`` for ``u < 0`` and ``b u`` for ``u >= 0`` (ABReLU):
    ``T = a b sxz + (b - a)^2 sx sz (sin theta + (pi - theta) c) / (2 pi)``,
    ``Td = a b + (b - a)^2 (pi - theta) / (2 pi)``, ``theta = arccos c``."""

    @property
    def slopes(self):
        raise NotImplementedError

    def _spec(self, dtype):
        a, b = self.slopes
        return ABReLUSpec(dtype.type(a), dtype.type(b))


@dataclass(frozen=True)
class ABReLU(_PiecewiseLinear):
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
class ReLU(_PiecewiseLinear):
    """``phi(u) = max(u, 0)``."""

    slopes = (0.0, 1.0)


@dataclass(frozen=True)
class LeakyReLU(_PiecewiseLinear):
    """``phi(u) = u`` for ``u >= 0`` and ``slope u`` otherwise."""

    slope: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "slope", check_real(self.slope, "slope"))

    @property
    def slopes(self):
        return self.slope, 1.0


@dataclass(frozen=True)
class Abs(_PiecewiseLinear):
    """``phi(u) = |u|``."""

    slopes = (-1.0, 1.0)


@dataclass(frozen=True)
class Identity(_PiecewiseLinear):
    """``phi(u) = u``: the network is linear."""

    slopes = (1.0, 1.0)


@dataclass(frozen=True)
class Erf(Activation):
    """``phi(u) = erf(u)``: ``T = (2/pi) asin(2 sxz / sqrt((1 + 2 sxx)(1 + 2 szz)))``,
    ``Td = (4/pi) / sqrt((1 + 2 sxx)(1 + 2 szz) - 4 sxz^2)``."""

    def _spec(self, dtype):
        return ErfSpec(dtype.type(1))


@dataclass(frozen=True)
class Step(Activation):
    """Heaviside step ``phi(u) = 1[u > 0]``: ``T = (pi - theta) / (2 pi)``. NNGP only: its
    derivative is zero almost everywhere and a delta at 0, so the NTK is not defined."""

    has_derivative = False

    def _spec(self, dtype):
        return StepSpec(dtype.type(1))


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

    cacheable = False

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

    def _spec(self, dtype):
        nodes, weights = np.polynomial.hermite_e.hermegauss(self.degree)
        weights = weights / math.sqrt(2 * math.pi)
        derivative = self.derivative if self.derivative is not None else self.function
        return QuadratureSpec(self.function, derivative, nodes.astype(dtype), weights.astype(dtype))


_NAMED = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "abs": Abs,
    "identity": Identity,
    "linear": Identity,
    "erf": Erf,
    "step": Step,
}


def as_activation(activation):
    """An ``Activation`` from itself or its name."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _NAMED:
        return _NAMED[activation.lower()]()
    raise ValueError(
        f"unknown activation {activation!r}: use one of {sorted(_NAMED)} or an Activation "
        "(ABReLU, LeakyReLU, Custom, ...)"
    )


# --- dual activations -------------------------------------------------------------------------


@jit
def abrelu_dual(spec, sxz, sx, sz, qx, qz, c):
    pi = type(c)(math.pi)
    inverse_two_pi = type(c)(0.5 / math.pi)
    theta = acos(c)
    slope_gap = (spec.b - spec.a) * (spec.b - spec.a)
    relu_t = sx * sz * (sin_of_acos(c) + (pi - theta) * c) * inverse_two_pi
    relu_td = (pi - theta) * inverse_two_pi
    return spec.a * spec.b * sxz + slope_gap * relu_t, spec.a * spec.b + slope_gap * relu_td


@jit
def erf_dual(spec, sxz, sx, sz, qx, qz, c):
    one = type(c)(1)
    pi = type(c)(math.pi)
    two = type(c)(2)
    r = at_least(-one, at_most(one, two * sxz * (qx * qz)))
    nngp = two / pi * asin(r)
    # (1 + 2 sxx)(1 + 2 szz) - 4 sxz^2, written so that it is >= 1 after rounding.
    sines = sx * sz * sin_of_acos(c)
    determinant = one + two * (sx * sx + sz * sz) + (two + two) * sines * sines
    return nngp, (two + two) / (pi * math.sqrt(determinant))


@jit
def step_dual(spec, sxz, sx, sz, qx, qz, c):
    return (type(c)(math.pi) - acos(c)) * type(c)(0.5 / math.pi), type(c)(0)


@jit
def quadrature_dual(spec, sxz, sx, sz, qx, qz, c):
    # u = sx g1, v = sz (c g1 + sqrt(1 - c^2) g2) with g1, g2 independent standard normals.
    along = sz * c
    across = sz * sin_of_acos(c)
    nodes = spec.nodes
    weights = spec.weights
    nngp = type(c)(0)
    ntk = type(c)(0)
    for i in range(nodes.shape[0]):
        u = sx * nodes[i]
        inner = type(c)(0)
        inner_derivative = type(c)(0)
        for j in range(nodes.shape[0]):
            v = along * nodes[i] + across * nodes[j]
            inner += weights[j] * spec.function(v)
            inner_derivative += weights[j] * spec.derivative(v)
        nngp += weights[i] * spec.function(u) * inner
        ntk += weights[i] * spec.derivative(u) * inner_derivative
    return nngp, ntk


#: The dual of each activation spec class, ``dual(spec, sxz, sx, sz, qx, qz, c) -> (T, Td)``;
#: ``spec`` is any namedtuple with that activation's fields.
DUALS = {
    ABReLUSpec: abrelu_dual,
    ErfSpec: erf_dual,
    StepSpec: step_dual,
    QuadratureSpec: quadrature_dual,
}
