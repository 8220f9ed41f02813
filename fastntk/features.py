"""Explicit feature maps: kernels as inner products of features (MATH.md sections 1 and 4).

Each map turns the rows of ``X`` into rows of features ``phi(x)`` with
``phi(X) @ phi(Z).T`` equal to (``polynomial``) or, for the random maps, an unbiased Monte Carlo
estimate of a fastntk kernel, with an error that falls like ``1 / sqrt(n_features)``:

========================  ====================================================
``polynomial``            ``fastntk.Polynomial``, exactly
``random_fourier``        ``fastntk.Gaussian`` and ``fastntk.Laplacian``
``random_features``       ``fastntk.NNGP(depth=1, activation, w_std, b_std)``
``arc_cosine``            ``fastntk.ArcCosine(order)``
========================  ====================================================

The random maps draw their weights from ``seed`` (an integer or a ``numpy.random.Generator``)
and the number of input features only, never from the rows: the same integer seed gives the
same weights for ``X`` and for ``Z``, so ``f(X, seed=0) @ f(Z, seed=0).T`` estimates
``K(X, Z)``. A ``Generator`` is advanced by each call; featurise ``X`` and ``Z`` from one
integer seed, or stacked in one call. Weights are drawn in float64 whatever the ``dtype``, so
float32 features are the float64 ones rounded.
"""

import math
import numbers
from collections import namedtuple

import numpy as np

from ._validation import (
    as_compute_array,
    check_fits_in_memory,
    check_int,
    check_matrix,
    check_positive,
    check_real,
    resolve_dtype,
)
from .activations import as_activation
from .classic import Gaussian, Laplacian

__all__ = ["arc_cosine", "polynomial", "random_features", "random_fourier"]


def polynomial(X, degree=3, gamma=None, coef0=1.0, *, dtype=None):
    """Explicit features of the polynomial kernel ``(gamma x.z + coef0) ** degree``.

    All monomials of degree ``degree`` in ``x~ = [sqrt(gamma) x, sqrt(coef0)]``, each scaled by
    the square root of its multinomial coefficient ``degree! / prod_i a_i!`` (``a_i`` the
    power of ``x~_i``), so that by the multinomial theorem
    ``polynomial(X) @ polynomial(Z).T == fastntk.Polynomial(degree, gamma, coef0)(X, Z)``.
    With ``coef0 = 0`` the constant is left out and only the monomials of ``x`` remain:
    for ``d = 2, degree = 2, gamma = 1`` the map is ``[x1^2, sqrt(2) x1 x2, x2^2]``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    degree : int >= 0
    gamma : float > 0, default ``1 / d``
    coef0 : float >= 0 (a negative ``coef0`` has no real feature map)
    dtype : float64 (default) or float32

    Returns
    -------
    ndarray, shape (n, C(d + degree, degree)), or (n, C(d + degree - 1, degree)) when
    ``coef0 == 0``. Columns are ordered by the largest variable index of each monomial, then
    recursively the same way (``x1^2, x1 x2, x2^2, ...``).

    Raises
    ------
    MemoryError
        Before allocating, when the features do not fit in the available memory (their number
        grows like ``d ** degree``).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> Phi = fk.features.polynomial(X, degree=2)
    >>> bool(np.allclose(Phi @ Phi.T, fk.gram(fk.Polynomial(degree=2), X)))
    True
    """
    X = check_matrix(X, "X")
    degree = check_int(degree, "degree", 0)
    gamma = 1.0 / X.shape[1] if gamma is None else check_positive(gamma, "gamma")
    coef0 = check_real(coef0, "coef0")
    if coef0 < 0:
        raise ValueError(f"coef0 must be >= 0 for a real feature map, got {coef0}")
    dtype = resolve_dtype(dtype)
    n_variables = X.shape[1] + (coef0 > 0)
    n_monomials = math.comb(n_variables + degree - 1, degree)
    check_fits_in_memory(
        X.shape[0] * n_monomials * dtype.itemsize,
        f"the {n_monomials} polynomial features of {X.shape[0]} rows",
        "lower the degree, map fewer rows per call, or use dtype=float32; or use the kernel "
        "fastntk.Polynomial, whose Gram matrix does not grow with the degree",
    )
    X = as_compute_array(X, dtype, "X")
    variables = math.sqrt(gamma) * X
    if coef0 > 0:
        constant = np.full((X.shape[0], 1), math.sqrt(coef0), dtype=dtype)
        variables = np.hstack([variables, constant])
    return _monomials(variables, degree)


