"""Compare fastntk's kernels with neural-tangents and scikit-learn: timing, or exactness.

    python scripts/compare_peers.py                          # timing, n = 1000 and 4000, d = 16
    python scripts/compare_peers.py --n 1000 --repeats 5 --nt-batch-size 500
    python scripts/compare_peers.py --exactness --nt-python nt-venv/bin/python
    python scripts/compare_peers.py --speed --nt-python nt-venv/bin/python --n 2000

Timing (the default)
--------------------
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
within a few eps of 1, which turns eps into an angle of about 1e-8.) Timing needs both libraries
in one Python environment (see below); each peer is optional and skipped with a message when it
cannot be imported.

Speed per activation (``--speed``)
----------------------------------
For every activation of the exactness list below (``--only`` restricts it) that fastntk has: the
NTK where fastntk defines it, else the NNGP (Sign, RectifiedMonomial(0), Step), of depth 3 with
``W_std = 1``, no biases, the NTK parameterization, on ``X`` (n, 16) standard normal in float64
(``--n``, default 2000; ``--d``), as ``K(X, X)``. neural-tangents runs in its own environment as
for ``--exactness`` (``scripts/nt_reference.py --speed``): its ``kernel_fn(X, X, get)`` jitted,
one compile call (its time is reported apart) and then the best of ``--repeats`` calls, each
brought to the host. fastntk: ``fk.gram`` (all cores), the best of ``--repeats`` calls after a
warm-up call. The two run one after the other, never at once (neural-tangents first, all its
networks, then fastntk). The table gives both times, ``NT / fastntk`` (above 1: fastntk is
faster), neural-tangents' compile call, fastntk's time as a multiple of its ReLU NTK's in the
same run, and ``agree``: the normalised error (as for ``--exactness``) of fastntk's first 64
rows against neural-tangents', for information only (Hermite's kernels are neural-tangents'
only for unit-variance inputs, which these are not). The exit status is 0 unless a side fails.

The times are noisy: best-of-r on a machine that may be shared, and neural-tangents (XLA) and
fastntk (Numba) may use the cores differently; treat ratios within a factor of ~1.5 as equal,
and rerun before reading anything into a single row.

Exactness (``--exactness``)
---------------------------
fastntk's ``NNGP`` and ``NTK`` against neural-tangents 0.6.5 for every activation the two
libraries share, digit by digit. neural-tangents runs in its own environment (its JAX needs
NumPy < 2), given by ``--nt-python`` or the ``FASTNTK_NT_PYTHON`` environment variable: this
script writes the cases into a temporary folder (inputs as ``.npz``, networks as JSON), runs
``scripts/nt_reference.py`` there under that Python (float64 with ``jax_enable_x64``, CPU), and
reads its kernels back while it computes fastntk's own.

Each network is neural-tangents' ``stax.serial(*[Dense(w, W_std, b_std, parameterization=P),
act] * depth, Dense(1, W_std, b_std, parameterization=P))`` with ``kernel_fn(., ., ("nngp",
"ntk"))``, against ``fk.NNGP(depth, activation, w_std, b_std)`` and ``fk.NTK(...)`` (with
``parameterization="standard", width=w`` for the standard parameterization), computed with
``fk.gram`` as K(X, X) (``Z = None``) and K(X, Z) in float64, and again in float32. fastntk's
``b_std = 0`` means no biases, neural-tangents' ``b_std=None`` (its ``b_std=0`` adds a bias of
variance 0, which in the standard parameterization still adds 1 to the NTK per layer). The cases:

- depth 1 to 4; ``(W_std, b_std)`` = (1, 0), (1.4, 0.3), (0.8, 1.1); the NTK parameterization, and
  the standard one at widths 64 and 1000;
- X: 12 standard normal rows in d = 5, then a duplicate of one row, the negation of another and a
  zero row; Z: 6 standard normal rows and twice a row of X (exactly parallel). The entries are
  rounded to multiples of 2^-10, so that every inner product of the inputs is exact in float64.
  neural-tangents takes an angle as ``arctan2(sqrt(K(x,x) K(z,z) - K(x,z)^2), K(x,z))``: at an
  (anti)parallel pair (the diagonal, a duplicate, a negated row) the one-ulp rounding of full
  53-bit inputs leaves ``sqrt(eps)`` under that square root, an angle of about 1e-8, which the
  kinked activations (ReLU, LeakyReLU, ABReLU, Abs) carry into their NTK at first order: with
  unrounded inputs its NTK diagonal at depth 4 is off by 1e-8 (fastntk's is exact, against a
  50-digit evaluation). With exact input products its diagonal and pair formulas agree bit for
  bit, and so do its (anti)parallel entries with the exact values;
- Hermite polynomials are neural-tangents' kernels only for unit-variance pre-activations: they
  get X and Z rescaled to ``|x|^2 = d`` (no zero row), and ``(W_std, b_std)`` = (1, 0) and
  (0.8, 0.6), which keep every layer's variance 1;
- an NTK that fastntk declines with a ``ValueError`` (Sign, RectifiedMonomial(0), Step: the
  derivative is not a function) is left out, and an activation or option fastntk does not have
  is reported as "not in fastntk" (it does not fail the run).

The error measures, each the worst over all the cases of an (activation, parameterization) row:

- ``nngp``, ``ntk``: the normalised error ``max |K - K_nt| / sqrt(K_nt(x, x) K_nt(z, z))`` over
  all entries. This is what must be below 1e-10 (then ``ok``; else MISMATCH and exit status 1).
  It is relative to the diagonal scale rather than to the entry because an entry near 0 of,
  say, Sin's kernel is the difference of two exponentials of the size of the diagonal
  (``exp(-b^2 (sxx + szz)/2) (exp(b^2 sxz) - cos(2c) exp(-b^2 sxz))``): neural-tangents' own
  rounding there is eps times the diagonal, not eps times the entry, so no relative error
  below that can be asked of either side. The scale of a row is neural-tangents' diagonal,
  fastntk's where neural-tangents' is not finite, and the largest diagonal of the matrix where
  a diagonal is below 1e-12 of it (a zero row without biases, whose kernel is 0).
- ``plain``: the elementwise relative error ``max |K - K_nt| / |K_nt|`` over the entries with
  ``|K_nt| > 1e-3 sqrt(K_nt(x, x) K_nt(z, z))``, for information.
- ``f32``: fastntk's float32 Gram matrices against its float64 ones, normalised as above; it must
  be below 1e-5, or, for a kernel too ill-conditioned for that in float32, below 1e-5 plus
  depth times ``f32in``: the change of the float64 kernel when the inputs alone are rounded to
  float32 (each layer rounds once more). Hermite(4) at depth 4 is ``c^256`` in the input
  correlation ``c``, so rounding ``c`` to float32 moves it by 256 x 6e-8.
- ``diag``: ``kernel.diag(X)`` (float64) against neural-tangents' diagonal, relative: must be below
  1e-10. For the NNGP that is neural-tangents' ``cov1``; it has no NTK diagonal of its own,
  so the NTK's reference is the diagonal of its ``K(X, X)``.

Entries that neural-tangents returns as NaN or inf are left out of a row and counted in its
notes, and a network that overflows float64 on both sides (``Monomial(5)`` at depth 4) counts as
agreeing; a non-finite value from fastntk, or a ``ValueError`` where neural-tangents' kernel is
finite, is a mismatch. fastntk declining float32 for a kernel beyond float32's range (its
``ValueError`` saying so) is noted, with the largest float64 entry of those cases. Some
activations need neural-tangents handled apart:

- its ``RectifiedMonomial`` takes its diagonal from its pair formula ``(pi - theta) / sin theta``
  at ``theta = 0``, a NaN, unless the kernel is diagonal in space, and every entry after the
  first layer is then NaN: its cases (and ``Step``'s, against ``RectifiedMonomial(0)``) call
  ``kernel_fn`` with ``diagonal_spatial=True``, the same kernel for inputs without spatial
  dimensions, which uses its closed-form diagonal; its (anti)parallel entries stay NaN.
- ``Step`` and ``RectifiedMonomial(0)`` at the zero row without biases (first-layer variance 0):
  fastntk counts a zero variance as correlation 0, on the diagonal as off it, so every entry of
  that row is 1/4 and its Gram matrix stays consistent; neural-tangents' own row is not
  consistent there (0.5 on its diagonal ``cov1``, NaN off it and on the diagonal of its full
  K(X, X)), so the diagonal entries of zero rows, in K(X, X) and in ``diag``, are left out for
  these two only (and counted in the notes); the NaNs off the diagonal are left out as any
  non-finite entry is.
- its ``ExpNormalized`` divides by ``sqrt(max(K(x,x) K(z,z), 1e-30))``, so a zero row without
  biases gets the variance ``1e-15 / e`` instead of 0, and one layer on entries of about 3e-8
  with every other row where the kernel is 0: the entries of zero rows are left out there.

``--verbose`` prints every case (normalised, plain, f32 and f32in errors), ``--only`` restricts
the run to some activations, and ``--nt-keep FOLDER`` keeps neural-tangents' case files and
results. The run takes a minute or two once fastntk's compiled code is in Numba's disk cache;
the first run after fastntk's sources change compiles every activation's kernels in float64 and
float32 first, which takes several minutes more.

Installing the peers
--------------------
scikit-learn: ``pip install scikit-learn`` (fastntk's ``test`` extra has it).

neural-tangents 0.6.5 runs with JAX and jaxlib 0.4.23, not with current JAX; that JAX needs
NumPy < 2, and it has wheels for Python 3.9 to 3.12. Give it a virtual environment of its own,
Python 3.11, with these pins::

    python3.11 -m venv nt-venv
    nt-venv/bin/pip install "neural-tangents==0.6.5" "jax==0.4.23" "jaxlib==0.4.23" \\
        "numpy==1.26.4" "ml_dtypes==0.5.1" "tf2jax==0.3.6" "tensorflow==2.21.0" \\
        "frozendict==2.5.1"

For ``--exactness`` that is all: fastntk stays in its own environment, and
``FASTNTK_NT_PYTHON=nt-venv/bin/python python scripts/compare_peers.py --exactness`` (or
``--nt-python``) runs it. (This JAX's ``jax.scipy.linalg`` also needs SciPy < 1.13, which removed
``scipy.linalg.tril``; the kernels used here never import it.) For timing, neural-tangents must
be importable next to fastntk: add ``"scipy<1.13" scikit-learn`` to that environment, then
``nt-venv/bin/pip install -e .`` and ``nt-venv/bin/python scripts/compare_peers.py``.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

import fastntk as fk

DEPTH = 3
#: Largest ``max |K_peer - K_fastntk| / max |K_fastntk|`` accepted (see the module docstring).
AGREEMENT = 1e-6

#: Exactness: the largest normalised error of a float64 kernel, and of its diagonal.
EXACT = 1e-10
#: Exactness: the largest normalised error of fastntk's float32 against its float64 kernel.
FLOAT32_AGREEMENT = 1e-5
#: Exactness: entries at least this fraction of the diagonal scale enter the plain relative error.
PLAIN_FLOOR = 1e-3
#: Exactness: a diagonal below this fraction of the largest is measured against the largest.
TINY_DIAGONAL = 1e-12
EXACT_DEPTHS = (1, 2, 3, 4)
#: ``(W_std, b_std)``; 0 is no biases.
EXACT_SETTINGS = ((1.0, 0.0), (1.4, 0.3), (0.8, 1.1))
#: Settings that keep unit-variance inputs at variance 1 in every layer (``W^2 + b^2 = 1``).
UNIT_SETTINGS = ((1.0, 0.0), (0.8, 0.6))
#: ``(label, parameterization, width)``; the NTK parameterization's kernel ignores the width.
PARAMETERIZATIONS = (
    ("ntk", "ntk", 512),
    ("std w=64", "standard", 64),
    ("std w=1000", "standard", 1000),
)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=None,
        help="sample counts (default: 1000 4000 for timing, 2000 for --speed)",
    )
    parser.add_argument("--d", type=int, default=16, help="features")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per entry (best kept)")
    parser.add_argument(
        "--nt-batch-size",
        type=int,
        default=0,
        help="compute neural-tangents' kernels in blocks of this many rows (must divide every n;"
        " 0: the whole matrix in one call)",
    )
    exactness = parser.add_argument_group("exactness")
    exactness.add_argument(
        "--exactness",
        action="store_true",
        help="check NNGP/NTK of every shared activation against neural-tangents to 1e-10"
        " instead of timing",
    )
    exactness.add_argument(
        "--nt-python",
        default=os.environ.get("FASTNTK_NT_PYTHON"),
        help="the Python of neural-tangents' own environment (default: $FASTNTK_NT_PYTHON)",
    )
    exactness.add_argument(
        "--nt-jobs",
        type=int,
        default=max(1, min(4, os.cpu_count() or 1)),
        help="neural-tangents processes, each with a share of the networks",
    )
    exactness.add_argument(
        "--nt-serial",
        action="store_true",
        help="have neural-tangents build each depth's stax.serial from scratch (slower; by default"
        " the depths of a network share their layers' computation, which gives the same numbers)",
    )
    exactness.add_argument(
        "--only",
        nargs="+",
        metavar="LABEL",
        help="check only the activations whose label starts with one of these (e.g. ReLU Erf)",
    )
    exactness.add_argument(
        "--nt-keep",
        metavar="FOLDER",
        help="write neural-tangents' case files and results into FOLDER and keep them",
    )
    exactness.add_argument("--verbose", action="store_true", help="print every exactness case")
    exactness.add_argument(
        "--speed",
        action="store_true",
        help="time fastntk against neural-tangents (its own Python, as for --exactness) for every"
        " activation of the exactness list",
    )
    arguments = parser.parse_args()
    if arguments.n is None:
        arguments.n = [SPEED_N] if arguments.speed else [1000, 4000]
    for name in ("d", "repeats", "nt_jobs"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(arguments.n) < 1:
        parser.error("--n must be at least 1")
    batch = arguments.nt_batch_size
    if batch < 0 or (batch and any(n % batch for n in arguments.n)):
        parser.error(f"--nt-batch-size must be 0 or divide every n, got {batch}")
    return arguments


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


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


def timing(arguments):
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


# --------------------------------------------------------------------------------------------
# Exactness
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationCase:
    """One activation: its fastntk constructor (a name in ``fastntk.activations`` and its
    arguments) and the matching ``neural_tangents.stax`` layer (name and keyword arguments)."""

    label: str
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    nt_name: str = ""
    nt_kwargs: dict = field(default_factory=dict)
    #: Unit-variance inputs and ``UNIT_SETTINGS`` (Hermite polynomials).
    unit: bool = False
    #: Keyword arguments of neural-tangents' ``kernel_fn`` (see ``RECTIFIED``).
    nt_options: dict = field(default_factory=dict)
    #: Leave the entries of zero input rows out: neural-tangents' kernel is not 0 there.
    nt_zero_rows_inexact: bool = False
    #: Leave out the diagonal entries of zero input rows without biases (see ``STEP_ZERO_ROW``).
    nt_zero_row_diagonal_inconsistent: bool = False

    def __hash__(self):
        return hash(self.label)


def _case(label, name, args=(), kwargs=None, nt=None, nt_kwargs=None, **flags):
    return ActivationCase(label, name, args, kwargs or {}, nt or name, nt_kwargs or {}, **flags)


#: neural-tangents' RectifiedMonomial takes its diagonal (cov1) from its pair formula
#: ``(pi - theta) / sin(theta)`` at theta = 0, a NaN, unless the kernel is diagonal in space;
#: every entry after the first layer is then NaN. Without spatial dimensions the kernel is the
#: same either way, and ``diagonal_spatial=True`` makes it use its closed-form diagonal.
RECTIFIED = {"diagonal_spatial": True}

#: Step and RectifiedMonomial(0) at a zero input row without biases (a pre-activation of variance
#: 0): fastntk counts a zero variance as correlation 0, on the diagonal as off it, so all of that
#: row's first-layer entries are 1/4 and its Gram matrix stays consistent; neural-
#: tangents' own row is not: its diagonal (cov1) is 0.5, step(0)^2 taken as 1/2, and its entries
#: off the diagonal are NaN (left out already). Its diagonal there is a convention of its own, not
#: a value fastntk disagrees with, so those diagonal entries (K(x, x) and kernel.diag) are left out.
STEP_ZERO_ROW = {"nt_options": RECTIFIED, "nt_zero_row_diagonal_inconsistent": True}


SIN = {"a": 1.2, "b": 0.8, "c": 0.3}
ACTIVATIONS = (
    _case("ReLU", "ReLU", nt="Relu"),
    _case("LeakyReLU(0.2)", "LeakyReLU", (0.2,), nt="LeakyRelu", nt_kwargs={"alpha": 0.2}),
    _case("ABReLU(-0.4, 1.5)", "ABReLU", (-0.4, 1.5), nt="ABRelu", nt_kwargs={"a": -0.4, "b": 1.5}),
    _case("Abs", "Abs"),
    _case("Identity", "Identity"),
    _case("Erf()", "Erf"),
    _case("Erf(0.7, 1.3, 0.2)", "Erf", (0.7, 1.3, 0.2), nt_kwargs={"a": 0.7, "b": 1.3, "c": 0.2}),
    _case("SigmoidLike", "SigmoidLike", nt="Sigmoid_like"),
    _case("Gelu()", "Gelu"),
    _case(
        "Gelu(approximate=True)",
        "Gelu",
        kwargs={"approximate": True},
        nt_kwargs={"approximate": True},
    ),
    _case("Sin(1.2, 0.8, 0.3)", "Sin", (1.2, 0.8, 0.3), nt_kwargs=SIN),
    _case("Cos(1.2, 0.8, 0.3)", "Cos", (1.2, 0.8, 0.3), nt_kwargs=SIN),
    _case("Rbf(0.7)", "Rbf", (0.7,), nt_kwargs={"gamma": 0.7}),
    _case("Exp(0.5, 0.4)", "Exp", (0.5, 0.4), nt_kwargs={"a": 0.5, "b": 0.4}),
    _case("Gaussian(1.0, -0.8)", "Gaussian", (1.0, -0.8), nt_kwargs={"a": 1.0, "b": -0.8}),
    _case("Gabor", "Gabor"),
    _case("Sign", "Sign"),
    *(
        _case(f"Hermite({k})", "Hermite", (k,), nt_kwargs={"degree": k}, unit=True)
        for k in range(5)
    ),
    *(_case(f"Monomial({k})", "Monomial", (k,), nt_kwargs={"degree": k}) for k in range(6)),
    *(
        _case(
            f"RectifiedMonomial({k})",
            "RectifiedMonomial",
            (k,),
            nt_kwargs={"degree": k},
            **(STEP_ZERO_ROW if k == 0 else {"nt_options": RECTIFIED}),
        )
        for k in range(4)
    ),
    _case("Step", "Step", nt="RectifiedMonomial", nt_kwargs={"degree": 0}, **STEP_ZERO_ROW),
    _case(
        "Polynomial(.3,-.5,.2,.1)",
        "Polynomial",
        ((0.3, -0.5, 0.2, 0.1),),
        nt_kwargs={"coef": [0.3, -0.5, 0.2, 0.1]},
    ),
    # neural-tangents' ExpNormalized divides by sqrt(max(K(x,x) K(z,z), 1e-30)): a zero row
    # without biases gets the variance 1e-15 e^-1 rather than 0 and, one layer on, entries
    # sqrt(1e-15 K(z,z)) ~ 3e-8 with every other row, where the exact kernel is 0.
    _case(
        "ExpNormalized(1, -1)",
        "ExpNormalized",
        kwargs={"gamma": 1.0, "shift": -1.0},
        nt_kwargs={"gamma": 1.0, "shift": -1.0},
        nt_zero_rows_inexact=True,
    ),
)


@dataclass(frozen=True)
class Network:
    """One network of the exactness run, at every depth of ``EXACT_DEPTHS``."""

    id: str
    activation: ActivationCase
    w_std: float
    b_std: float
    parameterization_label: str
    parameterization: str
    width: int

    @property
    def inputs(self):
        return "unit" if self.activation.unit else "general"

    def description(self, serial):
        """The network as ``nt_reference.py`` reads it."""
        return {
            "id": self.id,
            "inputs": self.inputs,
            "activation": {"name": self.activation.nt_name, "kwargs": self.activation.nt_kwargs},
            "W_std": self.w_std,
            "b_std": self.b_std if self.b_std > 0 else None,
            "parameterization": self.parameterization,
            "width": self.width,
            "depths": list(EXACT_DEPTHS),
            "kernel_fn_kwargs": self.activation.nt_options,
            "serial": serial,
        }


def exactness_inputs():
    """``{set: (X, Z)}``: general rows (with a duplicate, a negated and a zero row of X, and a
    row of Z parallel to one of X), and the same rescaled to ``|x|^2 = d`` without the zero row."""
    rng = np.random.default_rng(20240601)
    d = 5

    def draw(rows):
        # Multiples of 2^-10: every inner product of these rows is exact in float64 (see the
        # module docstring: neural-tangents' (anti)parallel entries are exact only then).
        return np.round(rng.standard_normal((rows, d)) * 1024.0) / 1024.0

    base = draw(12)
    X = np.concatenate([base, base[3:4], -base[5:6], np.zeros((1, d))])
    Z = np.concatenate([draw(6), 2.0 * base[2:3]])

    def unit(rows):
        return rows * (math.sqrt(d) / np.linalg.norm(rows, axis=1, keepdims=True))

    return {"general": (X, Z), "unit": (unit(X[:-1]), unit(Z))}


def exactness_networks(only=None):
    networks = []
    for activation in ACTIVATIONS:
        if only and not any(activation.label.startswith(prefix) for prefix in only):
            continue
        settings = UNIT_SETTINGS if activation.unit else EXACT_SETTINGS
        for label, parameterization, width in PARAMETERIZATIONS:
            for w_std, b_std in settings:
                networks.append(
                    Network(
                        f"n{len(networks)}",
                        activation,
                        w_std,
                        b_std,
                        label,
                        parameterization,
                        width,
                    )
                )
    return networks


class NeuralTangents:
    """``nt_reference.py`` under neural-tangents' Python, in ``jobs`` processes that run while
    fastntk computes its side; ``results()`` waits for them."""

    def __init__(self, python, networks, inputs, jobs, serial, keep=None):
        if keep:
            os.makedirs(keep, exist_ok=True)
            self.folder, self.root = None, keep
        else:
            self.folder = tempfile.TemporaryDirectory(prefix="fastntk-nt-")
            self.root = self.folder.name
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_reference.py")
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        for name in ("PYTHONPATH", "PYTHONHOME"):  # that environment is self-contained
            environment.pop(name, None)
        arrays = {
            f"{name}/{axis}": rows
            for name, pair in inputs.items()
            for axis, rows in zip("XZ", pair, strict=True)
        }
        self.jobs = []
        try:
            self._start(python, networks, arrays, jobs, serial, environment, script)
        except BaseException:
            self.stop()
            raise

    def _start(self, python, networks, arrays, jobs, serial, environment, script):
        for job in range(min(jobs, len(networks))):
            folder = os.path.join(self.root, f"job{job}")
            os.makedirs(folder, exist_ok=True)
            np.savez(os.path.join(folder, "inputs.npz"), **arrays)
            share = [network.description(serial) for network in networks[job::jobs]]
            with open(os.path.join(folder, "cases.json"), "w") as file:
                json.dump({"networks": share}, file)
            log = open(os.path.join(folder, "log.txt"), "w")
            try:
                process = subprocess.Popen(
                    [python, script, folder], stdout=log, stderr=subprocess.STDOUT, env=environment
                )
            except BaseException:
                log.close()
                raise
            self.jobs.append((folder, process, log))

    def results(self):
        """``({key: array}, [summary per job])``; raises ``RuntimeError`` if a job failed."""
        arrays, summaries = {}, []
        for folder, process, log in self.jobs:
            status = process.wait()
            log.close()
            if status != 0:
                with open(os.path.join(folder, "log.txt")) as file:
                    tail = file.read()[-4000:]
                raise RuntimeError(f"nt_reference.py exited with status {status}:\n{tail}")
            with np.load(os.path.join(folder, "results.npz")) as stored:
                arrays.update({key: stored[key] for key in stored.files})
            with open(os.path.join(folder, "results.json")) as file:
                summaries.append(json.load(file))
        self.cleanup()
        return arrays, summaries

    def cleanup(self):
        if self.folder is not None:
            self.folder.cleanup()

    def stop(self):
        for _, process, log in self.jobs:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
        self.cleanup()


def fastntk_activation(case):
    """``(activation, None)``, or ``(None, why)`` when fastntk does not have it."""
    constructor = getattr(fk.activations, case.name, None)
    if not isinstance(constructor, type):
        return None, f"no fastntk.activations.{case.name}"
    try:
        return constructor(*case.args, **case.kwargs), None
    except (TypeError, ValueError) as error:
        return None, f"{case.name}{case.args or ''}: {error}"


def fastntk_kernel(family, network, depth, activation):
    """``(kernel, None)``, or ``(None, why)``: ``why`` starts with "n/a" where fastntk declines
    the kernel (an NTK whose derivative is not a function) and with "not in fastntk" where it
    lacks the option."""
    options = {}
    if network.parameterization != "ntk":
        options = {"parameterization": network.parameterization, "width": network.width}
    try:
        return family(depth, activation, network.w_std, network.b_std, **options), None
    except TypeError as error:
        return None, f"not in fastntk: {error}"
    except ValueError as error:
        if family is fk.NTK:
            return None, f"n/a: {error}"
        return None, f"ValueError: {error}"


def diagonal_units(reference, own):
    """The per-row scale of the normalised errors: neural-tangents' diagonal ``reference``, or
    fastntk's ``own`` where neural-tangents' is not finite; a diagonal below ``TINY_DIAGONAL``
    of the largest (a zero row without biases) is replaced by the largest."""
    units = np.where(np.isfinite(reference), reference, own)
    finite = units[np.isfinite(units)]
    largest = float(np.max(finite)) if finite.size else 0.0
    if not largest > 0:
        return np.ones_like(units)
    return np.where(units > TINY_DIAGONAL * largest, units, largest)


def errors(K, reference, ux, uz, compare):
    """``(normalised, plain, compared, left out)`` of ``K`` against ``reference`` on the entries
    ``compare``, with the row scales ``ux`` and ``uz``: ``max |K - ref| / sqrt(ux uz)``, and
    ``max |K - ref| / |ref|`` over the entries above ``PLAIN_FLOOR`` of that scale; entries where
    ``reference`` is not finite are left out (and counted; ``None`` errors when nothing is left),
    a non-finite ``K`` is a NaN error."""
    scale = np.multiply.outer(np.sqrt(ux), np.sqrt(uz)) if K.ndim == 2 else ux
    finite = np.isfinite(reference) & np.isfinite(scale)
    usable = finite & compare
    left_out = int(np.count_nonzero(compare & ~finite))
    if not usable.any():
        return None, None, 0, left_out
    if not np.all(np.isfinite(K[usable])):
        return math.nan, math.nan, int(np.count_nonzero(usable)), left_out
    difference = np.abs(K - reference)
    normalised = float(np.max(difference[usable] / scale[usable]))
    large = usable & (np.abs(reference) > PLAIN_FLOOR * scale)
    plain = float(np.max(difference[large] / np.abs(reference[large]))) if large.any() else 0.0
    return normalised, plain, int(np.count_nonzero(usable)), left_out


class Worst:
    """The largest value seen and where (a NaN is the largest of all)."""

    def __init__(self):
        self.value, self.where = None, ""

    def add(self, value, where):
        if value is None:
            return
        if (
            self.value is None
            or math.isnan(value)
            or (not math.isnan(self.value) and value > self.value)
        ):
            self.value, self.where = value, where

    def exceeds(self, bound):
        return self.value is not None and not self.value <= bound

    def text(self):
        return "-" if self.value is None else f"{self.value:.1e}"


@dataclass
class Row:
    """The worst errors of one (activation, parameterization)."""

    nngp: Worst = field(default_factory=Worst)
    ntk: Worst = field(default_factory=Worst)
    plain: Worst = field(default_factory=Worst)
    float32: Worst = field(default_factory=Worst)
    #: The largest change of the float64 kernel when the inputs are rounded to float32.
    float32_inputs: Worst = field(default_factory=Worst)
    diagonal: Worst = field(default_factory=Worst)
    missing: str = ""
    ntk_declined: bool = False
    compared: int = 0
    nt_left_out: int = 0
    #: Entries of zero rows left out (``ActivationCase.nt_zero_rows_inexact``).
    zero_row_entries: int = 0
    #: Diagonal entries of zero rows left out (``nt_zero_row_diagonal_inconsistent``).
    zero_row_diagonals: int = 0
    #: Cases where both sides overflow float64, and where fastntk declines float32 (overflow).
    both_overflow: int = 0
    float32_overflow: list = field(default_factory=list)
    #: float32 errors beyond FLOAT32_AGREEMENT that the conditioning accounts for, and not.
    float32_conditioned: int = 0
    float32_failures: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    def mismatch(self):
        return bool(
            self.failures
            or self.float32_failures
            or self.nngp.exceeds(EXACT)
            or self.ntk.exceeds(EXACT)
            or self.diagonal.exceeds(EXACT)
        )

    def notes(self, verbose):
        notes = ["NTK n/a"] if self.ntk_declined else []
        if self.diagonal.exceeds(EXACT):
            notes.append(f"diag worst at {self.diagonal.where}")
        if self.nt_left_out:
            notes.append(f"{self.nt_left_out} NT non-finite entries left out")
        if self.zero_row_entries:
            notes.append("zero-row entries left out (NT floors their variance at 1e-15)")
        if self.zero_row_diagonals:
            notes.append(
                f"{self.zero_row_diagonals} zero-row diagonal entries left out (no bias: fastntk"
                " 1/4 by its convention; NT 0.5 on its diagonal cov1, NaN off it and in its K)"
            )
        if self.both_overflow:
            notes.append(f"{self.both_overflow} cases overflow float64 on both sides")
        if self.float32_overflow:
            notes.append(
                f"float32 declined (overflow) in {len(self.float32_overflow)} cases, float64"
                f" entries there up to {max(self.float32_overflow):.1e}"
            )
        if self.float32_conditioned:
            notes.append(
                f"f32 beyond {FLOAT32_AGREEMENT:g} in {self.float32_conditioned} cases, within"
                " depth x f32in"
            )
        for label, found in (("f32 disagrees", self.float32_failures), ("failed", self.failures)):
            if found:
                shown = found if verbose else found[:1]
                more = "" if verbose or len(found) == 1 else f" (and {len(found) - 1} more)"
                notes.append(f"{label}: " + "; ".join(shown) + more)
        return notes


def overflowed(error):
    return isinstance(error, ValueError) and "overflow" in str(error)


def check_network(network, activation, X, Z, reference, row, verbose):
    """Compare fastntk's kernels of one network at every depth with neural-tangents'."""
    n = X.shape[0]
    X32, Z32 = (rows.astype(np.float32).astype(np.float64) for rows in (X, Z))
    zero_rows = ~np.any(np.concatenate([X, Z]), axis=1)
    for depth in EXACT_DEPTHS:
        for family, kind in ((fk.NNGP, "nngp"), (fk.NTK, "ntk")):
            kernel, why = fastntk_kernel(family, network, depth, activation)
            where = f"{kind} L={depth} W={network.w_std:g} b={network.b_std:g}"
            if kernel is None:
                if why.startswith("not in fastntk"):
                    row.missing = row.missing or why
                elif why.startswith("n/a"):
                    row.ntk_declined = True
                else:
                    row.failures.append(f"{where}: {why}")
                continue
            full = reference[f"{network.id}/{depth}/{kind}"]
            if kind == "nngp":
                nt_diagonal = reference[f"{network.id}/{depth}/cov1"].reshape(-1)
            else:
                nt_diagonal = np.diagonal(full).copy()
            if network.activation.nt_zero_rows_inexact and network.b_std == 0:
                keep = ~zero_rows
            else:
                keep = np.ones_like(zero_rows)
            # Diagonal entries of zero rows left out as well (STEP_ZERO_ROW), in K(X, X) and diag.
            diagonal_out = np.zeros(n, dtype=bool)
            if network.activation.nt_zero_row_diagonal_inconsistent and network.b_std == 0:
                diagonal_out = zero_rows[:n] & keep[:n]
            nt_finite = bool(np.all(np.isfinite(nt_diagonal)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    square, rectangle = fk.gram(kernel, X), fk.gram(kernel, X, Z)
                    own_x, own_z = kernel.diag(X), kernel.diag(Z)
                except Exception as error:  # a failure of fastntk is a finding, not a crash
                    if overflowed(error) and not nt_finite:
                        row.both_overflow += 1
                    else:
                        row.failures.append(f"{where}: {type(error).__name__}: {error}")
                    continue
                try:
                    singles = (
                        fk.gram(kernel, X, dtype=np.float32),
                        fk.gram(kernel, X, Z, dtype=np.float32),
                    )
                    rounded = fk.gram(kernel, X32), fk.gram(kernel, X32, Z32)
                except Exception as error:
                    if overflowed(error):
                        largest = max(np.max(np.abs(square)), np.max(np.abs(rectangle)))
                        row.float32_overflow.append(float(largest))
                        singles = None
                    else:
                        row.failures.append(f"{where} float32: {type(error).__name__}: {error}")
                        continue
            ux = diagonal_units(nt_diagonal[:n], own_x)
            uz = diagonal_units(nt_diagonal[n:], own_z)
            blocks = (
                ("square", square, full[:n, :n], ux, np.logical_and.outer(keep[:n], keep[:n])),
                ("rect", rectangle, full[:n, n:], uz, np.logical_and.outer(keep[:n], keep[n:])),
            )
            for index, (shape, K, expected, units, compare) in enumerate(blocks):
                row.zero_row_entries += int(np.count_nonzero(~compare))
                if shape == "square" and diagonal_out.any():
                    compare = compare & ~np.diag(diagonal_out)
                    row.zero_row_diagonals += int(np.count_nonzero(diagonal_out))
                error, plain, compared, left_out = errors(K, expected, ux, units, compare)
                (row.nngp if kind == "nngp" else row.ntk).add(error, f"{where} {shape}")
                row.plain.add(plain, f"{where} {shape}")
                row.compared += compared
                row.nt_left_out += left_out
                error32 = inputs32 = None
                if singles is not None:
                    error32 = errors(singles[index].astype(np.float64), K, ux, units, compare)[0]
                    inputs32 = errors(rounded[index], K, ux, units, compare)[0]
                    row.float32.add(error32, f"{where} {shape}")
                    row.float32_inputs.add(inputs32, f"{where} {shape}")
                    if not error32 <= FLOAT32_AGREEMENT:
                        if error32 <= FLOAT32_AGREEMENT + depth * inputs32:
                            row.float32_conditioned += 1
                        else:
                            row.float32_failures.append(
                                f"{where} {shape} {error32:.1e} (inputs {inputs32:.1e})"
                            )
                if verbose:
                    print(
                        f"  {network.activation.label:<24} {network.parameterization_label:<10} "
                        f"{where:<26} {shape:<6}"
                        + "".join(
                            f" {'-' if value is None else format(value, '9.1e'):>9}"
                            for value in (error, plain, error32, inputs32)
                        )
                    )
            own = np.asarray(own_x, dtype=np.float64)
            diagonal_keep = keep[:n] & ~diagonal_out
            row.zero_row_diagonals += int(np.count_nonzero(diagonal_out))
            diagonal_error, _, _, left_out = errors(own, nt_diagonal[:n], ux, None, diagonal_keep)
            row.diagonal.add(diagonal_error, where)
            row.nt_left_out += left_out


def print_exactness_table(rows, verbose):
    header = (
        f"{'activation':<24} {'param':<10} {'nngp':>8} {'ntk':>8} {'plain':>8} {'f32':>8}"
        f" {'f32in':>8} {'diag':>8}  {'worst normalised at':<30} status"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for (activation, parameterization), row in rows.items():
        start = f"{activation.label:<24} {parameterization:<10}"
        if row.missing:
            print(f"{start} not in fastntk ({row.missing.removeprefix('not in fastntk: ')})")
            continue
        worst = (
            row.nngp
            if row.ntk.value is None
            or (row.nngp.value is not None and row.nngp.value >= row.ntk.value)
            else row.ntk
        )
        status = "MISMATCH" if row.mismatch() else "ok" if row.compared else "NOT COMPARED"
        print(
            f"{start} {row.nngp.text():>8} {row.ntk.text():>8} {row.plain.text():>8}"
            f" {row.float32.text():>8} {row.float32_inputs.text():>8} {row.diagonal.text():>8}"
            f"  {worst.where:<30} {status}" + "".join(f"; {note}" for note in row.notes(verbose))
        )


def exactness(arguments):
    if not arguments.nt_python:
        print(
            "--exactness needs neural-tangents' Python: --nt-python PATH or FASTNTK_NT_PYTHON"
            " (see this script's docstring for how to install it)"
        )
        return 2
    start = time.perf_counter()
    inputs = exactness_inputs()
    networks = exactness_networks(arguments.only)
    if not networks:
        print(f"no activation label starts with any of {arguments.only}")
        return 2
    print(
        f"fastntk {fk.__version__}, numpy {np.__version__}; {len(networks)} networks x depths "
        f"{EXACT_DEPTHS[0]}-{EXACT_DEPTHS[-1]}, NNGP and NTK, K(X, X) {inputs['general'][0].shape}"
        f" and K(X, Z) {inputs['general'][1].shape}"
    )
    try:
        peer = NeuralTangents(
            arguments.nt_python,
            networks,
            inputs,
            arguments.nt_jobs,
            arguments.nt_serial,
            arguments.nt_keep,
        )
    except OSError as error:
        print(f"cannot run neural-tangents' Python {arguments.nt_python!r}: {error}")
        return 2
    try:
        cases = {network.activation: network.inputs for network in networks}
        activations = {case: fastntk_activation(case) for case in cases}
        # Compile fastntk's code for each activation while neural-tangents works.
        for case, (activation, _) in activations.items():
            if activation is not None:
                X = inputs[cases[case]][0]
                for dtype in (np.float64, np.float32):
                    try:
                        fk.gram(fk.NNGP(1, activation), X[:2], dtype=dtype)
                    except Exception:  # reported with its case below
                        pass
        reference, summaries = peer.results()
    except RuntimeError as error:
        peer.stop()
        print(error)
        return 2
    except BaseException:
        peer.stop()
        raise
    nt_seconds = max(summary["seconds"] for summary in summaries)
    summary = summaries[0]
    print(
        f"neural-tangents {summary['neural_tangents']}, jax {summary['jax']}, numpy "
        f"{summary['numpy']}, python {summary['python']} on {summary['platform']}, "
        f"x64={summary['x64']}; {len(summaries)} processes, {nt_seconds:.0f} s"
    )
    rows = {}
    for network in networks:
        row = rows.setdefault((network.activation, network.parameterization_label), Row())
        activation, why = activations[network.activation]
        if activation is None:
            row.missing = f"not in fastntk: {why}"
            continue
        X, Z = inputs[network.inputs]
        check_network(network, activation, X, Z, reference, row, arguments.verbose)
    print_exactness_table(rows, arguments.verbose)
    mismatches = [key for key, row in rows.items() if row.mismatch()]
    missing = [key for key, row in rows.items() if row.missing]
    print(
        f"\nnngp, ntk: max |K - K_nt| / sqrt(K_nt(x,x) K_nt(z,z)) over all entries (must be <= "
        f"{EXACT:g}); plain: max |K - K_nt| / |K_nt| where |K_nt| > {PLAIN_FLOOR:g} of that "
        f"scale; f32: fastntk float32 against float64, normalised (<= {FLOAT32_AGREEMENT:g}, "
        f"or <= that + depth x f32in); f32in: the change of fastntk's float64 kernel when X and Z"
        f" are rounded to float32; diag: kernel.diag(X) against neural-tangents' diagonal, "
        f"relative (<= {EXACT:g}). "
        f"{time.perf_counter() - start:.0f} s in all."
    )
    if missing:
        print(f"{len(missing)} (activation, parameterization) rows not in fastntk")
    if mismatches:
        print(
            f"{len(mismatches)} rows MISMATCH: "
            + ", ".join(f"{activation.label} {label}" for activation, label in mismatches)
        )
        return 1
    print("no mismatch")
    return 0


# --------------------------------------------------------------------------------------------
# Speed per activation
# --------------------------------------------------------------------------------------------

SPEED_N = 2000
#: Rows of neural-tangents' kernel brought back for the agreement column.
SPEED_ROWS = 64


def speed_kernels(only):
    """``[(case, kernel or None, get, why)]``: the NTK of depth ``DEPTH`` where fastntk defines
    it, else the NNGP."""
    kernels = []
    for case in ACTIVATIONS:
        if only and not any(case.label.startswith(prefix) for prefix in only):
            continue
        activation, why = fastntk_activation(case)
        if activation is None:
            kernels.append((case, None, "", why))
            continue
        try:
            kernels.append((case, fk.NTK(DEPTH, activation), "ntk", None))
        except ValueError:
            kernels.append((case, fk.NNGP(DEPTH, activation), "nngp", None))
    return kernels


def nt_speed(python, kernels, X, repeats):
    """Run ``nt_reference.py --speed`` on ``X`` and wait for it: ``(summary, {label: rows})``."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_reference.py")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("PYTHONPATH", "PYTHONHOME"):
        environment.pop(name, None)
    networks = [
        {
            "label": case.label,
            "activation": {"name": case.nt_name, "kwargs": case.nt_kwargs},
            "get": get,
            "kernel_fn_kwargs": case.nt_options,
        }
        for case, kernel, get, _ in kernels
        if kernel is not None
    ]
    with tempfile.TemporaryDirectory(prefix="fastntk-nt-speed-") as folder:
        np.savez(os.path.join(folder, "inputs.npz"), X=X)
        with open(os.path.join(folder, "speed.json"), "w") as file:
            json.dump(
                {"depth": DEPTH, "repeats": repeats, "rows": SPEED_ROWS, "networks": networks},
                file,
            )
        done = subprocess.run(
            [python, script, "--speed", folder],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"nt_reference.py --speed exited with status {done.returncode}:\n"
                + done.stdout[-4000:]
            )
        with open(os.path.join(folder, "speed_results.json")) as file:
            summary = json.load(file)
        with np.load(os.path.join(folder, "speed_rows.npz")) as stored:
            rows = {key: stored[key] for key in stored.files}
    return summary, rows


