"""The estimators against plain NumPy formulas built on the reference kernels of tests/naive.py
(MATH.md section 5), their bad-input errors, and scikit-learn compatibility."""

import warnings

import naive
import numpy as np
import pytest
import scipy.linalg
from scipy.linalg import LinAlgWarning

import fastntk as fk

RNG = np.random.default_rng(5)
X = RNG.standard_normal((50, 3))
X_TEST = RNG.standard_normal((20, 3))
Y = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.05 * RNG.standard_normal(50)
Y2 = np.stack([Y, np.cos(X[:, 2])], axis=1)
LABELS = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
KERNEL = fk.NTK(depth=2)


def reference_kernel(A, B=None):
    return naive.ntk(A, B, depth=2)


def reference_fit(y, noise, A=X, B=X_TEST):
    coefficients = np.linalg.solve(reference_kernel(A) + noise * np.eye(len(A)), y)
    return reference_kernel(B, A) @ coefficients


# --- KernelRegressor ---------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["auto", "cholesky", "eigh", "lstsq"])
@pytest.mark.parametrize("targets", [Y, Y2], ids=["one output", "two outputs"])
def test_regressor_equals_the_reference_formula(solver, targets):
    model = fk.KernelRegressor(KERNEL, alpha=1e-2, solver=solver).fit(X, targets)
    prediction = model.predict(X_TEST)
    assert prediction.shape == (len(X_TEST),) + targets.shape[1:]
    np.testing.assert_allclose(prediction, reference_fit(targets, 1e-2), rtol=1e-9, atol=1e-9)


def test_regressor_relative_alpha_uses_the_mean_diagonal():
    noise = 1e-2 * np.mean(np.diag(reference_kernel(X)))
    model = fk.KernelRegressor(KERNEL, alpha=1e-2, relative_alpha=True).fit(X, Y)
    np.testing.assert_allclose(model.predict(X_TEST), reference_fit(Y, noise), rtol=1e-9)


def test_regressor_float32_agrees_with_float64():
    double = fk.KernelRegressor(KERNEL, alpha=1e-1).fit(X, Y).predict(X_TEST)
    single = fk.KernelRegressor(KERNEL, alpha=1e-1, dtype=np.float32).fit(X, Y)
    assert single.dual_coef_.dtype == np.float32
    np.testing.assert_allclose(single.predict(X_TEST), double, rtol=1e-3, atol=1e-3)


def test_precomputed_kernel_equals_the_kernel_and_leaves_the_matrix_alone():
    K = reference_kernel(X)
    before = K.copy()
    model = fk.KernelRegressor("precomputed", alpha=1e-2).fit(K, Y)
    assert np.array_equal(K, before)
    prediction = model.predict(reference_kernel(X_TEST, X))
    np.testing.assert_allclose(prediction, reference_fit(Y, 1e-2), rtol=1e-9)


def test_fit_keeps_one_matrix_factored_in_place():
    model = fk.KernelRegressor(KERNEL, alpha=1e-2).fit(X, Y)
    factor = model.factorization_.factor
    assert factor.shape == (len(X), len(X)) and factor.flags.f_contiguous
    assert factor.base is None or factor.base.size == len(X) ** 2


def test_zero_alpha_interpolates_the_training_targets():
    model = fk.KernelRegressor(KERNEL, alpha=0.0).fit(X, Y)
    assert model.solver_ == "eigh"
    np.testing.assert_allclose(model.predict(X), Y, atol=1e-8)


# --- the Gaussian-process view -----------------------------------------------------------------


def reference_posterior(noise):
    K = reference_kernel(X) + noise * np.eye(len(X))
    cross = reference_kernel(X_TEST, X)
    return reference_kernel(X_TEST) - cross @ np.linalg.solve(K, cross.T)


