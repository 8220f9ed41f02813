"""Dask arrays in, dask arrays out (``fastntk.cluster``): against ``fk.gram`` on the same NumPy
data, with Dask's synchronous scheduler and on a ``distributed.LocalCluster`` of two worker
processes bound to 127.0.0.1."""

import os
import signal
import sys

import numpy as np
import pytest

import fastntk as fk
from fastntk import cluster, engine
from fastntk.nystrom import nystrom_fit

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

RNG = np.random.default_rng(20261202)
X = RNG.standard_normal((230, 6))
Z = RNG.standard_normal((57, 6))
KERNELS = [fk.NTK(depth=3), fk.Gaussian(lengthscale=2.0), fk.Laplacian()]


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as local,
        distributed.Client(local) as connected,
    ):
        yield connected


def relative_error(K, reference):
    return np.max(np.abs(K - reference)) / np.max(np.abs(reference))


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_symmetric_gram_matches_numpy(synchronous, kernel):
    K = fk.gram(kernel, da.from_array(X, chunks=(50, 3)))
    assert isinstance(K, da.Array) and K.chunks == ((50, 50, 50, 50, 30),) * 2
    computed = K.compute()
    assert relative_error(computed, fk.gram(kernel, X)) < 1e-13
    assert np.array_equal(computed, computed.T)
    assert np.array_equal(np.diag(computed), kernel.diag(X))


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_rectangular_gram_keeps_both_chunkings(synchronous, kernel):
    K = fk.gram(kernel, da.from_array(X, chunks=(80, 6)), da.from_array(Z, chunks=(20, 6)))
    assert K.chunks == ((80, 80, 70), (20, 20, 17))
    assert relative_error(K.compute(), fk.gram(kernel, X, Z)) < 1e-13


def test_numpy_z_with_dask_x(synchronous):
    K = fk.gram(fk.NTK(depth=2), da.from_array(X, chunks=100), Z)
    assert K.chunks[1] == (57,)
    assert relative_error(K.compute(), fk.gram(fk.NTK(depth=2), X, Z)) < 1e-13


def test_symmetric_blocks_above_the_diagonal_only(synchronous, monkeypatch):
    """Five row chunks: 15 blocks computed (5 on the diagonal, as symmetric blocks), and the
    10 below them are transposes."""
    calls = []
    gram_block = engine.gram_block

    def counting_block(kernel, A, B, dtype=None):
        calls.append(B is None)
        return gram_block(kernel, A, B, dtype=dtype)

    monkeypatch.setattr(engine, "gram_block", counting_block)
    K = fk.gram(fk.NTK(depth=2), da.from_array(X, chunks=50)).compute()
    assert len(calls) == 15 and sum(calls) == 5
    assert np.array_equal(K, K.T)
    monkeypatch.undo()
    assert relative_error(K, fk.gram(fk.NTK(depth=2), X)) < 1e-13


def test_one_task_per_block():
    K = fk.gram(fk.Gaussian(), da.from_array(X, chunks=50), da.from_array(Z, chunks=30))
    layer = K.dask.layers[K.name]
    assert len(layer) == 5 * 2


def test_float32_and_images(synchronous):
    images = fk.datasets.load_digits().X[:40]
    kernel = fk.CNTK(depth=2, pooling="flatten")
    K = fk.gram(kernel, da.from_array(images, chunks=(15, 8, 8, 1)), dtype=np.float32)
    assert K.dtype == np.float32
    assert relative_error(K.compute(), fk.gram(kernel, images)) < 1e-5


def test_stored_block_by_block_into_a_memmap(synchronous, tmp_path):
    K = fk.gram(fk.NTK(depth=3), da.from_array(X, chunks=64))
    target = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", shape=K.shape)
    da.store(K, target)
    target.flush()
    stored = np.load(tmp_path / "K.npy", mmap_mode="r")
    assert relative_error(stored, fk.gram(fk.NTK(depth=3), X)) < 1e-13


