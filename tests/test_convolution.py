"""CNNGP and CNTK against the plain NumPy recursion over full pixel-pair arrays
(``naive.convolutional``), and the engine's promises for them: symmetry, exact diagonals, blocks,
families from one pass, float32, ``out=``, estimators and bad input.

The agreement with neural-tangents itself is checked by ``scripts/compare_conv.py
--exactness`` (it needs neural-tangents' own environment)."""

import itertools

import naive
import numpy as np
import pytest
from cases import assert_scaled_close

import fastntk as fk
from fastntk import config

RNG = np.random.default_rng(11)
IMAGES = RNG.standard_normal((4, 6, 5, 2))
OTHER_IMAGES = 1.3 * RNG.standard_normal((3, 6, 5, 2))
OTHER_IMAGES[1] = IMAGES[2]  # a copy: pixel pairs of correlation 1 across inputs
SQUARE = RNG.standard_normal((3, 8, 8, 1))
OTHER_SQUARE = RNG.standard_normal((2, 8, 8, 1))
SIGNALS = RNG.standard_normal((4, 12, 2))
OTHER_SIGNALS = RNG.standard_normal((3, 12, 2))
ACTIVATIONS = {"relu": naive.relu(), "erf": naive.erf()}
SCALES = [(1.0, 0.0), (1.4, 0.3), (0.8, 1.1)]


def _cases():
    """Every padding, readout and activation, with depths, weight scales and frozen layers
    rotating through them; filters of 5 on 8 x 8 images; signals."""
    cases = []
    combinations = itertools.product(("global", "flatten"), ("same", "valid", "circular"),
                                      ACTIVATIONS)  # fmt: skip
    for index, (pooling, padding, activation) in enumerate(combinations):
        depth = 1 if padding == "valid" else 1 + index % 3
        w_std, b_std = SCALES[index % 3]
        cases.append(
            (pooling, padding, activation, depth, 3, w_std, b_std, index % depth, "images")
        )
    for pooling, activation in itertools.product(("global", "flatten"), ACTIVATIONS):
        cases.append((pooling, "same", activation, 2, 5, 1.2, 0.2, 0, "square"))
        cases.append((pooling, "circular", activation, 3, 3, 1.0, 0.5, 1, "signals"))
    cases.append(("global", "same", "relu", 4, 3, 1.0, 0.1, 0, "images"))
    cases.append(("flatten", "valid", "erf", 2, 5, 1.3, 0.4, 1, "signals"))
    return cases


CASES = _cases()
DATA = {
    "images": (IMAGES, OTHER_IMAGES),
    "square": (SQUARE, OTHER_SQUARE),
    "signals": (SIGNALS, OTHER_SIGNALS),
}


def _ids(case):
    pooling, padding, activation, depth, q, w_std, b_std, frozen, data = case
    return f"{pooling}-{padding}-{activation}-L{depth}-q{q}-w{w_std}-b{b_std}-F{frozen}-{data}"


def _relative_error(actual, expected):
    return np.abs(actual - expected).max() / np.abs(expected).max()


@pytest.mark.parametrize("case", CASES, ids=[_ids(case) for case in CASES])
def test_matches_the_numpy_reference(case):
    """K(X, Z) and K(X, X) of the CNTK and the CNNGP, against the full pixel-pair recursion."""
    pooling, padding, activation, depth, q, w_std, b_std, frozen, data = case
    X, Z = DATA[data]
    shared = dict(depth=depth, filter_size=q, padding=padding, pooling=pooling, w_std=w_std,
                  b_std=b_std)  # fmt: skip
    ntk = fk.CNTK(activation=activation, frozen=frozen, **shared)
    nngp = fk.CNNGP(activation=activation, **shared)
    reference = ACTIVATIONS[activation]
    for Z_ in (Z, None):
        expected_nngp, expected_ntk = naive.convolutional(
            X, Z_, activation=reference, frozen=frozen, **shared
        )
        assert _relative_error(fk.gram(ntk, X, Z_), expected_ntk) < 1e-13
        assert _relative_error(fk.gram(nngp, X, Z_), expected_nngp) < 1e-13
    np.testing.assert_allclose(ntk.diag(X), np.diag(expected_ntk), rtol=1e-13)


