"""The CUDA backend (``device="cuda"``), with ``numba.cuda``.

One CUDA kernel per (kernel family, dtype, tile size, scratch rows), generated from the
family's declaration: each thread block computes a square tile of the Gram matrix. Its threads
stage ``tile`` features of ``tile`` rows of ``X`` and of ``Z`` in shared memory at a time and
accumulate the inner products (or the L1 distances) of their entries; each thread then runs the
family's ``map_run`` (``fastntk._protocol``) on its one entry, with its scratch in local memory.
The maths is the code the CPU tile loop runs, compiled for the GPU by Numba; float32 entries
whose cosine is within ``NEAR_PARALLEL`` of +-1 are recomputed in float64, as on the CPU.

For ``K(X, X)`` every entry below the diagonal is computed as its mirror image (the inner
product is the same sum, and the map gets its arguments in the same order), so a block equals
the same block of the whole matrix bit for bit; the whole matrix runs only the blocks on and
above the diagonal and writes each entry's mirror. The diagonal is the exact ``k(x, x)`` the
host computed, with the per-row quantities.

This module imports ``numba.cuda``, so fastntk imports it only when a device other than the CPU
is asked for; importing ``numba.cuda`` does not start the CUDA driver.
"""

import functools
import math

import numba
import numpy as np
from numba import cuda

from .. import _core as core
from .. import _protocol as protocol
from .. import config

NAME = "cuda"


def unavailable_reason(kernel):
    """Why ``kernel`` cannot run on the GPU here, or None when it can."""
    try:
        available = cuda.is_available()
    except Exception as error:  # e.g. NUMBA_CUDA_DRIVER names no file: Numba raises, not False
        available, why = False, f"{type(error).__name__}: {error}"
    else:
        why = "numba.cuda.is_available() is False: no NVIDIA driver or device"
    if not available:
        return f"no CUDA GPU was found ({why}); use device='cpu' or device='auto'"
    if kernel.cuda_unavailable:
        return f"{kernel.cuda_unavailable}; use device='cpu'"
    slots = getattr(kernel.spec(1, np.dtype(np.float64)), "slot_frozen", ())
    limit = config.get("cuda_frozen_slots")
    if len(slots) > limit:
        return (
            f"the GPU computes at most {limit} distinct frozen-layer counts of NTK outputs in "
            f"one pass, got {len(slots)}; split the kernels over several calls (or raise "
            "FASTNTK_CUDA_FROZEN_SLOTS)"
        )
    return None


def is_device_array(array):
    """Whether ``array`` lives on the GPU: it has ``__cuda_array_interface__`` (a Numba device
    array, a CuPy or PyTorch CUDA tensor), or it is a device array of Numba's CUDA simulator."""
    if _simulated():
        return type(array).__name__ == "FakeCUDAArray"
    return cuda.is_cuda_array(array)


def _simulated():
    return bool(numba.config.ENABLE_CUDASIM)


def device_view(out, shape, dtype):
    """``out`` (a GPU array) as the 3-D C-contiguous ``(k, n, m)`` array the kernel fills."""
    view = out if _simulated() else cuda.as_cuda_array(out)
    if view.dtype != dtype:
        raise TypeError(f"out has dtype {view.dtype} but the computation is in {dtype}")
    if tuple(view.shape) not in (shape, shape[1:]):
        raise ValueError(f"out must have shape {shape[1:]}, got {tuple(view.shape)}")
    if not view.is_c_contiguous():
        raise ValueError("out must be C-contiguous when it is a GPU array")
    return view.reshape(shape)


def progress_total(problem, r0, r1, c0, c1):
    """``(steps, unit)`` of a progress bar of ``fill``: one per row block."""
    return len(row_blocks(problem, r0, r1, c0, c1)), "row block"


