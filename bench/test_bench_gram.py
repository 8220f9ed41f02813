"""``gram`` of every kernel family against a vectorised NumPy formula of the same kernel (and,
for the classic kernels, scikit-learn's pairwise kernels when installed), in the same run.

One group per family, n in {1000, 4000}, d = 16 and dtype float32/float64; the saved JSON holds
each subject's ratio to its references (bench/conftest.py). Before timing, each reference is
checked against ``gram`` on a small input: a ratio between different matrices means nothing.
"""

import numpy as np
import pytest
from references import (
    numpy_arc_cosine,
    numpy_gaussian,
    numpy_laplacian,
    numpy_linear,
    numpy_network,
    numpy_polynomial,
)

import fastntk as fk

D = 16
SIZES = (1000, 4000)
DTYPES = (np.float64, np.float32)
#: Timed rounds per size (after one warm-up round): the slowest reference at n = 4000 takes
#: about 2 s a call, and the whole file should run in a few minutes.
ROUNDS = {1000: 5, 4000: 3}

#: Family name -> (kernel, NumPy reference, name of scikit-learn's pairwise kernel or None).
FAMILIES = {
    "linear": (fk.Linear(), numpy_linear, "linear_kernel"),
    "polynomial degree 3": (fk.Polynomial(degree=3), numpy_polynomial, "polynomial_kernel"),
    "gaussian": (fk.Gaussian(lengthscale=1.0), numpy_gaussian, "rbf_kernel"),
    "laplacian": (fk.Laplacian(lengthscale=1.0), numpy_laplacian, "laplacian_kernel"),
    "arc-cosine order 1": (fk.ArcCosine(order=1), numpy_arc_cosine, None),
    "nngp relu depth 3": (
        fk.NNGP(depth=3),
        lambda X: numpy_network(X, depth=3, ntk=False),
        None,
    ),
    "ntk relu depth 3": (fk.NTK(depth=3), lambda X: numpy_network(X, depth=3), None),
    "ntk erf depth 3": (
        fk.NTK(depth=3, activation="erf"),
        lambda X: numpy_network(X, depth=3, activation="erf"),
        None,
    ),
}
CLASSIC = [name for name, (_, _, sklearn_name) in FAMILIES.items() if sklearn_name]

#: Agreement demanded of a reference before it is timed, as max |difference| / max |K|, in
#: float64. Not 1e-15: NumPy takes arccos of cosines that round-off puts within a few eps of 1
#: (the diagonal of the ReLU kernels), where arccos turns eps into an angle of sqrt(2 eps),
#: about 2e-8; fastntk snaps those cosines to 1. Any formula error is far larger.
AGREEMENT = 1e-6


def sklearn_kernel(family):
    """scikit-learn's pairwise kernel with the parameters of ``FAMILIES[family]``'s kernel."""
    pairwise = pytest.importorskip("sklearn.metrics.pairwise")
    kernel, _, name = FAMILIES[family]
    function = getattr(pairwise, name)
    if name == "rbf_kernel":
        return lambda X: function(X, gamma=0.5 / kernel.lengthscale**2)
    if name == "laplacian_kernel":
        return lambda X: function(X, gamma=1.0 / kernel.lengthscale)
    if name == "polynomial_kernel":
        return lambda X: function(X, degree=kernel.degree, gamma=kernel.gamma, coef0=kernel.coef0)
    return function


def data(n, dtype):
    return np.random.default_rng(0).standard_normal((n, D)).astype(dtype)


def relative_difference(K, reference):
    return np.max(np.abs(K - reference)) / np.max(np.abs(reference))


@pytest.fixture(scope="module", autouse=True)
def compiled_and_checked():
    """Compile every kernel in both dtypes, and check the NumPy references on a small input."""
    X = data(200, np.float64)
    for family, (kernel, reference, _) in FAMILIES.items():
        for dtype in DTYPES:
            fk.gram(kernel, X, dtype=dtype)
        difference = relative_difference(fk.gram(kernel, X), reference(X))
        assert difference < AGREEMENT, f"{family}: the NumPy reference differs by {difference}"


def timed(benchmark, function, X, group, role):
    benchmark.group = group
    benchmark.extra_info["role"] = role
    benchmark.pedantic(function, args=(X,), rounds=ROUNDS[X.shape[0]], warmup_rounds=1)


def group_name(family, n, dtype):
    return f"gram {family}, n={n}, d={D}, {np.dtype(dtype).name}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fastntk(benchmark, family, n, dtype):
    kernel = FAMILIES[family][0]

    def compute(X):
        return fk.gram(kernel, X, dtype=dtype)

    timed(benchmark, compute, data(n, dtype), group_name(family, n, dtype), "subject")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_numpy(benchmark, family, n, dtype):
    reference = FAMILIES[family][1]
    timed(benchmark, reference, data(n, dtype), group_name(family, n, dtype), "reference: numpy")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("family", CLASSIC)
def test_sklearn(benchmark, family, n, dtype):
    reference = sklearn_kernel(family)
    X = data(n, dtype)
    small = X[:200].astype(np.float64)
    difference = relative_difference(fk.gram(FAMILIES[family][0], small), reference(small))
    assert difference < AGREEMENT, f"{family}: scikit-learn differs by {difference}"
    timed(benchmark, reference, X, group_name(family, n, dtype), "reference: sklearn")
