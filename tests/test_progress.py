"""``progress=True``: the same matrix, a progress bar when tqdm is installed, silence without."""

import sys

import numpy as np
import pytest

import fastntk as fk

X = np.random.default_rng(3).standard_normal((40, 4))
KERNEL = fk.NTK(depth=2)


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setenv("FASTNTK_TILE_SIZE", str(8))


def test_progress_without_tqdm_is_silent_and_changes_nothing(small_tiles, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    K = fk.gram(KERNEL, X, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    np.testing.assert_array_equal(K, fk.gram(KERNEL, X))


def test_progress_with_tqdm_reports_every_tile(small_tiles, capsys):
    pytest.importorskip("tqdm")
    K = fk.gram(KERNEL, X, X[:17], progress=True)
    err = capsys.readouterr().err
    n_tiles = 5 * 3  # ceil(40 / 8) row tiles times ceil(17 / 8) column tiles
    assert f"{n_tiles}/{n_tiles}" in err
    np.testing.assert_array_equal(K, fk.gram(KERNEL, X, X[:17]))
