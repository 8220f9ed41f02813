r"""
Random Fourier features converge to the Gaussian kernel
=======================================================

The Gaussian kernel :math:`k(x, z) = \exp(-|x - z|^2 / 2 l^2)` has no finite feature map, but
it is the expectation of one (Rahimi and Recht 2007):

.. math::

    \phi(x) = \sqrt{2 / D}\, \cos(W x + b), \quad W \sim \mathcal{N}(0, I / l^2),\
    b \sim U[0, 2\pi), \qquad \mathbb{E}[\phi(x) \cdot \phi(z)] = k(x, z).

Each entry is a mean of :math:`D` independent terms of variance at most 3/2, so the error
falls like :math:`1 / \sqrt{D}`. The figure measures it against ``fastntk.Gaussian``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(2)
X = rng.standard_normal((100, 5))
kernel = fk.Gaussian(lengthscale=2.0)
K = kernel(X)

counts = 2 ** np.arange(4, 15)
errors = []
for D in counts:
    features = fk.features.random_fourier(X, int(D), kernel, seed=int(D))
    errors.append(np.abs(features @ features.T - K).max())
    print(f"D = {D:6d}: largest |phi phi^T - K| = {errors[-1]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.loglog(counts, errors, "o-", label=r"largest $|\phi\phi^T - K|$")
ax.loglog(counts, 4.0 / np.sqrt(counts), "k--", label=r"$4 / \sqrt{D}$")
ax.set_xlabel("number of features D")
ax.set_ylabel("error")
ax.legend()
plt.show()
