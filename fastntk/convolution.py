"""CNNGP and CNTK: the kernels of infinitely wide convolutional networks (MATH.md section 3.2).

The network is neural-tangents' ``stax.serial(*[Conv(c, (q, q), padding, W_std, b_std), act] *
depth, GlobalAvgPool() or Flatten(), Dense(1, W_std, b_std))`` in the NTK parameterization, on
images ``(n, H, W, C)`` (channels last) or signals ``(n, L, C)`` (filters ``(q,)``). For a pair
of inputs ``x, z`` its kernels are recursions over the covariances of pixel pairs ``(p, p')``::

    K_0[p, p'] = x_p . z_p' / C,                   Theta~_0 = 0
    for l = 1 .. depth:
        Sigma_l = w_std^2 A(K_{l-1}) + b_std^2,    Theta_l = w_std^2 A(Theta~_{l-1}) + Sigma_l
        K_l = T(Sigma_l),                          Theta~_l = Theta_l * Td(Sigma_l)
    NNGP = w_std^2 P(K_depth) + b_std^2,           NTK = w_std^2 P(Theta~_depth) + NNGP

``A`` averages over the filter window, shifting both pixels of a pair alike, ``A(K)[p, p'] =
sum_d K[p + d, p' + d] / q^2`` (zeros outside the image for "same", wrapped for "circular", the
output smaller by ``q - 1`` for "valid"); ``T, Td`` are the activation's duals
(``fastntk.declarations.Activation``) of the pair's covariance and the two pixels' variances
``Sigma_l(x, x)[p, p]`` and ``Sigma_l(z, z)[p', p']``; ``P`` is the readout: global average
pooling averages every pixel pair, flattening only the pairs ``p = p'``. ``A`` maps pairs
``p = p'`` to pairs ``p = p'``, so the flattening readout needs only those: ``H W`` numbers per
pair and layer, where global pooling needs ``(H W)^2``. With ``frozen = F`` bottom layers not
trained the NTK's sum starts at ``Theta_{F+1} = Sigma_{F+1}`` (``F = depth``: the readout's own
``Sigma``, the NNGP), as in ``fastntk.NTK``.

This module is the family's declaration (``fastntk._protocol``): the per-row quantities of an
input are its pixels and every layer's pixel variances (with the activation's own rows); the
map runs the recursion for one row of a tile against a run of columns. With flattening it runs
the whole run at once, ``(pixel, column)`` arrays whose loops vectorise over the columns; with
global pooling one pair at a time, in scratch of ``(4 + slots) (H W)^2`` numbers per thread.
"""

import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from ._jit import shared
from ._math import cosine_tolerance, rsqrt_or_zero, snap_cosine
from ._protocol import at, columns, record, register, store
from ._protocol import map_run as protocol_map_run
from ._protocol import row_data as protocol_row_data
from ._validation import as_real_array, check_fits_in_memory, check_int, check_positive
from .activations import Activation, as_activation
from .declarations import (
    LAYER_QUANTITIES,
    Kernel,
    activation_dual,
    activation_row_values,
)
from .network import MAX_DEPTH, output_layout

__all__ = ["CNNGP", "CNTK", "PADDINGS", "POOLINGS"]

#: neural-tangents' paddings of ``Conv``, by fastntk's names.
PADDINGS = ("same", "valid", "circular")
#: The readouts: global average pooling, or flattening (the vectorised readout).
POOLINGS = ("global", "flatten")
_SAME, _VALID, _CIRCULAR = range(3)

