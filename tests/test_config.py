"""``fastntk.config``: defaults, environment variables checked on use, overrides."""

import numpy as np
import pytest

import fastntk as fk
from fastntk import config


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("FASTNTK_TILE_SIZE", "lots", "FASTNTK_TILE_SIZE must be an integer, got 'lots'"),
        ("FASTNTK_TILE_SIZE", "0", "FASTNTK_TILE_SIZE must be >= 1, got 0"),
        ("FASTNTK_THREADS", "2.5", "FASTNTK_THREADS must be an integer"),
        (
            "FASTNTK_EXACT_MEMORY_SHARE",
            "1.5",
            "FASTNTK_EXACT_MEMORY_SHARE must be >= 0.0 and <= 1.0",
        ),
    ],
)
def test_a_bad_environment_value_names_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    name = variable.removeprefix("FASTNTK_").lower()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.get(name)


def test_a_bad_environment_value_stops_the_first_call_that_needs_it(monkeypatch):
    monkeypatch.setenv("FASTNTK_TILE_SIZE", "-3")
    with pytest.raises(ValueError, match="FASTNTK_TILE_SIZE"):
        fk.gram(fk.Linear(), np.ones((3, 2)))


def test_environment_then_override_then_default(monkeypatch):
    assert config.get("tile_size") == 256
    monkeypatch.setenv("FASTNTK_TILE_SIZE", "64")
    assert config.get("tile_size") == 64
    with config.override(tile_size=8):
        assert config.get("tile_size") == 8
        assert "override" in config.describe()
    assert config.get("tile_size") == 64
    monkeypatch.delenv("FASTNTK_TILE_SIZE")
    assert config.get("tile_size") == 256


def test_set_checks_and_reset_removes(monkeypatch):
    with pytest.raises(ValueError, match="tile_size must be >= 1"):
        config.set(tile_size=0)
    with pytest.raises(ValueError, match="unknown fastntk setting 'tiles'"):
        config.set(tiles=3)
    config.set(threads=1)
    try:
        assert config.get("threads") == 1
    finally:
        config.reset()
    assert config.get("threads") == config.usable_cpus()


def test_the_tile_size_does_not_change_the_result(monkeypatch):
    X = np.random.default_rng(0).standard_normal((37, 5))
    expected = fk.gram(fk.NTK(2), X)
    with config.override(tile_size=5, threads=2):
        np.testing.assert_allclose(fk.gram(fk.NTK(2), X), expected, rtol=1e-13)
