"""Bad input gets a clear ValueError or TypeError that names the argument (DESIGN.md section 5),
raised before any Gram matrix work: a given ``out`` is left untouched."""

import re

import numba
import numpy as np
import pytest
import scipy.sparse

import fastntk as fk

X = np.random.default_rng(0).standard_normal((4, 3))
KERNELS = [fk.NTK(2), fk.NNGP(1, "erf"), fk.Gaussian(1.0), fk.Laplacian(1.0), fk.ArcCosine(1)]
KERNEL_IDS = [type(kernel).__name__ for kernel in KERNELS]


def untouched_out(shape=(4, 4), dtype=np.float64):
    return np.full(shape, 7.0, dtype=dtype)


# --- the input arrays ---------------------------------------------------------------------------

BAD_ARRAYS = [
    ("1-D", np.ones(3), ValueError, "2-D"),
    ("3-D", np.ones((2, 2, 3)), ValueError, "2-D"),
    ("no rows", np.ones((0, 3)), ValueError, "at least one row"),
    ("no columns", np.ones((4, 0)), ValueError, "at least one"),
    ("NaN", np.array([[1.0, np.nan, 0.0]]), ValueError, "NaN"),
    ("inf", np.array([[1.0, 0.0, -np.inf]]), ValueError, "inf"),
    ("complex", np.ones((2, 3), dtype=complex), ValueError, "Complex"),
    ("object", np.array([[1.0, "a", None]], dtype=object), TypeError, "object"),
    ("sparse", scipy.sparse.csr_matrix(np.ones((2, 3))), TypeError, "sparse"),
    ("strings", np.array([["a", "b", "c"]]), TypeError, "real numbers"),
    ("None", None, TypeError, "2-D array"),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
@pytest.mark.parametrize(
    "bad, error, fragment", [case[1:] for case in BAD_ARRAYS], ids=[case[0] for case in BAD_ARRAYS]
)
def test_bad_x_rejected(kernel, bad, error, fragment):
    with pytest.raises(error, match=fragment) as raised:
        kernel(bad)
    assert "X" in str(raised.value)
    with pytest.raises(error, match=fragment):
        kernel.diag(bad)


@pytest.mark.parametrize(
    "bad, error, fragment",
    [case[1:] for case in BAD_ARRAYS if case[0] != "None"],
    ids=[case[0] for case in BAD_ARRAYS if case[0] != "None"],
)
def test_bad_z_rejected_and_out_untouched(bad, error, fragment):
    out = untouched_out((4, max(np.shape(bad)[0], 1) if np.ndim(bad) == 2 else 1))
    with pytest.raises(error, match=fragment) as raised:
        fk.NTK(2)(X, bad, out=out)
    assert "Z" in str(raised.value)
    assert np.all(out == 7.0)


@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_mismatched_feature_counts(kernel):
    out = untouched_out((4, 2))
    with pytest.raises(ValueError, match="features") as raised:
        kernel(X, np.ones((2, 4)), out=out)
    assert "(4, 3)" in str(raised.value) and "(2, 4)" in str(raised.value)
    assert np.all(out == 7.0)


def test_inputs_too_large_for_float32():
    with pytest.raises(ValueError, match="float32"):
        fk.NTK(2)(np.array([[1e39, 1.0]]), dtype=np.float32)


def test_a_single_sample_is_one_row_not_a_vector():
    with pytest.raises(ValueError, match=r"reshape\(1, -1\)"):
        fk.Gaussian(1.0)(np.ones(3), np.ones((2, 3)))


# --- dtype and out ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [int, np.int32, np.float16, np.complex128, bool, "banana"])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        fk.NTK(2)(X, dtype=dtype)
    with pytest.raises(TypeError, match="dtype"):
        fk.NTK(2).diag(X, dtype=dtype)


@pytest.mark.parametrize("shape", [(4, 5), (5, 4), (16,), (1, 4, 4), (4, 4, 1)])
def test_out_with_wrong_shape(shape):
    out = untouched_out(shape)
    with pytest.raises(ValueError, match="out must have shape") as raised:
        fk.NTK(2)(X, out=out)
    assert "(4, 4)" in str(raised.value)
    assert np.all(out == 7.0)


def test_out_with_wrong_dtype():
    out = untouched_out(dtype=np.float32)
    with pytest.raises(TypeError, match="out"):
        fk.NTK(2)(X, dtype=np.float64, out=out)
    out = untouched_out(dtype=np.int64)
    with pytest.raises(TypeError, match="out|dtype"):
        fk.NTK(2)(X, out=out)
    assert np.all(out == 7)


def test_out_read_only():
    out = untouched_out()
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fk.NTK(2)(X, out=out)


def test_out_not_contiguous():
    out = np.full((8, 8), 7.0)[::2, ::2]
    with pytest.raises(ValueError, match="contiguous"):
        fk.NTK(2)(X, out=out)
    assert np.all(out == 7.0)


def test_out_not_an_array():
    """A list is not a buffer that can be filled: a TypeError naming ``out``."""
    with pytest.raises(TypeError, match="out"):
        fk.NTK(2)(X, out=[[0.0] * 4] * 4)


def test_gram_many_out_shape():
    kernels = [fk.NTK(1), fk.NNGP(2)]
    out = untouched_out((2, 4, 5))
    with pytest.raises(ValueError, match="out must have shape"):
        fk.gram_many(kernels, X, out=out)
    assert np.all(out == 7.0)
    with pytest.raises(ValueError, match="out must have shape"):
        fk.gram_many(kernels, X, out=untouched_out((4, 4)))


def test_request_too_large_for_memory_fails_before_allocating():
    huge = np.ones((3_000_000, 1))
    with pytest.raises(MemoryError, match="GiB"):
        fk.Linear()(huge)


Y = np.arange(4.0)
MEMORY_REMEDIES = [
    ("gram", lambda: fk.Linear()(X), r"out=numpy\.memmap"),
    ("gram of X and Z", lambda: fk.gram(fk.NTK(2), X, X[:2]), r"out=numpy\.memmap"),
    (
        "KernelRegressor",
        lambda: fk.KernelRegressor(fk.Linear(), solver="cholesky").fit(X, Y),
        "solver='nystrom'.*float32",
    ),
    (
        "KernelClassifier",
        lambda: fk.KernelClassifier(fk.Linear(), solver="eigh").fit(X, [0, 1, 0, 1]),
        "solver='nystrom'",
    ),
    ("polynomial", lambda: fk.features.polynomial(X, 3), "degree.*rows.*float32"),
    ("random_fourier", lambda: fk.features.random_fourier(X, 10), "n_features.*rows.*float32"),
    ("random_features", lambda: fk.features.random_features(X, 10), "width.*rows.*float32"),
    ("arc_cosine", lambda: fk.features.arc_cosine(X, 10), "n_features.*rows.*float32"),
    ("FiniteNetwork", lambda: fk.FiniteNetwork(3, 8), "width or depth"),
]


@pytest.mark.parametrize(
    "call, remedy",
    [case[1:] for case in MEMORY_REMEDIES],
    ids=[case[0] for case in MEMORY_REMEDIES],
)
def test_memory_error_offers_a_remedy_the_caller_has(monkeypatch, call, remedy):
    """Only gram takes out=; every other caller names what it can change instead."""
    monkeypatch.setattr(fk._validation, "available_memory_bytes", lambda: 16)
    with pytest.raises(MemoryError, match="GiB") as raised:
        call()
    assert re.search(remedy, str(raised.value))
    if "out=" not in remedy:
        assert "out=" not in str(raised.value)


def test_memory_error_of_the_empirical_ntk_offers_smaller_blocks(monkeypatch):
    network = fk.FiniteNetwork(3, 8, seed=0)
    monkeypatch.setattr(fk._validation, "available_memory_bytes", lambda: 16)
    with pytest.raises(MemoryError, match="fewer rows of X or Z") as raised:
        network.empirical_ntk(X)
    assert "out=" not in str(raised.value)


# --- dates and durations ------------------------------------------------------------------------

TIMES = {
    "timedelta64": np.array([[1, 2, 3]] * 4, dtype="m8[s]"),
    "timedelta64 with NaT": np.array([[1, 2, "NaT"]] * 4, dtype="m8[s]"),
    "datetime64": np.array([[1, 2, 3]] * 4, dtype="M8[D]"),
}
TIME_ENTRY_POINTS = [
    ("gram X", lambda T: fk.Linear()(T), "X"),
    ("gram Z", lambda T: fk.Linear()(X, T), "Z"),
    ("diag", lambda T: fk.Gaussian(1.0).diag(T), "X"),
    ("regressor X", lambda T: fk.KernelRegressor(fk.Linear()).fit(T, Y), "X"),
    ("regressor y", lambda T: fk.KernelRegressor(fk.Linear()).fit(X, T[:, 0]), "y"),
    ("regressor score y", lambda T: fitted_regressor().score(X, T[:, 0]), "y"),
    ("solve K", lambda T: fk.solvers.solve(T[:, :3][:3], np.ones(3)), "K"),
    ("solve y", lambda T: fk.solvers.solve(np.eye(4), T[:, 0]), "y"),
    ("path K", lambda T: fk.solvers.RegularizationPath(T[:3, :3]), "K"),
    ("precomputed", lambda T: fk.KernelRegressor("precomputed").fit(T[:3, :3], Y[:3]), "X"),
    ("feature map", lambda T: fk.features.random_fourier(T, 5), "X"),
    ("network y", lambda T: fk.FiniteNetwork(3, 4).fit(X, T[:, 0], 0.1, 1), "y"),
]


def fitted_regressor():
    return fk.KernelRegressor(fk.Linear()).fit(X, Y)


@pytest.mark.parametrize("kind", TIMES)
@pytest.mark.parametrize(
    "call, name",
    [case[1:] for case in TIME_ENTRY_POINTS],
    ids=[case[0] for case in TIME_ENTRY_POINTS],
)
def test_dates_and_durations_are_not_numbers(kind, call, name):
    """NumPy counts timedelta64 as an integer type: converted, NaT would be -9.2e18."""
    times = TIMES[kind]
    message = f"{name} must hold real numbers, got dtype {times.dtype}"
    with pytest.raises(TypeError, match=re.escape(message)):
        call(times)


# --- devices ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["gpu", "CUDA:0", None])
def test_unknown_device_is_an_error(device):
    out = untouched_out()
    with pytest.raises(ValueError, match="device"):
        fk.gram(fk.NTK(2), X, out=out, device=device)
    with pytest.raises(ValueError, match="device"):
        fk.NTK(2)(X, device=device)
    assert np.all(out == 7.0)


def test_device_cpu_is_accepted():
    np.testing.assert_array_equal(fk.gram(fk.NTK(2), X, device="cpu"), fk.NTK(2)(X))


# --- kernel parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda: fk.NTK(2, "tanh"), ValueError, "unknown activation 'tanh'"),
        (lambda: fk.NNGP(2, "RELUU"), ValueError, "unknown activation"),
        (lambda: fk.NNGP(2, 3), ValueError, "unknown activation"),
        (lambda: fk.NTK(0), ValueError, "depth"),
        (lambda: fk.NNGP(-1), ValueError, "depth"),
        (lambda: fk.NTK(1.5), TypeError, "depth"),
        (lambda: fk.NTK(2, w_std=-1.0), ValueError, "w_std"),
        (lambda: fk.NTK(2, w_std=0.0), ValueError, "w_std"),
        (lambda: fk.NNGP(2, w_std=float("nan")), ValueError, "w_std"),
        (lambda: fk.NNGP(2, w_std=float("inf")), ValueError, "w_std"),
        (lambda: fk.NTK(2, b_std=-0.1), ValueError, "b_std"),
        (lambda: fk.Gaussian(0.0), ValueError, "lengthscale"),
        (lambda: fk.Gaussian(-1.0), ValueError, "lengthscale"),
        (lambda: fk.Laplacian(0.0), ValueError, "lengthscale"),
        (lambda: fk.Laplacian(float("inf")), ValueError, "lengthscale"),
        (lambda: fk.ArcCosine(3), ValueError, "order"),
        (lambda: fk.ArcCosine(-1), ValueError, "order"),
        (lambda: fk.ArcCosine(1.0), TypeError, "order"),
        (lambda: fk.Polynomial(degree=-1), ValueError, "degree"),
        (lambda: fk.Polynomial(degree=2.5), TypeError, "degree"),
        (lambda: fk.Polynomial(gamma=0.0), ValueError, "gamma"),
        (lambda: fk.Polynomial(gamma=-2.0), ValueError, "gamma"),
        (lambda: fk.Polynomial(coef0=float("nan")), ValueError, "coef0"),
        (lambda: fk.Linear(float("inf")), ValueError, "c"),
        (lambda: fk.LeakyReLU(float("nan")), ValueError, "slope"),
        (lambda: fk.NTK(2, "step"), ValueError, "NTK of Step"),
        (lambda: fk.NTK(3, fk.Step(), frozen=2), ValueError, "NTK of Step"),
        (lambda: fk.NTK(2, frozen=3), ValueError, "frozen"),
        (lambda: fk.NTK(2, frozen=-1), ValueError, "frozen"),
        (lambda: fk.NTK(2, frozen=1.0), TypeError, "frozen"),
        pytest.param(
            lambda: fk.Custom(lambda u: u),
            TypeError,
            "njit",
            marks=pytest.mark.skipif(
                numba.config.DISABLE_JIT, reason="without the JIT every function is compiled"
            ),
        ),
    ],
)
def test_bad_kernel_parameters(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


def test_step_ntk_with_every_layer_frozen_is_the_nngp():
    assert fk.NTK(2, "step", frozen=2).frozen == 2


# --- gram_many ----------------------------------------------------------------------------------


def test_gram_many_needs_a_kernel():
    with pytest.raises(ValueError, match="at least one"):
        fk.gram_many([], X)


@pytest.mark.parametrize(
    "kernels",
    [
        [fk.NTK(1), fk.NTK(1, "erf")],
        [fk.NTK(1), fk.NNGP(2, w_std=2.0)],
        [fk.NNGP(1, b_std=0.1), fk.NTK(3)],
        [fk.NNGP(1, fk.LeakyReLU(0.1)), fk.NNGP(1, fk.LeakyReLU(0.2))],
    ],
)
def test_gram_many_kernels_must_share_activation_and_scales(kernels):
    with pytest.raises(ValueError, match="share activation, w_std and b_std"):
        fk.gram_many(kernels, X)


@pytest.mark.parametrize(
    "kernels",
    [[fk.NTK(1), fk.Gaussian(1.0)], [fk.Gaussian(1.0)], [fk.Polynomial(), fk.NTK(2)]],
    ids=["network then classic", "classic only", "classic then network"],
)
def test_gram_many_takes_only_network_kernels(kernels):
    with pytest.raises(TypeError, match="NNGP and NTK"):
        fk.gram_many(kernels, X)


def test_gram_of_something_that_is_not_a_kernel():
    with pytest.raises(TypeError, match="kernel"):
        fk.gram("relu", X)