def speed_agreement(K, reference, diagonal):
    """The normalised error of ``K[:k]`` against neural-tangents' first ``k`` rows, over the
    entries where those are finite (``None`` when none is)."""
    k = reference.shape[0]
    scale = np.sqrt(np.multiply.outer(diagonal[:k], diagonal))
    usable = np.isfinite(reference) & np.isfinite(scale) & (scale > 0)
    if not usable.any():
        return None
    return float(np.max(np.abs(K[:k] - reference)[usable] / scale[usable]))


def speed(arguments):
    if not arguments.nt_python:
        print(
            "--speed needs neural-tangents' Python: --nt-python PATH or FASTNTK_NT_PYTHON"
            " (see this script's docstring for how to install it)"
        )
        return 2
    kernels = speed_kernels(arguments.only)
    if not kernels:
        print(f"no activation label starts with any of {arguments.only}")
        return 2
    print(
        f"fastntk {fk.__version__}, numpy {np.__version__}; depth {DEPTH}, W_std=1, no biases,"
        f" NTK parameterization, d={arguments.d}, float64, K(X, X); best of {arguments.repeats}"
    )
    failures = 0
    for n in arguments.n:
        X = np.random.default_rng(0).standard_normal((n, arguments.d))
        start = time.perf_counter()
        try:
            summary, nt_rows = nt_speed(arguments.nt_python, kernels, X, arguments.repeats)
        except (OSError, RuntimeError) as error:
            print(f"neural-tangents failed: {error}")
            return 2
        print(
            f"\nn={n}: neural-tangents {summary['neural_tangents']}, jax {summary['jax']} on "
            f"{summary['platform']}, x64={summary['x64']}, {time.perf_counter() - start:.0f} s"
        )
        # fastntk only once neural-tangents has finished: the two never share the cores.
        own = {}
        for case, kernel, _get, _why in kernels:
            if kernel is None:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    seconds, K = best_time(partial(fk.gram, kernel), X, arguments.repeats)
                    diagonal = np.asarray(kernel.diag(X), dtype=np.float64)
                own[case.label] = (seconds, K[:SPEED_ROWS].copy(), diagonal)
                del K
            except Exception as error:
                own[case.label] = f"{type(error).__name__}: {error}"
        relu = own.get("ReLU")
        relu_seconds = relu[0] if isinstance(relu, tuple) else None
        header = (
            f"{'activation':<24} {'kernel':<5} {'fastntk s':>10} {'NT s':>10} {'NT/fastntk':>11}"
            f" {'NT compile s':>13} {'/ReLU':>7} {'agree':>9}"
        )
        print(f"{header}\n{'-' * len(header)}")
        ratios = []
        for case, kernel, get, why in kernels:
            start = f"{case.label:<24} {get:<5}"
            if kernel is None:
                print(f"{start} not in fastntk ({why})")
                continue
            mine, theirs = own[case.label], summary["timings"].get(case.label, {})
            if not isinstance(mine, tuple):
                failures += 1
                print(f"{start} fastntk failed: {mine}")
                continue
            seconds, rows, diagonal = mine
            relative = f"{seconds / relu_seconds:>7.2f}" if relu_seconds else f"{'-':>7}"
            if "error" in theirs:
                failures += 1
                print(f"{start} {seconds:>10.4f} NT failed: {theirs['error']}")
                continue
            nt_seconds = theirs["best_s"]
            ratios.append((nt_seconds / seconds, case.label))
            agreement = speed_agreement(rows, nt_rows[case.label], diagonal)
            print(
                f"{start} {seconds:>10.4f} {nt_seconds:>10.4f} {nt_seconds / seconds:>11.1f}"
                f" {theirs['compile_s']:>13.2f} {relative} "
                f"{'-' if agreement is None else format(agreement, '.1e'):>9}"
            )
        if ratios:
            worst, label = min(ratios)
            print(f"smallest NT/fastntk at n={n}: {worst:.1f} ({label})")
    print(
        "\nNT/fastntk: neural-tangents' best time over fastntk's (above 1: fastntk is faster);"
        " NT compile s: its first jitted call (compile and run); /ReLU: fastntk's time over its"
        f" ReLU NTK's; agree: normalised error of the first {SPEED_ROWS} rows (information)."
        " Times are noisy (see the docstring)."
    )
    return 1 if failures else 0


def main():
    arguments = parse_arguments()
    if arguments.speed:
        return speed(arguments)
    if arguments.exactness:
        return exactness(arguments)
    return timing(arguments)


if __name__ == "__main__":
    sys.exit(main())
