"""The CUDA path (``device="cuda"``) against the CPU engine, on Numba's CUDA simulator.

``conftest.py`` turns the simulator on before Numba is imported, unless ``NUMBA_ENABLE_CUDASIM=0``
asks for a real GPU. The simulator runs each GPU thread as a Python thread, so the inputs are
tiny and the thread blocks are 4 x 4 (``FASTNTK_CUDA_TILE_SIZE``): a 9 x 6 Gram matrix then
spans 3 x 2 blocks, with partial blocks at both edges, and 5 features span two shared-memory
stages. Entries are compared with the CPU's relative to their natural scale
``sqrt(K(x, x) K(z, z))``: 1e-12 in float64 and 1e-5 in float32 (issue 6).
"""

import math
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from cases import (
    ACTIVATIONS,
    arc_cosine_case,
    assert_scaled_close,
    gaussian_case,
    ids,
    laplacian_case,
    linear_case,
    network_case,
    polynomial_case,
)

import fastntk as fk

cuda = pytest.importorskip("numba.cuda")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not cuda.is_available(), reason="no CUDA GPU and no simulator"),
]

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
TILE = 4


def inputs():
    """Random rows with the cases that need care: a zero row, a row parallel to another (its
    cosine rounds near 1 and is snapped, or refined in float64 for float32), and in ``Z`` a copy
    and a negated copy of rows of ``X``."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((9, 5))
    X[3] = 0.0
    X[6] = 2.5 * X[1]
    Z = 1.3 * rng.standard_normal((6, 5))
    Z[2] = X[4]
    Z[5] = -X[0]
    return X, Z


X, Z = inputs()


def _network_cases():
    """Every activation, as NNGP and as NTK (frozen layers included), across weight scales."""
    cases = []
    for index, activation in enumerate(ACTIVATIONS):
        w_std, b_std = [(1.0, 0.0), (1.4, 0.3), (0.8, 1.1)][index % 3]
        cases.append(network_case("nngp", 2, activation, w_std, b_std))
        frozen = 3 if activation == "step" else index % 3
        cases.append(network_case("ntk", 3, activation, w_std, b_std, frozen=frozen))
    return cases


CASES = [
    linear_case(2.5),
    polynomial_case(3, gamma=0.7, coef0=-0.5),
    polynomial_case(0),
    gaussian_case(0.5),
    laplacian_case(0.7),
    arc_cosine_case(0),
    arc_cosine_case(1),
    arc_cosine_case(2),
    *_network_cases(),
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setenv("FASTNTK_CUDA_TILE_SIZE", str(TILE))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_every_kernel_matches_cpu(case, dtype):
    """K(X, Z) and K(X, X) on the GPU equal the CPU's; K(X, X) is exactly symmetric with the
    CPU's exact diagonal."""
    rectangular = fk.gram(case.kernel, X, Z, dtype=dtype, device="cuda")
    assert isinstance(rectangular, np.ndarray) and rectangular.dtype == dtype
    expected = fk.gram(case.kernel, X, Z, dtype=dtype)
    assert_scaled_close(rectangular, expected, case.scale(X, Z), RTOL[dtype], "K(X, Z)")

    square = fk.gram(case.kernel, X, dtype=dtype, device="cuda")
    expected = fk.gram(case.kernel, X, dtype=dtype)
    assert_scaled_close(square, expected, case.scale(X), RTOL[dtype], "K(X, X)")
    np.testing.assert_array_equal(square, square.T)
    np.testing.assert_array_equal(np.diag(square), case.kernel.diag(X, dtype=dtype))


