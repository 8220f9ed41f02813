"""Kernel test cases shared by the test modules: each fastntk kernel beside its NumPy reference.

A ``Case`` holds the kernel, its reference (``naive``), the closed-form diagonal, the natural
scale of each entry and, for kernels whose formula goes through ``arccos``, the cosine that
enters the first layer (near +-1 the angle is ill-conditioned: a rounding ``delta`` of the
cosine moves ``arccos`` by up to ``sqrt(2 delta)``, about 1.5e-8 in float64).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import naive
import numpy as np

import fastntk as fk


@dataclass(frozen=True)
class Case:
    id: str
    kernel: object
    reference: Callable  # (X, Z) -> K, Z may be None
    reference_diag: Callable  # X -> k(x, x) in closed form
    scale_fn: Callable = None  # (X, Z) -> natural scale of each entry; default sqrt(|Kxx| |Kzz|)
    cosine_fn: Callable = None  # (X, Z) -> first-layer cosine, None when no arccos is involved
    psd: bool = True
    tags: frozenset = field(default_factory=frozenset)

    def scale(self, X, Z=None):
        Z = X if Z is None else Z
        if self.scale_fn is not None:
            return self.scale_fn(np.asarray(X, float), np.asarray(Z, float))
        return np.outer(
            np.sqrt(np.abs(self.reference_diag(X))), np.sqrt(np.abs(self.reference_diag(Z)))
        )

    def symmetric_reference(self, X):
        """The reference K(X, X) with its diagonal from the closed form at angle 0 (the generic
        formula evaluates arccos at a cosine rounded near 1 there)."""
        K = self.reference(X)
        np.fill_diagonal(K, self.reference_diag(X))
        return K

    def cosine(self, X, Z=None):
        """First-layer cosine of each entry, or zeros when the kernel has no angle."""
        Z = X if Z is None else Z
        if self.cosine_fn is None:
            return np.zeros((np.shape(X)[0], np.shape(Z)[0]))
        return self.cosine_fn(np.asarray(X, float), np.asarray(Z, float))

    def __repr__(self):
        return self.id


# --- helpers for scales and cosines ------------------------------------------------------------


def _norms(X):
    return np.sqrt(np.sum(np.asarray(X, float) ** 2, axis=1))


def _input_cosine(X, Z):
    nx, nz = _norms(X), _norms(Z)
    s = np.outer(nx, nz)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (X @ Z.T) / np.where(s > 0, s, 1.0), 0.0)


def _sigma_1_cosine(w_std, b_std):
    def cosine(X, Z):
        d = X.shape[1]
        sxx = w_std**2 * np.sum(X**2, axis=1) / d + b_std**2
        szz = w_std**2 * np.sum(Z**2, axis=1) / d + b_std**2
        sxz = w_std**2 * (X @ Z.T) / d + b_std**2
        s = np.sqrt(np.outer(sxx, szz))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s > 0, sxz / np.where(s > 0, s, 1.0), 0.0)

    return cosine


# --- classic kernels ----------------------------------------------------------------------------


def linear_case(c):
    return Case(
        f"Linear(c={c})",
        fk.Linear(c),
        lambda X, Z=None: naive.linear(X, Z, c),
        lambda X: naive.linear_diag(X, c),
        scale_fn=lambda X, Z: np.outer(_norms(X), _norms(Z)) + abs(c),
        psd=c >= 0,
        tags=frozenset({"classic"}),
    )


def polynomial_case(degree, gamma=None, coef0=1.0):
    def scale(X, Z):
        g = 1.0 / X.shape[1] if gamma is None else gamma
        return (g * np.outer(_norms(X), _norms(Z)) + abs(coef0)) ** degree

    return Case(
        f"Polynomial(degree={degree},gamma={gamma},coef0={coef0})",
        fk.Polynomial(degree=degree, gamma=gamma, coef0=coef0),
        lambda X, Z=None: naive.polynomial(X, Z, degree, gamma, coef0),
        lambda X: naive.polynomial_diag(X, degree, gamma, coef0),
        scale_fn=scale,
        psd=coef0 >= 0,
        tags=frozenset({"classic"}),
    )


def gaussian_case(lengthscale):
    return Case(
        f"Gaussian({lengthscale})",
        fk.Gaussian(lengthscale),
        lambda X, Z=None: naive.gaussian(X, Z, lengthscale),
        naive.ones_diag,
        tags=frozenset({"classic"}),
    )


def laplacian_case(lengthscale):
    return Case(
        f"Laplacian({lengthscale})",
        fk.Laplacian(lengthscale),
        lambda X, Z=None: naive.laplacian(X, Z, lengthscale),
        naive.ones_diag,
        tags=frozenset({"classic"}),
    )


def arc_cosine_case(order):
    # The scale (|x| |z|)^q J_q(0) / pi, formed from norms: |x|^4 alone underflows sooner.
    j_at_zero = {0: 1.0, 1: 1.0, 2: 3.0}[order]
    return Case(
        f"ArcCosine({order})",
        fk.ArcCosine(order),
        lambda X, Z=None: naive.arc_cosine(X, Z, order),
        lambda X: naive.arc_cosine_diag(X, order),
        scale_fn=lambda X, Z: j_at_zero * np.outer(_norms(X), _norms(Z)) ** order,
        cosine_fn=_input_cosine,
        tags=frozenset({"classic", "arccos"}),
    )


CLASSIC_CASES = [
    linear_case(0.0),
    linear_case(2.5),
    linear_case(-0.5),
    polynomial_case(3),
    polynomial_case(1),
    polynomial_case(2, gamma=0.5, coef0=0.0),
    polynomial_case(5, gamma=0.3, coef0=2.0),
    polynomial_case(3, gamma=0.7, coef0=-0.5),
    polynomial_case(0),
    gaussian_case(0.5),
    gaussian_case(1.0),
    gaussian_case(3.0),
    laplacian_case(0.7),
    laplacian_case(4.0),
    arc_cosine_case(0),
    arc_cosine_case(1),
    arc_cosine_case(2),
]

# --- network kernels ----------------------------------------------------------------------------


def naive_activation(activation):
    """The ``naive`` description of a fastntk activation (object or name)."""
    named = {
        "relu": fk.ReLU(),
        "leaky_relu": fk.LeakyReLU(),
        "abs": fk.Abs(),
        "identity": fk.Identity(),
        "erf": fk.Erf(),
        "step": fk.Step(),
    }
    activation = named.get(activation, activation)
    if isinstance(activation, fk.ReLU):
        return naive.relu()
    if isinstance(activation, fk.LeakyReLU):
        return naive.leaky_relu(activation.slope)
    if isinstance(activation, fk.ABReLU):
        return naive.abrelu(activation.a, activation.b)
    if isinstance(activation, fk.Abs):
        return naive.abs_()
    if isinstance(activation, fk.Identity):
        return naive.identity()
    if isinstance(activation, fk.Erf):
        return naive.erf()
    if isinstance(activation, fk.Step):
        return naive.step()
    raise ValueError(f"no naive reference for {activation!r}")


#: Activations with a closed-form dual, as users pass them.
ACTIVATIONS = ["relu", fk.LeakyReLU(0.2), fk.ABReLU(-0.4, 1.5), "abs", "identity", "erf", "step"]

#: (w_std, b_std) pairs: the plain network, and w_std != 1 with a bias, small and large.
WEIGHT_SCALES = [(1.0, 0.0), (1.4, 0.3), (0.8, 1.1)]

#: Activations whose NTK involves an angle (Td is a function of arccos).
_ANGLE_ACTIVATIONS = (fk.ReLU, fk.LeakyReLU, fk.ABReLU, fk.Abs, fk.Step)


def _activation_name(activation):
    return activation if isinstance(activation, str) else repr(activation)


def network_case(kind, depth, activation, w_std=1.0, b_std=0.0, frozen=None):
    """``kind`` "nngp" or "ntk"; ``frozen`` only for "ntk" (default 0)."""
    reference_activation = naive_activation(activation)
    common = dict(depth=depth, activation=reference_activation, w_std=w_std, b_std=b_std)
    if kind == "nngp":
        kernel = fk.NNGP(depth=depth, activation=activation, w_std=w_std, b_std=b_std)
        reference = lambda X, Z=None: naive.nngp(X, Z, **common)  # noqa: E731
        reference_diag = lambda X: naive.nngp_diag(X, **common)  # noqa: E731
        label = f"NNGP(depth={depth},{_activation_name(activation)},w={w_std},b={b_std})"
    else:
        frozen = 0 if frozen is None else frozen
        kernel = fk.NTK(depth=depth, activation=activation, w_std=w_std, b_std=b_std, frozen=frozen)
        reference = lambda X, Z=None: naive.ntk(X, Z, frozen=frozen, **common)  # noqa: E731
        reference_diag = lambda X: naive.ntk_diag(X, frozen=frozen, **common)  # noqa: E731
        label = (
            f"NTK(depth={depth},{_activation_name(activation)},w={w_std},b={b_std},frozen={frozen})"
        )
    has_angle = isinstance(kernel.activation, _ANGLE_ACTIVATIONS)
    return Case(
        label,
        kernel,
        reference,
        reference_diag,
        cosine_fn=_sigma_1_cosine(w_std, b_std) if has_angle else None,
        tags=frozenset({"network", kind} | ({"arccos"} if has_angle else set())),
    )


def all_network_cases(depths=(1, 2, 3, 4)):
    """Every activation x weight scale x depth, NNGP and NTK with every frozen count."""
    cases = []
    for activation in ACTIVATIONS:
        for w_std, b_std in WEIGHT_SCALES:
            for depth in depths:
                cases.append(network_case("nngp", depth, activation, w_std, b_std))
                first_frozen = depth if activation == "step" else 0
                for frozen in range(first_frozen, depth + 1):
                    cases.append(network_case("ntk", depth, activation, w_std, b_std, frozen))
    return cases


NETWORK_CASES = all_network_cases()
ALL_CASES = CLASSIC_CASES + NETWORK_CASES


def medium_network_cases():
    """Every activation x weight scale at a few depth / frozen combinations."""
    cases = []
    for activation in ACTIVATIONS:
        for w_std, b_std in WEIGHT_SCALES:
            cases.append(network_case("nngp", 3, activation, w_std, b_std))
            if activation == "step":
                cases.append(network_case("ntk", 2, activation, w_std, b_std, frozen=2))
            else:
                cases.append(network_case("ntk", 3, activation, w_std, b_std, frozen=0))
                cases.append(network_case("ntk", 4, activation, w_std, b_std, frozen=2))
    return cases


#: Every classic kernel and every activation and weight scale at a few depths.
MEDIUM_CASES = CLASSIC_CASES + medium_network_cases()

#: A smaller set that still covers every family, activation and option: for slower tests.
REPRESENTATIVE_CASES = CLASSIC_CASES + [
    network_case("nngp", 1, "relu"),
    network_case("ntk", 1, "relu"),
    network_case("ntk", 3, "relu", 1.4, 0.3, frozen=1),
    network_case("ntk", 2, fk.LeakyReLU(0.2), 0.8, 1.1),
    network_case("ntk", 2, fk.ABReLU(-0.4, 1.5), 1.4, 0.3, frozen=2),
    network_case("nngp", 3, "abs", 1.0, 0.0),
    network_case("ntk", 2, "abs", 0.8, 1.1, frozen=1),
    network_case("ntk", 2, "identity", 1.4, 0.3),
    network_case("nngp", 2, "erf", 1.0, 0.0),
    network_case("ntk", 3, "erf", 1.4, 0.3),
    network_case("nngp", 2, "step", 0.8, 1.1),
    network_case("ntk", 2, "step", 1.0, 0.0, frozen=2),
]


#: One case per compiled code path (family, activation spec class), for the slowest tests.
FAMILY_CASES = [
    linear_case(2.5),
    polynomial_case(3, gamma=0.7, coef0=-0.5),
    gaussian_case(0.5),
    laplacian_case(0.7),
    arc_cosine_case(1),
    network_case("ntk", 3, "relu", 1.4, 0.3, frozen=1),
    network_case("ntk", 2, "erf", 0.8, 1.1),
    network_case("nngp", 2, "step", 1.4, 0.3),
]


def ids(cases):
    return [case.id for case in cases]


#: Below this no entry is expected to keep relative accuracy (subnormal intermediate results).
ABSOLUTE_FLOOR = 1e-290


def assert_scaled_close(actual, expected, scale, rtol, what=""):
    """``|actual - expected| <= rtol * scale`` entrywise, with a message naming the worst entry."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), expected.shape)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values {actual[~np.isfinite(actual)]}"
    rtol = np.broadcast_to(np.asarray(rtol, dtype=np.float64), expected.shape)
    error = np.abs(actual - expected)
    allowed = rtol * scale + ABSOLUTE_FLOOR
    bad = error > allowed
    if bad.any():
        ratio = np.where(scale > 0, error / np.where(scale > 0, scale, 1.0), np.inf)
        worst = np.unravel_index(np.argmax(np.where(bad, ratio, -1.0)), expected.shape)
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} entries off; worst at {worst}: "
            f"got {actual[worst]!r}, expected {expected[worst]!r}, scale {scale[worst]!r}, "
            f"scaled error {ratio[worst]:.3g} > {rtol[worst]:.3g}"
        )
