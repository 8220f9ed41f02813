"""Plain NumPy float64 references for every fastntk kernel, written from MATH.md.

Nothing here imports fastntk or shares its code: the formulas are written out directly (explicit
pairwise differences, ``np.arccos``/``np.arcsin``), entry by entry over broadcast arrays, with
no tiling and no attention to speed. Inputs are converted to float64.

Activations are described by small tuples (see ``relu``, ``abrelu``, ...), so that this module
does not depend on fastntk's activation classes.
"""

import math

import numpy as np

# --- helpers ----------------------------------------------------------------------------------


def _as_float64(X, Z):
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    return X, Z


#: A cosine computed from rounded inner products is off by a few eps: within this of +-1 it
#: cannot be told from +-1, and arccos(1 - e) = sqrt(2 e) would turn the rounding into an
#: angle of ~1e-8 (compounding through the layers of a step network), so it is set to +-1.
COSINE_SNAP = 32 * np.finfo(np.float64).eps


def _cosine(sxx, szz, sxz):
    """``sxz / sqrt(sxx szz)`` clipped into [-1, 1] (and set to +-1 within ``COSINE_SNAP``);
    0 where either variance is 0."""
    # sqrt(sxx szz) is exactly sxx when szz == sxx (identical inputs get cosine exactly 1);
    # where the product leaves the normal range, the product of the roots instead.
    with np.errstate(under="ignore", over="ignore"):
        product = sxx * szz
    normal = (product >= np.finfo(np.float64).tiny) & np.isfinite(product)
    s = np.where(normal, np.sqrt(np.where(normal, product, 1.0)), np.sqrt(sxx) * np.sqrt(szz))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(s > 0, sxz / np.where(s > 0, s, 1.0), 0.0)
    c = np.where(np.abs(c) > 1 - COSINE_SNAP, np.sign(c), c)
    return np.clip(c, -1.0, 1.0), s


# --- classic kernels (MATH.md section 1) -------------------------------------------------------


def linear(X, Z=None, c=0.0):
    X, Z = _as_float64(X, Z)
    return np.einsum("ik,jk->ij", X, Z) + c


def polynomial(X, Z=None, degree=3, gamma=None, coef0=1.0):
    X, Z = _as_float64(X, Z)
    if gamma is None:
        gamma = 1.0 / X.shape[1]
    return (gamma * np.einsum("ik,jk->ij", X, Z) + coef0) ** degree


def gaussian(X, Z=None, lengthscale=1.0):
    X, Z = _as_float64(X, Z)
    differences = X[:, None, :] - Z[None, :, :]
    squared_distances = np.sum(differences**2, axis=2)
    return np.exp(-squared_distances / (2 * lengthscale**2))


def laplacian(X, Z=None, lengthscale=1.0):
    X, Z = _as_float64(X, Z)
    l1_distances = np.sum(np.abs(X[:, None, :] - Z[None, :, :]), axis=2)
    return np.exp(-l1_distances / lengthscale)


def arc_cosine(X, Z=None, order=1):
    """Cho & Saul: ``(1/pi) |x|^q |z|^q J_q(theta)``; a zero vector has cosine 0 with anything."""
    X, Z = _as_float64(X, Z)
    norm_x = np.linalg.norm(X, axis=1)[:, None]
    norm_z = np.linalg.norm(Z, axis=1)[None, :]
    c, _ = _cosine(norm_x**2, norm_z**2, X @ Z.T)
    theta = np.arccos(c)
    if order == 0:
        j = np.pi - theta
    elif order == 1:
        j = np.sin(theta) + (np.pi - theta) * np.cos(theta)
    elif order == 2:
        j = 3 * np.sin(theta) * np.cos(theta) + (np.pi - theta) * (1 + 2 * np.cos(theta) ** 2)
    else:
        raise ValueError(order)
    return (norm_x * norm_z) ** order * j / np.pi


def arc_cosine_diag(X, order=1):
    """The diagonal at angle 0: ``J_0(0) = J_1(0) = pi``, ``J_2(0) = 3 pi``."""
    X, _ = _as_float64(X, None)
    squared_norms = np.sum(X**2, axis=1)
    if order == 0:
        return np.where(squared_norms > 0, 1.0, 0.5)  # a zero vector: cosine 0, J_0 = pi/2
    if order == 1:
        return squared_norms
    if order == 2:
        return 3 * squared_norms**2
    raise ValueError(order)


