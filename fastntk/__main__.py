"""Command line: ``python -m fastntk demo``.

``demo`` fits kernel ridge regression with several fastntk kernels on a small built-in
problem (targets from a random two-layer network plus noise) and prints the test error of
each and the time its fit and prediction took.
"""

import argparse
import sys
import time

import numpy as np

import fastntk as fk


def teacher_student_data(n_train=1000, n_test=500, n_features=8, noise=0.1, seed=0):
    """Inputs on the sphere of radius sqrt(d), targets from a random wide tanh network."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_test, n_features))
    X *= np.sqrt(n_features) / np.linalg.norm(X, axis=1, keepdims=True)
    hidden = rng.standard_normal((n_features, 256)) / np.sqrt(n_features)
    readout = rng.standard_normal(256) / np.sqrt(256)
    y = np.tanh(X @ hidden) @ readout * 3.0
    y += noise * rng.standard_normal(y.shape)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def demo(out=sys.stdout):
    X, y, X_test, y_test = teacher_student_data()
    print(
        f"kernel ridge regression, alpha = 1e-2: {X.shape[0]} training and {X_test.shape[0]} "
        f"test samples, {X.shape[1]} features (teacher: random tanh network + noise 0.1)",
        file=out,
    )
    print(f"{'kernel':<62} {'test RMSE':>10} {'seconds':>8}", file=out)
    baseline = np.sqrt(np.mean((y_test - y.mean()) ** 2))
    print(f"{'predict the mean':<62} {baseline:>10.4f} {'':>8}", file=out)
    kernels = [
        fk.Linear(c=1.0),
        fk.Polynomial(degree=3),
        fk.Gaussian(lengthscale=2.0),
        fk.Laplacian(lengthscale=8.0),
        fk.ArcCosine(order=1),
        fk.NNGP(depth=3),
        fk.NTK(depth=3),
        fk.NTK(depth=2, activation="erf", b_std=0.1),
    ]
    for kernel in kernels:
        start = time.perf_counter()
        predictions = fk.KernelRegressor(kernel, alpha=1e-2).fit(X, y).predict(X_test)
        seconds = time.perf_counter() - start
        rmse = np.sqrt(np.mean((y_test - predictions) ** 2))
        print(f"{kernel!r:<62} {rmse:>10.4f} {seconds:>8.2f}", file=out)
    print("(the first use of each kernel family includes its one-time compilation)", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastntk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="fit kernel regression on a built-in problem")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
