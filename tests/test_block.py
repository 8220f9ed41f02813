"""``gram_block``: any block of ``K(X, Z)`` or of the symmetric ``K(X, X)`` is bit-identical to
the same block of ``gram``, exact diagonal included, on the CPU and on the CUDA simulator."""

import numpy as np
import pytest

import fastntk as fk

KERNELS = [
    fk.NTK(depth=3, b_std=0.2, frozen=1),
    fk.NNGP(depth=2, activation="erf", w_std=1.3),
    fk.ArcCosine(order=1),
    fk.Gaussian(0.8),
    fk.Laplacian(1.5),
    fk.Polynomial(2),
]
IDS = ["ntk", "nngp-erf", "arccos", "gaussian", "laplacian", "polynomial"]


def inputs():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((23, 6))
    X[5] = 0.0
    X[9] = 2.0 * X[4]  # nearly parallel rows: refined in float64 for float32
    Z = rng.standard_normal((17, 6))
    Z[3] = X[1]
    return X, Z


X, Z = inputs()

#: Blocks (rows, columns) of a 23 x 23 or 23 x 17 matrix, on a grid of 4 x 4 tiles: aligned and
#: not, on, above, below and across the diagonal, single entries, empty, the whole matrix.
BLOCKS = [
    ((0, 23), (0, 17)),
    ((0, 4), (0, 4)),
    ((3, 11), (2, 9)),
    ((1, 2), (1, 2)),
    ((13, 23), (0, 6)),
    ((0, 5), (9, 17)),
    ((6, 6), (0, 3)),
    ((7, 21), (5, 16)),
    ((22, 23), (16, 17)),
]


def _blocks_of(whole, device, kernel, Z_or_none, dtype):
    for rows, columns in BLOCKS:
        block = fk.gram_block(
            kernel, X, Z_or_none, rows=rows, columns=columns, dtype=dtype, device=device
        )
        assert block.shape == (rows[1] - rows[0], columns[1] - columns[0])
        np.testing.assert_array_equal(
            block, whole[slice(*rows), slice(*columns)], err_msg=f"block {rows} x {columns}"
        )


def _check(kernel, dtype, device):
    for Z_or_none in (None, Z):
        whole = fk.gram(kernel, X, Z_or_none, dtype=dtype, device=device)
        _blocks_of(whole, device, kernel, Z_or_none, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
def test_blocks_equal_gram_on_the_cpu(kernel, dtype, monkeypatch):
    monkeypatch.setenv("FASTNTK_TILE_SIZE", "4")
    _check(kernel, dtype, "cpu")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", KERNELS[:3], ids=IDS[:3])
def test_blocks_equal_gram_on_the_cuda_simulator(kernel, dtype, monkeypatch):
    cuda = pytest.importorskip("numba.cuda")
    if not cuda.is_available():
        pytest.skip("no CUDA GPU and no simulator")
    monkeypatch.setenv("FASTNTK_CUDA_TILE_SIZE", "4")
    monkeypatch.setenv("FASTNTK_CUDA_BLOCK_BYTES", str(4 * 17 * 8))  # streamed in row blocks
    _check(kernel, dtype, "cuda")


def test_blocks_at_the_default_tile_size_tile_the_matrix():
    """Blocks that split the 300 x 300 matrix unevenly (default 256-row tiles) reassemble it."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((300, 8))
    kernel = fk.NTK(depth=2)
    whole = fk.gram(kernel, rows)
    edges = [0, 100, 250, 257, 300]
    pieces = [
        [
            fk.gram_block(kernel, rows, rows=(a, b), columns=(c, d))
            for c, d in zip(edges, edges[1:], strict=False)
        ]
        for a, b in zip(edges, edges[1:], strict=False)
    ]
    np.testing.assert_array_equal(np.block(pieces), whole)


def test_block_into_out_and_slices():
    out = np.empty((4, 5))
    result = fk.gram_block(fk.Gaussian(), X, Z, rows=slice(2, 6), columns=slice(10, 15), out=out)
    assert result is out
    np.testing.assert_array_equal(out, fk.gram(fk.Gaussian(), X, Z)[2:6, 10:15])


@pytest.mark.parametrize(
    "rows, error, message",
    [
        ((5, 3), ValueError, "not within"),
        ((0, 24), ValueError, "not within"),
        ((-1, 3), ValueError, "not within"),
        (slice(0, 10, 2), ValueError, "step 1"),
        ("0:3", TypeError, "slice or a"),
    ],
)
def test_bad_block_ranges(rows, error, message):
    with pytest.raises(error, match=message):
        fk.gram_block(fk.Linear(), X, rows=rows)
