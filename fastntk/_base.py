"""What every fastntk kernel shares: calling it computes its Gram matrix."""

from . import engine


class Kernel:
    """Base class of fastntk kernels (frozen dataclasses).

    ``k(X, Z=None, **options)`` is ``fastntk.gram(k, X, Z, **options)``; ``k.diag(X)`` is
    ``k(x, x)`` for each row.
    """

    _n_outputs = 1
    _cacheable = True

    def __call__(self, X, Z=None, **options):
        return engine.gram(self, X, Z, **options)

    def diag(self, X, *, dtype=None):
        """``k(x, x)`` for every row ``x`` of ``X``, shape (n,)."""
        return engine.diag(self, X, dtype=dtype)

    def _spec(self, n_features, dtype):
        """The numeric parameters as a spec namedtuple in the computation dtype."""
        raise NotImplementedError
