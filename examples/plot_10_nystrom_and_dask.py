r"""
Large n: Nystrom centres, and the same fit on a Dask cluster
============================================================

Exact kernel regression holds the :math:`n \times n` matrix: 0.8 GB in float64 at
:math:`n = 10\,000`, 8 TB at a million rows, and costs :math:`O(n^3)` to factorise. The
Nystrom method (with Falkon's preconditioner: Rudi, Carratino and Rosasco, NeurIPS 2017)
restricts the predictor to :math:`m` centres :math:`C` sampled from the rows,
:math:`f(x) = K(x, C)\, a`, and finds :math:`a` from the normal equations

.. math::

    \left(K_{nm}^\top K_{nm} + \lambda K_{mm}\right) a = K_{nm}^\top y

by preconditioned conjugate gradients, one pass over :math:`K_{nm}` per iteration, computed
a strip at a time and forgotten: the memory is :math:`O(n d + m^2)`. With :math:`m = n` it is
exact kernel ridge regression.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastntk as fk

rng = np.random.default_rng(0)
n, d = 10_000, 4
X = rng.standard_normal((n, d))
X_test = rng.standard_normal((1_000, d))


def target(X):
    return np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]


y = target(X) + 0.1 * rng.standard_normal(n)
kernel = fk.NTK(depth=2, b_std=1.0)

# %%
# The test error against the number of centres, ``solver="nystrom"`` of ``KernelRegressor``.

centre_counts = (25, 50, 100, 200, 400)
errors = []
for m in centre_counts:
    start = time.perf_counter()
    model = fk.KernelRegressor(
        kernel, alpha=1e-3, relative_alpha=True, solver="nystrom", n_centers=m, random_state=0
    ).fit(X, y)
    errors.append(np.sqrt(np.mean((model.predict(X_test) - target(X_test)) ** 2)))
    print(
        f"m = {m:4d}: test RMSE {errors[-1]:.4f}, {model.n_iter_} CG iterations, "
        f"{time.perf_counter() - start:.1f} s"
    )

fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
ax.loglog(centre_counts, errors, "o-")
ax.axhline(0.1, color="gray", linestyle=":", label="noise level")
ax.set_xlabel("Nystrom centres m")
ax.set_ylabel("test RMSE against the noise-free target")
ax.set_title(f"NTK(depth=2), n = {n}")
ax.legend()
plt.show()

# %%
# The same fit on a Dask cluster. With ``X`` and ``y`` as dask arrays, each conjugate-gradient
# iteration is a map over the row chunks, each task on the worker that holds its chunk, and a
# sum of :math:`m`-vectors: the data move once. Here the cluster is one worker of two threads
# in this process (Dask's in-process transport: nothing listens on the network); the same code
# runs against a ``distributed.Client`` of many machines (``docs/SCALING.md`` measures one).

import dask.array as da  # noqa: E402
import distributed  # noqa: E402

in_process = fk.KernelRegressor(
    kernel, alpha=1e-3, relative_alpha=True, solver="nystrom", n_centers=200, random_state=0
).fit(X, y)
with (
    distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
    ) as cluster,
    distributed.Client(cluster),
):
    X_chunks = da.from_array(X, chunks=(n // 4, d))
    y_chunks = da.from_array(y, chunks=n // 4)
    on_cluster = fk.KernelRegressor(
        kernel, alpha=1e-3, relative_alpha=True, solver="nystrom", n_centers=200, random_state=0
    ).fit(X_chunks, y_chunks)
    predicted = on_cluster.predict(da.from_array(X_test, chunks=250)).compute()

reference = in_process.predict(X_test)
print(f"{X_chunks.numblocks[0]} row chunks; {on_cluster.n_iter_} CG iterations")
print(
    "largest difference of the cluster's predictions from the in-process fit's: "
    f"{np.abs(predicted - reference).max() / np.abs(reference).max():.1e} (relative)"
)
