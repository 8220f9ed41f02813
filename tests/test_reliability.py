"""Valid or hostile input that once gave a wrong answer, a hang or a raw error (issue 13):
output aliasing, fork, extreme scales and lengthscales, near-parallel rows, absurd depths and
degrees, and ``Custom`` activations. Each test checks a family of cases against an independent
reference (plain NumPy, or ``precise``: 120-digit mpmath)."""

import math
import multiprocessing
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import precise
import pytest
from test_quadrature import erf, erf_derivative  # one compiled pair for both modules

import fastntk as fk

rng = np.random.default_rng(13)

# --- 1. out= sharing memory with X or Z --------------------------------------------------------


def _overlapping_outputs():
    """``(name, X, Z, out)`` where ``out`` shares memory with ``X`` or ``Z``: the same array, a
    view, its transpose, rows of one buffer, and ``X`` a stretch of the memory of ``out``."""
    buffer = rng.standard_normal((40, 30))
    flat = rng.standard_normal(900)
    square = rng.standard_normal((30, 30))
    other = rng.standard_normal((30, 30))
    return [
        ("out is X", square, None, square),
        ("out is a view of X", square, None, square[:, :]),
        ("out is X transposed", square, None, square.T),
        ("rows of one buffer", buffer[:30], None, buffer[10:40]),
        ("out is Z", other, square, square),
        ("X inside out", flat[600:].reshape(30, 10), None, flat.reshape(30, 30)),
    ]


@pytest.mark.parametrize(
    "kernel", [fk.Linear(), fk.NTK(depth=2), fk.Gaussian(), fk.Laplacian()], ids=repr
)
@pytest.mark.parametrize("case", _overlapping_outputs(), ids=lambda case: case[0])
def test_out_sharing_memory_with_an_input_is_refused(kernel, case):
    _, X, Z, out = case
    before = (X.copy(), None if Z is None else Z.copy())
    with pytest.raises(ValueError, match="shares memory"):
        fk.gram(kernel, X, Z, out=out)
    np.testing.assert_array_equal(X, before[0])  # refused before anything is written
    with pytest.raises(ValueError, match="shares memory"):
        fk.gram_block(kernel, X, Z, (0, out.shape[0]), (0, out.shape[1]), out=out)


def test_out_in_the_same_buffer_without_overlap_is_correct():
    """Disjoint stretches of one buffer, and a strided ``X`` (copied before use) inside
    ``out``: the result is that of separate arrays."""
    buffer = rng.standard_normal((70, 30))
    X = buffer[:30]
    out = buffer[30:60]
    expected = fk.gram(fk.NTK(depth=2), X.copy())
    fk.gram(fk.NTK(depth=2), X, out=out)
    np.testing.assert_array_equal(out, expected)
    flat = rng.standard_normal(900)
    strided = flat[::3].reshape(30, 10)
    expected = fk.gram(fk.Gaussian(), strided.copy())
    np.testing.assert_array_equal(
        fk.gram(fk.Gaussian(), strided, out=flat.reshape(30, 30)), expected
    )
    stacked = rng.standard_normal((2, 30, 30))
    with pytest.raises(ValueError, match="shares memory"):
        fk.gram_many([fk.NTK(depth=1), fk.NTK(depth=2)], stacked[0], out=stacked)


# --- 2. fork after use ---------------------------------------------------------------------------

