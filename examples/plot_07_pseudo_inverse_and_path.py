r"""
Interpolation, ridge and the leave-one-out path
===============================================

With :math:`\alpha = 0`, kernel regression is minimum-norm interpolation,
:math:`f(x) = K(x, X)\, K^{+} y`, with the pseudo-inverse where :math:`K` is singular; with
:math:`\alpha = \lambda > 0` it is ridge, :math:`f(x) = K(x, X) (K + \lambda I)^{-1} y`.
``fastntk.solvers.RegularizationPath`` reduces :math:`K` once and serves every
:math:`\lambda`, among them the leave-one-out residuals in closed form,

.. math::

    e_i(\lambda) = \frac{a_i(\lambda)}{[(K + \lambda I)^{-1}]_{ii}},
    \qquad a(\lambda) = (K + \lambda I)^{-1} y,

the error at :math:`x_i` of the model fitted without it, for the price of one fit.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(5)
angles = np.sort(rng.uniform(0, np.pi, 40))
X = np.stack([np.cos(angles), np.sin(angles)], axis=1)
y = np.sin(4 * angles) + 0.3 * rng.standard_normal(40)
test_angles = np.linspace(0, np.pi, 300)
X_test = np.stack([np.cos(test_angles), np.sin(test_angles)], axis=1)
kernel = fk.NTK(depth=3)

# %%
# The leave-one-out error of every alpha, from one reduction of K.

alphas = np.logspace(-6, 1, 40)
path = fk.solvers.RegularizationPath(kernel(X), relative_alpha=True)
loo = path.leave_one_out_mse(y, alphas)
best = alphas[np.argmin(loo)]
print(f"alpha with the smallest leave-one-out error: {best:.3g}")

# A check of the closed form: refit without each point for the chosen alpha.
refits = []
for i in range(len(y)):
    keep = np.arange(len(y)) != i
    model = fk.KernelRegressor(kernel=kernel, alpha=best, relative_alpha=True)
    refits.append(model.fit(X[keep], y[keep]).predict(X[i : i + 1])[0] - y[i])
print(f"closed form {loo.min():.6f}, refitting 40 times {np.mean(np.square(refits)):.6f}")

fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
ax.semilogx(alphas, loo, label="closed-form leave-one-out")
ax.semilogx([best], [np.mean(np.square(refits))], "o", color="C3", label="40 refits")
ax.set_xlabel(r"$\alpha$ (relative to trace(K) / n)")
ax.set_ylabel("leave-one-out mean squared error")
ax.legend()
plt.show()

# %%
# Interpolation against ridge at the chosen alpha.

interpolation = fk.KernelRegressor(kernel=kernel, alpha=0.0).fit(X, y)
ridge = fk.KernelRegressor(kernel=kernel, alpha=best, relative_alpha=True).fit(X, y)
print(f"training residual: interpolation {np.abs(interpolation.predict(X) - y).max():.1e}, "
      f"ridge {np.abs(ridge.predict(X) - y).max():.2f}")  # fmt: skip

fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
ax.scatter(angles, y, color="black", s=15, label="noisy training data")
ax.plot(test_angles, interpolation.predict(X_test), label=r"$\alpha = 0$: interpolation")
ax.plot(test_angles, ridge.predict(X_test), label=rf"ridge, $\alpha$ = {best:.2g}")
ax.plot(test_angles, np.sin(4 * test_angles), "k:", label="noise-free function")
ax.set_xlabel("angle")
ax.legend()
plt.show()
