"""Activations defined by the user: ``Custom`` (a compiled function, by quadrature) and
``Elementwise`` (compiled closed-form duals, as neural-tangents' ``stax.Elementwise``)."""

import functools
import inspect
import itertools
import math
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import scipy.special

from ._math import at_least
from ._validation import check_int, check_positive
from .declarations import Activation

__all__ = ["Custom", "Elementwise", "QuadratureWarning"]


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
    _check_returns_one_float(function, f"Custom activation {name}", (0.5,), "one float")


def _check_returns_one_float(function, what, arguments, takes):
    """A ``TypeError`` naming ``what`` unless ``function(*arguments)`` compiles and returns one
    real number."""
    try:
        value = function(*arguments)
    except Exception as error:  # Numba's typing errors, or whatever the function raises
        shown = ", ".join(map(str, arguments))
        raise TypeError(
            f"{what} {function!r} must take {takes} and return one float; calling it with "
            f"({shown}) failed: {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"{what} {function!r} must return one float, got {type(value).__name__} {value!r}"
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


@dataclass(frozen=True)
class Elementwise(Activation):
    """An activation given by its duals in closed form (neural-tangents'
    ``stax.Elementwise(fn, nngp_fn, d_nngp_fn)``).

    ``nngp_dual(cov12, var1, var2)`` is ``T = E[phi(u) phi(v)]`` and ``ntk_dual(cov12, var1,
    var2)`` is ``Td = E[phi'(u) phi'(v)]``, for ``(u, v) ~ N(0, [[var1, cov12], [cov12,
    var2]])``: ``numba.njit`` functions of three floats returning one float, compiled into the
    tile loop (on the diagonal ``cov12 = var1 = var2``), and into the GPU kernel where Numba's
    CUDA target compiles them. Without ``ntk_dual`` only the NNGP is defined (neural-tangents
    would differentiate ``nngp_fn``; by Price's theorem ``Td = dT / dcov12``). ``fn`` is
    ``phi`` as a NumPy function, and ``derivative`` ``phi'``, for ``fastntk.features`` and
    ``FiniteNetwork`` (None: they refuse the activation). Gram matrices with these duals are
    compiled in each process (not cached on disk).

    Example, the activation ``phi(u) = exp(u)``: ``T = exp((var1 + var2) / 2 + cov12) = Td``::

        dual = numba.njit(lambda cov12, var1, var2: math.exp(0.5 * (var1 + var2) + cov12))
        Elementwise(np.exp, dual, dual, derivative=np.exp)
    """

    fn: object
    nngp_dual: object
    ntk_dual: object = None
    derivative: object = None

    declared_per_instance = True
    cacheable = False
    missing_derivative = "it has no ntk_dual"

    def __post_init__(self):
        for name in ("fn", "derivative"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(
                    f"Elementwise {name} must be a NumPy function or None, got {value!r}"
                )
        if self.nngp_dual is None:
            raise TypeError(
                "Elementwise needs nngp_dual, a numba.njit function (cov12, var1, var2)"
            )
        for name in ("nngp_dual", "ntk_dual"):
            if getattr(self, name) is not None:
                _check_dual_function(getattr(self, name), name)

    @property
    def has_derivative(self):
        return self.ntk_dual is not None

    @property
    def has_function(self):
        return self.fn is not None

    def spec(self, dtype):
        return _declared_duals(self.nngp_dual, self.ntk_dual).Parameters()

    def phi(self, u):
        return np.asarray(self.fn(u), dtype=u.dtype)

    def phi_prime(self, u):
        if self.derivative is None:
            raise ValueError(
                f"{self!r} has no derivative: pass Elementwise(..., derivative=phi') for the "
                "empirical NTK of a finite network"
            )
        return np.asarray(self.derivative(u), dtype=u.dtype)


_declaration_numbers = itertools.count()


@functools.cache
def _declared_duals(nngp_dual, ntk_dual):
    """The declaration of an ``Elementwise``'s duals: the user's functions are constants of
    its ``dual``, so each backend compiles them into its own code (a function passed as a
    parameter would be a first-class function value, which the CUDA target cannot call)."""
    slope_dual = ntk_dual if ntk_dual is not None else _no_slope

    def dual(p, sxz, c, x, z):
        return nngp_dual(sxz, x.variance, z.variance), slope_dual(sxz, x.variance, z.variance)

    def phi(self, u):
        raise TypeError("the compiled duals of an Elementwise activation have no phi")

    # A name of its own: Numba names compiled code after its argument types, so two classes
    # of one name would share each other's compiled duals in a process.
    return type(
        f"ElementwiseDuals{next(_declaration_numbers)}",
        (Activation,),
        {"dual": dual, "phi": phi, "has_derivative": False, "__module__": __name__},
    )


@numba.njit
def _no_slope(cov12, var1, var2):
    return 0.0 * cov12


def _check_dual_function(function, name):
    """A ``TypeError`` unless ``function`` is compiled, takes three numbers and returns one."""
    python = getattr(function, "py_func", None)
    if python is None and not (numba.config.DISABLE_JIT and callable(function)):
        raise TypeError(
            f"Elementwise {name} must be a numba.njit function (cov12, var1, var2) -> float, "
            f"got {function!r}"
        )
    try:
        count = len(inspect.signature(python or function).parameters)
    except (TypeError, ValueError):
        count = 3
    if count != 3:
        raise TypeError(
            f"Elementwise {name} must take three arguments (cov12, var1, var2), got {count}"
        )
    _check_returns_one_float(function, f"Elementwise {name}", (0.5, 1.0, 1.0), "three floats")
