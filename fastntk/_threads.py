"""How many BLAS/LAPACK threads the solvers use, set with threadpoolctl."""

import contextlib
import functools

from threadpoolctl import ThreadpoolController

from . import config
from ._validation import check_int


def resolve_threads(threads, order=None):
    """``threads`` checked; by default ``config solver_threads``, else one thread for matrices
    of order up to ``config single_thread_order``, else every usable CPU."""
    if threads is not None:
        return check_int(threads, "threads", 1)
    configured = config.get("solver_threads")
    if configured is not None:
        return configured
    if order is not None and order <= config.get("single_thread_order"):
        return 1
    return config.usable_cpus()


@functools.cache
def _controller():
    """One scan of the loaded BLAS libraries (a scan per call costs milliseconds)."""
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(threads):
    """Run the block with BLAS and LAPACK limited to ``threads`` threads."""
    with _controller().limit(limits=threads, user_api="blas"):
        yield
