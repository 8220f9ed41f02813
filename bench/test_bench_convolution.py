"""Convolutional kernels against neural-tangents' ``stax`` network kernels, in the same run.

Each case is ``CNTK(depth, pooling)`` (ReLU, filter 3, "same" padding, w_std 1, no biases,
float64) on ``K(X, X)``:

- the 8x8 digits at depth 3: global pooling on 200 images (goal: NT 20x slower or more) and
  flattening on 1000 (goal 10x; on fewer images fixed costs weigh on a call of milliseconds);
- random 32x32x3 images at depths 5 and 10: global pooling on 4 images, flattening on 32
  (reported, no goal).

neural-tangents runs first, in its own Python (``FASTNTK_NT_PYTHON``; see
``scripts/compare_peers.py`` for how to install it), through ``scripts/compare_conv.py``'s runner
of ``scripts/nt_reference.py --conv-speed``: the best of ``NT_REPEATS`` jitted calls after a
first one that compiles. The two never share the cores. Each benchmark stores NT's best time
and ``nt_over_fastntk`` (NT's best over fastntk's min) in ``extra_info``, and checks its first
rows against NT's (a ratio for a wrong matrix means nothing). Without ``FASTNTK_NT_PYTHON`` the
NT cases are skipped.

``test_full_digits_gram`` times the whole 1797 x 1797 global-pooling Gram matrix at depth 3
(goal: under 60 s on two cores) against ``fk.NTK(depth=3)`` on the same images as rows, the
fully-connected kernel whose cost is BLAS and the first touch of the output.

``test_window_average_rate`` answers how far the inner loops are from the machine's FLOP rate:
the window average of one layer of one pair of 8x8 images (the loop that dominates global
pooling), in GFLOP/s and GB/s of loads and stores, against one thread's DGEMM in the same run.

Run: ``FASTNTK_NT_PYTHON=.../bin/python pytest bench/test_bench_convolution.py``.
"""

import importlib.util
import os
import pathlib
import types

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastntk as fk
from fastntk import convolution_recursion

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"
NT_PYTHON = os.environ.get("FASTNTK_NT_PYTHON")
NT_REPEATS = 2
ROUNDS = 3
#: (label, input set, pooling, depth, n): the timed cases.
CASES = [
    ("digits global", "digits", "global", 3, 200),
    ("digits flatten", "digits", "flatten", 3, 1000),
    ("32x32x3 global", "cifar", "global", 5, 4),
    ("32x32x3 global", "cifar", "global", 10, 4),
    ("32x32x3 flatten", "cifar", "flatten", 5, 32),
    ("32x32x3 flatten", "cifar", "flatten", 10, 32),
]
#: NT's jitted kernels contract ``a * b - c * c`` into a fused multiply-add (see
#: ``nt_reference.py``): agreement, not exactness, is what its timed rows can show.
AGREEMENT = 1e-8


def _compare_conv():
    spec = importlib.util.spec_from_file_location("compare_conv", SCRIPTS / "compare_conv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(name):
    if name == "digits":
        return fk.datasets.load_digits().X
    rng = np.random.default_rng(20240612)  # multiples of 2^-10: every product is exact
    return np.round(rng.standard_normal((32, 32, 32, 3)) * 1024.0) / 1024.0


@pytest.fixture(scope="module")
def neural_tangents():
    """``{(input set, pooling, depth, n): (NT's best seconds, its first rows)}``."""
    if not NT_PYTHON:
        pytest.skip("FASTNTK_NT_PYTHON (neural-tangents' Python) is not set")
    compare = _compare_conv()
    arguments = types.SimpleNamespace(
        kernels=["ntk"], nt_batch_size=None, nt_memory_gb=6.0, nt_python=NT_PYTHON
    )
    results = {}
    for name in dict.fromkeys(case[1] for case in CASES):
        X = _inputs(name)
        plans = [(pooling, [depth], n) for _, inputs, pooling, depth, n in CASES if inputs == name]
        cases = compare.speed_cases(X, plans, arguments)
        timings, rows, _ = compare.nt_speed(NT_PYTHON, cases, X, NT_REPEATS)
        for case in cases:
            n = int(case.label.rsplit("n=", 1)[1])
            timing = timings[case.label]
            if "error" in timing:
                pytest.fail(f"neural-tangents failed on {case.label}: {timing['error']}")
            key = (name, case.network.pooling, case.depth, n)
            results[key] = (timing["best_s"], rows[case.label])
    return results


@pytest.mark.parametrize(("label", "inputs", "pooling", "depth", "n"), CASES)
def test_against_neural_tangents(benchmark, neural_tangents, label, inputs, pooling, depth, n):
    X = _inputs(inputs)[:n]
    kernel = fk.CNTK(depth=depth, pooling=pooling)
    nt_seconds, nt_rows = neural_tangents[(inputs, pooling, depth, n)]
    benchmark.group = f"{label} depth {depth} n={n}"
    K = benchmark.pedantic(fk.gram, (kernel, X), rounds=ROUNDS, warmup_rounds=1)
    error = np.max(np.abs(K[: len(nt_rows)] - nt_rows)) / np.max(np.abs(nt_rows))
    assert error < AGREEMENT, f"fastntk and neural-tangents differ by {error:.1e}"
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        role="subject",
        ms_per_entry=1e3 * best / n**2,
        nt_best_s=nt_seconds,
        nt_ms_per_entry=1e3 * nt_seconds / n**2,
        nt_over_fastntk=round(nt_seconds / best, 2),
    )


