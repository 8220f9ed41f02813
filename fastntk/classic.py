"""The classic kernels: linear, polynomial, Gaussian, Laplacian and arc-cosine (MATH.md section 1).

Each is a frozen dataclass (its parameters, checked on construction) plus a spec namedtuple and
compiled hooks for the Gram engine (``_engine_core``).
"""

import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from . import _engine_core as core
from ._base import Kernel
from ._jit import jit, scalar_jit
from ._math import (
    acos,
    at_least,
    cosine_tolerance,
    exact_dot,
    near_parallel,
    rsqrt_or_zero,
    sin_of_acos,
    snap_cosine,
)
from ._validation import check_int, check_positive, check_real

LinearSpec = namedtuple("LinearSpec", ["c"])
PolynomialSpec = namedtuple("PolynomialSpec", ["degree", "gamma", "coef0"])
GaussianSpec = namedtuple("GaussianSpec", ["inverse_two_variance"])
LaplacianSpec = namedtuple("LaplacianSpec", ["inverse_lengthscale"])
ArcCosineSpec = namedtuple("ArcCosineSpec", ["order", "snap", "exact_snap"])


@dataclass(frozen=True)
class Linear(Kernel):
    """Linear kernel ``k(x, z) = x . z + c``."""

    c: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "c", check_real(self.c, "c"))

    def _spec(self, n_features, dtype):
        return LinearSpec(dtype.type(self.c))


@dataclass(frozen=True)
class Polynomial(Kernel):
    """Polynomial kernel ``k(x, z) = (gamma x . z + coef0) ** degree``, ``gamma`` 1/d by default."""

    degree: int = 3
    gamma: float = None
    coef0: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "degree", check_int(self.degree, "degree", 0))
        if self.gamma is not None:
            object.__setattr__(self, "gamma", check_positive(self.gamma, "gamma"))
        object.__setattr__(self, "coef0", check_real(self.coef0, "coef0"))

    def _spec(self, n_features, dtype):
        gamma = 1.0 / n_features if self.gamma is None else self.gamma
        return PolynomialSpec(np.int64(self.degree), dtype.type(gamma), dtype.type(self.coef0))


@dataclass(frozen=True)
class Gaussian(Kernel):
    """Gaussian (RBF) kernel ``k(x, z) = exp(-|x - z|^2 / (2 lengthscale^2))``."""

    lengthscale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "lengthscale", check_positive(self.lengthscale, "lengthscale"))

    def _spec(self, n_features, dtype):
        return GaussianSpec(dtype.type(0.5 / self.lengthscale**2))


@dataclass(frozen=True)
class Laplacian(Kernel):
    """Laplacian kernel ``k(x, z) = exp(-|x - z|_1 / lengthscale)`` (L1, as scikit-learn's)."""

    lengthscale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "lengthscale", check_positive(self.lengthscale, "lengthscale"))

    def _spec(self, n_features, dtype):
        return LaplacianSpec(dtype.type(1.0 / self.lengthscale))


@dataclass(frozen=True)
class ArcCosine(Kernel):
    """Arc-cosine kernel of Cho and Saul (2009), ``order`` 0, 1 or 2.

    ``k(x, z) = (1/pi) |x|^q |z|^q J_q(theta)``, ``cos theta = x.z / (|x| |z|)``, with
    ``J_0 = pi - theta``, ``J_1 = sin theta + (pi - theta) cos theta`` and
    ``J_2 = 3 sin theta cos theta + (pi - theta)(1 + 2 cos^2 theta)``.
    A zero vector is taken as orthogonal to every vector (``cos theta = 0``).
    """

    order: int = 1

    def __post_init__(self):
        object.__setattr__(self, "order", check_int(self.order, "order", 0, 2))

    def _spec(self, n_features, dtype):
        return ArcCosineSpec(
            np.int64(self.order),
            dtype.type(cosine_tolerance(n_features, dtype)),
            cosine_tolerance(n_features, np.float64),
        )


# --- row quantities -----------------------------------------------------------------------


@jit
def squared_norms(spec, X):
    """``|x|^2`` per row, shape (1, n)."""
    rows = np.empty((1, X.shape[0]), dtype=X.dtype)
    for i in range(X.shape[0]):
        total = X.dtype.type(0)
        for k in range(X.shape[1]):
            total += X[i, k] * X[i, k]
        rows[0, i] = total
    return rows


@jit
def norms_and_inverses(spec, X):
    """``|x|`` and ``1/|x|`` (0 for a zero row) per row, shape (2, n)."""
    squares = squared_norms(spec, X)
    rows = np.empty((2, X.shape[0]), dtype=X.dtype)
    for i in range(X.shape[0]):
        rows[0, i] = math.sqrt(squares[0, i])
        rows[1, i] = rsqrt_or_zero(squares[0, i])
    return rows


@jit
def transposed(spec, X):
    """``X.T`` as a C-contiguous (d, n) array: tile loops then run along samples."""
    return np.ascontiguousarray(X.T)


for _spec_class in (LinearSpec, PolynomialSpec, GaussianSpec):
    core.register_row_info(_spec_class)(squared_norms)
core.register_row_info(ArcCosineSpec)(norms_and_inverses)
core.register_row_info(LaplacianSpec)(transposed)
for _spec_class in (LinearSpec, PolynomialSpec, GaussianSpec, ArcCosineSpec):
    core.register_tile_products(_spec_class)(core.dot_products)
for _spec_class in (LinearSpec, PolynomialSpec, GaussianSpec, LaplacianSpec):
    core.register_refine_tile(_spec_class)(core.nothing_to_refine)


# --- scalar maps ----------------------------------------------------------------------------