@pytest.mark.parametrize("solver", ["cholesky", "eigh", "lstsq"])
def test_posterior_covariance_and_std_equal_the_formula(solver):
    model = fk.KernelRegressor(KERNEL, alpha=0.1, solver=solver).fit(X, Y)
    expected = reference_posterior(0.1)
    mean, covariance = model.predict(X_TEST, return_cov=True)
    np.testing.assert_allclose(mean, reference_fit(Y, 0.1), rtol=1e-9)
    np.testing.assert_allclose(covariance, expected, rtol=1e-7, atol=1e-9)
    _, std = model.predict(X_TEST, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diag(expected)), rtol=1e-7, atol=1e-9)
    assert np.min(np.linalg.eigvalsh(covariance)) > -1e-9 * np.trace(covariance)


def test_posterior_variance_vanishes_on_training_points_without_noise():
    model = fk.KernelRegressor(KERNEL, alpha=0.0).fit(X, Y)
    _, std = model.predict(X, return_std=True)
    assert np.all(std >= 0)
    scale = np.sqrt(np.max(np.diag(reference_kernel(X))))
    assert np.max(std) < 1e-5 * scale
    _, std_test = model.predict(X_TEST, return_std=True)
    assert np.all(std_test > 1e-3 * scale)


# --- KernelClassifier --------------------------------------------------------------------------


@pytest.mark.parametrize("centered", [False, True])
def test_classifier_is_the_argmax_of_one_hot_regression(centered):
    classes = np.unique(LABELS)
    one_hot = (LABELS[:, None] == classes[None, :]).astype(float)
    if centered:
        one_hot -= 1.0 / len(classes)
    scores = reference_fit(one_hot, 1e-2)
    model = fk.KernelClassifier(KERNEL, alpha=1e-2, centered=centered).fit(X, LABELS)
    np.testing.assert_allclose(model.decision_function(X_TEST), scores, rtol=1e-9, atol=1e-9)
    assert np.array_equal(model.predict(X_TEST), classes[np.argmax(scores, axis=1)])
    assert list(model.classes_) == ["a", "b", "c"]


def test_binary_decision_function_is_positive_for_the_second_class():
    labels = np.where(X[:, 0] > 0, 7, -3)
    model = fk.KernelClassifier(KERNEL, alpha=1e-2).fit(X, labels)
    decision = model.decision_function(X_TEST)
    assert decision.shape == (len(X_TEST),)
    assert np.array_equal(model.predict(X_TEST), np.where(decision > 0, 7, -3))
    assert model.score(X, labels) == np.mean(model.predict(X) == labels)


def test_classifier_rejects_continuous_targets():
    with pytest.raises(ValueError, match="continuous"):
        fk.KernelClassifier(KERNEL).fit(X, Y)


# --- cross-validated estimators ----------------------------------------------------------------

CANDIDATES = [fk.NTK(1), fk.NTK(2), fk.NTK(2, frozen=1), fk.NNGP(2), fk.Gaussian(1.5)]
REFERENCES = [
    lambda A, B=None: naive.ntk(A, B, depth=1),
    lambda A, B=None: naive.ntk(A, B, depth=2),
    lambda A, B=None: naive.ntk(A, B, depth=2, frozen=1),
    lambda A, B=None: naive.nngp(A, B, depth=2),
    lambda A, B=None: naive.gaussian(A, B, lengthscale=1.5),
]
CV_ALPHAS = (1e-4, 1e-2, 1.0)


def brute_force_loo(K, y, noise, score):
    """Leave each point out, refit, and score the prediction at it."""
    predictions = np.empty_like(y)
    for i in range(len(K)):
        keep = np.arange(len(K)) != i
        coefficients = np.linalg.solve(K[np.ix_(keep, keep)] + noise * np.eye(len(K) - 1), y[keep])
        predictions[i] = K[i, keep] @ coefficients
    return score(y, predictions)


