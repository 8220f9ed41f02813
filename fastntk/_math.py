"""Scalar maths shared by every kernel, on the CPU and in CUDA device code.

Numba's ``math.acos`` calls libm once per element and blocks SIMD vectorisation (PyPI's llvmlite
has no SVML). ``acos`` here is branch-free polynomial arithmetic plus one ``sqrt``, so LLVM turns
the kernel loops into vector code. Its coefficients come from ``scripts/fit_asin_polynomial.py``;
the maximum error over [-1, 1] is 4.4e-16 in float64 and 3.0e-7 in float32 (tests check it).
"""

import math
from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from ._jit import jit

# asin(x) = x + x z R(z), z = x^2, 0 <= x <= 1/2: monomial coefficients of R, lowest first.
_ASIN_REMAINDER_FLOAT64 = (
    0.16666666666666669,
    0.07499999999998433,
    0.04464285714635543,
    0.030381944138531247,
    0.02237217294214989,
    0.017352392720869973,
    0.013971212973552933,
    0.011479177415184906,
    0.01032281435018578,
    0.005457506718640358,
    0.01740087944269402,
    -0.014851887071247204,
    0.028757851367421566,
)
_ASIN_REMAINDER_FLOAT32 = (
    np.float32(0.16666672414795305),
    np.float32(0.07498855072600821),
    np.float32(0.04500138006991017),
    np.float32(0.026554542206161328),
    np.float32(0.038085023561092654),
)


def _estrin_13(c, z):
    # Estrin's scheme: a dependency chain of depth 5 instead of Horner's 12, which lets the
    # vectorised loops overlap far more work.
    z2 = z * z
    z4 = z2 * z2
    low = (c[0] + c[1] * z) + z2 * (c[2] + c[3] * z)
    middle = (c[4] + c[5] * z) + z2 * (c[6] + c[7] * z)
    high = (c[8] + c[9] * z) + z2 * (c[10] + c[11] * z)
    return (low + z4 * middle) + (z4 * z4) * (high + z4 * c[12])


def _estrin_5(c, z):
    z2 = z * z
    return (c[0] + c[1] * z) + z2 * ((c[2] + c[3] * z) + z2 * c[4])


def asin_remainder(z):
    """R(z) of ``asin(x) = x + x z R(z)`` for ``z = x**2 <= 1/4`` (float32 uses fewer terms)."""
    if isinstance(z, np.float32):
        return _estrin_5(_ASIN_REMAINDER_FLOAT32, z)
    return _estrin_13(_ASIN_REMAINDER_FLOAT64, z)


@overload(asin_remainder)
def _asin_remainder_typed(z):
    if z == types.float32:
        return lambda z: _estrin_5(_ASIN_REMAINDER_FLOAT32, z)
    return lambda z: _estrin_13(_ASIN_REMAINDER_FLOAT64, z)


_estrin_13 = register_jitable(_estrin_13)
_estrin_5 = register_jitable(_estrin_5)


@jit
def at_most(a, b):
    """``min(a, b)`` of two numbers that are not NaN. Numba's built-in ``min`` (an overload
    taking ``*args``) does not compile for CUDA; this does, and vectorises the same way."""
    return a if a < b else b


@jit
def at_least(a, b):
    """``max(a, b)`` of two numbers that are not NaN (see ``at_most``)."""
    return a if a > b else b


@jit
def snap_cosine(c, tolerance):
    """A computed cosine ``c`` clipped into [-1, 1], and set to exactly +-1 when it is within
    ``tolerance`` (its rounding-error bound) of +-1.

    Rounding puts the cosine of two equal vectors slightly off 1, and ``arccos(1 - e) ~
    sqrt(2 e)`` would turn that into an angle of 1e-8 (float64): duplicate rows then get exact
    values, and no angle is resolved more finely than the cosine's own error allows.
    """
    one = type(c)(1)
    if c > one - tolerance:
        return one
    if c < tolerance - one:
        return -one
    if c != c:  # 0 * inf: both variances have underflowed; like a zero vector, orthogonal
        return type(c)(0)
    return c


def cosine_tolerance(n_features, dtype):
    """The rounding-error bound of a cosine computed from ``n_features``-term inner products."""
    return (n_features + 4) * np.finfo(dtype).eps


