"""Fit the polynomial behind fastntk's vectorisable arcsine (``fastntk/_math.py``).

For ``0 <= x <= 1/2``, ``asin(x) = x + x * z * R(z)`` with ``z = x**2``. This script fits ``R`` on
``[0, 1/4]`` by Chebyshev interpolation in 60-digit arithmetic (mpmath), converts it to monomial
coefficients for Horner's rule, and prints them with the maximum error of ``acos`` built on them,
evaluated in float64 and float32 against mpmath over [-1, 1].

Usage: python scripts/fit_asin_polynomial.py [--degree64 N] [--degree32 N]
"""

import argparse

import mpmath
import numpy as np

mpmath.mp.dps = 60
Z_MAX = mpmath.mpf(1) / 4


def remainder(z):
    """R(z) = (asin(sqrt z) - sqrt z) / z**1.5, with its limit 1/6 at z = 0."""
    if z == 0:
        return mpmath.mpf(1) / 6
    x = mpmath.sqrt(z)
    return (mpmath.asin(x) - x) / (z * x)


def fit(degree):
    """Monomial coefficients (lowest first) of the Chebyshev interpolant of R of this degree."""
    nodes = [
        Z_MAX / 2 * (1 + mpmath.cos(mpmath.pi * (k + mpmath.mpf(1) / 2) / (degree + 1)))
        for k in range(degree + 1)
    ]
    values = [remainder(z) for z in nodes]
    matrix = mpmath.matrix([[z**p for p in range(degree + 1)] for z in nodes])
    return mpmath.lu_solve(matrix, mpmath.matrix(values))


def acos_from(coefficients, c, dtype):
    """acos(c) exactly as fastntk evaluates it, in the given precision."""
    c = dtype(c)
    a = abs(c)
    small = a <= dtype(0.5)
    x = a if small else np.sqrt((dtype(1) - a) / dtype(2))
    z = x * x
    r = dtype(coefficients[-1])
    for coefficient in coefficients[-2::-1]:
        r = r * z + dtype(coefficient)
    s = x + x * z * r
    half_pi = dtype(np.pi / 2)
    if small:
        return half_pi - s if c >= 0 else half_pi + s
    return dtype(2) * s if c >= 0 else dtype(np.pi) - dtype(2) * s


def worst_error(coefficients, dtype, samples=4001):
    grid = np.concatenate(
        [np.linspace(-1, 1, samples), 1 - np.logspace(-16, 0, 200), -1 + np.logspace(-16, 0, 200)]
    )
    worst = 0.0
    for c in grid:
        exact = mpmath.acos(mpmath.mpf(float(dtype(c))))
        worst = max(worst, abs(float(acos_from(coefficients, c, dtype)) - float(exact)))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree64", type=int, default=12)
    parser.add_argument("--degree32", type=int, default=4)
    args = parser.parse_args()
    for name, degree, dtype in [
        ("float64", args.degree64, np.float64),
        ("float32", args.degree32, np.float32),
    ]:
        coefficients = [float(v) for v in fit(degree)]
        print(f"{name}: degree {degree}, max |acos error| = {worst_error(coefficients, dtype):.3g}")
        print("(" + ",\n ".join(repr(v) for v in coefficients) + ")")


if __name__ == "__main__":
    main()
