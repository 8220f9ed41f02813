"""``gram(NTK(depth=3, activation=A), X)`` for every activation, as a ratio to ReLU's time in
the same run. Goal: each within 3x of ReLU.

X is standard normal, n = 4000 (``FASTNTK_BENCH_N`` sets a smaller n for a quick run), d = 16,
in float64 and float32. ``Sign`` and ``Step`` have no NTK (their derivative is not a function):
their NNGP is timed against ReLU's NNGP instead. One group per (kernel, n, dtype) with ReLU as
``reference: relu``; bench/conftest.py prints each subject's ratio at the end of the session and
stores it in the saved JSON (``extra_info["ratio_to_relu"]``: min over min, of tests that ran
at different times). Each test also times ReLU's Gram matrix right before each of its rounds
(in pytest-benchmark's untimed ``setup``) and stores the paired ratios, which other work on a
shared machine disturbs far less: ``paired_ratio_to_relu`` (min over min of the paired rounds)
and ``paired_ratio_to_relu_median`` (the median of the per-round ratios); the module prints a
table of them when it ends. ReLU's own paired ratio shows the noise.

Activations that ``fastntk.activations`` does not have (or whose constructor does not take
these arguments) are skipped, not failed. Before timing, each Gram matrix is checked on a small
input: finite, and float32 within 1e-3 of float64 (relative to the largest entry); a ratio for
a wrong matrix means nothing. ``Elementwise`` (when present) is timed with a dual written by
the user as Numba functions, for ``phi(u) = 0.5 exp(0.4 u)``: the built-in ``Exp(0.5, 0.4)``,
whose matrix it is checked against.

Run: ``pytest bench/test_bench_activations.py`` (``--benchmark-json=FILE`` to keep the
ratios); ``FASTNTK_BENCH_N=1000`` for a quick one.
"""

import contextlib
import math
import os
import time

import numba
import numpy as np
import pytest

import fastntk as fk
import fastntk.activations as activations

N = int(os.environ.get("FASTNTK_BENCH_N", "4000"))
D = 16
DEPTH = 3
DTYPES = (np.float64, np.float32)
#: Timed rounds after one warm-up round. ReLU takes about 0.1 s a call at n = 4000 in float64
#: on two idle cores; on a shared machine other work can slow a whole test several times over,
#: so each round of an activation comes right after a round of ReLU's (see ``timed``).
ROUNDS = 7
#: The goal: every activation within this factor of ReLU's time.
GOAL = 3.0
#: Agreement of float32 with float64 on the check input, relative to max |K|.
FLOAT32_AGREEMENT = 1e-3
CHECK_ROWS = 300

#: (label, class name in fastntk.activations, positional arguments, keyword arguments).
NTK_ACTIVATIONS = [
    ("ReLU", "ReLU", (), {}),
    ("LeakyReLU(0.2)", "LeakyReLU", (0.2,), {}),
    ("ABReLU(-0.4,1.5)", "ABReLU", (-0.4, 1.5), {}),
    ("Abs", "Abs", (), {}),
    ("Identity", "Identity", (), {}),
    ("Erf()", "Erf", (), {}),
    ("Erf(0.7,1.3,0.2)", "Erf", (0.7, 1.3, 0.2), {}),
    ("SigmoidLike()", "SigmoidLike", (), {}),
    ("Gelu()", "Gelu", (), {}),
    ("Gelu(approximate)", "Gelu", (), {"approximate": True}),
    ("Sin(1.2,0.8,0.3)", "Sin", (1.2, 0.8, 0.3), {}),
    ("Cos()", "Cos", (), {}),
    ("Rbf(0.7)", "Rbf", (0.7,), {}),
    ("Exp(0.5,0.4)", "Exp", (0.5, 0.4), {}),
    ("Gaussian(1,-0.8)", "Gaussian", (1, -0.8), {}),
    ("Gabor()", "Gabor", (), {}),
    ("Hermite(3)", "Hermite", (3,), {}),
    ("Monomial(3)", "Monomial", (3,), {}),
    ("RectifiedMonomial(2)", "RectifiedMonomial", (2,), {}),
    ("RectifiedMonomial(3)", "RectifiedMonomial", (3,), {}),
    ("Polynomial([0.3,-0.5,0.2,0.1])", "Polynomial", ([0.3, -0.5, 0.2, 0.1],), {}),
    ("ExpNormalized()", "ExpNormalized", (), {}),
]
NNGP_ACTIVATIONS = [
    ("ReLU", "ReLU", (), {}),
    ("Sign()", "Sign", (), {}),
    ("Step()", "Step", (), {}),
]
REFERENCE = "ReLU"
#: (kernel, dtype name, label) -> (paired ratios, subject's min time), for the table.
RESULTS = {}

#: The user's activation for ``Elementwise``: phi(u) = A exp(B u), the same function as the
#: built-in ``Exp(A, B)``, whose Gram matrix it must reproduce.
A, B = 0.5, 0.4


@numba.njit
def exp_nngp_dual(cov12, var1, var2):
    """``E[phi(u) phi(v)] = A^2 exp(B^2 (var1 + var2 + 2 cov12) / 2)``."""
    return A * A * math.exp(0.5 * B * B * (var1 + var2 + 2.0 * cov12))


@numba.njit
def exp_ntk_dual(cov12, var1, var2):
    """``E[phi'(u) phi'(v)] = B^2 E[phi(u) phi(v)]``, as phi' = B phi."""
    return B * B * A * A * math.exp(0.5 * B * B * (var1 + var2 + 2.0 * cov12))


def exp_phi(u):
    return A * np.exp(B * u)


