"""Numba's on-disk cache: a second process computing a Gram matrix must not recompile."""

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json
import numpy as np
import fastntk as fk
from fastntk.backends import cpu
fk.Linear(c=1.0)(np.arange(12.0).reshape(4, 3))
stats = cpu.tile_loop.cached.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def run_child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
def test_second_process_loads_the_gram_loop_from_the_cache(tmp_path):
    first = run_child(tmp_path)
    second = run_child(tmp_path)
    assert first["misses"] == 1 and first["hits"] == 0
    assert second == {"hits": 1, "misses": 0}