# --- activations ------------------------------------------------------------------------------


def abrelu(a, b):
    """``phi(u) = a u`` for ``u < 0``, ``b u`` for ``u >= 0``."""
    return ("abrelu", float(a), float(b))


def relu():
    return ("relu",)


def leaky_relu(slope):
    return abrelu(slope, 1.0)


def abs_():
    return ("abs",)


def identity():
    return ("identity",)


def erf():
    return ("erf",)


RELU = relu()


def step():
    return ("step",)


def exp(scale):
    """``phi(u) = exp(scale u)``."""
    return ("exp", float(scale))


def activation_function(activation):
    """The scalar activation and its derivative as NumPy ufunc-style callables."""
    kind = activation[0]
    if kind == "relu":
        return (lambda u: np.maximum(u, 0.0)), (lambda u: (u > 0).astype(np.float64))
    if kind == "abrelu":
        _, a, b = activation
        return (lambda u: np.where(u < 0, a * u, b * u)), (lambda u: np.where(u < 0, a, b))
    if kind == "abs":
        return np.abs, np.sign
    if kind == "identity":
        return (lambda u: np.asarray(u, dtype=np.float64)), (lambda u: np.ones_like(u, dtype=float))
    if kind == "erf":
        from scipy.special import erf as _erf

        return _erf, (lambda u: 2 / math.sqrt(math.pi) * np.exp(-np.square(u)))
    if kind == "step":
        return (lambda u: (u > 0).astype(np.float64)), None
    if kind == "exp":
        scale = activation[1]
        return (lambda u: np.exp(scale * u)), (lambda u: scale * np.exp(scale * u))
    raise ValueError(activation)


# --- dual activations (MATH.md section 2) ------------------------------------------------------


def dual(activation, sxx, szz, sxz):
    """``(T, Td)`` = ``(E[phi(u) phi(v)], E[phi'(u) phi'(v)])``, ``(u, v)`` centred Gaussian with
    variances ``sxx``, ``szz`` and covariance ``sxz`` (arrays broadcast together)."""
    sxx, szz, sxz = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (sxx, szz, sxz)))
    kind = activation[0]
    if kind == "identity":
        return sxz.copy(), np.ones_like(sxz)
    if kind == "exp":
        # E[exp(s u + s v)] = exp(s^2 Var(u + v) / 2), and phi' = s phi.
        squared = activation[1] ** 2
        t = np.exp(squared * (sxx + szz + 2 * sxz) / 2)
        return t, squared * t
    if kind == "erf":
        product = (1 + 2 * sxx) * (1 + 2 * szz)
        t = (2 / np.pi) * np.arcsin(np.clip(2 * sxz / np.sqrt(product), -1.0, 1.0))
        td = (4 / np.pi) / np.sqrt(product - 4 * sxz**2)
        return t, td
    c, s = _cosine(sxx, szz, sxz)
    theta = np.arccos(c)
    sine = np.sqrt(1 - c**2)
    if kind == "step":
        return (np.pi - theta) / (2 * np.pi), np.full_like(c, np.nan)
    relu_t = s * (sine + (np.pi - theta) * c) / (2 * np.pi)
    relu_td = (np.pi - theta) / (2 * np.pi)
    if kind == "relu":
        return relu_t, relu_td
    if kind == "abs":
        # E|u||v| = (2 s / pi)(sqrt(1 - c^2) + c asin c),  E[sign u sign v] = (2/pi) asin c.
        arcsine = np.arcsin(c)
        return 2 * s / np.pi * (sine + c * arcsine), 2 / np.pi * arcsine
    if kind == "abrelu":
        # phi = a u + (b - a) relu(u), and E[u relu(v)] = E[u v] / 2 by the symmetry
        # (u, v) -> -(u, v).
        _, a, b = activation
        gap = (b - a) ** 2
        return a * b * sxz + gap * relu_t, a * b + gap * relu_td
    raise ValueError(activation)


