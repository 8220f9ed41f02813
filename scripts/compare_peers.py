"""Time fastntk's Gram matrices against neural-tangents and scikit-learn on the same inputs.

    python scripts/compare_peers.py                          # n = 1000 and 4000, d = 16
    python scripts/compare_peers.py --n 1000 --repeats 5 --nt-batch-size 500

For each n, ``X`` is (n, d) standard normal in float64 and every kernel is ``K(X, X)``:

- neural-tangents (CPU, float64 with ``jax_enable_x64``): ``kernel_fn(X, X, get)`` of
  ``stax.serial(*[Dense(w, W_std=1, b_std=0), act] * 3, Dense(1, W_std=1, b_std=0))``, jitted,
  against ``fk.NTK(depth=3)``, ``fk.NNGP(depth=3)`` and ``fk.NTK(depth=3, activation="erf")``
  (MATH.md section 3: the same NTK parameterization). With ``--nt-batch-size`` the kernel is
  computed in ``nt.batch`` blocks, which bounds its memory.
- scikit-learn: ``linear_kernel``, ``polynomial_kernel``, ``rbf_kernel`` and ``laplacian_kernel``
  against ``fk.Linear``, ``fk.Polynomial``, ``fk.Gaussian`` and ``fk.Laplacian``.

Each time is the best of ``--repeats`` calls after a warm-up call (which compiles fastntk's and
JAX's code); results are on the host as NumPy arrays. The table gives both times, the ratio
``peer / fastntk`` (above 1: fastntk is faster) and the agreement
``max |K_peer - K_fastntk| / max |K_fastntk|``; beyond 1e-6 the row is marked MISMATCH and the
exit status is 1. (Not 1e-15: the ReLU kernels take the arccos of cosines that rounding puts
within a few eps of 1, which turns eps into an angle of about 1e-8.)

Each peer is optional and skipped with a message when it cannot be imported.

Installing the peers
--------------------
scikit-learn: ``pip install scikit-learn`` (fastntk's ``test`` extra has it).

neural-tangents 0.6.5 runs with JAX and jaxlib 0.4.23, not with current JAX; that JAX needs
NumPy < 2 and SciPy < 1.13 (it wraps ``scipy.linalg.tril``, removed in 1.13), and it has wheels
for Python 3.9 to 3.12. Give it a virtual environment of its own::

    python3.11 -m venv nt-venv
    nt-venv/bin/pip install "neural-tangents==0.6.5" "jax==0.4.23" "jaxlib==0.4.23" \\
        "numpy<2" "scipy<1.13" scikit-learn
    nt-venv/bin/pip install -e .
    nt-venv/bin/python scripts/compare_peers.py
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

import fastntk as fk

DEPTH = 3
#: Largest ``max |K_peer - K_fastntk| / max |K_fastntk|`` accepted (see the module docstring).
AGREEMENT = 1e-6


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 4000], help="sample counts")
    parser.add_argument("--d", type=int, default=16, help="features")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per entry (best kept)")
    parser.add_argument(
        "--nt-batch-size",
        type=int,
        default=0,
        help="compute neural-tangents' kernels in blocks of this many rows (must divide every n;"
        " 0: the whole matrix in one call)",
    )
    arguments = parser.parse_args()
    for name in ("d", "repeats"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if min(arguments.n) < 1:
        parser.error("--n must be at least 1")
    batch = arguments.nt_batch_size
    if batch < 0 or (batch and any(n % batch for n in arguments.n)):
        parser.error(f"--nt-batch-size must be 0 or divide every n, got {batch}")
    return arguments


@dataclass
class Comparison:
    """A fastntk kernel and a peer's function ``X -> K(X, X)`` for the same kernel."""

    peer: str
    kernel: object
    compute: Callable


def sklearn_comparisons():
    try:
        import sklearn
        from sklearn.metrics import pairwise
    except ImportError as error:
        print(f"scikit-learn skipped: cannot import it ({error}); pip install scikit-learn")
        return []
    print(f"scikit-learn {sklearn.__version__}")
    gaussian, laplacian = fk.Gaussian(lengthscale=2.0), fk.Laplacian(lengthscale=4.0)
    polynomial = fk.Polynomial(degree=3, coef0=1.0)
    return [
        Comparison("sklearn linear_kernel", fk.Linear(), pairwise.linear_kernel),
        Comparison(
            "sklearn polynomial_kernel",
            polynomial,
            lambda X: pairwise.polynomial_kernel(X, degree=3, gamma=None, coef0=1.0),
        ),
        Comparison(
            "sklearn rbf_kernel",
            gaussian,
            lambda X: pairwise.rbf_kernel(X, gamma=0.5 / gaussian.lengthscale**2),
        ),
        Comparison(
            "sklearn laplacian_kernel",
            laplacian,
            lambda X: pairwise.laplacian_kernel(X, gamma=1.0 / laplacian.lengthscale),
        ),
    ]


