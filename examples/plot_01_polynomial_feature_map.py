r"""
The polynomial kernel is an inner product of features
=====================================================

For :math:`x \in \mathbb{R}^2` the homogeneous polynomial kernel of degree 2,

.. math::

    k(x, z) = (x \cdot z)^2 = x_1^2 z_1^2 + 2 x_1 x_2 z_1 z_2 + x_2^2 z_2^2,

is the inner product :math:`\phi(x) \cdot \phi(z)` of the explicit feature map

.. math::

    \phi(x) = \left(x_1^2,\ \sqrt{2}\, x_1 x_2,\ x_2^2\right).

``fastntk.features.polynomial`` builds that map for any degree and dimension (every monomial,
scaled by the square root of its multinomial coefficient); ``fastntk.Polynomial`` computes the
kernel without it. The two agree to rounding.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 2))

kernel = fk.Polynomial(degree=2, gamma=1.0, coef0=0.0)
K = kernel(X)
features = fk.features.polynomial(X, degree=2, gamma=1.0, coef0=0.0)
print("feature map of the first point:", features[0])
print(
    "x1^2, sqrt(2) x1 x2, x2^2:     ", [X[0, 0] ** 2, np.sqrt(2) * X[0, 0] * X[0, 1], X[0, 1] ** 2]
)
print(
    "largest |K - phi phi^T| / max|K|:", np.abs(K - features @ features.T).max() / np.abs(K).max()
)

# %%
# The Gram matrix from the kernel, from the features, and their difference.

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for ax, matrix, title in [
    (axes[0], K, "fk.Polynomial(degree=2)"),
    (axes[1], features @ features.T, r"$\phi(X)\,\phi(X)^T$"),
]:
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)
image = axes[2].imshow(K - features @ features.T, cmap="RdBu")
axes[2].set_title("difference")
fig.colorbar(image, ax=axes[2], shrink=0.8)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
