"""First-call latency of fastntk in a fresh process, with a cold and a warm compile cache.

Each measurement is a new Python process that imports fastntk and computes one Gram matrix
(n = 1000, d = 16). "cold" uses an empty Numba cache directory, so everything compiles;
"warm" repeats it with the cache the cold run wrote. Also reports whether the warm process
compiled anything (Numba's dispatcher statistics).

Usage: python scripts/first_call_latency.py [--kernels NTK Gaussian ...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import fastntk as fk
from fastntk import _engine_core
imported = time.perf_counter()
kernel = eval("fk." + sys.argv[1])
X = np.random.default_rng(0).standard_normal((1000, 16))
kernel(X)
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - start,
    "first_gram_s": done - imported,
    "compiled": sum(_engine_core.fill_tiles.stats.cache_misses.values()),
}))
"""


def measure(kernel, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, kernel], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", default=["NTK(depth=3)", "Gaussian()"])
    args = parser.parse_args()
    print(f"{'kernel':<16} {'cache':<6} {'import s':>9} {'first gram s':>13} {'compiled':>9}")
    for kernel in args.kernels:
        with tempfile.TemporaryDirectory() as cache_dir:
            for label in ("cold", "warm"):
                r = measure(kernel, cache_dir)
                print(
                    f"{kernel:<16} {label:<6} {r['import_s']:>9.2f} {r['first_gram_s']:>13.2f} "
                    f"{r['compiled']:>9}"
                )


if __name__ == "__main__":
    main()
