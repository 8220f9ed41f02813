"""Gram matrices of dask arrays, as dask arrays: Dask schedules the blocks, fastntk computes
each one with its block primitive (``fastntk.gram_block``).

``gram(kernel, X, Z)`` with a dask ``X`` (or ``Z``) builds a graph of one task per pair of
row chunks ``(X_a, Z_b)``, ``K_ab = gram_block(kernel, X_a, Z_b)``, chunked as the rows of
``X`` and ``Z`` are. For the symmetric ``K(X, X)`` only the blocks on and above the diagonal
are computed: a diagonal block is ``gram_block(kernel, X_a)`` (each pair once, the diagonal
exact) and a block below it is the transpose of its mirror, ``K_ba = K_ab^T``. Nothing is
computed until the caller asks (``.compute()``, ``.store``, ``to_zarr``), so a Gram matrix
larger than the cluster's memory can be written block by block to storage.

Dask is optional: ``pip install fastntk[dask]``.
"""

import numpy as np

from ._validation import DASK_EXTRA, is_dask_array, resolve_dtype

__all__ = ["gram"]

#: Kinds of input dtype a block converts (as ``gram`` does for NumPy inputs).
_INPUT_KINDS = "biuf"


def dask_array_module():
    """``dask.array``, or an ImportError that names the extra."""
    try:
        import dask.array
    except ImportError as error:
        raise ImportError(f"dask arrays need dask ({error}); {DASK_EXTRA}") from None
    return dask.array


def gram(block, kernel, X, Z=None, dtype=None):
    """``K(X, Z)`` as a dask array of blocks (module docstring); ``X`` and ``Z`` dask arrays
    or NumPy arrays (a NumPy array is one chunk), ``dtype`` as in ``fastntk.gram``; each block
    is ``block(kernel, X_a, Z_b, dtype=dtype)``. ``fastntk.gram`` calls it for dask inputs,
    with ``block`` its block primitive (this layer sits above the engine)."""
    da = dask_array_module()
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.utils import apply

    symmetric = Z is None or Z is X
    X = _rows(da, X, "X")
    Z = X if symmetric else _rows(da, Z, "Z")
    if X.shape[1:] != Z.shape[1:]:
        raise ValueError(
            f"X and Z must have the same shape after their rows, got X {X.shape} and Z {Z.shape}"
        )
    dtype = resolve_dtype(dtype, None)
    name = "fastntk-gram-" + tokenize(kernel, X.name, Z.name, dtype.str, symmetric)
    rest = (0,) * (X.ndim - 1)  # the chunk index of the axes after the rows: one chunk each
    graph = {}
    for a in range(X.numblocks[0]):
        for b in range(Z.numblocks[0]):
            if symmetric and a > b:
                graph[(name, a, b)] = (np.transpose, (name, b, a))
            else:
                z_block = None if symmetric and a == b else (Z.name, b, *rest)
                task = (apply, block, [kernel, (X.name, a, *rest), z_block], {"dtype": dtype})
                graph[(name, a, b)] = task
    layers = HighLevelGraph.from_collections(name, graph, dependencies=[X] if symmetric else [X, Z])
    return da.Array(layers, name, chunks=(X.chunks[0], Z.chunks[0]), dtype=dtype)


def _rows(da, array, name):
    """``array`` as a dask array with one chunk along every axis but the rows, its dtype one a
    block can convert."""
    if not is_dask_array(array):
        array = da.from_array(np.asarray(array), chunks=-1)
    if array.ndim < 2:
        raise ValueError(f"{name} must have rows (2 or more dimensions), got shape {array.shape}")
    if np.dtype(array.dtype).kind not in _INPUT_KINDS:
        raise TypeError(
            f"{name} is a dask array of dtype {array.dtype}; fastntk takes real numbers"
            " (float, integer or boolean)"
        )
    if any(isinstance(size, float) and np.isnan(size) for size in array.shape):
        raise ValueError(f"{name} has chunks of unknown size; call {name}.compute_chunk_sizes()")
    return array.rechunk({axis: -1 for axis in range(1, array.ndim)})
