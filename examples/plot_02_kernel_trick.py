r"""
Ridge regression on features is kernel regression
=================================================

Ridge regression on features :math:`\Phi = \phi(X)` (one row per sample) minimises
:math:`|\Phi w - y|^2 + \lambda |w|^2`; its solution and prediction at :math:`x` are

.. math::

    w = (\Phi^T \Phi + \lambda I)^{-1} \Phi^T y, \qquad f(x) = \phi(x) \cdot w.

By the identity
:math:`(\Phi^T \Phi + \lambda I)^{-1} \Phi^T = \Phi^T (\Phi \Phi^T + \lambda I)^{-1}`
the same prediction is :math:`f(x) = \sum_i a_i\, k(x, x_i)` with
:math:`a = (K + \lambda I)^{-1} y` and :math:`K = \Phi \Phi^T`: the representer theorem. The
primal form needs the features (here the 10 monomials of degree 3 of :math:`(x, 1)`, in general
as many as one likes, or infinitely many); the dual needs only the kernel.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(1)
x_train = np.sort(rng.uniform(-3, 3, 30))[:, None]
y_train = np.sin(x_train[:, 0]) + 0.2 * rng.standard_normal(30)
x_test = np.linspace(-3.5, 3.5, 300)[:, None]
alpha = 0.5

# Primal: ridge regression on the explicit features of (gamma x.z + 1)^3.
features = fk.features.polynomial(x_train, degree=3, gamma=0.3, coef0=1.0)
features_test = fk.features.polynomial(x_test, degree=3, gamma=0.3, coef0=1.0)
weights = np.linalg.solve(
    features.T @ features + alpha * np.eye(features.shape[1]), features.T @ y_train
)
primal = features_test @ weights

# Dual: kernel ridge regression with the same kernel, never forming a feature.
model = fk.KernelRegressor(kernel=fk.Polynomial(degree=3, gamma=0.3, coef0=1.0), alpha=alpha)
dual = model.fit(x_train, y_train).predict(x_test)
print(f"{features.shape[1]} features; largest |primal - dual|: {np.abs(primal - dual).max():.2e}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
ax.scatter(x_train[:, 0], y_train, color="black", s=15, label="training data")
ax.plot(x_test[:, 0], primal, lw=4, alpha=0.4, label="primal: ridge on features")
ax.plot(x_test[:, 0], dual, "--", color="C3", label="dual: fk.KernelRegressor")
ax.set_xlabel("x")
ax.legend()
plt.show()