def test_on_a_local_cluster(client):
    kernel = fk.NTK(depth=3)
    K = fk.gram(kernel, da.from_array(X, chunks=60), da.from_array(Z, chunks=30))
    assert relative_error(client.compute(K).result(), fk.gram(kernel, X, Z)) < 1e-13
    symmetric = client.compute(fk.gram(kernel, da.from_array(X, chunks=60))).result()
    assert np.array_equal(symmetric, symmetric.T)
    assert np.array_equal(np.diag(symmetric), kernel.diag(X))


def test_a_block_that_raises_on_a_worker_raises_here(client):
    bad = X.copy()
    bad[170, 2] = np.nan
    K = fk.gram(fk.NTK(depth=2), da.from_array(bad, chunks=60))
    with pytest.raises(ValueError, match="NaN or infinity"):
        client.compute(K).result()


def test_bad_input():
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(TypeError, match="dtype complex128"):
        fk.gram(fk.NTK(), da.from_array(X.astype(complex), chunks=50))
    with pytest.raises(TypeError, match="dtype <U"):
        fk.gram(fk.NTK(), da.from_array(X.astype(str), chunks=50))
    with pytest.raises(ValueError, match="same shape after their rows"):
        fk.gram(fk.NTK(), Xd, da.from_array(Z[:, :4], chunks=20))
    with pytest.raises(ValueError, match="must have rows"):
        fk.gram(fk.NTK(), da.from_array(X[:, 0], chunks=50))
    with pytest.raises(ValueError, match="out="):
        fk.gram(fk.NTK(), Xd, out=np.empty((230, 230)))
    with pytest.raises(TypeError, match="dtype must be float"):
        fk.gram(fk.NTK(), Xd, dtype=np.int64)
    unknown = Xd[Xd[:, 0] > 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        fk.gram(fk.NTK(), unknown)


def test_without_dask_the_error_names_the_extra(monkeypatch):
    Xd = da.from_array(X, chunks=50)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"fastntk\[dask\]"):
        fk.gram(fk.NTK(), Xd)
    assert cluster.is_dask_array(Xd) and not cluster.is_dask_array(X)


# --- Nystrom fits ---------------------------------------------------------------------------

FIT = dict(alpha=1e-3, n_centers=60, seed=3, relative_alpha=True, tol=1e-12, max_iter=400)
Y = np.sin(X[:, 0]) + 0.1 * RNG.standard_normal(len(X))
X_TEST = RNG.standard_normal((40, 6))


def predictions(kernel, fit):
    return fk.gram(kernel, X_TEST, fit.centers) @ fit.coefficients


def in_process(kernel, y=Y):
    return predictions(kernel, nystrom_fit(kernel, X, y, **FIT))


@pytest.mark.parametrize("kernel", [fk.NTK(depth=3), fk.Gaussian(lengthscale=2.0)], ids=repr)
def test_nystrom_fit_on_chunks_matches_in_process(synchronous, kernel):
    fit = nystrom_fit(kernel, da.from_array(X, chunks=50), da.from_array(Y, chunks=50), **FIT)
    reference = in_process(kernel)
    assert relative_error(predictions(kernel, fit), reference) < 1e-8


def test_nystrom_fit_with_numpy_targets_and_several_outputs(synchronous):
    targets = np.stack([Y, np.cos(X[:, 1])], axis=1)
    fit = nystrom_fit(fk.NTK(depth=2), da.from_array(X, chunks=70), targets, **FIT)
    assert fit.coefficients.shape == (60, 2)
    reference = in_process(fk.NTK(depth=2), targets)
    assert relative_error(predictions(fk.NTK(depth=2), fit), reference) < 1e-8


def test_nystrom_fit_on_a_local_cluster(client):
    kernel = fk.NTK(depth=3)
    fit = nystrom_fit(kernel, da.from_array(X, chunks=50), da.from_array(Y, chunks=50), **FIT)
    assert relative_error(predictions(kernel, fit), in_process(kernel)) < 1e-8


