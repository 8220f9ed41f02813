"""neural-tangents' infinite-width kernels for the cases ``compare_peers.py`` and
``compare_conv.py`` write.

    nt-venv/bin/python scripts/nt_reference.py CASE_DIR
    nt-venv/bin/python scripts/nt_reference.py --speed CASE_DIR
    nt-venv/bin/python scripts/nt_reference.py --conv CASE_DIR
    nt-venv/bin/python scripts/nt_reference.py --conv-speed CASE_DIR

This script runs under neural-tangents' own Python (its JAX needs NumPy < 2, fastntk's
environment has NumPy 2), so it imports neither fastntk nor anything of this repository: it
reads plain files and writes plain files. ``compare_peers.py`` runs it in a subprocess; see that
script's docstring for how to install neural-tangents.

Input, in ``CASE_DIR``:

- ``inputs.npz``: float64 arrays ``<set>/X`` (n, d) and ``<set>/Z`` (m, d), one pair per input set;
- ``cases.json``: ``{"networks": [network, ...]}``, each network a dict with ``id``, ``inputs``
  (an input set), ``activation`` (``{"name": <a neural_tangents.stax layer>, "kwargs": {...}}``),
  ``W_std``, ``b_std`` (``null``: no biases), ``parameterization`` (``"ntk"`` or ``"standard"``),
  ``width`` and ``depths`` (a list of hidden-layer counts), and optionally ``kernel_fn_kwargs``
  (keyword arguments of the ``kernel_fn`` call on the inputs, e.g. ``{"diagonal_spatial": true}``)
  and ``"serial": true``.

Output, in the same folder: ``results.npz`` with, per network ``id`` and depth ``L``, the kernels
of ``stax.serial(*[Dense(width, W_std, b_std, parameterization=P), activation] * L,
Dense(1, W_std, b_std, parameterization=P))`` on the stacked inputs ``[X; Z]`` (``x2=None``):

- ``<id>/<L>/nngp`` and ``<id>/<L>/ntk``: the (n + m, n + m) matrices (their blocks are K(X, X),
  K(X, Z) and K(Z, Z); every entry comes from the same elementwise formulas as a call with
  ``x2=Z`` would use, given the two diagonals);
- ``<id>/<L>/cov1``: neural-tangents' NNGP diagonal of ``[X; Z]``, from its diagonal formulas;

and ``results.json`` with the versions and the time taken.

Everything is float64 (``jax_enable_x64``) on the CPU, in eager mode: each network is evaluated
once, so compiling it with ``jax.jit`` would cost more than it saves. The depths of one network
share their computation: ``stax.serial`` calls its layers' kernel functions in turn on the
``Kernel`` object, so the kernel after ``L`` hidden layers is kept, the readout ``Dense`` applied
to it, and ``Dense, activation`` applied once more for ``L + 1``. The input kernel is ``Dense``'s
(the repeated layers add no requirement to it). ``"serial": true`` builds each depth's
``stax.serial`` from scratch instead (slower; the two give the same numbers, bit for bit).

``--speed`` (for ``compare_peers.py --speed``) times jitted kernels instead. ``CASE_DIR`` holds
``inputs.npz`` with one array ``X`` (n, d) and ``speed.json``: ``{"depth": L, "repeats": r,
"rows": k, "networks": [network, ...]}``, each network a dict with ``label``, ``activation`` (as
above), ``get`` (``"ntk"`` or ``"nngp"``) and ``kernel_fn_kwargs``. Each network is
``stax.serial(*[Dense(512, W_std=1, b_std=None), activation] * L, Dense(1, W_std=1, b_std=None))``
in the NTK parameterization; ``jax.jit`` of its ``kernel_fn(X, X, get)`` is called once (the
compile call, timed apart) and then ``r`` times, the best time kept, each call waiting for its
result (``block_until_ready``) and bringing it to the host as a NumPy array. The networks run
one after the other. Output: ``speed_results.json`` in the same folder (``{label: {"compile_s",
"best_s"}}`` or ``{label: {"error": text}}``, and the versions) and ``speed_rows.npz``: the
first ``k`` rows of each kernel, for a check of agreement.

Convolutional networks (``--conv``, for ``compare_conv.py --exactness``)
------------------------------------------------------------------------
``CASE_DIR`` holds ``inputs.npz``, float64 arrays ``<set>/X`` (n, *spatial, C) and ``<set>/Z``
(m, *spatial, C), channels last (images (n, H, W, C), signals (n, L, C)), and
``conv_cases.json``: ``{"networks": [network, ...]}``, each network a dict with ``id``,
``inputs``, ``activation`` (as above), ``W_std``, ``b_std`` (``null``: no biases),
``filter_size`` (q: the filter is (q, q) for images, (q,) for signals), ``padding`` (``"SAME"``,
``"VALID"`` or ``"CIRCULAR"``), ``pooling`` (``"global"``: ``GlobalAvgPool``, ``"flatten"``:
``Flatten``) and ``depths``, and optionally ``"serial": true``. The network of depth ``L`` is
``stax.serial(*[Conv(1, filter, padding=P, W_std=W_std, b_std=b_std), activation] * L, pooling,
Dense(1, W_std=W_std, b_std=b_std))`` in the NTK parameterization (which ignores the channel
counts). Output: ``conv_results.npz`` with, per network ``id`` and depth ``L``,

- ``<id>/<L>/nngp`` and ``<id>/<L>/ntk``: K(X, Z) (n, m), from ``kernel_fn(X, Z)``;
- ``<id>/<L>/nngp_xx`` and ``<id>/<L>/ntk_xx``: K(X, X) (n, n), from ``kernel_fn(X, None)``;

and ``conv_results.json`` with the versions and the time taken. As for the dense networks the
depths share their computation, eager and float64 on the CPU: the kernel after ``L`` blocks
``Conv, activation`` is kept, the readout ``pooling, Dense`` applied to it, and one more block
for ``L + 1``. The first block is called on the inputs with ``diagonal_spatial`` set to what
``stax.serial`` of the whole network would choose: ``True`` for ``Flatten`` (which needs only the
covariances of equal positions, and a convolution keeps that diagonal to itself), ``False`` for
``GlobalAvgPool`` (which sums every pair of positions; given a spatially diagonal kernel it
silently returns a different number, so this must not be left to a layer's own default).
``"serial": true`` builds each depth's ``stax.serial`` from scratch instead; the two give the
same numbers, bit for bit.

``--conv-speed`` (for ``compare_conv.py --speed``) times jitted convolutional kernels.
``CASE_DIR`` holds ``inputs.npz`` with one array ``X`` (n, *spatial, C) and ``conv_speed.json``:
``{"repeats": r, "rows": k, "networks": [network, ...]}``, each network a dict with ``label``,
``activation``, ``W_std``, ``b_std``, ``filter_size``, ``padding``, ``pooling`` (as for
``--conv``), ``depth``, ``get`` (``"ntk"`` or ``"nngp"``) and ``batch_size``. The kernel is
K(X, X) as ``kernel_fn(X, None, get)`` (neural-tangents' own symmetric call: it computes one set of
pixel variances, not two). With ``batch_size`` 0 that function is ``jax.jit``-ed whole; otherwise
it is ``nt.batch(kernel_fn, batch_size, store_on_device=False)`` (which jits each block itself
and gathers the blocks in host memory): only for memory, since the full spatial covariances of
``GlobalAvgPool`` take ``n^2 (H W)^2`` doubles per layer, and the caller chooses it. Timing as for
``--speed``: the first call (compile and run) apart, then the best of ``r`` calls, each waiting for
its result and bringing it to the host. Output: ``conv_speed_results.json`` (``{label:
{"compile_s", "best_s", "batch_size"}}`` or ``{label: {"error": text}}``, and the versions) and
``conv_speed_rows.npz``: the first ``k`` rows of each kernel.

Jitted, XLA contracts ``a * b - c * c`` into a fused multiply-add, so ReLU's
``sqrt(K(x,x) K(z,z) - K(x,z)^2)`` at exactly parallel position pairs (every equal position of
K(x, x), and windows that are multiples of each other across inputs) is the rounding error of
``c * c``, not 0: an angle of about 1e-8 instead of 0, which the NTK carries at first order. The
timed kernels can therefore be ~1e-9 (relative) from the exact ones where the eager kernels of
``--conv`` are within ~1e-12: the rows they save check agreement, not exactness.
"""

