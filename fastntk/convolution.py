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

from dataclasses import dataclass

import numpy as np

from ._math import cosine_tolerance
from ._validation import check_fits_in_memory, check_int, check_positive, check_samples
from .activations import Activation, as_activation
from .convolution_recursion import BUFFERS, CIRCULAR, VALID, ConvolutionParameters
from .declarations import LAYER_QUANTITIES, ActivationKernel, Kernel
from .network import MAX_DEPTH, output_layout

__all__ = ["CNNGP", "CNTK", "PADDINGS", "POOLINGS"]

#: neural-tangents' paddings of ``Conv``, by fastntk's names.
PADDINGS = ("same", "valid", "circular")
#: The ranks of the inputs: images, signals, or rows of a bound shape's inputs.
INPUT_RANKS = (2, 3, 4)
#: The readouts: global average pooling, or flattening (the vectorised readout).
POOLINGS = ("global", "flatten")


class ConvolutionKernel(ActivationKernel):
    """Shared by ``CNNGP`` and ``CNTK``: the parameters, and the inputs' checks."""

    input_ranks = INPUT_RANKS

    def __post_init__(self):
        object.__setattr__(self, "depth", check_int(self.depth, "depth", 1, MAX_DEPTH))
        size = check_int(self.filter_size, "filter_size", 1)
        if size % 2 == 0:
            raise ValueError(f"filter_size must be odd (a window centred on its pixel), got {size}")
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
    r"""The NNGP kernel of an infinitely wide convolutional network (module docstring):
    ``depth`` convolutions of ``filter_size`` (odd) with ``padding`` ("same", "valid" or
    "circular"), each followed by ``activation``, then ``pooling`` ("global": global average
    pooling; "flatten") and a dense readout. ``b_std`` 0 (or None) is a network without biases.
    Inputs are images ``(n, H, W, C)`` or signals ``(n, L, C)``.

    For the pixels :math:`p, p'` of inputs :math:`x, z`, with :math:`q` = ``filter_size``,
    :math:`L` = ``depth`` and :math:`\mathcal{A}` the average over the filter's offsets
    :math:`\delta`, which shifts both pixels of a pair alike:

    .. math::

        K_0[p, p'] = \frac{x_p \cdot z_{p'}}{C}, \qquad
        \mathcal{A}(M)[p, p'] = \frac{1}{q^2} \sum_{\delta} M[p + \delta, p' + \delta],

        \Sigma_l = \sigma_w^2\, \mathcal{A}(K_{l-1}) + \sigma_b^2, \qquad
        K_l[p, p'] = \mathbb{E}_{(u, v) \sim \mathcal{N}(0, \Sigma_l^{(p, p')})}
        [\phi(u)\, \phi(v)],

        \mathrm{CNNGP}(x, z) = \sigma_w^2\, \mathcal{P}(K_L) + \sigma_b^2,

    where :math:`\Sigma_l^{(p, p')}` is the 2x2 covariance of pixel :math:`p` of :math:`x`
    and pixel :math:`p'` of :math:`z`, and the readout :math:`\mathcal{P}` averages every
    pixel pair (global pooling) or the pairs :math:`p = p'` (flattening).

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> images = fk.datasets.load_digits().X[:5]  # (5, 8, 8, 1)
    >>> K = fk.gram(fk.CNNGP(depth=2, pooling="global"), images)
    >>> K.shape
    (5, 5)

    With 1x1 filters every pixel is a network of its own: on one-pixel images the CNNGP is the
    fully-connected NNGP of the channels:

    >>> pixels = np.random.default_rng(0).standard_normal((4, 1, 1, 3))
    >>> K = fk.gram(fk.CNNGP(depth=2, filter_size=1), pixels)
    >>> bool(np.allclose(K, fk.gram(fk.NNGP(depth=2), pixels.reshape(4, 3))))
    True
    """

    depth: int = 3
    filter_size: int = 3
    padding: str = "same"
    pooling: str = "global"
    activation: Activation = "relu"
    w_std: float = 1.0
    b_std: float = 0.0