ConvolutionParameters = namedtuple(
    "ConvolutionParameters",
    [
        "depth",  # deepest layer any output needs
        "w_var",
        "b_var",
        "slot_frozen",  # as in fastntk.network: one running Theta per distinct frozen count
        "output_depth",
        "output_slot",
        "snap",  # rounding bound of cosines (see snap_cosine)
        "rows_per_layer",  # LAYER_QUANTITIES and the activation's own rows, per pixel
        "activation",
        "channels",
        "heights",  # per layer 0 .. depth: the height of its pixels (0: the input's)
        "widths",
        "layer_base",  # per layer 0 .. depth: the row of its first pixel's quantities
        "filter_height",
        "filter_width",
        "padding",
        "pooled",  # global average pooling; else flattening
    ],
)
ConvolutionParameters.products = "none"  # the map reads the pixels from the rows, not x . z
ConvolutionParameters.refines = False
ConvolutionParameters.refines_float64 = lambda spec: False
ConvolutionParameters.Rows = None

#: Arrays of pixel pairs in the scratch of ``map_run``, ``(H W)`` per column with flattening
#: and ``(H W)^2`` with global pooling: a layer's K, its Sigma, Td (also the filter's output
#: for Theta), with global pooling the filter's partial sums; then one Theta per slot.
_FLATTEN_BUFFERS = 3
_POOLED_BUFFERS = 4


@shared
def _area(spec):
    return spec.heights[0] * spec.widths[0]


@shared
def _work_rows(spec, run):
    """Rows of ``run`` columns of scratch: ``(H W)`` per buffer and column with flattening; with
    global pooling ``(H W)^2`` per buffer, and the pixel quantities of one input."""
    slots = spec.slot_frozen.shape[0]
    area = _area(spec)
    if not spec.pooled:
        return (_FLATTEN_BUFFERS + slots) * area
    pooled = (_POOLED_BUFFERS + slots) * area * area + _pixel_rows(spec) * area
    return -(-pooled // run)


@shared
def _pixel_rows(spec):
    """Rows of one input's pixel quantities copied per pair (global pooling): its channels,
    then a layer's quantities."""
    return max(spec.channels, spec.rows_per_layer)


ConvolutionParameters.work_rows = _work_rows


class ConvolutionKernel(Kernel):
    """Shared by ``CNNGP`` and ``CNTK``: the parameters, and the inputs' checks."""

    input_ranks = (3, 4)

    def __post_init__(self):
        object.__setattr__(self, "depth", check_int(self.depth, "depth", 1, MAX_DEPTH))
        size = check_int(self.filter_size, "filter_size", 1)
        if size % 2 == 0:
            raise ValueError(
                f"filter_size must be odd (a window centred on its pixel), got {size}"
            )
        object.__setattr__(self, "filter_size", size)
        for name, choices in (("padding", PADDINGS), ("pooling", POOLINGS)):
            value = getattr(self, name)
            if not isinstance(value, str) or value.lower() not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
            object.__setattr__(self, name, value.lower())
        object.__setattr__(self, "activation", as_activation(self.activation))
        object.__setattr__(self, "w_std", check_positive(self.w_std, "w_std"))
        b_std = 0.0 if self.b_std is None else self.b_std  # neural-tangents' "no biases"
        object.__setattr__(self, "b_std", check_positive(b_std, "b_std", allow_zero=True))

    @property
    def frozen_layers(self):
        return self.depth

    @property
    def cacheable(self):
        return self.activation.cacheable

    @property
    def cuda_unavailable(self):
        return self.activation.cuda_unavailable

    @property
    def family(self):
        """What kernels computed in one pass share."""
        return (self.activation, self.w_std, self.b_std, self.filter_size, self.padding,
                self.pooling)  # fmt: skip

    @staticmethod
    def stacked(kernels):
        return ConvolutionFamily(tuple(kernels))

    def prepare(self, X, Z):
        """``(kernel, X, Z)`` for the engine: the inputs as rows of their pixels, and the
        kernel bound to their shape."""
        return _prepare(self, (self,), X, Z)

    def spec(self, n_features, dtype):
        raise TypeError(
            f"{type(self).__name__} takes images (n, H, W, C) or signals (n, L, C), not rows"
        )


@dataclass(frozen=True)
class CNNGP(ConvolutionKernel):
    """The NNGP kernel of an infinitely wide convolutional network (module docstring):
    ``depth`` convolutions of ``filter_size`` (odd) with ``padding`` ("same", "valid" or
    "circular"), each followed by ``activation``, then ``pooling`` ("global": global average
    pooling; "flatten") and a dense readout. ``b_std`` 0 (or None) is a network without biases.
    Inputs are images ``(n, H, W, C)`` or signals ``(n, L, C)``."""

    depth: int = 3
    filter_size: int = 3
    padding: str = "same"
    pooling: str = "global"
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0


@dataclass(frozen=True)
class CNTK(ConvolutionKernel):
    """The NTK of the network of ``CNNGP``, with its ``frozen`` bottom layers not trained
    (0: every layer trained; ``depth``: only the readout, the CNNGP)."""

    depth: int = 3
    filter_size: int = 3
    padding: str = "same"
    pooling: str = "global"
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0
    frozen: int = 0

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "frozen", check_int(self.frozen, "frozen", 0, self.depth))
        if self.frozen < self.depth and not self.activation.has_derivative:
            raise ValueError(
                f"the CNTK of {self.activation!r} is not defined ("
                f"{self.activation.missing_derivative}); use CNNGP, or frozen=depth"
            )

    @property
    def frozen_layers(self):
        return self.frozen


