"""Finite-width networks approach their NTK as the width grows, on a real dataset.

For each width, and several seeds, a ``fastntk.finite.FiniteNetwork`` is drawn on one dataset of
the Fernandez-Delgado UCI collection (``fastntk.datasets.load_uci``) and the script measures

- the relative error of its empirical NTK on all rows, ``|Theta_emp - Theta|_F / |Theta|_F``
  with ``Theta = fastntk.NTK`` of the same depth, activation, ``w_std`` and ``b_std``;
- after training it by full-batch gradient descent on the squared loss (centred one-hot targets
  of the dataset's training rows), the gap between its predictions on the validation rows and
  those of the linearised infinite-width network started from the same outputs
  (``FiniteNetwork.infinite_width_prediction``), relative to how far that prediction moved from
  the initial outputs: ``|f_net - f_lin|_F / |f_lin - f_0|_F``.

Both should fall like ``1 / sqrt(width)``: the script prints a table, the fitted log-log slopes
(near -1/2) and the validation accuracies of the trained networks and of the linearised network.

Usage::

    python scripts/width_convergence.py path/to/uci-sample/conn-bench-sonar-mines-rocks
    python scripts/width_convergence.py DATASET --depth 2 --widths 64 128 256 512 --plot out.png

``--plot`` needs matplotlib (an optional dependency).
"""

import argparse
import time

import numpy as np

import fastntk as fk
from fastntk.datasets import load_uci
from fastntk.finite import FiniteNetwork


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="a dataset folder of the UCI collection")
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096]
    )
    parser.add_argument("--seeds", type=int, default=4, help="networks per width")
    parser.add_argument("--depth", type=int, default=1, help="hidden layers")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--w-std", type=float, default=1.0)
    parser.add_argument("--b-std", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=200, help="gradient-descent steps")
    parser.add_argument(
        "--learning-rate-factor",
        type=float,
        default=1.0,
        help="learning rate in units of 1 / (largest eigenvalue of the NTK on the training rows)",
    )
    parser.add_argument("--plot", metavar="PNG", help="also draw the table to this file")
    return parser.parse_args()


def centred_one_hot(labels, n_classes):
    return np.eye(n_classes)[labels] - 1.0 / n_classes


def loglog_slope(widths, values):
    return np.polyfit(np.log(widths), np.log(values), 1)[0]


def measure(dataset, arguments):
    """Per width: mean NTK error, mean gap and mean accuracies over the seeds."""
    X_train, X_test = dataset.X[dataset.train], dataset.X[dataset.validation]
    y_train = centred_one_hot(dataset.y[dataset.train], dataset.n_classes)
    labels_test = dataset.y[dataset.validation]
    kernel = fk.NTK(arguments.depth, arguments.activation, arguments.w_std, arguments.b_std)
    theta = kernel(dataset.X)
    largest = np.linalg.eigvalsh(kernel(X_train))[-1]
    learning_rate = arguments.learning_rate_factor / largest
    rows = []
    for width in arguments.widths:
        errors, gaps, network_accuracy, linear_accuracy = [], [], [], []
        for seed in range(arguments.seeds):
            network = FiniteNetwork(
                dataset.X.shape[1],
                width,
                arguments.depth,
                arguments.activation,
                arguments.w_std,
                arguments.b_std,
                n_outputs=dataset.n_classes,
                seed=seed,
            )
            empirical = network.empirical_ntk(dataset.X)
            errors.append(
                np.mean(
                    [np.linalg.norm(block - theta) / np.linalg.norm(theta) for block in empirical]
                )
            )
            initial = network(X_test)
            linear = network.infinite_width_prediction(
                X_train, y_train, X_test, learning_rate, arguments.steps
            )
            trained = network.fit(X_train, y_train, learning_rate, arguments.steps)(X_test)
            gaps.append(np.linalg.norm(trained - linear) / np.linalg.norm(linear - initial))
            network_accuracy.append(np.mean(trained.argmax(axis=1) == labels_test))
            linear_accuracy.append(np.mean(linear.argmax(axis=1) == labels_test))
        rows.append(
            (
                width,
                np.mean(errors),
                np.mean(gaps),
                np.mean(network_accuracy),
                np.mean(linear_accuracy),
            )
        )
    return np.array(rows), learning_rate


def plot(table, title, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    widths = table[:, 0]
    figure, axes = pyplot.subplots(figsize=(5, 4))
    axes.loglog(widths, table[:, 1], "o-", label="relative error of the empirical NTK")
    axes.loglog(widths, table[:, 2], "s-", label="gap: trained network vs NTK dynamics")
    reference = table[0, 1] * np.sqrt(widths[0] / widths)
    axes.loglog(widths, reference, "k--", label="1 / sqrt(width)")
    axes.set_xlabel("width")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    arguments = parse_arguments()
    if arguments.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("--plot needs matplotlib: pip install matplotlib") from None
    try:
        dataset = load_uci(arguments.dataset)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"cannot read the dataset: {error}") from None
    start = time.perf_counter()
    table, learning_rate = measure(dataset, arguments)
    print(
        f"{dataset.name}: {dataset.train.size} training and {dataset.validation.size} validation "
        f"rows, {dataset.X.shape[1]} features, {dataset.n_classes} classes"
    )
    print(
        f"network: depth {arguments.depth}, {arguments.activation}, w_std {arguments.w_std}, "
        f"b_std {arguments.b_std}; {arguments.steps} steps of learning rate {learning_rate:.4g} "
        f"({arguments.learning_rate_factor} / largest NTK eigenvalue); "
        f"means over {arguments.seeds} seeds"
    )
    print()
    header = ("width", "NTK rel. error", "gap to NTK", "acc. net", "acc. NTK")
    print("  ".join(f"{name:>{len(name) if i else 6}}" for i, name in enumerate(header)))
    for width, error, gap, network_accuracy, linear_accuracy in table:
        print(
            f"{int(width):>6}  {error:>14.4f}  {gap:>10.4f}  {network_accuracy:>8.3f}  "
            f"{linear_accuracy:>8.3f}"
        )
    print()
    widths, errors, gaps = table[:, 0], table[:, 1], table[:, 2]
    print(f"log-log slope of the NTK error against width: {loglog_slope(widths, errors):+.3f}")
    print(f"log-log slope of the gap against width:       {loglog_slope(widths, gaps):+.3f}")
    print(f"(1 / sqrt(width) is -0.5; {time.perf_counter() - start:.0f} s)")
    if arguments.plot:
        plot(table, f"{dataset.name}, depth {arguments.depth}", arguments.plot)
        print(f"plot written to {arguments.plot}")


if __name__ == "__main__":
    main()
