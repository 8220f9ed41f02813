"""NNGP and NTK of infinitely wide fully-connected networks (MATH.md section 3).

The recursion of the NTK parameterization, with ``depth`` hidden layers, is on the ``NNGP``
and ``NTK`` classes: ``T, Td = dual(Sigma_l(x, x), Sigma_l(z, z), Sigma_l(x, z))``,
``Sigma_{l+1} = w_std^2 T + b_std^2``, ``Theta_{l+1} = Sigma_{l+1} + w_std^2 Td Theta_l``. In
neural-tangents' standard parameterization (weights ``N(0, w_std^2 / n_in)`` and biases
``N(0, b_std^2)`` are the trained parameters; Sohl-Dickstein et al. 2020) ``Sigma`` is the same
and each layer's parameters contribute ``n_l T_l + beta`` instead of ``Sigma_{l+1}``:
``Theta_1 = x.z + beta``, ``Theta_{l+1} = width T_l + beta + w_std^2 Td Theta_l``, with
``beta = 1`` for a network with biases (``b_std > 0``) and 0 without.

With ``frozen = F`` bottom layers not trained (Arora et al. 2020) the sum that ``Theta`` unrolls
to starts at ``Sigma_{F+1}``: ``Theta_{F+1} = Sigma_{F+1}``, then the same update; ``F = depth`` is
the NNGP. ``gram_many`` computes any set of depths and ``F`` values in one pass.

This module is the network family's declaration: the recursion, written once over runs of
entries (a run of a CPU tile's row, or one entry on the GPU), calls the activation's dual and
reads the per-layer quantities the activation declares (``fastntk.declarations``); it never
names an activation.
"""

import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
from numba.extending import overload

from ._jit import compile_shared, forwarder, shared
from ._math import (
    ANTI_PARALLEL,
    acos,
    asin,
    at_least,
    at_most,
    cosine_tolerance,
    exact_dot,
    near_parallel,
    pair_products,
    rsqrt_or_zero,
    snap_cosine,
)
from ._protocol import at, columns, record, register, store
from ._protocol import map_run as protocol_map_run
from ._protocol import needs_refinement as protocol_needs_refinement
from ._protocol import refine as protocol_refine
from ._protocol import row_data as protocol_row_data
from ._validation import check_int, check_positive
from .activations import Activation, as_activation
from .declarations import (
    LAYER_QUANTITIES,
    ActivationKernel,
    Kernel,
    activation_angle_dual,
    activation_dual,
    activation_row_values,
)

NetworkParameters = namedtuple(
    "NetworkParameters",
    [
        "depth",  # deepest layer any output needs
        "w_var",
        "b_var",
        "inverse_d",
        "slot_frozen",  # the distinct F < depth of NTK outputs, one running Theta each
        "output_depth",  # per output
        "output_slot",  # per output: its slot, or -1 for an NNGP output (Sigma)
        "snap",  # rounding bound of cosines in the computation dtype (see snap_cosine)
        "standard",  # the standard parameterization: Theta gains the terms below, not Sigma
        "theta_weight",  # standard: each layer's term of Theta, theta_weight T + theta_bias
        "theta_bias",  # (width and beta; the first layer's is x.z + theta_bias)
        "rows_per_layer",  # LAYER_QUANTITIES and the activation's own rows
        "activation",  # the activation's parameters: their class selects its dual
    ],
)
#: The deepest network: each layer costs a pass over every entry and three (or more) numbers
#: per row, and by a few hundred layers the correlations of every kernel here have converged.
MAX_DEPTH = 10_000

NetworkParameters.products = "dot"
NetworkParameters.refines = True


def _refines_float64(spec):
    """Activations with an ``angle_dual`` (kinks) refine float64 entries too."""
    return type(spec.activation).angular


NetworkParameters.refines_float64 = _refines_float64

#: Rows of ``map_run``'s scratch before the running Thetas: Sigma, the next Sigma, w^2 Td, and
#: the trained layer's own term of Theta (the standard parameterization's; in the NTK
#: parameterization it is the next Sigma and the row is unused).
_SIGMA_ROWS = 4
_CONTRIBUTION = 3


def _work_shape(spec, run):
    return (_SIGMA_ROWS + spec.slot_frozen.shape[0], run)


NetworkParameters.work_shape = _work_shape


