"""NNGP and NTK of infinitely wide fully-connected networks (MATH.md section 3).

NTK parameterization, ``depth`` hidden layers::

    Sigma_1 = w_std^2 x.z / d + b_std^2,            Theta_1 = Sigma_1
    for l = 1 .. depth:
        T, Td = dual(Sigma_l(x, x), Sigma_l(z, z), Sigma_l(x, z))
        Sigma_{l+1} = w_std^2 T + b_std^2
        Theta_{l+1} = Sigma_{l+1} + w_std^2 Td Theta_l
    NNGP = Sigma_{depth+1},  NTK = Theta_{depth+1}

With ``frozen = F`` bottom layers not trained (Arora et al. 2020) the sum that ``Theta`` unrolls
to starts at ``Sigma_{F+1}``: ``Theta_{F+1} = Sigma_{F+1}``, then the same update; ``F = depth`` is
the NNGP. ``gram_many`` computes any set of depths and ``F`` values in one pass.
"""

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
from numba.extending import overload

from . import _engine_core as core
from ._base import Kernel
from ._jit import jit, scalar_jit
from ._math import cosine_tolerance, exact_dot, near_parallel, rsqrt_or_zero, snap_cosine
from ._validation import check_int, check_positive
from .activations import DUALS, Activation, as_activation

_NETWORK_FIELDS = (
    "depth",  # deepest layer any output needs
    "w_var",
    "b_var",
    "inverse_d",
    "slot_frozen",  # the distinct F < depth of NTK outputs, one running Theta each
    "output_depth",  # per output
    "output_slot",  # per output: its slot, or -1 for an NNGP output (Sigma)
    "snap",  # rounding bound of cosines in the computation dtype (see snap_cosine)
    "exact_snap",  # the same in float64, for entries recomputed in float64
)

#: The dual activation of each network spec class.
_DUAL_OF = {}


def dual(spec, sxz, sx, sz, qx, qz, c):
    """``(T, Td)`` of the network spec's activation: ``activations.DUALS`` chosen by the spec's
    class. Not ``_dispatch.spec_dispatch``: Numba's CUDA target does not compile an overload
    whose implementation takes ``*args``, and the CUDA kernel calls this one."""
    return _DUAL_OF[type(spec)](spec, sxz, sx, sz, qx, qz, c)


@overload(dual)
def _dual_typed(spec, sxz, sx, sz, qx, qz, c):
    implementation = _DUAL_OF.get(getattr(spec, "instance_class", None))
    if implementation is None:
        return None

    def call(spec, sxz, sx, sz, qx, qz, c):
        return implementation(spec, sxz, sx, sz, qx, qz, c)

    return call


#: One flat spec class per activation family: the network's fields, then the activation's.
#: (Numba's parallel loops cannot take nested tuples; the class still selects the dual.)
_SPEC_CLASSES = {}
for _activation_spec, _dual in DUALS.items():
    _name = "Network" + _activation_spec.__name__
    _SPEC_CLASSES[_activation_spec] = globals()[_name] = namedtuple(
        _name, _NETWORK_FIELDS + _activation_spec._fields
    )
    _DUAL_OF[_SPEC_CLASSES[_activation_spec]] = _dual

#: Per-row quantities of each layer l (rows 4 (l - 1) + k): Sigma_l(x, x), its square root,
#: the inverse of that root (0 for a zero variance) and 1 / sqrt(1 + 2 Sigma_l(x, x)).
_ROWS_PER_LAYER = 4


class _NetworkKernel(Kernel):
    """Shared by ``NNGP`` and ``NTK``."""

    def __post_init__(self):
        object.__setattr__(self, "depth", check_int(self.depth, "depth", 1))
        object.__setattr__(self, "activation", as_activation(self.activation))
        object.__setattr__(self, "w_std", check_positive(self.w_std, "w_std"))
        object.__setattr__(self, "b_std", check_positive(self.b_std, "b_std", allow_zero=True))

    @property
    def _cacheable(self):
        return self.activation.cacheable

    @property
    def _frozen_layers(self):
        return self.depth

    def _spec(self, n_features, dtype):
        return _network_spec(self.activation, self.w_std, self.b_std, [self], n_features, dtype)

    @staticmethod
    def _family_of(kernels):
        return NetworkFamily(tuple(kernels))


