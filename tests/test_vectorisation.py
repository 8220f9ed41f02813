"""The elementwise maps must compile to SIMD code: at small d they, not BLAS, are the cost.

Checks the machine code of the tile maps for packed square roots (``sqrtpd``/``sqrtps`` on
x86: one per ``arccos`` and one per ``sin(arccos)``), which LLVM emits only when it vectorised
the loop; a call to libm's ``acos`` or a scalar fallback would have scalar ``sqrtsd`` only.
"""

import os
import platform
import re

import numpy as np
import pytest

import fastntk as fk
from fastntk import _protocol as protocol
from fastntk import engine

pytestmark = [
    pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled"),
    pytest.mark.skipif(
        platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 instruction names"
    ),
]

PACKED_SQRT = re.compile(r"\bv?sqrtp[sd]\b")


def compiled_map_run(kernel, dtype):
    """Machine code of the family's ``map_run`` (the map of one row of a tile) for ``kernel``,
    with the functions it calls (compiled in this process: they are never cached on disk)."""
    X = np.random.default_rng(0).standard_normal((20, 3)).astype(dtype)
    problem = engine.gram_problem(kernel, X, X, np.dtype(dtype), True)
    map_run = protocol.shared_implementation(protocol.map_run, type(problem.spec))
    dots = X @ X.T
    out = np.empty((kernel.n_outputs, 20, 20), dtype=dtype)
    work = np.empty(problem.work_shape(20), dtype=dtype)
    map_run(problem.spec, dots[0], problem.rows_x, 0, problem.rows_z, 0, work, out, 0, 0)
    return "\n".join(map_run.inspect_asm(signature) for signature in map_run.signatures)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kernel",
    [fk.NTK(depth=3), fk.NNGP(depth=2, activation="abs"), fk.ArcCosine(order=1)],
    ids=["ntk-relu", "nngp-abs", "arccos-1"],
)
def test_angle_kernel_maps_use_packed_square_roots(kernel, dtype):
    assert PACKED_SQRT.search(compiled_map_run(kernel, dtype))
