"""``fastntk._math.acos``: the branch-free polynomial arccos every angle-based kernel uses,
against ``np.arccos`` in float64 and (with float32 arguments) in float32."""

import math

import numba
import numpy as np
import pytest

from fastntk._math import acos


@numba.njit
def acos_of_each(values):
    """``acos`` called from compiled code, as the kernels call it (one scalar at a time)."""
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = acos(values[i])
    return out


def dense_grid(dtype):
    """[-1, 1] densely, the branch points +-1/2 and their neighbours, and 1 - 10^-k, -1 + 10^-k
    with their float neighbours."""
    grid = np.linspace(-1, 1, 200_001)
    near_ends = np.concatenate([1 - 10.0 ** -np.arange(1, 17), -1 + 10.0 ** -np.arange(1, 17)])
    special = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1e-300, -1e-300, 5e-324])
    values = np.concatenate([grid, near_ends, special]).astype(dtype)
    neighbours = np.concatenate([np.nextafter(values, dtype(2)), np.nextafter(values, dtype(-2))])
    values = np.concatenate([values, neighbours])
    return np.unique(np.clip(values, dtype(-1), dtype(1)))


def test_float64_absolute_error_at_most_1e_15():
    c = dense_grid(np.float64)
    result = acos_of_each(c)
    assert result.dtype == np.float64
    error = np.abs(result - np.arccos(c))
    worst = np.argmax(error)
    assert error[worst] <= 1e-15, (
        f"acos({c[worst]!r}) = {result[worst]!r}, np.arccos {np.arccos(c[worst])!r}"
    )


def test_float64_exact_at_the_ends_and_the_middle():
    assert acos(1.0) == 0.0
    assert acos(-1.0) == pytest.approx(math.pi, abs=4.5e-16)
    assert acos(0.0) == pytest.approx(math.pi / 2, abs=2.3e-16)


def test_float64_relative_accuracy_of_small_angles():
    """Near c = 1 the angle is small: ``1 - c`` is exact (Sterbenz), so the result must keep
    its relative accuracy (a few ulp), not just 1e-15 absolute."""
    c = 1 - np.concatenate([10.0 ** -np.arange(1, 16), 2.0 ** -np.arange(2, 53)])
    result = acos_of_each(c)
    np.testing.assert_allclose(result, np.arccos(c), rtol=8 * np.finfo(np.float64).eps, atol=0)


def test_float32_error_at_most_4e_7():
    """Called from Python with np.float32 scalars (every 7th grid point and the ends)."""
    c = dense_grid(np.float32)
    values = np.concatenate([c[::7], c[:200], c[-200:]])
    result = np.array([acos(np.float32(value)) for value in values])
    error = np.abs(result.astype(np.float64) - np.arccos(values.astype(np.float64)))
    worst = np.argmax(error)
    assert error[worst] <= 4e-7, f"acos(float32({values[worst]!r})) = {result[worst]!r}"


def test_float32_stays_float32_in_compiled_code():
    c = dense_grid(np.float32)
    result = acos_of_each(c)
    assert result.dtype == np.float32
    error = np.abs(result.astype(np.float64) - np.arccos(c.astype(np.float64)))
    assert np.max(error) <= 4e-7


def test_symmetry_about_zero():
    c = np.linspace(0, 1, 10_001)
    np.testing.assert_allclose(acos_of_each(-c), math.pi - acos_of_each(c), rtol=0, atol=4.5e-16)
