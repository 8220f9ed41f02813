"""Every kernel against the plain NumPy reference (``naive``), and the Gram engine's options.

Entries are compared relative to their natural scale ``sqrt(K(x, x) K(z, z))`` (see
``cases.Case.scale``): an entry near 0 has no relative accuracy of its own.
"""

import dataclasses

import naive
import numpy as np
import pytest
from cases import (
    ACTIVATIONS,
    ALL_CASES,
    CLASSIC_CASES,
    FAMILY_CASES,
    MEDIUM_CASES,
    REPRESENTATIVE_CASES,
    WEIGHT_SCALES,
    assert_scaled_close,
    ids,
    network_case,
)

import fastntk as fk
import fastntk.config

OFF_DIAGONAL_RTOL = 1e-10
DIAGONAL_RTOL = 1e-14
FLOAT32_RTOL = 1e-4
#: Near-parallel pairs (first-layer |cosine| > 1 - 1e-3 ... see cases.py): arccos amplifies a
#: rounding delta of the cosine to sqrt(2 delta) ~ 1.5e-8 in the angle, per layer.
ILL_CONDITIONED_RTOL = 1e-6
ILL_CONDITIONED_COSINE = 0.999


def random_inputs(seed, n, d=4, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((n, d))


X = random_inputs(0, 9)
Z = random_inputs(1, 6, scale=1.5)
OFF_DIAGONAL = ~np.eye(X.shape[0], dtype=bool)


def cosine_aware_rtol(case, X, Z=None, rtol=OFF_DIAGONAL_RTOL):
    """``rtol`` for well-conditioned entries, ``ILL_CONDITIONED_RTOL`` for near-parallel ones."""
    near_parallel = np.abs(case.cosine(X, Z)) > ILL_CONDITIONED_COSINE
    return np.where(near_parallel, max(rtol, ILL_CONDITIONED_RTOL), rtol)


# --- agreement with the reference ---------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_gram_matches_reference(case):
    """Off-diagonal entries of K(X, X) and all of K(X, Z) to 1e-10 of their scale; the diagonal
    of K(X, X) and ``kernel.diag`` exactly (1e-14) against the closed form at angle 0."""
    K = case.kernel(X)
    assert K.shape == (9, 9) and K.dtype == np.float64
    assert_scaled_close(
        K[OFF_DIAGONAL],
        case.reference(X)[OFF_DIAGONAL],
        case.scale(X)[OFF_DIAGONAL],
        OFF_DIAGONAL_RTOL,
        "K(X, X) off-diagonal",
    )
    K_rectangular = case.kernel(X, Z)
    assert K_rectangular.shape == (9, 6)
    assert_scaled_close(
        K_rectangular, case.reference(X, Z), case.scale(X, Z), OFF_DIAGONAL_RTOL, "K(X, Z)"
    )
    expected_diagonal = case.reference_diag(X)
    diagonal_scale = np.diag(case.scale(X))
    assert_scaled_close(
        np.diag(K), expected_diagonal, diagonal_scale, DIAGONAL_RTOL, "K(X, X) diagonal"
    )
    diagonal = case.kernel.diag(X)
    assert diagonal.shape == (9,)
    assert_scaled_close(diagonal, expected_diagonal, diagonal_scale, DIAGONAL_RTOL, "diag(X)")


@pytest.mark.parametrize("case", MEDIUM_CASES, ids=ids(MEDIUM_CASES))
def test_float32_close_to_float64(case):
    K32 = case.kernel(X, dtype=np.float32)
    K32_rectangular = fk.gram(case.kernel, X, Z, dtype=np.float32)
    assert K32.dtype == np.float32 and K32_rectangular.dtype == np.float32
    assert_scaled_close(K32, case.symmetric_reference(X), case.scale(X), FLOAT32_RTOL, "K(X, X)")
    assert_scaled_close(
        K32_rectangular, case.reference(X, Z), case.scale(X, Z), FLOAT32_RTOL, "K(X, Z)"
    )
    diagonal32 = case.kernel.diag(X, dtype=np.float32)
    assert diagonal32.dtype == np.float32
    assert_scaled_close(
        diagonal32, case.reference_diag(X), np.diag(case.scale(X)), FLOAT32_RTOL, "diag"
    )


@pytest.mark.parametrize("case", FAMILY_CASES, ids=ids(FAMILY_CASES))
def test_float32_input_array_is_computed_in_float64_by_default(case):
    X32 = X.astype(np.float32)
    K = case.kernel(X32)
    assert K.dtype == np.float64
    np.testing.assert_array_equal(K, case.kernel(X32.astype(np.float64)))


@pytest.mark.parametrize("case", FAMILY_CASES, ids=ids(FAMILY_CASES))
def test_gram_function_equals_calling_the_kernel(case):
    np.testing.assert_array_equal(fk.gram(case.kernel, X), case.kernel(X))
    np.testing.assert_array_equal(fk.gram(case.kernel, X, Z), case.kernel(X, Z))
    np.testing.assert_array_equal(fk.diag(case.kernel, X), case.kernel.diag(X))


@pytest.mark.parametrize("case", REPRESENTATIVE_CASES, ids=ids(REPRESENTATIVE_CASES))
def test_symmetric_gram_is_exactly_symmetric(case):
    K = case.kernel(random_inputs(2, 30, d=3))
    np.testing.assert_array_equal(K, K.T)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=ids(FAMILY_CASES))