@dataclass(frozen=True)
class ConvolutionFamily(Kernel):
    """Convolutional kernels sharing everything but depth and frozen layers: one pass."""

    kernels: tuple
    input_ranks = (3, 4)

    def __post_init__(self):
        for kernel in self.kernels:
            if not isinstance(kernel, ConvolutionKernel):
                raise TypeError(
                    f"gram_many computes CNNGP and CNTK kernels together, not with {kernel!r}"
                )
            if kernel.family != self.kernels[0].family:
                raise ValueError(
                    "kernels computed in one pass must share activation, w_std, b_std, "
                    f"filter_size, padding and pooling; got {self.kernels[0]!r} and {kernel!r}"
                )

    @property
    def n_outputs(self):
        return len(self.kernels)

    @property
    def cacheable(self):
        return self.kernels[0].cacheable

    @property
    def cuda_unavailable(self):
        return self.kernels[0].cuda_unavailable

    def prepare(self, X, Z):
        return _prepare(self, self.kernels, X, Z)

    def spec(self, n_features, dtype):
        return self.kernels[0].spec(n_features, dtype)


@dataclass(frozen=True)
class ShapedConvolution(Kernel):
    """Convolutional kernels bound to one input shape ``(H, W, C)``: the engine's view, whose
    rows are the inputs' pixels. It also takes inputs of that shape, or rows of their size."""

    kernel: Kernel
    kernels: tuple
    shape: tuple
    input_ranks = (2, 3, 4)

    @property
    def n_outputs(self):
        return len(self.kernels)

    @property
    def cacheable(self):
        return self.kernel.cacheable

    @property
    def cuda_unavailable(self):
        return self.kernel.cuda_unavailable

    def prepare(self, X, Z):
        rows = [_as_rows(A, name, self.shape) for A, name in ((X, "X"), (Z, "Z"))]
        return self, rows[0], (rows[0] if Z is None or Z is X else rows[1])

    def spec(self, n_features, dtype):
        return _convolution_spec(self.kernels, self.shape, dtype)

    def check_rows(self, spec, rows):
        trained = any(kernel.frozen_layers < kernel.depth for kernel in self.kernels)
        first = spec.layer_base[1]
        self.kernels[0].activation.check_variances(rows[first :: spec.rows_per_layer], trained)