def _monomials(variables, degree):
    """The scaled monomials of ``polynomial``, built degree by degree.

    A monomial of degree ``k`` is one of degree ``k - 1`` times a variable whose index is at
    least the largest index in it (each monomial is built once). With ``run`` the power of that
    largest variable, the multinomial coefficient grows by ``k / (run + 1)`` when the variable
    is the same and by ``k`` when it is new.
    """
    n, n_variables = variables.shape
    features = np.ones((n, 1), dtype=variables.dtype)
    last = np.zeros(1, dtype=np.int64)  # largest variable index in each monomial
    run = np.zeros(1, dtype=np.int64)  # its power
    for k in range(1, degree + 1):
        blocks, next_last, next_run = [], [], []
        for i in range(n_variables):
            parents = np.flatnonzero(last <= i)
            same = last[parents] == i
            parent_run = np.where(same, run[parents], 0)
            growth = np.sqrt(k / (parent_run + 1)).astype(variables.dtype)
            blocks.append(features[:, parents] * variables[:, i : i + 1] * growth)
            next_last.append(np.full(parents.size, i))
            next_run.append(parent_run + 1)
        features = np.hstack(blocks)
        last, run = np.concatenate(next_last), np.concatenate(next_run)
    return features


def random_fourier(X, n_features, kernel=None, *, seed=None, dtype=None):
    """Random Fourier features of a Gaussian or Laplacian kernel (Rahimi and Recht 2007).

    ``phi(x) = sqrt(2 / D) cos(W x + b)``, ``b ~ U[0, 2 pi)``, with the rows of ``W`` drawn
    from the kernel's spectral density: ``W ~ N(0, I / l^2)`` for ``Gaussian(l)``, entries
    i.i.d. ``Cauchy(0, 1 / l)`` for ``Laplacian(l)`` (its L1 distance factorises over
    coordinates). ``E[phi(x) . phi(z)] = k(x, z)``; one term has variance at most 3/2, so the
    error is about ``1.2 / sqrt(D)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    n_features : int, the number ``D`` of features
    kernel : ``fastntk.Gaussian`` (default ``Gaussian(1.0)``) or ``fastntk.Laplacian``
    seed : int, ``numpy.random.Generator`` or None (see the module docstring)
    dtype : float64 (default) or float32

    Returns
    -------
    ndarray, shape (n, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> D = 20_000
    >>> Phi = fk.features.random_fourier(X, D, fk.Gaussian(1.0), seed=0)
    >>> error = np.abs(Phi @ Phi.T - fk.gram(fk.Gaussian(1.0), X)).max()
    >>> bool(error < 5 * 1.2 / np.sqrt(D))  # five standard errors
    True
    """
    kernel = Gaussian() if kernel is None else kernel
    if not isinstance(kernel, (Gaussian, Laplacian)):
        raise TypeError(f"kernel must be fastntk.Gaussian or fastntk.Laplacian, got {kernel!r}")
    X, n_features, dtype, rng = _check_random_map_inputs(X, n_features, "n_features", seed, dtype)
    d = X.shape[1]
    if isinstance(kernel, Gaussian):
        frequencies = rng.standard_normal((n_features, d))
    else:
        frequencies = rng.standard_cauchy((n_features, d))
    frequencies /= kernel.lengthscale
    phases = rng.uniform(0.0, 2 * math.pi, n_features)
    projections = X @ frequencies.T.astype(dtype) + phases.astype(dtype)
    return dtype.type(math.sqrt(2.0 / n_features)) * np.cos(projections)


