"""Exact solvers of kernel regression (MATH.md section 5).

Kernel ridge regression solves ``(K + lambda I) a = y`` and predicts ``f(x*) = K(x*, X) a``.
``lambda = 0`` is minimum-norm interpolation, ``a = K^+ y``. Every solver here returns a
*factorization* of ``K + lambda I`` that applies its (pseudo-)inverse to any number of
right-hand sides and gives the quadratic forms ``B^T (K + lambda I)^+ B`` of Gaussian-process
posterior variances:

- ``"cholesky"``: ``K + lambda I = U^T U`` in place (LAPACK ``potrf``). If the matrix is not
  numerically positive definite, jitter is added to the diagonal in growing steps relative to
  its mean, but never more than ``lambda`` itself (with a ``LinAlgWarning`` saying how much):
  a larger one would fit a different model, and at ``lambda = 0`` any jitter turns the
  minimum-norm solution into huge coefficients along the null space of ``K``, whose rounding
  costs predictions their digits. When no admissible jitter works the solve falls back, with a
  ``LinAlgWarning``, to least squares: the minimum-norm solution of ``K + lambda I``.
- ``"eigh"``: ``K = Q diag(s) Q^T``; ``(K + lambda I)^+ = Q diag(1 / (s + lambda)) Q^T``, with
  ``1 / (s + lambda)`` set to 0 where ``|s + lambda|`` is below ``n eps max|s|`` (the
  pseudo-inverse). ``RegularizationPath`` reuses one tridiagonal reduction (the first half of
  an eigendecomposition) for many ``lambda`` and their GCV, and the eigendecomposition it
  completes on demand for their closed-form leave-one-out residuals and gradient-descent
  predictions.
- ``"lstsq"``: LAPACK's least squares (``gelsd``) on ``K + lambda I``, singular values below
  ``n eps`` of the largest taken as zero (the pseudo-inverse of ``"eigh"``).

``K`` must be square and symmetric up to rounding (``fastntk._validation.check_symmetric``):
anything else is a ``ValueError``, raised before any factorization.

Memory: ``overwrite_K=True`` lets a solver work in the caller's matrix (C- or F-ordered), so
that a fit holds one ``n x n`` matrix; otherwise the matrix is copied first and the caller's is
never changed. A failed in-place Cholesky has overwritten one triangle; it is restored from the
other (the matrix is symmetric), so no second copy is ever held.

All LAPACK work runs with ``threads`` BLAS threads (default: ``FASTNTK_SOLVER_THREADS``, else
one for matrices of order up to 2048 and every CPU this process may use above); on a busy
machine ``threads=1`` is often much faster.
"""

import warnings

import numpy as np
import scipy.linalg
from scipy.linalg import LinAlgWarning, lapack

from . import _core as core
from ._threads import blas_threads, resolve_threads
from ._tridiagonal import Tridiagonal, check_lapack
from ._validation import (
    FLOAT_DTYPES,
    as_real_array,
    check_positive,
    check_sample_count,
    check_symmetric,
)

#: Diagonal jitter tried in turn when ``K + lambda I`` is not numerically positive definite,
#: relative to the mean of ``K``'s diagonal, from about 1e4 roundings; only the steps up to
#: ``lambda`` itself are tried (see the module docstring).
JITTER_STEPS = {
    np.dtype(np.float64): (1e-12, 1e-10, 1e-8, 1e-6),
    np.dtype(np.float32): (1e-6, 1e-5, 1e-4, 1e-3),
}

METHODS = ("auto", "cholesky", "eigh", "lstsq")