def _prepare(kernel, kernels, X, Z):
    """``(ShapedConvolution, X rows, Z rows)``, with the checks of DESIGN.md section 5."""
    X = _checked_input(X, "X")
    shape = X.shape[1:] if X.ndim == 4 else (1,) + X.shape[1:]
    if Z is not None and Z is not X:
        Z = _checked_input(Z, "Z")
        other = Z.shape[1:] if Z.ndim == 4 else (1,) + Z.shape[1:]
        if Z.ndim != X.ndim or other != shape:
            raise ValueError(
                f"X and Z must hold inputs of one shape, got X {X.shape} and Z {Z.shape} (the "
                "channels and the image size must match)"
            )
    first = kernels[0]
    deepest = max(k.depth for k in kernels)
    spatial = shape[:2] if X.ndim == 4 else shape[1:2]
    if first.padding == "valid" and min(spatial) - deepest * (first.filter_size - 1) < 1:
        raise ValueError(
            f'padding="valid" shrinks each side by filter_size - 1 = {first.filter_size - 1} '
            f"per layer: {deepest} layers need inputs of at least "
            f"{deepest * (first.filter_size - 1) + 1} pixels a side, got {X.shape[1:-1]}; use "
            'fewer layers, a smaller filter, or padding="same"'
        )
    bound = ShapedConvolution(kernel, tuple(kernels), tuple(int(s) for s in shape))
    _check_scratch(bound)
    rows_x = X.reshape(X.shape[0], -1)
    return bound, rows_x, (rows_x if Z is None or Z is X else Z.reshape(Z.shape[0], -1))


def _checked_input(array, name):
    if array is None:
        raise TypeError(f"{name} must be an array of images (n, H, W, C), got None")
    array = as_real_array(array, name)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be images (n, H, W, C) or signals (n, L, C), channels last, got "
            f"shape {array.shape}; a single image needs a leading axis of 1"
        )
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def _as_rows(array, name, shape):
    """Inputs of the bound ``shape`` (images, signals or their rows), as rows."""
    if array is None:
        return None
    array = as_real_array(array, name)
    size = int(np.prod(shape))
    if array.ndim == 2 and array.shape[1] == size:
        return array
    sample = array.shape[1:] if array.ndim == 4 else (1,) + array.shape[1:]
    if array.ndim not in (3, 4) or sample != shape:
        raise ValueError(
            f"{name} must hold inputs of shape {shape if shape[0] > 1 else shape[1:]} (or rows "
            f"of {size} numbers), got shape {array.shape}"
        )
    return array.reshape(array.shape[0], -1)


def _check_scratch(bound):
    """The per-thread scratch of global pooling, ``(4 + slots) (H W)^2`` numbers, must fit."""
    height, width, _ = bound.shape
    if bound.kernels[0].pooling == "global":
        slots = len({k.frozen_layers for k in bound.kernels if k.frozen_layers < k.depth})
        needed = (_POOLED_BUFFERS + slots) * (height * width) ** 2 * 8
        check_fits_in_memory(
            needed,
            f"global pooling of {height} x {width} images (scratch per thread)",
            'use pooling="flatten", or fewer threads',
        )


def _convolution_spec(kernels, shape, dtype):
    dtype = np.dtype(dtype)
    first = kernels[0]
    height, width, channels = shape
    depth, slots, depths, output_slot = output_layout(kernels)
    filter_height = 1 if height == 1 else first.filter_size
    filter_width = first.filter_size
    padding = PADDINGS.index(first.padding)
    shrink = padding == _VALID
    layers = np.arange(depth + 1)
    heights = height - layers * (filter_height - 1) if shrink else np.full(depth + 1, height)
    widths = width - layers * (filter_width - 1) if shrink else np.full(depth + 1, width)
    rows_per_layer = len(LAYER_QUANTITIES) + len(first.activation.rows)
    sizes = np.concatenate([[height * width * channels], rows_per_layer * heights * widths])
    layer_base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    layer_base[0] = 0
    # Sigma's rounding: a window's q^2 C products, and the same again per layer.
    terms = filter_height * filter_width * channels * (depth + 1)
    return ConvolutionParameters(
        np.int64(depth),
        dtype.type(first.w_std**2),
        dtype.type(first.b_std**2),
        np.array(slots, dtype=np.int64),
        np.array(depths, dtype=np.int64),
        np.array(output_slot, dtype=np.int64),
        dtype.type(cosine_tolerance(terms, dtype)),
        np.int64(rows_per_layer),
        first.activation.spec(dtype),
        np.int64(channels),
        heights.astype(np.int64),
        widths.astype(np.int64),
        layer_base.astype(np.int64),
        np.int64(filter_height),
        np.int64(filter_width),
        np.int64(padding),
        np.bool_(first.pooling == "global"),
    )


