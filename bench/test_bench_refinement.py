"""The cost of refining near-parallel entries (``fastntk._protocol.refine``): ``gram`` on rows
clustered so tightly that every entry is refined, against ``gram`` on standard normal rows of
the same shape, where (almost) none is, in the same run.

A refined entry is recomputed in float64 from the two rows (three passes over their d
features) and, for the networks of kinked activations, by the scalar layer recursion that
carries each layer's angle; the ratio is the price of 1e-14 accuracy when every pair needs it.
"""

import numpy as np
import pytest

import fastntk as fk

N = 2000
D = 16
KERNELS = {
    "ntk relu depth 3": fk.NTK(depth=3),
    "arc-cosine order 1": fk.ArcCosine(order=1),
    "gaussian": fk.Gaussian(lengthscale=1e-6),
}


def spread(dtype):
    return np.random.default_rng(0).standard_normal((N, D)).astype(dtype)


def clustered(dtype):
    """Rows within 1e-6 of one point: every cosine is within 1e-11 of 1 (and every Gaussian
    distance within rounding of the expansion's cancellation)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal(D) + 1e-6 * rng.standard_normal((N, D))).astype(dtype)


@pytest.fixture(scope="module", autouse=True)
def compiled():
    for kernel in KERNELS.values():
        for dtype in (np.float64, np.float32):
            fk.gram(kernel, clustered(dtype)[:100], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("rows", ["clustered", "spread"])
@pytest.mark.parametrize("name", list(KERNELS))
def test_refinement(benchmark, name, rows, dtype):
    kernel = KERNELS[name]
    X = (clustered if rows == "clustered" else spread)(dtype)
    benchmark.group = f"refinement {name}, n={N}, d={D}, {np.dtype(dtype).name}"
    benchmark.extra_info["role"] = "subject" if rows == "clustered" else "reference: spread"
    benchmark.pedantic(
        fk.gram, args=(kernel, X), kwargs={"dtype": dtype}, rounds=3, warmup_rounds=1
    )
