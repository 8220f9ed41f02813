r"""
The small-data benchmark on the bundled datasets
================================================

Arora et al. (ICLR 2020) found that on small classification datasets of the UCI collection
the NTK, used as the kernel of a classifier, is at least as accurate as random forests and
Gaussian kernel machines. ``fastntk.protocol`` runs their protocol for five kernel families:
on each dataset, every candidate kernel of a family (for the networks: depth 1 to 5, frozen
layers, bias or none) and every regulariser :math:`\alpha` is fitted on the training rows and
scored on the validation rows; the best pair is then refitted on each of the four train/test
splits, and the dataset's accuracy is the mean of the four test accuracies. The classifier is
kernel regression on one-hot targets, :math:`f(x) = K(x, X) (K + \lambda I)^{+} Y`.

The seven datasets bundled with fastntk (``fastntk.datasets.bundled_uci``) are the data of
``python -m fastntk demo``, which prints the same table; ``python -m fastntk benchmark --data
DIR`` runs the protocol on the whole collection.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastntk import protocol
from fastntk.datasets import bundled_uci

datasets = bundled_uci()
for dataset in datasets:
    print(dataset)

# %%
# Every family on every dataset. Each candidate kernel costs one Gram matrix and one
# tridiagonal reduction of it, which serves every :math:`\alpha`
# (``fastntk.solvers.RegularizationPath``). (``evaluate_all(pairs, jobs=2)`` would run them
# in two worker processes, as the command line does; a script doing so needs the
# ``if __name__ == "__main__":`` guard of Python's ``spawn`` start method.)

pairs = [(dataset, family) for dataset in datasets for family in protocol.FAMILIES]
results = {(r.dataset, r.family): r for r in protocol.evaluate_all(pairs)}

names = [dataset.name for dataset in datasets]
accuracy = np.array([[results[name, f].test_accuracy for f in protocol.FAMILIES] for name in names])
print(f"{'dataset':<29}" + "".join(f"{family:>11}" for family in protocol.FAMILIES))
for name, row in zip(names, accuracy, strict=True):
    print(f"{name:<29}" + "".join(f"{value:>11.2f}" for value in row))
print(f"{'mean':<29}" + "".join(f"{value:>11.2f}" for value in accuracy.mean(axis=0)))

# %%
# The kernels the validation split chose for the NTK.

for name in names:
    chosen = results[name, "ntk"]
    print(f"{name:<29} {chosen.params}")

fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
width = 0.8 / len(protocol.FAMILIES)
for k, family in enumerate(protocol.FAMILIES):
    ax.bar(np.arange(len(names)) + k * width, accuracy[:, k], width, label=family)
ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, ha="right")
ax.set_ylim(max(0.0, accuracy.min() - 10), 100)
ax.set_ylabel("test accuracy (%)")
ax.legend(ncols=len(protocol.FAMILIES), loc="lower center", fontsize="small")
plt.show()