def factorize(
    K, alpha=0.0, *, method="auto", relative_alpha=False, overwrite_K=False, threads=None
):
    """Factorize ``K + lambda I`` for kernel regression.

    Parameters
    ----------
    K : array_like, shape (n, n), symmetric: the Gram matrix of the training points.
    alpha : float >= 0, the regulariser; ``lambda = alpha``, or with ``relative_alpha``
        ``lambda = alpha * trace(K) / n`` (neural-tangents' ``diag_reg`` convention).
    method : "auto" (Cholesky when ``lambda > 0``, else the eigendecomposition's
        pseudo-inverse), "cholesky", "eigh" or "lstsq".
    overwrite_K : let the solver work in ``K``'s memory (float32/float64, C or F order);
        ``K`` is then destroyed. Otherwise ``K`` is copied and never changed.
    threads : BLAS threads for the factorization and later solves.

    Returns
    -------
    A ``Factorization``: ``.solve(B)`` is ``(K + lambda I)^+ B``.

    Raises
    ------
    ValueError
        When ``K`` is not a non-empty square matrix, not finite, or not symmetric (beyond
        rounding: a test-by-train matrix passed by mistake), or ``alpha`` or ``method`` is
        invalid.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> K = fk.gram(fk.NTK(depth=2, b_std=1.0), X)
    >>> factorization = fk.solvers.factorize(K, alpha=0.1)
    >>> bool(np.allclose(factorization.solve(y), np.linalg.solve(K + 0.1 * np.eye(200), y)))
    True
    """
    matrix, noise = _prepare(K, alpha, relative_alpha, overwrite_K)
    threads = resolve_threads(threads, matrix.shape[0])
    return _factorize(matrix, noise, _check_method(method), threads)


def solve(K, y, alpha=0.0, **options):
    """The dual coefficients ``(K + lambda I)^+ y`` of kernel regression (``y`` of shape (n,)
    or (n, t)); ``options`` and errors as for ``factorize``, and a ``ValueError`` when ``y``
    does not have ``n`` finite rows.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> K = fk.gram(fk.NTK(depth=2, b_std=1.0), X)
    >>> a = fk.solvers.solve(K, y, alpha=0.1)
    >>> bool(np.allclose(a, np.linalg.solve(K + 0.1 * np.eye(200), y)))
    True
    """
    K = np.asarray(K)
    y = check_targets(y, _order(K))
    return factorize(K, alpha, **options).solve(y)


class Factorization:
    """``K + lambda I`` ready to apply its (pseudo-)inverse; ``noise`` is ``lambda`` (with any
    jitter added), ``method`` the solver that produced it."""

    method = None

    def __init__(self, noise, threads):
        self.noise = noise
        self.threads = threads

    @property
    def n(self):
        raise NotImplementedError

    def solve(self, B):
        """``(K + lambda I)^+ B`` for ``B`` of shape (n,) or (n, t)."""
        B, vector = self._as_columns(B)
        with blas_threads(self.threads):
            result = self._solve(B)
        return result[:, 0] if vector else result

    def quadratic_form(self, B, *, diagonal=False):
        """``B^T (K + lambda I)^+ B`` for ``B`` of shape (n, m): an (m, m) matrix, or only
        its diagonal (m,), the variance explained in a Gaussian-process posterior."""
        B, _ = self._as_columns(B)
        with blas_threads(self.threads):
            return self._quadratic_form(B, diagonal)

    def _as_columns(self, B):
        B = np.asarray(B)
        vector = B.ndim == 1
        B = B[:, np.newaxis] if vector else B
        if B.ndim != 2 or B.shape[0] != self.n:
            raise ValueError(f"B must have {self.n} rows, got shape {B.shape}")
        return np.asarray(B, dtype=self.dtype, order="F"), vector

    def _quadratic_form(self, B, diagonal):
        product = B * self._solve(B) if diagonal else B.T @ self._solve(B)
        return product.sum(axis=0) if diagonal else product


class _Whitening(Factorization):
    """A factorization ``(K + lambda I)^+ = W^T W``: quadratic forms are squared norms."""

    def _quadratic_form(self, B, diagonal):
        whitened = self._whiten(B)
        if diagonal:
            return np.einsum("ij,ij->j", whitened, whitened)
        return whitened.T @ whitened


class CholeskyFactorization(_Whitening):
    """``K + lambda I = U^T U`` with ``U`` upper triangular in the upper triangle of the
    F-ordered ``factor`` (its strict lower triangle still holds ``K``)."""

    method = "cholesky"

    def __init__(self, factor, noise, threads):
        super().__init__(noise, threads)
        self.factor = factor
        self.dtype = factor.dtype

    @property
    def n(self):
        return self.factor.shape[0]

    def _solve(self, B):
        (potrs,) = lapack.get_lapack_funcs(("potrs",), (self.factor,))
        result, info = potrs(self.factor, B, lower=0)
        check_lapack(info, "potrs")
        return result

    def _whiten(self, B):
        """``U^-T B``: then ``B^T (U^T U)^-1 B`` is its Gram matrix."""
        (trtrs,) = lapack.get_lapack_funcs(("trtrs",), (self.factor,))
        result, info = trtrs(self.factor, B, lower=0, trans=1)
        check_lapack(info, "trtrs")
        return result