@dataclass(frozen=True)
class CNTK(ConvolutionKernel):
    r"""The NTK of the network of ``CNNGP``, with its ``frozen`` bottom layers not trained
    (0: every layer trained; ``depth``: only the readout, the CNNGP).

    With :math:`\Sigma_l`, :math:`K_l`, :math:`\mathcal{A}` and :math:`\mathcal{P}` as in
    ``CNNGP`` and :math:`\dot K_l[p, p'] = \mathbb{E}[\phi'(u)\, \phi'(v)]` over the same
    Gaussian:

    .. math::

        \tilde\Theta_0 = 0, \qquad
        \Theta_l = \sigma_w^2\, \mathcal{A}(\tilde\Theta_{l-1}) + \Sigma_l, \qquad
        \tilde\Theta_l = \Theta_l \odot \dot K_l,

        \mathrm{CNTK}(x, z) = \sigma_w^2\, \mathcal{P}(\tilde\Theta_L) + \mathrm{CNNGP}(x, z),

    with :math:`\odot` the entrywise product; with ``frozen`` = F the sum starts at
    :math:`\Theta_{F+1} = \Sigma_{F+1}`.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> images = fk.datasets.load_digits().X[:5]  # (5, 8, 8, 1)
    >>> K = fk.gram(fk.CNTK(depth=2, pooling="flatten"), images)
    >>> K.shape
    (5, 5)
    >>> pixels = np.random.default_rng(0).standard_normal((4, 1, 1, 3))
    >>> K = fk.gram(fk.CNTK(depth=2, filter_size=1), pixels)
    >>> bool(np.allclose(K, fk.gram(fk.NTK(depth=2), pixels.reshape(4, 3))))
    True
    """

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
    input_ranks = INPUT_RANKS

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


@dataclass(frozen=True)
class ShapedConvolution(Kernel):
    """Convolutional kernels bound to one input shape ``(H, W, C)``: the engine's view, whose
    rows are the inputs' pixels. It also takes inputs of that shape, or rows of their size."""

    kernel: Kernel
    kernels: tuple
    shape: tuple
    input_ranks = INPUT_RANKS

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
        rows_x = _as_rows(check_samples(X, "X", INPUT_RANKS), "X", self.shape)
        if Z is None or Z is X:
            return self, rows_x, rows_x
        return self, rows_x, _as_rows(check_samples(Z, "Z", INPUT_RANKS), "Z", self.shape)

    def spec(self, n_features, dtype):
        return _convolution_spec(self.kernels, self.shape, dtype)

    def check_rows(self, spec, rows):
        trained = any(kernel.frozen_layers < kernel.depth for kernel in self.kernels)
        first = spec.height * spec.width * spec.channels  # the first layer's first variance
        self.kernels[0].activation.check_variances(rows[first :: spec.rows_per_layer], trained)


def _prepare(kernel, kernels, X, Z):
    """``(ShapedConvolution, X rows, Z rows)``, with the checks of DESIGN.md section 5. One of
    ``X`` and ``Z`` may be rows of the other's inputs (a fitted model's centres)."""
    symmetric = Z is None or Z is X
    X = check_samples(X, "X", INPUT_RANKS)
    Z = X if symmetric else check_samples(Z, "Z", INPUT_RANKS)
    shaped, name = (X, "X") if X.ndim > 2 or symmetric else (Z, "Z")
    if shaped.ndim == 2:
        raise ValueError(
            f"{type(kernel).__name__} takes images (n, H, W, C) or signals (n, L, C), channels "
            f"last; got {name} of shape {shaped.shape}"
        )
    sample = shaped.shape[1:] if shaped.ndim == 4 else (1,) + shaped.shape[1:]
    shape = tuple(int(size) for size in sample)
    first = kernels[0]
    deepest = max(k.depth for k in kernels)
    spatial = shape[:2] if shaped.ndim == 4 else shape[1:2]
    if first.padding == "valid" and min(spatial) - deepest * (first.filter_size - 1) < 1:
        raise ValueError(
            f'padding="valid" shrinks each side by filter_size - 1 = {first.filter_size - 1} '
            f"per layer: {deepest} layers need inputs of at least "
            f"{deepest * (first.filter_size - 1) + 1} pixels a side, got {shaped.shape[1:-1]}; "
            'use fewer layers, a smaller filter, or padding="same"'
        )
    bound = ShapedConvolution(kernel, tuple(kernels), shape)
    _check_memory(bound, X.shape[0] + (0 if symmetric else Z.shape[0]))
    rows_x = _as_rows(X, "X", shape)
    return bound, rows_x, (rows_x if symmetric else _as_rows(Z, "Z", shape))


