"""Classify the bundled 8x8 handwritten digits with three kernels.

The 1797 images of ``fastntk.datasets.load_digits`` are split in their stored order: the first
``--n-train`` (default 1000) are the training set and the rest (797 by default) the test set.
Each kernel is a ``fastntk.KernelClassifier`` (kernel ridge regression on one-hot targets)
with the same regulariser, ``alpha = 1e-3 * trace(K) / n``:

- ``cntk``: ``CNTK(depth=3)``, a 3x3 convolutional network's tangent kernel with global
  average pooling, on the images, shape (n, 8, 8, 1);
- ``ntk``: ``NTK(depth=3)``, a fully-connected network's tangent kernel, on the 64 pixels of
  each image as one row, shape (n, 64);
- ``gaussian``: ``Gaussian(lengthscale)`` on the rows, the lengthscale chosen among a few by
  ``KernelClassifierCV``'s leave-one-out accuracy on the training set alone.

For each kernel the script prints the test accuracy, the wall time of a warm-up fit and
prediction on a few images (which compiles the kernel's code, unless Numba's cache has it) and
the wall time of the fit and prediction of the split (for the Gaussian, including the choice
of its lengthscale). ``--plot PATH`` saves a bar chart of the accuracies and the test digits
that the most accurate kernel got wrong (needs matplotlib).

Run ``python examples/digits.py [--kernels cntk ntk gaussian] [--n-train 1000] [--plot
[PATH]]``.
"""

import argparse
import sys
import time

import numpy as np

import fastntk as fk
from fastntk.datasets import load_digits

KERNEL_NAMES = ("cntk", "ntk", "gaussian")

#: The regulariser of every classifier, relative to the mean diagonal entry of K.
RELATIVE_ALPHA = 1e-3

#: The Gaussian lengthscales tried (the pixels are in [0, 1], 64 to an image).
GAUSSIAN_LENGTHSCALES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)

#: How many training images the warm-up fit uses.
N_WARM_UP = 20

#: How many wrongly classified test digits the figure shows at most.
N_SHOWN_ERRORS = 12


def parse_arguments(argv=None):
    """The command line's options, checked.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``kernels`` (names out of ``KERNEL_NAMES``, in that order, no repeats), ``n_train``
        and ``plot`` (a file path or None).
    """
    parser = argparse.ArgumentParser(
        description=(
            "Classify the bundled 8x8 digits (first N images for training, the rest for "
            "testing) with a CNTK on the images and an NTK and a Gaussian kernel on the pixels."
        )
    )
    parser.add_argument(
        "--kernels",
        nargs="+",
        choices=KERNEL_NAMES,
        default=list(KERNEL_NAMES),
        help="the kernels to run (default: all three)",
    )
    parser.add_argument(
        "--n-train",
        type=int,
        metavar="N",
        default=1000,
        help="train on the first N images and test on the rest (default 1000)",
    )
    parser.add_argument(
        "--plot",
        nargs="?",
        const="digits.png",
        default=None,
        metavar="PATH",
        help="save a figure of the accuracies and the misclassified test digits to PATH "
        "(default digits.png; needs matplotlib)",
    )
    arguments = parser.parse_args(argv)
    n_images = load_digits().y.shape[0]
    if not N_WARM_UP <= arguments.n_train <= n_images - 1:
        parser.error(f"--n-train must be between {N_WARM_UP} and {n_images - 1}")
    arguments.kernels = [name for name in KERNEL_NAMES if name in arguments.kernels]
    if "cntk" in arguments.kernels and not hasattr(fk, "CNTK"):
        parser.error(
            f"fastntk {fk.__version__} has no CNTK kernel; run --kernels ntk gaussian instead"
        )
    if arguments.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib (pip install matplotlib); run without --plot")
    return arguments


def convolutional_classifier():
    """A ``KernelClassifier`` of the 3-layer ReLU CNTK with 3x3 filters and global pooling."""
    kernel = fk.CNTK(
        depth=3,
        filter_size=3,
        padding="same",
        pooling="global",
        activation="relu",
        w_std=1.0,
        b_std=0.0,
    )
    return fk.KernelClassifier(kernel=kernel, alpha=RELATIVE_ALPHA, relative_alpha=True)


def fully_connected_classifier():
    """A ``KernelClassifier`` of the 3-layer ReLU NTK."""
    return fk.KernelClassifier(kernel=fk.NTK(depth=3), alpha=RELATIVE_ALPHA, relative_alpha=True)


def gaussian_classifier(lengthscale=1.0):
    """A ``KernelClassifier`` of the Gaussian kernel of ``lengthscale``."""
    return fk.KernelClassifier(
        kernel=fk.Gaussian(lengthscale=lengthscale), alpha=RELATIVE_ALPHA, relative_alpha=True
    )


