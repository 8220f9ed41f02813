"""The classic kernels: linear, polynomial, Gaussian, Laplacian and arc-cosine (MATH.md section 1).

Each is one declaration (``fastntk.declarations.ScalarKernel``): its parameters, checked on
construction, the numbers its maths uses, its per-row quantities, its scalar map and its exact
diagonal.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._jit import inline_jit, jit
from ._math import (
    ANTI_PARALLEL,
    ANTI_PARALLEL_J2,
    acos,
    arc_cosine_j,
    at_least,
    cosine_tolerance,
    near_parallel,
    rsqrt_or_zero,
    sin_of_acos,
    snap_cosine,
)
from ._validation import check_int, check_positive, check_real
from .declarations import ScalarKernel


@dataclass(frozen=True)
class Linear(ScalarKernel):
    r"""Linear kernel ``k(x, z) = x.z + c``.

    .. math:: k(x, z) = x \cdot z + c

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    >>> fk.gram(fk.Linear(c=1.0), X)
    array([[ 6. ,  2. ,  2.5],
           [ 2. , 11. ,  2. ],
           [ 2.5,  2. ,  1.5]])
    """

    c: float = 0.0

    parameters = ("c",)
    rows = ("squared_norm",)

    def __post_init__(self):
        object.__setattr__(self, "c", check_real(self.c, "c"))

    def parameter_values(self, n_features, dtype):
        return (self.c,)

    def row_values(p, squared_norm):
        return (squared_norm,)

    def value(p, dot, x, z):
        return dot + p.c

    def diagonal(p, x):
        return x.squared_norm + p.c


#: The largest polynomial degree: the compiled maths holds it in an int64.
MAX_DEGREE = 2**63 - 1


@jit
def polynomial_value(dot, degree, gamma, coef0):
    """``(gamma dot + coef0) ** degree`` by repeated squaring: ``log2(degree)`` products."""
    base = gamma * dot + coef0
    value = type(dot)(1)
    remaining = degree
    while remaining > 0:
        if remaining & 1:
            value *= base
        base *= base
        remaining >>= 1
    return value


@dataclass(frozen=True)
class Polynomial(ScalarKernel):
    r"""Polynomial kernel ``k(x, z) = (gamma x.z + coef0) ** degree``, ``gamma`` 1/d by default.

    .. math:: k(x, z) = (\gamma\, x \cdot z + \mathrm{coef0})^{\mathrm{degree}}

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> K = fk.gram(fk.Polynomial(degree=3, coef0=1.0), X)  # gamma = 1/d
    >>> bool(np.allclose(K, (X @ X.T / 3 + 1.0) ** 3))
    True
    """

    degree: int = 3
    gamma: float = None
    coef0: float = 1.0

    parameters = ("degree", "gamma", "coef0")
    rows = ("squared_norm",)

    def __post_init__(self):
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 0, MAX_DEGREE))
        if self.gamma is not None:
            object.__setattr__(self, "gamma", check_positive(self.gamma, "gamma"))
        object.__setattr__(self, "coef0", check_real(self.coef0, "coef0"))

    def parameter_values(self, n_features, dtype):
        gamma = 1.0 / n_features if self.gamma is None else self.gamma
        return (self.degree, gamma, self.coef0)

    def row_values(p, squared_norm):
        return (squared_norm,)

    def value(p, dot, x, z):
        return polynomial_value(dot, p.degree, p.gamma, p.coef0)

    def diagonal(p, x):
        return polynomial_value(x.squared_norm, p.degree, p.gamma, p.coef0)


@jit
def gaussian_of_distance(squared_distance, inverse_lengthscale):
    """``exp(-(d / l) / l / 2)`` for ``d = |x - z|^2``: exactly 1 at ``d = 0`` for any ``l``
    (a select, not a branch, so loops calling it vectorise; ``0 * inf`` would be NaN)."""
    zero = type(squared_distance)(0)
    scaled = (squared_distance * inverse_lengthscale) * inverse_lengthscale
    half = type(squared_distance)(-0.5)
    return math.exp(half * scaled) if squared_distance > zero else type(squared_distance)(1)


@dataclass(frozen=True)
class Gaussian(ScalarKernel):
    r"""Gaussian (RBF) kernel of the squared distance of ``x`` and ``z``.

    .. math:: k(x, z) = \exp\left(-\frac{|x - z|^2}{2\, \mathrm{lengthscale}^2}\right)

    with ``|x - z|^2 = |x|^2 + |z|^2 - 2 x . z`` (clipped at 0) scaled as
    ``(|x - z|^2 / lengthscale) / lengthscale``, so that no lengthscale overflows or divides by
    zero: a zero distance gives exactly 1 and an overflowing one 0. Where the expansion is
    within a few roundings of 0 (duplicate and near-duplicate rows), ``|x - z|^2`` is summed
    from the difference of the rows instead. A row whose ``|x|^2`` overflows is a
    ``ValueError`` (rescale the input and the lengthscale together).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> squared_distances = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)
    >>> K = fk.gram(fk.Gaussian(lengthscale=2.0), X)
    >>> bool(np.allclose(K, np.exp(-squared_distances / (2 * 2.0**2))))
    True
    """

    lengthscale: float = 1.0

    parameters = ("inverse_lengthscale", "cancellation")
    rows = ("squared_norm",)

    def __post_init__(self):
        object.__setattr__(self, "lengthscale", check_positive(self.lengthscale, "lengthscale"))

    def parameter_values(self, n_features, dtype):
        # An inverse past the dtype's range is inf (scaled distances: 0 stays 0, others inf).
        inverse = 1.0 / self.lengthscale
        if inverse > float(np.finfo(dtype).max):
            inverse = math.inf
        # The expansion's rounding bound, with a margin: below it the distance is noise.
        return (inverse, 16 * cosine_tolerance(n_features, dtype))

    def row_values(p, squared_norm):
        return (squared_norm,)

    def value(p, dot, x, z):
        zero = type(dot)(0)
        return gaussian_of_distance(
            at_least(x.squared_norm + z.squared_norm - (dot + dot), zero), p.inverse_lengthscale
        )

    def diagonal(p, x):
        return type(x.squared_norm)(1)

    def needs_refinement(p, dot, x, z):
        squared_norms = x.squared_norm + z.squared_norm
        return squared_norms - (dot + dot) <= p.cancellation * squared_norms

    def refined_value(p, pair, x, z):
        return gaussian_of_distance(pair.squared_distance, p.inverse_lengthscale)


@dataclass(frozen=True)
class Laplacian(ScalarKernel):
    r"""Laplacian kernel of the L1 distance of ``x`` and ``z`` (as scikit-learn's).

    .. math:: k(x, z) = \exp\left(-\frac{|x - z|_1}{\mathrm{lengthscale}}\right)

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> distances = np.abs(X[:, None, :] - X[None, :, :]).sum(axis=-1)
    >>> K = fk.gram(fk.Laplacian(lengthscale=2.0), X)
    >>> bool(np.allclose(K, np.exp(-distances / 2.0)))
    True
    """

    lengthscale: float = 1.0

    parameters = ("inverse_lengthscale",)
    products = "l1"

    def __post_init__(self):
        object.__setattr__(self, "lengthscale", check_positive(self.lengthscale, "lengthscale"))

    def parameter_values(self, n_features, dtype):
        return (1.0 / self.lengthscale,)

    def value(p, distance, x, z):
        return math.exp(-distance * p.inverse_lengthscale)

    def diagonal(p, x):
        return type(p.inverse_lengthscale)(1)


@inline_jit
def arc_cosine_value(order, c, norm_product):
    """``(1/pi) norm_product^order J_order(theta)`` with ``cos theta = c``.

    All three ``J`` are formed and one selected: without branches the tile loop vectorises.
    """
    pi = type(c)(math.pi)
    remaining = pi - acos(c)
    sine = sin_of_acos(c)
    j1 = norm_product * (sine + remaining * c)
    three_sine_c = type(c)(3) * sine * c
    j2 = (
        norm_product * norm_product * (three_sine_c + remaining * (type(c)(1) + type(c)(2) * c * c))
    )
    value = remaining if order == 0 else (j1 if order == 1 else j2)
    return value * type(c)(1 / math.pi)


@dataclass(frozen=True)
class ArcCosine(ScalarKernel):
    r"""Arc-cosine kernel of Cho and Saul (2009), ``order`` 0, 1 or 2.

    .. math::

        k(x, z) = \frac{1}{\pi} |x|^q |z|^q J_q(\theta), \qquad
        \cos\theta = \frac{x \cdot z}{|x|\, |z|},

    with q = ``order``, :math:`J_0 = \pi - \theta`,
    :math:`J_1 = \sin\theta + (\pi - \theta)\cos\theta`
    and :math:`J_2 = 3 \sin\theta \cos\theta + (\pi - \theta)(1 + 2 \cos^2\theta)`.
    A zero vector is taken as orthogonal to every vector (``cos theta = 0``). Near-parallel (and
    anti-parallel) pairs take their angle from ``atan2(|x ^ z|, x . z)``, with ``|x ^ z|`` from
    the difference of the rows (``fastntk._math.pair_products``): full relative accuracy at any
    angle. ``order=0`` is invariant to scaling the rows, at any scale.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> norms = np.linalg.norm(X, axis=1)
    >>> theta = np.arccos(np.clip(X @ X.T / np.outer(norms, norms), -1, 1))
    >>> K = fk.gram(fk.ArcCosine(order=0), X)
    >>> bool(np.allclose(K, 1 - theta / np.pi))
    True
    """

    order: int = 1

    parameters = ("order", "snap", "anti_parallel")
    rows = ("norm", "inverse_norm")

    def __post_init__(self):
        object.__setattr__(self, "order", check_int(self.order, "order", 0, 2))

    def parameter_values(self, n_features, dtype):
        anti_parallel = ANTI_PARALLEL_J2 if self.order == 2 else ANTI_PARALLEL
        return (self.order, cosine_tolerance(n_features, dtype), anti_parallel)

    def row_values(p, squared_norm):
        return (math.sqrt(squared_norm), rsqrt_or_zero(squared_norm))

    def value(p, dot, x, z):
        c = snap_cosine(dot * (x.inverse_norm * z.inverse_norm), p.snap)
        return arc_cosine_value(p.order, c, x.norm * z.norm)

    def diagonal(p, x):
        c = type(x.norm)(1) if x.norm > 0 else type(x.norm)(0)
        return arc_cosine_value(p.order, c, x.norm * x.norm)

    @property
    def scale_invariant(self):
        return self.order == 0

    def needs_refinement(p, dot, x, z):
        c = dot * (x.inverse_norm * z.inverse_norm)
        return near_parallel(c) or c < p.anti_parallel

    def refined_value(p, pair, x, z):
        scale = x.inverse_norm * z.inverse_norm
        if scale == 0:  # a zero vector: orthogonal
            return arc_cosine_value(p.order, 0.0, x.norm * z.norm)
        wedge = math.sqrt(pair.squared_wedge)
        if wedge * scale <= p.snap:  # parallel to rounding, as snap_cosine has it
            wedge = 0.0
        theta = math.atan2(wedge, pair.dot)
        remaining = math.atan2(wedge, -pair.dot)
        j = arc_cosine_j(p.order, theta, remaining)
        return (x.norm * z.norm) ** p.order * j * (1 / math.pi)
