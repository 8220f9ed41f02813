"""Where Gram matrices are computed: one module per backend, behind one small interface.

A backend module has

- ``NAME``;
- ``unavailable_reason(kernel)``: why it cannot compute ``kernel`` here, or None;
- ``fill(problem, out, r0, r1, c0, c1, bar)``: fill ``out`` (k, r1 - r0, c1 - c0) with the
  block ``K[r0:r1, c0:c1]`` of a ``fastntk._core.GramProblem``, calling ``bar.update(steps)``;
- ``progress_total(problem, r0, r1, c0, c1)``: ``(steps, unit)`` of that progress;
- ``is_device_array(array)``: whether ``out`` may be one of its own arrays (a GPU array).

``cpu`` computes tiles of BLAS inner products and the fused scalar map on threads; ``cuda``
runs one CUDA kernel generated from the same declarations. ``resolve`` turns a ``device=``
argument into a backend: it is the only place that does.
"""

from . import cpu


class DeviceWarning(UserWarning):
    """A computation runs on another device than the one asked for."""


#: The accepted values of ``device=``.
DEVICES = ("cpu", "cuda", "auto")


def resolve(device, kernel):
    """The backend module for ``device`` ("cpu", "cuda" or "auto": CUDA when it can compute
    ``kernel`` here, else the CPU). "cuda" that cannot is a ``ValueError`` saying why."""
    if device == "cpu":
        return cpu
    if not isinstance(device, str) or device not in DEVICES:
        choices = ", ".join(repr(name) for name in DEVICES[:-1]) + f" or {DEVICES[-1]!r}"
        raise ValueError(f"device must be {choices}, got {device!r}")
    try:
        from . import cuda
    except ImportError as error:
        reason = f"numba.cuda cannot be imported ({error}); pip install fastntk[cuda]"
    else:
        reason = cuda.unavailable_reason(kernel)
        if reason is None:
            return cuda
    if device == "auto":
        return cpu
    raise ValueError(f"device='cuda': {reason}")
