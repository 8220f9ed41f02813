"""The tridiagonal reduction ``K = H T H^T`` behind ``solvers.RegularizationPath``, with
LAPACK's routines as SciPy wraps them."""

import numpy as np
from scipy.linalg import lapack

from ._threads import blas_threads


def check_lapack(info, routine):
    if info != 0:
        raise RuntimeError(f"LAPACK {routine} failed with info={info}")


class Tridiagonal:
    """``K = H T H^T`` (LAPACK ``sytrd`` on the lower triangle, in place): ``T``'s diagonal
    and subdiagonal, and ``H = H_1 ... H_{n-1}`` as the reflectors ``H_i = I - tau_i v_i v_i^T``
    with ``v_i`` zero above row ``i + 1``. The vectors ``v_i`` fill the ``(n-1) x (n-1)``
    lower part of ``K`` below its diagonal, which is moved to the front of ``K``'s buffer so
    that ``H`` applies with ``ormqr`` (``ormtr``, which does this itself, is not in SciPy)."""

    def __init__(self, matrix, threads):
        n = matrix.shape[0]
        self.threads = threads
        sytrd, sytrd_lwork = lapack.get_lapack_funcs(("sytrd", "sytrd_lwork"), (matrix,))
        work, info = sytrd_lwork(n, lower=1)
        check_lapack(info, "sytrd_lwork")
        with blas_threads(threads):
            # matrix.T is the F-ordered view of the symmetric C-ordered matrix: no copy.
            reduced, self.diagonal, self.subdiagonal, self.tau, info = sytrd(
                matrix.T, lower=1, lwork=int(work), overwrite_a=1
            )
        check_lapack(info, "sytrd")
        flat = reduced.reshape(-1, order="F")
        for column in range(n - 1):
            flat[column * (n - 1) : (column + 1) * (n - 1)] = flat[column * n + 1 : column * n + n]
        self.reflectors = flat[: (n - 1) ** 2].reshape((n - 1, n - 1), order="F")

    def _lapack(self, name):
        # Looked up per call: LAPACK's function objects do not pickle, and a fitted estimator
        # holding a path must.
        return lapack.get_lapack_funcs(name, (self.diagonal,))

    @property
    def _subdiagonal_of_one(self):
        """The subdiagonal, padded to one element for ``n = 1`` (as SciPy's wrappers of
        ``sterf``, ``stevd`` and ``gtsv`` want)."""
        return self.subdiagonal if self.subdiagonal.size else np.zeros_like(self.diagonal)

    def eigenvalues(self):
        values, info = self._lapack("sterf")(self.diagonal, self._subdiagonal_of_one)
        check_lapack(info, "sterf")
        return values

    def eigenvectors(self):
        """``H Z`` with ``T = Z diag(s) Z^T``: the eigenvectors of ``K``, F-ordered."""
        with blas_threads(self.threads):
            _, vectors, info = self._lapack("stevd")(
                self.diagonal, self._subdiagonal_of_one, compute_v=1
            )
        check_lapack(info, "stevd")
        return self.apply(vectors, transpose=False)

    def apply(self, C, *, transpose):
        """``H C`` (or ``H^T C``) for an ``n x k`` array ``C``, as a new F-ordered array."""
        result = np.array(C, dtype=self.diagonal.dtype, order="F")
        if result.shape[0] < 2 or result.shape[1] == 0:
            return result
        trans = "T" if transpose else "N"
        below = np.asfortranarray(result[1:])
        reflectors = self.reflectors
        # ormqr writes each reflector's implicit leading 1 into the array while it works (and
        # restores the value): it needs writable memory, which a memory-mapped path is not.
        if not reflectors.flags.writeable:
            reflectors = np.array(reflectors, order="F")
        with blas_threads(self.threads):
            _, work, info = self._lapack("ormqr")("L", trans, reflectors, self.tau, below, -1)
            check_lapack(info, "ormqr")
            below, _, info = self._lapack("ormqr")(
                "L", trans, reflectors, self.tau, below, int(work[0]), overwrite_c=1
            )
        check_lapack(info, "ormqr")
        result[1:] = below
        return result

    def solve(self, targets, noises):
        """``H (T + lambda I)^-1 H^T targets`` for each ``lambda`` of ``noises``: shape
        (len(noises), n, t)."""
        n, t = targets.shape
        projected = self.apply(targets, transpose=True)
        solutions = np.empty((n, len(noises), t), dtype=projected.dtype, order="F")
        dtype = self.diagonal.dtype.type
        off_diagonal = self._subdiagonal_of_one
        for k, noise in enumerate(noises):
            *_, solution, info = self._lapack("gtsv")(
                off_diagonal, self.diagonal + dtype(noise), off_diagonal, projected
            )
            check_lapack(info, "gtsv")
            solutions[:, k, :] = solution
        result = self.apply(solutions.reshape(n, -1, order="F"), transpose=False)
        return result.reshape(n, len(noises), t, order="F").transpose(1, 0, 2)