def test_swapping_arguments_transposes(case):
    assert_scaled_close(case.kernel(Z, X).T, case.kernel(X, Z), case.scale(X, Z), 1e-13)


def nearly_parallel_pairs():
    """Rows and their copies turned or stretched by 1e-5 to 1e-3: angles where arccos is
    ill-conditioned but still resolvable in float64."""
    base = random_inputs(8, 4, d=3)
    Xn = np.vstack([base, [[-1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]])
    Zn = np.vstack(
        [base * (1 + 1e-5), base + 1e-4 * random_inputs(9, 4, d=3), [[-0.99999, 1e-5, 0.0]]]
    )
    return Xn, Zn


@pytest.mark.parametrize("case", REPRESENTATIVE_CASES, ids=ids(REPRESENTATIVE_CASES))
def test_swapping_arguments_of_nearly_parallel_rows(case):
    """k(x, z) = k(z, x): the engine must not give the two orders different roundings of the
    cosine, which near +-1 arccos turns into differences of ~1e-12 .. 1e-8."""
    Xn, Zn = nearly_parallel_pairs()
    assert_scaled_close(case.kernel(Zn, Xn).T, case.kernel(Xn, Zn), case.scale(Xn, Zn), 1e-12)


@pytest.mark.parametrize("case", FAMILY_CASES, ids=ids(FAMILY_CASES))
def test_passing_x_as_z_gives_the_symmetric_gram(case):
    np.testing.assert_array_equal(case.kernel(X, X), case.kernel(X))


# --- inputs of other types ------------------------------------------------------------------------


@pytest.mark.parametrize("case", REPRESENTATIVE_CASES, ids=ids(REPRESENTATIVE_CASES))
def test_integer_and_boolean_input_accepted(case):
    rng = np.random.default_rng(3)
    X_int = rng.integers(-3, 4, size=(7, 3))
    Z_int = rng.integers(-3, 4, size=(5, 3)).astype(np.int32)
    np.testing.assert_array_equal(case.kernel(X_int), case.kernel(X_int.astype(np.float64)))
    np.testing.assert_array_equal(
        case.kernel(X_int, Z_int), case.kernel(X_int.astype(float), Z_int.astype(float))
    )
    X_bool = rng.integers(0, 2, size=(6, 3)).astype(bool)
    np.testing.assert_array_equal(case.kernel(X_bool), case.kernel(X_bool.astype(np.float64)))


def test_nested_lists_accepted():
    rows = [[1, 2.5, 0], [0.5, -1, 2]]
    np.testing.assert_array_equal(fk.NTK(depth=2)(rows), fk.NTK(depth=2)(np.array(rows)))


# --- out= -----------------------------------------------------------------------------------------

OUT_CASES = [CLASSIC_CASES[0], CLASSIC_CASES[12], network_case("ntk", 2, "relu", 1.4, 0.3, 1)]
OUT_CASES += [network_case("nngp", 2, "erf"), network_case("ntk", 3, "abs", 0.8, 1.1)]


@pytest.mark.parametrize("case", OUT_CASES, ids=ids(OUT_CASES))
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("rectangular", [False, True], ids=["K(X,X)", "K(X,Z)"])
def test_out_is_filled_and_returned(case, order, rectangular):
    args = (X, Z) if rectangular else (X,)
    expected = case.kernel(*args)
    out = np.full(expected.shape, np.nan, order=order)
    result = case.kernel(*args, out=out)
    assert result is out
    assert out.flags.f_contiguous == (order == "F")
    assert_scaled_close(out, expected, case.scale(*args), 1e-13)
    if not rectangular:
        np.testing.assert_array_equal(out, out.T)


@pytest.mark.parametrize("case", OUT_CASES, ids=ids(OUT_CASES))
@pytest.mark.parametrize("order", ["C", "F"])
def test_out_float32_sets_the_computation_dtype(case, order):
    out = np.empty((9, 6), dtype=np.float32, order=order)
    result = fk.gram(case.kernel, X, Z, out=out)
    assert result is out
    assert_scaled_close(out, case.kernel(X, Z), case.scale(X, Z), FLOAT32_RTOL)


@pytest.mark.parametrize("case", OUT_CASES, ids=ids(OUT_CASES))
@pytest.mark.parametrize("order", ["C", "F"])
def test_out_memmap_written_to_disk(case, order, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNTK_TILE_SIZE", str(4))
    path = tmp_path / "gram.dat"
    out = np.memmap(path, dtype=np.float64, mode="w+", shape=(9, 6), order=order)
    result = case.kernel(X, Z, out=out)
    assert result is out
    out.flush()
    expected = case.kernel(X, Z)
    on_disk = np.memmap(path, dtype=np.float64, mode="r", shape=(9, 6), order=order)
    assert_scaled_close(np.asarray(on_disk), expected, case.scale(X, Z), 1e-13)
    symmetric_path = tmp_path / "symmetric.dat"
    out = np.memmap(symmetric_path, dtype=np.float64, mode="w+", shape=(9, 9), order=order)
    case.kernel(X, out=out)
    out.flush()
    on_disk = np.memmap(symmetric_path, dtype=np.float64, mode="r", shape=(9, 9), order=order)
    assert_scaled_close(np.asarray(on_disk), case.kernel(X), case.scale(X), 1e-13)


# --- gram_many and frozen layers ------------------------------------------------------------------


def sweep(activation, w_std, b_std):
    """A depth and frozen sweep in a deliberately unsorted order, with a repeat."""
    kernels = [
        fk.NTK(4, activation, w_std, b_std, frozen=4),
        fk.NNGP(1, activation, w_std, b_std),
        fk.NTK(2, activation, w_std, b_std, frozen=2),
        fk.NNGP(3, activation, w_std, b_std),
        fk.NTK(1, activation, w_std, b_std, frozen=1),
        fk.NNGP(1, activation, w_std, b_std),
    ]
    if activation != "step":  # the step activation has no NTK: only frozen = depth
        kernels += [
            fk.NTK(4, activation, w_std, b_std, frozen=3),
            fk.NTK(3, activation, w_std, b_std, frozen=1),
            fk.NTK(1, activation, w_std, b_std),
            fk.NTK(4, activation, w_std, b_std, frozen=0),
            fk.NTK(2, activation, w_std, b_std, frozen=1),
            fk.NTK(4, activation, w_std, b_std, frozen=1),
        ]
    return kernels


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=[str(a) for a in ACTIVATIONS])
@pytest.mark.parametrize("w_std, b_std", WEIGHT_SCALES[:2])
@pytest.mark.parametrize("rectangular", [False, True], ids=["K(X,X)", "K(X,Z)"])
def test_gram_many_equals_separate_grams(activation, w_std, b_std, rectangular):
    kernels = sweep(activation, w_std, b_std)
    args = (X, Z) if rectangular else (X,)
    stacked = fk.gram_many(kernels, *args)
    assert stacked.shape == (len(kernels),) + fk.gram(kernels[0], *args).shape
    for index, kernel in enumerate(kernels):
        separate = kernel(*args)
        scale = np.sqrt(np.outer(np.abs(kernel.diag(args[0])), np.abs(kernel.diag(args[-1]))))
        assert_scaled_close(stacked[index], separate, scale, 1e-14, repr(kernel))


def test_gram_many_float32_and_out():
    kernels = sweep("relu", 1.4, 0.3)
    out = np.empty((len(kernels), 9, 6), dtype=np.float32)
    result = fk.gram_many(kernels, X, Z, out=out)
    assert result is out
    for index, kernel in enumerate(kernels):
        np.testing.assert_allclose(out[index], kernel(X, Z), rtol=1e-4, atol=1e-4)


def test_gram_many_single_kernel():
    kernel = fk.NTK(3, "erf", 1.2, 0.4, frozen=1)
    np.testing.assert_allclose(fk.gram_many([kernel], X)[0], kernel(X), rtol=1e-14, atol=0)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=[str(a) for a in ACTIVATIONS])
