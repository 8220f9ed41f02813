"""The compiled recursion of the convolutional kernels (``fastntk.convolution``, whose docstring
has the formulas), registered with the protocol (``fastntk._protocol``) for their spec.

Every layer keeps the input's pixel grid: "valid" padding is "same" padding with zeros, of which
layer ``l`` reads only the pixels whose windows never reached the zeros, ``l (q - 1) / 2`` and
more from each side. A layer's pixel pairs are ``[h, w, h', w']`` arrays (global pooling) or
``[pixel, column]`` arrays of the pairs ``p = p'`` of a run of columns (flattening); the window
average is two passes, along the widths then the heights, each a sum of shifted copies: with
global pooling a shift of ``(w, w')`` is a shift of the flat ``(h', w')`` index under a mask of
the columns it keeps, so that every inner loop runs over ``H W`` contiguous numbers.
"""

import math
from collections import namedtuple

import numpy as np

from ._jit import shared
from ._math import rsqrt_or_zero, snap_cosine
from ._protocol import at, columns, record, register, store
from ._protocol import map_run as protocol_map_run
from ._protocol import row_data as protocol_row_data
from .declarations import activation_dual, activation_row_values

__all__ = ["BUFFERS", "CIRCULAR", "SAME", "VALID", "ConvolutionParameters"]

#: The paddings, by their index in ``fastntk.convolution.PADDINGS``.
SAME, VALID, CIRCULAR = range(3)

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
        "height",
        "width",
        "filter_height",
        "filter_width",
        "circular",  # wrapped windows; else zeros outside the image
        "region_top",  # per layer 0 .. depth: the first row and column it is read from
        "region_left",
        "width_masks",  # [b, (h', w')]: 1 where w' + b - (q - 1) / 2 is inside the image
        "height_taps",  # [h, a]: the row tap a of row h's window reads (-1: a padding zero)
        "width_taps",  # [w, b]: the same for columns
        "pooled",  # global average pooling; else flattening
    ],
)
ConvolutionParameters.products = "none"  # the map reads the pixels from the rows, not x . z
ConvolutionParameters.refines = False
ConvolutionParameters.refines_float64 = lambda spec: False


def _largest_tile(spec):
    """An entry costs thousands of duals: smaller tiles keep every thread busy on small n. A run
    of 64 columns still vectorises the flattening readout; global pooling maps one pair at a
    time (``(H W)^2`` duals each), so tiles of 2 x 2 lose nothing and split even 4 images."""
    return 2 if spec.pooled else 64


ConvolutionParameters.largest_tile = _largest_tile

#: Arrays of pixel pairs in the scratch of ``map_run``, ``H W`` numbers per column with
#: flattening and ``(H W)^2`` with global pooling: a layer's K, its Sigma, Td (also the
#: filter's output for Theta) and the filter's partial sums; then one Theta per slot.
BUFFERS = 4


@shared
def _area(spec):
    return spec.height * spec.width


@shared
def _pixel_rows(spec):
    """Rows of one input's pixel quantities copied per pair (global pooling): its channels,
    then a layer's quantities."""
    return max(spec.channels, spec.rows_per_layer)


@shared
def _work_shape(spec, run):
    """The scratch of runs of ``run`` columns: with flattening, ``H W`` rows per buffer of
    ``[pixel, column]`` pairs; with global pooling, one pair at a time, ``H W`` columns and
    ``H W`` rows per buffer of ``[p, p']`` pairs, then the pixel quantities of one input."""
    buffers = BUFFERS + spec.slot_frozen.shape[0]
    area = _area(spec)
    if not spec.pooled:
        return (buffers * area, run)
    return (buffers * area + _pixel_rows(spec), area)


ConvolutionParameters.work_shape = _work_shape


@shared
def _layer_base(spec, layer):
    """The row of the first pixel's quantities of ``layer`` (after the input's pixels)."""
    area = _area(spec)
    return area * spec.channels + (layer - 1) * area * spec.rows_per_layer


# --- the window average -----------------------------------------------------------------------


@shared
def _filter_columns(spec, source, partial, target, length, scale, shift):
    """``target[p, :length] = scale A(source)[p, :length] + shift`` on the pairs ``p = p'``
    (flattening, and every input's own variances): ``[pixel, column]`` arrays."""
    height, width = spec.height, spec.width
    fh, fw = spec.filter_height, spec.filter_width
    for h in range(height):
        for w in range(width):
            row = partial[h * width + w, :length]
            for t in range(length):
                row[t] = 0
            for b in range(fw):
                wi = spec.width_taps[w, b]
                if wi >= 0:
                    src = source[h * width + wi, :length]
                    for t in range(length):
                        row[t] += src[t]
    factor = scale / (fh * fw)
    for h in range(height):
        for w in range(width):
            row = target[h * width + w, :length]
            for t in range(length):
                row[t] = 0
            for a in range(fh):
                hi = spec.height_taps[h, a]
                if hi >= 0:
                    src = partial[hi * width + w, :length]
                    for t in range(length):
                        row[t] += src[t]
            for t in range(length):
                row[t] = factor * row[t] + shift


