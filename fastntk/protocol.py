"""The small-data benchmark of Arora et al. (ICLR 2020) on the UCI collection.

For each dataset (``fastntk.datasets.load_uci``) and kernel family, the protocol is:

1. Hyper-parameters (the kernel's own, such as depth and frozen layers, and ``alpha``) are
   chosen by accuracy on the validation rows after training on the training rows of
   ``conxuntos.dat``. Every candidate kernel costs one Gram pass (network kernels of all depths
   and frozen-layer counts share one, ``gram_many``) and one tridiagonal reduction of its
   training matrix, which gives the predictions of every ``alpha`` at once
   (``solvers.RegularizationPath``).
2. With the chosen values, a classifier is trained on each of the four train sets of
   ``conxuntos_kfold.dat`` and tested on its test set; the dataset's accuracy is the mean.

The classifier is kernel regression on one-hot targets, predicting the largest output
(``KernelClassifier``); ``alpha`` is relative to ``trace(K) / n``, so one grid serves every
kernel and dataset. The grids are fixed in advance (``candidate_kernels``, ``ALPHAS``): from
interpolation to strong regularisation, depths 1 to 5 as in Arora et al.
"""

import concurrent.futures
import math
import multiprocessing
import time
from dataclasses import dataclass

import numba
import numpy as np
import threadpoolctl

from . import config, engine, solvers
from ._validation import check_int
from .classic import Gaussian, Linear, Polynomial
from .classification import KernelClassifier
from .network import NNGP, NTK, network_groups

#: The kernel families of the benchmark, in the order they are reported.
FAMILIES = ("linear", "polynomial", "gaussian", "nngp", "ntk")

#: Regularisers tried, relative to ``trace(K) / n``, strongest first (ties go to the first).
ALPHAS = tuple(float(a) for a in np.logspace(1, -7, 17))

#: Network depths tried (Arora et al. use 1 to 5).
DEPTHS = (1, 2, 3, 4, 5)

#: Bias standard deviations of the networks tried: none (Arora et al.'s kernel, which is
#: positively homogeneous, so a classifier without an intercept sees only the direction of x)
#: and a bias of the weights' scale.
BIAS_STDS = (0.0, 1.0)


def candidate_kernels(family, n_features):
    """The kernels a family tries, simplest first (ties in accuracy go to the first).

    linear: ``x.z + c`` with c in {0, 1}; polynomial: degree 2 to 4, ``gamma = 1/d``,
    ``coef0 = 1``; gaussian: lengthscales ``s sqrt(d)``, s in {1/4, 1/2, 1, 2, 4} (for
    standardised features the typical distance is ``sqrt(2 d)``); nngp: ReLU depths 1 to 5;
    ntk: ReLU depth ``D`` in 1 to 5 with ``F`` in 0 to ``D - 1`` frozen layers (``F = D`` is the
    NNGP); the networks with each ``b_std`` of ``BIAS_STDS``.
    """
    if family == "linear":
        return [Linear(c=0.0), Linear(c=1.0)]
    if family == "polynomial":
        return [Polynomial(degree=degree, coef0=1.0) for degree in (2, 3, 4)]
    if family == "gaussian":
        root_d = math.sqrt(n_features)
        return [Gaussian(lengthscale=scale * root_d) for scale in (0.25, 0.5, 1.0, 2.0, 4.0)]
    if family == "nngp":
        return [NNGP(depth=depth, b_std=b_std) for b_std in BIAS_STDS for depth in DEPTHS]
    if family == "ntk":
        return [
            NTK(depth=depth, frozen=frozen, b_std=b_std)
            for b_std in BIAS_STDS
            for depth in DEPTHS
            for frozen in range(depth)
        ]
    raise ValueError(f"unknown kernel family {family!r}; choose from {FAMILIES}")


@dataclass(frozen=True)
class Result:
    """One dataset and kernel family: the chosen kernel and ``alpha``, the validation
    accuracy that chose them, and the mean test accuracy over the four folds (in %)."""

    dataset: str
    n_samples: int
    n_features: int
    n_classes: int
    family: str
    kernel: object
    alpha: float
    val_accuracy: float
    test_accuracy: float
    seconds: float

    @property
    def params(self):
        return f"{self.kernel!r}, alpha={self.alpha:g} (relative)"


def evaluate(dataset, family, *, alphas=ALPHAS, threads=None):
    """Run the protocol on one ``UCIDataset`` for one kernel family; returns a ``Result``."""
    start = time.perf_counter()
    alphas = tuple(alphas)
    kernels = candidate_kernels(family, dataset.X.shape[1])
    kernel, alpha, val_accuracy = _select(dataset, kernels, alphas, threads)
    accuracies = []
    for train, test in dataset.folds:
        model = KernelClassifier(kernel, alpha=alpha, relative_alpha=True, threads=threads)
        model.fit(dataset.X[train], dataset.y[train])
        accuracies.append(model.score(dataset.X[test], dataset.y[test]))
    return Result(
        dataset=dataset.name,
        n_samples=dataset.X.shape[0],
        n_features=dataset.X.shape[1],
        n_classes=dataset.n_classes,
        family=family,
        kernel=kernel,
        alpha=alpha,
        val_accuracy=100.0 * val_accuracy,
        test_accuracy=100.0 * float(np.mean(accuracies)),
        seconds=time.perf_counter() - start,
    )