class NetworkKernel(ActivationKernel):
    """Shared by ``NNGP`` and ``NTK``."""

    def __post_init__(self):
        object.__setattr__(self, "depth", check_int(self.depth, "depth", 1, MAX_DEPTH))
        object.__setattr__(self, "activation", as_activation(self.activation))
        object.__setattr__(self, "w_std", check_positive(self.w_std, "w_std"))
        b_std = 0.0 if self.b_std is None else self.b_std  # neural-tangents' "no biases"
        object.__setattr__(self, "b_std", check_positive(b_std, "b_std", allow_zero=True))
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {PARAMETERIZATIONS}, got "
                f"{self.parameterization!r}"
            )
        if self.width is not None:
            object.__setattr__(self, "width", check_int(self.width, "width", 1))

    @property
    def theta_terms(self):
        """What each trained layer adds to Theta beyond the NTK parameterization's ``Sigma``:
        None, or ``(width, beta)`` in the standard parameterization (the NNGP has none)."""
        return None

    @property
    def frozen_layers(self):
        return self.depth

    @property
    def scale_invariant(self):
        """The NNGP of a scale-invariant activation without biases (the step's): every
        layer's covariance depends on the input only through the angle."""
        return (
            self.activation.scale_invariant and self.b_std == 0 and self.frozen_layers == self.depth
        )

    def spec(self, n_features, dtype):
        return _network_spec(
            self.activation, self.w_std, self.b_std, self.theta_terms, [self], n_features, dtype
        )

    @staticmethod
    def stacked(kernels):
        return NetworkFamily(tuple(kernels))

    def check_rows(self, spec, rows):
        _check_layer_variances(self.activation, spec, rows, self.frozen_layers < self.depth)


#: neural-tangents' names of the parameterizations of ``Dense``.
PARAMETERIZATIONS = ("ntk", "standard")


@dataclass(frozen=True)
class NNGP(NetworkKernel):
    r"""Neural network Gaussian process kernel: the output covariance of an infinitely wide
    fully-connected network with ``depth`` hidden layers at initialisation, equal to
    neural-tangents' ``stax.serial(*[Dense(w, W_std, b_std), act] * depth,
    Dense(1, W_std, b_std))``. ``b_std`` 0 (or None) is a network without biases. The NNGP is
    the same in both parameterizations and for every ``width``; both are accepted so that an
    NNGP and an NTK are written alike.

    .. math::

        \Sigma_1(x, z) = \sigma_w^2\, x \cdot z / d + \sigma_b^2, \qquad
        \Sigma_{l+1}(x, z) = \sigma_w^2\, \mathbb{E}_{(u, v) \sim \mathcal{N}(0, \Sigma_l)}
        [\phi(u)\, \phi(v)] + \sigma_b^2, \qquad \mathrm{NNGP} = \Sigma_{L+1}

    with :math:`\Sigma_l` the 2x2 covariance of :math:`(x, z)` at layer :math:`l` and
    :math:`L` = ``depth``.

    Examples
    --------
    One hidden ReLU layer, no biases: half the order-1 arc-cosine kernel of ``x / sqrt(d)``:

    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> K = fk.gram(fk.NNGP(depth=1), X)
    >>> bool(np.allclose(K, fk.gram(fk.ArcCosine(order=1), X) / (2 * 3)))
    True
    """

    depth: int = 1
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0
    parameterization: str = "ntk"
    width: int = None


