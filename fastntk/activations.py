"""Activations of the network kernels, each one declaration (MATH.md section 2).

An activation declares its NumPy form ``phi`` (and ``phi_prime``), its dual
``(T, Td) = (E[phi(u) phi(v)], E[phi'(u) phi'(v)])`` for
``(u, v) ~ N(0, [[sxx, sxz], [sxz, szz]])`` as a scalar function of ``sxz``, the clipped
correlation ``c`` and the per-layer records ``x`` and ``z`` (``variance``, ``root``,
``inverse_root`` and the quantities it declares in ``rows``), and its parameters. See
``fastntk.declarations`` for the rules; the network recursion never names an activation.

The names and parameters are neural-tangents 0.6.5's (``stax.Gelu``, ``stax.Sin``, ...); the
declarations live in ``basic_activations`` (piecewise linear, erf, step, sign),
``transcendental`` (exp, sin and GELU based), ``polynomials`` (polynomials and rectified
monomials) and ``user_activations`` (``Custom`` and ``Elementwise``).
"""

from .basic_activations import ABReLU, Abs, Erf, Identity, LeakyReLU, ReLU, SigmoidLike, Sign, Step
from .declarations import Activation
from .polynomials import Hermite, Monomial, Polynomial, RectifiedMonomial
from .transcendental import Cos, Exp, ExpNormalized, Gabor, Gaussian, Gelu, Rbf, Sin
from .user_activations import Custom, Elementwise, QuadratureWarning

__all__ = ["ABReLU", "Abs", "Activation", "Cos", "Custom", "Elementwise", "Erf", "Exp"]
__all__ += ["ExpNormalized", "Gabor", "Gaussian", "Gelu", "Hermite", "Identity", "LeakyReLU"]
__all__ += ["Monomial", "Polynomial", "QuadratureWarning", "Rbf", "RectifiedMonomial", "ReLU"]
__all__ += ["SigmoidLike", "Sign", "Sin", "Step", "as_activation"]


def as_activation(activation):
    """An ``Activation`` from itself or its name."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in Activation.named:
        return Activation.named[activation.lower()]()
    raise ValueError(
        f"unknown activation {activation!r}: use one of {sorted(Activation.named)} or an "
        "Activation of fastntk.activations (ABReLU, Gelu, Polynomial, Custom, ...)"
    )