def evaluate_all(pairs, *, jobs=1, threads=None):
    """``evaluate`` each ``(UCIDataset, family)`` of ``pairs``: yields each ``Result`` as it
    completes.

    ``jobs`` pairs run at once, each in a worker process started with the ``spawn`` method
    (a forked child can inherit a held BLAS or Numba lock, and hang), with ``threads`` threads
    for its Gram engine and LAPACK (default: the CPUs shared out among the workers). The pairs
    are handed out costliest first (the order ``n^3`` times the number of candidate kernels),
    so that no large one is left running alone at the end. ``jobs=1`` runs them in this
    process, in order.
    """
    pairs = list(pairs)
    jobs = min(check_int(jobs, "jobs", 1), max(1, len(pairs)))
    if jobs == 1:
        for dataset, family in pairs:
            yield evaluate(dataset, family, threads=threads)
        return
    per_worker = check_int(threads, "threads", 1) if threads is not None else None
    per_worker = per_worker or max(1, config.usable_cpus() // jobs)
    pairs.sort(key=lambda pair: -_cost(*pair))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_limit_threads, initargs=(per_worker,)
    ) as pool:
        # Each worker compiles (or loads from Numba's cache) what it runs. Done first, one
        # kernel family's compilation per task, the workers share out the compile time of a
        # cold cache instead of each compiling every family itself.
        concurrent.futures.wait([pool.submit(_compile, *task) for task in _compile_tasks(pairs)])
        futures = [
            pool.submit(evaluate, dataset, family, threads=per_worker) for dataset, family in pairs
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _compile_tasks(pairs):
    """``(kernel, X)`` whose Gram matrix compiles what ``evaluate`` compiles, one per compiled
    signature of the pairs' candidate kernels (families in order of their candidate counts,
    the costliest compilations first)."""
    tasks = {}
    for dataset, family in sorted(
        pairs, key=lambda pair: -len(candidate_kernels(pair[1], pair[0].X.shape[1]))
    ):
        for kernel in candidate_kernels(family, dataset.X.shape[1]):
            signature = str(numba.typeof(kernel.spec(dataset.X.shape[1], np.float64)))
            tasks.setdefault(signature, (kernel, dataset.X[:4]))
    return list(tasks.values())


def _compile(kernel, X):
    engine.gram(kernel, X)
    engine.gram(kernel, X, X[:2])


def _cost(dataset, family):
    n = dataset.X.shape[0]
    return n**3 * len(candidate_kernels(family, dataset.X.shape[1]))


def _limit_threads(threads):
    """A worker's Gram engine and every BLAS it loads run on ``threads`` threads."""
    config.set(threads=threads, solver_threads=threads)
    threadpoolctl.threadpool_limits(threads)


def _select(dataset, kernels, alphas, threads):
    """The (kernel, alpha) with the best validation accuracy, and that accuracy."""
    X_train, X_val = dataset.X[dataset.train], dataset.X[dataset.validation]
    labels_train, labels_val = dataset.y[dataset.train], dataset.y[dataset.validation]
    one_hot = np.eye(dataset.n_classes)[labels_train]
    best = (-1.0, None, None)
    for kernel, K_train, K_val in _gram_pairs(kernels, X_train, X_val):
        path = solvers.RegularizationPath(
            K_train, relative_alpha=True, overwrite_K=True, threads=threads
        )
        coefficients = path.coefficients(one_hot, alphas)  # (alphas, n_train, classes)
        # One matrix product for every alpha (einsum's own loop was as slow as the path).
        stacked = coefficients.transpose(1, 0, 2).reshape(K_val.shape[1], -1)
        scores = (K_val @ stacked).reshape(K_val.shape[0], len(alphas), -1)  # (val, alphas, c)
        accuracy = np.mean(np.argmax(scores, axis=2) == labels_val[:, np.newaxis], axis=0)
        index = int(np.argmax(accuracy))
        if accuracy[index] > best[0]:
            best = (float(accuracy[index]), kernel, alphas[index])
    accuracy, kernel, alpha = best
    return kernel, alpha, accuracy


def _gram_pairs(kernels, X_train, X_val):
    """``(kernel, K(train, train), K(val, train))`` for each kernel; network kernels that
    share activation and variances come from one pass per group."""
    for group in network_groups(kernels):
        if isinstance(group[0], (NNGP, NTK)):
            K_train = engine.gram_many(group, X_train)
            K_val = engine.gram_many(group, X_val, X_train)
            yield from zip(group, K_train, K_val, strict=True)
        else:
            for kernel in group:
                yield kernel, engine.gram(kernel, X_train), engine.gram(kernel, X_val, X_train)
