"""Compile fastntk's generated CUDA kernels to PTX, without a GPU.

The CUDA simulator runs the kernels as Python and never compiles them; this script checks that
Numba's CUDA target compiles each built-in family's kernel (float64 and float32, square and
rectangular), with NVIDIA's NVVM (``pip install numba-cuda[cu12]`` brings it). With
``--ptxas PATH`` it also assembles the PTX for ``--arch`` (default sm_90) and prints the
registers per thread. Exit status 1 if any kernel fails.

    python scripts/cuda_compile_check.py [--ptxas .../bin/ptxas] [--arch sm_90] [--only CNTK]

Without a GPU, Numba compiles the device functions a kernel calls for the current device's
compute capability, and there is no current device: the script stands in a device of compute
capability ``--cc`` (8.0 by default) for that lookup only.
"""

import argparse
import math
import pathlib
import re
import subprocess
import sys
import tempfile

import numba
import numpy as np
from numba import cuda, types

import fastntk as fk
from fastntk import engine
from fastntk.backends import cuda as cuda_backend

KERNELS = [
    fk.Gaussian(),
    fk.Laplacian(),
    fk.ArcCosine(1),
    fk.NTK(depth=3),
    fk.NNGP(depth=2, activation="erf"),
    fk.NTK(depth=2, activation="abs", frozen=1),
    fk.NTK(depth=2, activation="gelu", b_std=0.3, parameterization="standard", width=64),
    fk.NNGP(depth=2, activation="sign"),
]
ACTIVATIONS = fk.activations


@numba.njit
def _exp_dual(cov12, var1, var2):
    return 0.25 * math.exp(0.16 * (0.5 * (var1 + var2) + cov12))


KERNELS.append(fk.NTK(depth=2, activation=ACTIVATIONS.Elementwise(None, _exp_dual, _exp_dual)))
KERNELS += [
    fk.CNTK(depth=2, padding="circular", pooling="global", b_std=0.3, frozen=1),
    fk.CNTK(depth=2, pooling="flatten", activation="erf"),
]
KERNELS += [
    fk.NTK(depth=2, activation=activation, b_std=0.3)
    for activation in (
        ACTIVATIONS.Erf(0.7, 1.3, 0.2),
        ACTIVATIONS.Sin(1.2, 0.8, 0.3),
        ACTIVATIONS.Rbf(0.7),
        ACTIVATIONS.Exp(0.5, 0.4),
        ACTIVATIONS.Gaussian(1.0, -0.8),
        ACTIVATIONS.Gabor(),
        ACTIVATIONS.ExpNormalized(),
        ACTIVATIONS.Polynomial([0.3, -0.5, 0.2, 0.1]),
        ACTIVATIONS.RectifiedMonomial(3),
    )
]


def kernel_and_types(kernel, dtype, symmetric):
    """The generated kernel of ``kernel`` and the types of its arguments, as ``fill`` passes
    them."""
    rng = np.random.default_rng(0)
    shape = (4, 4, 2) if 4 in kernel.input_ranks else (5,)  # images for convolutional kernels
    X = rng.standard_normal((20, *shape)).astype(dtype)
    Z = X if symmetric else rng.standard_normal((17, *shape)).astype(dtype)
    kernel, X, Z = kernel.prepare(X, Z)
    problem = engine.gram_problem(kernel, X, Z, np.dtype(dtype), symmetric)
    exact = problem.exact_spec is not None

    def array(values, ndim=None):
        return types.Array(numba.from_dtype(values.dtype), ndim or values.ndim, "C")

    rows = (problem.exact_rows_x, problem.exact_rows_z) if exact else (problem.rows_x,) * 2
    argument_types = (
        numba.typeof(problem.spec),
        numba.typeof(problem.exact_spec if exact else problem.spec),
        array(problem.X),
        array(problem.Z),
        array(problem.rows_x),
        array(problem.rows_z),
        array(rows[0]),
        array(rows[1]),
        array(problem.diagonal),
        types.int64,
        types.int64,
        array(problem.X, 3),
        *(types.int64,) * 5,
        types.boolean,
        types.boolean,
    )
    generated = cuda_backend.gram_kernel(
        type(problem.spec), problem.dtype.name, 16, cuda_backend.local_work_shape(problem), exact
    )
    return generated, argument_types


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ptxas", help="ptxas to assemble the PTX with")
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--cc", default="8.0", help="compute capability of the PTX")
    parser.add_argument("--only", default="", help="check only the kernels whose repr has it")
    args = parser.parse_args()
    capability = tuple(int(part) for part in args.cc.split("."))

    class StandIn:
        compute_capability = capability

    numba.cuda.dispatcher.get_current_device = lambda: StandIn()
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        for kernel in [kernel for kernel in KERNELS if args.only in repr(kernel)]:
            for dtype in (np.float64, np.float32):
                for symmetric in (False, True):
                    label = f"{kernel!r} {np.dtype(dtype).name} {'K(X,X)' if symmetric else ''}"
                    try:
                        generated, argument_types = kernel_and_types(kernel, dtype, symmetric)
                        ptx, _ = cuda.compile_ptx(generated.py_func, argument_types, cc=capability)
                    except Exception as error:  # report every failure, then exit 1
                        failures += 1
                        print(f"FAIL {label}: {type(error).__name__}: {str(error)[:2000]}")
                        continue
                    report = f"{len(ptx)} characters of PTX"
                    if args.ptxas:
                        path = pathlib.Path(scratch) / "kernel.ptx"
                        path.write_text(ptx)
                        done = subprocess.run(
                            [args.ptxas, "--gpu-name", args.arch, str(path), "-o", "/dev/null",
                             "-v"], capture_output=True, text=True,
                        )  # fmt: skip
                        registers = re.findall(r"Used (\d+) registers", done.stderr)
                        if done.returncode:
                            failures += 1
                            report += f"; ptxas failed: {done.stderr[:500]}"
                        else:
                            report += f"; ptxas {args.arch}: {registers[-1]} registers"
                    print(f"OK   {label}: {report}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