def test_regressor_cv_chooses_the_brute_force_leave_one_out_minimum():
    n = 30
    results = {}
    for kernel, reference in zip(CANDIDATES, REFERENCES, strict=True):
        K = reference(X[:n])
        for alpha in CV_ALPHAS:
            noise = alpha * np.mean(np.diag(K))
            results[kernel, alpha] = brute_force_loo(
                K, Y2[:n], noise, lambda y, p: np.mean((y - p) ** 2)
            )
    model = fk.KernelRegressorCV(CANDIDATES, CV_ALPHAS).fit(X[:n], Y2[:n])
    for kernel, alpha, score in zip(*model.cv_results_.values(), strict=True):
        assert score == pytest.approx(results[kernel, alpha], rel=1e-6)
    best = min(results, key=results.get)
    assert (model.best_kernel_, model.best_alpha_) == best
    expected = fk.KernelRegressor(best[0], alpha=best[1], relative_alpha=True).fit(X[:n], Y2[:n])
    np.testing.assert_allclose(model.predict(X_TEST), expected.predict(X_TEST), rtol=1e-7)


def test_classifier_cv_chooses_by_leave_one_out_accuracy():
    n = 30
    classes = np.unique(LABELS[:n])
    one_hot = (LABELS[:n, None] == classes[None, :]).astype(float)
    accuracy = {}
    for kernel, reference in zip(CANDIDATES, REFERENCES, strict=True):
        K = reference(X[:n])
        for alpha in CV_ALPHAS:
            noise = alpha * np.mean(np.diag(K))
            accuracy[kernel, alpha] = brute_force_loo(
                K, one_hot, noise, lambda y, p: np.mean(np.argmax(y, 1) == np.argmax(p, 1))
            )
    model = fk.KernelClassifierCV(CANDIDATES, CV_ALPHAS).fit(X[:n], LABELS[:n])
    assert accuracy[model.best_kernel_, model.best_alpha_] == max(accuracy.values())
    for kernel, alpha, score in zip(*model.regressor_.cv_results_.values(), strict=True):
        assert score == pytest.approx(1 - accuracy[kernel, alpha], abs=1.0 / (n + 1))


def test_cv_gcv_criterion_matches_the_path():
    model = fk.KernelRegressorCV([KERNEL], CV_ALPHAS, criterion="gcv").fit(X, Y)
    path = fk.solvers.RegularizationPath(reference_kernel(X), relative_alpha=True)
    np.testing.assert_allclose(model.cv_results_["score"], path.gcv(Y, CV_ALPHAS), rtol=1e-8)


# --- gradient descent --------------------------------------------------------------------------


def test_gradient_descent_regressor_follows_the_matrix_exponential():
    eta, times = 0.05, [0.5, 5.0]
    model = fk.GradientDescentRegressor(KERNEL, learning_rate=eta, time=times).fit(X, Y2)
    K = reference_kernel(X)
    cross = reference_kernel(X_TEST, X)
    prediction = model.predict(X_TEST)
    assert prediction.shape == (2, len(X_TEST), 2)
    for t, actual in zip(times, prediction, strict=True):
        weights = np.linalg.solve(K, (np.eye(len(K)) - scipy.linalg.expm(-eta * t * K)) @ Y2)
        np.testing.assert_allclose(actual, cross @ weights, rtol=1e-6, atol=1e-8)


def test_gradient_descent_at_infinite_time_is_kernel_regression():
    network = fk.GradientDescentRegressor(KERNEL, learning_rate=0.1).fit(X, Y)
    regression = fk.KernelRegressor(KERNEL, alpha=0.0).fit(X, Y)
    np.testing.assert_allclose(network.predict(X_TEST), regression.predict(X_TEST), rtol=1e-10)
    assert network.predict(X_TEST, time=0.0) == pytest.approx(np.zeros(len(X_TEST)))


# --- bad input ---------------------------------------------------------------------------------

ESTIMATORS = [
    fk.KernelRegressor(KERNEL),
    fk.KernelClassifier(KERNEL),
    fk.KernelRegressorCV([KERNEL]),
    fk.KernelClassifierCV([KERNEL]),
    fk.GradientDescentRegressor(KERNEL),
]
ESTIMATOR_IDS = [type(estimator).__name__ for estimator in ESTIMATORS]
CLASSES = (X[:, 0] > 0).astype(int)