class EigenFactorization(_Whitening):
    """``(K + lambda I)^+ = Q diag(g) Q^T`` from ``K = Q diag(s) Q^T``, ``g = 1 / (s + lambda)``
    except 0 where ``|s + lambda| <= cutoff``."""

    method = "eigh"

    def __init__(self, eigenvalues, eigenvectors, noise, threads):
        super().__init__(noise, threads)
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.dtype = eigenvectors.dtype
        self.inverse_eigenvalues = _inverse_spectrum(eigenvalues, np.array([noise]))[:, 0]

    @property
    def n(self):
        return self.eigenvectors.shape[0]

    def _solve(self, B):
        Q = self.eigenvectors
        return Q @ (self.inverse_eigenvalues[:, np.newaxis] * (Q.T @ B))

    def _whiten(self, B):
        return np.sqrt(self.inverse_eigenvalues)[:, np.newaxis] * (self.eigenvectors.T @ B)


class LeastSquaresFactorization(Factorization):
    """Keeps ``K + lambda I`` (F-ordered) and solves each right-hand side by least squares."""

    method = "lstsq"

    def __init__(self, matrix, noise, threads):
        super().__init__(noise, threads)
        self.matrix = matrix
        self.dtype = matrix.dtype

    @property
    def n(self):
        return self.matrix.shape[0]

    def _solve(self, B):
        # gelsd's default cutoff (eps) keeps the rounding noise of a singular K's null space,
        # whose huge reciprocals then swamp the solution.
        cutoff = self.n * np.finfo(self.dtype).eps
        return scipy.linalg.lstsq(
            self.matrix, B, cond=cutoff, check_finite=False, lapack_driver="gelsd"
        )[0]


