"""``fastntk.datasets.load_digits``: the bundled 8x8 digits, their shapes, dtypes, scaling and
classes, the image and row views against each other, and against scikit-learn's
``load_digits`` where scikit-learn is installed."""

import numpy as np
import pytest

import fastntk
from fastntk.datasets import DIGITS_FILE, DigitsDataset, load_digits

N_IMAGES = 1797


@pytest.fixture(scope="module")
def digit_images():
    return load_digits()


@pytest.fixture(scope="module")
def digit_rows():
    return load_digits(images=False)


def test_the_data_file_and_its_readme_are_in_the_package():
    assert DIGITS_FILE.is_file()
    assert (DIGITS_FILE.parent / "README.md").is_file()
    assert fastntk.datasets.load_digits is load_digits
    assert "load_digits" in fastntk.datasets.__all__


def test_shapes_and_dtypes(digit_images, digit_rows):
    assert isinstance(digit_images, DigitsDataset)
    assert digit_images.X.shape == (N_IMAGES, 8, 8, 1)
    assert digit_rows.X.shape == (N_IMAGES, 64)
    for dataset in (digit_images, digit_rows):
        assert dataset.X.dtype == np.float64
        assert dataset.X.flags.c_contiguous
        assert dataset.y.shape == (N_IMAGES,)
        assert dataset.y.dtype == np.int64
        assert dataset.n_classes == 10
    assert "n_samples=1797" in repr(digit_images)


def test_pixels_are_grey_levels_0_to_16_divided_by_16(digit_images):
    X = digit_images.X
    assert X.min() == 0.0
    assert X.max() == 1.0
    grey_levels = X * 16
    np.testing.assert_array_equal(grey_levels, np.round(grey_levels))
    assert set(np.unique(grey_levels)) <= set(range(17))


def test_every_digit_has_between_170_and_190_images(digit_images):
    np.testing.assert_array_equal(np.unique(digit_images.y), np.arange(10))
    counts = np.bincount(digit_images.y, minlength=10)
    assert counts.sum() == N_IMAGES
    assert counts.min() >= 170
    assert counts.max() <= 190


def test_rows_are_the_images_row_by_row(digit_images, digit_rows):
    np.testing.assert_array_equal(digit_rows.X, digit_images.X.reshape(N_IMAGES, 64))
    np.testing.assert_array_equal(digit_rows.X[:, 8:16], digit_images.X[:, 1, :, 0])
    np.testing.assert_array_equal(digit_rows.y, digit_images.y)


def test_each_call_returns_fresh_arrays(digit_images):
    first = load_digits()
    first.X[0, 0, 0, 0] = -1.0
    assert load_digits().X[0, 0, 0, 0] == digit_images.X[0, 0, 0, 0] != -1.0


def test_equal_to_scikit_learns_digits(digit_images, digit_rows):
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(digit_rows.X * 16, reference.data)
    np.testing.assert_array_equal(digit_images.X[..., 0] * 16, reference.images)
    np.testing.assert_array_equal(digit_rows.y, reference.target)
