"""The largest exact kernel regression this machine holds: fit and predict at size n.

    python scripts/largest_exact_fit.py --n 45000 --threads 2

Fits ``KernelRegressor(NTK(depth=3))`` on a synthetic regression problem (inputs N(0, I) in
``d`` dimensions, target ``sin(x_1) + x_2 x_3 / 2`` plus noise), predicts a test set, and prints
the time of each step, the test R^2, and the peak resident memory against one ``n x n`` matrix.
The fit holds one ``n x n`` matrix (the Gram matrix, factorized in place): n = 45000 in float64
needs 16.2 GB.
"""

import argparse
import resource
import time

import numpy as np

import fastntk as fk


def teacher(X):
    return np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=45000, help="training samples")
    parser.add_argument("--d", type=int, default=16, help="input dimension")
    parser.add_argument("--test", type=int, default=2000, help="test samples")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--alpha", type=float, default=1e-2, help="regulariser (absolute)")
    parser.add_argument("--threads", type=int, default=None, help="LAPACK threads")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d))
    y = teacher(X) + 0.1 * rng.standard_normal(args.n)
    X_test = rng.standard_normal((args.test, args.d))
    y_test = teacher(X_test)
    kernel = fk.NTK(depth=3)
    fk.KernelRegressor(kernel, threads=1).fit(X[:200], y[:200]).predict(X_test[:10])  # compile

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model = fk.KernelRegressor(kernel, alpha=args.alpha, dtype=args.dtype, threads=args.threads)
    start = time.perf_counter()
    model.fit(X, y)
    fitted = time.perf_counter()
    r2 = model.score(X_test, y_test)
    predicted = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    matrix = args.n**2 * np.dtype(args.dtype).itemsize

    print(f"n = {args.n}, d = {args.d}, {args.dtype}, threads = {model.factorization_.threads}")
    print(f"solver: {model.solver_}")
    print(f"fit (Gram matrix + Cholesky): {fitted - start:.1f} s")
    print(f"predict {args.test} points: {predicted - fitted:.2f} s; test R^2 = {r2:.4f}")
    print(
        f"peak resident memory: {peak / 2**30:.2f} GiB; growth during fit and predict "
        f"{(peak - baseline) / 2**30:.2f} GiB = {(peak - baseline) / matrix:.3f} x the "
        f"{matrix / 2**30:.2f} GiB n x n matrix"
    )


if __name__ == "__main__":
    main()
