"""How many BLAS/LAPACK threads the solvers use, set with threadpoolctl."""

import contextlib
import functools
import os

from threadpoolctl import ThreadpoolController

from ._validation import check_int


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_threads(threads):
    """``threads`` checked, or ``FASTNTK_SOLVER_THREADS``, or every usable CPU."""
    if threads is None:
        configured = os.environ.get("FASTNTK_SOLVER_THREADS")
        return (
            check_int(int(configured), "FASTNTK_SOLVER_THREADS", 1) if configured else usable_cpus()
        )
    return check_int(threads, "threads", 1)


@functools.cache
def _controller():
    """One scan of the loaded BLAS libraries (a scan per call costs milliseconds)."""
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(threads):
    """Run the block with BLAS and LAPACK limited to ``threads`` threads."""
    with _controller().limit(limits=threads, user_api="blas"):
        yield
