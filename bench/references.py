"""Reference implementations that benchmarks compare fastntk against, in the same run."""

import numpy as np


def numpy_ntk_relu(X, depth):
    """NTK of a ReLU network (w_std = 1, b_std = 0), a careful in-place NumPy implementation:
    three n x n arrays, no other n x n temporaries (MATH.md section 3)."""
    n, d = X.shape
    sigma = X @ X.T
    sigma /= d
    variances = np.diag(sigma).copy()
    theta = sigma.copy()
    angle = np.empty_like(sigma)
    for _ in range(depth):
        norms = np.sqrt(variances)
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        sigma *= inverse[:, None]
        sigma *= inverse[None, :]
        np.clip(sigma, -1.0, 1.0, out=sigma)  # sigma now holds the cosine c
        np.arccos(sigma, out=angle)
        # Theta <- T + Td Theta with Td = (pi - angle) / (2 pi): update Theta before c is lost.
        np.subtract(np.pi, angle, out=angle)
        theta *= angle
        theta /= 2 * np.pi
        # T = |x||z| (sqrt(1 - c^2) + (pi - angle) c) / (2 pi)
        angle *= sigma
        np.multiply(sigma, sigma, out=sigma)
        np.subtract(1.0, sigma, out=sigma)
        np.maximum(sigma, 0.0, out=sigma)
        np.sqrt(sigma, out=sigma)
        sigma += angle
        sigma *= norms[:, None]
        sigma *= norms[None, :]
        sigma /= 2 * np.pi
        theta += sigma
        variances /= 2
    return theta


def fresh_output(n, dtype):
    """Write an n x n array into freshly allocated memory (page faults included)."""
    out = np.empty((n, n), dtype=dtype)
    out.fill(1)
    return out
