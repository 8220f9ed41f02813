"""The one place that says how fastntk compiles its functions with Numba.

``error_model="numpy"`` lets division by zero give inf instead of raising, which is what lets
LLVM vectorise the elementwise loops. ``fastmath`` is limited to ``contract`` (fused
multiply-add), which only removes a rounding step; the accuracy tests hold with it.
"""

from numba import njit

_COMMON = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}

#: Small scalar or serial functions: the maths of a kernel, callable from any compiled code.
jit = njit(**_COMMON)

#: The parallel tile loops.
parallel_jit = njit(parallel=True, **_COMMON)

#: A parallel loop that must not be cached because it is specialised on a user function.
parallel_jit_uncached = njit(parallel=True, error_model="numpy", fastmath={"contract"})