FORK_SCRIPT = """
import multiprocessing, numpy as np, fastntk as fk
X = np.random.default_rng(0).standard_normal((300, 12))
y = X[:, 0]
KERNELS = [fk.NTK(depth=3), fk.Gaussian(), fk.Laplacian(), fk.ArcCosine(1)]

def child(index):
    kernel = KERNELS[index]
    prediction = fk.KernelRegressor(kernel, alpha=1e-3).fit(X, y).predict(X[:5])
    return float(fk.gram(kernel, X).sum()), prediction.tolist()

if __name__ == "__main__":
    fk.config.set(threads=2)
    parent = [child(index) for index in range(len(KERNELS))]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(child, range(len(KERNELS)))
    assert children == parent, (children, parent)
    print("ok")
"""


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method"
)
def test_fork_after_use_does_not_hang(tmp_path):
    """A child forked after the parent ran the threaded Gram loops and a threaded solver
    computes the same results, and does not hang (a timeout, not a wall-clock measurement)."""
    script = tmp_path / "fork_after_use.py"
    script.write_text(textwrap.dedent(FORK_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- 4, 6, 7. extreme scales and lengthscales ---------------------------------------------------

X_SMALL = rng.standard_normal((9, 4))


@pytest.mark.parametrize(
    "dtype, scales",
    [(np.float64, [1e155, 1e200, 1e300]), (np.float32, [1e20, 1e25, 1e30])],
    ids=["float64", "float32"],
)
@pytest.mark.parametrize("kernel", [fk.Gaussian(1.0), fk.Gaussian(1e-3), fk.Gaussian(1e30)])
def test_gaussian_at_overflowing_inputs_is_an_overflow_error(kernel, dtype, scales):
    """|x|^2 overflows: a clear error, never 1 for far-apart points."""
    for scale in scales:
        X = (scale * X_SMALL).astype(dtype)
        with pytest.raises(ValueError, match="overflows"):
            kernel(X, dtype=dtype)
        with pytest.raises(ValueError, match="overflows"):
            kernel(X_SMALL.astype(dtype), X, dtype=dtype)


SCALE_INVARIANT = [
    fk.ArcCosine(order=0),
    fk.NNGP(depth=1, activation="step"),
    fk.NNGP(depth=3, activation="step", w_std=1.7),
]


@pytest.mark.parametrize("kernel", SCALE_INVARIANT, ids=repr)
@pytest.mark.parametrize(
    "dtype, scales, rtol",
    [
        (np.float64, [1e-300, 1e-200, 1e-155, 1e-100, 1e100, 1e155, 1e200, 1e300], 1e-14),
        (np.float32, [1e-30, 1e-19, 1e-10, 1e19, 1e30, 1e37], 1e-6),
    ],
    ids=["float64", "float32"],
)
def test_scale_invariant_kernels_at_any_scale(kernel, dtype, scales, rtol):
    """``K(sX, tZ) = K(X, Z)`` to the rounding of ``sX``, also with every row at its own
    scale (it was off by 0.3-0.5 at 1e200, 1e-155, 1e-300 and at 1e19 in float32). These
    kernels are at most 1: ``rtol`` is also the absolute tolerance (float32's arccos is good
    to 3e-7)."""
    X = X_SMALL.astype(dtype)
    Z = rng.standard_normal((5, 4)).astype(dtype)
    expected, expected_xz = kernel(X, dtype=dtype), kernel(X, Z, dtype=dtype)
    assert np.isfinite(expected).all()
    for scale in scales:
        sX = X * dtype(scale)
        np.testing.assert_allclose(kernel(sX, dtype=dtype), expected, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(kernel(sX, Z, dtype=dtype), expected_xz, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(
            kernel.diag(sX, dtype=dtype), np.diag(expected), rtol=rtol, atol=rtol
        )
    row_scales = np.array(scales * 2)[: X.shape[0], None].astype(dtype)
    np.testing.assert_allclose(kernel(X * row_scales, dtype=dtype), expected, rtol=rtol, atol=rtol)
    block = fk.gram_block(kernel, X * row_scales, None, (2, 7), (0, 9), dtype=dtype)
    np.testing.assert_allclose(block, expected[2:7], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "lengthscale", [1e-320, 1e-300, 1e-200, 1e-160, 1e-40, 1e40, 1e160, 1e200, 1e300]
)
def test_gaussian_at_extreme_lengthscales(lengthscale, dtype):
    """No NaN and no raw error: duplicate rows give exactly 1 (also off the diagonal, where the
    expansion |x|^2 + |z|^2 - 2 x.z leaves rounding noise), distinct rows the value of the
    formula, which is 0 or 1 at these lengthscales."""
    X = np.vstack([X_SMALL, X_SMALL[:3], 1e-3 * X_SMALL[:2]]).astype(dtype)
    K = fk.Gaussian(lengthscale)(X, dtype=dtype)
    distances = ((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        expected = np.where(distances == 0, 1.0, np.exp(-distances / lengthscale / lengthscale / 2))
    np.testing.assert_allclose(K, expected, rtol=1e-6, atol=0)
    assert (np.diag(K[:3, 9:12]) == 1).all()


def test_gaussian_duplicates_are_exactly_one_at_any_lengthscale():
    """Duplicates whose inner product BLAS rounds differently from their squared norm."""
    X = rng.standard_normal((50, 37)) * 1e3 + 1e4  # far from the origin: the expansion cancels
    X = np.vstack([X, X[::-1]])
    for lengthscale in (1e-12, 1e-3, 1.0):
        K = fk.Gaussian(lengthscale)(X)
        np.testing.assert_array_equal(np.diag(K[:50, 50:][:, ::-1]), 1.0)


# --- 8. near-parallel rows in float64 ------------------------------------------------------------

NEAR_PARALLEL = [
    (fk.NTK(depth=1), lambda x, z: precise.network(x, z, 1)),
    (fk.NTK(depth=3), lambda x, z: precise.network(x, z, 3)),
    (fk.NNGP(depth=2), lambda x, z: precise.network(x, z, 2, ntk=False)),
    (fk.NTK(depth=3, b_std=0.7), lambda x, z: precise.network(x, z, 3, b_std=0.7)),
    (
        fk.NTK(depth=2, activation="abs", w_std=1.3, b_std=0.3),
        lambda x, z: precise.network(x, z, 2, "abs", 1.3, 0.3),
    ),  # fmt: skip
    (fk.NTK(depth=2, activation="leaky_relu"), lambda x, z: precise.network(x, z, 2, "leaky_relu")),
    (
        fk.NNGP(depth=2, activation="step", b_std=0.5),
        lambda x, z: precise.network(x, z, 2, "step", b_std=0.5, ntk=False),
    ),  # fmt: skip
    (fk.NTK(depth=2, activation="erf"), lambda x, z: precise.network(x, z, 2, "erf")),
    (fk.ArcCosine(0), lambda x, z: precise.arc_cosine(x, z, 0)),
    (fk.ArcCosine(1), lambda x, z: precise.arc_cosine(x, z, 1)),
    (fk.ArcCosine(2), lambda x, z: precise.arc_cosine(x, z, 2)),
]


def _pairs():
    """Rows ``x`` and ``z = +-x + e u`` at distances ``e`` from 1e-1 to 1e-12, in 2 to 64
    dimensions, and one exactly parallel (``z = 4 x``) and anti-parallel pair (powers of two:
    exactly so in binary too)."""
    pairs = []
    for d in (2, 5, 64):
        for sign in (1.0, -1.0):
            for e in (1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-12):
                x, u = rng.standard_normal(d), rng.standard_normal(d)
                pairs.append((x, sign * x + e * u))
        x = rng.standard_normal(d)
        pairs += [(x, 4 * x), (x, -0.5 * x)]
    return pairs


PAIRS = _pairs()


@pytest.mark.parametrize("kernel, reference", NEAR_PARALLEL, ids=lambda v: repr(v)[:60])
def test_near_parallel_rows_to_1e14_in_float64(kernel, reference):
    """Relative error <= 1e-14 against 120-digit references, at any angle (it was 2e-8); for
    values that vanish (exactly anti-parallel rows), 1e-30 of ``sqrt(k(x, x) k(z, z))``."""
    errors = []
    for x, z in PAIRS:
        value = kernel(x[None], z[None])[0, 0]
        exact = reference(x, z)
        scale = math.sqrt(reference(x, x) * reference(z, z))
        errors.append(abs(value - exact) / max(abs(exact), 1e-30 * scale))
    assert max(errors) <= 1e-14, max(errors)


KINKED = [case for case in NEAR_PARALLEL if "Erf" not in repr(case[0])]


@pytest.mark.parametrize("kernel, reference", KINKED, ids=lambda v: repr(v)[:60])
def test_near_parallel_rows_of_different_lengths(kernel, reference):
    """``z = s (x + e u)`` with ``s`` from 1e-12 to 1e9, also in one dimension (where every
    pair is parallel): the same 1e-14 (a short row once took a rounding of the long one's
    length as an angle)."""
    errors = []
    for d in (1, 2, 5, 64):
        for s in (1e-12, 0.3, 7.0, 1e9):
            for e in (1e-3, 1e-7, 1e-12):
                x, u = rng.standard_normal(d), rng.standard_normal(d)
                z = s * (x + e * u)
                value = kernel(x[None], z[None])[0, 0]
                exact = reference(x, z)
                scale = math.sqrt(reference(x, x) * reference(z, z))
                errors.append(abs(value - exact) / max(abs(exact), 1e-30 * scale))
    assert max(errors) <= 1e-14, max(errors)


@pytest.mark.parametrize("kernel, reference", NEAR_PARALLEL[:3] + NEAR_PARALLEL[8:], ids=repr)
def test_near_parallel_rows_in_float32(kernel, reference):
    errors = []
    for x, z in PAIRS:
        x32, z32 = x.astype(np.float32), z.astype(np.float32)
        value = kernel(x32[None], z32[None])[0, 0]
        exact = reference(x32, z32)
        scale = math.sqrt(reference(x32, x32) * reference(z32, z32))
        errors.append(abs(value - exact) / max(abs(exact), 1e-30 * scale))
    assert max(errors) <= 1e-5, max(errors)


@pytest.mark.parametrize("kernel", [fk.NTK(depth=3), fk.ArcCosine(0), fk.NNGP(2, "step")])
def test_clusters_of_near_parallel_rows_are_positive_semi_definite(kernel):
    """Rows ``x0 + 1e-7 u_i``: the smallest eigenvalue >= -1e-13 trace (it was -3e-9)."""
    center = rng.standard_normal(6)
    X = center + 1e-7 * rng.standard_normal((40, 6))
    K = kernel(X)
    assert np.linalg.eigvalsh(K).min() >= -1e-13 * np.trace(K)


def test_refinement_is_the_same_on_the_cuda_simulator():
    cuda = pytest.importorskip("numba.cuda")
    if not cuda.is_available():
        pytest.skip("no CUDA GPU and no simulator")
    X = np.vstack([x for x, _ in PAIRS[:12]])[:, :2]
    Z = np.vstack([z for _, z in PAIRS[:12]])[:, :2]
    for kernel in (fk.NTK(depth=2), fk.ArcCosine(1), fk.Gaussian(1e-9)):
        np.testing.assert_allclose(
            fk.gram(kernel, X, Z, device="cuda"), fk.gram(kernel, X, Z), rtol=1e-13, atol=0
        )


# --- 14. absurd depth and degree ----------------------------------------------------------------


@pytest.mark.parametrize("depth", [10_001, 10**8, 10**9, 2**70])
@pytest.mark.parametrize("family", [fk.NTK, fk.NNGP])
def test_absurd_depth_is_refused_at_construction(family, depth):
    with pytest.raises(ValueError, match="depth must be >= 1 and <= 10000"):
        family(depth=depth)


@pytest.mark.parametrize("degree", [2**63, 10**30])
def test_degree_beyond_int64_is_refused(degree):
    with pytest.raises(ValueError, match="degree"):
        fk.Polynomial(degree=degree)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_polynomial_powers_by_squaring(dtype):
    """Any degree costs ``log2(degree)`` products: 10**11 and 2**63 - 1 return at once and
    exactly on +-1, and moderate degrees agree with ``np.power`` to a few roundings per
    squaring."""
    X = np.array([[1.0], [-1.0], [0.0]], dtype=dtype)
    for degree in (10**11, 10**11 + 1, 2**63 - 1):
        K = fk.Polynomial(degree=degree, gamma=1.0, coef0=0.0)(X)
        sign = -1.0 if degree % 2 else 1.0
        np.testing.assert_array_equal(K[:2, :2], [[1.0, sign], [sign, 1.0]])
        np.testing.assert_array_equal(K[2], [0.0, 0.0, 0.0 if degree else 1.0])
    Y = (0.6 * rng.standard_normal((8, 3))).astype(dtype)
    for degree in (0, 1, 2, 3, 7, 16, 33, 64):
        base = Y.astype(np.float64) @ Y.T.astype(np.float64) / 3 + 1.0
        expected = np.power(base, degree)
        rtol = (2 + 2 * math.log2(degree + 1)) * np.finfo(dtype).eps * max(1, degree) ** 0.5
        np.testing.assert_allclose(fk.Polynomial(degree=degree)(Y), expected, rtol=rtol * 10)


# --- 5. Custom activations -----------------------------------------------------------------------


@numba.njit
def tanh(u):
    return math.tanh(u)


@numba.njit
def tanh_derivative(u):
    return 1.0 - math.tanh(u) ** 2


@numba.njit
def pair(u):
    return u, u


@numba.njit
def logarithm(u):
    return math.log(u)


@numba.njit
def reciprocal_root(u):
    return 1.0 / math.sqrt(u)


@numba.njit
def shifted_log(u):
    return math.log(u + 3.0)


@numba.njit
def concatenates(u):
    return u + "x"


TANH = fk.Custom(tanh, tanh_derivative, degree=24)
#: Tolerances these inputs meet (no QuadratureWarning): PSD is then checked to them.
TANH_TOLERANT = fk.Custom(tanh, tanh_derivative, degree=24, tolerance=0.03)
ERF_TOLERANT = fk.Custom(erf, erf_derivative, degree=16, tolerance=0.01)


@pytest.mark.parametrize(
    "kernel, d, scale",
    [
        (fk.NTK(2, TANH), 1, 1.5),
        (fk.NNGP(3, TANH_TOLERANT, 1.4, 0.2), 1, 0.5),
        (fk.NTK(2, TANH_TOLERANT), 3, 0.5),
        (fk.NTK(2, ERF_TOLERANT), 3, 0.5),
    ],
    ids=repr,
)
def test_custom_quadrature_is_symmetric_and_positive_semi_definite(kernel, d, scale):
    """K(x, z) = K(z, x) and permutation equivariance to rounding; the smallest eigenvalue
    >= -tolerance trace where no QuadratureWarning says the error may be larger, and >= -1e-12
    trace on 1-D data without biases (it was -6e-2): there every correlation is +-1, where the
    rule is a one-dimensional Gauss rule, a feature map."""
    X = scale * rng.standard_normal((40, d))
    exact_feature_map = d == 1 and kernel.b_std == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if exact_feature_map else "error", fk.QuadratureWarning)
        K = kernel(X)
        swapped = kernel(X[20:], X[:20]).T
        permuted = kernel(X[order := rng.permutation(40)])
    np.testing.assert_allclose(kernel(X[:20], X[20:]), swapped, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(permuted, K[np.ix_(order, order)], rtol=1e-13, atol=1e-15)
    bound = 1e-12 if exact_feature_map else kernel.activation.tolerance
    assert np.linalg.eigvalsh(K).min() >= -bound * np.trace(K)


@pytest.mark.parametrize("degree", [16, 32, 64])
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_custom_warns_exactly_when_its_error_is_large(scale, degree):
    """The estimated error against the closed form: a warning whenever the true error exceeds
    ten times the tolerance, none when it is below a tenth of it."""
    custom = fk.Custom(erf, erf_derivative, degree=degree, tolerance=1e-4)
    X = scale * rng.standard_normal((15, 3))
    with np.testing.suppress_warnings() as recorder:
        warned = recorder.record(fk.QuadratureWarning)
        K = fk.NTK(2, custom, 1.0, 0.2)(X)
    exact = fk.NTK(2, "erf", 1.0, 0.2)
    error = np.max(np.abs(K - exact(X)) / np.sqrt(np.outer(exact.diag(X), exact.diag(X))))
    if error > 10 * custom.tolerance:
        assert warned, error
    if error < custom.tolerance / 10:
        assert not warned, error


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_custom_checks_each_input_once(dtype):
    """One estimate (one warning) per input: not again for float32's float64 row copies."""
    with np.testing.suppress_warnings() as recorder:
        warnings_seen = recorder.record(fk.QuadratureWarning)
        fk.NTK(2, fk.Custom(erf, erf_derivative))(3 * X_SMALL, dtype=dtype)
    assert len(warnings_seen) == 1


def test_custom_at_large_input_scale_warns():
    """erf at input scale 3, degree 32: a 64 % error once passed silently."""
    with pytest.warns(fk.QuadratureWarning, match="quadrature error"):
        fk.NTK(2, fk.Custom(erf, erf_derivative))(3 * X_SMALL)


@pytest.mark.parametrize("degree", [2, 150, 300, 371, 372, 399, 400])
def test_custom_nodes_are_finite_at_every_degree(degree):
    custom = fk.Custom(erf, degree=degree)
    nodes, weights = custom.parameter_values(np.dtype(np.float64))[2:]
    assert np.isfinite(nodes).all() and np.isfinite(weights).all()
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-13)
    if degree >= 150:
        X = 0.5 * X_SMALL[:4]
        np.testing.assert_allclose(fk.NNGP(1, custom)(X), fk.NNGP(1, "erf")(X), rtol=1e-10)


@pytest.mark.parametrize(
    "function, expected",
    [(pair, "must return one float, got tuple"), (concatenates, "must take one float")],
)
def test_custom_function_of_the_wrong_kind_is_a_type_error(function, expected):
    with pytest.raises(TypeError, match=expected):
        fk.Custom(function)
    with pytest.raises(TypeError, match=expected):
        fk.Custom(erf, derivative=function)


@pytest.mark.parametrize("function", [logarithm, reciprocal_root, shifted_log])
def test_custom_function_not_finite_at_a_node_is_named(function):
    """NaN or inf from the function (log of a negative node, 1/sqrt(0) at the zero node of an
    odd degree): a ValueError naming it, not "overflows ... use fewer layers"."""
    with pytest.raises(
        ValueError, match=f"{function.py_func.__name__}.* (returned (nan|inf)|raised)"
    ):
        fk.NNGP(2, fk.Custom(function, degree=9))(X_SMALL)


def test_float64_refinement_can_be_turned_off():
    """``float64_refinement=0`` gives the unrefined map (snapped cosines, rounded angles): the
    near-parallel pairs are then off by more than the refined 1e-14, and K(X, X) is the same
    away from them."""
    x, u = rng.standard_normal(8), rng.standard_normal(8)
    X = np.vstack([x, x + 1e-7 * u, rng.standard_normal(8)])
    exact = precise.network(X[0], X[1], 3)
    refined = fk.NTK(depth=3)(X)
    with fk.config.override(float64_refinement=0):
        unrefined = fk.NTK(depth=3)(X)
    assert abs(refined[0, 1] - exact) <= 1e-14 * exact
    assert abs(unrefined[0, 1] - exact) > 1e-12 * exact
    np.testing.assert_array_equal(unrefined[2], refined[2])