# --- the filter -------------------------------------------------------------------------------


@shared
def _tap(index, tap, size_in, filter_size, padding):
    """The input pixel (along one axis) that tap ``tap`` of output pixel ``index`` reads, or
    -1 outside a zero-padded input."""
    if padding == _VALID:
        return index + tap
    source = index + tap - (filter_size - 1) // 2
    if padding == _CIRCULAR:
        return source % size_in
    return source if 0 <= source < size_in else -1


@shared
def _filter_diagonal(spec, layer, source, target, length, shift):
    """``target[p, :length] = w^2 A(source)[p, :length] + shift`` on the pixel pairs ``p = p'``
    (flattening, and every input's own variances): ``source`` holds layer ``layer - 1``'s
    pixels, ``target`` layer ``layer``'s."""
    h_in, w_in = spec.heights[layer - 1], spec.widths[layer - 1]
    h_out, w_out = spec.heights[layer], spec.widths[layer]
    fh, fw = spec.filter_height, spec.filter_width
    scale = spec.w_var / (fh * fw)
    for ho in range(h_out):
        for wo in range(w_out):
            row = target[ho * w_out + wo, :length]
            for t in range(length):
                row[t] = 0
            for a in range(fh):
                hi = _tap(ho, a, h_in, fh, spec.padding)
                if hi < 0:
                    continue
                for b in range(fw):
                    wi = _tap(wo, b, w_in, fw, spec.padding)
                    if wi < 0:
                        continue
                    src = source[hi * w_in + wi, :length]
                    for t in range(length):
                        row[t] += src[t]
            for t in range(length):
                row[t] = scale * row[t] + shift


@shared
def _shifted_sum(target, source, size_in, size_out, shift, padding):
    """``target[k] += source[k + shift]`` for ``k < size_out``, the source index wrapped
    ("circular") or the term left out when outside ``[0, size_in)`` ("same")."""
    low = max(0, -shift)
    high = min(size_out, size_in - shift)
    for k in range(low, high):
        target[k] += source[k + shift]
    if padding == _CIRCULAR:
        for k in range(0, low):
            target[k] += source[k + shift + size_in]
        for k in range(max(high, 0), size_out):
            target[k] += source[k + shift - size_in]


