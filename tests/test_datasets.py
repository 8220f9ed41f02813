"""``fastntk.datasets.load_uci``: real dataset folders, a small folder written here, its
gzip-compressed form, and malformed folders (written here or copied from the bundled iris and
broken) that must fail with a ``ValueError`` naming the file.

The real folders are read from ``$FASTNTK_UCI_DATA``, or else from ``shared/data/uci-sample``
beside the repository; those tests are skipped where neither exists.
"""

import gzip
import os
import pathlib
import shutil

import numpy as np
import pytest

import fastntk
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


@pytest.mark.parametrize(
    ("row", "label", "message"),
    [
        (0, "1.5", "must be integers, got 1.5"),
        (4, "0.5", "must be integers, got 0.5"),
        (2, "-0.25", "must be integers, got -0.25"),
        (3, "1.0000001", "must be integers, got 1.0000001"),
        (0, "3", r"must be 0 \.\. 2 \(n_clases= 3\), got 3"),
        (4, "-1", r"must be 0 \.\. 2 \(n_clases= 3\), got -1"),
        (1, "1e9", r"must be 0 \.\. 2 \(n_clases= 3\), got 1000000000"),
    ],
)
def test_bad_label_names_the_value_and_its_line(tmp_path, row, label, message):
    rows = list(GOOD_ROWS)
    rows[row] = rows[row].rsplit("\t", 1)[0] + f"\t{label}"
    folder = write_dataset(tmp_path / "tiny", data_lines=[HEADER, *rows])
    with pytest.raises(ValueError, match=rf"tiny_R\.dat line {row + 2}: class labels {message}$"):
        load_uci(folder)


# --- malformed copies of a bundled dataset ------------------------------------------------------

BUNDLED_IRIS = pathlib.Path(fastntk.__file__).parent / "data" / "uci" / "iris"
IRIS_FILES = ("iris.txt", "iris_R.dat", "conxuntos.dat", "conxuntos_kfold.dat")


def iris_copy(tmp_path):
    """A copy of the bundled iris folder, whose files are all gzip-compressed."""
    folder = tmp_path / "iris"
    shutil.copytree(BUNDLED_IRIS, folder)
    return folder


def iris_bytes(folder, file_name):
    return gzip.decompress((folder / f"{file_name}.gz").read_bytes())


def set_description(folder, old, new):
    text = iris_bytes(folder, "iris.txt").decode()
    assert old in text
    (folder / "iris.txt.gz").write_bytes(gzip.compress(text.replace(old, new).encode()))


def test_bundled_copy_loads(tmp_path):
    dataset = load_uci(iris_copy(tmp_path))
    assert dataset.X.shape == (150, 4)


def _bad_crc(data):
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]


def _corrupt_stream(data):
    middle = len(data) // 2
    return data[:middle] + b"\xff" * 16 + data[middle + 16 :]


