r"""
Convolutional kernels on handwritten digits
===========================================

A fully-connected network sees an image as a list of pixels: shifting a digit by one pixel
gives it an unrelated input. A convolutional network applies the same small filter at every
position, and its infinitely wide limit keeps that structure. The CNTK (Arora et al., NeurIPS
2019) follows the covariance of every pair of pixels :math:`(p, p')` through the layers,

.. math::

    \Sigma_l[p, p'] = \sigma_w^2 \, \frac{1}{q^2} \sum_{d} K_{l-1}[p + d, p' + d] + \sigma_b^2,
    \qquad K_l = T(\Sigma_l),

    \Theta_l[p, p'] = \sigma_w^2 \, \frac{1}{q^2} \sum_{d} \tilde\Theta_{l-1}[p + d, p' + d]
    + \Sigma_l[p, p'],

with the sum over the offsets :math:`d` of a :math:`q \times q` filter and
:math:`\tilde\Theta_l = \Theta_l \, \dot T(\Sigma_l)`; the readout averages every pixel pair
(global average pooling) or the pairs :math:`p = p'` only (flattening). The NTK of the
fully-connected network is the case of a single "pixel" holding the whole image.

Here ``fk.CNTK`` with global pooling and with flattening, the fully-connected ``fk.NTK`` on the
64 pixels as a row, and a Gaussian kernel classify the 8x8 digits bundled with fastntk, by
kernel regression on one-hot targets with the same relative regulariser.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

images = fk.datasets.load_digits()  # X: (1797, 8, 8, 1), pixels in [0, 1]
rows = fk.datasets.load_digits(images=False)  # X: (1797, 64), the same pixels as rows
n_train, n_test = 200, 300
rng = np.random.default_rng(0)
order = rng.permutation(len(images.y))
train, test = order[:n_train], order[n_train : n_train + n_test]

candidates = {
    "CNTK, global pooling": (fk.CNTK(depth=3, pooling="global"), images.X),
    "CNTK, flatten": (fk.CNTK(depth=3, pooling="flatten"), images.X),
    "NTK (fully connected)": (fk.NTK(depth=3), rows.X),
    "Gaussian": (fk.Gaussian(lengthscale=2.0), rows.X),
}

accuracy = {}
for name, (kernel, X) in candidates.items():
    start = time.perf_counter()
    model = fk.KernelClassifier(kernel=kernel, alpha=1e-3, relative_alpha=True)
    model.fit(X[train], images.y[train])
    accuracy[name] = 100 * model.score(X[test], images.y[test])
    print(f"{name:<22} {accuracy[name]:5.1f} %  ({time.perf_counter() - start:.2f} s)")

fig, ax = plt.subplots(figsize=(6.5, 3), layout="constrained")
ax.barh(list(accuracy), list(accuracy.values()), color=["C0", "C0", "C1", "C2"])
ax.set_xlim(min(accuracy.values()) - 5, 100)
ax.invert_yaxis()
ax.set_xlabel(f"test accuracy (%), {n_train} training images")
plt.show()

# %%
# A shifted digit. The fully-connected NTK of an image and its copy moved one pixel to the
# right is far below the kernel of the image with itself, and so is the CNTK with flattening,
# whose readout keeps each pixel's position. With global pooling the CNTK of the pair stays
# close to it: the readout averages over positions, and the shifted image has the same patches.

digit = images.X[train[:1]]
shifted = np.roll(digit, 1, axis=2)
shifted[:, :, 0] = 0.0
for name, (kernel, X) in list(candidates.items())[:3]:
    pair = np.concatenate([digit, shifted]).reshape((2,) + X.shape[1:])
    K = fk.gram(kernel, pair)
    print(f"{name:<22} k(x, shifted x) / k(x, x) = {K[0, 1] / K[0, 0]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(3.5, 1.9), layout="constrained")
for ax, image, title in zip(axes, (digit, shifted), ("x", "shifted x"), strict=True):
    ax.imshow(image[0, :, :, 0], cmap="gray_r")
    ax.set_title(title)
    ax.set_axis_off()
plt.show()