class RegularizationPath:
    """Kernel regression for any number of regularisers ``lambda`` from one reduction of ``K``
    (MATH.md section 5).

    ``K = H T H^T`` with ``T`` tridiagonal and ``H`` orthogonal, kept as the Householder
    reflectors LAPACK's ``sytrd`` leaves in ``K`` (``4/3 n^3`` flops, the first and, measured,
    cheaper half of ``eigh``). From it:

    - coefficients ``a(lambda) = H (T + lambda I)^-1 H^T y``: ``H^T y`` once, a tridiagonal
      solve (``O(n t)``) per ``lambda``, and ``H`` applied once to all of them
      (``O(n^2 t)`` per ``lambda``);
    - the eigenvalues ``s`` of ``K``, those of ``T`` (``sterf``, ``O(n^2)``), and from them
      generalised cross-validation,
      ``GCV = n |lambda a|^2 / (sum_k lambda / (s_k + lambda))^2``.

    The eigenvectors ``Q = H Z`` (``T = Z diag(s) Z^T``, ``stevd``, then ``H`` applied to
    ``Z``) are formed on first use, by what needs them:

    - leave-one-out residuals in closed form, ``e_i = a_i / [(K + lambda I)^-1]_ii``, the
      residual at ``x_i`` of the model fitted without ``x_i``;
    - an infinitely wide network trained by gradient descent on ``1/2 |f(X) - y|^2`` with
      learning rate ``eta`` for time ``t`` (from zero output): coefficients
      ``Q diag((1 - exp(-eta s t)) / s) Q^T y``, which tend to ``K^+ y`` as ``t -> inf``;
    - ``factorization``.

    Once they exist, coefficients are ``Q diag(1 / (s + lambda)) Q^T y`` (two matrix products);
    the two forms agree to rounding. Where ``|s + lambda|`` is below ``n eps max|s|`` for some
    ``s``, that ``1 / (s + lambda)`` is taken as 0 (the pseudo-inverse, as ``"eigh"``), so such
    a ``lambda`` (``alpha = 0`` on a singular ``K``) is always served by the eigenvectors.

    ``alphas`` are as in ``factorize`` (relative to ``trace(K) / n`` with ``relative_alpha``).
    Memory: ``K`` (destroyed with ``overwrite_K``) holds the reflectors; the eigenvectors, once
    formed, are a second ``n x n`` matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> K = fk.gram(fk.NTK(depth=2, b_std=1.0), X)
    >>> path = fk.solvers.RegularizationPath(K)
    >>> a = path.coefficients(y, [1e-3, 1e-1])
    >>> a.shape
    (2, 200)
    >>> bool(np.allclose(a[1], np.linalg.solve(K + 0.1 * np.eye(200), y)))
    True

    The leave-one-out residual of the first point, against refitting without it:

    >>> residual = path.leave_one_out_residuals(y, [0.1])[0, 0]
    >>> keep = np.arange(200) != 0
    >>> refit = np.linalg.solve(K[np.ix_(keep, keep)] + 0.1 * np.eye(199), y[keep])
    >>> bool(np.isclose(residual, y[0] - K[0, keep] @ refit))
    True
    """

    def __init__(self, K, *, relative_alpha=False, overwrite_K=False, threads=None):
        matrix, _ = _prepare(K, 0.0, False, overwrite_K)
        self.threads = resolve_threads(threads, matrix.shape[0])
        self.relative_alpha = bool(relative_alpha)
        self.mean_diagonal = float(np.mean(np.diagonal(matrix)))
        self._reduction = Tridiagonal(matrix, self.threads)
        self.eigenvalues = self._reduction.eigenvalues()
        self._eigenvectors = None

    @property
    def n(self):
        return self.eigenvalues.shape[0]

    @property
    def eigenvectors(self):
        """``Q`` of ``K = Q diag(s) Q^T``, ``n x n``, formed on first use."""
        if self._eigenvectors is None:
            self._eigenvectors = self._reduction.eigenvectors()
            self._reduction = None
        return self._eigenvectors

    def noise(self, alphas):
        """``lambda`` of each ``alpha``, shape (len(alphas),)."""
        alphas = check_alphas(alphas)
        return alphas * self.mean_diagonal if self.relative_alpha else alphas

    def factorization(self, alpha):
        """An ``EigenFactorization`` of ``K + lambda I`` sharing this path's eigenvectors."""
        noise = float(self.noise([alpha])[0])
        return EigenFactorization(self.eigenvalues, self.eigenvectors, noise, self.threads)

    def coefficients(self, y, alphas):
        """``a(lambda)`` for each ``alpha``: shape (len(alphas), n) or (len(alphas), n, t)."""
        noises = self.noise(alphas)
        inverse = _inverse_spectrum(self.eigenvalues, noises)
        if self._eigenvectors is not None or np.any(inverse == 0):
            return self._filtered(y, inverse)
        targets, vector = self._targets(y)
        result = self._reduction.solve(targets, noises)
        return result[:, :, 0] if vector else result

    def leave_one_out_residuals(self, y, alphas):
        """``y_i - f_{-i}(x_i)`` for each ``alpha``, shaped like ``coefficients``."""
        inverse = _inverse_spectrum(self.eigenvalues, self.noise(alphas))
        coefficients = self._filtered(y, inverse)
        with blas_threads(self.threads):
            inverse_diagonal = _squared_rows_times(self.eigenvectors, inverse).T
        with np.errstate(divide="ignore", invalid="ignore"):
            if coefficients.ndim == 3:
                return coefficients / inverse_diagonal[:, :, np.newaxis]
            return coefficients / inverse_diagonal

    def leave_one_out_mse(self, y, alphas):
        """Mean squared leave-one-out residual of each ``alpha`` (over samples and outputs)."""
        residuals = self.leave_one_out_residuals(y, alphas)
        return np.mean(residuals.reshape(residuals.shape[0], -1) ** 2, axis=1)

    def gcv(self, y, alphas):
        """The generalised cross-validation score of each ``alpha`` (smaller is better)."""
        noise = self.noise(alphas)
        coefficients = self.coefficients(y, alphas)
        residual = (noise[:, np.newaxis] * coefficients.reshape(len(noise), -1)) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = noise[np.newaxis, :] / (self.eigenvalues[:, np.newaxis] + noise)
            trace = np.sum(np.where(noise > 0, shrink, 0.0), axis=0)
            return self.n * residual.sum(axis=1) / trace**2

    def gradient_descent_coefficients(self, y, times, learning_rate):
        """Coefficients ``b(t)`` with the trained network's output ``f_t(x) = K(x, X) b(t)``,
        for each time in ``times`` (``numpy.inf`` allowed): shape (len(times), n[, t])."""
        times = check_times(times)
        eta = check_positive(learning_rate, "learning_rate")
        s = self.eigenvalues
        cutoff = _cutoff(s)
        positive = s > cutoff
        safe = np.where(positive, s, 1.0)
        # -expm1(-eta s t) / s: accurate for small eta s t, and 1 / s at t = inf.
        filtered = -np.expm1(-eta * np.outer(safe, times)) / safe[:, np.newaxis]
        filtered[~positive] = 0.0
        return self._filtered(y, filtered)

    def _targets(self, y):
        """``(targets, vector)``: ``y`` checked, as ``(n, t)`` of the path's dtype."""
        y = check_targets(y, self.n)
        vector = y.ndim == 1
        targets = y[:, np.newaxis] if vector else y
        return targets.astype(self.eigenvalues.dtype, copy=False), vector

    def _filtered(self, y, spectrum):
        """``Q diag(spectrum[:, a]) Q^T y`` for every column ``a`` of ``spectrum``."""
        targets, vector = self._targets(y)
        Q = self.eigenvectors
        with blas_threads(self.threads):
            projected = Q.T @ targets  # (n, t)
            scaled = spectrum[:, :, np.newaxis] * projected[:, np.newaxis, :]  # (n, A, t)
            result = Q @ scaled.reshape(self.n, -1)
        result = result.reshape(self.n, spectrum.shape[1], -1).transpose(1, 0, 2)
        return result[:, :, 0] if vector else result


