"""Throughput of the matrix-free kernel products against ``gram`` (goal: at least half as many
kernel entries per second).

``KernelOperator(NTK(3), X) @ v`` at n = 100000 (10^10 entries, a matrix of 80 GB that is
never stored) against ``gram(NTK(3), X)`` at n = 16000 (a 2 GB matrix that fits). Both are
timed in the same run; the ratio of their entries per second is stored in ``extra_info``.
"""

import numpy as np
import pytest

import fastntk as fk
from fastntk.operators import KernelOperator

D = 20
KERNEL = fk.NTK(depth=3)
SIZES = {"operator": 100_000, "gram": 16_000}
GROUP = "kernel entries per second: K @ v (n=100000) against gram (n=16000), NTK(3), d=20"
_entries_per_second = {}


@pytest.fixture(scope="module")
def inputs():
    X = np.random.default_rng(0).standard_normal((SIZES["operator"], D))
    KernelOperator(KERNEL, X[:300]) @ np.ones(300)  # compile
    fk.gram(KERNEL, X[:300])
    return X


def test_gram_that_fits(benchmark, inputs):
    n = SIZES["gram"]
    benchmark.group = GROUP
    benchmark.pedantic(fk.gram, args=(KERNEL, inputs[:n]), rounds=3, warmup_rounds=1)
    _entries_per_second["gram"] = n * n / benchmark.stats.stats.min
    benchmark.extra_info.update(
        role="reference: gram", entries_per_second=_entries_per_second["gram"]
    )


def test_matrix_free_product(benchmark, inputs):
    n = SIZES["operator"]
    operator = KernelOperator(KERNEL, inputs)
    v = np.random.default_rng(1).standard_normal(n)
    benchmark.group = GROUP
    benchmark.pedantic(operator.matvec, args=(v,), rounds=2, warmup_rounds=0)
    rate = n * n / benchmark.stats.stats.min
    benchmark.extra_info.update(role="subject", entries_per_second=rate)
    if "gram" in _entries_per_second:
        ratio = rate / _entries_per_second["gram"]
        benchmark.extra_info["throughput_over_gram"] = round(ratio, 3)
        print(f"\nK @ v throughput / gram throughput = {ratio:.3f} (goal >= 0.5)")