import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # neural-tangents imports TensorFlow
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platform_name", "cpu")

import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402


def activation_layer(description):
    """The ``stax`` layer named in a case, e.g. ``{"name": "Erf", "kwargs": {"a": 0.7}}``."""
    name = description["name"]
    layer = getattr(stax, name, None)
    if layer is None or not callable(layer):
        raise ValueError(f"neural_tangents.stax has no layer {name!r}")
    return layer(**description.get("kwargs", {}))


def network_kernels(network, X):
    """``{depth: Kernel}`` for one network of the case file, on the inputs ``X``."""
    parameterization = network["parameterization"]
    W_std, b_std, width = network["W_std"], network["b_std"], network["width"]

    def dense(out_dim):
        return stax.Dense(out_dim, W_std=W_std, b_std=b_std, parameterization=parameterization)

    activation = activation_layer(network["activation"])
    depths = sorted(set(network["depths"]))
    options = network.get("kernel_fn_kwargs", {})
    if network.get("serial", False):
        kernels = {}
        for depth in depths:
            _, _, kernel_fn = stax.serial(*[dense(width), activation] * depth, dense(1))
            kernels[depth] = kernel_fn(X, None, **options)
        return kernels
    # One layer at a time, not stax.serial(Dense, activation): a serial combinator resets the
    # shape its output Kernel records to its input's when one of its layers has no finite-width
    # function (ExpNormalized), and the next standard-parameterization Dense reads its input
    # width from that shape. Each layer on its own records its output shape.
    _, _, dense_fn = dense(width)
    _, _, activation_fn = activation
    _, _, readout_fn = dense(1)
    kernels = {}
    hidden = activation_fn(dense_fn(X, None, **options))
    for depth in range(1, depths[-1] + 1):
        if depth > 1:
            hidden = activation_fn(dense_fn(hidden))
        if depth in depths:
            kernels[depth] = readout_fn(hidden)
    return kernels


