"""Compare fastntk's convolutional kernels ``CNTK`` and ``CNNGP`` with neural-tangents.

    python scripts/compare_conv.py --exactness --nt-python nt-venv/bin/python
    python scripts/compare_conv.py --exactness --numpy-reference --nt-python nt-venv/bin/python
    python scripts/compare_conv.py --speed --nt-python nt-venv/bin/python --n 200 --depths 3
    python scripts/compare_conv.py --speed --cifar-shape --nt-python nt-venv/bin/python

neural-tangents runs in its own environment (its JAX needs NumPy < 2; see ``compare_peers.py``'s
docstring for how to install it), given by ``--nt-python`` or the ``FASTNTK_NT_PYTHON``
environment variable: this script writes the cases into a temporary folder and runs
``scripts/nt_reference.py --conv`` (or ``--conv-speed``) there under that Python, in float64
(``jax_enable_x64``) on the CPU.

The networks
------------
``fk.CNTK(depth, filter_size=q, padding, pooling, activation, w_std, b_std)`` and
``fk.CNNGP(...)`` are neural-tangents' kernels, in the NTK parameterization, of ::

    stax.serial(*[stax.Conv(c, (q, q), padding=P, W_std=w_std, b_std=b_std), act] * depth,
                stax.GlobalAvgPool() or stax.Flatten(), stax.Dense(1, W_std=w_std, b_std=b_std))

for images (n, H, W, C), channels last, and with the filter ``(q,)`` for signals (n, L, C).
fastntk's ``b_std = 0`` is neural-tangents' ``b_std=None`` (no biases); ``padding`` "same",
"valid", "circular" is "SAME", "VALID", "CIRCULAR"; ``pooling`` "global" is ``GlobalAvgPool``,
"flatten" is ``Flatten``; ``act`` is ``stax.Relu()`` for "relu", ``stax.Erf()`` for "erf".

Exactness (``--exactness``)
---------------------------
Every (depth 1-4, filter 3 or 5, padding, pooling, activation) on each of four input sets, where
"valid" padding leaves at least one position (``min(spatial) - depth (q - 1) >= 1``; the rest is
skipped and counted):

- ``image``: X (4, 8, 8, 2) and Z (3, 8, 8, 2), standard normal;
- ``rect``: X (4, 7, 6, 3) and Z (3, 7, 6, 3), standard normal (non-square, odd channel count);
- ``signal``: X (4, 12, 2) and Z (3, 12, 2), standard normal 1-D signals;
- ``digits``: the first 4 and the next 3 of the 8x8 digits, (n, 8, 8, 1) scaled to [0, 1]: from
  ``fastntk.datasets.load_digits()`` where it exists, else scikit-learn's ``load_digits``, else
  left out with a message. Their borders are zero: without biases some positions have a zero
  variance there.

The random entries are rounded to multiples of 2^-10, so that the input covariances are exact
in float64 (as in ``compare_peers.py``). ``(W_std, b_std)`` rotates through (1, 0), (1.4, 0),
(1, 0.3), (1.4, 0.3) over the (filter, padding, pooling, activation) combinations, so that every
(pooling, activation) meets each setting within an input set, and shifted by one per input set,
so that each combination meets every setting once over the four sets; all depths of a network
share its setting. Each case (network, depth) is compared as K(X, Z) (from
``fk.gram(k, X, Z)``) and as K(X, X) (from ``fk.gram(k, X)``, against neural-tangents'
``kernel_fn(X, None)``), for the NNGP and the NTK, and again from one ``fk.gram_many`` call over
the network's depths. The error of a case is ``max |K - K_nt| / max |K_nt|``; the table gives the
worst per group (``--group-by``) and the number of cases, and the exit status is 1 if one exceeds
``--tolerance`` (default 1e-10) or is not finite.

``--numpy-reference`` also compares neural-tangents with a plain NumPy evaluation of the
recursion, written here from its definition (``numpy_conv_kernels``), in a table of its own;
with it the run works before fastntk has its convolutional kernels (their table is then left
out). Per pair of inputs (x, z), with positions p, p' and C channels:

- ``Sigma_0[p, p'] = x_p . z_p' / C``, ``Theta~_0 = 0``;
- each layer ``l``: ``Sigma_l = w^2 A(K_{l-1}) + b^2`` and ``Theta_l = w^2 A(Theta~_{l-1}) +
  Sigma_l``, where ``A`` averages over the window of the filter, shifting both positions by the
  same offset (zero padding for "same", wrapping for "circular", shrinking for "valid"; divided
  by ``q^2`` (``q`` for signals) at the borders too); ``K_l = T(Sigma_l)`` and ``Theta~_l =
  Theta_l Td(Sigma_l)``, with the variances ``Sigma_l(x, x)[p, p]`` and ``Sigma_l(z, z)[p', p']``;
- readout: ``P`` is the mean over all pairs (p, p') for "global", over p = p' for "flatten";
  ``NNGP = w^2 P(K_depth) + b^2``, ``NTK = w^2 P(Theta~_depth) + NNGP``.

ReLU: ``T = sqrt(sxx szz) (sin t + (pi - t) cos t) / (2 pi)``, ``Td = (pi - t) / (2 pi)``, ``t``
the angle ``arctan2(sqrt(sxx szz - sxz^2), sxz)`` (``pi / 2`` where both are 0, as in
neural-tangents: a zero variance, whose ``Theta`` is 0 too, so the value does not matter). Erf:
``T = (2 / pi) asin(2 sxz / sqrt((1 + 2 sxx) (1 + 2 szz)))``, ``Td = (4 / pi) / sqrt((1 + 2 sxx)
(1 + 2 szz) - 4 sxz^2)``.

Where the errors come from
--------------------------
neural-tangents takes ReLU's angle as ``arctan2(sqrt(sxx szz - sxz^2), sxz)``. At an exactly
parallel pair of windows (every equal position of K(x, x); in the digits, with their zero
borders, windows holding one lit pixel at the same place, which "circular" padding multiplies)
the float64 rounding of ``sxx szz`` and ``sxz^2`` leaves ``eps sxz^2`` under that root, an angle
of about 1e-8 instead of 0, which the NTK carries at first order. Averaged over the positions it
is the worst row of the exactness table (``digits relu circular global``, depth 1, 2.4e-13):
against a 40-digit evaluation of that case from the exact inputs, neural-tangents is 2.4e-13
off and fastntk 2e-15. The jitted kernels of ``--speed`` lose more: XLA fuses ``sxx szz -
sxz^2`` into a multiply-add, so even equal positions of K(x, x) are no longer exactly parallel,
and neural-tangents' jitted ReLU NTK of 40 digits at depth 3 is 2e-9 (flatten) and 7e-11
(global) from 40-digit values that fastntk meets to 1e-15; its eager kernel is within 3e-12. The
NumPy reference here computes the same angle from variances summed apart from the covariances,
which costs it the same kind of error (within 1e-13 of neural-tangents on these cases); it
checks neural-tangents' formulas and layer order, not the last digits.

Speed (``--speed``)
-------------------
The first ``--n`` (default 200) of the 8x8 digits (as above), ``--depths`` (default 3), both
poolings, ReLU, filter 3, "same" padding, ``w_std = 1``, no biases, float64, the NTK
(``--kernels`` adds ``nngp``), as K(X, X). neural-tangents first, all its networks, in its own
Python: ``jax.jit`` of ``kernel_fn(X, None, get)``, whose first call (compile and run) is timed
apart, then the best of ``--repeats`` calls, each brought to the host. Then fastntk: the best of
``--repeats`` calls of ``fk.gram(k, X)`` after a warm-up call. The two never run at once. The
table gives each side's time per entry of the n x n matrix (``time / n^2``, in ms), ``NT /
fastntk`` (above 1: fastntk is faster), neural-tangents' compile call, its ``nt.batch`` block
size, ``agree``: ``max |K - K_nt| / max |K_nt|`` over the first rows, and ``agree off-diag``:
the same without the entries K(x, x), for information. The ReLU NTK's ``agree`` is neural-
tangents' jitted error on the diagonal (see above): 2e-9 for the digits at depth 3, 8e-9 for the
32x32x3 images at depth 10 with "flatten", where fastntk meets its eager kernel to 3e-15.

neural-tangents' ``GlobalAvgPool`` networks carry the covariance of every pair of positions for
every pair of inputs, ``n^2 (H W)^2`` doubles per array (1.3 GB for 200 digits) and a few such
arrays at once. Where ``NT_ARRAYS`` of them would exceed ``--nt-memory-gb`` (default 2), and
only then, neural-tangents computes its kernel in ``nt.batch`` blocks (``store_on_device=False``)
of the largest divisor of n that fits; ``--nt-batch-size`` sets the block instead (0: never).
Batching costs neural-tangents some time; the ``NT batch`` column says where it was used.

``--cifar-shape`` times random 32x32x3 images instead, at depths 5 and 10 (``--cifar-depths``),
with ``--cifar-n-global`` (default 4) images for "global" pooling (its 32^4 covariances are 8 MB
per pair) and ``--cifar-n-flatten`` (default 32) for "flatten".

The times are noisy (best of r on a machine that may be shared; XLA and Numba use the cores
differently): treat ratios within a factor of about 1.5 as equal.
"""

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

