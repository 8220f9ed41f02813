r"""
The NNGP is the limit of random features
========================================

A one-hidden-layer network with random weights, :math:`h(x) = w\, B x / \sqrt{d}` with
:math:`B_{ij} \sim \mathcal{N}(0, 1)`, gives each input the features
:math:`\phi(x) = w\, \sigma(h(x)) / \sqrt{n}` of its :math:`n` hidden units. Their inner
product is a mean over units, and as the width grows it tends to the network's Gaussian
process kernel (the NNGP):

.. math::

    \phi(x) \cdot \phi(z) \to w^2\, \mathbb{E}_{(u, v)}[\sigma(u)\sigma(v)]
    = \texttt{NNGP(depth=1)}(x, z),

with :math:`(u, v)` Gaussian of covariance :math:`w^2 [x \cdot x, x \cdot z; z \cdot z] / d`.
``fastntk.features.random_features`` draws that layer; the figure shows the largest error
against ``fastntk.NNGP`` falling like :math:`1 / \sqrt{n}`.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(3)
X = rng.standard_normal((60, 8))
exact = fk.NNGP(depth=1, activation="relu", w_std=1.5)(X)

widths = 2 ** np.arange(5, 16)
errors = []
for width in widths:
    features = fk.features.random_features(X, int(width), "relu", w_std=1.5, seed=int(width))
    errors.append(np.abs(features @ features.T - exact).max() / exact.max())
    print(f"width {width:6d}: largest relative error {errors[-1]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.loglog(widths, errors, "o-", label="random features against fk.NNGP")
ax.loglog(widths, 4.0 / np.sqrt(widths), "k--", label=r"$4 / \sqrt{\mathrm{width}}$")
ax.set_xlabel("width")
ax.set_ylabel("largest relative error")
ax.legend()
plt.show()