def speed(folder):
    """Time each network of ``speed.json`` (see the module docstring)."""
    with open(os.path.join(folder, "speed.json")) as file:
        cases = json.load(file)
    with np.load(os.path.join(folder, "inputs.npz")) as stored:
        X = jax.device_put(np.asarray(stored["X"], dtype=np.float64))
    depth, repeats, rows = cases["depth"], cases["repeats"], cases["rows"]
    timings, kept = {}, {}
    for network in cases["networks"]:
        label = network["label"]
        try:
            activation = activation_layer(network["activation"])
            layers = [stax.Dense(512, W_std=1.0, b_std=None), activation]
            _, _, kernel_fn = stax.serial(*layers * depth, stax.Dense(1, W_std=1.0, b_std=None))
            options = dict(network.get("kernel_fn_kwargs", {}), get=network["get"])

            def call(x1, x2, options=options, kernel_fn=kernel_fn):
                return kernel_fn(x1, x2, **options)

            compiled = jax.jit(call)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Hermite's unit-variance warning
                start = time.perf_counter()
                K = np.asarray(compiled(X, X).block_until_ready())
                compile_seconds = time.perf_counter() - start
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    K = np.asarray(compiled(X, X).block_until_ready())
                    best = min(best, time.perf_counter() - start)
            timings[label] = {"compile_s": compile_seconds, "best_s": best}
            kept[label] = np.asarray(K[:rows], dtype=np.float64)
            del K, compiled
        except Exception as error:  # reported in compare_peers.py's table
            timings[label] = {"error": f"{type(error).__name__}: {error}"[:300]}
    np.savez(os.path.join(folder, "speed_rows.npz"), **kept)
    summary = {
        "neural_tangents": nt.__version__,
        "jax": jax.__version__,
        "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64),
        "timings": timings,
    }
    with open(os.path.join(folder, "speed_results.json"), "w") as file:
        json.dump(summary, file)
    return 0


