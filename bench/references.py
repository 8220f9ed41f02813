"""Reference implementations that benchmarks compare fastntk against, in the same run.

Each is a plain vectorised NumPy formula from MATH.md, written with care for memory (in-place
updates, a fixed small number of ``n x n`` arrays) but without compiled code of its own. The
arithmetic runs in the input's dtype, so a float32 input gives a float32 reference.
"""

import numpy as np


def numpy_linear(X, c=0.0):
    """``x.z + c``."""
    K = X @ X.T
    K += c
    return K


def numpy_polynomial(X, degree=3, gamma=None, coef0=1.0):
    """``(gamma x.z + coef0) ** degree``, ``gamma`` 1/d by default."""
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    K = X @ X.T
    K *= gamma
    K += coef0
    np.power(K, degree, out=K)
    return K


def numpy_gaussian(X, lengthscale=1.0):
    """``exp(-|x - z|^2 / (2 l^2))`` with ``|x - z|^2 = |x|^2 + |z|^2 - 2 x.z``."""
    squared_norms = np.einsum("ik,ik->i", X, X)
    K = X @ X.T
    K *= -2.0
    K += squared_norms[:, None]
    K += squared_norms[None, :]
    np.maximum(K, 0.0, out=K)  # the expansion can round a distance slightly below 0
    K *= -0.5 / lengthscale**2
    np.exp(K, out=K)
    return K


def numpy_laplacian(X, lengthscale=1.0):
    """``exp(-|x - z|_1 / l)``: the L1 distance accumulated one feature at a time (one ``n x n``
    work array instead of an ``n x n x d`` broadcast)."""
    n = X.shape[0]
    K = np.zeros((n, n), dtype=X.dtype)
    work = np.empty_like(K)
    for column in X.T:
        np.subtract(column[:, None], column[None, :], out=work)
        np.abs(work, out=work)
        K += work
    K *= -1.0 / lengthscale
    np.exp(K, out=K)
    return K


def numpy_arc_cosine(X):
    """Arc-cosine kernel of order 1: ``(1/pi) |x| |z| (sin theta + (pi - theta) cos theta)``."""
    norms = np.sqrt(np.einsum("ik,ik->i", X, X))
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    cosine = X @ X.T
    cosine *= inverse[:, None]
    cosine *= inverse[None, :]
    np.clip(cosine, -1.0, 1.0, out=cosine)
    K = np.arccos(cosine)
    np.subtract(np.pi, K, out=K)
    K *= cosine
    np.multiply(cosine, cosine, out=cosine)
    np.subtract(1.0, cosine, out=cosine)
    np.maximum(cosine, 0.0, out=cosine)
    np.sqrt(cosine, out=cosine)
    K += cosine
    K *= norms[:, None]
    K *= norms[None, :]
    K /= np.pi
    return K


def numpy_network(X, Z=None, *, depth, activation="relu", ntk=True):
    """NNGP (``ntk=False``) or NTK of a ``depth``-hidden-layer network with ``w_std = 1``,
    ``b_std = 0`` and a ``"relu"`` or ``"erf"`` activation (MATH.md sections 2 and 3), between
    the rows of ``X`` and of ``Z`` (default ``X``). Three ``n x m`` arrays (two for the NNGP),
    no other ``n x m`` temporaries."""
    Z = X if Z is None else Z
    d = X.shape[1]
    sigma = X @ Z.T
    sigma /= d
    variances_x = np.einsum("ik,ik->i", X, X) / d
    variances_z = np.einsum("ik,ik->i", Z, Z) / d
    theta = sigma.copy() if ntk else None
    work = np.empty_like(sigma)
    layer = _relu_layer if activation == "relu" else _erf_layer
    for _ in range(depth):
        variances_x, variances_z = layer(sigma, theta, work, variances_x, variances_z)
        if ntk:
            theta += sigma
    return theta if ntk else sigma


def _relu_layer(sigma, theta, work, variances_x, variances_z):
    """One ReLU layer in place: ``sigma <- T``, ``theta <- Td theta``; returns the next
    variances. ``T = s (sqrt(1 - c^2) + (pi - angle) c) / (2 pi)``,
    ``Td = (pi - angle) / (2 pi)``."""
    norms_x, norms_z = np.sqrt(variances_x), np.sqrt(variances_z)
    inverse_x = np.divide(1.0, norms_x, out=np.zeros_like(norms_x), where=norms_x > 0)
    inverse_z = np.divide(1.0, norms_z, out=np.zeros_like(norms_z), where=norms_z > 0)
    sigma *= inverse_x[:, None]
    sigma *= inverse_z[None, :]
    np.clip(sigma, -1.0, 1.0, out=sigma)  # sigma now holds the cosine c
    np.arccos(sigma, out=work)
    np.subtract(np.pi, work, out=work)
    if theta is not None:  # before c is lost
        theta *= work
        theta /= 2 * np.pi
    work *= sigma
    np.multiply(sigma, sigma, out=sigma)
    np.subtract(1.0, sigma, out=sigma)
    np.maximum(sigma, 0.0, out=sigma)
    np.sqrt(sigma, out=sigma)
    sigma += work
    sigma *= norms_x[:, None]
    sigma *= norms_z[None, :]
    sigma /= 2 * np.pi
    return variances_x / 2, variances_z / 2


def _erf_layer(sigma, theta, work, variances_x, variances_z):
    """One erf layer in place: with ``q = 2 sxz / sqrt((1 + 2 sxx)(1 + 2 szz))``,
    ``T = (2/pi) asin q`` and ``Td = (4/pi) / (sqrt((1 + 2 sxx)(1 + 2 szz)) sqrt(1 - q^2))``."""
    inverse_root_x = 1.0 / np.sqrt(1.0 + 2.0 * variances_x)
    inverse_root_z = 1.0 / np.sqrt(1.0 + 2.0 * variances_z)
    np.multiply(sigma, 2.0, out=work)
    work *= inverse_root_x[:, None]
    work *= inverse_root_z[None, :]
    np.clip(work, -1.0, 1.0, out=work)  # work now holds q
    if theta is not None:
        np.multiply(work, work, out=sigma)
        np.subtract(1.0, sigma, out=sigma)
        np.sqrt(sigma, out=sigma)
        theta /= sigma
        theta *= inverse_root_x[:, None]
        theta *= inverse_root_z[None, :]
        theta *= 4 / np.pi
    np.arcsin(work, out=sigma)
    sigma *= 2 / np.pi

    def next_variances(variances):
        return 2 / np.pi * np.arcsin(2 * variances / (1 + 2 * variances))

    return next_variances(variances_x), next_variances(variances_z)


def numpy_ntk_relu(X, depth):
    """NTK of a ReLU network (w_std = 1, b_std = 0), a careful in-place NumPy implementation:
    three n x n arrays, no other n x n temporaries (MATH.md section 3)."""
    return numpy_network(X, depth=depth)


def fresh_output(n, dtype):
    """Write an n x n array into freshly allocated memory (page faults included)."""
    out = np.empty((n, n), dtype=dtype)
    out.fill(1)
    return out


#: Source of ``peak()`` for the fresh processes of the memory benchmarks: the process's own
#: peak resident set (VmHWM). ``ru_maxrss`` would not do: Linux carries it across exec from the
#: parent, here the pytest process, whose own peak may be larger.
PEAK_RSS_SOURCE = r"""
import resource


def peak():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""