@dataclass(frozen=True)
class NNGP(_NetworkKernel):
    """Neural network Gaussian process kernel: the output covariance of an infinitely wide
    fully-connected network with ``depth`` hidden layers at initialisation,
    equal to neural-tangents' ``stax.serial(*[Dense(w, W_std, b_std), act] * depth,
    Dense(1, W_std, b_std))``. The recursion is in this module's docstring."""

    depth: int = 1
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0


@dataclass(frozen=True)
class NTK(_NetworkKernel):
    """Neural tangent kernel of the same network (see ``NNGP``), with its ``frozen`` bottom
    layers not trained (0: all layers trained; ``depth``: only the last layer, the NNGP)."""

    depth: int = 1
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0
    frozen: int = 0

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "frozen", check_int(self.frozen, "frozen", 0, self.depth))
        if self.frozen < self.depth and not self.activation.has_derivative:
            raise ValueError(
                f"the NTK of {self.activation!r} is not defined (its derivative is not a "
                "function); use NNGP, or NTK with frozen=depth"
            )

    @property
    def _frozen_layers(self):
        return self.frozen


@dataclass(frozen=True)
class NetworkFamily:
    """Several network kernels sharing activation, ``w_std`` and ``b_std``: one pass."""

    kernels: tuple

    def __post_init__(self):
        first = self.kernels[0]
        for kernel in self.kernels:
            if not isinstance(kernel, _NetworkKernel):
                raise TypeError(f"gram_many takes NNGP and NTK kernels, got {kernel!r}")
            shared = (kernel.activation, kernel.w_std, kernel.b_std)
            if shared != (first.activation, first.w_std, first.b_std):
                raise ValueError(
                    "kernels computed in one pass must share activation, w_std and b_std; "
                    f"got {first!r} and {kernel!r}"
                )

    @property
    def _n_outputs(self):
        return len(self.kernels)

    @property
    def _cacheable(self):
        return self.kernels[0]._cacheable

    def _spec(self, n_features, dtype):
        first = self.kernels[0]
        return _network_spec(
            first.activation, first.w_std, first.b_std, self.kernels, n_features, dtype
        )


def _network_spec(activation, w_std, b_std, kernels, n_features, dtype):
    frozen = [kernel._frozen_layers for kernel in kernels]
    depths = [kernel.depth for kernel in kernels]
    pairs = list(zip(frozen, depths, strict=True))
    slots = sorted({f for f, depth in pairs if f < depth})
    output_slot = [slots.index(f) if f < depth else -1 for f, depth in pairs]
    activation_spec = activation._spec(dtype)
    return _SPEC_CLASSES[type(activation_spec)](
        np.int64(max(depths)),
        dtype.type(w_std**2),
        dtype.type(b_std**2),
        dtype.type(1.0 / n_features),
        np.array(slots, dtype=np.int64),
        np.array(depths, dtype=np.int64),
        np.array(output_slot, dtype=np.int64),
        dtype.type(cosine_tolerance(n_features, dtype)),
        cosine_tolerance(n_features, np.float64),
        *activation_spec,
    )


# --- compiled hooks ---------------------------------------------------------------------------


@scalar_jit
def layer_update(spec, sigma, sx, sz, qx, qz, c):
    """``(Sigma_{l+1}, w_std^2 Td)`` of one entry from its ``Sigma_l = sigma``, the diagonal
    roots ``sx``, ``sz``, ``qx``, ``qz`` of layer ``l`` and the snapped correlation ``c``; the
    one layer step of both the CPU tile maps and the CUDA kernel."""
    t, td = dual(spec, sigma, sx, sz, qx, qz, c)
    return spec.w_var * t + spec.b_var, spec.w_var * td


