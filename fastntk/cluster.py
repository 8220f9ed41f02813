"""Gram matrices of dask arrays, as dask arrays: Dask schedules the blocks, fastntk computes
each one with its block primitive (``fastntk.gram_block``).

``gram(kernel, X, Z)`` with a dask ``X`` (or ``Z``) builds a graph of one task per pair of
row chunks ``(X_a, Z_b)``, ``K_ab = gram_block(kernel, X_a, Z_b)``, chunked as the rows of
``X`` and ``Z`` are. For the symmetric ``K(X, X)`` only the blocks on and above the diagonal
are computed: a diagonal block is ``gram_block(kernel, X_a)`` (each pair once, the diagonal
exact) and a block below it is the transpose of its mirror, ``K_ba = K_ab^T``. Nothing is
computed until the caller asks (``.compute()``, ``.store``, ``to_zarr``), so a Gram matrix
larger than the cluster's memory can be written block by block to storage.

A Nystrom fit on dask arrays (``fastntk.nystrom_fit``, the estimators' ``solver="nystrom"``)
persists ``X`` and ``y`` on the workers and applies ``K_nS^T K_nS`` as a map over the row chunks,
each task on a worker that holds its chunk, and a sum of ``m x t`` results
(``ChunkedKernelOperator``); ``predict`` maps the chunks of a dask ``X`` the same way
(``predict``). Measurements and a projection to larger clusters: ``docs/SCALING.md``.

Dask is optional: ``pip install fastntk[dask]``.
"""

import contextlib
import os
import sys

import numpy as np

from . import config
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


def training_inputs(X, y, dtype):
    """``(X, y)`` of a fit on a dask ``X`` (rows of features): ``y`` a dask array with the same
    row chunks (a NumPy ``y`` is chunked like ``X``), both in ``dtype``, checked finite, and
    persisted: on a ``distributed.Client`` their chunks stay on the workers from here on."""
    import dask

    da = dask_array_module()
    X = _rows(da, X, "X")
    if X.ndim != 2:
        raise ValueError(f"a fit on dask arrays takes rows of features (n, d), got {X.shape}")
    if not is_dask_array(y):
        y = da.from_array(np.asarray(y), chunks=(X.chunks[0],) + ((-1,) if np.ndim(y) > 1 else ()))
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape (n,) or (n, t) with n = {X.shape[0]}, got {y.shape}")
    if np.dtype(y.dtype).kind not in _INPUT_KINDS:
        raise TypeError(f"y is a dask array of dtype {y.dtype}; fastntk takes real numbers")
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"X and y must have the same row chunks, got {X.chunks[0]} and {y.chunks[0]};"
            " rechunk one like the other (y.rechunk({0: X.chunks[0]}))"
        )
    X = X.astype(dtype)
    y = y.rechunk({1: -1} if y.ndim == 2 else {}).astype(dtype)
    X, y = dask.persist(X, y)
    finite_x, finite_y = dask.compute(da.isfinite(X).all(), da.isfinite(y).all())
    if not finite_x:
        raise ValueError("X contains NaN or infinity")
    if not finite_y:
        raise ValueError("y contains NaN or infinity")
    return X, y


def mean_diagonal(diag, kernel, X, dtype):
    """The mean of ``diag(kernel, X_c)`` over the row chunks of the dask ``X``."""
    import dask

    parts = [dask.delayed(diag)(kernel, chunk, dtype=dtype).sum() for chunk in _chunks(X)]
    return float(sum(dask.compute(*parts))) / X.shape[0]


def _chunks(X):
    # Unoptimised: an optimised graph names persisted chunks by key without holding their
    # futures, and the cluster may release them before a lazy result is computed.
    return list(X.to_delayed(optimize_graph=False).ravel())


def _active_client():
    """The ``distributed.Client`` that will run the graph, or None (another scheduler)."""
    import dask

    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return None
    if dask.base.get_scheduler() != client.get:  # another scheduler asked for (synchronous)
        return None
    return client


def _shared(value):
    """``value`` (a NumPy array) as one key of the graph, sent to the workers once rather than
    once per task. With a ``distributed.Client`` it is persisted: held by one worker, copied to
    the others that need it, and recomputed from the graph if that worker dies. (A scatter
    instead waits forever when a worker has died but is not yet known to be dead.)"""
    import dask

    # pure=False: a key of its own, so that releasing an earlier key of equal data (the same CG
    # vector twice) cannot release this one while it is in use.
    shared = dask.delayed(value, pure=False)
    client = _active_client()
    return shared if client is None else client.persist(shared)