@dataclass(frozen=True)
class NTK(NetworkKernel):
    r"""Neural tangent kernel of the same network (see ``NNGP``), with its ``frozen`` bottom
    layers not trained (0: all layers trained; ``depth``: only the last layer, the NNGP).

    ``parameterization="standard"`` is neural-tangents' ``Dense(w, W_std, b_std,
    parameterization="standard")`` with ``w = width`` for every hidden layer: the NTK then
    grows with ``width`` (the module docstring's recursion), and the network has biases
    exactly when ``b_std > 0`` (neural-tangents' ``b_std=0.`` biases, trained from zero, are
    not expressible here). Under ``"ntk"`` the width does not enter and ``width`` is ignored.

    In the NTK parameterization, with :math:`\Sigma_l` as in ``NNGP`` and
    :math:`\dot\Sigma_l = \mathbb{E}[\phi'(u)\, \phi'(v)]`:

    .. math::

        \Theta_1 = \Sigma_1, \qquad
        \Theta_{l+1} = \Sigma_{l+1} + \sigma_w^2\, \dot\Sigma_l\, \Theta_l, \qquad
        \mathrm{NTK} = \Theta_{L+1}.

    Examples
    --------
    With one hidden ReLU layer and no biases, ``Theta_2 = Sigma_2 + Sigma_1 (pi - theta) / (2 pi)``:

    >>> import numpy as np
    >>> import fastntk as fk
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> norms = np.linalg.norm(X, axis=1)
    >>> slope = (np.pi - np.arccos(np.clip(X @ X.T / np.outer(norms, norms), -1, 1))) / (2 * np.pi)
    >>> K = fk.gram(fk.NTK(depth=1), X)
    >>> bool(np.allclose(K, fk.gram(fk.NNGP(depth=1), X) + (X @ X.T / 3) * slope))
    True
    """

    depth: int = 1
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0
    frozen: int = 0
    parameterization: str = "ntk"
    width: int = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "frozen", check_int(self.frozen, "frozen", 0, self.depth))
        if self.parameterization == "standard" and self.width is None:
            raise ValueError(
                'parameterization="standard" needs width=, the width of the hidden layers '
                "(the NTK grows with it)"
            )
        if self.frozen < self.depth and not self.activation.has_derivative:
            raise ValueError(
                f"the NTK of {self.activation!r} is not defined ("
                f"{self.activation.missing_derivative}); use NNGP, or NTK with frozen=depth"
            )

    @property
    def frozen_layers(self):
        return self.frozen

    @property
    def theta_terms(self):
        if self.parameterization != "standard" or self.frozen == self.depth:
            return None
        return (self.width, 1.0 if self.b_std > 0 else 0.0)


@dataclass(frozen=True)
class NetworkFamily(Kernel):
    """Several network kernels sharing activation, ``w_std`` and ``b_std``: one pass."""

    kernels: tuple

    def __post_init__(self):
        first = self.kernels[0]
        for kernel in self.kernels:
            if not isinstance(kernel, NetworkKernel):
                raise TypeError(f"gram_many takes NNGP and NTK kernels, got {kernel!r}")
            shared = (kernel.activation, kernel.w_std, kernel.b_std)
            if shared != (first.activation, first.w_std, first.b_std):
                raise ValueError(
                    "kernels computed in one pass must share activation, w_std and b_std; "
                    f"got {first!r} and {kernel!r}"
                )
        terms = {kernel.theta_terms for kernel in self.kernels} - {None}
        if len(terms) > 1 or (terms and any(k.theta_terms is None for k in self.ntk_kernels)):
            raise ValueError(
                "NTKs computed in one pass must share parameterization and width; got "
                f"{', '.join(repr(kernel) for kernel in self.ntk_kernels)}"
            )

    @property
    def ntk_kernels(self):
        return [kernel for kernel in self.kernels if kernel.frozen_layers < kernel.depth]

    @property
    def theta_terms(self):
        return next((k.theta_terms for k in self.kernels if k.theta_terms is not None), None)

    @property
    def n_outputs(self):
        return len(self.kernels)

    @property
    def scale_invariant(self):
        return all(kernel.scale_invariant for kernel in self.kernels)

    @property
    def cacheable(self):
        return self.kernels[0].cacheable

    @property
    def cuda_unavailable(self):
        return self.kernels[0].cuda_unavailable

    def check_rows(self, spec, rows):
        trained = any(kernel.frozen_layers < kernel.depth for kernel in self.kernels)
        _check_layer_variances(self.kernels[0].activation, spec, rows, trained)

    def spec(self, n_features, dtype):
        first = self.kernels[0]
        common = (first.activation, first.w_std, first.b_std, self.theta_terms)
        return _network_spec(*common, self.kernels, n_features, dtype)


def _check_layer_variances(activation, spec, rows, derivative):
    """The activation's ``check_variances`` of each layer's ``Sigma_l(x, x)`` (the first of
    its row quantities); ``derivative``: whether an output uses ``Td``."""
    activation.check_variances(rows[:: spec.rows_per_layer][: spec.depth], derivative)


def network_groups(kernels):
    """Kernels grouped so that each group of network kernels shares one Gram pass."""
    groups = {}
    for kernel in kernels:
        if isinstance(kernel, NetworkKernel):
            key = ("network", kernel.activation, kernel.w_std, kernel.b_std, kernel.theta_terms)
        elif getattr(kernel, "family", None) is not None:  # the convolutional kernels
            key = (type(kernel).__mro__[1], kernel.family)
        else:
            key = ("single", id(kernel))
        groups.setdefault(key, []).append(kernel)
    return list(groups.values())