def test_nystrom_fit_survives_a_killed_worker(client, monkeypatch):
    """One of the two worker processes is killed between two CG iterations: its nanny starts
    another, Dask recomputes the chunks it held from their lineage, and the fit gives the
    in-process predictions. (The kill is tied to the third iteration, not to a clock: a fit
    that ends before a timer fires would leave nothing tested.)"""
    kernel = fk.NTK(depth=3)
    big = np.tile(X, (8, 1)) + 1e-3 * RNG.standard_normal((8 * len(X), X.shape[1]))
    targets = np.sin(big[:, 0])
    pids = client.run(os.getpid)
    victim = pids[sorted(pids)[0]]
    product = cluster.ChunkedKernelOperator.normal_matmat
    iterations = []

    def product_killing_a_worker(operator, V):
        iterations.append(None)
        if len(iterations) == 3:
            os.kill(victim, signal.SIGKILL)
        return product(operator, V)

    monkeypatch.setattr(cluster.ChunkedKernelOperator, "normal_matmat", product_killing_a_worker)
    fit = nystrom_fit(
        kernel, da.from_array(big, chunks=100), da.from_array(targets, chunks=100), **FIT
    )
    assert len(iterations) > 3, "the fit ended before the worker was killed"
    assert client.run(os.getpid) != pids
    reference = nystrom_fit(kernel, big, targets, **FIT)
    assert relative_error(predictions(kernel, fit), predictions(kernel, reference)) < 1e-8


def test_nystrom_bad_input(synchronous):
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(ValueError, match="same row chunks"):
        nystrom_fit(fk.NTK(), Xd, da.from_array(Y, chunks=60), **FIT)
    with pytest.raises(TypeError, match="dtype complex128"):
        nystrom_fit(fk.NTK(), da.from_array(X.astype(complex), chunks=50), Y, **FIT)
    bad = Y.copy()
    bad[7] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        nystrom_fit(fk.NTK(), Xd, bad, **FIT)


# --- Estimators -----------------------------------------------------------------------------

ESTIMATOR = dict(
    alpha=1e-3, solver="nystrom", n_centers=60, random_state=3, cg_tol=1e-12, cg_max_iter=400
)
LABELS = np.array(["cat", "dog", "emu"])[(X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)]


def test_regressor_fits_and_predicts_on_chunks(synchronous):
    model = fk.KernelRegressor(**ESTIMATOR).fit(
        da.from_array(X, chunks=50), da.from_array(Y, chunks=50)
    )
    reference = fk.KernelRegressor(**ESTIMATOR).fit(X, Y)
    assert model.solver_ == "nystrom" and model.X_fit_ is None and model.n_fit_samples_ == 230
    chunked = model.predict(da.from_array(X_TEST, chunks=15))
    assert isinstance(chunked, da.Array) and chunked.chunks == ((15, 15, 10),)
    assert relative_error(chunked.compute(), reference.predict(X_TEST)) < 1e-8
    assert relative_error(model.predict(X_TEST), chunked.compute()) < 1e-13


def test_classifier_fits_and_predicts_on_a_local_cluster(client):
    """Labels as a dask array: only their distinct values come to the client; predictions are
    the in-process classifier's."""
    chunks = 40
    model = fk.KernelClassifier(**ESTIMATOR).fit(
        da.from_array(X, chunks=chunks), da.from_array(LABELS, chunks=chunks)
    )
    reference = fk.KernelClassifier(**ESTIMATOR).fit(X, LABELS)
    assert list(model.classes_) == ["cat", "dog", "emu"]
    scores = model.decision_function(da.from_array(X_TEST, chunks=chunks))
    assert relative_error(scores.compute(), reference.decision_function(X_TEST)) < 1e-8
    labels = model.predict(da.from_array(X_TEST, chunks=chunks))
    assert isinstance(labels, da.Array)
    assert np.array_equal(labels.compute(), reference.predict(X_TEST))


