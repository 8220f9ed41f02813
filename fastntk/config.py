"""Every tunable of fastntk, in one place: defaults, environment variables, overrides.

A setting is read with ``get(name)`` each time it is used: an override set with ``set`` or
``override`` wins, then the environment variable, then the default. Environment values are
parsed and checked on that read, so a bad value is a ``ValueError`` that names the variable, at
the first call that needs it (never silently ignored). Compiled code never reads a setting:
Numba freezes globals at compile time, so values are passed to it as arguments.

========================  ===============================  =========  ==========================
setting                   environment variable             default    meaning
========================  ===============================  =========  ==========================
``tile_size``             ``FASTNTK_TILE_SIZE``            256        rows and columns of a CPU
                                                                      Gram tile
``threads``               ``FASTNTK_THREADS``              all CPUs   threads of the CPU Gram
                                                                      engine and kernel products
``solver_threads``        ``FASTNTK_SOLVER_THREADS``       (auto)     BLAS/LAPACK threads of the
                                                                      solvers; unset: 1 up to
                                                                      ``single_thread_order``,
                                                                      else all CPUs
``single_thread_order``   ``FASTNTK_SINGLE_THREAD_ORDER``  2048       largest matrix the solvers
                                                                      factorize on one thread by
                                                                      default
``progress_steps``        ``FASTNTK_PROGRESS_STEPS``       100        updates of a progress bar
``exact_memory_share``    ``FASTNTK_EXACT_MEMORY_SHARE``   0.5        share of the available
                                                                      memory an exact fit's
                                                                      ``n x n`` matrix may use
                                                                      (``solver="auto"``)
``stacked_memory_share``  ``FASTNTK_STACKED_MEMORY_SHARE``  0.25      share of the available
                                                                      memory one ``gram_many``
                                                                      pass of a CV search may use
``predict_block_bytes``   ``FASTNTK_PREDICT_BLOCK_BYTES``  2**28      test-by-train kernel rows
                                                                      ``predict`` holds at once
``nystrom_centers``       ``FASTNTK_NYSTROM_CENTERS``      5000       default Nystrom centres
``cuda_tile_size``        ``FASTNTK_CUDA_TILE_SIZE``       16         side of the CUDA thread
                                                                      block and shared tiles
``cuda_block_bytes``      ``FASTNTK_CUDA_BLOCK_BYTES``     0          GPU memory of one streamed
                                                                      row block; 0: a share of
                                                                      the free memory
``cuda_memory_share``     ``FASTNTK_CUDA_MEMORY_SHARE``    0.5        that share
``cuda_frozen_slots``     ``FASTNTK_CUDA_FROZEN_SLOTS``    8          distinct frozen-layer
                                                                      counts of NTK outputs one
                                                                      GPU pass computes
``float64_refinement``    ``FASTNTK_FLOAT64_REFINEMENT``   1          1: float64 entries whose
                                                                      map is ill-conditioned in
                                                                      the inner product (angles
                                                                      near 0 or pi) are refined
                                                                      (1e-14 relative); 0: not
                                                                      (about 1e-8 there, and
                                                                      faster on clustered data)
========================  ===============================  =========  ==========================

Why these defaults: a 256 x 256 tile's inner products (512 KiB in float64) stay in a Zen 4 /
Skylake-X L2 cache while amortising a BLAS call; small LAPACK factorizations lose to their
thread synchronisation (and badly whenever another process holds a core); 16 x 16 CUDA thread
blocks (256 threads) suit current GPUs.
"""