@scalar_jit
def _dual_into(spec, j, sigma_j, sx, sz, qx, qz, c, next_sigma, derivative):
    next_sigma[j], derivative[j] = layer_update(spec, sigma_j, sx, sz, qx, qz, c)


@jit
def _layer_step(spec, layer, sigma, rows_x, rows_z, i, j0, diagonal, snap, next_sigma, derivative):
    """``Sigma_{l+1}`` and ``w^2 Td`` from ``Sigma_l`` for row ``i`` of ``X`` against rows
    ``j0, j0 + 1, ...`` of ``Z`` (or along the diagonal, where ``rows_x`` is ``rows_z`` and the
    correlation is exactly 1). Cosines within ``snap`` of +-1 are set to +-1."""
    base = _ROWS_PER_LAYER * (layer - 1)
    j1 = j0 + sigma.shape[0]
    # Row views with plain range indices: LLVM vectorises their loops without gathers.
    sz = rows_z[base + 1, j0:j1]
    rsz = rows_z[base + 2, j0:j1]
    qz = rows_z[base + 3, j0:j1]
    if diagonal:
        zero = sigma.dtype.type(0)
        for j in range(sigma.shape[0]):
            c = sigma.dtype.type(1) if sz[j] > zero else zero
            _dual_into(spec, j, sigma[j], sz[j], sz[j], qz[j], qz[j], c, next_sigma, derivative)
        return
    sx = rows_x[base + 1, i]
    rsx = rows_x[base + 2, i]
    qx = rows_x[base + 3, i]
    for j in range(sigma.shape[0]):
        c = snap_cosine(sigma[j] * (rsx * rsz[j]), snap)  # symmetric in x and z
        _dual_into(spec, j, sigma[j], sx, sz[j], qx, qz[j], c, next_sigma, derivative)


@jit
def _copy(source, target):
    # An explicit loop: Numba's slice assignment is several times slower on short vectors.
    for j in range(source.shape[0]):
        target[j] = source[j]


@jit
def _recursion(spec, sigma, rows_x, rows_z, i, j0, diagonal, snap, work, out, out_row, out_column):
    """Run the layers for the entries ``(i, j0 + j)`` whose ``Sigma_1`` is in ``sigma``
    (overwritten); write output k into ``out[k, out_row, out_column:]``."""
    next_sigma, derivative, thetas = work
    for s in range(spec.slot_frozen.shape[0]):
        if spec.slot_frozen[s] == 0:
            _copy(sigma, thetas[s])
    for layer in range(1, spec.depth + 1):
        _layer_step(
            spec, layer, sigma, rows_x, rows_z, i, j0, diagonal, snap, next_sigma, derivative
        )
        sigma, next_sigma = next_sigma, sigma  # sigma is now Sigma_{layer + 1}
        for s in range(spec.slot_frozen.shape[0]):
            frozen = spec.slot_frozen[s]
            if frozen < layer:
                theta = thetas[s]
                for j in range(theta.shape[0]):
                    theta[j] = sigma[j] + derivative[j] * theta[j]
            elif frozen == layer:
                _copy(sigma, thetas[s])
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] == layer:
                slot = spec.output_slot[k]
                row = out[k, out_row, out_column : out_column + sigma.shape[0]]
                _copy(sigma if slot < 0 else thetas[slot], row)


@jit
def _workspace(spec, length, dtype):
    """Buffers of ``_recursion``: a second Sigma, ``w^2 Td``, one running Theta per slot."""
    return (
        np.empty(length, dtype=dtype),
        np.empty(length, dtype=dtype),
        np.empty((spec.slot_frozen.shape[0], length), dtype=dtype),
    )