def neural_tangents_comparisons(batch_size):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # neural-tangents imports TensorFlow
    try:
        import jax
        import neural_tangents as nt
        from neural_tangents import stax
    except ImportError as error:
        print(
            f"neural-tangents skipped: cannot import it ({error}); see this script's docstring "
            "for how to install it"
        )
        return []
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    print(
        f"neural-tangents {nt.__version__}, jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, float64"
    )

    def network_kernel(activation, get):
        # The width of the Dense layers does not enter the infinite-width kernel.
        layers = [stax.Dense(512, W_std=1.0, b_std=0.0), activation()] * DEPTH
        _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.0, b_std=0.0))
        compiled = jax.jit(kernel_fn, static_argnames="get")
        if batch_size:
            compiled = nt.batch(compiled, batch_size=batch_size, store_on_device=False)

        def compute(X):
            return np.asarray(compiled(X, X, get=get).block_until_ready())

        return compute

    return [
        Comparison("neural-tangents ntk", fk.NTK(DEPTH), network_kernel(stax.Relu, "ntk")),
        Comparison("neural-tangents nngp", fk.NNGP(DEPTH), network_kernel(stax.Relu, "nngp")),
        Comparison(
            "neural-tangents ntk",
            fk.NTK(DEPTH, activation="erf"),
            network_kernel(stax.Erf, "ntk"),
        ),
    ]


def best_time(function, X, repeats):
    """``(seconds, result)``: the fastest of ``repeats`` calls after one warm-up call."""
    result = function(X)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(X)
        best = min(best, time.perf_counter() - start)
    return best, result


def describe(kernel):
    """A short name: the class, and the activation and depth of network kernels."""
    name = type(kernel).__name__
    activation = getattr(kernel, "activation", None)
    if activation is not None:
        return f"{name} {type(activation).__name__.lower()} depth {kernel.depth}"
    return name


def compare(comparisons, n, d, repeats):
    """Print one table row per comparison; returns the number of mismatches."""
    X = np.random.default_rng(0).standard_normal((n, d))
    mismatches = 0
    for comparison in comparisons:
        fastntk_seconds, K = best_time(partial(fk.gram, comparison.kernel), X, repeats)
        peer_seconds, K_peer = best_time(comparison.compute, X, repeats)
        difference = float(np.max(np.abs(K_peer - K)) / np.max(np.abs(K)))
        mismatch = not difference <= AGREEMENT  # a NaN is a mismatch too
        mismatches += mismatch
        print(
            f"{n:>6} {describe(comparison.kernel):<22} {comparison.peer:<27}"
            f"{fastntk_seconds:>11.4f}{peer_seconds:>11.4f}{peer_seconds / fastntk_seconds:>9.2f}"
            f"{difference:>11.1e}{'  MISMATCH' if mismatch else ''}"
        )
    return mismatches


def main():
    arguments = parse_arguments()
    print(f"fastntk {fk.__version__}, numpy {np.__version__}, d={arguments.d}, float64")
    comparisons = sklearn_comparisons() + neural_tangents_comparisons(arguments.nt_batch_size)
    if not comparisons:
        print("no peer could be imported: nothing to compare")
        return 0
    print(
        f"\n{'n':>6} {'kernel':<22} {'peer':<27}{'fastntk s':>11}{'peer s':>11}"
        f"{'ratio':>9}{'max rel':>11}"
    )
    mismatches = sum(compare(comparisons, n, arguments.d, arguments.repeats) for n in arguments.n)
    print(
        "\nratio = peer time / fastntk time (above 1: fastntk is faster); best of "
        f"{arguments.repeats} after a warm-up; max rel = max |K_peer - K| / max |K|"
    )
    if mismatches:
        print(f"{mismatches} comparisons disagree beyond {AGREEMENT:g}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