@pytest.mark.parametrize("w_std, b_std", WEIGHT_SCALES[1:])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_nngp_equals_ntk_with_every_layer_frozen(activation, w_std, b_std, depth):
    nngp = fk.NNGP(depth, activation, w_std, b_std)
    ntk = fk.NTK(depth, activation, w_std, b_std, frozen=depth)
    np.testing.assert_array_equal(nngp(X), ntk(X))
    np.testing.assert_array_equal(nngp(X, Z), ntk(X, Z))
    np.testing.assert_array_equal(nngp.diag(X), ntk.diag(X))


@pytest.mark.parametrize("w_std, b_std", WEIGHT_SCALES)
def test_frozen_layers_only_remove_positive_terms(w_std, b_std):
    """Theta_{D,F} = sum_{h>F} Sigma_h prod Sdot: for relu every term is >= 0 on the diagonal,
    so freezing more layers can only lower the diagonal, down to the NNGP at F = D."""
    diagonals = [fk.NTK(4, "relu", w_std, b_std, frozen=f).diag(X) for f in range(5)]
    for more_frozen, fewer_frozen in zip(diagonals[1:], diagonals[:-1], strict=True):
        assert np.all(more_frozen < fewer_frozen)
    np.testing.assert_array_equal(diagonals[-1], fk.NNGP(4, "relu", w_std, b_std).diag(X))