def row_blocks(problem, r0, r1, c0, c1):
    """``(a, b)`` row ranges computed per launch on a host target, sized to the GPU memory
    (``config cuda_block_bytes``, or a share of the free memory)."""
    tile = config.get("cuda_tile_size")
    budget = config.get("cuda_block_bytes")
    if budget <= 0:
        free = cuda.current_context().get_memory_info()[0]
        budget = int(min(free, 2**62) * config.get("cuda_memory_share"))
    width = max(1, c1 - c0 if not _whole_symmetric(problem, r0, r1, c0, c1) else problem.m)
    rows = budget // (problem.n_outputs * width * problem.dtype.itemsize)
    rows = min(max(r1 - r0, 1), max(tile, rows // tile * tile))
    return [(a, min(a + rows, r1)) for a in range(r0, r1, rows)]


def _whole_symmetric(problem, r0, r1, c0, c1):
    return problem.symmetric and (r0, r1, c0, c1) == (0, problem.n, 0, problem.m)


def fill(problem, target, r0, r1, c0, c1, bar):
    """Fill ``target`` (k, r1 - r0, c1 - c0), a host or GPU array, with ``K[r0:r1, c0:c1]``.

    A GPU ``target`` is filled in one launch; a host one in row blocks, each copied back as
    soon as it is done. For the whole ``K(X, X)`` a row block holds its diagonal square and the
    tiles right of it, and the host mirrors those into the columns below.
    """
    tile = config.get("cuda_tile_size")
    spec = problem.spec
    exact = problem.exact_spec is not None
    device_x = cuda.to_device(problem.X)
    device_rows_x = cuda.to_device(problem.rows_x)
    if problem.Z is problem.X:
        device_z, device_rows_z = device_x, device_rows_x
    else:
        device_z = cuda.to_device(problem.Z)
        device_rows_z = cuda.to_device(problem.rows_z)
    if exact:
        device_exact_x = cuda.to_device(problem.exact_rows_x)
        device_exact_z = (
            device_exact_x
            if problem.exact_rows_z is problem.exact_rows_x
            else cuda.to_device(problem.exact_rows_z)
        )
    else:  # nothing is refined: any rows of the spec's dtype type the kernel
        device_exact_x, device_exact_z = device_rows_x, device_rows_z
    inputs = (
        spec,
        problem.exact_spec if exact else spec,
        device_x,
        device_z,
        device_rows_x,
        device_rows_z,
        device_exact_x,
        device_exact_z,
        cuda.to_device(problem.diagonal),
        problem.x_start,
        problem.z_start,
    )
    kernel = gram_kernel(type(spec), problem.dtype.name, tile, local_work_shape(problem), exact)
    launch = functools.partial(_launch, kernel, tile, inputs)
    whole = _whole_symmetric(problem, r0, r1, c0, c1)
    if is_device_array(target):
        launch(target, r0, r1, c0, c1, 0, whole, problem.symmetric)
        bar.update(1)
    else:
        for a, b in row_blocks(problem, r0, r1, c0, c1):
            start = a if whole else c0  # the whole K(X, X): the diagonal square and its right
            block = cuda.device_array((problem.n_outputs, b - a, c1 - start), dtype=problem.dtype)
            if whole:
                launch(block, a, b, a, b, 0, True, True)
                launch(block, a, b, b, c1, b - a, False, False)
            else:
                launch(block, a, b, c0, c1, 0, False, problem.symmetric)
            destination = target[:, a - r0 : b - r0, start - c0 :]
            if destination.flags.c_contiguous:
                block.copy_to_host(destination)
            else:
                destination[...] = block.copy_to_host()
            if whole and b < c1:
                core.copy_region(target, a, b, target, b, a, b - a, c1 - b, np.bool_(True))
            bar.update(1)
    cuda.synchronize()


def _launch(kernel, tile, inputs, out, r0, r1, c0, c1, out_c0, mirror, symmetric):
    """Entries ``(r0:r1) x (c0:c1)`` into ``out[:, 0:r1 - r0, out_c0:out_c0 + c1 - c0]``;
    ``mirror``: a square on the diagonal, computing its upper triangle and writing mirrors."""
    if r1 <= r0 or c1 <= c0:
        return
    blocks = (math.ceil((c1 - c0) / tile), math.ceil((r1 - r0) / tile))
    kernel[blocks, (tile, tile)](*inputs, out, r0, r1 - r0, c0, c1 - c0, out_c0, mirror, symmetric)


def local_work_shape(problem):
    """The shape of each thread's scratch (``cuda.local.array``, which takes no empty shape)."""
    return tuple(max(1, size) for size in problem.work_shape(1))


@functools.cache
def gram_kernel(spec_class, dtype_name, tile, work_shape, refine):
    """The Gram kernel of one kernel family, dtype, tile size and scratch size (compiled on
    first launch)."""
    l1_distance = spec_class.products == "l1"
    no_products = spec_class.products == "none"  # the map reads its rows alone
    value_type = numba.from_dtype(np.dtype(dtype_name))
    padded = tile + 1  # an odd row length: the threads of a warp read distinct shared banks

    @cuda.jit
    def gram_tiles(
        spec,
        exact_spec,
        X,
        Z,
        rows_x,
        rows_z,
        exact_rows_x,
        exact_rows_z,
        diagonal,
        x_start,
        z_start,
        out,
        r0,
        n_rows,
        c0,
        n_cols,
        out_c0,
        mirror,
        symmetric,
    ):
        block_i = cuda.blockIdx.y
        block_j = cuda.blockIdx.x
        if mirror and block_j < block_i:
            return
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        li = block_i * tile + ty
        lj = block_j * tile + tx
        z_row = block_j * tile + ty  # the row of Z this thread stages, not its entry's column
        x_tile = cuda.shared.array((tile, padded), value_type)
        z_tile = cuda.shared.array((tile, padded), value_type)
        total = value_type(0)
        d = 0 if no_products else X.shape[1]
        for k0 in range(0, d, tile):
            k = k0 + tx
            # Zeros pad the edges: they add nothing to a product or to an L1 distance.
            x_tile[ty, tx] = X[r0 + li - x_start, k] if li < n_rows and k < d else value_type(0)
            z_tile[ty, tx] = (
                Z[c0 + z_row - z_start, k] if z_row < n_cols and k < d else value_type(0)
            )
            cuda.syncthreads()
            for t in range(tile):
                if l1_distance:
                    total += abs(x_tile[ty, t] - z_tile[tx, t])
                else:
                    total += x_tile[ty, t] * z_tile[tx, t]
            cuda.syncthreads()
        if li >= n_rows or lj >= n_cols or (mirror and li > lj):
            return
        i = r0 + li
        j = c0 + lj
        if symmetric and i == j:
            for k in range(out.shape[0]):
                out[k, li, out_c0 + lj] = diagonal[k, i - x_start]
            return
        # Below the diagonal of K(X, X), the entry is computed as its mirror image.
        below = symmetric and i > j
        rows_a = rows_z if below else rows_x
        rows_b = rows_x if below else rows_z
        a = j - z_start if below else i - x_start
        b = i - x_start if below else j - z_start
        dots = cuda.local.array(1, value_type)
        dots[0] = total
        if refine and protocol.needs_refinement(spec, total, rows_a, a, rows_b, b):
            exact_a = exact_rows_z if below else exact_rows_x
            exact_b = exact_rows_x if below else exact_rows_z
            exact_dots = cuda.local.array(1, numba.float64)
            exact_work = cuda.local.array(work_shape, numba.float64)
            A = Z if below else X
            B = X if below else Z
            protocol.refine(exact_spec, A, a, B, b, exact_a, exact_b, exact_dots, exact_work,
                            out, li, out_c0 + lj)  # fmt: skip
        else:
            work = cuda.local.array(work_shape, value_type)
            protocol.map_run(spec, dots, rows_a, a, rows_b, b, work, out, li, out_c0 + lj)
        if mirror:
            for k in range(out.shape[0]):
                out[k, lj, out_c0 + li] = out[k, li, out_c0 + lj]

    return gram_tiles