import contextlib
import os
from dataclasses import dataclass


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Setting:
    """One tunable: its environment variable, default and the check of its values."""

    name: str
    kind: type  # int or float
    default: object  # a value, or a function of no arguments, or None (chosen by the caller)
    minimum: float
    maximum: float = None
    doc: str = ""

    @property
    def variable(self):
        return "FASTNTK_" + self.name.upper()

    def check(self, value, source):
        """``value`` (a number or, from the environment, a string) converted and checked."""
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text, 0) if self.kind is int else float(text)
            except ValueError:
                raise ValueError(
                    f"{source} must be {'an integer' if self.kind is int else 'a number'}, "
                    f"got {text!r}"
                ) from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{source} must be a number, got {value!r}")
        if self.kind is int and value != int(value):
            raise ValueError(f"{source} must be an integer, got {value!r}")
        value = self.kind(value)
        if not (value >= self.minimum and (self.maximum is None or value <= self.maximum)):
            upper = f" and <= {self.maximum}" if self.maximum is not None else ""
            raise ValueError(f"{source} must be >= {self.minimum}{upper}, got {value}")
        return value


SETTINGS = {
    setting.name: setting
    for setting in (
        Setting("tile_size", int, 256, 1, doc="rows and columns of a CPU Gram tile"),
        Setting("threads", int, usable_cpus, 1, doc="threads of the CPU Gram engine"),
        Setting("solver_threads", int, None, 1, doc="BLAS/LAPACK threads of the solvers"),
        Setting("single_thread_order", int, 2048, 0, doc="solvers' one-thread matrix order"),
        Setting("progress_steps", int, 100, 1, doc="updates of a progress bar"),
        Setting("exact_memory_share", float, 0.5, 0.0, 1.0, doc="memory of an exact fit"),
        Setting("stacked_memory_share", float, 0.25, 0.0, 1.0, doc="memory of a gram_many pass"),
        Setting("predict_block_bytes", int, 2**28, 1, doc="kernel rows held by predict"),
        Setting("nystrom_centers", int, 5000, 1, doc="default Nystrom centres"),
        Setting("cuda_tile_size", int, 16, 1, 32, doc="side of the CUDA thread block"),
        Setting("cuda_block_bytes", int, 0, 0, doc="GPU memory of a streamed row block"),
        Setting("cuda_memory_share", float, 0.5, 0.0, 1.0, doc="share of free GPU memory"),
        Setting("cuda_frozen_slots", int, 8, 1, 64, doc="frozen-layer counts per GPU pass"),
        Setting("float64_refinement", int, 1, 0, 1, doc="refine ill-conditioned float64 entries"),
    )
}

_overrides = {}


def _setting(name):
    try:
        return SETTINGS[name]
    except KeyError:
        raise ValueError(
            f"unknown fastntk setting {name!r}; the settings are {sorted(SETTINGS)}"
        ) from None


def get(name):
    """The current value of setting ``name``: an override, else its environment variable,
    else its default (None for ``solver_threads``: the solvers choose)."""
    setting = _setting(name)
    if name in _overrides:
        return _overrides[name]
    text = os.environ.get(setting.variable)
    if text is not None and text.strip():
        return setting.check(text, f"environment variable {setting.variable}")
    return setting.default() if callable(setting.default) else setting.default


def set(**values):
    """Override settings for the rest of the process, e.g. ``set(threads=1)``; ``None``
    removes an override."""
    checked = {}
    for name, value in values.items():
        setting = _setting(name)
        checked[name] = None if value is None else setting.check(value, name)
    for name, value in checked.items():
        if value is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = value


@contextlib.contextmanager
def override(**values):
    """Settings overridden inside a ``with`` block, e.g. ``with override(tile_size=8): ...``.

    Examples
    --------
    >>> import fastntk as fk
    >>> with fk.config.override(threads=1):
    ...     fk.config.get("threads")
    1
    """
    saved = dict(_overrides)
    set(**values)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(saved)


def reset():
    """Remove every override."""
    _overrides.clear()


def describe():
    """Each setting's current value and where it comes from, one line each."""
    lines = []
    for name, setting in SETTINGS.items():
        source = (
            "override"
            if name in _overrides
            else setting.variable
            if os.environ.get(setting.variable, "").strip()
            else "default"
        )
        lines.append(f"{name:<22} {get(name)!s:<12} {source:<30} {setting.doc}")
    return "\n".join(lines)