# --- kernel objects -------------------------------------------------------------------------------


def test_kernels_equal_by_parameters_and_hash_alike():
    assert fk.NTK(depth=2, activation="relu") == fk.NTK(depth=2, activation=fk.ReLU())
    assert hash(fk.NTK(depth=2, activation="relu")) == hash(fk.NTK(2, fk.ReLU(), 1.0, 0.0, 0))
    assert fk.NNGP(2, "leaky_relu") == fk.NNGP(2, fk.LeakyReLU())
    assert fk.NNGP(2, fk.LeakyReLU(0.1)) != fk.NNGP(2, fk.LeakyReLU(0.2))
    assert fk.NTK(2, "relu") != fk.NTK(2, "relu", frozen=1)
    assert fk.NTK(2, "relu") != fk.NTK(3, "relu")
    assert fk.NTK(2, "relu", b_std=0.1) != fk.NTK(2, "relu")
    assert fk.NTK(1, "relu") != fk.NNGP(1, "relu")
    assert fk.Gaussian(1.0) == fk.Gaussian(1) and hash(fk.Gaussian(1.0)) == hash(fk.Gaussian(1))
    assert fk.Gaussian(1.0) != fk.Laplacian(1.0)
    assert fk.Polynomial() == fk.Polynomial(3, None, 1.0)
    assert fk.Polynomial(gamma=0.5) != fk.Polynomial()
    assert fk.ArcCosine(0) != fk.ArcCosine(1)
    assert fk.Linear() == fk.Linear(0.0) != fk.Linear(1.0)
    cache = {fk.NTK(2, "erf"): "a", fk.Gaussian(2.0): "b"}
    assert cache[fk.NTK(2, fk.Erf())] == "a" and cache[fk.Gaussian(2)] == "b"


@pytest.mark.parametrize(
    "kernel, fragments",
    [
        (
            fk.NTK(3, "erf", 1.5, 0.25, frozen=2),
            ["NTK", "depth=3", "Erf", "1.5", "0.25", "frozen=2"],
        ),
        (fk.NNGP(2, fk.LeakyReLU(0.3)), ["NNGP", "depth=2", "LeakyReLU", "0.3"]),
        (fk.NNGP(1, fk.ABReLU(-0.5, 2.0)), ["ABReLU", "-0.5", "2.0"]),
        (fk.Polynomial(4, 0.5, 2.0), ["Polynomial", "degree=4", "0.5", "2.0"]),
        (fk.Polynomial(), ["gamma=None"]),
        (fk.Gaussian(0.3), ["Gaussian", "0.3"]),
        (fk.Laplacian(7.0), ["Laplacian", "7.0"]),
        (fk.ArcCosine(2), ["ArcCosine", "2"]),
        (fk.Linear(1.25), ["Linear", "1.25"]),
    ],
)
def test_repr_shows_the_parameters(kernel, fragments):
    text = repr(kernel)
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("kernel", [fk.NTK(2), fk.Gaussian(1.0), fk.Polynomial(), fk.ReLU()])
def test_kernels_are_immutable(kernel):
    field = dataclasses.fields(kernel)[0].name if dataclasses.fields(kernel) else "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(kernel, field, 5)