class ChunkedKernelOperator:
    """``K(X, S)`` for a dask ``X`` whose row chunks stay where they are (a
    ``distributed.Client``'s workers) and a NumPy ``S`` of ``m`` rows sent once: the two
    products of a Nystrom fit (``fastntk.nystrom``), each a map over the chunks ``X_c`` of
    ``K_cS^T (K_cS V)`` or ``K_cS^T U_c`` and a sum of the ``m x t`` results. Only ``V`` (``m x
    t``) goes to the workers and those results come back. On the worker that holds ``X_c``,
    ``operator(kernel, X_c, S, dtype=dtype)`` (``fastntk.operators.KernelOperator``, passed in:
    this layer sits above it) computes ``K_cS`` a strip at a time and forgets it."""

    def __init__(self, operator, kernel, X, S, dtype):
        self.operator, self.kernel, self.dtype = operator, kernel, np.dtype(dtype)
        self.chunks = _chunks(X)
        self.centers = _shared(np.ascontiguousarray(S, dtype=self.dtype))

    def normal_matmat(self, V):
        """``K^T K V``."""
        V = _shared(V)
        return self._sum(_normal_part, [(chunk, V) for chunk in self.chunks])

    def rmatmat(self, U):
        """``K^T U`` for a dask ``U`` with the row chunks of ``X``."""
        return self._sum(_transposed_part, list(zip(self.chunks, _chunks(U), strict=True)))

    def _sum(self, part, arguments):
        """``sum_c part(K_cS, *arguments[c])``, each term on the worker of its chunk."""
        import dask

        parts = []
        for (chunk, *rest), where in zip(arguments, _placements(self.chunks), strict=True):
            with dask.annotate(**where):
                parts.append(
                    dask.delayed(_on_chunk)(
                        part, self.operator, self.kernel, chunk, self.centers, *rest
                    )
                )
        return dask.compute(dask.delayed(sum)(parts))[0]


def predict(operator, kernel, X, basis, coefficients, dtype):
    """``K(X, basis) @ coefficients`` for a dask ``X``, as a dask array with the row chunks of
    ``X``: each chunk's rows computed by ``operator`` (as in ``ChunkedKernelOperator``) on the
    worker that holds it, ``basis`` and ``coefficients`` sent once."""
    import dask

    da = dask_array_module()
    X = _rows(da, X, "X")
    dtype = np.dtype(dtype)
    columns = np.asarray(coefficients, dtype=dtype).reshape(len(coefficients), -1)
    basis = _shared(np.ascontiguousarray(basis, dtype=dtype))
    shared = _shared(columns)
    pieces = [
        da.from_delayed(
            dask.delayed(_on_chunk)(_product, operator, kernel, chunk, basis, shared),
            shape=(rows, columns.shape[1]),
            dtype=dtype,
        )
        for chunk, rows in zip(_chunks(X), X.chunks[0], strict=True)
    ]
    outputs = da.concatenate(pieces, axis=0)
    return outputs[:, 0] if np.ndim(coefficients) == 1 else outputs


def _placements(chunks):
    """Per chunk, the annotation that runs its task on a worker that holds it: without one,
    the scheduler balances a CG product's tasks by moving chunks of X to the less busy worker.
    Loose (``allow_other_workers``), so that a chunk whose worker died runs where Dask
    recomputes it."""
    client = _active_client()
    if client is None:
        return [{} for _ in chunks]
    holders = client.who_has(chunks)
    return [
        {"workers": sorted(holders[chunk.key]), "allow_other_workers": True}
        if holders.get(chunk.key)
        else {}
        for chunk in chunks
    ]


def _on_chunk(part, operator, kernel, X, S, *arguments):
    """``part(K(X, S), *arguments)``, run where the chunk ``X`` is, with ``K(X, S)`` as the
    ``operator`` that computes it a strip at a time."""
    with _task_threads():
        return part(operator(kernel, X, S, dtype=S.dtype), *arguments)


def _normal_part(K, V):
    return K.normal_matmat(V)


def _transposed_part(K, U):
    return K.T @ U.reshape(U.shape[0], -1)


def _product(K, V):
    return K @ V


@contextlib.contextmanager
def _task_threads():
    """On a ``distributed`` worker whose environment does not set ``FASTNTK_THREADS``, one
    thread per task: a worker runs as many tasks at once as it has threads, so more threads
    per task would oversubscribe its cores (for the same reason Dask's nanny starts workers
    with ``OMP_NUM_THREADS=1``). Elsewhere (the synchronous or threaded scheduler of this
    process) the configured threads."""
    if _on_worker() and not os.environ.get(config.SETTINGS["threads"].variable, "").strip():
        with config.override(threads=1):
            yield
    else:
        yield


def _on_worker():
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True
