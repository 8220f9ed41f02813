"""Peak memory of ``gram`` against the size of its output (goal: within 1.1x at n = 16000).

Each measurement runs in a fresh process: compile on a small input, note the peak resident set,
compute the Gram matrix, and report the growth of the peak over the output's size. The ratio is
stored in the benchmark's ``extra_info`` (and printed), next to the time of the same call.
"""

import json
import subprocess
import sys

import pytest
from references import PEAK_RSS_SOURCE

CHILD = r"""
import json, sys, time
import numpy as np
import fastntk as fk
n, d, dtype = int(sys.argv[1]), int(sys.argv[2]), np.dtype(sys.argv[3])
kernel = fk.NTK(depth=3)
X = np.random.default_rng(0).standard_normal((n, d))
kernel(X[:600], dtype=dtype)
before = peak()
start = time.perf_counter()
K = kernel(X, dtype=dtype)
seconds = time.perf_counter() - start
after = peak()
print(json.dumps({"seconds": seconds, "peak_growth": after - before, "output": K.nbytes}))
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_peak_memory_of_gram(benchmark, dtype):
    n, d = 16000, 16

    def run():
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_SOURCE + CHILD, str(n), str(d), dtype],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    benchmark.group = f"peak memory of gram(NTK(depth=3)), n={n}"
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    ratio = result["peak_growth"] / result["output"]
    benchmark.extra_info.update(
        role="subject", peak_over_output=round(ratio, 4), gram_seconds=result["seconds"]
    )
    print(f"\n{dtype}: peak growth / output size = {ratio:.4f}, gram {result['seconds']:.2f} s")
