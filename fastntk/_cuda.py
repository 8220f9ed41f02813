"""The CUDA path of the Gram engine (``device="cuda"``), with ``numba.cuda``.

One kernel per (kernel family, dtype, tile size), built from one template: each thread block
computes a square tile of the Gram matrix. Its threads stage ``tile`` features of ``tile`` rows
of ``X`` and of ``Z`` in shared memory at a time and accumulate the inner products (or, for the
Laplacian, the L1 distances) of their entries; each thread then applies the kernel's scalar map
to its entry in the same pass. The scalar maps are the functions the CPU tile loops use
(``polynomial_value``, ``arc_cosine_value``, ``network.layer_update`` and the dual activations
of ``activations.DUALS``), compiled for the GPU by Numba; the network recursion runs per entry,
with one running ``Theta`` per distinct frozen-layer count in a fixed-size local array.

``K(X, X)`` runs only the blocks on and above the diagonal; each thread also writes its entry's
mirror image, and the diagonal comes from the exact ``k(x, x)`` the host computed. float32
entries whose cosine is within ``NEAR_PARALLEL`` of +-1 are recomputed in float64, as on the
CPU. Row quantities (norms, per-layer variances) are computed on the host by the CPU engine.

This module imports ``numba.cuda``, so ``fastntk`` imports it only when a device other than the
CPU is asked for; importing ``numba.cuda`` does not start the CUDA driver.
"""

import functools
import math

import numba
import numpy as np
from numba import cuda

from . import _engine_core as core
from . import config
from ._math import exact_dot, near_parallel, snap_cosine
from .activations import QuadratureSpec
from .classic import (
    ArcCosineSpec,
    GaussianSpec,
    LaplacianSpec,
    LinearSpec,
    PolynomialSpec,
    arc_cosine_value,
    gaussian_value,
    polynomial_value,
)
from .network import _ROWS_PER_LAYER, _SPEC_CLASSES, layer_update

#: Distinct frozen-layer counts among the NTK outputs of one ``gram_many`` call on the GPU: each
#: needs a running ``Theta`` per entry, in a local array whose size is fixed at compile time.
MAX_FROZEN_SLOTS = 8