def construct(label, class_name, args, kwargs):
    """The activation, or a skip saying why it is not there yet."""
    cls = getattr(activations, class_name, None)
    if cls is None:
        pytest.skip(f"fastntk.activations has no {class_name}")
    try:
        activation = cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        pytest.skip(f"{label}: {class_name} does not take these arguments: {error}")
    if not isinstance(activation, activations.Activation):
        pytest.skip(f"fastntk.activations.{class_name} is not an Activation")
    return activation


def elementwise():
    cls = getattr(activations, "Elementwise", None)
    if cls is None:
        pytest.skip("fastntk.activations has no Elementwise")
    try:
        return cls(fn=exp_phi, nngp_dual=exp_nngp_dual, ntk_dual=exp_ntk_dual)
    except TypeError as error:
        pytest.skip(f"Elementwise(fn=, nngp_dual=, ntk_dual=) is not accepted: {error}")


def data(n, dtype):
    return np.random.default_rng(0).standard_normal((n, D)).astype(dtype)


def checked(kernel, label):
    """Compile ``kernel`` in both dtypes on a small input and check the two matrices."""
    X = data(CHECK_ROWS, np.float64)
    K64 = fk.gram(kernel, X, dtype=np.float64)
    K32 = fk.gram(kernel, X, dtype=np.float32)
    assert np.isfinite(K64).all() and np.isfinite(K32).all(), f"{label}: non-finite entries"
    scale = np.max(np.abs(K64))
    difference = np.max(np.abs(K32 - K64)) / scale if scale > 0 else np.max(np.abs(K32))
    assert difference < FLOAT32_AGREEMENT, f"{label}: float32 differs from float64 by {difference}"
    return kernel


def group_name(kind, dtype):
    return f"activations {kind} depth {DEPTH}, n={N}, d={D}, {np.dtype(dtype).name}"


def timed(benchmark, kernel, label, kind, dtype):
    """Time ``gram(kernel, X)``, each round right after a round of ReLU's (untimed by the
    benchmark: its ``setup``), and store the paired ratios in ``extra_info``."""
    X = data(N, dtype)
    reference = (fk.NTK if kind == "ntk" else fk.NNGP)(depth=DEPTH, activation="relu")
    reference_times = []

    def reference_round():
        start = time.perf_counter()
        fk.gram(reference, X, dtype=dtype)
        reference_times.append(time.perf_counter() - start)
        return (kernel, X), {"dtype": dtype}

    benchmark.group = group_name(kind, dtype)
    benchmark.extra_info["role"] = "reference: relu" if label == REFERENCE else "subject"
    benchmark.extra_info["activation"] = label
    benchmark.extra_info["goal"] = f"<= {GOAL:g}x relu"
    benchmark.pedantic(fk.gram, setup=reference_round, rounds=ROUNDS, warmup_rounds=1)
    times = np.array(benchmark.stats.stats.data)
    paired = np.array(reference_times[-len(times) :])  # the warm-up round's is dropped
    ratios = {
        "paired_ratio_to_relu": round(float(times.min() / paired.min()), 4),
        "paired_ratio_to_relu_median": round(float(np.median(times / paired)), 4),
        "relu_paired_min": float(paired.min()),
    }
    benchmark.extra_info.update(ratios)
    RESULTS[(kind, np.dtype(dtype).name, label)] = (ratios, float(times.min()))


@pytest.fixture(scope="module", autouse=True)
def ratio_table(request):
    """At the end of the module, a table of the paired ratios (see ``timed``)."""
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or not RESULTS:
        return
    lines = [
        f"{'kernel':6s} {'dtype':8s} {'activation':40s} {'min/min':>8s} {'median':>8s} "
        f"{'min time':>10s}"
    ]
    order = sorted(RESULTS, key=lambda key: (key[0] != "ntk", key[1] != "float64"))
    for kind, dtype, label in order:
        ratios, best = RESULTS[(kind, dtype, label)]
        ratio = ratios["paired_ratio_to_relu"]
        lines.append(
            f"{kind:6s} {dtype:8s} {label:40s} {ratio:8.3f} "
            f"{ratios['paired_ratio_to_relu_median']:8.3f} {best * 1e3:8.1f}ms"
            + (" over the goal" if ratio > GOAL else "")
        )
    title = f"activations: time / ReLU's in paired rounds (goal <= {GOAL:g}x)"
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_sep("=", title)
        for line in lines:
            reporter.write_line(line)


def labels(table):
    return [label for label, *_ in table]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("spec", NTK_ACTIVATIONS, ids=labels(NTK_ACTIVATIONS))
def test_ntk(benchmark, spec, dtype):
    label, class_name, args, kwargs = spec
    kernel = checked(fk.NTK(depth=DEPTH, activation=construct(*spec)), label)
    timed(benchmark, kernel, label, "ntk", dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
def test_ntk_elementwise_user_dual(benchmark, dtype):
    kernel = checked(fk.NTK(depth=DEPTH, activation=elementwise()), "Elementwise")
    builtin = getattr(activations, "Exp", None)
    if builtin is not None:
        X = data(CHECK_ROWS, np.float64)
        expected = fk.gram(fk.NTK(depth=DEPTH, activation=builtin(A, B)), X)
        difference = np.max(np.abs(fk.gram(kernel, X) - expected)) / np.max(np.abs(expected))
        assert difference < 1e-12, f"the user's dual differs from Exp({A}, {B}) by {difference}"
    timed(benchmark, kernel, f"Elementwise(user dual of Exp({A},{B}))", "ntk", dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("spec", NNGP_ACTIVATIONS, ids=labels(NNGP_ACTIVATIONS))
def test_nngp(benchmark, spec, dtype):
    label, class_name, args, kwargs = spec
    kernel = checked(fk.NNGP(depth=DEPTH, activation=construct(*spec)), label)
    timed(benchmark, kernel, label, "nngp", dtype)