FAMILY = [
    fk.NNGP(depth=1, b_std=0.3),
    fk.NTK(depth=3, b_std=0.3),
    fk.NTK(depth=3, b_std=0.3, frozen=2),
    fk.NTK(depth=2, b_std=0.3, frozen=1),
    fk.NNGP(depth=3, b_std=0.3),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_gram_many_matches_cpu(dtype):
    """Several depths and frozen counts (three running Theta slots) from one GPU pass."""
    for Z_or_none in (Z, None):
        got = fk.gram_many(FAMILY, X, Z_or_none, dtype=dtype, device="cuda")
        expected = fk.gram_many(FAMILY, X, Z_or_none, dtype=dtype)
        assert got.shape == expected.shape == (len(FAMILY), 9, 9 if Z_or_none is None else 6)
        scale = np.stack([_scale(k, X, Z_or_none) for k in FAMILY])
        assert_scaled_close(got, expected, scale, RTOL[dtype], "gram_many")


def _scale(kernel, X, Z):
    diag_x = kernel.diag(X)
    diag_z = diag_x if Z is None else kernel.diag(Z)
    return np.sqrt(np.abs(np.outer(diag_x, diag_z)))


@pytest.mark.parametrize("symmetric", [True, False], ids=["K(X,X)", "K(X,Z)"])
def test_row_blocks_stream_to_host(monkeypatch, symmetric):
    """A GPU budget of one tile of rows: the result streams back in 3 row blocks (the last one
    partial), into a new array or a C-ordered ``out``, and equals the one-block result entry for
    entry; an F-ordered ``out`` (filled as K(Z, X), whose maps round in another order) to 1e-12."""
    kernel = fk.NTK(depth=2, activation="erf", b_std=0.2)
    Z_or_none = None if symmetric else Z
    whole = fk.gram(kernel, X, Z_or_none, device="cuda")
    m = whole.shape[1]
    monkeypatch.setenv("FASTNTK_CUDA_BLOCK_BYTES", str(TILE * m * 8))
    from fastntk import engine
    from fastntk.backends import cuda as cuda_backend

    problem = engine.gram_problem(kernel, X, X if symmetric else Z, np.dtype(np.float64), symmetric)
    assert len(cuda_backend.row_blocks(problem, 0, 9, 0, m)) == 3
    np.testing.assert_array_equal(fk.gram(kernel, X, Z_or_none, device="cuda"), whole)
    out = np.full(whole.shape, np.nan)
    assert fk.gram(kernel, X, Z_or_none, out=out, device="cuda") is out
    np.testing.assert_array_equal(out, whole)
    out = np.full(whole.shape, np.nan, order="F")
    assert fk.gram(kernel, X, Z_or_none, out=out, device="cuda") is out
    assert_scaled_close(out, whole, _scale(kernel, X, Z_or_none), 1e-12, "F-ordered out")
    stacked = fk.gram_many(FAMILY, X, Z_or_none, device="cuda")
    monkeypatch.setenv("FASTNTK_CUDA_BLOCK_BYTES", str(0))
    np.testing.assert_array_equal(stacked, fk.gram_many(FAMILY, X, Z_or_none, device="cuda"))


@pytest.mark.parametrize("symmetric", [True, False], ids=["K(X,X)", "K(X,Z)"])
def test_output_left_on_the_device(symmetric):
    """``out`` a GPU array: the result is written there (and returned), not copied to the host."""
    kernel = fk.ArcCosine(1)
    Z_or_none = None if symmetric else Z
    expected = fk.gram(kernel, X, Z_or_none)
    out = cuda.device_array(expected.shape, dtype=np.float64)
    assert fk.gram(kernel, X, Z_or_none, out=out, device="cuda") is out
    assert_scaled_close(out.copy_to_host(), expected, 1.0, RTOL[np.float64], "device out")

    stacked = cuda.device_array((len(FAMILY),) + expected.shape, dtype=np.float32)
    assert fk.gram_many(FAMILY, X, Z_or_none, out=stacked, device="cuda") is stacked
    expected = fk.gram_many(FAMILY, X, Z_or_none, dtype=np.float32)
    scale = np.stack([_scale(k, X, Z_or_none) for k in FAMILY])
    assert_scaled_close(stacked.copy_to_host(), expected, scale, RTOL[np.float32], "stacked")


def test_device_out_is_checked():
    kernel = fk.Gaussian()
    with pytest.raises(TypeError, match="out has dtype float32"):
        fk.gram(kernel, X, Z, out=cuda.device_array((9, 6), np.float32), dtype=np.float64,
                device="cuda")  # fmt: skip
    with pytest.raises(ValueError, match=r"out must have shape \(9, 6\)"):
        fk.gram(kernel, X, Z, out=cuda.device_array((6, 9)), device="cuda")
    with pytest.raises(ValueError, match="C-contiguous"):
        fk.gram(kernel, X, Z, out=cuda.device_array((9, 6), order="F"), device="cuda")
    with pytest.raises(TypeError, match="out must be a numpy array"):
        fk.gram(kernel, X, Z, out=cuda.device_array((9, 6)), device="cpu")


def test_auto_uses_the_gpu(monkeypatch):
    """``device="auto"`` runs on the (simulated) GPU: the GPU's ``fill`` computes the result."""
    from fastntk.backends import cuda as cuda_backend

    calls = []
    original = cuda_backend.fill

    def recording_fill(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(cuda_backend, "fill", recording_fill)
    kernel = fk.Polynomial(2)
    got = fk.gram(kernel, X, Z, device="auto")
    assert len(calls) == 1
    assert_scaled_close(got, fk.gram(kernel, X, Z), _scale(kernel, X, Z), 1e-12, "auto")


def test_what_the_gpu_cannot_do():
    """Custom activations and more than 8 frozen slots: a clear error on "cuda", the CPU on
    "auto"."""
    tanh = numba.njit(lambda u: np.tanh(u))
    custom = fk.NNGP(depth=1, activation=fk.Custom(tanh, degree=8))
    with pytest.raises(ValueError, match="Custom activations run on the CPU only"):
        fk.gram(custom, X, device="cuda")
    np.testing.assert_array_equal(fk.gram(custom, X, device="auto"), fk.gram(custom, X))

    many = [fk.NTK(depth=9, frozen=f) for f in range(9)]
    with pytest.raises(ValueError, match="at most 8 distinct frozen-layer counts"):
        fk.gram_many(many, X[:3], device="cuda")
    np.testing.assert_array_equal(
        fk.gram_many(many, X[:3], device="auto"), fk.gram_many(many, X[:3])
    )


def test_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'auto', got 'gpu'"):
        fk.gram(fk.Linear(), X, device="gpu")


def _run_python(code, **env):
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=300
    )


def test_import_and_cpu_work_never_load_numba_cuda():
    """``import fastntk`` and CPU Gram matrices leave ``numba.cuda`` (and the driver) alone."""
    code = (
        "import sys, numpy as np, fastntk as fk\n"
        "assert 'numba.cuda' not in sys.modules, 'import'\n"
        "fk.gram(fk.NTK(depth=2), np.ones((3, 2)))\n"
        "assert 'numba.cuda' not in sys.modules, 'cpu gram'\n"
        "print('clean')\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_no_gpu_is_a_clear_error():
    """Without the simulator and without a GPU, "cuda" says that no GPU was found and "auto"
    computes on the CPU."""
    code = (
        "import numba.cuda, numpy as np, fastntk as fk\n"
        "if numba.cuda.is_available():\n"
        "    print('a GPU is present')\n"
        "    raise SystemExit\n"
        "X = np.arange(6.0).reshape(3, 2)\n"
        "np.testing.assert_array_equal(fk.gram(fk.NTK(), X, device='auto'), fk.gram(fk.NTK(), X))\n"
        "try:\n"
        "    fk.gram(fk.NTK(), X, device='cuda')\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    result = _run_python(code, NUMBA_ENABLE_CUDASIM="0")
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() == "a GPU is present":
        pytest.skip("this machine has a CUDA GPU")
    assert "device='cuda': no CUDA GPU was found" in result.stdout


def test_a_solver_that_cannot_use_the_gpu_says_so():
    """Nystrom's kernel products run on the CPU: asked for the GPU, it warns (and predicts on
    the GPU); the fit equals the CPU one."""
    y = np.sin(X[:, 0])
    cpu = fk.KernelRegressor(fk.NTK(2), alpha=1e-3, solver="nystrom", n_centers=5, random_state=0)
    gpu = fk.KernelRegressor(
        fk.NTK(2), alpha=1e-3, solver="nystrom", n_centers=5, random_state=0, device="cuda"
    )
    with pytest.warns(fk.backends.DeviceWarning, match="kernel products on the CPU"):
        gpu.fit(X, y)
    np.testing.assert_allclose(gpu.predict(Z), cpu.fit(X, y).predict(Z), rtol=1e-10)


@numba.njit
def _exp_dual(cov12, var1, var2):
    """``Exp(0.5, 0.4)``'s ``T``, as a user would write it for ``Elementwise``."""
    return 0.25 * math.exp(0.16 * (0.5 * (var1 + var2) + cov12))


@numba.njit
def _exp_slope(cov12, var1, var2):
    return 0.04 * math.exp(0.16 * (0.5 * (var1 + var2) + cov12))


def _closed_form_kernels():
    """Each closed-form activation of ``fastntk.activations`` beyond ``cases.ACTIVATIONS``, and
    the standard parameterization, as one NTK (NNGP where the NTK is not defined)."""
    A = fk.activations
    activations = [
        A.Erf(0.7, 1.3, 0.2),
        A.SigmoidLike(),
        A.Gelu(),
        A.Sin(1.2, 0.8, 0.3),
        A.Cos(1.1, 0.9, 0.4),
        A.Rbf(0.7),
        A.Exp(0.5, 0.4),
        A.Gaussian(1.0, -0.8),
        A.Gabor(),
        A.ExpNormalized(),
        A.Polynomial([0.3, -0.5, 0.2, 0.1]),
        A.Monomial(3),
        A.Hermite(3),
        A.RectifiedMonomial(3),
    ]
    kernels = [fk.NTK(2, activation, 1.4, 0.3, frozen=1) for activation in activations]
    kernels += [fk.NNGP(2, A.Sign(), 1.4, 0.3), fk.NNGP(2, A.RectifiedMonomial(0))]
    kernels += [fk.NTK(2, A.Elementwise(None, _exp_dual, _exp_slope), 1.4, 0.3)]
    kernels += [
        fk.NTK(3, "relu", 1.4, 0.3, parameterization="standard", width=64),
        fk.NTK(2, A.Gelu(), 0.8, 0.0, frozen=1, parameterization="standard", width=1000),
    ]
    return kernels


CLOSED_FORM_KERNELS = _closed_form_kernels()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", CLOSED_FORM_KERNELS, ids=repr)
def test_closed_form_activations_match_cpu(kernel, dtype):
    """The duals of the closed-form activations and the standard parameterization compile for
    the GPU from the same declarations and give the CPU's K(X, Z) and K(X, X)."""
    for Z_or_none in (Z, None):
        got = fk.gram(kernel, X, Z_or_none, dtype=dtype, device="cuda")
        expected = fk.gram(kernel, X, Z_or_none, dtype=dtype)
        assert_scaled_close(got, expected, _scale(kernel, X, Z_or_none), RTOL[dtype], repr(kernel))


IMAGES = np.random.default_rng(5).standard_normal((6, 5, 4, 2))
OTHER_IMAGES = np.random.default_rng(6).standard_normal((5, 5, 4, 2))
CONVOLUTIONAL_KERNELS = [
    fk.CNTK(2, 3, "same", "global", "relu", 1.4, 0.3, frozen=1),
    fk.CNTK(2, 3, "circular", "flatten", "erf", 1.0, 0.2),
    fk.CNNGP(1, 3, "valid", "global", "erf", 0.8, 0.0),
    fk.CNTK(1, 3, "valid", "flatten", "relu", 1.2, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", CONVOLUTIONAL_KERNELS, ids=repr)
def test_convolutional_kernels_match_cpu(kernel, dtype):
    """The convolutional recursion runs on the GPU from the same code (one entry per thread,
    its pixel pairs in local scratch); K(X, X) keeps the CPU's exact diagonal."""
    for Z_or_none in (OTHER_IMAGES, None):
        got = fk.gram(kernel, IMAGES, Z_or_none, dtype=dtype, device="cuda")
        expected = fk.gram(kernel, IMAGES, Z_or_none, dtype=dtype)
        assert_scaled_close(got, expected, _scale(kernel, IMAGES, Z_or_none), RTOL[dtype],
                            repr(kernel))  # fmt: skip
    square = fk.gram(kernel, IMAGES, dtype=dtype, device="cuda")
    np.testing.assert_array_equal(np.diag(square), kernel.diag(IMAGES, dtype=dtype))


def test_convolutional_family_matches_cpu():
    family = [fk.CNNGP(1, b_std=0.3), fk.CNTK(2, b_std=0.3), fk.CNTK(2, b_std=0.3, frozen=1)]
    got = fk.gram_many(family, IMAGES, OTHER_IMAGES, device="cuda")
    np.testing.assert_allclose(got, fk.gram_many(family, IMAGES, OTHER_IMAGES), rtol=1e-12)