def random_features(X, width, activation="relu", w_std=1.0, b_std=0.0, *, seed=None, dtype=None):
    """Features of a random first layer, whose inner products estimate the depth-1 NNGP.

    With the first layer of MATH.md section 3, ``h(x) = w_std B x / sqrt(d) + b_std beta``,
    ``B`` and ``beta`` i.i.d. ``N(0, 1)`` (``width`` units),
    ``phi(x) = [w_std phi_act(h(x)) / sqrt(width), b_std]`` so that
    ``phi(x) . phi(z) = (w_std^2 / width) phi_act(h(x)) . phi_act(h(z)) + b_std^2`` (MATH.md
    section 4), whose mean is ``fastntk.NNGP(1, activation, w_std, b_std)(x, z)``: a mean of
    ``width`` i.i.d. terms, so the error falls like ``1 / sqrt(width)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    width : int, the number of hidden units
    activation : name or ``fastntk`` activation (``"relu"``, ``fk.Erf()``, ``fk.Custom(...)``)
    w_std : float > 0
    b_std : float >= 0
    seed : int, ``numpy.random.Generator`` or None (see the module docstring)
    dtype : float64 (default) or float32

    Returns
    -------
    ndarray, shape (n, width + 1): the hidden units, then the constant ``b_std``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> width = 20_000
    >>> Phi = fk.features.random_features(X, width, "relu", seed=0)
    >>> K = fk.gram(fk.NNGP(depth=1), X)
    >>> bool(np.abs(Phi @ Phi.T - K).max() < 0.05 * K.max())
    True
    """
    activation = as_activation(activation)
    w_std = check_positive(w_std, "w_std")
    b_std = check_positive(b_std, "b_std", allow_zero=True)
    X, width, dtype, rng = _check_random_map_inputs(X, width, "width", seed, dtype, extra=1)
    d = X.shape[1]
    weights = rng.standard_normal((width, d))
    biases = rng.standard_normal(width)
    first_layer = (w_std / math.sqrt(d) * weights.T).astype(dtype)
    preactivations = X @ first_layer + (b_std * biases).astype(dtype)
    features = np.empty((X.shape[0], width + 1), dtype=dtype)
    features[:, :width] = elementwise(activation).function(preactivations)
    features[:, :width] *= dtype.type(w_std / math.sqrt(width))
    features[:, width] = b_std
    return features


def arc_cosine(X, n_features, order=1, *, seed=None, dtype=None):
    """Random threshold features of the arc-cosine kernel of order 0, 1 or 2 (Cho and Saul 2009).

    ``phi(x) = sqrt(2 / D) step(W x) (W x)^order``, ``W ~ N(0, I)``:
    ``E[phi(x) . phi(z)] = fastntk.ArcCosine(order)(x, z)``, with an error that falls like
    ``|x|^order |z|^order / sqrt(D)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    n_features : int, the number ``D`` of features
    order : 0, 1 or 2
    seed : int, ``numpy.random.Generator`` or None (see the module docstring)
    dtype : float64 (default) or float32

    Returns
    -------
    ndarray, shape (n, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> Phi = fk.features.arc_cosine(X, 20_000, order=1, seed=0)
    >>> K = fk.gram(fk.ArcCosine(order=1), X)
    >>> bool(np.abs(Phi @ Phi.T - K).max() < 0.05 * K.max())
    True
    """
    order = check_int(order, "order", 0, 2)
    X, n_features, dtype, rng = _check_random_map_inputs(X, n_features, "n_features", seed, dtype)
    projections = X @ rng.standard_normal((n_features, X.shape[1])).T.astype(dtype)
    powers = projections**order if order > 0 else np.ones_like(projections)
    return np.where(projections > 0, dtype.type(math.sqrt(2.0 / n_features)) * powers, 0)


def _check_random_map_inputs(X, count, count_name, seed, dtype, extra=0):
    """``X`` converted, ``count`` checked, the dtype and the generator of a random map."""
    X = check_matrix(X, "X")
    count = check_int(count, count_name, 1)
    dtype = resolve_dtype(dtype)
    rng = as_generator(seed)
    check_fits_in_memory(
        X.shape[0] * (count + extra) * dtype.itemsize,
        f"{count + extra} random features of {X.shape[0]} rows",
        f"lower {count_name}, map fewer rows per call (an integer seed gives every call the "
        "same weights), or use dtype=float32",
    )
    return as_compute_array(X, dtype, "X"), count, dtype, rng


def as_generator(seed):
    """A ``numpy.random.Generator`` from ``seed``: None, a non-negative int or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")


# --- activations as NumPy functions -------------------------------------------------------------


#: An activation and its derivative as functions of NumPy arrays that keep the array's dtype
#: (``derivative`` None when the activation has none).
NumpyForms = namedtuple("NumpyForms", ["function", "derivative"])


def elementwise(activation):
    """The ``NumpyForms`` of a fastntk activation (an ``Activation`` or its name): the NumPy
    forms its declaration gives. A ``ValueError`` for a dual map with no elementwise function
    (``ExpNormalized``, ``Elementwise(fn=None, ...)``)."""
    activation = as_activation(activation)
    if not activation.has_function:
        raise ValueError(
            f"{activation!r} has no elementwise function phi: explicit features and finite "
            "networks need one (its kernels need only the dual)"
        )
    return NumpyForms(activation.phi, activation.phi_prime if activation.has_derivative else None)
