"""The exact solvers: time and peak memory of ``KernelRegressor.fit`` against its parts, and a
regularisation path against separate fits (DESIGN.md section 3).

- Memory (fresh process each, n = 16000, float64): the growth of the peak resident set over one
  ``n x n`` matrix, for ``KernelRegressor(NTK(depth=3)).fit``, for its floor (``gram`` into an
  F-ordered buffer, then ``scipy.linalg.cho_factor`` in place), and for scikit-learn's
  ``KernelRidge(kernel="precomputed")`` on the same Gram matrix. The same processes time the
  fit against the floor (goal: fit within 1.15x of gram + cho_factor).
- Path: ``KernelRegressorCV`` with 20 ``alpha`` values and their leave-one-out errors (one
  eigendecomposition) against 20 separate Cholesky fits (goal: cheaper).

LAPACK runs with one thread everywhere (``threads=1``, or threadpoolctl for the references):
on a shared two-core machine a second LAPACK thread makes timings meaningless.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from references import PEAK_RSS_SOURCE
from threadpoolctl import threadpool_limits

import fastntk as fk

CHILD = r"""
import json, sys, time
import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits
import fastntk as fk

what, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kernel = fk.NTK(depth=3)
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d))
y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
fk.KernelRegressor(kernel, alpha=1e-3, threads=1).fit(X[:500], y[:500])  # compile first


before = peak()
start = time.perf_counter()
if what == "fit":
    fk.KernelRegressor(kernel, alpha=1e-3, threads=1).fit(X, y)
    parts = {}
elif what == "floor":
    K = np.empty((n, n), order="F")
    fk.gram(kernel, X, out=K)
    gram_done = time.perf_counter()
    K.flat[:: n + 1] += 1e-3
    with threadpool_limits(1, user_api="blas"):
        scipy.linalg.cho_factor(K, overwrite_a=True, check_finite=False)
    parts = {"gram": gram_done - start, "cho_factor": time.perf_counter() - gram_done}
else:
    from sklearn.kernel_ridge import KernelRidge

    K = fk.gram(kernel, X)
    with threadpool_limits(1, user_api="blas"):
        KernelRidge(alpha=1e-3, kernel="precomputed").fit(K, y)
    parts = {}
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_growth": peak() - before, "matrix": n * n * 8,
                  **parts}))
"""

SUBJECTS = {
    "fit": "subject",
    "floor": "reference: gram + cho_factor",
    "sklearn": "reference: sklearn KernelRidge (precomputed)",
}


@pytest.mark.parametrize("what", list(SUBJECTS))
def test_fit_memory_and_time_against_its_parts(benchmark, what):
    if what == "sklearn":
        pytest.importorskip("sklearn")
    n, d = 16000, 16

    def run():
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_SOURCE + CHILD, what, str(n), str(d)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    benchmark.group = f"KernelRegressor(NTK(depth=3)).fit, n={n}, float64, fresh process"
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    ratio = result["peak_growth"] / result["matrix"]
    benchmark.extra_info.update(
        role=SUBJECTS[what], peak_over_matrix=round(ratio, 4), seconds=result["seconds"]
    )
    extra = {k: round(v, 2) for k, v in result.items() if k in ("gram", "cho_factor")}
    print(f"\n{what}: peak growth / n^2 matrix = {ratio:.4f}, {result['seconds']:.2f} s {extra}")


TIME_N = 6000
TIME_GROUP = f"fit time against gram + cho_factor, NTK(depth=3), n={TIME_N}, in one process"


@pytest.fixture(scope="module")
def timing_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((TIME_N, 16))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(TIME_N)
    fk.KernelRegressor(fk.NTK(3), alpha=1e-3, threads=1).fit(X[:300], y[:300])  # compile
    return X, y


def test_fit_time(benchmark, timing_data):
    X, y = timing_data
    model = fk.KernelRegressor(fk.NTK(3), alpha=1e-3, threads=1)
    benchmark.group = TIME_GROUP
    benchmark.pedantic(model.fit, args=(X, y), rounds=3, iterations=1)
    benchmark.extra_info.update(role="subject")


def test_gram_plus_cho_factor_time(benchmark, timing_data):
    X, _ = timing_data

    def floor():
        K = np.empty((TIME_N, TIME_N), order="F")
        fk.gram(fk.NTK(3), X, out=K)
        K.flat[:: TIME_N + 1] += 1e-3
        with threadpool_limits(1, user_api="blas"):
            scipy.linalg.cho_factor(K, overwrite_a=True, check_finite=False)

    benchmark.group = TIME_GROUP
    benchmark.pedantic(floor, rounds=3, iterations=1)
    benchmark.extra_info.update(role="reference: gram + cho_factor")


PATH_N = 3000
ALPHAS = np.logspace(-6, 1, 20)


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((PATH_N, 16))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(PATH_N)
    fk.KernelRegressorCV([fk.NTK(3)], ALPHAS[:2], threads=1).fit(X[:300], y[:300])  # compile
    return X, y


def test_path_of_20_alphas_with_leave_one_out(benchmark, regression_data):
    X, y = regression_data
    model = fk.KernelRegressorCV([fk.NTK(3)], ALPHAS, relative_alpha=False, threads=1)
    benchmark.group = f"20 alphas, NTK(depth=3), n={PATH_N}"
    benchmark.pedantic(model.fit, args=(X, y), rounds=3, iterations=1)
    benchmark.extra_info.update(role="subject")


def test_20_separate_cholesky_fits(benchmark, regression_data):
    X, y = regression_data

    def fits():
        for alpha in ALPHAS:
            fk.KernelRegressor(fk.NTK(3), alpha=alpha, threads=1).fit(X, y)

    benchmark.group = f"20 alphas, NTK(depth=3), n={PATH_N}"
    with threadpool_limits(1, user_api="blas"):
        benchmark.pedantic(fits, rounds=3, iterations=1)
    benchmark.extra_info.update(role="reference: 20 Cholesky fits")