@jit
def _asin_parts(c):
    """``(s, small)`` with ``s = asin(|c|)`` when ``small`` (``|c| <= 1/2``), else
    ``s = asin(sqrt((1 - |c|)/2))``, where ``1 - |c|`` is exact (Sterbenz): angles near 0 and
    pi keep full relative accuracy. Branch-free, so loops calling it vectorise."""
    one = type(c)(1)
    half = type(c)(0.5)
    a = at_most(abs(c), one)
    small = a <= half
    x = a if small else math.sqrt((one - a) * half)
    z = x * x
    return x + x * z * asin_remainder(z), small


@jit
def acos(c):
    """``arccos(c)`` for ``c`` in [-1, 1]: ``pi/2 -+ asin(|c|)``, or ``2 asin(sqrt((1-|c|)/2))``."""
    s, small = _asin_parts(c)
    half_pi = type(c)(math.pi / 2)
    if small:
        return half_pi - s if c >= 0 else half_pi + s
    return s + s if c >= 0 else type(c)(math.pi) - (s + s)


@jit
def asin(c):
    """``arcsin(c)`` for ``c`` in [-1, 1], with full relative accuracy near 0."""
    s, small = _asin_parts(c)
    magnitude = s if small else type(c)(math.pi / 2) - (s + s)
    return magnitude if c >= 0 else -magnitude


@jit
def sin_of_acos(c):
    """``sin(arccos c) = sqrt((1 - |c|)(1 + |c|))``, accurate where ``c`` is near +-1."""
    one = type(c)(1)
    a = at_most(abs(c), one)
    return math.sqrt((one - a) * (one + a))


#: 1 / (2k + 1)! for k = 1 .. 9: the series of theta - sin(theta).
_SINE_SERIES = tuple((-1.0) ** (k + 1) / math.factorial(2 * k + 1) for k in range(1, 10))


#: Series about theta = pi (in phi = pi - theta) of J_1 = sin(phi) - phi cos(phi), the
#: coefficients of phi^(2k+1), and of J_2 = psi + psi cos(psi) / 2 - 3 sin(psi) / 2 in
#: psi = 2 phi, of psi^(2k+1); both cancel to phi^3 and phi^5 there.
_J1_SERIES = tuple((-1.0) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 11))
_J2_SERIES = tuple((-1.0) ** k * (k - 1) / math.factorial(2 * k + 1) for k in range(2, 13))


@jit
def _odd_series(coefficients, first_power, x):
    square = x * x
    total = 0.0
    for k in range(len(coefficients) - 1, -1, -1):
        total = total * square + coefficients[k]
    return total * x**first_power


@jit
def arc_cosine_j(order, theta, remaining):
    """Cho and Saul's ``J_order(theta)`` (order 0, 1, 2) from ``theta`` and ``remaining =
    pi - theta``, both accurate: ``J_0 = pi - theta``, ``J_1 = sin theta + (pi - theta) cos
    theta``, ``J_2 = 3 sin theta cos theta + (pi - theta)(1 + 2 cos^2 theta)``, with full
    relative accuracy also near ``theta = pi``, where ``J_1`` and ``J_2`` vanish (series)."""
    if order == 0:
        return remaining
    c = math.cos(theta)
    if order == 1:
        if remaining < 0.5:
            return _odd_series(_J1_SERIES, 3, remaining)
        return math.sin(theta) + remaining * c
    if remaining < 0.25:
        return _odd_series(_J2_SERIES, 5, 2 * remaining)
    return 3 * math.sin(theta) * c + remaining * (1 + 2 * c * c)


#: 1 / (2k + 1)! for k = 0 .. 8: the series of sinh, to 1e-19 relative below |m| = 1/2.
_SINH_SERIES = tuple(1.0 / math.factorial(2 * k + 1) for k in range(9))


@jit
def sinh_and_cosh(m):
    """``(sinh m, cosh m)`` from one ``exp`` (a libm ``sinh`` and ``cosh`` cost several
    times as much): below ``|m| = 1/2``, where ``e^m - e^-m`` cancels, ``sinh`` by its series
    and ``cosh = sqrt(1 + sinh^2)``."""
    if abs(m) < 0.5:
        sinh = _odd_series(_SINH_SERIES, 1, m)
        return sinh, math.sqrt(1.0 + sinh * sinh)
    growth = math.exp(m)
    decay = 1.0 / growth
    return 0.5 * (growth - decay), 0.5 * (growth + decay)


@jit
def theta_minus_sine(theta):
    """``theta - sin(theta)`` for ``theta`` in [0, pi], with full relative accuracy near 0
    (its series below 1, where the difference would cancel)."""
    if theta >= 1.0:
        return theta - math.sin(theta)
    return _odd_series(_SINE_SERIES, 3, theta)