def test_real_digits_match_the_reference():
    """Digits have zero pixels (zero variances at the corners, without biases)."""
    X = fk.datasets.load_digits().X[:5]
    for pooling in ("global", "flatten"):
        kernel = fk.CNTK(depth=3, pooling=pooling)
        _, expected = naive.convolutional(X, None, depth=3, pooling=pooling)
        assert _relative_error(fk.gram(kernel, X), expected) < 1e-13


@pytest.mark.parametrize("pooling", ["global", "flatten"])
def test_symmetric_exact_and_blockwise(pooling):
    """With 3 x 3 tiles: K(X, X) exactly symmetric, its diagonal ``diag``'s, every block of
    ``gram_block`` bit-identical to the same block of ``gram``, K(X, Z) the blocks of
    K([X; Z])."""
    X = np.concatenate([IMAGES, OTHER_IMAGES, IMAGES[:1] * 2.0])
    kernel = fk.CNTK(depth=2, pooling=pooling, b_std=0.2)
    with config.override(tile_size=3):
        K = fk.gram(kernel, X)
        np.testing.assert_array_equal(K, K.T)
        np.testing.assert_array_equal(np.diag(K), kernel.diag(X))
        for rows, columns in [((0, 4), (2, 8)), ((5, 8), (0, 3)), ((3, 7), (3, 7))]:
            block = fk.gram_block(kernel, X, rows=rows, columns=columns)
            np.testing.assert_array_equal(block, K[slice(*rows), slice(*columns)])
        rectangular = fk.gram(kernel, X[:4], X[4:])
    assert_scaled_close(rectangular, K[:4, 4:], 1.0, 1e-14, "K(X, Z)")
    eigenvalues = np.linalg.eigvalsh(K)
    assert eigenvalues.min() >= -1e-12 * eigenvalues.sum()


def test_gram_many_computes_a_family_in_one_pass():
    kernels = [
        fk.CNNGP(depth=1, b_std=0.3),
        fk.CNTK(depth=3, b_std=0.3),
        fk.CNTK(depth=3, b_std=0.3, frozen=2),
        fk.CNTK(depth=2, b_std=0.3, frozen=1),
        fk.CNNGP(depth=3, b_std=0.3),
    ]
    for pooling in ("global", "flatten"):
        family = [type(k)(**{**k.__dict__, "pooling": pooling}) for k in kernels]
        stacked = fk.gram_many(family, IMAGES, OTHER_IMAGES)
        assert stacked.shape == (5, 4, 3)
        for kernel, matrix in zip(family, stacked, strict=True):
            assert_scaled_close(matrix, fk.gram(kernel, IMAGES, OTHER_IMAGES), 1.0, 1e-14)
    with pytest.raises(ValueError, match="must share"):
        fk.gram_many([fk.CNTK(pooling="global"), fk.CNTK(pooling="flatten")], IMAGES)
    with pytest.raises(TypeError, match="CNNGP and CNTK"):
        fk.gram_many([fk.CNTK(), fk.NTK()], IMAGES)


@pytest.mark.parametrize("pooling", ["global", "flatten"])
def test_float32_agrees_with_float64(pooling):
    kernel = fk.CNTK(depth=3, pooling=pooling, activation="erf", b_std=0.1)
    single = fk.gram(kernel, IMAGES, OTHER_IMAGES, dtype=np.float32)
    assert single.dtype == np.float32
    double = fk.gram(kernel, IMAGES, OTHER_IMAGES)
    scale = np.sqrt(np.outer(kernel.diag(IMAGES), kernel.diag(OTHER_IMAGES)))
    assert_scaled_close(single, double, scale, 1e-5, "float32")