@pytest.mark.parametrize("role", ["reference: ntk rows", "subject"])
def test_full_digits_gram(benchmark, role):
    images = fk.datasets.load_digits().X
    benchmark.group = "1797 digits, depth 3"
    benchmark.extra_info["role"] = role
    if role == "subject":
        fk.gram(fk.CNTK(depth=3), images[:20])  # compiled (or loaded) before the clock starts
        K = benchmark.pedantic(
            fk.gram, (fk.CNTK(depth=3), images), rounds=1, warmup_rounds=0, iterations=1
        )
        benchmark.extra_info["seconds"] = benchmark.stats.stats.min
    else:
        rows = images.reshape(len(images), -1)
        K = benchmark.pedantic(fk.gram, (fk.NTK(depth=3), rows), rounds=ROUNDS, warmup_rounds=1)
    assert K.shape == (1797, 1797) and np.array_equal(K, K.T)


#: Per pixel pair of a 3x3 window average: the widths' pass adds two masked taps (2 FMAs), the
#: heights' pass two taps and a scale and shift (2 additions, 1 FMA); and about 20 loads and
#: stores of 8 bytes (a copy of the centre tap, then for each other tap a load of the sum, the
#: shifted copy and the mask and a store, in each pass, and the scale's load and store).
FLOPS_PER_PAIR = 10
BYTES_PER_PAIR = 20 * 8
CALLS = 2000


@numba.njit
def _window_averages(spec, work, calls):
    area = spec.height * spec.width
    for _ in range(calls):
        convolution_recursion._filter_pairs(
            spec, work[0:area], work[area : 2 * area], work[2 * area : 3 * area], 1.0, 0.0
        )


@pytest.mark.parametrize("role", ["reference: dgemm", "subject"])
def test_window_average_rate(benchmark, role):
    benchmark.group = "window average of 8x8 pixel pairs, one thread"
    benchmark.extra_info["role"] = role
    if role == "subject":
        kernel, rows, _ = fk.CNTK(depth=3).prepare(fk.datasets.load_digits().X[:2], None)
        spec = kernel.spec(rows.shape[1], np.float64)
        work = np.random.default_rng(0).random(convolution_recursion._work_shape(spec, 1))
        _window_averages(spec, work, 1)
        benchmark.pedantic(_window_averages, (spec, work, CALLS), rounds=ROUNDS, warmup_rounds=1)
        pairs = CALLS * (spec.height * spec.width) ** 2
        flops, moved = FLOPS_PER_PAIR * pairs, BYTES_PER_PAIR * pairs
        assert np.all(np.isfinite(work[2 * 64 : 3 * 64]))
    else:
        A = np.random.default_rng(0).random((512, 512))
        with threadpool_limits(1):
            benchmark.pedantic(np.dot, (A, A), rounds=ROUNDS, warmup_rounds=1)
        flops, moved = 2 * 512**3, 3 * 512**2 * 8
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        gflops=round(flops / best / 1e9, 2), gbytes_s=round(moved / best / 1e9, 1)
    )