def targets_for(estimator):
    return CLASSES if "Classifier" in type(estimator).__name__ else Y


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=ESTIMATOR_IDS)
def test_predict_before_fit_is_not_fitted_error(estimator):
    with pytest.raises(fk.NotFittedError, match="not fitted"):
        estimator.predict(X_TEST)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=ESTIMATOR_IDS)
@pytest.mark.parametrize(
    "bad_x, bad_y, fragment",
    [
        (X[:, 0], None, "2-D"),
        (X[:40], None, "samples"),
        (np.where(X > 1, np.nan, X), None, "NaN"),
        (None, "nan", "NaN"),
        (None, "inf", "inf"),
    ],
    ids=["1-D X", "lengths differ", "NaN in X", "NaN in y", "inf in y"],
)
def test_bad_fit_input_is_a_clear_error(estimator, bad_x, bad_y, fragment):
    x = X if bad_x is None else bad_x
    y = targets_for(estimator).astype(float)
    if bad_y is not None:
        y = y.copy()
        y[3] = np.nan if bad_y == "nan" else np.inf
    with pytest.raises(ValueError, match=fragment):
        estimator.fit(x, y)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=ESTIMATOR_IDS)
def test_feature_count_changed_between_fit_and_predict(estimator):
    estimator.fit(X, targets_for(estimator))
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3 features"):
        estimator.predict(X_TEST[:, :2])


@pytest.mark.parametrize(
    "estimator, fragment",
    [
        (fk.KernelRegressor(KERNEL, alpha=-1.0), "alpha"),
        (fk.KernelRegressor(KERNEL, solver="qr"), "solver"),
        (fk.KernelRegressor("rbf"), "precomputed"),
        (fk.KernelRegressorCV([KERNEL], alphas=[-1.0]), "alphas"),
        (fk.KernelRegressorCV([KERNEL], criterion="aic"), "criterion"),
        (fk.KernelRegressorCV([]), "at least one"),
        (fk.GradientDescentRegressor(KERNEL, learning_rate=0.0), "learning_rate"),
        (fk.GradientDescentRegressor(KERNEL, time=-1.0), "times"),
    ],
)
def test_bad_parameters_are_clear_errors_at_fit(estimator, fragment):
    with pytest.raises(ValueError, match=fragment):
        estimator.fit(X, Y)


def test_precomputed_shapes_are_checked():
    with pytest.raises(ValueError, match="square"):
        fk.KernelRegressor("precomputed").fit(reference_kernel(X, X_TEST), Y)
    model = fk.KernelRegressor("precomputed").fit(reference_kernel(X), Y)
    with pytest.raises(ValueError, match="expecting 50 features"):
        model.predict(reference_kernel(X_TEST))
    with pytest.raises(ValueError, match="precomputed"):
        model.predict(reference_kernel(X_TEST, X), return_std=True)


PRECOMPUTED_ESTIMATORS = [
    fk.KernelRegressor("precomputed"),
    fk.KernelRegressor("precomputed", solver="lstsq"),
    fk.KernelClassifier("precomputed"),
    fk.KernelRegressorCV("precomputed"),
    fk.KernelClassifierCV("precomputed"),
    fk.GradientDescentRegressor("precomputed"),
]
PRECOMPUTED_IDS = [repr(estimator) for estimator in PRECOMPUTED_ESTIMATORS]