POOLINGS = {"global": stax.GlobalAvgPool, "flatten": stax.Flatten}


def conv_layers(network, spatial_ndim):
    """``(block, readout)``: the layers ``Conv, activation`` repeated per depth, and the readout
    ``pooling, Dense(1)``, of one convolutional network of a case file."""
    W_std, b_std = network["W_std"], network["b_std"]
    filter_shape = (network["filter_size"],) * spatial_ndim
    block = stax.serial(
        stax.Conv(1, filter_shape, padding=network["padding"], W_std=W_std, b_std=b_std),
        activation_layer(network["activation"]),
    )
    pooling = POOLINGS[network["pooling"]]
    readout = stax.serial(pooling(), stax.Dense(1, W_std=W_std, b_std=b_std))
    return block, readout


def conv_network(network, depth, spatial_ndim):
    """The whole network of one depth, as ``stax.serial`` builds it."""
    block, readout = conv_layers(network, spatial_ndim)
    return stax.serial(*[block] * depth, readout)


def conv_network_kernels(network, x1, x2):
    """``{depth: Kernel}`` for one convolutional network of the case file, on ``x1`` and ``x2``
    (``None``: ``x2 = x1``)."""
    spatial_ndim = x1.ndim - 2
    depths = sorted(set(network["depths"]))
    if network.get("serial", False):
        kernels = {}
        for depth in depths:
            _, _, kernel_fn = conv_network(network, depth, spatial_ndim)
            kernels[depth] = kernel_fn(x1, x2)
        return kernels
    (_, _, block_fn), (_, _, readout_fn) = conv_layers(network, spatial_ndim)
    # What stax.serial of the whole network would choose (see the module docstring).
    diagonal_spatial = network["pooling"] == "flatten"
    hidden = block_fn(x1, x2, diagonal_spatial=diagonal_spatial)
    kernels = {}
    for depth in range(1, depths[-1] + 1):
        if depth > 1:
            hidden = block_fn(hidden)
        if depth in depths:
            kernels[depth] = readout_fn(hidden)
    return kernels


def conv(folder):
    """The convolutional kernels of ``conv_cases.json`` (see the module docstring)."""
    start = time.perf_counter()
    with open(os.path.join(folder, "conv_cases.json")) as file:
        cases = json.load(file)
    with np.load(os.path.join(folder, "inputs.npz")) as stored:
        inputs = {name: np.asarray(stored[name], dtype=np.float64) for name in stored.files}
    results = {}
    for network in cases["networks"]:
        X = inputs[network["inputs"] + "/X"]
        Z = inputs[network["inputs"] + "/Z"]
        for suffix, x2 in (("", Z), ("_xx", None)):
            for depth, kernel in conv_network_kernels(network, X, x2).items():
                prefix = f"{network['id']}/{depth}/"
                results[prefix + "nngp" + suffix] = np.asarray(kernel.nngp, dtype=np.float64)
                results[prefix + "ntk" + suffix] = np.asarray(kernel.ntk, dtype=np.float64)
    np.savez(os.path.join(folder, "conv_results.npz"), **results)
    summary = {
        "neural_tangents": nt.__version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64),
        "networks": len(cases["networks"]),
        "seconds": time.perf_counter() - start,
    }
    with open(os.path.join(folder, "conv_results.json"), "w") as file:
        json.dump(summary, file)
    return 0