def check_targets(y, n, other="the kernel matrix"):
    """``y`` as a finite float array of shape (n,) or (n, t), ``n`` the samples of ``other``;
    a ``ValueError`` (``TypeError`` for a non-numeric dtype) otherwise."""
    if y is None:
        raise ValueError("fitting requires y to be passed, but the target y is None")
    y = as_real_array(y, "y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have shape (n,) or (n, t), got {y.shape}")
    check_sample_count(y.shape[0], n, other)
    y = np.asarray(y, dtype=np.float64 if y.dtype != np.float32 else np.float32)
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    return y


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def check_alphas(alphas):
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError("alphas must be a non-empty 1-D sequence")
    if not np.isfinite(alphas).all() or (alphas < 0).any():
        raise ValueError(f"alphas must be finite and >= 0, got {alphas}")
    return alphas


def check_times(times):
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if times.ndim != 1 or np.isnan(times).any() or (times < 0).any():
        raise ValueError(f"times must be >= 0 (numpy.inf allowed), got {times}")
    return times


def _order(K):
    """The order ``n`` of the ``n x n`` array ``K``; a ``ValueError`` for any other shape."""
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"K must be a non-empty square 2-D matrix, got shape {K.shape}")
    return K.shape[0]


def _prepare(K, alpha, relative_alpha, overwrite_K):
    """``(matrix, noise)``: ``K`` validated as a C-ordered float symmetric matrix that may be
    overwritten (a copy unless ``overwrite_K`` and ``K`` can serve as it is), and ``lambda``."""
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    K_array = as_real_array(K, "K")
    _order(K_array)
    in_place = overwrite_K and isinstance(K, np.ndarray) and K.dtype in FLOAT_DTYPES
    in_place = in_place and K.flags.writeable and (K.flags.c_contiguous or K.flags.f_contiguous)
    if in_place:
        # A symmetric matrix in F order is its own transpose in C order.
        matrix = K if K.flags.c_contiguous else K.T
    else:
        dtype = K_array.dtype if K_array.dtype in FLOAT_DTYPES else np.float64
        matrix = np.array(K_array, dtype=dtype, order="C", copy=True)
    if not _all_finite(matrix):
        raise ValueError("K contains NaN or infinity")
    check_symmetric(K_array, "K")
    mean_diagonal = float(np.mean(np.diagonal(matrix)))
    noise = alpha * mean_diagonal if relative_alpha else alpha
    return matrix, noise


def _all_finite(matrix, block=256):
    """Whether every entry is finite, checked by blocks of rows (no ``n x n`` boolean mask)."""
    return all(
        np.isfinite(matrix[start : start + block]).all()
        for start in range(0, matrix.shape[0], block)
    )