def _as_rows(array, name, shape):
    """Checked inputs of ``shape`` (images, signals or rows of their size), as rows."""
    size = int(np.prod(shape))
    if array.ndim == 2 and array.shape[1] == size:
        return array
    sample = array.shape[1:] if array.ndim == 4 else (1,) + array.shape[1:]
    if array.ndim == 2 or sample != shape:
        described = shape if shape[0] > 1 else shape[1:]
        raise ValueError(
            f"{name} must hold inputs of shape {described} (or rows of {size} numbers), got "
            f"shape {array.shape}: X and Z need the same image size and channels"
        )
    return array.reshape(array.shape[0], -1)


def _check_memory(bound, inputs):
    """What a Gram computation holds besides ``K`` must fit: each input's pixel variances of
    every layer, ``(H W C + depth H W rows)`` numbers, and with global pooling the scratch per
    thread, ``(4 + slots) (H W)^2`` numbers."""
    height, width, channels = bound.shape
    area = height * width
    first = bound.kernels[0]
    per_layer = len(LAYER_QUANTITIES) + len(first.activation.rows)
    depth = max(k.depth for k in bound.kernels)
    check_fits_in_memory(
        inputs * (area * channels + depth * area * per_layer) * 8,
        f"the per-pixel variances of {inputs} inputs of shape {bound.shape} over {depth} layers",
        "compute the Gram matrix in blocks (fastntk.gram_block) or use fewer layers",
    )
    if first.pooling == "global":
        slots = len({k.frozen_layers for k in bound.kernels if k.frozen_layers < k.depth})
        check_fits_in_memory(
            (BUFFERS + slots) * area**2 * 8,
            f"global pooling of {height} x {width} inputs (scratch per thread)",
            'use pooling="flatten"',
        )


def _window_taps(size, filter_size, circular):
    """``[index, tap]``: the pixel along one axis that each tap of each pixel's window reads,
    -1 for a zero outside the image (or wrapped around, ``circular``)."""
    sources = np.arange(size)[:, None] + np.arange(filter_size) - (filter_size - 1) // 2
    if circular:
        return sources % size
    return np.where((sources >= 0) & (sources < size), sources, -1).astype(np.int64)


def _convolution_spec(kernels, shape, dtype):
    dtype = np.dtype(dtype)
    first = kernels[0]
    height, width, channels = shape
    depth, slots, depths, output_slot = output_layout(kernels)
    filter_height = 1 if height == 1 else first.filter_size
    filter_width = first.filter_size
    padding = PADDINGS.index(first.padding)
    # "valid" is "same" with zeros, read only where no window reached the zeros: layer l's
    # pixels from l (q - 1) / 2 to the opposite side.
    layers = np.arange(depth + 1) if padding == VALID else np.zeros(depth + 1)
    region_top = layers * ((filter_height - 1) // 2)
    region_left = layers * ((filter_width - 1) // 2)
    # width_masks[b, (h', w')]: whether w' + b - (q - 1) / 2 lies inside the image.
    shifts = np.arange(filter_width) - (filter_width - 1) // 2
    columns = np.tile(np.arange(width), height)
    inside = (columns + shifts[:, None] >= 0) & (columns + shifts[:, None] < width)
    taps = [_window_taps(size, q, padding == CIRCULAR) for size, q in
            ((height, filter_height), (width, filter_width))]  # fmt: skip
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
        np.int64(len(LAYER_QUANTITIES) + len(first.activation.rows)),
        first.activation.spec(dtype),
        np.int64(channels),
        np.int64(height),
        np.int64(width),
        np.int64(filter_height),
        np.int64(filter_width),
        np.bool_(padding == CIRCULAR),
        region_top.astype(np.int64),
        region_left.astype(np.int64),
        inside.astype(dtype),
        *taps,
        np.bool_(first.pooling == "global"),
    )