@jit
def _network_rows(spec, X):
    n = X.shape[0]
    sigma = np.empty(n, dtype=X.dtype)
    for i in range(n):
        total = X.dtype.type(0)
        for k in range(X.shape[1]):
            total += X[i, k] * X[i, k]
        sigma[i] = spec.w_var * total * spec.inverse_d + spec.b_var
    return _diagonal_rows(spec, sigma)


@jit
def _diagonal_rows(spec, sigma_1):
    """The per-layer rows of the diagonal ``Sigma_l(x, x)``, computed with correlation 1."""
    n = sigma_1.shape[0]
    rows = np.empty((_ROWS_PER_LAYER * spec.depth, n), dtype=sigma_1.dtype)
    sigma = sigma_1.copy()
    next_sigma = np.empty_like(sigma)
    derivative = np.empty_like(sigma)
    one = sigma.dtype.type(1)
    for layer in range(1, spec.depth + 1):
        base = _ROWS_PER_LAYER * (layer - 1)
        for i in range(n):
            rows[base, i] = sigma[i]
            rows[base + 1, i] = np.sqrt(sigma[i])
            rows[base + 2, i] = rsqrt_or_zero(sigma[i])
            rows[base + 3, i] = one / np.sqrt(one + (sigma[i] + sigma[i]))
        if layer < spec.depth:
            _layer_step(
                spec, layer, sigma, rows, rows, 0, 0, True, spec.snap, next_sigma, derivative
            )
            sigma[:] = next_sigma
    return rows


@jit
def _network_diagonal(spec, rows):
    n = rows.shape[1]
    sigma = rows[0].copy()
    out = np.empty((spec.output_depth.shape[0], 1, n), dtype=rows.dtype)
    work = _workspace(spec, n, rows.dtype)
    _recursion(spec, sigma, rows, rows, 0, 0, True, spec.snap, work, out, 0, 0)
    return out[:, 0, :]


@jit
def _network_tile(spec, dots, rows_x, rows_z, i0, j0, out):
    work = _workspace(spec, dots.shape[1], dots.dtype)
    sigma = np.empty(dots.shape[1], dtype=dots.dtype)
    for i in range(dots.shape[0]):
        dots_row = dots[i]
        for j in range(dots.shape[1]):
            sigma[j] = spec.w_var * dots_row[j] * spec.inverse_d + spec.b_var
        _recursion(spec, sigma, rows_x, rows_z, i0 + i, j0, False, spec.snap, work, out, i0 + i, j0)


@jit
def _network_refine(spec, X, Z, dots, rows_x, rows_z, exact_rows_x, exact_rows_z, i0, j0, out):
    sigma = np.empty(1)
    work = _workspace(spec, 1, np.float64)
    entry = np.empty((out.shape[0], 1, 1))
    for i in range(dots.shape[0]):
        for j in range(dots.shape[1]):
            sigma_1 = spec.w_var * dots[i, j] * spec.inverse_d + spec.b_var
            if near_parallel(sigma_1 * (rows_x[2, i0 + i] * rows_z[2, j0 + j])):
                dot = exact_dot(X, Z, i0 + i, j0 + j)
                sigma[0] = np.float64(spec.w_var) * dot * spec.inverse_d + spec.b_var
                _recursion(
                    spec,
                    sigma,
                    exact_rows_x,
                    exact_rows_z,
                    i0 + i,
                    j0 + j,
                    False,
                    spec.exact_snap,
                    work,
                    entry,
                    0,
                    0,
                )
                for k in range(out.shape[0]):
                    out[k, i0 + i, j0 + j] = entry[k, 0, 0]


for _spec_class in _SPEC_CLASSES.values():
    core.register_row_info(_spec_class)(_network_rows)
    core.register_tile_products(_spec_class)(core.dot_products)
    core.register_map_tile(_spec_class)(_network_tile)
    core.register_refine_tile(_spec_class)(_network_refine)
    core.register_diagonal(_spec_class)(_network_diagonal)