def test_activation_names_resolve_to_objects():
    for name, cls in [
        ("relu", fk.ReLU),
        ("leaky_relu", fk.LeakyReLU),
        ("abs", fk.Abs),
        ("erf", fk.Erf),
        ("identity", fk.Identity),
        ("step", fk.Step),
    ]:
        assert isinstance(fk.NNGP(1, name).activation, cls)


# --- tiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FAMILY_CASES, ids=ids(FAMILY_CASES))
@pytest.mark.parametrize("tile", [3, 7])
@pytest.mark.parametrize("n", [1, 2, 10, 17])
def test_many_small_tiles(case, tile, n, monkeypatch):
    Xn = random_inputs(10 + n, n, d=3)
    Zn = random_inputs(20 + n, n + 4, d=3)
    untiled_symmetric = case.kernel(Xn)
    untiled_rectangular = case.kernel(Xn, Zn)
    monkeypatch.setenv("FASTNTK_TILE_SIZE", str(tile))
    K = case.kernel(Xn)
    np.testing.assert_array_equal(K, K.T)
    off = ~np.eye(n, dtype=bool)
    assert_scaled_close(
        K[off],
        case.reference(Xn)[off],
        case.scale(Xn)[off],
        cosine_aware_rtol(case, Xn)[off],
        "K(X, X) off-diagonal",
    )
    assert_scaled_close(
        np.diag(K), case.reference_diag(Xn), np.diag(case.scale(Xn)), DIAGONAL_RTOL, "diagonal"
    )
    assert_scaled_close(K, untiled_symmetric, case.scale(Xn), 1e-13, "tiled vs untiled")
    K_rectangular = case.kernel(Xn, Zn)
    assert_scaled_close(
        K_rectangular,
        case.reference(Xn, Zn),
        case.scale(Xn, Zn),
        cosine_aware_rtol(case, Xn, Zn),
        "K(X, Z)",
    )
    assert_scaled_close(K_rectangular, untiled_rectangular, case.scale(Xn, Zn), 1e-13)
    out = np.empty((n, n + 4), order="F")
    case.kernel(Xn, Zn, out=out)
    assert_scaled_close(out, untiled_rectangular, case.scale(Xn, Zn), 1e-13, "F-ordered out")


@pytest.mark.parametrize("tile", [3, 7])
def test_many_small_tiles_gram_many(tile, monkeypatch):
    kernels = sweep("erf", 1.4, 0.3)
    Xn = random_inputs(4, 17, d=3)
    expected = [kernel(Xn) for kernel in kernels]
    monkeypatch.setenv("FASTNTK_TILE_SIZE", str(tile))
    stacked = fk.gram_many(kernels, Xn)
    for index, kernel in enumerate(kernels):
        scale = np.sqrt(np.outer(kernel.diag(Xn), kernel.diag(Xn)))
        assert_scaled_close(stacked[index], expected[index], scale, 1e-13, repr(kernel))


# --- degenerate rows ------------------------------------------------------------------------------


def degenerate_inputs():
    """Zero rows, duplicated rows, a row and its negative and its multiple, among random rows."""
    rows = random_inputs(5, 6, d=3)
    return np.vstack([rows[:3], np.zeros((2, 3)), rows[:2], -rows[3:4], 2.5 * rows[4:5], rows[3:]])


DUPLICATE_PAIRS = [(0, 5), (1, 6)]