def output_layout(kernels):
    """``(depth, slots, depths, output_slot)`` of kernels computed in one pass: the deepest
    layer, the distinct frozen-layer counts of the NTK outputs (one running Theta each), and per
    output its depth and slot (-1: an NNGP output)."""
    frozen = [kernel.frozen_layers for kernel in kernels]
    depths = [kernel.depth for kernel in kernels]
    pairs = list(zip(frozen, depths, strict=True))
    slots = sorted({f for f, depth in pairs if f < depth})
    output_slot = [slots.index(f) if f < depth else -1 for f, depth in pairs]
    return max(depths), slots, depths, output_slot


def _network_spec(activation, w_std, b_std, theta_terms, kernels, n_features, dtype):
    dtype = np.dtype(dtype)
    depth, slots, depths, output_slot = output_layout(kernels)
    activation_spec = activation.spec(dtype)
    return NetworkParameters(
        np.int64(depth),
        dtype.type(w_std**2),
        dtype.type(b_std**2),
        dtype.type(1.0 / n_features),
        np.array(slots, dtype=np.int64),
        np.array(depths, dtype=np.int64),
        np.array(output_slot, dtype=np.int64),
        dtype.type(cosine_tolerance(n_features, dtype)),
        np.bool_(theta_terms is not None),
        dtype.type(w_std**2 if theta_terms is None else theta_terms[0]),
        dtype.type(b_std**2 if theta_terms is None else theta_terms[1]),
        np.int64(len(LAYER_QUANTITIES) + len(activation.rows)),
        activation_spec,
    )


# --- the recursion ----------------------------------------------------------------------------


@shared
def _copy(source, target):
    # An explicit loop: Numba's slice assignment is several times slower on short vectors.
    for t in range(source.shape[0]):
        target[t] = source[t]


@shared
def _recursion(spec, length, work, rows_x, i, rows_z, j, diagonal, out, oi, oj):
    """Run the layers for the entries ``(i, j + t)``, ``t < length``, whose ``Sigma_1`` is in
    ``work[0, :length]``; write output k into ``out[k, oi, oj:oj + length]``. ``work`` rows:
    two Sigmas, ``w^2 Td``, then one running Theta per frozen slot.

    Each layer maps ``Sigma_l`` to ``Sigma_{l+1} = w^2 T + b^2`` and ``w^2 Td`` with the
    activation's dual, the correlation snapped to +-1 within ``spec.snap`` of it. With
    ``diagonal`` the entries are the rows ``j + t`` of ``rows_z`` against themselves
    (correlation exactly 1, or 0 for a zero variance), and the recursion also stores each
    layer's row quantities there before using them: one pass gives the rows and ``k(x, x)``.
    (One call of the dual, in one compiled function: each call site and each level of calls
    costs compile time.)
    """
    activation = spec.activation
    zero = work.dtype.type(0)
    one = work.dtype.type(1)
    current = 0
    _start_thetas(spec, work, length)
    for layer in range(1, spec.depth + 1):
        base = spec.rows_per_layer * (layer - 1)
        sigma = work[current, :length]
        next_sigma = work[1 - current, :length]  # Sigma_{layer + 1}, once the step is done
        derivative = work[2, :length]
        contribution = work[_CONTRIBUTION, :length] if spec.standard else next_sigma
        if diagonal:
            for t in range(length):
                variance = sigma[t]
                rows_z[base, j + t] = variance
                rows_z[base + 1, j + t] = math.sqrt(variance)
                rows_z[base + 2, j + t] = rsqrt_or_zero(variance)
                store(rows_z, base + 3, j + t, activation_row_values(activation, variance))
        z_columns = columns(activation, rows_z, base, j, j + length)
        x_row = record(activation, rows_x, base, i)
        for t in range(length):
            z = at(z_columns, t)
            x = z if diagonal else x_row
            if diagonal:
                c = one if z.root > zero else zero
            else:
                c = snap_cosine(sigma[t] * (x.inverse_root * z.inverse_root), spec.snap)
            value, slope = activation_dual(activation, sigma[t], c, x, z)
            next_sigma[t] = spec.w_var * value + spec.b_var
            derivative[t] = spec.w_var * slope
            if spec.standard:
                contribution[t] = spec.theta_weight * value + spec.theta_bias
        current = 1 - current
        _step_thetas(spec, layer, next_sigma, contribution, derivative, work, length, out, oi, oj)


