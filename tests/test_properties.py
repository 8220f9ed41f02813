"""Hypothesis properties of every kernel family (DESIGN.md section 6).

Each test draws a kernel of one family (its parameters drawn too) and inputs with entries in
[-3, 3], 1..12 rows and 1..5 features. Hypothesis favours awkward data: zero rows, repeated
rows, subnormal entries, a single feature (every pair of rows parallel). Settings (number of
examples, deadline=None for the compiling first call) come from the profile in conftest.py.
"""

import numpy as np
import pytest
from cases import (
    arc_cosine_case,
    assert_scaled_close,
    gaussian_case,
    laplacian_case,
    linear_case,
    network_case,
    polynomial_case,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastntk as fk

#: Relative to each entry's natural scale sqrt(K(x, x) K(z, z)).
REFERENCE_RTOL = 1e-10
CONSISTENCY_RTOL = 1e-12
FLOAT32_RTOL = 1e-4
PSD_RTOL = 1e-10  # smallest eigenvalue >= -PSD_RTOL * trace
#: Entries whose first-layer |cosine| exceeds this are ill-conditioned for arccos: a rounding
#: delta of the cosine moves the angle by up to sqrt(2 delta) ~ 1.5e-8 (see test_kernels.py).
NEAR_PARALLEL_COSINE = 0.999
NEAR_PARALLEL_RTOL = 1e-6
#: For the step beyond one layer the reference cannot judge near-parallel entries: it snaps
#: cosines within 32 eps of 1 (angles up to ~1.2e-7) to 1, and each later step layer takes an
#: angle to about its square root, so the exact value lies up to 1e-4 (two layers), 3e-3
#: (three), ... from the snapped one. test_reliability.py checks those entries against 120-digit
#: references; here they are only bounded by the scale.
SQUARE_ROOT_LAYERS_RTOL = 1.0

# --- strategies -------------------------------------------------------------------------------

#: Nonzero entries of magnitude >= 1e-100: below ~1e-154 squared norms leave float64's normal
#: range, and no relative accuracy can be asked of entries built from them.
ELEMENTS = st.floats(-3, 3, allow_nan=False, allow_infinity=False).filter(
    lambda v: v == 0 or abs(v) >= 1e-100
)
#: float32 cannot hold the squares of entries below ~1e-19 (they flush to zero): the float32
#: comparison draws nonzero entries of magnitude >= 1e-6.
FLOAT32_ELEMENTS = ELEMENTS.filter(lambda v: v == 0 or abs(v) >= 1e-6)


@st.composite
def input_pair(draw, elements=ELEMENTS):
    """``(X, Z)`` of shapes (n, d) and (m, d), n, m in 1..12, d in 1..5."""
    d = draw(st.integers(1, 5))
    X = draw(arrays(np.float64, (draw(st.integers(1, 12)), d), elements=elements))
    Z = draw(arrays(np.float64, (draw(st.integers(1, 12)), d), elements=elements))
    return X, Z


W_STD = st.sampled_from([0.5, 1.0, 1.3, 2.0])
B_STD = st.sampled_from([0.0, 0.1, 1.0])
PIECEWISE_LINEAR = st.sampled_from(
    ["relu", "abs", "identity", fk.LeakyReLU(0.1), fk.LeakyReLU(-0.5), fk.ABReLU(0.3, -1.2)]
)


@st.composite
def network_cases(draw, kind, activations):
    depth = draw(st.integers(1, 3))
    activation = draw(activations)
    frozen = None
    if kind == "ntk":
        frozen = depth if activation == "step" else draw(st.integers(0, depth))
    return network_case(kind, depth, activation, draw(W_STD), draw(B_STD), frozen)


#: One strategy per compiled code path; all draw positive semi-definite kernels.
FAMILIES = {
    "linear": st.builds(linear_case, st.sampled_from([0.0, 0.5, 3.0])),
    "polynomial": st.builds(
        polynomial_case,
        st.integers(0, 5),
        st.sampled_from([None, 0.3, 1.0]),
        st.sampled_from([0.0, 1.0, 2.5]),
    ),
    "gaussian": st.builds(gaussian_case, st.sampled_from([0.3, 1.0, 4.0])),
    "laplacian": st.builds(laplacian_case, st.sampled_from([0.3, 1.0, 4.0])),
    "arc_cosine": st.builds(arc_cosine_case, st.integers(0, 2)),
    "nngp_piecewise_linear": network_cases("nngp", PIECEWISE_LINEAR),
    "ntk_piecewise_linear": network_cases("ntk", PIECEWISE_LINEAR),
    "nngp_erf": network_cases("nngp", st.just("erf")),
    "ntk_erf": network_cases("ntk", st.just("erf")),
    "nngp_step": network_cases("nngp", st.just("step")),
}

family = pytest.mark.parametrize("family", list(FAMILIES))


def near_parallel_rtol(case, X, Z, rtol):
    near = np.abs(case.cosine(X, Z)) > NEAR_PARALLEL_COSINE
    kernel = case.kernel
    square_root_layers = getattr(kernel, "depth", 1) > 1 and kernel.activation == fk.Step()
    bound = SQUARE_ROOT_LAYERS_RTOL if square_root_layers else NEAR_PARALLEL_RTOL
    return np.where(near, max(rtol, bound), rtol)


# --- properties -------------------------------------------------------------------------------


@family
@given(data=st.data())
def test_symmetric_exactly(family, data):
    case = data.draw(FAMILIES[family], label="case")
    X, _ = data.draw(input_pair(), label="inputs")
    K = case.kernel(X)
    np.testing.assert_array_equal(K, K.T)


@family
@given(data=st.data())
def test_positive_semidefinite(family, data):
    case = data.draw(FAMILIES[family], label="case")
    X, _ = data.draw(input_pair(), label="inputs")
    K = case.kernel(X)
    smallest = np.linalg.eigvalsh(K)[0]
    assert smallest >= -PSD_RTOL * np.trace(K), (
        f"smallest eigenvalue {smallest}, trace {np.trace(K)}"
    )


@family
@given(data=st.data())
def test_blocks_of_the_stacked_gram(family, data):
    """K(X, Z), K(Z, X) and K(X, X) are the blocks of K([X; Z])."""
    case = data.draw(FAMILIES[family], label="case")
    X, Z = data.draw(input_pair(), label="inputs")
    n = len(X)
    stacked = case.kernel(np.vstack([X, Z]))
    assert_scaled_close(
        case.kernel(X, Z), stacked[:n, n:], case.scale(X, Z), CONSISTENCY_RTOL, "K(X, Z)"
    )
    assert_scaled_close(
        case.kernel(Z, X), stacked[n:, :n], case.scale(Z, X), CONSISTENCY_RTOL, "K(Z, X)"
    )
    assert_scaled_close(case.kernel(X), stacked[:n, :n], case.scale(X), CONSISTENCY_RTOL, "K(X, X)")


@family
@given(data=st.data())
def test_permutation_equivariant(family, data):
    case = data.draw(FAMILIES[family], label="case")
    X, Z = data.draw(input_pair(), label="inputs")
    p = np.asarray(data.draw(st.permutations(range(len(X))), label="row permutation of X"))
    q = np.asarray(data.draw(st.permutations(range(len(Z))), label="row permutation of Z"))
    K = case.kernel(X)
    assert_scaled_close(
        case.kernel(X[p]),
        K[np.ix_(p, p)],
        case.scale(X)[np.ix_(p, p)],
        CONSISTENCY_RTOL,
        "K(X[p], X[p])",
    )
    K_rectangular = case.kernel(X, Z)
    assert_scaled_close(
        case.kernel(X[p], Z[q]),
        K_rectangular[np.ix_(p, q)],
        case.scale(X, Z)[np.ix_(p, q)],
        CONSISTENCY_RTOL,
        "K(X[p], Z[q])",
    )


@family
@given(data=st.data())
def test_float32_close_to_float64(family, data):
    case = data.draw(FAMILIES[family], label="case")
    X, Z = data.draw(input_pair(FLOAT32_ELEMENTS), label="inputs")
    assert_scaled_close(
        case.kernel(X, dtype=np.float32), case.kernel(X), case.scale(X), FLOAT32_RTOL, "K(X, X)"
    )
    assert_scaled_close(
        case.kernel(X, Z, dtype=np.float32),
        case.kernel(X, Z),
        case.scale(X, Z),
        FLOAT32_RTOL,
        "K(X, Z)",
    )


@family
@given(data=st.data())
def test_agrees_with_reference(family, data):
    case = data.draw(FAMILIES[family], label="case")
    X, Z = data.draw(input_pair(), label="inputs")
    assert_scaled_close(
        case.kernel(X, Z),
        case.reference(X, Z),
        case.scale(X, Z),
        near_parallel_rtol(case, X, Z, REFERENCE_RTOL),
        "K(X, Z)",
    )
    K = case.kernel(X)
    off = ~np.eye(len(X), dtype=bool)
    assert_scaled_close(
        K[off],
        case.reference(X)[off],
        case.scale(X)[off],
        near_parallel_rtol(case, X, None, REFERENCE_RTOL)[off],
        "K(X, X) off-diagonal",
    )
    assert_scaled_close(
        np.diag(K), case.reference_diag(X), np.diag(case.scale(X)), 1e-14, "K(X, X) diagonal"
    )
