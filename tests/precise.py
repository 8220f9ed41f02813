"""120-digit references (mpmath) for entries whose float64 maths is ill-conditioned: pairs of
near-parallel or near-anti-parallel rows. Written from MATH.md; shares nothing with fastntk.
Inputs are taken as the exact binary values of the float64 arrays."""

import mpmath

# J_2 near anti-parallel rows cancels to phi^5: at phi = 1e-12 that needs over 60 digits.
mpmath.mp.dps = 120


def _vector(row):
    return [mpmath.mpf(float(value)) for value in row]


def _dot(u, v):
    return mpmath.fsum(a * b for a, b in zip(u, v, strict=True))


def _angle(sxx, szz, sxz):
    g = mpmath.sqrt(sxx * szz)
    if g == 0:
        return mpmath.pi / 2
    return mpmath.acos(max(-1, min(1, sxz / g)))


def _piecewise_dual(a, b, sxx, szz, sxz):
    """E[phi(u) phi(v)], E[phi'(u) phi'(v)] of phi(u) = a u (u < 0), b u (u >= 0)."""
    theta = _angle(sxx, szz, sxz)
    g = mpmath.sqrt(sxx * szz)
    relu_t = g * (mpmath.sin(theta) + (mpmath.pi - theta) * mpmath.cos(theta)) / (2 * mpmath.pi)
    relu_td = (mpmath.pi - theta) / (2 * mpmath.pi)
    return a * b * sxz + (b - a) ** 2 * relu_t, a * b + (b - a) ** 2 * relu_td


def _step_dual(sxx, szz, sxz):
    return (mpmath.pi - _angle(sxx, szz, sxz)) / (2 * mpmath.pi), mpmath.mpf(0)


def _erf_dual(sxx, szz, sxz):
    product = (1 + 2 * sxx) * (1 + 2 * szz)
    value = 2 / mpmath.pi * mpmath.asin(2 * sxz / mpmath.sqrt(product))
    return value, 4 / mpmath.pi / mpmath.sqrt(product - 4 * sxz**2)


DUALS = {
    "relu": lambda *s: _piecewise_dual(0, 1, *s),
    "abs": lambda *s: _piecewise_dual(-1, 1, *s),
    "leaky_relu": lambda *s: _piecewise_dual(mpmath.mpf("0.01"), 1, *s),
    "step": _step_dual,
    "erf": _erf_dual,
}


def network(x, z, depth, activation="relu", w_std=1.0, b_std=0.0, ntk=True):
    """The NTK (or NNGP) of one pair of rows, NTK parameterization (MATH.md section 3)."""
    x, z = _vector(x), _vector(z)
    w, b = mpmath.mpf(float(w_std)) ** 2, mpmath.mpf(float(b_std)) ** 2
    d = len(x)
    sxx, szz, sxz = (w * _dot(u, v) / d + b for u, v in ((x, x), (z, z), (x, z)))
    theta = sxz
    dual = DUALS[activation]
    for _ in range(depth):
        value, slope = dual(sxx, szz, sxz)
        value_x, _ = dual(sxx, sxx, sxx)
        value_z, _ = dual(szz, szz, szz)
        next_sxz = w * value + b
        theta = next_sxz + w * slope * theta
        sxx, szz, sxz = w * value_x + b, w * value_z + b, next_sxz
    return float(theta if ntk else sxz)


def arc_cosine(x, z, order):
    x, z = _vector(x), _vector(z)
    nx, nz = mpmath.sqrt(_dot(x, x)), mpmath.sqrt(_dot(z, z))
    theta = _angle(nx * nx, nz * nz, _dot(x, z))
    s, c, rest = mpmath.sin(theta), mpmath.cos(theta), mpmath.pi - theta
    j = (rest, s + rest * c, 3 * s * c + rest * (1 + 2 * c * c))[order]
    return float((nx * nz) ** order * j / mpmath.pi)


def gaussian(x, z, lengthscale):
    x, z = _vector(x), _vector(z)
    squared = mpmath.fsum((a - b) ** 2 for a, b in zip(x, z, strict=True))
    return float(mpmath.exp(-squared / (2 * mpmath.mpf(float(lengthscale)) ** 2)))
