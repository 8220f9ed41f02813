"""First-call latency of fastntk in a fresh process, with a cold and a warm compile cache.

Each measurement is a new Python process that imports fastntk and computes one Gram matrix
(n = 1000, d = 16). "cold" uses an empty Numba cache directory, so everything compiles;
"warm" repeats it with the cache the cold run wrote. Also reports whether the warm process
compiled the tile loop (Numba's dispatcher statistics).

With ``--fresh-venv`` the processes run in a new virtualenv into which this checkout is
installed (``pip install .``), as a user's first call after ``pip install fastntk`` would.

With ``--demo`` it times the whole command ``python -m fastntk demo`` instead (wall clock, from
the start of the process to its exit), once cold and ``--warm-runs`` times warm, with the
demo's ``--jobs`` when given.

Usage: python scripts/first_call_latency.py [--fresh-venv] [--kernels "NTK(depth=3)" ...]
       python scripts/first_call_latency.py [--fresh-venv] --demo [--jobs N] [--warm-runs K]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import venv

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import fastntk as fk
from fastntk.backends import cpu
imported = time.perf_counter()
kernel = eval("fk." + sys.argv[1])
X = np.random.default_rng(0).standard_normal((1000, 16))
kernel(X)
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - start,
    "first_gram_s": done - imported,
    "compiled": sum(cpu.tile_loop.cached.stats.cache_misses.values()),
}))
"""

BUILT_IN = [
    "Linear()",
    "Polynomial()",
    "Gaussian()",
    "Laplacian()",
    "ArcCosine()",
    "NNGP(depth=3)",
    "NTK(depth=3)",
    "NTK(depth=2, activation='erf')",
    "NTK(depth=2, activation='abs')",
    "NNGP(depth=2, activation='step')",
]


def measure(python, kernel, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run(
        [python, "-c", CHILD, kernel],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # import the installed package, not a checkout
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_demo(python, cache_dir, jobs):
    """Seconds of wall clock of one ``python -m fastntk demo`` process, and its last line."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    command = [python, "-m", "fastntk", "demo"] + ([] if jobs is None else ["--jobs", str(jobs)])
    start = time.perf_counter()
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()
    )
    return time.perf_counter() - start, result.stdout.strip().splitlines()[-1]


def fresh_virtualenv(directory):
    """A new virtualenv with this checkout installed; its interpreter."""
    venv.create(directory, with_pip=True)
    python = str(pathlib.Path(directory) / "bin" / "python")
    root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([python, "-m", "pip", "install", "-q", str(root)], check=True)
    return python


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", default=BUILT_IN)
    parser.add_argument("--fresh-venv", action="store_true", help="install into a new venv")
    parser.add_argument("--demo", action="store_true", help="time `python -m fastntk demo`")
    parser.add_argument("--jobs", type=int, help="the demo's --jobs (default: its own)")
    parser.add_argument("--warm-runs", type=int, default=2, help="warm demo runs (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        python = fresh_virtualenv(scratch) if args.fresh_venv else sys.executable
        if args.demo:
            with tempfile.TemporaryDirectory() as cache_dir:
                for label in ["cold"] + ["warm"] * args.warm_runs:
                    seconds, last = time_demo(python, cache_dir, args.jobs)
                    print(f"demo --jobs {args.jobs or 'default'} {label}: {seconds:.1f} s ({last})")
            return
        print(f"{'kernel':<34} {'cache':<6} {'import s':>9} {'first gram s':>13} {'compiled':>9}")
        for kernel in args.kernels:
            with tempfile.TemporaryDirectory() as cache_dir:
                for label in ("cold", "warm"):
                    r = measure(python, kernel, cache_dir)
                    print(
                        f"{kernel:<34} {label:<6} {r['import_s']:>9.2f} "
                        f"{r['first_gram_s']:>13.2f} {r['compiled']:>9}"
                    )


if __name__ == "__main__":
    main()