@scalar_jit
def polynomial_value(dot, degree, gamma, coef0):
    base = gamma * dot + coef0
    value = type(dot)(1)
    for _ in range(degree):
        value *= base
    return value


@scalar_jit
def gaussian_value(dot, squared_norm_x, squared_norm_z, inverse_two_variance):
    squared_distance = at_least(squared_norm_x + squared_norm_z - (dot + dot), type(dot)(0))
    return math.exp(-squared_distance * inverse_two_variance)


@scalar_jit
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


# --- tile maps ------------------------------------------------------------------------------


@core.register_map_tile(LinearSpec)
@jit
def _linear_tile(spec, dots, rows_x, rows_z, i0, j0, out):
    for i in range(dots.shape[0]):
        dots_row = dots[i]
        out_row = out[0, i0 + i, j0 : j0 + dots.shape[1]]
        for j in range(dots.shape[1]):
            out_row[j] = dots_row[j] + spec.c


@core.register_map_tile(PolynomialSpec)
@jit
def _polynomial_tile(spec, dots, rows_x, rows_z, i0, j0, out):
    for i in range(dots.shape[0]):
        dots_row = dots[i]
        out_row = out[0, i0 + i, j0 : j0 + dots.shape[1]]
        for j in range(dots.shape[1]):
            out_row[j] = polynomial_value(dots_row[j], spec.degree, spec.gamma, spec.coef0)


@core.register_map_tile(GaussianSpec)
@jit
def _gaussian_tile(spec, dots, rows_x, rows_z, i0, j0, out):
    squared_norms_z = rows_z[0, j0 : j0 + dots.shape[1]]
    for i in range(dots.shape[0]):
        dots_row = dots[i]
        out_row = out[0, i0 + i, j0 : j0 + dots.shape[1]]
        squared_norm_x = rows_x[0, i0 + i]
        for j in range(dots.shape[1]):
            out_row[j] = gaussian_value(
                dots_row[j], squared_norm_x, squared_norms_z[j], spec.inverse_two_variance
            )


@core.register_map_tile(ArcCosineSpec)
@jit
def _arc_cosine_tile(spec, dots, rows_x, rows_z, i0, j0, out):
    norms_z = rows_z[0, j0 : j0 + dots.shape[1]]
    inverse_norms_z = rows_z[1, j0 : j0 + dots.shape[1]]
    for i in range(dots.shape[0]):
        dots_row = dots[i]
        out_row = out[0, i0 + i, j0 : j0 + dots.shape[1]]
        norm_x = rows_x[0, i0 + i]
        inverse_norm_x = rows_x[1, i0 + i]
        for j in range(dots.shape[1]):
            c = snap_cosine(dots_row[j] * (inverse_norm_x * inverse_norms_z[j]), spec.snap)
            out_row[j] = arc_cosine_value(spec.order, c, norm_x * norms_z[j])


@core.register_refine_tile(ArcCosineSpec)
@jit
def _arc_cosine_refine(spec, X, Z, dots, rows_x, rows_z, exact_rows_x, exact_rows_z, i0, j0, out):
    for i in range(dots.shape[0]):
        for j in range(dots.shape[1]):
            c = dots[i, j] * (rows_x[1, i0 + i] * rows_z[1, j0 + j])
            if near_parallel(c):
                inverse_norms = exact_rows_x[1, i0 + i] * exact_rows_z[1, j0 + j]
                exact_cosine = exact_dot(X, Z, i0 + i, j0 + j) * inverse_norms
                c = snap_cosine(exact_cosine, spec.exact_snap)
                norm_product = exact_rows_x[0, i0 + i] * exact_rows_z[0, j0 + j]
                out[0, i0 + i, j0 + j] = arc_cosine_value(spec.order, c, norm_product)


@core.register_tile_products(LaplacianSpec)
@jit
def _l1_distances(spec, X, Z, rows_z, i0, i1, j0, j1, distances):
    for i in range(i1 - i0):
        row = distances[i]
        row[:] = 0
        for k in range(X.shape[1]):
            x = X[i0 + i, k]
            z = rows_z[k, j0:j1]
            for j in range(j1 - j0):
                row[j] += abs(x - z[j])


@core.register_map_tile(LaplacianSpec)
@jit
def _laplacian_tile(spec, distances, rows_x, rows_z, i0, j0, out):
    for i in range(distances.shape[0]):
        distances_row = distances[i]
        out_row = out[0, i0 + i, j0 : j0 + distances.shape[1]]
        for j in range(distances.shape[1]):
            out_row[j] = math.exp(-distances_row[j] * spec.inverse_lengthscale)


# --- exact diagonals ------------------------------------------------------------------------


@core.register_diagonal(LinearSpec)
@jit
def _linear_diagonal(spec, rows):
    return rows + spec.c


@core.register_diagonal(PolynomialSpec)
@jit
def _polynomial_diagonal(spec, rows):
    values = np.empty_like(rows)
    for i in range(rows.shape[1]):
        values[0, i] = polynomial_value(rows[0, i], spec.degree, spec.gamma, spec.coef0)
    return values


@jit
def _ones_diagonal(spec, rows):
    return np.ones((1, rows.shape[1]), dtype=rows.dtype)


core.register_diagonal(GaussianSpec)(_ones_diagonal)
core.register_diagonal(LaplacianSpec)(_ones_diagonal)


@core.register_diagonal(ArcCosineSpec)
@jit
def _arc_cosine_diagonal(spec, rows):
    values = np.empty((1, rows.shape[1]), dtype=rows.dtype)
    one = rows.dtype.type(1)
    for i in range(rows.shape[1]):
        c = one if rows[0, i] > 0 else rows.dtype.type(0)
        values[0, i] = arc_cosine_value(spec.order, c, rows[0, i] * rows[0, i])
    return values
