"""Numba's on-disk cache: a second process computing a Gram matrix must not recompile."""

import json
import os
import pickle
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


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
def test_an_index_naming_a_class_that_is_gone_is_stale(tmp_path):
    """A cache written by a version with a spec class this one has renamed (an upgrade): Numba
    unpickles the index before it checks its stamp, which would raise ``AttributeError``; the
    index counts as empty instead, and the loop is compiled again."""
    run_child(tmp_path)
    indexes = list(tmp_path.rglob("cpu.*.nbi"))
    assert indexes, sorted(str(path) for path in tmp_path.rglob("*"))
    for index in indexes:
        with open(index, "rb") as file:
            version = pickle.load(file)
        with open(index, "wb") as file:
            pickle.dump(version, file)
            file.write(b"cfastntk.polynomials\nGoneParameters\n.")  # a global that is not there
    with pytest.raises(AttributeError):
        pickle.loads(b"cfastntk.polynomials\nGoneParameters\n.")
    assert run_child(tmp_path) == {"hits": 0, "misses": 1}
