"""Activations of the network kernels, each one declaration (MATH.md section 2).

An activation declares its NumPy form ``phi`` (and ``phi_prime``), its dual
``(T, Td) = (E[phi(u) phi(v)], E[phi'(u) phi'(v)])`` for
``(u, v) ~ N(0, [[sxx, sxz], [sxz, szz]])`` as a scalar function of ``sxz``, the clipped
correlation ``c`` and the per-layer records ``x`` and ``z`` (``variance``, ``root``,
``inverse_root`` and the quantities it declares in ``rows``), and its parameters. See
``fastntk.declarations`` for the rules; the network recursion never names an activation.
"""

import functools
import math
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import scipy.special

from ._jit import jit
from ._math import acos, arc_cosine_j, asin, at_least, at_most, sin_of_acos, theta_minus_sine
from ._validation import check_int, check_positive, check_real
from .declarations import Activation

__all__ = ["ABReLU", "Abs", "Activation", "Custom", "Erf", "Identity", "LeakyReLU", "ReLU"]
__all__ += ["QuadratureWarning", "Step", "as_activation"]


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

    def angle_dual(p, theta, remaining, sxz, x, z):
        # T(x, x) = 1/2 for every variance: the deficit is 1/2 - T.
        return remaining * (0.5 / math.pi), 0.0, theta * (0.5 / math.pi), 0.0

    def phi(self, u):
        return (u > 0).astype(u.dtype)


class QuadratureWarning(UserWarning):
    """A ``Custom`` activation's quadrature is estimated to miss its tolerance on this input."""