import fastntk as fk

DEPTHS = (1, 2, 3, 4)
FILTERS = (3, 5)
PADDINGS = ("same", "valid", "circular")
POOLINGS = ("global", "flatten")
#: fastntk's activation name and neural-tangents' ``stax`` layer.
ACTIVATIONS = {"relu": "Relu", "erf": "Erf"}
#: ``(W_std, b_std)``, 0 being no biases; rotated over the cases (see the module docstring).
SETTINGS = ((1.0, 0.0), (1.4, 0.0), (1.0, 0.3), (1.4, 0.3))
TOLERANCE = 1e-10
INPUT_SETS = ("image", "rect", "signal", "digits")
#: ``--group-by`` fields, each a function of a case.
GROUP_FIELDS = ("inputs", "depth", "filter", "padding", "pooling", "activation", "setting")

SPEED_N = 200
SPEED_DEPTHS = (3,)
CIFAR_DEPTHS = (5, 10)
#: Rows of neural-tangents' kernel brought back for the agreement column.
SPEED_ROWS = 8
#: Arrays of the size of the kernel's full covariance that neural-tangents holds at once: a
#: rough count (nngp, ntk, their padded and convolved copies, the activation's intermediates),
#: used only to decide whether to batch.
NT_ARRAYS = 8


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nt-python",
        default=os.environ.get("FASTNTK_NT_PYTHON"),
        help="the Python of neural-tangents' own environment (default: $FASTNTK_NT_PYTHON)",
    )
    parser.add_argument("--exactness", action="store_true", help="check against neural-tangents")
    parser.add_argument("--speed", action="store_true", help="time against neural-tangents")
    exact = parser.add_argument_group("exactness")
    exact.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE,
        help="largest max |K - K_nt| / max |K_nt| accepted per case",
    )
    exact.add_argument(
        "--numpy-reference",
        action="store_true",
        help="also compare neural-tangents with this script's NumPy evaluation of the recursion",
    )
    exact.add_argument(
        "--group-by",
        nargs="+",
        choices=GROUP_FIELDS,
        default=["pooling", "padding", "activation"],
        help="the fields of a table row",
    )
    exact.add_argument(
        "--nt-jobs",
        type=int,
        default=max(1, min(2, os.cpu_count() or 1)),
        help="neural-tangents processes, each with a share of the networks",
    )
    exact.add_argument(
        "--nt-serial",
        action="store_true",
        help="have neural-tangents build each depth's stax.serial from scratch (slower)",
    )
    exact.add_argument(
        "--nt-keep", metavar="FOLDER", help="write neural-tangents' files into FOLDER and keep them"
    )
    exact.add_argument(
        "--inputs",
        nargs="+",
        choices=INPUT_SETS,
        default=list(INPUT_SETS),
        help="the input sets to check (default: all)",
    )
    exact.add_argument("--verbose", action="store_true", help="print every case")
    timing = parser.add_argument_group("speed")
    timing.add_argument("--n", type=int, default=SPEED_N, help="digits images (default 200)")
    timing.add_argument("--depths", type=int, nargs="+", default=list(SPEED_DEPTHS))
    timing.add_argument(
        "--kernels", nargs="+", choices=("ntk", "nngp"), default=["ntk"], help="default: ntk"
    )
    timing.add_argument("--repeats", type=int, default=3, help="timed calls (best kept)")
    timing.add_argument(
        "--nt-memory-gb",
        type=float,
        default=2.0,
        help="batch neural-tangents' kernel where its estimated memory exceeds this",
    )
    timing.add_argument(
        "--nt-batch-size",
        type=int,
        default=None,
        help="neural-tangents' nt.batch block (must divide n; 0: never batch; default: by memory)",
    )
    timing.add_argument(
        "--cifar-shape", action="store_true", help="random 32x32x3 images instead of digits"
    )
    timing.add_argument("--cifar-depths", type=int, nargs="+", default=list(CIFAR_DEPTHS))
    timing.add_argument("--cifar-n-global", type=int, default=4)
    timing.add_argument("--cifar-n-flatten", type=int, default=32)
    arguments = parser.parse_args()
    if arguments.exactness == arguments.speed:
        parser.error("give one of --exactness and --speed")
    if not arguments.nt_python:
        parser.error(
            "neural-tangents' Python is needed: --nt-python PATH or FASTNTK_NT_PYTHON (see"
            " compare_peers.py's docstring for how to install it)"
        )
    for name in ("n", "repeats", "nt_jobs", "cifar_n_global", "cifar_n_flatten"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(arguments.depths + arguments.cifar_depths) < 1:
        parser.error("depths must be at least 1")
    batch = arguments.nt_batch_size
    if arguments.cifar_shape:
        sizes = (arguments.cifar_n_global, arguments.cifar_n_flatten)
    else:
        sizes = (arguments.n,)
    if batch is not None and (batch < 0 or (batch and any(n % batch for n in sizes))):
        parser.error(f"--nt-batch-size must be 0 or divide every n ({sizes}), got {batch}")
    return arguments


# --------------------------------------------------------------------------------------------
# Inputs and cases
# --------------------------------------------------------------------------------------------


def load_digits():
    """``(images (1797, 8, 8, 1) in [0, 1], source)``, or ``(None, why)``: fastntk's own
    ``datasets.load_digits`` where it exists, else scikit-learn's."""
    reasons = []
    loader = getattr(getattr(fk, "datasets", None), "load_digits", None)
    if loader is not None:
        try:
            loaded = loader()
            images = getattr(loaded, "X", None)
            if images is None:
                images = loaded[0] if isinstance(loaded, tuple) else loaded
            images = np.asarray(images, dtype=np.float64).reshape(-1, 8, 8, 1)
            if images.max() > 1.0:  # the raw 0-16 gray levels
                images = images / 16.0
            return images, "fastntk.datasets.load_digits"
        except Exception as error:  # a loader of another shape: fall back to scikit-learn
            reasons.append(f"fastntk.datasets.load_digits: {type(error).__name__}: {error}")
    else:
        reasons.append("no fastntk.datasets.load_digits")
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        reasons.append(f"scikit-learn: {error}")
        return None, "; ".join(reasons)
    images = sklearn_digits().images.astype(np.float64) / 16.0
    source = "; ".join(["sklearn.datasets.load_digits", *reasons])
    return images.reshape(-1, 8, 8, 1), source


def exactness_inputs(names=INPUT_SETS):
    """``({set: (X, Z)}, note)``: the input sets of the module docstring that ``names`` lists."""
    rng = np.random.default_rng(20240611)

    def draw(shape):
        # Multiples of 2^-10: the input covariances are exact in float64.
        return np.round(rng.standard_normal(shape) * 1024.0) / 1024.0

    inputs = {
        "image": (draw((4, 8, 8, 2)), draw((3, 8, 8, 2))),
        "rect": (draw((4, 7, 6, 3)), draw((3, 7, 6, 3))),
        "signal": (draw((4, 12, 2)), draw((3, 12, 2))),
    }
    note = "no digits"
    if "digits" in names:
        digits, source = load_digits()
        if digits is not None:
            inputs["digits"] = (digits[:4], digits[4:7])
            note = f"digits from {source}"
        else:
            note = f"digits left out: {source}"
    return {name: pair for name, pair in inputs.items() if name in names}, note


@dataclass(frozen=True)
class Network:
    """One convolutional network, at each of its depths."""

    id: str
    inputs: str
    filter_size: int
    padding: str
    pooling: str
    activation: str
    w_std: float
    b_std: float
    depths: tuple

    def description(self, serial=False):
        """The network as ``nt_reference.py --conv`` reads it."""
        return {
            "id": self.id,
            "inputs": self.inputs,
            "activation": {"name": ACTIVATIONS[self.activation], "kwargs": {}},
            "W_std": self.w_std,
            "b_std": self.b_std if self.b_std > 0 else None,
            "filter_size": self.filter_size,
            "padding": self.padding.upper(),
            "pooling": self.pooling,
            "depths": list(self.depths),
            "serial": serial,
        }

    def kernel(self, kind, depth):
        """fastntk's ``CNTK`` (``kind`` "ntk") or ``CNNGP`` (``kind`` "nngp") of one depth."""
        family = fk.CNTK if kind == "ntk" else fk.CNNGP
        return family(
            depth=depth,
            filter_size=self.filter_size,
            padding=self.padding,
            pooling=self.pooling,
            activation=self.activation,
            w_std=self.w_std,
            b_std=self.b_std,
        )

    def fields(self, depth):
        return {
            "inputs": self.inputs,
            "depth": str(depth),
            "filter": str(self.filter_size),
            "padding": self.padding,
            "pooling": self.pooling,
            "activation": self.activation,
            "setting": f"w={self.w_std:g} b={self.b_std:g}",
        }

    def label(self, depth):
        return (
            f"{self.inputs} {self.activation} q={self.filter_size} {self.padding} {self.pooling}"
            f" w={self.w_std:g} b={self.b_std:g} L={depth}"
        )


def valid_depths(spatial, filter_size, padding):
    """The depths of ``DEPTHS`` that leave at least one position."""
    if padding != "valid":
        return DEPTHS
    return tuple(depth for depth in DEPTHS if min(spatial) - depth * (filter_size - 1) >= 1)


def exactness_networks(inputs):
    """``(networks, skipped)``: one network per input set and (filter, padding, pooling,
    activation), with a rotating ``(W_std, b_std)``; ``skipped`` counts the impossible depths."""
    networks, skipped = [], 0
    combinations = list(itertools.product(FILTERS, PADDINGS, POOLINGS, ACTIVATIONS))
    for shift, (name, (X, _)) in enumerate(inputs.items()):
        spatial = X.shape[1:-1]
        for index, (filter_size, padding, pooling, activation) in enumerate(combinations):
            depths = valid_depths(spatial, filter_size, padding)
            skipped += len(DEPTHS) - len(depths)
            if not depths:
                continue
            # index % 4 is (pooling, activation) alone; adding index // 4 (filter, padding) lets
            # each (pooling, activation) meet every setting within one input set too.
            rotation = index + index // len(SETTINGS) + shift
            w_std, b_std = SETTINGS[rotation % len(SETTINGS)]
            networks.append(
                Network(
                    f"c{len(networks)}",
                    name,
                    filter_size,
                    padding,
                    pooling,
                    activation,
                    w_std,
                    b_std,
                    depths,
                )
            )
    return networks, skipped


# --------------------------------------------------------------------------------------------
# neural-tangents in its own Python
# --------------------------------------------------------------------------------------------

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_reference.py")


def nt_environment():
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("PYTHONPATH", "PYTHONHOME"):  # that environment is self-contained
        environment.pop(name, None)
    return environment


class NeuralTangents:
    """``nt_reference.py --conv`` in ``jobs`` processes that run while this one computes
    fastntk's side; ``results()`` waits for them."""

    def __init__(self, python, networks, inputs, jobs, serial, keep=None):
        if keep:
            os.makedirs(keep, exist_ok=True)
            self.folder, self.root = None, keep
        else:
            self.folder = tempfile.TemporaryDirectory(prefix="fastntk-nt-conv-")
            self.root = self.folder.name
        arrays = {
            f"{name}/{axis}": rows
            for name, pair in inputs.items()
            for axis, rows in zip("XZ", pair, strict=True)
        }
        self.jobs = []
        try:
            for job in range(min(jobs, len(networks))):
                folder = os.path.join(self.root, f"job{job}")
                os.makedirs(folder, exist_ok=True)
                np.savez(os.path.join(folder, "inputs.npz"), **arrays)
                share = [network.description(serial) for network in networks[job::jobs]]
                with open(os.path.join(folder, "conv_cases.json"), "w") as file:
                    json.dump({"networks": share}, file)
                log = open(os.path.join(folder, "log.txt"), "w")
                try:
                    process = subprocess.Popen(
                        [python, SCRIPT, "--conv", folder],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=nt_environment(),
                    )
                except BaseException:
                    log.close()
                    raise
                self.jobs.append((folder, process, log))
        except BaseException:
            self.stop()
            raise

    def results(self):
        """``({key: array}, [summary per job])``; raises ``RuntimeError`` if a job failed."""
        arrays, summaries = {}, []
        for folder, process, log in self.jobs:
            status = process.wait()
            log.close()
            if status != 0:
                with open(os.path.join(folder, "log.txt")) as file:
                    tail = file.read()[-4000:]
                raise RuntimeError(f"nt_reference.py --conv exited with status {status}:\n{tail}")
            with np.load(os.path.join(folder, "conv_results.npz")) as stored:
                arrays.update({key: stored[key] for key in stored.files})
            with open(os.path.join(folder, "conv_results.json")) as file:
                summaries.append(json.load(file))
        self.cleanup()
        return arrays, summaries

    def cleanup(self):
        if self.folder is not None:
            self.folder.cleanup()

    def stop(self):
        for _, process, log in self.jobs:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
        self.cleanup()


# --------------------------------------------------------------------------------------------
# The recursion in plain NumPy
# --------------------------------------------------------------------------------------------


def window_average(K, filter_size, padding, batch_ndim, paired):
    """``A(K)``: the mean over the filter's window, in every spatial dimension, of ``K`` shifted
    by the same offset in each of its position axes.

    ``K`` has ``batch_ndim`` leading axes, then the spatial axes ``S``: ``(*S, *S)`` (a position
    pair) when ``paired``, else ``(*S,)`` (a position). "same" pads with zeros as XLA's SAME
    does (``(q - 1) // 2`` before, the rest after), "circular" wraps the same amounts, "valid"
    does not pad; the sum is divided by ``q`` per spatial dimension everywhere, borders included.
    """
    copies = 2 if paired else 1
    ndim = (K.ndim - batch_ndim) // copies
    groups = [
        tuple(batch_ndim + copy * ndim + axis for copy in range(copies)) for axis in range(ndim)
    ]
    before = 0 if padding == "valid" else (filter_size - 1) // 2
    after = 0 if padding == "valid" else filter_size - 1 - before
    widths = [(0, 0)] * batch_ndim + [(before, after)] * (K.ndim - batch_ndim)
    padded = np.pad(K, widths, mode="wrap" if padding == "circular" else "constant")
    lengths = [padded.shape[group[0]] - filter_size + 1 for group in groups]
    shape = list(K.shape)
    for group, length in zip(groups, lengths, strict=True):
        for axis in group:
            shape[axis] = length
    out = np.zeros(shape)
    for offsets in itertools.product(range(filter_size), repeat=ndim):
        index = [slice(None)] * K.ndim
        for group, offset, length in zip(groups, offsets, lengths, strict=True):
            for axis in group:
                index[axis] = slice(offset, offset + length)
        out += padded[tuple(index)]
    return out / filter_size**ndim


def dual(activation, sxz, sxx, szz):
    """``(T, Td)`` of the activation at covariance ``sxz`` and variances ``sxx``, ``szz``."""
    if activation == "relu":
        root = np.sqrt(np.maximum(sxx * szz - sxz**2, 0.0))
        angle = np.where((root == 0) & (sxz == 0), np.pi / 2, np.arctan2(root, sxz))
        return (root + (np.pi - angle) * sxz) / (2 * np.pi), (np.pi - angle) / (2 * np.pi)
    if activation == "erf":
        product = (1 + 2 * sxx) * (1 + 2 * szz)
        value = (2 / np.pi) * np.arcsin(2 * sxz / np.sqrt(product))
        return value, (4 / np.pi) / np.sqrt(product - 4 * sxz**2)
    raise ValueError(f"no dual for {activation!r}")


def numpy_conv_kernels(network, X, Z):
    """``{depth: (NNGP, NTK)}``: K(X, Z) of ``network`` at each of its depths, from the
    recursion of the module docstring (``Z = X`` for K(X, X))."""
    n, m, channels = X.shape[0], Z.shape[0], X.shape[-1]
    spatial = X.shape[1:-1]
    ndim, positions = len(spatial), math.prod(spatial)
    q, padding = network.filter_size, network.padding
    w2, b2 = network.w_std**2, network.b_std**2
    flat_x, flat_z = X.reshape(n, positions, channels), Z.reshape(m, positions, channels)
    # Sigma_0 as (n, m, *S, *S), and the variances of the positions as (n, *S) and (m, *S).
    K = np.einsum("apc,bqc->abpq", flat_x, flat_z) / channels
    K = K.reshape((n, m) + spatial + spatial)
    vx = (X**2).sum(-1) / channels
    vz = (Z**2).sum(-1) / channels
    theta = np.zeros_like(K)
    kernels = {}
    for depth in range(1, max(network.depths) + 1):
        sigma = w2 * window_average(K, q, padding, 2, True) + b2
        theta = w2 * window_average(theta, q, padding, 2, True) + sigma
        vx = w2 * window_average(vx, q, padding, 1, False) + b2
        vz = w2 * window_average(vz, q, padding, 1, False) + b2
        shape = vx.shape[1:]
        sxx = vx.reshape((n, 1) + shape + (1,) * ndim)
        szz = vz.reshape((1, m) + (1,) * ndim + shape)
        K, derivative = dual(network.activation, sigma, sxx, szz)
        theta = theta * derivative
        vx = dual(network.activation, vx, vx, vx)[0]
        vz = dual(network.activation, vz, vz, vz)[0]
        if depth in network.depths:
            nngp = w2 * readout(K, network.pooling) + b2
            kernels[depth] = (nngp, w2 * readout(theta, network.pooling) + nngp)
    return kernels


def readout(K, pooling):
    """``P(K)``: the mean over all position pairs ("global") or over equal positions
    ("flatten") of ``K`` (n, m, *S, *S)."""
    n, m = K.shape[:2]
    positions = math.isqrt(math.prod(K.shape[2:]))
    pairs = K.reshape(n, m, positions, positions)
    if pooling == "global":
        return pairs.mean(axis=(2, 3))
    return np.einsum("abpp->ab", pairs) / positions


# --------------------------------------------------------------------------------------------
# Exactness
# --------------------------------------------------------------------------------------------


def relative_error(K, reference):
    """``max |K - K_nt| / max |K_nt|`` (NaN where either side is not finite or of another
    shape)."""
    K, reference = np.asarray(K, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if K.shape != reference.shape or not (np.isfinite(K).all() and np.isfinite(reference).all()):
        return math.nan
    scale = np.max(np.abs(reference))
    difference = np.max(np.abs(K - reference))
    return float(difference / scale) if scale > 0 else float(difference)


#: The four comparisons of a case: (column, kernel kind, neural-tangents' key suffix).
BLOCKS = (
    ("nngp K(X,Z)", "nngp", ""),
    ("nngp K(X,X)", "nngp", "_xx"),
    ("ntk K(X,Z)", "ntk", ""),
    ("ntk K(X,X)", "ntk", "_xx"),
)


def fastntk_gram_side(network, X, Z):
    """``{(depth, kind, suffix): K}`` from ``fk.gram`` per depth."""
    kernels = {}
    for depth in network.depths:
        for _, kind, suffix in BLOCKS:
            kernel = network.kernel(kind, depth)
            kernels[depth, kind, suffix] = fk.gram(kernel, X, Z if suffix == "" else None)
    return kernels


def fastntk_gram_many_side(network, X, Z):
    """``{(depth, kind, suffix): K}`` from one ``fk.gram_many`` per kernel kind and block."""
    kernels = {}
    for kind in ("nngp", "ntk"):
        family = [network.kernel(kind, depth) for depth in network.depths]
        for suffix, second in (("", Z), ("_xx", None)):
            stacked = fk.gram_many(family, X, second)
            for depth, K in zip(network.depths, stacked, strict=True):
                kernels[depth, kind, suffix] = K
    return kernels


def numpy_side(network, X, Z):
    kernels = {}
    for suffix, second in (("", Z), ("_xx", X)):
        for depth, (nngp, ntk) in numpy_conv_kernels(network, X, second).items():
            kernels[depth, "nngp", suffix] = nngp
            kernels[depth, "ntk", suffix] = ntk
    return kernels


def worse(error, previous):
    """Whether ``error`` is worse than ``previous``; a NaN (not finite) is worse than anything."""
    return not math.isnan(previous) and (math.isnan(error) or error > previous)


@dataclass
class Group:
    """One row of a parity table."""

    cases: int = 0
    failures: int = 0
    worst: dict = field(default_factory=dict)
    worst_case: str = ""
    worst_value: float = -1.0

    def add(self, column, error, label):
        if worse(error, self.worst.get(column, -1.0)):
            self.worst[column] = error
        if worse(error, self.worst_value):
            self.worst_value, self.worst_case = error, label


def side_table(name, side, networks, inputs, reference, arguments):
    """Compare one side with neural-tangents; print its table; returns the failing cases."""
    groups, failures, errors = {}, [], []
    for network in networks:
        X, Z = inputs[network.inputs]
        try:
            kernels = side(network, X, Z)
            why = None
        except Exception as error:
            kernels, why = {}, f"{type(error).__name__}: {error}"
        for depth in network.depths:
            key = tuple(network.fields(depth)[field] for field in arguments.group_by)
            group = groups.setdefault(key, Group())
            group.cases += 1
            label = network.label(depth)
            if why is not None:
                group.failures += 1
                failures.append(f"{label}: {why}")
                group.add("error", math.nan, label)
                continue
            failed = False
            for column, kind, suffix in BLOCKS:
                expected = reference[f"{network.id}/{depth}/{kind}{suffix}"]
                error = relative_error(kernels[depth, kind, suffix], expected)
                group.add(column, error, f"{label} {column}")
                errors.append(error)
                if not error <= arguments.tolerance:
                    failed = True
                if arguments.verbose:
                    print(f"  {name}: {label} {column}: {error:.1e}")
            if failed:
                group.failures += 1
                failures.append(label)
    columns = [column for column, _, _ in BLOCKS]
    header = "| " + " | ".join(arguments.group_by) + " | cases | " + " | ".join(columns)
    print(f"\n{name} against neural-tangents: max |K - K_nt| / max |K_nt| per case, the worst\n")
    print(header + " | worst case | status |")
    print("|" + "---|" * (len(arguments.group_by) + len(columns) + 3))
    for key in sorted(groups, key=group_order(arguments.group_by)):
        group = groups[key]
        cells = [
            "-" if value is None else format(value, ".1e")
            for value in (group.worst.get(column) for column in columns)
        ]
        status = "ok" if group.failures == 0 else f"{group.failures} FAIL"
        print(
            "| "
            + " | ".join(key)
            + f" | {group.cases} | "
            + " | ".join(cells)
            + f" | {group.worst_case} | {status} |"
        )
    finite = [error for error in errors if not math.isnan(error)]
    worst = max(finite) if finite else math.nan
    print(
        f"\n{name}: {sum(group.cases for group in groups.values())} cases x {len(BLOCKS)} "
        f"matrices, worst {worst:.1e}, {len(failures)} cases beyond {arguments.tolerance:g}"
        " or not finite"
    )
    for failure in failures[:20]:
        print(f"  FAIL {failure}")
    return failures


def group_order(fields):
    order = {
        "inputs": INPUT_SETS,
        "padding": PADDINGS,
        "pooling": POOLINGS,
        "activation": tuple(ACTIVATIONS),
    }

    def key(values):
        return tuple(
            order[field].index(value) if field in order and value in order[field] else value
            for field, value in zip(fields, values, strict=True)
        )

    return key


def has_conv_kernels():
    """``(True, None)`` when fastntk has ``CNTK``, ``CNNGP`` and ``gram_many``, else ``(False,
    why)``."""
    missing = [name for name in ("CNTK", "CNNGP", "gram_many") if not hasattr(fk, name)]
    return (not missing), (f"fastntk has no {', '.join(missing)}" if missing else None)


def exactness(arguments):
    start = time.perf_counter()
    inputs, note = exactness_inputs(arguments.inputs)
    networks, skipped = exactness_networks(inputs)
    available, why = has_conv_kernels()
    if not available and not arguments.numpy_reference:
        print(f"{why}: nothing to compare (--numpy-reference checks neural-tangents alone)")
        return 2
    cases = sum(len(network.depths) for network in networks)
    print(
        f"fastntk {fk.__version__}, numpy {np.__version__}; {len(networks)} networks, {cases}"
        f" cases (network, depth), {skipped} impossible valid-padding depths skipped; {note};"
        " inputs: " + ", ".join(f"{name} X{X.shape} Z{Z.shape}" for name, (X, Z) in inputs.items())
    )
    try:
        peer = NeuralTangents(
            arguments.nt_python,
            networks,
            inputs,
            arguments.nt_jobs,
            arguments.nt_serial,
            arguments.nt_keep,
        )
    except OSError as error:
        print(f"cannot run neural-tangents' Python {arguments.nt_python!r}: {error}")
        return 2
    try:
        if available:
            # Compile fastntk's code while neural-tangents works.
            for network in networks[:: len(PADDINGS)]:
                X, Z = inputs[network.inputs]
                try:
                    fk.gram(network.kernel("ntk", network.depths[0]), X[:2], Z[:1])
                except Exception:  # reported with its case below
                    pass
        reference, summaries = peer.results()
    except RuntimeError as error:
        peer.stop()
        print(error)
        return 2
    except BaseException:
        peer.stop()
        raise
    summary = summaries[0]
    print(
        f"neural-tangents {summary['neural_tangents']}, jax {summary['jax']}, numpy "
        f"{summary['numpy']}, python {summary['python']} on {summary['platform']}, "
        f"x64={summary['x64']}; {len(summaries)} processes, "
        f"{max(s['seconds'] for s in summaries):.0f} s"
    )
    sides = []
    if available:
        sides += [("fastntk fk.gram", fastntk_gram_side)]
        sides += [("fastntk fk.gram_many", fastntk_gram_many_side)]
    else:
        print(f"{why}: only the NumPy reference is compared")
    if arguments.numpy_reference:
        sides.append(("NumPy reference", numpy_side))
    failures = 0
    for name, side in sides:
        failures += len(side_table(name, side, networks, inputs, reference, arguments))
    print(f"\n{time.perf_counter() - start:.0f} s in all.")
    return 1 if failures else 0


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedCase:
    label: str
    network: Network
    depth: int
    kind: str
    batch_size: int

    def description(self):
        return dict(
            self.network.description(),
            label=self.label,
            depth=self.depth,
            get=self.kind,
            batch_size=self.batch_size,
        )


def nt_batch_size(n, spatial, pooling, arguments):
    """neural-tangents' ``nt.batch`` block for K(X, X) of ``n`` inputs: 0 (no batching) where
    its estimated memory fits ``--nt-memory-gb``, else the largest divisor of ``n`` that fits."""
    if arguments.nt_batch_size is not None:
        return arguments.nt_batch_size
    positions = math.prod(spatial)
    per_pair = NT_ARRAYS * 8 * (positions**2 if pooling == "global" else positions)
    budget = arguments.nt_memory_gb * 2**30
    if n * n * per_pair <= budget:
        return 0
    fitting = [b for b in range(1, n) if n % b == 0 and b * b * per_pair <= budget]
    return max(fitting) if fitting else 1


def speed_cases(X, plans, arguments):
    """``[SpeedCase]`` for the ``(pooling, depths, n)`` plans on inputs like ``X``."""
    cases = []
    for pooling, depths, n in plans:
        network = Network("speed", "X", 3, "same", pooling, "relu", 1.0, 0.0, tuple(depths))
        batch = nt_batch_size(n, X.shape[1:-1], pooling, arguments)
        for depth in depths:
            for kind in arguments.kernels:
                label = f"{pooling} L={depth} {kind} n={n}"
                cases.append(SpeedCase(label, network, depth, kind, batch))
    return cases


def nt_speed(python, cases, X, repeats):
    """Run ``nt_reference.py --conv-speed`` on ``X[:n]`` per distinct n; returns ``({label:
    timing}, {label: rows}, summary)``."""
    timings, rows, summary = {}, {}, {}
    by_n = {}
    for case in cases:
        by_n.setdefault(int(case.label.rsplit("n=", 1)[1]), []).append(case)
    for n, share in by_n.items():
        with tempfile.TemporaryDirectory(prefix="fastntk-nt-conv-speed-") as folder:
            np.savez(os.path.join(folder, "inputs.npz"), X=X[:n])
            with open(os.path.join(folder, "conv_speed.json"), "w") as file:
                json.dump(
                    {
                        "repeats": repeats,
                        "rows": SPEED_ROWS,
                        "networks": [case.description() for case in share],
                    },
                    file,
                )
            done = subprocess.run(
                [python, SCRIPT, "--conv-speed", folder],
                env=nt_environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"nt_reference.py --conv-speed exited with status {done.returncode}:\n"
                    + done.stdout[-4000:]
                )
            with open(os.path.join(folder, "conv_speed_results.json")) as file:
                summary = json.load(file)
            timings.update(summary["timings"])
            with np.load(os.path.join(folder, "conv_speed_rows.npz")) as stored:
                rows.update({key: stored[key] for key in stored.files})
    return timings, rows, summary


def best_time(function, repeats):
    """``(seconds, result)``: the fastest of ``repeats`` calls after one warm-up call."""
    result = function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def speed(arguments):
    available, why = has_conv_kernels()
    if not available:
        print(f"{why}: nothing to time")
        return 2
    if arguments.cifar_shape:
        rng = np.random.default_rng(20240612)
        largest = max(arguments.cifar_n_global, arguments.cifar_n_flatten)
        X = np.round(rng.standard_normal((largest, 32, 32, 3)) * 1024.0) / 1024.0
        source = "random 32x32x3 images"
        plans = [
            ("global", arguments.cifar_depths, arguments.cifar_n_global),
            ("flatten", arguments.cifar_depths, arguments.cifar_n_flatten),
        ]
    else:
        digits, source = load_digits()
        if digits is None:
            print(f"no digits: {source}")
            return 2
        if arguments.n > len(digits):
            print(f"--n {arguments.n} exceeds the {len(digits)} digits")
            return 2
        X = digits[: arguments.n]
        source = f"{arguments.n} digits (8x8x1) from {source}"
        plans = [(pooling, arguments.depths, arguments.n) for pooling in POOLINGS]
    cases = speed_cases(X, plans, arguments)
    print(
        f"fastntk {fk.__version__}, numpy {np.__version__}; {source}; ReLU, filter 3, same"
        f" padding, w_std=1, no biases, float64, K(X, X); best of {arguments.repeats}"
    )
    start = time.perf_counter()
    try:
        timings, nt_rows, summary = nt_speed(arguments.nt_python, cases, X, arguments.repeats)
    except (OSError, RuntimeError) as error:
        print(f"neural-tangents failed: {error}")
        return 2
    print(
        f"neural-tangents {summary['neural_tangents']}, jax {summary['jax']} on "
        f"{summary['platform']}, x64={summary['x64']}: {time.perf_counter() - start:.0f} s"
    )
    # fastntk only once neural-tangents has finished: the two never share the cores.
    print(
        "\n| pooling | depth | kernel | n | fastntk ms/entry | NT ms/entry | NT/fastntk"
        " | NT compile s | NT batch | agree | agree off-diag |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failures = 0
    for case in cases:
        n = int(case.label.rsplit("n=", 1)[1])
        kernel = case.network.kernel(case.kind, case.depth)
        cells = f"| {case.network.pooling} | {case.depth} | {case.kind} | {n} |"
        theirs = timings.get(case.label, {"error": "no result"})
        try:
            seconds, K = best_time(
                lambda kernel=kernel, n=n: fk.gram(kernel, X[:n]), arguments.repeats
            )
        except Exception as error:
            failures += 1
            print(f"{cells} fastntk failed: {type(error).__name__}: {error} |")
            continue
        mine = 1e3 * seconds / n**2
        if "error" in theirs:
            failures += 1
            print(f"{cells} {mine:.3g} | NT failed: {theirs['error']} |")
            continue
        nt_seconds = theirs["best_s"]
        reference = nt_rows[case.label]
        agree = relative_error(K[:SPEED_ROWS], reference)
        rows = len(reference)
        off = ~np.eye(rows, K.shape[1], dtype=bool)
        off_diagonal = relative_error(np.where(off, K[:rows], 0.0), np.where(off, reference, 0.0))
        print(
            f"{cells} {mine:.3g} | {1e3 * nt_seconds / n**2:.3g} | {nt_seconds / seconds:.1f}"
            f" | {theirs['compile_s']:.1f} | {theirs['batch_size'] or '-'} | {agree:.1e}"
            f" | {off_diagonal:.1e} |"
        )
    print(
        "\nms/entry: the best call's time over n^2; NT/fastntk above 1: fastntk is faster;"
        " NT compile s: its first jitted call (compile and run); NT batch: its nt.batch block"
        f" ('-': one call); agree: max |K - K_nt| / max |K_nt| over the first {SPEED_ROWS} rows"
        " (off-diag: without K(x, x))."
        " Times are noisy (see the docstring)."
    )
    return 1 if failures else 0


def main():
    arguments = parse_arguments()
    if arguments.speed:
        return speed(arguments)
    return exactness(arguments)


if __name__ == "__main__":
    sys.exit(main())
