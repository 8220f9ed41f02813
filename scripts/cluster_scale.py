"""A Nystrom fit on a Dask cluster against the same fit in one process, on the same cores.

    python scripts/cluster_scale.py                        # n = 10^6, m = 5000, float32
    python scripts/cluster_scale.py --n 100000 --iterations 4 --out cluster.json

The data and the kernel are those of ``large_scale.py`` (teacher-student regression, d = 20,
``NTK(depth=3)``, alpha chosen there by leave-one-out). Both fits run the same number of CG
iterations (``--iterations``, with a tolerance no float32 fit reaches), so they do the same
work:
- in process: ``KernelRegressor(solver="nystrom")`` on NumPy arrays, every core;
- on a ``distributed.LocalCluster`` of two worker processes with one thread each, bound to
  127.0.0.1: the same estimator on dask arrays of ``--chunks`` row chunks, persisted on the
  workers first (the one time X is sent). The workers are warmed up by a small fit first
  (imports and the compiled kernels' cache), as a long-lived cluster would be.

Measured: the fit times and their ratio (goal: cluster / in-process <= 1.25), the largest
relative difference of the predictions on 10000 test points, and for one CG iteration
(``ChunkedKernelOperator.normal_matmat`` on the persisted chunks): its wall time, the bytes
that crossed the loopback interface (all of Dask's traffic: client, scheduler and workers,
TCP headers included), the bytes workers sent each other, and each chunk's compute time from
the scheduler's task stream, from which ``docs/SCALING.md`` projects larger clusters.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import large_scale  # noqa: E402  (the data, kernel and alpha of the single-machine study)

import fastntk as fk  # noqa: E402
from fastntk import cluster  # noqa: E402
from fastntk.operators import KernelOperator  # noqa: E402


def loopback_bytes():
    import psutil

    counters = psutil.net_io_counters(pernic=True)["lo"]
    return counters.bytes_sent


def model(args):
    return fk.KernelRegressor(
        large_scale.KERNEL,
        alpha=args.alpha,
        solver="nystrom",
        n_centers=args.centers,
        random_state=0,
        cg_max_iter=args.iterations,
        cg_tol=1e-12,
        dtype=args.dtype,
    )


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fk.nystrom.ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - start


def one_iteration(client, fitted, X_chunks, dtype, repeats=3):
    """Wall time, loopback bytes, worker-to-worker bytes and per-chunk compute times of one CG
    product ``K^T K V`` on the persisted chunks (the median of ``repeats``), and the loopback
    bytes of an idle cluster over as long (its heartbeats: the background in those bytes)."""
    from distributed import get_task_stream

    centers = fitted.centers_
    operator = cluster.ChunkedKernelOperator(
        KernelOperator, fitted.kernel_, X_chunks, centers, dtype
    )
    V = np.random.default_rng(0).standard_normal((centers.shape[0], 1)).astype(dtype)
    operator.normal_matmat(V)  # the centres reach the workers once, before the timed products

    def sent(dask_worker):
        return dask_worker.transfer_outgoing_bytes_total

    seconds, wire, between, chunk_seconds = [], [], [], []
    for _ in range(repeats):
        before = sum(client.run(sent).values()), loopback_bytes()
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            operator.normal_matmat(V)
        seconds.append(time.perf_counter() - start)
        wire.append(loopback_bytes() - before[1])
        between.append(sum(client.run(sent).values()) - before[0])
        chunk_seconds += [
            sum(
                span["stop"] - span["start"]
                for span in task["startstops"]
                if span["action"] == "compute"
            )
            for task in stream.data
            if "on_chunk" in str(task["key"])
        ]
    idle = loopback_bytes()
    time.sleep(float(np.median(seconds)))
    idle = loopback_bytes() - idle
    return {
        "iteration_seconds": round(float(np.median(seconds)), 3),
        "iteration_loopback_bytes": int(np.median(wire)),
        "idle_loopback_bytes_as_long": idle,
        "iteration_worker_to_worker_bytes": int(np.median(between)),
        "vector_bytes": V.nbytes,
        "chunk_compute_seconds_median": round(float(np.median(chunk_seconds)), 3),
        "chunk_compute_seconds_range": [round(min(chunk_seconds), 3), round(max(chunk_seconds), 3)],
        "chunk_rows": int(X_chunks.chunks[0][0]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--centers", type=int, default=5000)
    parser.add_argument("--iterations", type=int, default=10, help="CG iterations of each fit")
    parser.add_argument("--chunks", type=int, default=16, help="row chunks of the dask arrays")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--alpha", type=float, help="default: chosen as in large_scale.py")
    parser.add_argument("--repeats", type=int, default=3, help="timed CG products")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument(
        "--no-stealing",
        action="store_true",
        help="start the cluster with Dask's work stealing off (it moves chunks to idle workers)",
    )
    parser.add_argument(
        "--rounding-reference",
        action="store_true",
        help="also fit in process on one thread: how far rounding alone moves the predictions",
    )
    args = parser.parse_args()

    import dask
    import dask.array as da
    import distributed

    if args.alpha is None:
        args.alpha = large_scale.choose_alpha()
    X, y, X_test, _ = large_scale.data(args.n)
    dtype = np.dtype(args.dtype)
    X, y = X.astype(dtype), y.astype(dtype)
    result = {"n": args.n, "centers": args.centers, "iterations": args.iterations}
    result.update(dtype=args.dtype, alpha=args.alpha, chunks=args.chunks)

    model(args).set_params(n_centers=200, cg_max_iter=2).fit(X[:5000], y[:5000])  # compile
    local = model(args)
    result["in_process_fit_seconds"] = round(timed_fit(local, X, y), 2)
    print(json.dumps({"in_process_fit_seconds": result["in_process_fit_seconds"]}), flush=True)
    reference = local.predict(X_test)
    scale = float(np.max(np.abs(reference)))
    if args.rounding_reference:
        with fk.config.override(threads=1):
            single = model(args)
            timed_fit(single, X, y)
        one_thread = single.predict(X_test)
        result["one_thread_relative_difference"] = float(
            np.max(np.abs(one_thread - reference)) / scale
        )

    stealing = {"distributed.scheduler.work-stealing": not args.no_stealing}
    result["work_stealing"] = not args.no_stealing
    with (
        dask.config.set(stealing),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as local_cluster,
        distributed.Client(local_cluster) as client,
    ):
        rows = -(-args.n // args.chunks)
        small = da.from_array(X[:5000], chunks=1000), da.from_array(y[:5000], chunks=1000)
        model(args).set_params(n_centers=200, cg_max_iter=2).fit(*small)  # warm the workers
        wire = loopback_bytes()
        start = time.perf_counter()
        X_chunks, y_chunks = client.persist(
            [da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)]
        )
        distributed.wait([X_chunks, y_chunks])
        result["send_x_seconds"] = round(time.perf_counter() - start, 2)
        result["send_x_loopback_bytes"] = loopback_bytes() - wire
        result["x_bytes"] = X.nbytes + y.nbytes
        distributed_model = model(args)
        wire = loopback_bytes()
        result["cluster_fit_seconds"] = round(timed_fit(distributed_model, X_chunks, y_chunks), 2)
        result["cluster_fit_loopback_bytes"] = loopback_bytes() - wire
        result["cg_iterations"] = [local.n_iter_, distributed_model.n_iter_]
        print(json.dumps({"cluster_fit_seconds": result["cluster_fit_seconds"]}), flush=True)
        prediction = distributed_model.predict(X_test)
        start = time.perf_counter()
        chunked = distributed_model.predict(da.from_array(X_test, chunks=2500)).compute()
        result["cluster_predict_seconds"] = round(time.perf_counter() - start, 2)
        result.update(one_iteration(client, distributed_model, X_chunks, dtype, args.repeats))

    result["prediction_relative_difference"] = float(np.max(np.abs(prediction - reference)) / scale)
    result["chunked_predict_relative_difference"] = float(
        np.max(np.abs(chunked - reference)) / scale
    )
    result["float_epsilon"] = float(np.finfo(dtype).eps)
    result["time_ratio"] = round(
        result["cluster_fit_seconds"] / result["in_process_fit_seconds"], 3
    )
    print(json.dumps(result, indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