def symmetric_jit(kernel_fn, get):
    """``jax.jit`` of ``X -> kernel_fn(X, None, get)``."""
    return jax.jit(lambda x: kernel_fn(x, None, get))


def conv_speed(folder):
    """Time each network of ``conv_speed.json`` (see the module docstring)."""
    with open(os.path.join(folder, "conv_speed.json")) as file:
        cases = json.load(file)
    with np.load(os.path.join(folder, "inputs.npz")) as stored:
        X = jax.device_put(np.asarray(stored["X"], dtype=np.float64))
    repeats, rows = cases["repeats"], cases["rows"]
    timings, kept = {}, {}
    for network in cases["networks"]:
        label, batch_size = network["label"], network.get("batch_size", 0)
        try:
            _, _, kernel_fn = conv_network(network, network["depth"], X.ndim - 2)
            get = network["get"]
            if batch_size:
                batched = nt.batch(kernel_fn, batch_size=batch_size, store_on_device=False)

                def compute(batched=batched, get=get):
                    return np.asarray(batched(X, None, get))

            else:
                compiled = symmetric_jit(kernel_fn, get)

                def compute(compiled=compiled):
                    return np.asarray(compiled(X).block_until_ready())

            start = time.perf_counter()
            K = compute()
            compile_seconds = time.perf_counter() - start
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                K = compute()
                best = min(best, time.perf_counter() - start)
            timings[label] = {
                "compile_s": compile_seconds,
                "best_s": best,
                "batch_size": batch_size,
            }
            kept[label] = np.asarray(K[:rows], dtype=np.float64)
            del K, compute
        except Exception as error:  # reported in compare_conv.py's table
            timings[label] = {"error": f"{type(error).__name__}: {error}"[:300]}
    np.savez(os.path.join(folder, "conv_speed_rows.npz"), **kept)
    summary = {
        "neural_tangents": nt.__version__,
        "jax": jax.__version__,
        "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64),
        "timings": timings,
    }
    with open(os.path.join(folder, "conv_speed_results.json"), "w") as file:
        json.dump(summary, file)
    return 0


MODES = {"--speed": speed, "--conv": conv, "--conv-speed": conv_speed}


def main(argv):
    if len(argv) == 3 and argv[1] in MODES:
        return MODES[argv[1]](argv[2])
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    folder = argv[1]
    start = time.perf_counter()
    with open(os.path.join(folder, "cases.json")) as file:
        cases = json.load(file)
    with np.load(os.path.join(folder, "inputs.npz")) as stored:
        inputs = {name: np.asarray(stored[name], dtype=np.float64) for name in stored.files}
    results = {}
    with warnings.catch_warnings():
        # Hermite warns on every call that it assumes unit-variance pre-activations; the case
        # file gives it such inputs.
        warnings.simplefilter("ignore")
        for network in cases["networks"]:
            X = inputs[network["inputs"] + "/X"]
            Z = inputs[network["inputs"] + "/Z"]
            stacked = np.concatenate([X, Z])
            for depth, kernel in network_kernels(network, stacked).items():
                prefix = f"{network['id']}/{depth}/"
                results[prefix + "nngp"] = np.asarray(kernel.nngp, dtype=np.float64)
                results[prefix + "ntk"] = np.asarray(kernel.ntk, dtype=np.float64)
                results[prefix + "cov1"] = np.asarray(kernel.cov1, dtype=np.float64)
    np.savez(os.path.join(folder, "results.npz"), **results)
    summary = {
        "neural_tangents": nt.__version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64),
        "networks": len(cases["networks"]),
        "seconds": time.perf_counter() - start,
    }
    with open(os.path.join(folder, "results.json"), "w") as file:
        json.dump(summary, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
