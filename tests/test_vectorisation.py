"""The elementwise maps must compile to SIMD code: at small d they, not BLAS, are the cost.

Checks the machine code of the tile maps for packed square roots (``sqrtpd``/``sqrtps`` on
x86: one per ``arccos`` and one per ``sin(arccos)``), which LLVM emits only when it vectorised
the loop; a call to libm's ``acos`` or a scalar fallback would have scalar ``sqrtsd`` only.
"""

import os
import platform
import re

import numba
import numpy as np
import pytest

import fastntk as fk
from fastntk import _engine_core as core
from fastntk import classic, network

pytestmark = [
    pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled"),
    pytest.mark.skipif(
        platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 instruction names"
    ),
]

PACKED_SQRT = re.compile(r"\bv?sqrtp[sd]\b")


def compiled_tile_map(tile_map, kernel, dtype):
    """Machine code of ``tile_map`` for ``kernel`` (compiled afresh: cached code has no asm)."""
    X = np.random.default_rng(0).standard_normal((20, 3)).astype(dtype)
    spec = kernel._spec(X.shape[1], np.dtype(dtype))
    rows = core.row_info(spec, X)
    dots = X @ X.T
    out = np.empty((1, 20, 20), dtype=dtype)
    fresh = numba.njit(error_model="numpy", fastmath={"contract"})(tile_map.py_func)
    fresh(spec, dots, rows, rows, 0, 0, out)
    return fresh.inspect_asm(fresh.signatures[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "tile_map, kernel",
    [
        (network._network_tile, fk.NTK(depth=3)),
        (network._network_tile, fk.NNGP(depth=2, activation="abs")),
        (classic._arc_cosine_tile, fk.ArcCosine(order=1)),
    ],
    ids=["ntk-relu", "nngp-abs", "arccos-1"],
)
def test_angle_kernel_maps_use_packed_square_roots(tile_map, kernel, dtype):
    assert PACKED_SQRT.search(compiled_tile_map(tile_map, kernel, dtype))