@pytest.mark.parametrize("case", MEDIUM_CASES, ids=ids(MEDIUM_CASES))
def test_zero_and_duplicate_rows_give_finite_correct_values(case):
    Xd = degenerate_inputs()
    for dtype in (np.float64, np.float32):
        K = case.kernel(Xd, dtype=dtype)
        assert np.isfinite(K).all(), (
            f"{dtype.__name__}: non-finite entries at {np.argwhere(~np.isfinite(K))}"
        )
        assert np.isfinite(case.kernel(Xd, Z[:, :3], dtype=dtype)).all()
        assert np.isfinite(case.kernel.diag(Xd, dtype=dtype)).all()
    K = case.kernel(Xd)
    off = ~np.eye(len(Xd), dtype=bool)
    assert_scaled_close(
        K[off],
        case.reference(Xd)[off],
        case.scale(Xd)[off],
        cosine_aware_rtol(case, Xd)[off],
        "off-diagonal",
    )
    assert_scaled_close(
        np.diag(K), case.reference_diag(Xd), np.diag(case.scale(Xd)), DIAGONAL_RTOL, "diagonal"
    )
    scale = case.scale(Xd)
    for i, j in DUPLICATE_PAIRS:
        assert_scaled_close(
            K[i, j], K[i, i], scale[i, i], ILL_CONDITIONED_RTOL, f"duplicate {i},{j}"
        )
    others = [k for k in range(len(Xd)) if k not in (3, 4)]
    assert_scaled_close(K[3, others], K[4, others], scale[3, others], 0.0, "two zero rows")
    assert_scaled_close(K[3, 4], K[3, 3], scale[3, 3], ILL_CONDITIONED_RTOL, "two zero rows")


#: Kernels of positively homogeneous activations (w_std = 1, b_std = 0), for which parallel
#: inputs have K(x, z) = sqrt(K(x, x) K(z, z)) exactly: every layer sees cosine exactly 1.
PARALLEL_CASES = [
    network_case("ntk", 1, "relu"),
    network_case("ntk", 2, "relu"),
    network_case("ntk", 3, "relu"),
    network_case("nngp", 3, "relu"),
    network_case("nngp", 1, "step"),
    network_case("ntk", 2, "abs"),
    network_case("ntk", 3, fk.LeakyReLU(0.2)),
    CLASSIC_CASES[14],  # ArcCosine(0)
    CLASSIC_CASES[15],  # ArcCosine(1)
]


@pytest.mark.parametrize("case", PARALLEL_CASES, ids=ids(PARALLEL_CASES))
def test_parallel_inputs_get_exact_angles(case):
    """With d = 1 every pair of inputs is parallel or antiparallel (angle exactly 0 or pi).
    Parallel pairs: by homogeneity K(x, z) = sqrt(K(x, x) K(z, z)) (so also for abs, which
    cannot tell z from -z). Antiparallel pairs: the reference is exact there (arccos(-1) = pi
    exactly, and the next layer's covariance is exactly 0). A cosine rounded to 1 - 1 ulp
    instead of 1 gives arccos = 1.5e-8 instead of 0: a 1e-8 error."""
    X1 = np.array([[3.0], [5.0], [-7.0], [6.0], [-1.0], [11.0], [9.0], [-2.0]])  # exact products
    diagonal = case.reference_diag(X1)
    same_sign = np.outer(X1[:, 0], X1[:, 0]) > 0
    if isinstance(getattr(case.kernel, "activation", None), fk.Abs):
        same_sign[:] = True
    expected = np.where(same_sign, np.sqrt(np.outer(diagonal, diagonal)), case.reference(X1))
    off = ~np.eye(len(X1), dtype=bool)
    for K in (case.kernel(X1), case.kernel(X1, X1.copy())):
        assert_scaled_close(K[off], expected[off], case.scale(X1)[off], OFF_DIAGONAL_RTOL, case.id)


# --- very deep networks ---------------------------------------------------------------------------


def test_depth_2000_relu_w_std_1_decays_to_finite_values():
    """Each relu layer halves the diagonal (w_std = 1): 2^-2000 underflows to 0, and nothing
    may become NaN on the way; the reference underflows the same way."""
    Xd = degenerate_inputs()
    for kernel in (fk.NNGP(2000, "relu"), fk.NTK(2000, "relu")):
        K = kernel(Xd)
        assert np.isfinite(K).all()
        assert np.all(K >= 0)
        assert np.isfinite(kernel(Xd, Z[:, :3])).all()
    K = fk.NTK(2000, "relu")(Xd)
    assert np.max(K) < 1e-300


