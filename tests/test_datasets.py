"""``fastntk.datasets.load_uci``: real dataset folders, a small folder written here, its
gzip-compressed form, and malformed folders that must fail with a clear error.

The real folders are read from ``$FASTNTK_UCI_DATA``, or else from ``shared/data/uci-sample``
beside the repository; those tests are skipped where neither exists.
"""

import gzip
import os
import pathlib

import numpy as np
import pytest

from fastntk.datasets import UCIDataset, load_uci

UCI_SAMPLE = pathlib.Path(
    os.environ.get(
        "FASTNTK_UCI_DATA",
        pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-sample",
    )
)


def real_dataset(name):
    folder = UCI_SAMPLE / name
    if not folder.is_dir():
        pytest.skip(f"UCI sample dataset {name} not found under {UCI_SAMPLE}")
    return load_uci(folder)


def assert_valid_splits(dataset):
    n = len(dataset.y)
    pairs = [(dataset.train, dataset.validation), *dataset.folds]
    assert len(dataset.folds) == 4
    for first, second in pairs:
        np.testing.assert_array_equal(np.sort(np.concatenate([first, second])), np.arange(n))


# --- real datasets ------------------------------------------------------------------------------


def test_iris():
    dataset = real_dataset("iris")
    assert isinstance(dataset, UCIDataset)
    assert dataset.name == "iris"
    assert dataset.X.shape == (150, 4) and dataset.X.dtype == np.float64
    assert dataset.n_classes == 3
    np.testing.assert_array_equal(np.bincount(dataset.y), [50, 50, 50])
    # The first data line of iris_R.dat: "1  -0.897674  1.02861  -1.33679  -1.30859  0".
    np.testing.assert_array_equal(dataset.X[0], [-0.897674, 1.02861, -1.33679, -1.30859])
    assert dataset.y[0] == 0
    # Standardised by the collection's authors (with the n - 1 standard deviation).
    np.testing.assert_allclose(dataset.X.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(dataset.X.std(axis=0, ddof=1), 1, atol=1e-4)
    assert (dataset.train.size, dataset.validation.size) == (75, 75)
    assert dataset.train[:3].tolist() == [46, 21, 13]  # conxuntos.dat begins "46 21 13"
    assert_valid_splits(dataset)
    assert "n_samples=150" in repr(dataset)


def test_sonar():
    dataset = real_dataset("conn-bench-sonar-mines-rocks")
    assert dataset.X.shape == (208, 60)
    assert dataset.n_classes == 2 and set(np.unique(dataset.y)) == {0, 1}
    assert all(test.size == 52 for _, test in dataset.folds)
    assert_valid_splits(dataset)


# --- a small folder written here ----------------------------------------------------------------

FEATURES = np.array([[0.5, -1.0], [1.5, 2.0], [-0.25, 0.0], [3.0, -2.5], [0.0, 1.0]])
LABELS = [0, 1, 1, 0, 2]


def write_dataset(
    folder, name="tiny", *, description=None, data_lines=None, splits=None, folds=None, compress=()
):
    """A dataset folder in the collection's format; any part can be replaced to break it."""
    folder.mkdir()
    if description is None:
        description = (
            f"n_entradas= 2\nn_clases= 3\nn_arquivos= 1\nfich1= {name}_R.dat\nn_patrons1= 5\n"
            "n_patrons_entrena= 3\nn_patrons_valida= 2\nn_conxuntos= 1\n"
        )
    if data_lines is None:
        data_lines = ["\tf1\tf2\tclase"] + [
            f"{i + 1}\t{x1}\t{x2}\t{label}"
            for i, ((x1, x2), label) in enumerate(zip(FEATURES, LABELS, strict=True))
        ]
    if splits is None:
        splits = ["4 0 2", "1 3"]
    if folds is None:
        folds = ["0 1 2", "3 4", "1 2 3 4", "0", "0 2 4", "1 3", "0 1 3 4", "2"]
    files = {
        f"{name}.txt": description,
        f"{name}_R.dat": "\n".join(data_lines) + "\n",
        "conxuntos.dat": "\n".join(splits) + "\n",
        "conxuntos_kfold.dat": "\n".join(folds) + "\n",
    }
    for file_name, text in files.items():
        if file_name in compress:
            with gzip.open(folder / (file_name + ".gz"), "wt") as stream:
                stream.write(text)
        else:
            (folder / file_name).write_text(text)
    return folder


def test_small_folder(tmp_path):
    dataset = load_uci(write_dataset(tmp_path / "tiny"))
    assert dataset.name == "tiny"
    np.testing.assert_array_equal(dataset.X, FEATURES)
    np.testing.assert_array_equal(dataset.y, LABELS)
    assert dataset.y.dtype == np.int64 and dataset.n_classes == 3
    np.testing.assert_array_equal(dataset.train, [4, 0, 2])
    np.testing.assert_array_equal(dataset.validation, [1, 3])
    np.testing.assert_array_equal(dataset.folds[1][0], [1, 2, 3, 4])
    np.testing.assert_array_equal(dataset.folds[1][1], [0])
    assert_valid_splits(dataset)


def test_gzip_compressed_files(tmp_path):
    plain = load_uci(write_dataset(tmp_path / "tiny"))
    compressed_folder = tmp_path / "compressed" / "tiny"
    compressed_folder.parent.mkdir()
    everything = ("tiny.txt", "tiny_R.dat", "conxuntos.dat", "conxuntos_kfold.dat")
    compressed = load_uci(write_dataset(compressed_folder, compress=everything))
    np.testing.assert_array_equal(compressed.X, plain.X)
    np.testing.assert_array_equal(compressed.y, plain.y)
    for (train, test), (plain_train, plain_test) in zip(compressed.folds, plain.folds, strict=True):
        np.testing.assert_array_equal(train, plain_train)
        np.testing.assert_array_equal(test, plain_test)


# --- malformed folders --------------------------------------------------------------------------

GOOD_DESCRIPTION = "n_entradas= 2\nn_clases= 3\nn_arquivos= 1\nfich1= tiny_R.dat\nn_patrons1= 5\n"
HEADER = "\tf1\tf2\tclase"
GOOD_ROWS = [
    f"{i + 1}\t{x1}\t{x2}\t{c}"
    for i, ((x1, x2), c) in enumerate(zip(FEATURES, LABELS, strict=True))
]

MALFORMED = {
    "missing key": (
        {"description": GOOD_DESCRIPTION.replace("n_clases= 3\n", "")},
        ValueError,
        "n_clases",
    ),
    "non-integer count": (
        {"description": GOOD_DESCRIPTION.replace("n_patrons1= 5", "n_patrons1= five")},
        ValueError,
        "n_patrons1",
    ),
    "two data files": (
        {"description": GOOD_DESCRIPTION.replace("n_arquivos= 1", "n_arquivos= 2")},
        ValueError,
        "n_arquivos",
    ),
    "too few rows": ({"data_lines": [HEADER] + GOOD_ROWS[:4]}, ValueError, "4 data rows"),
    "missing column": ({"data_lines": [HEADER, "1\t0.5\t0"] + GOOD_ROWS[1:]}, ValueError, "fields"),
    "non-numeric value": (
        {"data_lines": [HEADER, "1\t0.5\tabc\t0"] + GOOD_ROWS[1:]},
        ValueError,
        "non-numeric",
    ),
    "NaN value": ({"data_lines": [HEADER, "1\t0.5\tnan\t0"] + GOOD_ROWS[1:]}, ValueError, "NaN"),
    "label out of range": (
        {"data_lines": [HEADER, "1\t0.5\t1.0\t3"] + GOOD_ROWS[1:]},
        ValueError,
        "class labels",
    ),
    "fractional label": (
        {"data_lines": [HEADER, "1\t0.5\t1.0\t0.5"] + GOOD_ROWS[1:]},
        ValueError,
        "class labels",
    ),
    "one split line": ({"splits": ["0 1 2 3 4"]}, ValueError, "expected 2"),
    "index out of range": ({"splits": ["4 0 2", "1 5"]}, ValueError, r"0 \.\. 4"),
    "negative index": ({"splits": ["4 0 -2", "1 3"]}, ValueError, r"0 \.\. 4"),
    "non-integer index": ({"splits": ["4 0 2", "1 x"]}, ValueError, "integers"),
    "overlapping train and validation": ({"splits": ["4 0 2", "1 2"]}, ValueError, "overlap"),
    "rows left out": ({"splits": ["4 0", "1 3"]}, ValueError, "all 5 rows"),
    "repeated index": ({"splits": ["4 0 0 2", "1 3"]}, ValueError, "repeated"),
    "split sizes against the description": (
        {"splits": ["4 0", "1 3 2"]},
        ValueError,
        "n_patrons_entrena",
    ),
    "seven fold lines": (
        {"folds": ["0 1 2", "3 4", "1 2 3 4", "0", "0 2 4", "1 3", "0 1 3 4"]},
        ValueError,
        "expected 8",
    ),
    "overlapping fold": (
        {"folds": ["0 1 2", "3 4", "1 2 3 4", "0", "0 2 4", "1 3", "0 1 3 4", "4"]},
        ValueError,
        "conxuntos_kfold.dat lines 7 and 8",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_folder_is_a_clear_value_error(tmp_path, name):
    parts, error, message = MALFORMED[name]
    folder = write_dataset(tmp_path / "tiny", **parts)
    with pytest.raises(error, match=message):
        load_uci(folder)


@pytest.mark.parametrize(
    "missing", ["tiny.txt", "tiny_R.dat", "conxuntos.dat", "conxuntos_kfold.dat"]
)
def test_missing_file_is_named(tmp_path, missing):
    folder = write_dataset(tmp_path / "tiny")
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        load_uci(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_uci(tmp_path / "nothing-here")