@shared
def _filter_pairs(spec, layer, source, partial, target, scale, shift):
    """``target = scale A(source) + shift`` on every pixel pair (global pooling): flat
    ``[h, w, h', w']`` arrays, ``source`` of layer ``layer - 1``'s pixels, ``target`` of layer
    ``layer``'s. The window sums separate: along the widths into ``partial``, then along the
    heights."""
    h_in, w_in = spec.heights[layer - 1], spec.widths[layer - 1]
    h_out, w_out = spec.heights[layer], spec.widths[layer]
    fh, fw = spec.filter_height, spec.filter_width
    rw = 0 if spec.padding == _VALID else (fw - 1) // 2
    rh = 0 if spec.padding == _VALID else (fh - 1) // 2
    # partial[h, wo, h', wo'] = sum_b source[h, wo + b - rw, h', wo' + b - rw]
    for h in range(h_in):
        for wo in range(w_out):
            for h2 in range(h_in):
                out_row = partial[((h * w_out + wo) * h_in + h2) * w_out :][:w_out]
                for k in range(w_out):
                    out_row[k] = 0
                for b in range(fw):
                    wi = _tap(wo, b, w_in, fw, spec.padding)
                    if wi < 0:
                        continue
                    in_row = source[((h * w_in + wi) * h_in + h2) * w_in :][:w_in]
                    _shifted_sum(out_row, in_row, w_in, w_out, b - rw, spec.padding)
    # target[ho, wo, ho', wo'] = scale sum_a partial[ho + a - rh, wo, ho' + a - rh, wo'] + shift
    area_out = h_out * w_out
    for index in range(area_out * area_out):
        target[index] = 0
    for ho in range(h_out):
        for a in range(fh):
            hi = _tap(ho, a, h_in, fh, spec.padding)
            if hi < 0:
                continue
            for wo in range(w_out):
                for ho2 in range(h_out):
                    hi2 = _tap(ho2, a, h_in, fh, spec.padding)
                    if hi2 < 0:
                        continue
                    out_row = target[((ho * w_out + wo) * h_out + ho2) * w_out :][:w_out]
                    in_row = partial[((hi * w_out + wo) * h_in + hi2) * w_out :][:w_out]
                    for k in range(w_out):
                        out_row[k] += in_row[k]
    factor = scale / (fh * fw)
    for index in range(area_out * area_out):
        target[index] = factor * target[index] + shift


# --- the recursion ----------------------------------------------------------------------------


@shared
def _duals(spec, sigma, values, slopes, x, z_views, length, same_pixel, own):
    """``values[t], slopes[t] = T, Td`` for ``t < length`` of the pixel pairs whose covariances
    are ``sigma[t]``: of one pixel of an input (the record ``x``) against the pixels or the
    columns ``t`` of the record of views ``z_views``. The entry ``same_pixel`` (or -1) pairs a
    pixel with itself, and with ``own`` every entry pairs column ``t``'s pixel with itself
    (``x`` then unused): its correlation is exactly 1 (0 for a zero variance)."""
    activation = spec.activation
    zero = sigma.dtype.type(0)
    one = sigma.dtype.type(1)
    for t in range(length):
        z = at(z_views, t)
        if own or t == same_pixel:
            c = one if z.root > zero else zero
            value, slope = activation_dual(activation, z.variance, c, z, z)
        else:
            c = snap_cosine(sigma[t] * (x.inverse_root * z.inverse_root), spec.snap)
            value, slope = activation_dual(activation, sigma[t], c, x, z)
        values[t] = value
        slopes[t] = slope


@shared
def _store_layer(spec, sigma, rows, base, column, length):
    """Each pixel's quantities of one layer from its variances ``sigma`` (``(pixel, column)``)
    into ``rows[base + p * rows_per_layer + k, column + t]``."""
    for p in range(sigma.shape[0]):
        row = base + p * spec.rows_per_layer
        for t in range(length):
            variance = sigma[p, t]
            rows[row, column + t] = variance
            rows[row + 1, column + t] = math.sqrt(variance)
            rows[row + 2, column + t] = rsqrt_or_zero(variance)
            store(rows, row + 3, column + t, activation_row_values(spec.activation, variance))


