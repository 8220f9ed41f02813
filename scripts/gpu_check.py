"""Check fastntk's CUDA path against the CPU and time it against the GPU's own ``X @ X.T``.

    python scripts/gpu_check.py            # on a machine with an NVIDIA GPU (under 5 minutes)
    NUMBA_ENABLE_CUDASIM=1 python scripts/gpu_check.py --quick   # tiny sizes, anywhere

1. Correctness: ``gram(k, X, Z, device="cuda")`` and ``gram(k, X, device="cuda")`` for a few
   kernels against the CPU engine, entries relative to ``sqrt(K(x, x) K(z, z))``; it fails
   (exit status 1) beyond 1e-12 in float64 or 1e-5 in float32.
2. Timing: ``gram(NTK(depth=3), X, device="cuda")`` for n in {10000, 50000}, d in {16, 256},
   float32 and float64, with the result copied to a new host array ("to host") and left in a GPU
   array ("on GPU", ``out=`` a device array), each as a ratio to the GPU's own ``X @ X.T`` in the
   same run: CuPy's (cuBLAS) when CuPy is installed, else fastntk's ``Linear()`` kernel on the
   GPU (the same tiled inner products with no map). Each time is the best of ``--repeats`` runs
   after a warm-up call that compiles the kernels.
"""

import argparse
import sys
import time
from functools import partial

import numpy as np

import fastntk as fk
from fastntk import config


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and 4 x 4 thread blocks (simulator)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per entry (best kept)")
    return parser.parse_args()


CHECKED_KERNELS = [
    fk.Gaussian(lengthscale=2.0),
    fk.Laplacian(lengthscale=3.0),
    fk.ArcCosine(order=1),
    fk.NTK(depth=3, b_std=0.2),
    fk.NNGP(depth=2, activation="erf", w_std=1.3),
]
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def scaled_error(got, expected, kernel, X, Z):
    diag_x = kernel.diag(X)
    diag_z = diag_x if Z is None else kernel.diag(Z)
    scale = np.sqrt(np.abs(np.outer(diag_x, diag_z)))
    return float(np.max(np.abs(got - expected) / np.where(scale > 0, scale, 1.0)))


def check_correctness(n, m, d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    X[1] = 3.0 * X[0]  # a parallel pair: snapped, or refined in float64 for float32
    Z = rng.standard_normal((m, d))
    failures = 0
    print(f"correctness against the CPU (n={n}, m={m}, d={d}): max error / entry scale")
    for kernel in CHECKED_KERNELS:
        for dtype in (np.float64, np.float32):
            for Z_or_none, shape in ((Z, "K(X, Z)"), (None, "K(X, X)")):
                got = fk.gram(kernel, X, Z_or_none, dtype=dtype, device="cuda")
                expected = fk.gram(kernel, X, Z_or_none, dtype=dtype, device="cpu")
                error = scaled_error(got, expected, kernel, X, Z_or_none)
                ok = error <= RTOL[dtype] and (Z_or_none is not None or (got == got.T).all())
                failures += not ok
                verdict = "ok" if ok else f"FAIL (> {RTOL[dtype]:g})"
                print(f"  {kernel!r:55} {np.dtype(dtype).name:8} {shape}: {error:.2e} {verdict}")
    return failures


def matmul_reference():
    """``(name, function(X_on_gpu) -> None)``: the GPU's own ``X @ X.T``, finished on return."""
    try:
        import cupy
    except ImportError:
        from numba import cuda

        def numba_linear(X):
            out = cuda.device_array((X.shape[0], X.shape[0]), dtype=X.dtype)
            fk.gram(fk.Linear(), X, out=out, device="cuda")

        return "fastntk Linear() on the GPU (no CuPy)", lambda X: X, numba_linear

    def cupy_matmul(X):
        X @ X.T
        cupy.cuda.Device().synchronize()

    return "CuPy X @ X.T (cuBLAS)", cupy.asarray, cupy_matmul


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def time_ntk(sizes, dims, repeats):
    from numba import cuda

    kernel = fk.NTK(depth=3)
    name, to_reference_input, matmul = matmul_reference()
    print(f"\ntiming gram({kernel!r}, X, device='cuda'); reference: {name}")
    print(f"{'n':>7} {'d':>4} {'dtype':>8} {'X @ X.T s':>10} {'to host s':>10} {'ratio':>7} "
          f"{'on GPU s':>9} {'ratio':>7}")  # fmt: skip
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        warm = rng.standard_normal((64, 4)).astype(dtype)
        fk.gram(kernel, warm, device="cuda")  # compiles the kernel for this dtype
        matmul(to_reference_input(warm))
        for n in sizes:
            for d in dims:
                X = rng.standard_normal((n, d)).astype(dtype)
                reference_input = to_reference_input(X)
                reference = best_time(partial(matmul, reference_input), repeats)
                on_host = best_time(partial(fk.gram, kernel, X, device="cuda"), repeats)
                out = cuda.device_array((n, n), dtype=dtype)
                on_gpu = best_time(partial(fk.gram, kernel, X, out=out, device="cuda"), repeats)
                print(f"{n:>7} {d:>4} {np.dtype(dtype).name:>8} {reference:>10.4f} "
                      f"{on_host:>10.4f} {on_host / reference:>7.1f} {on_gpu:>9.4f} "
                      f"{on_gpu / reference:>7.1f}")  # fmt: skip
                sys.stdout.flush()


def main():
    arguments = parse_arguments()
    from numba import cuda

    if not cuda.is_available():
        print("no CUDA GPU (numba.cuda.is_available() is False); for a dry run set "
              "NUMBA_ENABLE_CUDASIM=1 and pass --quick")  # fmt: skip
        return 2
    simulated = bool(__import__("numba").config.ENABLE_CUDASIM)
    print(f"device: {'Numba CUDA simulator' if simulated else cuda.get_current_device().name}")
    if arguments.quick:
        config.set(cuda_tile_size=4)
        failures = check_correctness(n=11, m=6, d=5)
        time_ntk(sizes=(12,), dims=(3, 6), repeats=1)
    else:
        failures = check_correctness(n=1500, m=700, d=40)
        time_ntk(sizes=(10_000, 50_000), dims=(16, 256), repeats=arguments.repeats)
    print(f"\n{failures} correctness failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