#: Correlations at which ``Custom.quadrature_error`` compares its rule with a finer one.
_PROBE_CORRELATIONS = (-0.99, -0.9, -0.5, 0.0, 0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Custom(Activation):
    """Any activation as a Numba-compiled scalar function, by Gauss-Hermite quadrature.

    ``function`` and ``derivative`` are ``numba.njit`` functions of one float returning one
    float. Without ``derivative`` only the NNGP is available; for the NTK pass it (for
    ``phi = tanh``: ``derivative = njit(lambda u: 1 - math.tanh(u) ** 2)``).

    The dual is ``sum_ij w_i w_j phi(sx (a g_i + b g_j)) phi(sz (a g_i - b g_j))`` with
    ``a = sqrt((1 + c) / 2)``, ``b = sqrt((1 - c) / 2)`` and the ``degree`` Gauss-Hermite nodes
    ``g`` and weights ``w`` of the standard normal (``2 degree^2`` evaluations per entry and
    layer): the rule is symmetric in ``x`` and ``z``, as the dual is. The nodes are fixed in
    units of the pre-activation's standard deviation, so the error grows with the variance for
    activations that saturate (erf) and falls only slowly with ``degree`` at kinks (relu:
    about ``degree**-1`` for the NNGP). Each Gram matrix estimates it at the variances its rows
    reach (``quadrature_error``) and issues a ``QuadratureWarning`` above ``tolerance``
    (relative to ``sqrt(T(x, x) T(z, z))``). A function that returns NaN or inf at a node the
    quadrature evaluates is a ``ValueError``. Gram matrices with custom activations are
    compiled per function and not cached on disk.
    """

    function: object
    derivative: object = None
    degree: int = 32
    tolerance: float = 1e-3

    parameters = ("function", "derivative", "nodes", "weights")
    cacheable = False
    cuda_unavailable = "Custom activations run on the CPU only"

    def __post_init__(self):
        if self.function is None:
            raise TypeError("Custom activation needs a function")
        for name in ("function", "derivative"):
            value = getattr(self, name)
            compiled = hasattr(value, "py_func") or numba.config.DISABLE_JIT
            if value is not None and not (callable(value) and compiled):
                raise TypeError(
                    f"Custom activation {name} must be a numba.njit function, got {value!r}"
                )
            if value is not None:
                _check_scalar_function(value, name)
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 2, 400))
        object.__setattr__(self, "tolerance", check_positive(self.tolerance, "tolerance"))

    @property
    def has_derivative(self):
        return self.derivative is not None

    def parameter_values(self, dtype):
        nodes, weights = _gauss_hermite(self.degree)
        derivative = self.derivative if self.derivative is not None else self.function
        return self.function, derivative, nodes.astype(dtype), weights.astype(dtype)

    def dual(p, sxz, c, x, z):
        one = type(c)(1)
        half = type(c)(0.5)
        along = math.sqrt(at_least((one + c) * half, type(c)(0)))
        across = math.sqrt(at_least((one - c) * half, type(c)(0)))
        nodes = p.nodes
        weights = p.weights
        nngp = type(c)(0)
        ntk = type(c)(0)
        for i in range(nodes.shape[0]):
            common = along * nodes[i]
            inner = type(c)(0)
            inner_derivative = type(c)(0)
            for j in range(nodes.shape[0]):
                u = x.root * (common + across * nodes[j])
                v = z.root * (common - across * nodes[j])
                inner += weights[j] * (p.function(u) * p.function(v))
                inner_derivative += weights[j] * (p.derivative(u) * p.derivative(v))
            nngp += weights[i] * inner
            ntk += weights[i] * inner_derivative
        return nngp, ntk

    def phi(self, u):
        return _apply_compiled(self.function, u)

    def phi_prime(self, u):
        return _apply_compiled(self.derivative, u)

    def check_variances(self, variances, derivative):
        """``ValueError`` if ``function`` (or, when the kernel uses it, ``derivative``) is not
        finite at a node the quadrature evaluates for these pre-activation variances (shape
        (layers, n)); ``QuadratureWarning`` if ``quadrature_error`` exceeds ``tolerance``."""
        names = ("function", "derivative") if derivative else ("function",)
        nodes, _ = _gauss_hermite(self.degree)
        for layer, row in enumerate(variances, start=1):
            finite = row[np.isfinite(row)]
            if finite.size == 0:
                break
            for name in names:
                function = getattr(self, name)
                if function is None:
                    continue
                points = np.sqrt(np.array([finite.min(), finite.max()]))[:, None] * nodes
                try:
                    values = _apply_compiled(function, points)
                except Exception as error:  # whatever the function raises (a domain error)
                    raise ValueError(
                        f"Custom activation {name} {function!r} raised {type(error).__name__}: "
                        f"{error} at a quadrature node of layer {layer} (u from "
                        f"{points.min():.6g} to {points.max():.6g})"
                    ) from None
                if not np.isfinite(values).all():
                    bad = points[~np.isfinite(values)][0]
                    raise ValueError(
                        f"Custom activation {name} {function!r} returned "
                        f"{values[~np.isfinite(values)][0]} at u = {bad:.6g}, a quadrature "
                        f"node of layer {layer}: it must be finite wherever it is evaluated"
                    )
        error = self.quadrature_error(variances, derivative)
        if error > self.tolerance:
            warnings.warn(
                f"{self!r}: the quadrature error on this input is estimated at {error:.2g} "
                f"(tolerance {self.tolerance:g}); raise degree (now {self.degree}) or rescale "
                "the input",
                QuadratureWarning,
                stacklevel=2,
            )

    def quadrature_error(self, variances, derivative=True):
        """The largest difference between this rule and one of twice the degree (capped at
        800) over the duals (and with ``derivative`` the derivative duals) at the smallest,
        median and largest finite variance of each layer (``variances``, shape (layers, n))
        and correlations from -0.99 to 0.99, relative to ``sqrt(T(x, x) T(z, z))``."""
        coarse = _gauss_hermite(self.degree)
        fine = _gauss_hermite(min(2 * self.degree, 800))
        functions = [self.function]
        if derivative and self.derivative is not None:
            functions.append(self.derivative)
        largest = 0.0
        for row in variances:
            finite = row[np.isfinite(row)]
            if finite.size == 0:
                break
            samples = np.quantile(finite, [0.0, 0.5, 1.0])
            pairs = [(a, b) for k, a in enumerate(samples) for b in samples[k:]]
            for function in functions:
                for sxx, szz in pairs:
                    for c in _PROBE_CORRELATIONS:
                        estimate = _quadrature(function, sxx, szz, c, *coarse)
                        reference = _quadrature(function, sxx, szz, c, *fine)
                        scale = math.sqrt(
                            _quadrature(function, sxx, sxx, 1.0, *fine)
                            * _quadrature(function, szz, szz, 1.0, *fine)
                        )
                        if scale > 0:
                            largest = max(largest, abs(estimate - reference) / scale)
        return largest


def _check_scalar_function(function, name):
    """A ``TypeError`` unless ``function(0.5)`` compiles and returns one real number."""
    try:
        value = function(0.5)
    except Exception as error:  # Numba's typing errors, or whatever the function raises
        raise TypeError(
            f"Custom activation {name} {function!r} must take one float and return one float; "
            f"calling it with 0.5 failed: {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"Custom activation {name} {function!r} must return one float, got "
            f"{type(value).__name__} {value!r}"
        )


@functools.cache
def _gauss_hermite(degree):
    """Nodes and weights of the ``degree``-point Gauss rule for the standard normal
    (SciPy's, accurate at any degree; NumPy's ``hermegauss`` gives NaN weights past 371)."""
    nodes, weights = scipy.special.roots_hermitenorm(degree)
    return nodes, weights / math.sqrt(2 * math.pi)


def _quadrature(function, sxx, szz, c, nodes, weights):
    """The rule of ``Custom.dual`` for one pair, in NumPy (``sum w_i w_j f(u_ij) f(v_ij)``)."""
    along = math.sqrt(max((1 + c) / 2, 0.0))
    across = math.sqrt(max((1 - c) / 2, 0.0))
    u = math.sqrt(sxx) * (along * nodes[:, None] + across * nodes[None, :])
    v = math.sqrt(szz) * (along * nodes[:, None] - across * nodes[None, :])
    products = _apply_compiled(function, u) * _apply_compiled(function, v)
    return float(weights @ products @ weights)


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
