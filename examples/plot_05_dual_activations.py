r"""
Dual activations on the unit sphere
===================================

An activation :math:`\sigma` enters the infinitely wide network only through its *dual*: for
unit inputs at angle :math:`\theta`, with :math:`(u, v)` standard Gaussians of correlation
:math:`\cos\theta`,

.. math::

    \hat\sigma(\cos\theta) = \mathbb{E}[\sigma(u)\, \sigma(v)].

For ReLU it is the arc-cosine kernel,
:math:`\hat\sigma(c) = (\sqrt{1 - c^2} + (\pi - \arccos c)\, c) / 2\pi`. fastntk computes each
dual in closed form (``fastntk.NNGP(depth=1, activation=...)``). The curves below are those
closed forms on points of the unit circle; the dots are Monte Carlo estimates from a random
layer of 20000 units (``fastntk.features.random_features``), which lie on them.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

angles = np.linspace(0, np.pi, 61)
# With d = 2 and w_std = sqrt(2), NNGP(depth=1) / w_std^2 is E[sigma(u) sigma(v)], Var u = 1.
circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
w_std = np.sqrt(2.0)
activations = {
    "relu": fk.ReLU(),
    "erf": fk.Erf(),
    "abs": fk.Abs(),
    "leaky relu (0.2)": fk.LeakyReLU(0.2),
    "step": fk.Step(),
    "identity": fk.Identity(),
}

fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for k, (name, activation) in enumerate(activations.items()):
    kernel = fk.NNGP(depth=1, activation=activation, w_std=w_std)
    dual = kernel(circle[:1], circle)[0] / w_std**2
    features = fk.features.random_features(circle[::6], 20000, activation, w_std=w_std, seed=k)
    estimate = features[:1] @ features.T / w_std**2
    ax.plot(angles, dual, color=f"C{k}", label=name)
    ax.plot(angles[::6], estimate[0], "o", color=f"C{k}", ms=4)
    error = np.abs(estimate[0] - dual[::6]).max()
    print(f"{name:>17}: largest |Monte Carlo - closed form| = {error:.4f}")
ax.set_xlabel(r"angle $\theta$ between the inputs")
ax.set_ylabel(r"$\hat\sigma(\cos\theta)$")
ax.legend(ncols=2)
plt.show()