@shared
def _flatten_recursion(spec, rows_x, i, rows_z, j, length, work, out, oi, oj, own):
    """Flattening (and every input's variances): the pixel pairs ``p = p'`` of row ``i``
    against the columns ``j, .., j + length - 1`` as ``(pixel, column)`` arrays, the outputs
    written to ``out[k, oi, oj + t]``. With ``own`` the columns are paired with themselves
    and each layer's quantities are stored in ``rows_z`` before they are used."""
    area = _area(spec)
    activation = spec.activation
    values = work[0:area]
    sigma = work[area : 2 * area]
    slopes = work[2 * area : 3 * area]
    channels = spec.channels
    for p in range(area):
        row = values[p, :length]
        for t in range(length):
            row[t] = 0
        for c in range(channels):
            z_row = rows_z[p * channels + c, j : j + length]
            x_value = rows_x[p * channels + c, i]
            for t in range(length):
                row[t] += (z_row[t] if own else x_value) * z_row[t]
        for t in range(length):
            row[t] /= channels
    for layer in range(1, spec.depth + 1):
        pixels = spec.heights[layer] * spec.widths[layer]
        _filter_diagonal(spec, layer, values, sigma, length, spec.b_var)
        for s in range(spec.slot_frozen.shape[0]):
            theta = work[(_FLATTEN_BUFFERS + s) * area : (_FLATTEN_BUFFERS + s + 1) * area]
            if spec.slot_frozen[s] < layer - 1:
                _filter_diagonal(spec, layer, theta, slopes, length, 0.0)
                for p in range(pixels):
                    for t in range(length):
                        theta[p, t] = slopes[p, t] + sigma[p, t]
            elif spec.slot_frozen[s] == layer - 1:
                for p in range(pixels):
                    for t in range(length):
                        theta[p, t] = sigma[p, t]
        base = spec.layer_base[layer]
        if own:
            _store_layer(spec, sigma[:pixels], rows_z, base, j, length)
        for p in range(pixels):
            row = base + p * spec.rows_per_layer
            x = record(activation, rows_x, row, i)
            z_views = columns(activation, rows_z, row, j, j + length)
            _duals(spec, sigma[p], values[p], slopes[p], x, z_views, length, -1, own)
        for s in range(spec.slot_frozen.shape[0]):
            if spec.slot_frozen[s] < layer:
                theta = work[(_FLATTEN_BUFFERS + s) * area : (_FLATTEN_BUFFERS + s + 1) * area]
                for p in range(pixels):
                    for t in range(length):
                        theta[p, t] *= slopes[p, t]
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] == layer:
                slot = spec.output_slot[k]
                start = (_FLATTEN_BUFFERS + slot) * area
                for t in range(length):
                    nngp = spec.w_var * _mean(values, pixels, t) + spec.b_var
                    out[k, oi, oj + t] = nngp
                    if slot >= 0:
                        trained = _mean(work[start : start + area], pixels, t)
                        out[k, oi, oj + t] = spec.w_var * trained + nngp


@shared
def _mean(array, count, column):
    """The mean of ``array[:count, column]``."""
    total = array.dtype.type(0)
    for r in range(count):
        total += array[r, column]
    return total / count


