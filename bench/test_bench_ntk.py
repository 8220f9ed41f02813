"""The NTK Gram matrix against its floor and an in-place NumPy implementation (issue: kernel
library). Goal: >= 10x faster than NumPy, <= 2x the floor ``X @ X.T`` + writing the output
into fresh memory, float32 >= 1.5x faster than float64, time ~ n^2."""

import numpy as np
import pytest
from references import fresh_output, numpy_ntk_relu

import fastntk as fk

N = 8000
KERNEL = fk.NTK(depth=3)


def data(n, d, dtype=np.float64):
    return np.random.default_rng(0).standard_normal((n, d)).astype(dtype)


@pytest.fixture(autouse=True, scope="module")
def compiled():
    for dtype in (np.float32, np.float64):
        KERNEL(data(300, 4), dtype=dtype)


@pytest.mark.parametrize("d", [16, 256])
class TestNTKAgainstReferences:
    def test_fastntk_float64(self, benchmark, d):
        X = data(N, d)
        benchmark.group = f"ntk depth 3, n={N}, d={d}"
        benchmark.extra_info["role"] = "subject"
        benchmark.pedantic(fk.gram, args=(KERNEL, X), rounds=3, warmup_rounds=1)

    def test_fastntk_float32(self, benchmark, d):
        X = data(N, d)
        benchmark.group = f"ntk depth 3, n={N}, d={d}"
        benchmark.extra_info["role"] = "subject"
        benchmark.pedantic(
            fk.gram, args=(KERNEL, X), kwargs={"dtype": np.float32}, rounds=3, warmup_rounds=1
        )

    def test_numpy_inplace(self, benchmark, d):
        X = data(N, d)
        benchmark.group = f"ntk depth 3, n={N}, d={d}"
        benchmark.extra_info["role"] = "reference: numpy"
        benchmark.pedantic(numpy_ntk_relu, args=(X, 3), rounds=1, warmup_rounds=0)

    def test_floor(self, benchmark, d):
        X = data(N, d)
        benchmark.group = f"ntk depth 3, n={N}, d={d}"
        benchmark.extra_info["role"] = "reference: floor"

        def floor():
            X @ X.T
            fresh_output(N, np.float64)

        benchmark.pedantic(floor, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("n", [2000, 4000, 8000, 16000])
def test_scaling(benchmark, n):
    """Time against n: the saved JSON shows ~4x per doubling of n."""
    X = data(n, 16)
    benchmark.group = "ntk depth 3 scaling, d=16"
    benchmark.extra_info["role"] = "subject" if n > 2000 else "reference: n=2000"
    benchmark.pedantic(fk.gram, args=(KERNEL, X), rounds=2, warmup_rounds=1)