def test_out_memmap_and_progress(tmp_path):
    kernel = fk.CNTK(depth=2)
    expected = fk.gram(kernel, IMAGES)
    out = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", shape=(4, 4))
    assert fk.gram(kernel, IMAGES, out=out, progress=True) is out
    np.testing.assert_array_equal(out, expected)
    fortran = np.empty((4, 3), order="F")  # filled as K(Z, X).T: the pairs' roles swap
    fk.gram(kernel, IMAGES, OTHER_IMAGES, out=fortran)
    assert_scaled_close(fortran, fk.gram(kernel, IMAGES, OTHER_IMAGES), 1.0, 1e-14, "F order")


def test_estimators_take_images():
    """A classifier on images equals the dual solve with the Gram matrices; the CV estimator
    chooses among a depth family (one pass); predict checks the input shape."""
    digits = fk.datasets.load_digits()
    X, y = digits.X[:60], digits.y[:60]
    kernel = fk.CNTK(depth=2, pooling="flatten")
    model = fk.KernelRegressor(kernel=kernel, alpha=1e-3).fit(X[:40], y[:40])
    K = fk.gram(kernel, X[:40])
    coefficients = np.linalg.solve(K + 1e-3 * np.eye(40), y[:40])
    np.testing.assert_allclose(
        model.predict(X[40:]), fk.gram(kernel, X[40:], X[:40]) @ coefficients, rtol=1e-8, atol=1e-8
    )
    assert model.input_shape_ == (8, 8, 1)
    np.testing.assert_allclose(model.predict(X[40:].reshape(20, -1)), model.predict(X[40:]))
    with pytest.raises(ValueError, match="fitted on inputs of shape"):
        model.predict(X[40:, :7])
    classifier = fk.KernelClassifier(kernel=fk.CNTK(depth=2), alpha=1e-3).fit(X[:40], y[:40])
    assert classifier.score(X[40:], y[40:]) > 0.7
    family = [fk.CNTK(depth=d, pooling="flatten") for d in (1, 2, 3)]
    search = fk.KernelClassifierCV(kernels=family, alphas=[1e-3, 1e-1]).fit(X[:40], y[:40])
    assert search.regressor_.best_kernel_ in family
    assert search.predict(X[40:]).shape == (20,)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fk.gram(fk.CNTK(), IMAGES.reshape(4, -1)), ValueError, "takes images"),
        (lambda: fk.gram(fk.CNTK(), IMAGES[None]), ValueError, "dimensions"),
        (lambda: fk.gram(fk.CNTK(), IMAGES, IMAGES[..., :1]), ValueError, "same image size and"),
        (lambda: fk.gram(fk.CNTK(), IMAGES, IMAGES[:, :5]), ValueError, "same image size and"),
        (lambda: fk.gram(fk.CNTK(), IMAGES, SIGNALS), ValueError, "same image size and"),
        (lambda: fk.gram(fk.CNTK(depth=3, padding="valid"), IMAGES), ValueError, "at least 7"),
        (lambda: fk.CNTK(filter_size=4), ValueError, "must be odd"),
        (lambda: fk.CNTK(padding="reflect"), ValueError, "padding must be one of"),
        (lambda: fk.CNTK(pooling="max"), ValueError, "pooling must be one of"),
        (lambda: fk.CNTK(depth=2, frozen=3), ValueError, "frozen"),
        (lambda: fk.CNTK(activation="sign"), ValueError, "not defined"),
        (lambda: fk.gram(fk.CNTK(), np.full((2, 4, 4, 1), np.nan)), ValueError, "NaN"),
        (lambda: fk.gram(fk.CNTK(), np.zeros((2, 256, 256, 1))), MemoryError, "GiB"),
        (
            lambda: fk.gram(fk.CNTK(pooling="flatten"), np.zeros((3_000_000, 2, 2, 1))),
            MemoryError,
            "GiB",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