def dual_at_angle_zero(activation, sxx):
    """``(T, Td)`` for ``u = v`` of variance ``sxx``, in closed form (theta = 0, no arccos)."""
    sxx = np.asarray(sxx, dtype=np.float64)
    kind = activation[0]
    half = np.full_like(sxx, 0.5)
    quarter = np.full_like(sxx, 0.25)  # a zero variance counts as cosine 0: (pi - pi/2) / (2 pi)
    positive = sxx > 0
    if kind == "identity":
        return sxx.copy(), np.ones_like(sxx)
    if kind == "exp":
        return dual(activation, sxx, sxx, sxx)
    if kind == "erf":
        return (2 / np.pi) * np.arcsin(2 * sxx / (1 + 2 * sxx)), (4 / np.pi) / np.sqrt(1 + 4 * sxx)
    if kind == "step":
        return np.where(positive, half, quarter), np.full_like(sxx, np.nan)
    if kind == "relu":
        return sxx / 2, np.where(positive, half, quarter)
    if kind == "abs":
        return sxx.copy(), np.where(positive, 1.0, 0.0)
    if kind == "abrelu":
        _, a, b = activation
        gap = (b - a) ** 2
        return a * b * sxx + gap * sxx / 2, a * b + gap * np.where(positive, half, quarter)
    raise ValueError(activation)


# --- NNGP and NTK (MATH.md section 3, data/README.md) ---------------------------------------------


def _layers(activation, depth, w_std, b_std, sxx, szz, sxz, on_diagonal=False):
    """Lists ``Sigma_1 .. Sigma_{depth+1}`` and ``Sdot_2 .. Sdot_{depth+1}`` (``w^2 Td``)."""
    w_var, b_var = w_std**2, b_std**2
    sigmas = [sxz]
    derivatives = [None]  # Sdot_1 does not exist: keep list indices equal to layer numbers - 1
    for _ in range(depth):
        if on_diagonal:
            t, td = dual_at_angle_zero(activation, sxz)
        else:
            t, td = dual(activation, sxx, szz, sxz)
            t_x, _ = dual_at_angle_zero(activation, sxx)
            t_z, _ = dual_at_angle_zero(activation, szz)
            sxx, szz = w_var * t_x + b_var, w_var * t_z + b_var
        sxz = w_var * t + b_var
        sigmas.append(sxz)
        derivatives.append(w_var * td)
    return sigmas, derivatives


def _first_layer(X, Z, w_std, b_std):
    d = X.shape[1]
    sxx = w_std**2 * np.sum(X**2, axis=1)[:, None] / d + b_std**2
    szz = w_std**2 * np.sum(Z**2, axis=1)[None, :] / d + b_std**2
    sxz = w_std**2 * (X @ Z.T) / d + b_std**2
    return sxx, szz, sxz


def _theta(sigmas, derivatives, depth, frozen):
    """``Theta_{D,F} = sum_{h=F+1}^{D+1} Sigma_h prod_{h'=h+1}^{D+1} Sdot_{h'}`` (layers numbered
    from 1 as in MATH.md; data/README.md numbers them from 0): an explicit sum, not a recursion."""
    total = np.zeros_like(sigmas[0])
    for h in range(frozen + 1, depth + 2):
        term = sigmas[h - 1]
        for h_prime in range(h + 1, depth + 2):
            term = term * derivatives[h_prime - 1]
        total = total + term
    return total


def nngp(X, Z=None, depth=1, activation=RELU, w_std=1.0, b_std=0.0):
    X, Z = _as_float64(X, Z)
    sigmas, _ = _layers(activation, depth, w_std, b_std, *_first_layer(X, Z, w_std, b_std))
    return sigmas[-1]


def ntk(X, Z=None, depth=1, activation=RELU, w_std=1.0, b_std=0.0, frozen=0):
    X, Z = _as_float64(X, Z)
    sigmas, derivatives = _layers(
        activation, depth, w_std, b_std, *_first_layer(X, Z, w_std, b_std)
    )
    return _theta(sigmas, derivatives, depth, frozen)


def _first_layer_diag(X, w_std, b_std):
    return w_std**2 * np.sum(X**2, axis=1) / X.shape[1] + b_std**2


def nngp_diag(X, depth=1, activation=RELU, w_std=1.0, b_std=0.0):
    X, _ = _as_float64(X, None)
    sxx = _first_layer_diag(X, w_std, b_std)
    sigmas, _ = _layers(activation, depth, w_std, b_std, sxx, sxx, sxx, on_diagonal=True)
    return sigmas[-1]


