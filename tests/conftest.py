"""Shared test configuration: hypothesis profiles chosen by ``FASTNTK_HYPOTHESIS_PROFILE``, and
Numba's CUDA simulator for the CUDA tests.

``dev`` (default) explores a little; ``ci`` (set by ``.ci/run`` and tox) is derandomised so a
CI run is reproducible. Both have ``deadline=None``: the first call of a kernel compiles it.
"""

import os

from hypothesis import HealthCheck, settings

# The CUDA tests (test_cuda.py) run on Numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM=0 asks
# for a real GPU. Numba reads the variable once, on import: it must be set before that.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

settings.register_profile(
    "dev",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("FASTNTK_HYPOTHESIS_PROFILE", "dev"))