def test_depth_2000_relu_he_scaling_matches_reference():
    """w_std = sqrt(2) keeps Sigma_l(x, x) constant: NTK diag = (depth + 1) Sigma_1(x, x);
    deep layers push every correlation towards 1, where arccos is ill-conditioned: 1e-8."""
    w_std = np.sqrt(2.0)
    Xd = random_inputs(6, 5, d=3)
    kernel = fk.NTK(2000, "relu", w_std=w_std)
    K = kernel(Xd)
    expected = naive.ntk(Xd, depth=2000, activation=naive.relu(), w_std=w_std)
    scale = np.sqrt(np.outer(np.diag(K), np.diag(K)))
    off = ~np.eye(len(Xd), dtype=bool)
    assert_scaled_close(K[off], expected[off], scale[off], 1e-8, "off-diagonal")
    sigma_1 = w_std**2 * np.sum(Xd**2, axis=1) / 3
    np.testing.assert_allclose(np.diag(K), 2001 * sigma_1, rtol=1e-12)
    np.testing.assert_allclose(kernel.diag(Xd), 2001 * sigma_1, rtol=1e-12)
    stacked = fk.gram_many([fk.NNGP(2000, "relu", w_std), kernel, fk.NTK(5, "relu", w_std)], Xd)
    assert_scaled_close(stacked[1], K, scale, 1e-14)


@pytest.mark.parametrize(
    "kernel, dtype",
    [
        (fk.NNGP(2000, "relu", w_std=2.0), np.float64),  # Sigma_l(x, x) doubles per layer
        (fk.NTK(2000, "relu", w_std=2.0), np.float64),
        (fk.NTK(300, "relu", w_std=2.0, b_std=0.5, frozen=100), np.float32),
        (fk.Polynomial(degree=400, gamma=10.0), np.float64),
    ],
)
def test_overflowing_depth_raises_or_stays_finite(kernel, dtype):
    """A diagonal that overflows must give a clear error, or else finite values: never inf/NaN."""
    Xd = random_inputs(7, 5, d=3)
    for what, compute in [
        ("K(X, X)", lambda: kernel(Xd, dtype=dtype)),
        ("K(X, Z)", lambda: kernel(Xd, Z[:, :3], dtype=dtype)),
        ("diag", lambda: kernel.diag(Xd, dtype=dtype)),
    ]:
        try:
            values = compute()
        except (ValueError, OverflowError, FloatingPointError) as error:
            assert "overflow" in str(error).lower(), f"{what}: unclear error {error!r}"
        else:
            assert np.isfinite(values).all(), f"{what}: {np.sum(~np.isfinite(values))} non-finite"


# --- small inputs ---------------------------------------------------------------------------------

SMALL_INPUT_CASES = [
    network_case("nngp", 1, "erf"),
    network_case("ntk", 2, "erf"),
    network_case("ntk", 3, "erf", 1.4, 0.0, frozen=1),
    network_case("ntk", 2, "relu"),
    CLASSIC_CASES[15],  # ArcCosine(1)
]


@pytest.mark.parametrize("case", SMALL_INPUT_CASES, ids=ids(SMALL_INPUT_CASES))
@pytest.mark.parametrize("size", [1e-2, 1e-4])
def test_small_inputs_keep_relative_accuracy(case, size):
    """Kernels scale smoothly to 0 with the input (erf(u) ~ 2u/sqrt(pi)): inputs of size 1e-2
    or 1e-4 must keep the same relative accuracy as inputs of size 1. A formula with
    cancellation (e.g. asin(r) as pi/2 - acos(r)) loses about -log10(size^2) digits."""
    Xs = size * X
    Zs = size * Z
    K = case.kernel(Xs)
    assert_scaled_close(
        K[OFF_DIAGONAL],
        case.reference(Xs)[OFF_DIAGONAL],
        case.scale(Xs)[OFF_DIAGONAL],
        OFF_DIAGONAL_RTOL,
        "K(X, X) off-diagonal",
    )
    assert_scaled_close(
        np.diag(K), case.reference_diag(Xs), np.diag(case.scale(Xs)), DIAGONAL_RTOL, "diagonal"
    )
    assert_scaled_close(
        case.kernel(Xs, Zs, dtype=np.float32),
        case.reference(Xs, Zs),
        case.scale(Xs, Zs),
        FLOAT32_RTOL,
        "float32 K(X, Z)",
    )