@shared
def _start_thetas(spec, work, length):
    """``Theta_1`` for the slots with no frozen layer: ``Sigma_1`` (``work[0]``), or in the
    standard parameterization the first layer's term (``work[_CONTRIBUTION]``)."""
    first = work[_CONTRIBUTION, :length] if spec.standard else work[0, :length]
    for s in range(spec.slot_frozen.shape[0]):
        if spec.slot_frozen[s] == 0:
            _copy(first, work[_SIGMA_ROWS + s, :length])


@shared
def _step_thetas(spec, layer, next_sigma, contribution, derivative, work, length, out, oi, oj):
    """After ``layer``: each slot's ``Theta_{layer+1}`` from the trained layer's term
    ``contribution`` (``Sigma_{layer+1}`` in the NTK parameterization) and ``w^2 Td``, and the
    outputs of depth ``layer`` written to ``out``."""
    for s in range(spec.slot_frozen.shape[0]):
        frozen = spec.slot_frozen[s]
        theta = work[_SIGMA_ROWS + s, :length]
        if frozen < layer:
            for t in range(length):
                theta[t] = contribution[t] + derivative[t] * theta[t]
        elif frozen == layer:
            _copy(contribution, theta)
    for k in range(spec.output_depth.shape[0]):
        if spec.output_depth[k] == layer:
            slot = spec.output_slot[k]
            source = next_sigma if slot < 0 else work[_SIGMA_ROWS + slot, :length]
            _copy(source, out[k, oi, oj : oj + length])


def _network_map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj):
    length = dots.shape[0]
    sigma = work[0, :length]
    for t in range(length):
        sigma[t] = spec.w_var * dots[t] * spec.inverse_d + spec.b_var
    if spec.standard:
        first = work[_CONTRIBUTION, :length]
        for t in range(length):
            first[t] = dots[t] + spec.theta_bias
    _recursion(spec, length, work, rows_x, i, rows_z, j, np.bool_(False), out, oi, oj)


def _network_needs_refinement(spec, dot, rows_x, i, rows_z, j):
    sigma_1 = spec.w_var * dot * spec.inverse_d + spec.b_var
    x = record(spec.activation, rows_x, 0, i)
    z = record(spec.activation, rows_z, 0, j)
    c = sigma_1 * (x.inverse_root * z.inverse_root)
    return near_parallel(c) or c < ANTI_PARALLEL


def _plain_refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
    """The entry from its inner product accumulated in float64 (smooth duals: the map is
    well-conditioned in it)."""
    dots[0] = exact_dot(A, B, a, b)
    protocol_map_run(spec, dots, rows_a, a, rows_b, b, work, out, oi, oj)


