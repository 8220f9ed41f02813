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


#: Matrices up to this order are factorized with one thread by default: their LAPACK work is
#: too short for a second thread to pay for its synchronisation (and it loses badly whenever
#: another process holds a core).
SINGLE_THREAD_ORDER = 2048


def resolve_threads(threads, order=None):
    """``threads`` checked; by default ``FASTNTK_SOLVER_THREADS``, else one thread for matrices
    of order up to ``SINGLE_THREAD_ORDER``, else every usable CPU."""
    if threads is not None:
        return check_int(threads, "threads", 1)
    configured = os.environ.get("FASTNTK_SOLVER_THREADS")
    if configured:
        return check_int(int(configured), "FASTNTK_SOLVER_THREADS", 1)
    if order is not None and order <= SINGLE_THREAD_ORDER:
        return 1
    return usable_cpus()


@functools.cache
def _controller():
    """One scan of the loaded BLAS libraries (a scan per call costs milliseconds)."""
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(threads):
    """Run the block with BLAS and LAPACK limited to ``threads`` threads."""
    with _controller().limit(limits=threads, user_api="blas"):
        yield