@pytest.mark.parametrize("estimator", PRECOMPUTED_ESTIMATORS, ids=PRECOMPUTED_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_precomputed_kernel_must_be_symmetric(estimator, dtype):
    """A square K(X_test, X_train) passed to fit by mistake is refused, naming X."""
    square_cross = reference_kernel(RNG.standard_normal((50, 3)), X).astype(dtype)
    with pytest.raises(ValueError, match=r"X must be symmetric.*precomputed"):
        estimator.fit(square_cross, targets_for(estimator))


@pytest.mark.parametrize("estimator", PRECOMPUTED_ESTIMATORS[:3], ids=PRECOMPUTED_IDS[:3])
def test_precomputed_kernel_rounded_in_float32_is_accepted(estimator):
    """The training kernel computed in float32 with its triangles rounded differently (a few
    float32 roundings) fits as its float64 symmetric part does."""
    K = reference_kernel(X)
    noise = np.random.default_rng(2).uniform(-1, 1, K.shape)
    K32 = (K + 20 * np.finfo(np.float32).eps * np.max(K) * noise).astype(np.float32)
    assert not np.array_equal(K32, K32.T)
    symmetric = (K32.astype(np.float64) + K32.T.astype(np.float64)) / 2
    y = targets_for(estimator)
    cross = reference_kernel(X_TEST, X)
    fitted = clone_of(estimator).set_params(alpha=1e-2).fit(K32, y)
    reference = clone_of(estimator).set_params(alpha=1e-2).fit(symmetric, y)
    actual, expected = decision(fitted, cross), decision(reference, cross)
    asymmetry = np.max(np.abs(K32 - K32.T)) / np.max(np.abs(symmetric))
    condition = np.linalg.cond(symmetric + 1e-2 * np.eye(len(X)))
    error = np.max(np.abs(actual - expected)) / np.max(np.abs(expected))
    assert error < 10 * (asymmetry + np.finfo(float).eps * len(X)) * condition


def clone_of(estimator):
    return type(estimator)(**estimator.get_params())


def decision(estimator, X_new):
    if hasattr(estimator, "decision_function"):
        return estimator.decision_function(X_new)
    return estimator.predict(X_new)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=ESTIMATOR_IDS)
@pytest.mark.parametrize("length", [1, 19, 21])
def test_score_with_a_target_of_another_length_is_a_clear_error(estimator, length):
    """A length-1 y would broadcast against the predictions; any other length is refused
    before predicting, saying both lengths."""
    y = targets_for(estimator)
    estimator.fit(X, y)
    with pytest.raises(ValueError, match=f"y has {length} samples but X has 20"):
        estimator.score(X_TEST, y[:length] if length <= 20 else np.resize(y, length))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=ESTIMATOR_IDS)
@pytest.mark.parametrize("length", [1, 49, 51])
def test_fit_with_a_target_of_another_length_says_both_lengths(estimator, length):
    y = np.resize(targets_for(estimator), length)
    with pytest.raises(ValueError, match=f"y has {length} samples but X has 50"):
        estimator.fit(X, y)


def test_regressor_score_of_a_target_shaped_otherwise_is_a_clear_error():
    model = fk.KernelRegressor(KERNEL, alpha=1e-2).fit(X, Y2)
    with pytest.raises(ValueError, match=r"y has shape \(20,\).*\(20, 2\)"):
        model.score(X_TEST, Y2[:20, 0])
    single = fk.KernelRegressor(KERNEL, alpha=1e-2).fit(X, Y)
    expected = single.score(X_TEST, Y[:20])
    assert single.score(X_TEST, Y[:20, None]) == expected
    residual = np.sum((Y[:20] - single.predict(X_TEST)) ** 2)
    assert expected == pytest.approx(1 - residual / np.sum((Y[:20] - np.mean(Y[:20])) ** 2))


def test_classifier_score_of_column_labels_is_the_accuracy():
    """(n, 1) labels would broadcast to an (n, n) comparison; they are flattened."""
    model = fk.KernelClassifier(KERNEL, alpha=1e-2).fit(X, LABELS)
    expected = np.mean(model.predict(X_TEST) == LABELS[:20])
    with pytest.warns(UserWarning, match="column-vector"):
        assert model.score(X_TEST, LABELS[:20, None]) == expected


MIXED_LABELS = [
    ([1, "a"], "int, str"),
    ([1.0, "a"], "float, str"),
    ([np.int64(1), "a"], "int64, str"),
    ([None, 1], "NoneType, int"),
    ([b"a", "a"], "bytes, str"),
]


