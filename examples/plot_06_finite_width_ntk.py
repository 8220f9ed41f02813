r"""
Finite networks converge to the NTK
===================================

A network :math:`f(x; \theta)` trained by gradient descent on the squared loss moves, to first
order, along its tangent kernel
:math:`\hat\Theta(x, z) = \nabla_\theta f(x) \cdot \nabla_\theta f(z)`. In the NTK
parameterization this *empirical* NTK tends, as the width grows, to a deterministic kernel that
stays constant during training (Jacot et al. 2018): the infinite-width NTK,
``fastntk.NTK``. Over-parameterization is what makes the network's training a kernel method.

The first figure measures the empirical NTK of ``fastntk.FiniteNetwork`` against the exact one
at growing width. The second trains networks by gradient descent and compares their predictions
with the linearised dynamics of the infinite-width NTK,

.. math::

    f_t(x) = \Theta(x, X)\, \Theta(X, X)^{-1} \left(I - e^{-\eta\, \Theta(X, X)\, t}\right) y.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(4)
X = rng.standard_normal((30, 3))
X /= np.linalg.norm(X, axis=1, keepdims=True)
exact = fk.NTK(depth=2)(X)

widths = [16, 64, 256, 1024]
errors = []
for width in widths:
    samples = [
        np.linalg.norm(fk.FiniteNetwork(3, width, depth=2, seed=s).empirical_ntk(X) - exact)
        / np.linalg.norm(exact)
        for s in range(2)
    ]
    errors.append(np.mean(samples))
    print(f"width {width:5d}: relative error of the empirical NTK {errors[-1]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
ax.loglog(widths, errors, "o-", label="empirical NTK against fk.NTK (mean of 2 seeds)")
reference = errors[0] * np.sqrt(widths[0] / np.array(widths))
ax.loglog(widths, reference, "k--", label=r"$\propto 1 / \sqrt{\mathrm{width}}$")
ax.set_xlabel("width")
ax.set_ylabel("relative Frobenius error")
ax.legend()
plt.show()

# %%
# Training on a 1-D curve embedded on the circle: the wider the network, the closer its
# prediction after gradient descent to the NTK's linearised one.

angles = np.sort(rng.uniform(0, np.pi, 12))
X_train = np.stack([np.cos(angles), np.sin(angles), np.zeros(12)], axis=1)
y_train = np.sin(3 * angles)
test_angles = np.linspace(0, np.pi, 200)
X_test = np.stack([np.cos(test_angles), np.sin(test_angles), np.zeros(200)], axis=1)
rate, steps = 0.5, 200

fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
for k, width in enumerate([32, 1024]):
    network = fk.FiniteNetwork(3, width, depth=2, seed=10)
    expected = network.infinite_width_prediction(X_train, y_train, X_test, rate, steps)
    trained = network.fit(X_train, y_train, learning_rate=rate, steps=steps).predict(X_test)
    ax.plot(test_angles, trained, color=f"C{k}", label=f"trained network, width {width}")
    error = np.abs(trained - expected).max()
    print(f"width {width}: largest |trained - linearised NTK| = {error:.3f}")
ax.plot(test_angles, expected, "k--", label="infinite-width NTK dynamics")
ax.scatter(angles, y_train, color="black", zorder=3, label="training data")
ax.set_xlabel("angle")
ax.legend()
plt.show()