def _factorize(matrix, noise, method, threads):
    """Factorize ``matrix + noise I`` in ``matrix``'s memory (C-ordered, destroyed)."""
    if method == "auto":
        method = "cholesky" if noise > 0 else "eigh"
    if method == "cholesky":
        return _cholesky(matrix, noise, threads)
    if method == "eigh":
        eigenvalues, eigenvectors = _eigh(matrix, threads)
        return EigenFactorization(eigenvalues, eigenvectors, noise, threads)
    _add_to_diagonal(matrix, np.diagonal(matrix).copy(), noise)
    return LeastSquaresFactorization(matrix.T, noise, threads)


def _cholesky(matrix, noise, threads):
    """Cholesky of ``matrix + noise I`` in place, with growing jitter up to ``noise``, else
    least squares.

    LAPACK factors ``matrix.T`` (F-ordered, the same symmetric matrix) in its upper triangle,
    which is ``matrix``'s lower one; ``matrix``'s strict upper triangle is never written, so a
    failed attempt is undone by mirroring it back.
    """
    diagonal = np.diagonal(matrix).copy()
    mean_diagonal = float(np.mean(diagonal))
    steps = [step for step in JITTER_STEPS[matrix.dtype] if 0 < step * mean_diagonal <= noise]
    (potrf,) = lapack.get_lapack_funcs(("potrf",), (matrix,))
    factor = matrix.T
    for jitter in (0.0, *(step * mean_diagonal for step in steps)):
        _add_to_diagonal(matrix, diagonal, noise + jitter)
        with blas_threads(threads):
            _, info = potrf(factor, lower=0, clean=0, overwrite_a=1)
        if info == 0:
            if jitter:
                warnings.warn(
                    f"K + {noise:.3g} I is not numerically positive definite: added jitter "
                    f"{jitter:.3g} ({jitter / mean_diagonal:.0e} of the mean diagonal) "
                    "to its diagonal",
                    LinAlgWarning,
                    stacklevel=3,
                )
            return CholeskyFactorization(factor, noise + jitter, threads)
        if info < 0:
            check_lapack(info, "potrf")
        core.mirror_upper_triangle(matrix)
    tried = f" even with jitter up to {steps[-1]:.0e} of its mean diagonal" if steps else ""
    warnings.warn(
        f"K + {noise:.3g} I is not numerically positive definite{tried}; jitter is kept up to "
        f"lambda = {noise:.3g} (more would fit another model): solving by least squares, the "
        "minimum-norm solution",
        LinAlgWarning,
        stacklevel=3,
    )
    _add_to_diagonal(matrix, diagonal, noise)
    return LeastSquaresFactorization(factor, noise, threads)


def _eigh(matrix, threads):
    with blas_threads(threads):
        return scipy.linalg.eigh(matrix.T, overwrite_a=True, check_finite=False)


def _add_to_diagonal(matrix, diagonal, value):
    np.fill_diagonal(matrix, diagonal + matrix.dtype.type(value))


def _cutoff(eigenvalues):
    """Eigenvalues this small are rounding noise: ``n eps max|s|``."""
    scale = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else 0.0
    return eigenvalues.size * np.finfo(eigenvalues.dtype).eps * scale


def _inverse_spectrum(eigenvalues, noises):
    """``1 / (s + lambda)`` for each ``lambda``, shape (n, len(noises)), 0 where the sum is at
    rounding level (the pseudo-inverse)."""
    shifted = eigenvalues[:, np.newaxis] + noises[np.newaxis, :].astype(eigenvalues.dtype)
    keep = np.abs(shifted) > _cutoff(eigenvalues)
    return np.where(keep, 1.0 / np.where(keep, shifted, 1.0), 0.0).astype(eigenvalues.dtype)


def _squared_rows_times(Q, weights, block=1024):
    """``(Q * Q) @ weights`` by blocks of rows, without an ``n x n`` temporary."""
    result = np.empty((Q.shape[0], weights.shape[1]), dtype=Q.dtype)
    for start in range(0, Q.shape[0], block):
        rows = Q[start : start + block]
        result[start : start + block] = (rows * rows) @ weights
    return result