@jit
def rsqrt_or_zero(v):
    """``1/sqrt(v)`` for ``v > 0`` and 0 for ``v <= 0``: a zero vector gets cosine 0, not NaN."""
    return type(v)(1) / math.sqrt(v) if v > 0 else type(v)(0)


#: Cosines within this of +-1 are refined (``fastntk._protocol.refine``): in float32, where a
#: rounding of the cosine would move the angle by more than 1e-5 relative; in float64, where
#: the angle's error ``eps / sin(theta)`` would pass about 1e-14 of the kernel's value.
NEAR_PARALLEL = {np.float32: 1e-5, np.float64: 1e-3}


#: Below this cosine, maps through ``pi - theta`` (rounded ``arccos`` near -1) or ``J_1``
#: (``sin theta + (pi - theta) cos theta``, which vanishes like ``(pi - theta)^3`` at
#: anti-parallel rows) lose more than 1e-14 in float64; ``J_2`` (like ``(pi - theta)^5``)
#: below ``ANTI_PARALLEL_J2``.
ANTI_PARALLEL = -0.95
ANTI_PARALLEL_J2 = -0.7


def near_parallel(c):
    """Whether the cosine ``c`` is within ``NEAR_PARALLEL`` of +-1."""
    return abs(c) > 1 - NEAR_PARALLEL[type(c)]


@overload(near_parallel)
def _near_parallel_typed(c):
    bound = NEAR_PARALLEL[np.float32 if c == types.float32 else np.float64]
    return lambda c: abs(c) > 1 - bound


@register_jitable
def exact_dot(X, Z, i, j):
    """``X[i] . Z[j]`` accumulated in float64. Generic (not a CPU dispatcher): CUDA kernels, and
    the CUDA simulator's device arrays, call it too."""
    total = 0.0
    for k in range(X.shape[1]):
        total += np.float64(X[i, k]) * np.float64(Z[j, k])
    return total


#: Exact quantities of one pair of rows ``x``, ``z``, accumulated in float64 from the rows
#: themselves (``pair_products``), for entries whose map is ill-conditioned in ``x . z``:
#: ``dot = x . z``, ``squared_distance = |x - z|^2``, ``squared_wedge = |x|^2 |z|^2 - (x . z)^2``
#: (the squared sine numerator, without the cancellation of that formula) and
#: ``norm_gap = |x|^2 - |z|^2``.
Pair = namedtuple("Pair", ["dot", "squared_distance", "squared_wedge", "norm_gap"])


@register_jitable
def pair_products(X, Z, i, j):
    """The ``Pair`` of ``X[i]`` and ``Z[j]``, in float64.

    ``|x ^ z| = |x| |r|`` with ``r`` the part of ``d = z -+ w`` orthogonal to ``x``, where
    ``w = 2^k x`` is ``x`` scaled by the power of two (exact) nearest ``|z| / |x|`` and the sign
    makes ``d`` the shorter: ``d`` is exact to rounding, and ``r = d - (w . d / |w|^2) w`` loses
    only the rounding of ``d``'s radial part, at most about ``|z|``. So the sine has an absolute
    error of a few ``eps`` whatever the lengths of the rows, and a relative one of a few ``eps``
    where the rows are close (``z`` near ``+-x``): the angle keeps full relative accuracy there.
    Three passes over the rows. Generic (not a CPU dispatcher): the CUDA kernel calls it too.
    """
    xx = 0.0
    zz = 0.0
    xz = 0.0
    dd = 0.0
    gap = 0.0
    for k in range(X.shape[1]):
        x = np.float64(X[i, k])
        z = np.float64(Z[j, k])
        xx += x * x
        zz += z * z
        xz += x * z
        dd += (z - x) * (z - x)
        gap += (x - z) * (x + z)
    if xx == 0.0 or zz == 0.0:
        return Pair(xz, dd, 0.0, gap)
    power = (math.frexp(zz)[1] - math.frexp(xx)[1]) // 2
    sign = 1.0 if xz < 0.0 else -1.0  # d = z + sign w
    wd = 0.0
    for k in range(X.shape[1]):
        w = math.ldexp(np.float64(X[i, k]), power)
        wd += w * (np.float64(Z[j, k]) + sign * w)
    ratio = wd / math.ldexp(xx, 2 * power)
    rejection = 0.0
    for k in range(X.shape[1]):
        w = math.ldexp(np.float64(X[i, k]), power)
        r = (np.float64(Z[j, k]) + sign * w) - ratio * w
        rejection += r * r
    return Pair(xz, dd, xx * rejection, gap)