#: Half the free GPU memory goes to one row block of a Gram matrix that streams to the host.
_FREE_MEMORY_SHARE = 0.5


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
    if not kernel._cacheable:
        return "Custom activations run on the CPU only; use device='cpu'"
    spec = kernel._spec(1, np.dtype(np.float64))
    if type(spec) not in _ENTRIES:
        return f"{kernel!r} has no CUDA implementation; use device='cpu'"
    slots = getattr(spec, "slot_frozen", ())
    if len(slots) > MAX_FROZEN_SLOTS:
        return (
            f"the GPU computes at most {MAX_FROZEN_SLOTS} distinct frozen-layer counts of NTK "
            f"outputs in one pass, got {len(slots)}; split the kernels over several calls"
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


def fill(spec, X, Z, rows, diagonal, target, symmetric, bar):
    """Fill ``target`` (k, n, m), a host or GPU array, with the Gram matrices of ``spec``.

    A GPU ``target`` is filled in one launch. A host one in row blocks sized to the GPU's free
    memory (``config.CUDA_BLOCK_BYTES`` overrides), each copied back as soon as it is done; for
    ``K(X, X)`` a row block holds its diagonal square and the tiles right of it, and the host
    mirrors those into the columns below.
    """
    tile = config.CUDA_TILE_SIZE
    rows_x, rows_z, exact_rows_x, exact_rows_z = rows
    if X.dtype == np.float64:  # nothing is refined: any float64 rows type the kernel
        exact_rows_x, exact_rows_z = rows_x, rows_z
    device_x = cuda.to_device(X)
    device_rows_x = cuda.to_device(rows_x)
    device_exact_x = cuda.to_device(exact_rows_x)
    if symmetric:
        device_z, device_rows_z, device_exact_z = device_x, device_rows_x, device_exact_x
    else:
        device_z = cuda.to_device(Z)
        device_rows_z = cuda.to_device(rows_z)
        device_exact_z = cuda.to_device(exact_rows_z)
    launch = functools.partial(
        _launch,
        _kernel(type(spec), X.dtype.name, tile),
        tile,
        (
            spec,
            device_x,
            device_z,
            device_rows_x,
            device_rows_z,
            device_exact_x,
            device_exact_z,
            cuda.to_device(diagonal),
        ),
    )
    n, m = X.shape[0], Z.shape[0]
    if is_device_array(target):
        launch(target, 0, n, 0, m, 0, symmetric)
        bar.update(1)
    else:
        for r0, r1 in row_blocks(target.shape, X.dtype, tile):
            c0 = r0 if symmetric else 0
            block = cuda.device_array((target.shape[0], r1 - r0, m - c0), dtype=X.dtype)
            if symmetric:
                launch(block, r0, r1, r0, r1, 0, True)
                launch(block, r0, r1, r1, m, r1 - r0, False)
            else:
                launch(block, r0, r1, 0, m, 0, False)
            destination = target[:, r0:r1, c0:]
            if destination.flags.c_contiguous:
                block.copy_to_host(destination)
            else:
                destination[...] = block.copy_to_host()
            if symmetric:
                core._mirror_tile(target, r0, r1, r1, m)
            bar.update(1)
    cuda.synchronize()


def row_blocks(shape, dtype, tile):
    """``(r0, r1)`` row ranges of a host Gram matrix of ``shape`` (k, n, m) computed per launch."""
    k, n, m = shape
    budget = config.CUDA_BLOCK_BYTES
    if budget <= 0:
        free = cuda.current_context().get_memory_info()[0]
        budget = int(min(free, 2**62) * _FREE_MEMORY_SHARE)
    rows = budget // (k * m * np.dtype(dtype).itemsize)
    rows = min(n, max(tile, rows // tile * tile))
    return [(r0, min(r0 + rows, n)) for r0 in range(0, n, rows)]


def n_row_blocks(shape, dtype, out_on_device):
    """How many launches ``fill`` reports to a progress bar."""
    if out_on_device:
        return 1
    return len(row_blocks(shape, dtype, config.CUDA_TILE_SIZE))


def _launch(kernel, tile, inputs, out, r0, r1, c0, c1, out_c0, mirror):
    """Entries ``(r0:r1) x (c0:c1)`` into ``out[:, 0:r1 - r0, out_c0:out_c0 + c1 - c0]``."""
    if r1 <= r0 or c1 <= c0:
        return
    blocks = (math.ceil((c1 - c0) / tile), math.ceil((r1 - r0) / tile))
    kernel[blocks, (tile, tile)](*inputs, out, r0, r1 - r0, c0, c1 - c0, out_c0, mirror)


@functools.cache
def _kernel(spec_class, dtype_name, tile):
    """The Gram kernel of one kernel family, dtype and tile size (compiled on first launch)."""
    entry = _ENTRIES[spec_class]
    l1_distance = spec_class is LaplacianSpec
    value_type = numba.from_dtype(np.dtype(dtype_name))
    refine = dtype_name == "float32"
    padded = tile + 1  # an odd row length: the threads of a warp read distinct shared banks

    @cuda.jit
    def gram_tiles(
        spec,
        X,
        Z,
        rows_x,
        rows_z,
        exact_rows_x,
        exact_rows_z,
        diagonal,
        out,
        r0,
        n_rows,
        c0,
        n_cols,
        out_c0,
        mirror,
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
        d = X.shape[1]
        for k0 in range(0, d, tile):
            k = k0 + tx
            # Zeros pad the edges: they add nothing to a product or to an L1 distance.
            x_tile[ty, tx] = X[r0 + li, k] if li < n_rows and k < d else value_type(0)
            z_tile[ty, tx] = Z[c0 + z_row, k] if z_row < n_cols and k < d else value_type(0)
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
        if mirror and li == lj:
            for k in range(out.shape[0]):
                out[k, li, out_c0 + lj] = diagonal[k, i]
            return
        thetas = cuda.local.array(MAX_FROZEN_SLOTS, value_type)
        exact_thetas = cuda.local.array(MAX_FROZEN_SLOTS, numba.float64)
        data = (X, Z, rows_x, rows_z, exact_rows_x, exact_rows_z, thetas, exact_thetas)
        entry(spec, total, i, j, data, refine, out, li, out_c0 + lj)
        if mirror:
            for k in range(out.shape[0]):
                out[k, lj, out_c0 + li] = out[k, li, out_c0 + lj]

    return gram_tiles


# --- per-entry maps: ``entry(spec, dot, i, j, data, refine, out, oi, oj)`` writes the outputs
# of entry (i, j) (rows of X and Z) into out[:, oi, oj]; ``dot`` is x_i . z_j (the L1 distance
# for the Laplacian); ``refine`` (float32) recomputes near-parallel entries in float64.


@cuda.jit(device=True)
def _linear_entry(spec, dot, i, j, data, refine, out, oi, oj):
    out[0, oi, oj] = dot + spec.c


@cuda.jit(device=True)
def _polynomial_entry(spec, dot, i, j, data, refine, out, oi, oj):
    out[0, oi, oj] = polynomial_value(dot, spec.degree, spec.gamma, spec.coef0)


@cuda.jit(device=True)
def _gaussian_entry(spec, dot, i, j, data, refine, out, oi, oj):
    rows_x = data[2]
    rows_z = data[3]
    out[0, oi, oj] = gaussian_value(dot, rows_x[0, i], rows_z[0, j], spec.inverse_two_variance)


@cuda.jit(device=True)
def _laplacian_entry(spec, distance, i, j, data, refine, out, oi, oj):
    out[0, oi, oj] = math.exp(-distance * spec.inverse_lengthscale)


@cuda.jit(device=True)
def _arc_cosine_entry(spec, dot, i, j, data, refine, out, oi, oj):
    X, Z, rows_x, rows_z, exact_rows_x, exact_rows_z, _, _ = data
    c = dot * (rows_x[1, i] * rows_z[1, j])
    # Each branch stores its own value: one variable for both would type float32 as float64.
    if refine and near_parallel(c):
        inverse_norms = exact_rows_x[1, i] * exact_rows_z[1, j]
        exact_cosine = snap_cosine(exact_dot(X, Z, i, j) * inverse_norms, spec.exact_snap)
        norm_product = exact_rows_x[0, i] * exact_rows_z[0, j]
        out[0, oi, oj] = arc_cosine_value(spec.order, exact_cosine, norm_product)
    else:
        norm_product = rows_x[0, i] * rows_z[0, j]
        out[0, oi, oj] = arc_cosine_value(spec.order, snap_cosine(c, spec.snap), norm_product)


@cuda.jit(device=True)
def _network_entry(spec, dot, i, j, data, refine, out, oi, oj):
    X, Z, rows_x, rows_z, exact_rows_x, exact_rows_z, thetas, exact_thetas = data
    sigma = spec.w_var * dot * spec.inverse_d + spec.b_var
    if refine and near_parallel(sigma * (rows_x[2, i] * rows_z[2, j])):
        exact_sigma = np.float64(spec.w_var) * exact_dot(X, Z, i, j) * spec.inverse_d + spec.b_var
        _network_recursion(
            spec, exact_sigma, exact_rows_x, exact_rows_z, i, j, spec.exact_snap, exact_thetas,
            out, oi, oj,
        )  # fmt: skip
    else:
        _network_recursion(spec, sigma, rows_x, rows_z, i, j, spec.snap, thetas, out, oi, oj)


@cuda.jit(device=True)
def _network_recursion(spec, sigma, rows_x, rows_z, i, j, snap, thetas, out, oi, oj):
    """The layers of one entry from its ``Sigma_1 = sigma``: the per-entry form of
    ``network._recursion`` (one running ``Theta`` per frozen slot in ``thetas``)."""
    n_slots = spec.slot_frozen.shape[0]
    for s in range(n_slots):
        if spec.slot_frozen[s] == 0:
            thetas[s] = sigma
    for layer in range(1, spec.depth + 1):
        base = _ROWS_PER_LAYER * (layer - 1)
        c = snap_cosine(sigma * (rows_x[base + 2, i] * rows_z[base + 2, j]), snap)
        sigma, derivative = layer_update(
            spec, sigma, rows_x[base + 1, i], rows_z[base + 1, j], rows_x[base + 3, i],
            rows_z[base + 3, j], c,
        )  # fmt: skip
        for s in range(n_slots):
            frozen = spec.slot_frozen[s]
            if frozen < layer:
                thetas[s] = sigma + derivative * thetas[s]
            elif frozen == layer:
                thetas[s] = sigma
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] == layer:
                slot = spec.output_slot[k]
                out[k, oi, oj] = sigma if slot < 0 else thetas[slot]


_ENTRIES = {
    LinearSpec: _linear_entry,
    PolynomialSpec: _polynomial_entry,
    GaussianSpec: _gaussian_entry,
    LaplacianSpec: _laplacian_entry,
    ArcCosineSpec: _arc_cosine_entry,
}
_ENTRIES.update(
    (network_spec, _network_entry)
    for activation_spec, network_spec in _SPEC_CLASSES.items()
    if activation_spec is not QuadratureSpec  # a Custom activation is a CPU function
)