@shared
def _add_wrapped(out, source, mask, wrap, masked):
    """``out[f] += (1 - mask[f]) source[f + wrap]`` (``masked``) or ``+= source[f + wrap]``
    where ``f + wrap`` is in the row: the part of a shifted window tap that wrapped around
    (circular padding)."""
    area = out.shape[0]
    low, high = max(0, -wrap), min(area, area - wrap)
    kept = out[low:high]
    shifted = source[low + wrap : high + wrap]
    kept_mask = mask[low:high]
    for f in range(high - low):
        kept[f] += (1 - kept_mask[f] if masked else 1) * shifted[f]


@shared
def _filter_pairs(spec, source, partial, target, scale, shift):
    """``target = scale A(source) + shift`` on every pixel pair (global pooling),
    ``[(h, w), (h', w')]`` arrays: the sums along the widths into ``partial``, then along the
    heights.

    The loops run on row views indexed from 0, so that they vectorise (a runtime offset in an
    index makes Numba's negative-index check turn the loads into gathers), and are written out
    here: a helper called per view would not be inlined.

    The two passes go by rows of the image: the heights' pass of row ``h`` follows the widths'
    pass of row ``h + (q - 1) / 2``, so that the partial sums it reads are still in cache (the
    filter is bound by its loads and stores: measured 1.4x faster on 32x32 images, whose
    buffers of 8 MB outgrow the caches; no change on 8x8, whose fit in L2). Circular windows
    wrap around, so there the widths' pass runs whole first."""
    height, width = spec.height, spec.width
    area = height * width
    factor = scale / (spec.filter_height * spec.filter_width)
    ahead = height if spec.circular else (spec.filter_height - 1) // 2
    for step in range(height + ahead):
        h = step
        if h < height:
            for w in range(width):
                out = partial[h * width + w]
                centre = (spec.filter_width - 1) // 2  # the tap that keeps every pixel: first
                src = source[h * width + w]
                for f in range(area):
                    out[f] = src[f]
                for b in range(spec.filter_width):
                    wi = spec.width_taps[w, b]
                    if wi < 0 or b == centre:
                        continue
                    src = source[h * width + wi]
                    # out[f] += mask[f] src[f + s]: the shift s of w' is one of the flat (h', w')
                    shift_w = b - (spec.filter_width - 1) // 2
                    low, high = max(0, -shift_w), min(area, area - shift_w)
                    kept = out[low:high]
                    shifted = src[low + shift_w : high + shift_w]
                    mask = spec.width_masks[b, low:high]
                    for f in range(high - low):
                        kept[f] += mask[f] * shifted[f]
                    if spec.circular and shift_w != 0:  # the columns w' + s wrapped around
                        wrap = shift_w - width if shift_w > 0 else shift_w + width
                        _add_wrapped(out, src, spec.width_masks[b], wrap, True)
        h = step - ahead
        if h >= 0:
            for w in range(width):
                out = target[h * width + w]
                centre = (spec.filter_height - 1) // 2
                src = partial[h * width + w]
                for f in range(area):
                    out[f] = src[f]
                for a in range(spec.filter_height):
                    hi = spec.height_taps[h, a]
                    if hi < 0 or a == centre:
                        continue
                    src = partial[hi * width + w]
                    offset = (a - (spec.filter_height - 1) // 2) * width  # a shift of h': rows
                    low, high = max(0, -offset), min(area, area - offset)
                    kept = out[low:high]
                    shifted = src[low + offset : high + offset]
                    for f in range(high - low):
                        kept[f] += shifted[f]
                    if spec.circular and offset != 0:  # the rows h' + shift wrapped around
                        wrap = offset - area if offset > 0 else offset + area
                        _add_wrapped(out, src, spec.width_masks[0], wrap, False)
                for f in range(area):
                    out[f] = factor * out[f] + shift


# --- the layers -------------------------------------------------------------------------------


@shared
def _duals(spec, sigma, values, slopes, x, z_views, length):
    """``values[t], slopes[t] = T, Td`` for ``t < length``: the duals of the pixel pairs whose
    covariances are ``sigma[t]``, of one pixel of an input (the record ``x``) against the
    pixels or the columns ``t`` of the record of views ``z_views``."""
    activation = spec.activation
    for t in range(length):
        z = at(z_views, t)
        c = snap_cosine(sigma[t] * (x.inverse_root * z.inverse_root), spec.snap)
        value, slope = activation_dual(activation, sigma[t], c, x, z)
        values[t] = value
        slopes[t] = slope


@shared
def _own_dual(spec, z):
    """``(T, Td)`` of a pixel with itself (the record ``z``): correlation exactly 1, or 0 for
    a zero variance."""
    one = type(z.variance)(1)
    c = one if z.root > 0 else one - one
    return activation_dual(spec.activation, z.variance, c, z, z)


@shared
def _store_layer(spec, sigma, rows, base, column, length):
    """Each pixel's quantities of one layer from its variances ``sigma`` (``[pixel, column]``)
    into ``rows[base + p * rows_per_layer + k, column + t]``."""
    for p in range(_area(spec)):
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
    against the columns ``j .. j + length - 1``, ``[pixel, column]`` arrays, the outputs written
    to ``out[k, oi, oj + t]``. With ``own`` each column is paired with itself, and each layer's
    quantities are stored in ``rows_z`` before they are used."""
    area = _area(spec)
    activation = spec.activation
    values = work[0:area]
    sigma = work[area : 2 * area]
    slopes = work[2 * area : 3 * area]
    partial = work[3 * area : 4 * area]
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
        _filter_columns(spec, values, partial, sigma, length, spec.w_var, spec.b_var)
        for s in range(spec.slot_frozen.shape[0]):
            theta = work[(BUFFERS + s) * area : (BUFFERS + s + 1) * area]
            if spec.slot_frozen[s] < layer - 1:
                _filter_columns(spec, theta, partial, slopes, length, spec.w_var, 0.0)
                for p in range(area):
                    for t in range(length):
                        theta[p, t] = slopes[p, t] + sigma[p, t]
            elif spec.slot_frozen[s] == layer - 1:
                for p in range(area):
                    for t in range(length):
                        theta[p, t] = sigma[p, t]
        base = _layer_base(spec, layer)
        if own:
            _store_layer(spec, sigma, rows_z, base, j, length)
        for p in range(area):
            row = base + p * spec.rows_per_layer
            z_views = columns(activation, rows_z, row, j, j + length)
            if own:
                for t in range(length):
                    values[p, t], slopes[p, t] = _own_dual(spec, at(z_views, t))
            else:
                x = record(activation, rows_x, row, i)
                _duals(spec, sigma[p], values[p], slopes[p], x, z_views, length)
        for s in range(spec.slot_frozen.shape[0]):
            if spec.slot_frozen[s] < layer:
                theta = work[(BUFFERS + s) * area : (BUFFERS + s + 1) * area]
                for p in range(area):
                    for t in range(length):
                        theta[p, t] *= slopes[p, t]
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] != layer:
                continue
            target = out[k, oi, oj : oj + length]
            _region_mean(spec, layer, values, target, length)
            for t in range(length):
                target[t] = spec.w_var * target[t] + spec.b_var
            slot = spec.output_slot[k]
            if slot >= 0:
                theta = work[(BUFFERS + slot) * area : (BUFFERS + slot + 1) * area]
                mean = partial[0, :length]  # free scratch here
                _region_mean(spec, layer, theta, mean, length)
                for t in range(length):
                    target[t] += spec.w_var * mean[t]


@shared
def _region_mean(spec, layer, array, target, length):
    """``target[t] = mean_p array[p, t]`` over the pixels ``p`` that ``layer`` is read from."""
    top, left = spec.region_top[layer], spec.region_left[layer]
    for t in range(length):
        target[t] = 0
    for h in range(top, spec.height - top):
        for w in range(left, spec.width - left):
            row = array[h * spec.width + w, :length]
            for t in range(length):
                target[t] += row[t]
    count = (spec.height - 2 * top) * (spec.width - 2 * left)
    for t in range(length):
        target[t] /= count


@shared
def _pooled_pair(spec, rows_x, i, rows_z, j, work, out, oi, oj, same):
    """Global pooling: the entry ``(i, j)`` from every pixel pair, in ``work``
    (``[(h, w), (h', w')]`` blocks), written to ``out[k, oi, oj]``. ``same``: ``j`` is ``i``,
    whose pairs of a pixel with itself have correlation exactly 1."""
    area = _area(spec)
    activation = spec.activation
    values = work[0:area]
    sigma = work[area : 2 * area]
    slopes = work[2 * area : 3 * area]
    partial = work[3 * area : 4 * area]
    start = (BUFFERS + spec.slot_frozen.shape[0]) * area
    z_pixels = work[start : start + _pixel_rows(spec)]
    channels = spec.channels
    for c in range(channels):
        for p in range(area):
            z_pixels[c, p] = rows_z[p * channels + c, j] / channels
    for p in range(area):
        row = values[p]
        for q in range(area):
            row[q] = 0
        for c in range(channels):
            x_value = rows_x[p * channels + c, i]
            z_row = z_pixels[c]
            for q in range(area):
                row[q] += x_value * z_row[q]
    for layer in range(1, spec.depth + 1):
        _filter_pairs(spec, values, partial, sigma, spec.w_var, spec.b_var)
        for s in range(spec.slot_frozen.shape[0]):
            theta = work[(BUFFERS + s) * area : (BUFFERS + s + 1) * area]
            if spec.slot_frozen[s] < layer - 1:
                _filter_pairs(spec, theta, partial, slopes, spec.w_var, 0.0)
                for p in range(area):
                    theta_row, slope_row, sigma_row = theta[p], slopes[p], sigma[p]
                    for q in range(area):
                        theta_row[q] = slope_row[q] + sigma_row[q]
            elif spec.slot_frozen[s] == layer - 1:
                for p in range(area):
                    theta_row, sigma_row = theta[p], sigma[p]
                    for q in range(area):
                        theta_row[q] = sigma_row[q]
        base = _layer_base(spec, layer)
        for q in range(area):
            for k in range(spec.rows_per_layer):
                z_pixels[k, q] = rows_z[base + q * spec.rows_per_layer + k, j]
        z_views = columns(activation, z_pixels, 0, 0, area)
        for p in range(area):
            x = record(activation, rows_x, base + p * spec.rows_per_layer, i)
            _duals(spec, sigma[p], values[p], slopes[p], x, z_views, area)
            if same:
                values[p, p], slopes[p, p] = _own_dual(spec, x)
        for s in range(spec.slot_frozen.shape[0]):
            if spec.slot_frozen[s] < layer:
                theta = work[(BUFFERS + s) * area : (BUFFERS + s + 1) * area]
                for p in range(area):
                    theta_row, slope_row = theta[p], slopes[p]
                    for q in range(area):
                        theta_row[q] *= slope_row[q]
        for k in range(spec.output_depth.shape[0]):
            if spec.output_depth[k] == layer:
                nngp = spec.w_var * _pair_mean(spec, layer, values) + spec.b_var
                out[k, oi, oj] = nngp
                slot = spec.output_slot[k]
                if slot >= 0:
                    theta = work[(BUFFERS + slot) * area : (BUFFERS + slot + 1) * area]
                    out[k, oi, oj] = spec.w_var * _pair_mean(spec, layer, theta) + nngp


@shared
def _pair_mean(spec, layer, array):
    """The mean of the ``[(h, w), (h', w')]`` array over the pixel pairs of ``layer``'s
    region."""
    top, left = spec.region_top[layer], spec.region_left[layer]
    width = spec.width
    total = array.dtype.type(0)
    for h in range(top, spec.height - top):
        for w in range(left, width - left):
            block = array[h * width + w]
            for h2 in range(top, spec.height - top):
                row = block[h2 * width + left : h2 * width + width - left]
                for q in range(row.shape[0]):
                    total += row[q]
    count = (spec.height - 2 * top) * (width - 2 * left)
    return total / (count * count)


def _convolution_map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj):
    length = dots.shape[0]
    if not spec.pooled:
        _flatten_recursion(spec, rows_x, i, rows_z, j, length, work, out, oi, oj, False)
        return
    for t in range(length):
        _pooled_pair(spec, rows_x, i, rows_z, j + t, work, out, oi, oj + t, False)


def _convolution_row_data(spec, X):
    """Each input's pixels, then per layer and pixel its variance ``Sigma_l(x, x)[p, p]``, root,
    inverse root and the activation's quantities; and ``k(x, x)``: from the pairs of every
    pixel with itself (flattening), or of every pixel pair of the input (global pooling)."""
    n = X.shape[0]
    rows = np.empty((_layer_base(spec, spec.depth + 1), n), dtype=X.dtype)
    for i in range(n):
        for k in range(X.shape[1]):
            rows[k, i] = X[i, k]
    area = _area(spec)
    work = np.empty(((BUFFERS + spec.slot_frozen.shape[0]) * area, n), dtype=X.dtype)
    out = np.empty((spec.output_depth.shape[0], 1, n), dtype=X.dtype)
    start = np.int64(0)  # a variable: a literal 0 would compile another specialisation
    _flatten_recursion(spec, rows, start, rows, start, n, work, out, start, start, True)
    if spec.pooled:
        pair_work = np.empty(_work_shape(spec, 1), dtype=X.dtype)
        for i in range(n):
            _pooled_pair(spec, rows, i, rows, i, pair_work, out, start, i, True)
    return rows, out[:, 0, :]


register(protocol_map_run, ConvolutionParameters, _convolution_map_run)
register(protocol_row_data, ConvolutionParameters, _convolution_row_data)