@pytest.mark.parametrize(
    "estimator", [fk.KernelClassifier(KERNEL), fk.KernelClassifierCV([KERNEL])]
)
@pytest.mark.parametrize("container", ["list", "object array", "column list"])
@pytest.mark.parametrize("pair, names", MIXED_LABELS, ids=[names for _, names in MIXED_LABELS])
def test_labels_of_mixed_types_are_a_clear_type_error(estimator, container, pair, names):
    """NumPy cannot sort them (an object array) or silently turns the numbers into strings
    (a list); either way the error names the types."""
    labels = [pair[i % 2] for i in range(len(X))]
    if container == "object array":
        labels = np.array(labels, dtype=object)
    elif container == "column list":
        labels = [[label] for label in labels]
    with pytest.raises(TypeError, match=f"y mixes label types \\({names}\\)"):
        estimator.fit(X, labels)


@pytest.mark.parametrize(
    "labels, classes",
    [
        (["a", "b"] * 25, ["a", "b"]),
        (np.array([2, 1] * 25, dtype=object), [1, 2]),
        ([True, 1.0, 2] * 16 + [2, 2], [1, 2]),
    ],
    ids=["strings", "numbers as objects", "bool, float and int"],
)
def test_labels_of_one_kind_are_accepted(labels, classes):
    model = fk.KernelClassifier(KERNEL, alpha=1e-2).fit(X, labels)
    assert list(model.classes_) == classes


# --- scikit-learn conventions ------------------------------------------------------------------


def test_get_set_params_and_repr_without_scikit_learn():
    model = fk.KernelRegressor(KERNEL, alpha=0.5)
    assert model.get_params()["alpha"] == 0.5 and model.get_params()["kernel"] == KERNEL
    assert model.set_params(alpha=2.0) is model and model.alpha == 2.0
    assert repr(model) == f"KernelRegressor(kernel={KERNEL!r}, alpha=2.0)"
    assert repr(fk.KernelRegressor()) == "KernelRegressor()"
    with pytest.raises(ValueError, match="not a parameter"):
        model.set_params(gamma=1.0)
    assert not hasattr(model, "dual_coef_")


def test_scikit_learn_clone_pipeline_and_grid_search():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = fk.KernelRegressor(KERNEL, alpha=0.5)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    pipeline = make_pipeline(StandardScaler(), fk.KernelClassifier(KERNEL)).fit(X, LABELS)
    assert pipeline.score(X, LABELS) > 0.9
    search = GridSearchCV(fk.KernelRegressor(KERNEL), {"alpha": [1e-3, 1e-1, 10.0]}, cv=3)
    search.fit(X, Y)
    assert search.best_params_["alpha"] in (1e-3, 1e-1, 10.0)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        fk.KernelRegressor(KERNEL).predict(X)


@pytest.mark.parametrize(
    "estimator",
    [
        fk.KernelRegressor(fk.NTK(1), alpha=1e-3),
        fk.KernelRegressor("precomputed", alpha=1e-3, relative_alpha=True),
        fk.KernelClassifier(fk.NTK(1), alpha=1e-3),
        fk.KernelRegressorCV([fk.NTK(1), fk.NNGP(1)], alphas=(1e-3, 1e-1)),
        fk.KernelClassifierCV([fk.NTK(1)], alphas=(1e-3, 1e-1)),
        fk.GradientDescentRegressor(fk.NTK(1)),
    ],
    ids=lambda estimator: repr(estimator).split("(")[0],
)
def test_scikit_learn_estimator_checks(estimator):
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    # Some checks pass a precomputed "kernel" that is not positive semi-definite (a centred
    # Gram matrix): the solver's LinAlgWarning about jitter is then the intended behaviour.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []


def test_cv_computes_a_network_family_in_one_gram_pass(monkeypatch):
    from fastntk import engine

    calls = []
    original = engine.gram_many

    def counting(kernels, *args, **kwargs):
        calls.append(list(kernels))
        return original(kernels, *args, **kwargs)

    monkeypatch.setattr(engine, "gram_many", counting)
    family = [fk.NTK(depth, frozen=frozen) for depth in (1, 2, 3) for frozen in range(depth + 1)]
    fk.KernelRegressorCV(family + [fk.Gaussian(1.0)], CV_ALPHAS).fit(X, Y)
    assert calls == [family]
