"""The one place that says how fastntk compiles its functions with Numba.

``error_model="numpy"`` lets division by zero give inf instead of raising, which is what lets
LLVM vectorise the elementwise loops. ``fastmath`` is limited to ``contract`` (fused
multiply-add), which only removes a rounding step; the accuracy tests hold with it.

Numba's disk cache goes stale only when the file of the cached function changes, but the
compiled code of one fastntk function includes functions from other files, so every cache here
is stamped with all of the package's source files: an edit anywhere in fastntk recompiles.
"""

import functools
import pathlib
import pickle

from numba import njit
from numba.extending import overload

#: The options of every compilation.
COMPILE_OPTIONS = {"error_model": "numpy", "fastmath": {"contract"}}


def _package_stamp():
    sources = sorted(pathlib.Path(__file__).parent.glob("**/*.py"))
    return tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in sources)


_PACKAGE_STAMP = _package_stamp()


def _cached(decorator):
    """``decorator`` (a caching ``njit``) with the cache stamped by all package sources, and
    an index that names a class this version no longer has (a spec class renamed since the
    cache was written) read as empty: stale, not an error."""

    def decorate(function):
        dispatcher = decorator(function)
        cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
        if hasattr(cache_file, "_source_stamp"):  # Numba internals: if they change, skip
            cache_file._source_stamp = _PACKAGE_STAMP
            cache_file._load_index = _stale_when_unreadable(cache_file._load_index)
        return dispatcher

    return decorate


def _stale_when_unreadable(load_index):
    @functools.wraps(load_index)
    def load(*args, **kwargs):
        try:
            return load_index(*args, **kwargs)
        except (AttributeError, ImportError, pickle.UnpicklingError):
            return {}

    return load


#: Small scalar or serial functions of plain numbers and arrays, callable from any compiled
#: code and from Python (compiled separately and linked; LLVM inlines the scalar ones into the
#: loops that call them, which then vectorise).
jit = _cached(njit(cache=True, **COMPILE_OPTIONS))

#: Scalar maths too large for LLVM's inliner that must still be inlined into the loops that call
#: them (a call in a loop stops its vectorisation): inlined in Numba's IR, which costs compile
#: time at each call site, so it is kept to the few functions that need it.
inline_jit = _cached(njit(cache=True, inline="always", **COMPILE_OPTIONS))


def compile_shared(function):
    """A Numba dispatcher of ``function`` that compiles once per signature in a process and is
    linked into the compiled functions that call it; never cached on disk on its own (a family
    declared outside fastntk, whose loops are not cached, then leaves nothing stale there)."""
    return njit(**COMPILE_OPTIONS)(function)


def shared(function):
    """``function`` compiled by ``compile_shared`` for compiled callers, and the plain function
    for Python callers (the CUDA simulator, ``NUMBA_DISABLE_JIT=1``). Helpers that take a
    kernel's spec are ``shared``."""
    compiled = compile_shared(function)
    overload(function, strict=False)(lambda *args: forwarder(compiled, len(args)))
    return function


@functools.cache
def forwarder(compiled, arity):
    """``forward(a0, ..., a<arity - 1>)`` calling ``compiled``: an overload's implementation
    (Numba's CUDA target does not compile one that takes ``*args``)."""
    names = ", ".join(f"a{k}" for k in range(arity))
    namespace = {"compiled": compiled}
    source = f"def forward({names}):\n    return compiled({names})\n"
    exec(compile(source, f"<forward to {compiled.py_func.__name__}>", "exec"), namespace)
    return namespace["forward"]


class KernelLoop:
    """A compiled loop specialised per kernel family: cached on disk for the families declared
    in fastntk, compiled in each process for the others (Numba's cache would not see their
    sources change). It releases the GIL, so that several Python threads run it at once.

    ``loop.get(kernel.cacheable)(*args)`` runs it.
    """

    def __init__(self, function):
        self.cached = _cached(njit(cache=True, nogil=True, **COMPILE_OPTIONS))(function)
        self.uncached = njit(nogil=True, **COMPILE_OPTIONS)(function)
        self.__doc__ = function.__doc__

    def get(self, cacheable):
        return self.cached if cacheable else self.uncached


def kernel_loop(function):
    """Decorator: ``function`` as a ``KernelLoop``."""
    return KernelLoop(function)
