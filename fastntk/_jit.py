"""The one place that says how fastntk compiles its functions with Numba.

``error_model="numpy"`` lets division by zero give inf instead of raising, which is what lets
LLVM vectorise the elementwise loops. ``fastmath`` is limited to ``contract`` (fused
multiply-add), which only removes a rounding step; the accuracy tests hold with it.

Numba's disk cache goes stale only when the file of the cached function changes, but the
compiled code of one fastntk function includes functions from other files, so every cache here
is stamped with all of the package's source files: an edit anywhere in fastntk recompiles.
"""

import pathlib

from numba import njit

_COMMON = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


def _package_stamp():
    sources = sorted(pathlib.Path(__file__).parent.glob("**/*.py"))
    return tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in sources)


_PACKAGE_STAMP = _package_stamp()


def _cached(decorator):
    """``decorator`` (a caching ``njit``) with the cache stamped by all package sources."""

    def decorate(function):
        dispatcher = decorator(function)
        cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
        if hasattr(cache_file, "_source_stamp"):  # Numba internals: if they change, skip
            cache_file._source_stamp = _PACKAGE_STAMP
        return dispatcher

    return decorate


#: Small scalar or serial functions: the maths of a kernel, callable from any compiled code.
jit = _cached(njit(**_COMMON))

#: The scalar maths of kernels, inlined into the loops that call them: LLVM's own inliner
#: leaves larger ones as calls, and a call in a loop stops its vectorisation.
scalar_jit = _cached(njit(inline="always", **_COMMON))

#: The parallel tile loops.
parallel_jit = _cached(njit(parallel=True, **_COMMON))

#: A parallel loop that must not be cached because it is specialised on a user function.
parallel_jit_uncached = njit(parallel=True, error_model="numpy", fastmath={"contract"})