def ntk_diag(X, depth=1, activation=RELU, w_std=1.0, b_std=0.0, frozen=0):
    X, _ = _as_float64(X, None)
    sxx = _first_layer_diag(X, w_std, b_std)
    sigmas, derivatives = _layers(activation, depth, w_std, b_std, sxx, sxx, sxx, on_diagonal=True)
    return _theta(sigmas, derivatives, depth, frozen)


# --- diagonals of the classic kernels -----------------------------------------------------------


def linear_diag(X, c=0.0):
    X, _ = _as_float64(X, None)
    return np.sum(X**2, axis=1) + c


def polynomial_diag(X, degree=3, gamma=None, coef0=1.0):
    X, _ = _as_float64(X, None)
    if gamma is None:
        gamma = 1.0 / X.shape[1]
    return (gamma * np.sum(X**2, axis=1) + coef0) ** degree


def ones_diag(X):
    return np.ones(np.asarray(X).shape[0])


# --- convolutional kernels (MATH.md section 3.2) ------------------------------------------------


def _window_average(K, filter_height, filter_width, padding):
    """``A(K)[h, w, h', w'] = sum_{a, b} K[h + a, w + b, h' + a, w' + b] / (fh fw)`` over the
    last four axes ``(h, w, h', w')``: every axis zero-padded ("same") or wrapped ("circular")
    by half the filter, or not padded ("valid", the output smaller)."""
    if padding != "valid":
        rh, rw = (filter_height - 1) // 2, (filter_width - 1) // 2
        pads = [(0, 0)] * (K.ndim - 4) + [(rh, rh), (rw, rw)] * 2
        K = np.pad(K, pads, mode="wrap" if padding == "circular" else "constant")
    height = K.shape[-4] - filter_height + 1
    width = K.shape[-3] - filter_width + 1
    total = np.zeros(K.shape[:-4] + (height, width, height, width))
    for a in range(filter_height):
        for b in range(filter_width):
            total += K[..., a : a + height, b : b + width, a : a + height, b : b + width]
    return total / (filter_height * filter_width)


def convolutional(
    X,
    Z=None,
    depth=1,
    filter_size=3,
    padding="same",
    pooling="global",
    activation=RELU,
    w_std=1.0,
    b_std=0.0,
    frozen=0,
):
    """``(NNGP, NTK)`` of the convolutional network (images ``(n, H, W, C)`` or signals
    ``(n, L, C)``), from the covariances of every pixel pair of every pair of inputs of
    ``[X; Z]``, as full arrays ``(N, N, H, W, H, W)``."""
    X, Z = _as_float64(X, Z)
    n = X.shape[0]
    inputs = np.concatenate([X, Z]) if Z is not X else X
    filter_height = filter_size
    if inputs.ndim == 3:  # signals: images of height 1, filters (1, q)
        inputs = inputs[:, np.newaxis]
        filter_height = 1
    w_var, b_var = w_std**2, b_std**2
    K = np.einsum("ihwc,jgvc->ijhwgv", inputs, inputs) / inputs.shape[-1]
    theta = None
    for layer in range(1, depth + 1):
        sigma = w_var * _window_average(K, filter_height, filter_size, padding) + b_var
        if theta is not None:
            theta = w_var * _window_average(theta, filter_height, filter_size, padding) + sigma
        elif layer == frozen + 1:
            theta = sigma
        variances = np.einsum("iihwhw->ihw", sigma)
        sxx = variances[:, None, :, :, None, None]
        szz = variances[None, :, None, None, :, :]
        K, slopes = dual(activation, sxx, szz, sigma)
        if theta is not None:
            theta = theta * slopes
    if pooling == "global":
        pool = lambda A: A.mean(axis=(2, 3, 4, 5))  # noqa: E731
    else:
        pool = lambda A: np.einsum("ijhwhw->ijhw", A).mean(axis=(2, 3))  # noqa: E731
    nngp_matrix = w_var * pool(K) + b_var
    ntk_matrix = nngp_matrix if theta is None else w_var * pool(theta) + nngp_matrix
    if Z is X:
        return nngp_matrix, ntk_matrix
    return nngp_matrix[:n, n:], ntk_matrix[:n, n:]
