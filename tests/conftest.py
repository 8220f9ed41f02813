"""Shared test configuration: hypothesis profiles chosen by ``FASTNTK_HYPOTHESIS_PROFILE``.

``dev`` (default) explores a little; ``ci`` (set by ``.ci/run`` and tox) is derandomised so a
CI run is reproducible. Both have ``deadline=None``: the first call of a kernel compiles it.
"""

import os

from hypothesis import HealthCheck, settings

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