def choose_gaussian_lengthscale(X_train, y_train):
    """The lengthscale out of ``GAUSSIAN_LENGTHSCALES`` whose Gaussian kernel has the best
    leave-one-out accuracy on the training set (closed form, by ``KernelClassifierCV``).

    Parameters
    ----------
    X_train : ndarray (n, 64), the training rows
    y_train : ndarray (n,), their labels

    Returns
    -------
    float
    """
    selection = fk.KernelClassifierCV(
        kernels=[fk.Gaussian(lengthscale=length) for length in GAUSSIAN_LENGTHSCALES],
        alphas=(RELATIVE_ALPHA,),
        relative_alpha=True,
    ).fit(X_train, y_train)
    return selection.best_kernel_.lengthscale


def run_kernel(name, images, rows, y, n_train):
    """Fit one kernel's classifier on the first ``n_train`` images and predict the rest.

    Parameters
    ----------
    name : str, one of ``KERNEL_NAMES``
    images : ndarray (N, 8, 8, 1), all images
    rows : ndarray (N, 64), the same images as rows
    y : ndarray (N,), their labels
    n_train : int, how many leading images are the training set

    Returns
    -------
    dict
        ``name``, ``kernel`` (the fitted classifier's kernel), ``predictions`` of the test
        images, ``accuracy``, ``warm_up_seconds`` (a first fit and prediction on
        ``N_WARM_UP`` images, which compiles the kernel's code) and ``seconds`` (the fit and
        prediction on the whole split, for the Gaussian with the choice of its lengthscale).
    """
    X = images if name == "cntk" else rows
    X_train, X_test = X[:n_train], X[n_train:]
    y_train, y_test = y[:n_train], y[n_train:]
    make_classifier = {
        "cntk": convolutional_classifier,
        "ntk": fully_connected_classifier,
        "gaussian": gaussian_classifier,
    }[name]

    start = time.perf_counter()
    make_classifier().fit(X[:N_WARM_UP], y[:N_WARM_UP]).predict(X_test[:N_WARM_UP])
    warm_up_seconds = time.perf_counter() - start

    start = time.perf_counter()
    if name == "gaussian":
        classifier = gaussian_classifier(choose_gaussian_lengthscale(X_train, y_train))
    else:
        classifier = make_classifier()
    predictions = classifier.fit(X_train, y_train).predict(X_test)
    seconds = time.perf_counter() - start
    return {
        "name": name,
        "kernel": classifier.kernel,
        "predictions": predictions,
        "accuracy": float(np.mean(predictions == y_test)),
        "warm_up_seconds": warm_up_seconds,
        "seconds": seconds,
    }


def save_figure(path, results, images_test, y_test):
    """Save a bar chart of the accuracies and the test digits that the most accurate kernel
    misclassified (at most ``N_SHOWN_ERRORS``), each titled with its predicted and true
    labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = max(results, key=lambda result: result["accuracy"])
    wrong = np.flatnonzero(best["predictions"] != y_test)[:N_SHOWN_ERRORS]
    n_columns = 6
    n_rows = max(1, -(-len(wrong) // n_columns))
    figure = plt.figure(figsize=(12, 2.2 * n_rows + 0.5), layout="constrained")
    bars_panel, digits_panel = figure.subfigures(1, 2, width_ratios=(1, 2))

    axes = bars_panel.subplots()
    names = [result["name"] for result in results]
    accuracies = [100 * result["accuracy"] for result in results]
    axes.bar(names, accuracies, color="tab:blue")
    for position, accuracy in enumerate(accuracies):
        axes.text(position, accuracy, f"{accuracy:.1f}", ha="center", va="bottom")
    axes.set_ylim(min(accuracies) - 5, 100)
    axes.set_ylabel(f"test accuracy, % of {len(y_test)} digits")
    axes.set_title("Kernel classifiers")

    n_wrong = int(np.sum(best["predictions"] != y_test))
    digits_panel.suptitle(
        f"{best['name']}: {n_wrong} test digits wrong"
        + (f", the first {len(wrong)} shown" if len(wrong) < n_wrong else "")
    )
    grid = digits_panel.subplots(n_rows, n_columns, squeeze=False)
    for axis in grid.ravel():
        axis.set_axis_off()
    for axis, index in zip(grid.ravel(), wrong, strict=False):
        axis.imshow(images_test[index, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
        axis.set_title(f"predicted {best['predictions'][index]}, true {y_test[index]}", fontsize=8)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    """Run the example; returns the exit status."""
    arguments = parse_arguments(argv)
    images = load_digits().X
    dataset = load_digits(images=False)
    rows, y = dataset.X, dataset.y
    n_train = arguments.n_train
    print(
        f"{len(y)} 8x8 digits: training on the first {n_train}, "
        f"testing on the remaining {len(y) - n_train}"
    )
    print(f"{'kernel':<10}{'accuracy':>10}{'warm-up s':>11}{'fit+predict s':>15}  details")
    results = []
    for name in arguments.kernels:
        result = run_kernel(name, images, rows, y, n_train)
        results.append(result)
        print(
            f"{name:<10}{result['accuracy']:>10.4f}{result['warm_up_seconds']:>11.2f}"
            f"{result['seconds']:>15.2f}  {result['kernel']!r}",
            flush=True,
        )
    if arguments.plot is not None:
        save_figure(arguments.plot, results, images[n_train:], y[n_train:])
        print(f"figure saved to {arguments.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