def _angular_refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
    """The entry with each layer's angle carried accurately (activations with kinks, whose
    ``Td`` has an infinite slope in the correlation at +-1).

    Layer 1 is the angle between ``u = (w x / sqrt(d), b)`` and ``v = (w z / sqrt(d), b)``:
    ``atan2(|u ^ v|, u . v)`` with ``|u ^ v|^2 = a^2 |x ^ z|^2 + a b^2 |x - z|^2``, ``a =
    w^2 / d`` (``fastntk._math.pair_products``), and 0 (or pi) when its sine is within the
    rounding bound ``spec.snap``: there the value of a kernel whose layers amplify the angle
    like a square root (the step's) would depend on digits the inputs do not have. Each
    later angle comes from the deficit ``D = sqrt(Sigma(x, x) Sigma(z, z)) - Sigma(x, z) >=
    0`` as ``2 asin(sqrt(D / (2 G)))``: ``D_{l+1} = w^2 D_T + b^2 (sqrt(A) - sqrt(B))^2 /
    (G_{l+1} + sqrt(A B) + b^2)`` with the activation's cancellation-free ``D_T`` and ``A, B
    = w^2 T(x, x), w^2 T(z, z)``, whose difference follows the layers' variance gap
    ``Sigma(x, x) - Sigma(z, z)`` (carried as ``w^2 slope gap``, from ``a (|x|^2 - |z|^2)``
    exactly at layer 1).
    """
    activation = spec.activation
    pair = pair_products(A, B, a, b)
    scale = spec.w_var * spec.inverse_d
    sxz = scale * pair.dot + spec.b_var
    x = record(activation, rows_a, 0, a)
    z = record(activation, rows_b, 0, b)
    sine = math.sqrt(
        scale * scale * pair.squared_wedge + scale * spec.b_var * pair.squared_distance
    )
    if sine <= spec.snap * (x.root * z.root):  # parallel to rounding, as snap_cosine has it
        sine = 0.0
    theta = remaining = 0.5 * math.pi
    if x.root * z.root > 0:
        theta = math.atan2(sine, sxz)
        remaining = math.atan2(sine, -sxz)
    gap = scale * pair.norm_gap
    work[0, 0] = sxz
    work[_CONTRIBUTION, 0] = pair.dot + spec.theta_bias
    _start_thetas(spec, work, 1)
    for layer in range(1, spec.depth + 1):
        value, slope, deficit, variance_slope = activation_angle_dual(
            activation, theta, remaining, sxz, x, z
        )
        work[1, 0] = spec.w_var * value + spec.b_var
        work[2, 0] = spec.w_var * slope
        work[_CONTRIBUTION, 0] = spec.theta_weight * value + spec.theta_bias
        contribution = work[_CONTRIBUTION, :1] if spec.standard else work[1, :1]
        _step_thetas(spec, layer, work[1, :1], contribution, work[2, :1], work, 1, out, oi, oj)
        if layer == spec.depth:
            break
        base = spec.rows_per_layer * layer
        x = record(activation, rows_a, base, a)
        z = record(activation, rows_b, base, b)
        sxz = work[1, 0]
        gap = spec.w_var * variance_slope * gap
        root_x = math.sqrt(at_least(x.variance - spec.b_var, 0.0))
        root_z = math.sqrt(at_least(z.variance - spec.b_var, 0.0))
        roots = root_x + root_z
        root_gap = gap / roots if roots > 0 else 0.0
        geometric = x.root * z.root
        bias_part = spec.b_var * root_gap * root_gap / (geometric + root_x * root_z + spec.b_var)
        deficit = spec.w_var * deficit + (bias_part if spec.b_var > 0 else 0.0)
        if geometric <= 0:
            theta = 0.5 * math.pi
        elif sxz >= 0:
            theta = 2 * asin(at_most(1.0, math.sqrt(at_least(deficit, 0.0) / (2 * geometric))))
        else:
            theta = acos(at_least(-1.0, sxz / geometric))
        remaining = math.pi - theta


def _refine_by_activation(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
    refine = _angular_refine if type(spec.activation).angular else _plain_refine
    refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj)


_COMPILED_REFINE = {True: compile_shared(_angular_refine), False: compile_shared(_plain_refine)}


@overload(_refine_by_activation, strict=False)
def _refine_by_activation_typed(*args):
    # Chosen by the activation's class when compiling: the other branch is never typed.
    activation_type = args[0].types[NetworkParameters._fields.index("activation")]
    return forwarder(_COMPILED_REFINE[activation_type.instance_class.angular], len(args))


def _network_refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
    _refine_by_activation(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj)


def _network_row_data(spec, X):
    """Per layer ``l``: ``Sigma_l(x, x)``, its root and inverse root, and the activation's own
    quantities; and ``k(x, x)``: the recursion along the diagonal."""
    n = X.shape[0]
    rows = np.empty((spec.rows_per_layer * spec.depth, n), dtype=X.dtype)
    work = np.empty((_SIGMA_ROWS + spec.slot_frozen.shape[0], n), dtype=X.dtype)
    for i in range(n):
        total = X.dtype.type(0)
        for k in range(X.shape[1]):
            total += X[i, k] * X[i, k]
        work[0, i] = spec.w_var * total * spec.inverse_d + spec.b_var
        work[_CONTRIBUTION, i] = total + spec.theta_bias
    out = np.empty((spec.output_depth.shape[0], 1, n), dtype=X.dtype)
    start = np.int64(0)  # a variable: a literal 0 would compile another specialisation
    _recursion(spec, n, work, rows, start, rows, start, np.bool_(True), out, start, start)
    return rows, out[:, 0, :]


register(protocol_map_run, NetworkParameters, _network_map_run)
register(protocol_needs_refinement, NetworkParameters, _network_needs_refinement)
register(protocol_row_data, NetworkParameters, _network_row_data)
register(protocol_refine, NetworkParameters, _network_refine)