GZIP_CORRUPTIONS = {
    "truncated in half": lambda data: data[: len(data) // 2],
    "header only": lambda data: data[:10],
    "last byte missing": lambda data: data[:-1],
    "garbage with a .gz name": lambda data: b"this is not gzip data\n",
    "plain text with a .gz name": lambda data: gzip.decompress(data),
    "trailing garbage": lambda data: data + b"garbage",
    "bad checksum": _bad_crc,
    "corrupt deflate stream": _corrupt_stream,
}


@pytest.mark.parametrize("file_name", IRIS_FILES)
@pytest.mark.parametrize("corruption", list(GZIP_CORRUPTIONS))
def test_corrupt_gzip_file_is_a_value_error_naming_it(tmp_path, file_name, corruption):
    folder = iris_copy(tmp_path)
    path = folder / f"{file_name}.gz"
    path.write_bytes(GZIP_CORRUPTIONS[corruption](path.read_bytes()))
    with pytest.raises(ValueError, match="is not a valid gzip file") as error:
        load_uci(folder)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("file_name", IRIS_FILES)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("byte", [b"\xe9", b"\xff", b"\x80"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_non_utf8_byte_is_a_value_error_naming_the_file_and_line(
    tmp_path, file_name, where, byte, compressed
):
    folder = iris_copy(tmp_path)
    text = iris_bytes(folder, file_name)
    position = {"start": 0, "middle": len(text) // 2, "end": len(text)}[where]
    text = text[:position] + byte + text[position:]
    (folder / f"{file_name}.gz").unlink()
    path = folder / (f"{file_name}.gz" if compressed else file_name)
    path.write_bytes(gzip.compress(text) if compressed else text)
    line = text.count(b"\n", 0, position) + 1
    with pytest.raises(ValueError, match=f"line {line}: byte 0x{byte.hex()} is not UTF-8") as error:
        load_uci(folder)
    assert str(path) in str(error.value)


def _link(name, target):
    """A symlink ``name`` in the folder to ``target`` (relative to the folder's parent); fich1
    names it, without the ``.gz`` the link may carry."""

    def make(folder):
        (folder / name).symlink_to(folder.parent / target)
        return name.removesuffix(".gz")

    return make


# Each names a readable copy of the iris data outside the folder (but the first two), so that
# without the check the folder would load.
ESCAPING_FICH1 = {
    "parent traversal": lambda folder: "../../../../../../../../etc/passwd",
    "absolute path": lambda folder: "/etc/passwd",
    "absolute path to a data file": lambda folder: str(folder.parent / "outside.dat"),
    "sibling folder": lambda folder: "../other/iris_R.dat",
    "traversal through the folder": lambda folder: "../iris/../outside.dat",
    "the folder itself": lambda folder: ".",
    "empty": lambda folder: "",
    "symlink to a file outside": _link("link.dat", "outside.dat"),
    "gzip symlink to a file outside": _link("link.dat.gz", "other/iris_R.dat.gz"),
    "symlink to a folder outside": lambda folder: _link("sub", "other")(folder) + "/iris_R.dat",
}


@pytest.mark.parametrize("case", list(ESCAPING_FICH1))
def test_fich1_outside_the_folder_is_refused(tmp_path, case):
    shutil.copytree(BUNDLED_IRIS, tmp_path / "other")
    (tmp_path / "outside.dat").write_bytes(iris_bytes(tmp_path / "other", "iris_R.dat"))
    folder = iris_copy(tmp_path)
    set_description(folder, "fich1= iris_R.dat", f"fich1= {ESCAPING_FICH1[case](folder)}")
    with pytest.raises(ValueError, match=r"iris\.txt: fich1= .* does not name a file inside"):
        load_uci(folder)


@pytest.mark.parametrize("fich1", ["./iris_R.dat", "data/iris_R.dat", "alias.dat"])
def test_fich1_inside_the_folder_is_read(tmp_path, fich1):
    folder = iris_copy(tmp_path)
    (folder / "data").mkdir()
    shutil.copy(folder / "iris_R.dat.gz", folder / "data" / "iris_R.dat.gz")
    (folder / "alias.dat.gz").symlink_to(folder / "iris_R.dat.gz")
    set_description(folder, "fich1= iris_R.dat", f"fich1= {fich1}")
    np.testing.assert_array_equal(load_uci(folder).X, load_uci(BUNDLED_IRIS).X)


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        ("n_entradas= 4", "n_entradas= 1000000000000", "line 2: 6 fields, expected 1000000000002"),
        ("n_entradas= 4", "n_entradas= 5", "line 2: 6 fields, expected 7"),
        ("n_entradas= 4", "n_entradas= 3", "line 2: 6 fields, expected 5"),
        ("n_patrons1= 150", "n_patrons1= 1000000000000", "150 data rows, but n_patrons1="),
        ("n_patrons1= 150", "n_patrons1= 151", "150 data rows, but n_patrons1= 151"),
        ("n_clases= 3", "n_clases= 1000000000000", "n_clases= 1000000000000 is more than the 150"),
        ("n_clases= 3", "n_clases= 151", "n_clases= 151 is more than the 150"),
    ],
)
def test_description_counts_are_checked_against_the_data_file(tmp_path, line, replacement, message):
    folder = iris_copy(tmp_path)
    set_description(folder, line, replacement)
    with pytest.raises(ValueError, match=message) as error:
        load_uci(folder)
    assert "iris_R.dat" in str(error.value)


@pytest.mark.parametrize("position", ["99999999999999999999999", "-99999999999999999999999"])
@pytest.mark.parametrize("file_name", ["conxuntos.dat", "conxuntos_kfold.dat"])
def test_huge_row_position_is_out_of_range(tmp_path, file_name, position):
    folder = iris_copy(tmp_path)
    text = iris_bytes(folder, file_name).decode()
    (folder / f"{file_name}.gz").write_bytes(gzip.compress(f"{position} {text}".encode()))
    with pytest.raises(
        ValueError, match=rf"{file_name} line 1: row positions must be in 0 \.\. 149"
    ):
        load_uci(folder)