@shared
def _pooled_pair(spec, rows_x, i, rows_z, j, scratch, out, oi, oj, same):
    """Global pooling: the entry ``(i, j)`` from every pixel pair, in the flat ``scratch``
    (``[h, w, h', w']`` arrays), written to ``out[k, oi, oj]``. ``same``: ``j`` is ``i``, whose
    pairs of a pixel with itself have correlation exactly 1."""
    area = _area(spec)
    square = area * area
    activation = spec.activation
    values = scratch[0:square]
    sigma = scratch[square : 2 * square]
    slopes = scratch[2 * square : 3 * square]
    partial = scratch[3 * square : 4 * square]
    start = (_POOLED_BUFFERS + spec.slot_frozen.shape[0]) * square
    pixel_rows = _pixel_rows(spec)
    z_pixels = scratch[start : start + pixel_rows * area].reshape((pixel_rows, area))
    channels = spec.channels
    for c in range(channels):
        for p in range(area):
            z_pixels[c, p] = rows_z[p * channels + c, j]
    for p in range(area):
        row = values[p * area : (p + 1) * area]
        for q in range(area):
            row[q] = 0
        for c in range(channels):
            x_value = rows_x[p * channels + c, i] / channels
            z_row = z_pixels[c]
            for q in range(area):
                row[q] += x_value * z_row[q]
    for layer in range(1, spec.depth + 1):
        pixels = spec.heights[layer] * spec.widths[layer]
        pairs = pixels * pixels
        _filter_pairs(spec, layer, values, partial, sigma, spec.w_var, spec.b_var)
        for s in range(spec.slot_frozen.shape[0]):
            theta = scratch[(_POOLED_BUFFERS + s) * square : (_POOLED_BUFFERS + s + 1) * square]
            if spec.slot_frozen[s] < layer - 1:
                _filter_pairs(spec, layer, theta, partial, slopes, spec.w_var, 0.0)
                for q in range(pairs):
                    theta[q] = slopes[q] + sigma[q]
            elif spec.slot_frozen[s] == layer - 1:
                for q in range(pairs):
                    theta[q] = sigma[q]
        base = spec.layer_base[layer]
        for q in range(pixels):
            for k in range(spec.rows_per_layer):
                z_pixels[k, q] = rows_z[base + q * spec.rows_per_layer + k, j]
        z_views = columns(activation, z_pixels, 0, 0, pixels)
        for p in range(pixels):
            x = record(activation, rows_x, base + p * spec.rows_per_layer, i)
            run = slice(p * pixels, (p + 1) * pixels)
            _duals(spec, sigma[run], values[run], slopes[run], x, z_views, pixels,
                   p if same else -1, False)  # fmt: skip
        for s in range(spec.slot_frozen.shape[0]):
            if spec.slot_frozen[s] < layer:
                theta = scratch[(_POOLED_BUFFERS + s) * square :]
                for q in range(pairs):
                    theta[q] *= slopes[q]
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] == layer:
                nngp = spec.w_var * (_total(values, pairs) / pairs) + spec.b_var
                out[k, oi, oj] = nngp
                slot = spec.output_slot[k]
                if slot >= 0:
                    theta = scratch[(_POOLED_BUFFERS + slot) * square :]
                    out[k, oi, oj] = spec.w_var * (_total(theta, pairs) / pairs) + nngp


@shared
def _total(array, count):
    total = array.dtype.type(0)
    for q in range(count):
        total += array[q]
    return total


def _convolution_map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj):
    length = dots.shape[0]
    if not spec.pooled:
        _flatten_recursion(spec, rows_x, i, rows_z, j, length, work, out, oi, oj, False)
        return
    scratch = work.reshape(work.size)
    for t in range(length):
        _pooled_pair(spec, rows_x, i, rows_z, j + t, scratch, out, oi, oj + t, False)


def _convolution_row_data(spec, X):
    """Each input's pixels, then per layer and pixel its variance ``Sigma_l(x, x)[p, p]``, root,
    inverse root and the activation's quantities; and ``k(x, x)``, from the pairs of every
    pixel with itself (flattening), or of every pixel pair of the input (global pooling)."""
    n = X.shape[0]
    last = spec.depth
    size = spec.layer_base[last] + spec.rows_per_layer * spec.heights[last] * spec.widths[last]
    rows = np.empty((size, n), dtype=X.dtype)
    for i in range(n):
        for k in range(X.shape[1]):
            rows[k, i] = X[i, k]
    area = _area(spec)
    work = np.empty(((_FLATTEN_BUFFERS + spec.slot_frozen.shape[0]) * area, n), dtype=X.dtype)
    out = np.empty((spec.output_depth.shape[0], 1, n), dtype=X.dtype)
    start = np.int64(0)  # a variable: a literal 0 would compile another specialisation
    _flatten_recursion(spec, rows, start, rows, start, n, work, out, start, start, True)
    if spec.pooled:
        scratch = np.empty(_work_rows(spec, 1), dtype=X.dtype)
        for i in range(n):
            _pooled_pair(spec, rows, i, rows, i, scratch, out, start, i, True)
    return rows, out[:, 0, :]


register(protocol_map_run, ConvolutionParameters, _convolution_map_run)
register(protocol_row_data, ConvolutionParameters, _convolution_row_data)