def test_predict_is_one_task_per_chunk_on_the_workers(client):
    """A distributed predict: one task per row chunk, each run on a worker."""
    from distributed import get_task_stream

    model = fk.KernelRegressor(**ESTIMATOR).fit(X, Y)
    prediction = model.predict(client.persist(da.from_array(X_TEST, chunks=10)))
    with get_task_stream(client) as stream:
        computed = prediction.compute()
    ran = [task for task in stream.data if "on_chunk" in str(task["key"])]
    assert len(ran) == 4
    assert {task["worker"] for task in ran} <= set(client.scheduler_info()["workers"])
    assert relative_error(computed, model.predict(X_TEST)) < 1e-12


def test_exact_solver_gathers_chunks_that_fit(synchronous):
    model = fk.KernelRegressor(alpha=1e-3).fit(da.from_array(X, chunks=50), Y)
    reference = fk.KernelRegressor(alpha=1e-3).fit(X, Y)
    assert model.solver_ == "cholesky"
    assert np.array_equal(model.predict(X_TEST), reference.predict(X_TEST))


def test_estimator_bad_input(synchronous):
    huge = da.zeros((10**6, 3), chunks=10**5)
    with pytest.raises(MemoryError, match="solver='nystrom'"):
        fk.KernelRegressor(solver="cholesky").fit(huge, da.zeros(10**6, chunks=10**5))
    with pytest.raises(MemoryError, match="solver='nystrom'"):
        fk.KernelRegressor(solver="cholesky").fit(np.zeros((10**6, 1)), np.zeros(10**6))
    square = da.from_array(fk.gram(fk.NTK(), X), chunks=50)
    with pytest.raises(ValueError, match="precomputed.*not a dask array"):
        fk.KernelRegressor(kernel="precomputed").fit(square, Y)
    fitted = fk.KernelRegressor(kernel="precomputed").fit(fk.gram(fk.NTK(), X), Y)
    with pytest.raises(ValueError, match="precomputed.*not a dask array"):
        fitted.predict(da.from_array(fk.gram(fk.NTK(), X_TEST, X), chunks=10))
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(ValueError, match="same row chunks"):
        fk.KernelRegressor(**ESTIMATOR).fit(Xd, da.from_array(Y, chunks=60))
    with pytest.raises(TypeError, match="dtype complex128"):
        fk.KernelRegressor(**ESTIMATOR).fit(da.from_array(X.astype(complex), chunks=50), Y)
    with pytest.raises(ValueError, match="continuous"):
        fk.KernelClassifier(**ESTIMATOR).fit(Xd, da.from_array(Y, chunks=50))
    model = fk.KernelRegressor(**ESTIMATOR).fit(Xd, Y)
    with pytest.raises(ValueError, match="expecting 6 features"):
        model.predict(da.zeros((5, 4)))
    with pytest.raises(ValueError, match="return_std"):
        model.predict(da.from_array(X_TEST), return_std=True)


def test_cg_products_leave_the_chunks_where_they_are(client):
    """Each chunk's task runs on a worker that holds it: between workers only vectors of the
    centres travel: over three products, fewer bytes than one chunk of X."""
    from fastntk.operators import KernelOperator

    data = RNG.standard_normal((16 * 1000, 20))
    chunks = client.persist(da.from_array(data, chunks=(1000, -1)))
    operator = cluster.ChunkedKernelOperator(KernelOperator, fk.NTK(), chunks, data[:50], "f8")
    V = RNG.standard_normal((50, 1))
    operator.normal_matmat(V)

    def sent(dask_worker):
        return dask_worker.transfer_outgoing_bytes_total

    before = sum(client.run(sent).values())
    for _ in range(3):
        product = operator.normal_matmat(V)
    moved = sum(client.run(sent).values()) - before
    assert moved < data[:1000].nbytes
    reference = KernelOperator(fk.NTK(), data, data[:50]).normal_matmat(V)
    assert relative_error(product, reference) < 1e-12
