"""Readers of benchmark datasets.

``load_uci`` reads one dataset of the UCI collection as pre-processed by Fernandez-Delgado,
Cernadas, Barro and Amorim (JMLR 15, 2014), the small-data benchmark of Arora et al. (ICLR
2020). A dataset is a folder ``<name>/`` holding:

- ``<name>.txt``: ``key= value`` lines; ``n_entradas`` features, ``n_clases`` classes,
  ``n_arquivos`` data files (1 is supported), ``fich1`` the data file, ``n_patrons1`` its rows.
- the data file (``<name>_R.dat``): tab-separated, a header line, then per sample a row number,
  the features and the integer class label ``0 .. n_clases - 1``.
- ``conxuntos.dat``: two lines of 0-based row positions, training then validation rows (for
  choosing hyper-parameters), disjoint and together all rows.
- ``conxuntos_kfold.dat``: eight lines, four (train, test) pairs; each train set is the
  complement of its test set.

Any of these files may instead be gzip-compressed, with ``.gz`` appended to its name.
"""

import gzip
import pathlib
from dataclasses import dataclass

import numpy as np

__all__ = ["UCIDataset", "load_uci"]


@dataclass(frozen=True, eq=False)
class UCIDataset:
    """One dataset of the Fernandez-Delgado UCI collection.

    Attributes
    ----------
    name : str, the folder's name
    X : ndarray (n, d) float64, the features (standardised by the collection's authors)
    y : ndarray (n,) int64, the class labels ``0 .. n_classes - 1``
    n_classes : int
    train, validation : ndarrays of row positions, the hyper-parameter selection split
    folds : tuple of four ``(train, test)`` pairs of row-position arrays
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    train: np.ndarray
    validation: np.ndarray
    folds: tuple

    def __repr__(self):
        return (
            f"UCIDataset(name={self.name!r}, n_samples={self.X.shape[0]}, "
            f"n_features={self.X.shape[1]}, n_classes={self.n_classes})"
        )


def load_uci(path):
    """Read the dataset folder ``path`` (its name is the dataset's name).

    Parameters
    ----------
    path : str or path-like, a folder laid out as in this module's docstring

    Returns
    -------
    UCIDataset
        ``X``, ``y``, ``n_classes``, the ``train``/``validation`` split of ``conxuntos.dat``
        and the four ``(train, test)`` ``folds`` of ``conxuntos_kfold.dat``.

    Raises
    ------
    FileNotFoundError
        When the folder or one of its files is missing.
    ValueError
        When a file is malformed: a missing or non-integer description key, a non-numeric
        value, a wrong number of rows or columns, a label out of range, a row position out of
        range or repeated, or splits that are not disjoint or do not cover all rows.
    """
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {str(folder)!r} does not exist")
    name = folder.name
    description = read_description(folder, name)
    X, y = _read_data(folder, description)
    n_rows = X.shape[0]
    train, validation = _read_index_lines(folder / "conxuntos.dat", 2, n_rows)
    _check_partition(train, validation, n_rows, "conxuntos.dat lines 1 and 2")
    for key, split in (("n_patrons_entrena", train), ("n_patrons_valida", validation)):
        if key in description and description[key] != split.size:
            raise ValueError(
                f"{name}.txt gives {key}= {description[key]} but conxuntos.dat has "
                f"{split.size} positions"
            )
    fold_lines = _read_index_lines(folder / "conxuntos_kfold.dat", 8, n_rows)
    folds = tuple(zip(fold_lines[0::2], fold_lines[1::2], strict=True))
    for index, (fold_train, fold_test) in enumerate(folds):
        lines = f"conxuntos_kfold.dat lines {2 * index + 1} and {2 * index + 2}"
        _check_partition(fold_train, fold_test, n_rows, lines)
    return UCIDataset(
        name=name,
        X=X,
        y=y,
        n_classes=description["n_clases"],
        train=train,
        validation=validation,
        folds=folds,
    )


def _open_text(path):
    """The text lines of ``path``, or of ``path.gz`` when only the compressed file exists."""
    if path.is_file():
        return path.read_text().splitlines()
    compressed = path.with_name(path.name + ".gz")
    if compressed.is_file():
        with gzip.open(compressed, "rt") as stream:
            return stream.read().splitlines()
    raise FileNotFoundError(f"dataset file {str(path)!r} (or {compressed.name}) does not exist")


_REQUIRED_KEYS = ("n_entradas", "n_clases", "n_arquivos", "fich1", "n_patrons1")
_COUNT_KEYS = (
    "n_entradas",
    "n_clases",
    "n_arquivos",
    "n_patrons1",
    "n_patrons_entrena",
    "n_patrons_valida",
)


def read_description(folder, name):
    """The ``key= value`` lines of a dataset folder's ``<name>.txt`` (a ``pathlib.Path``
    folder), as a dict; counts converted to int and checked >= 1."""
    description = {}
    for line in _open_text(folder / f"{name}.txt"):
        if "=" in line:
            key, value = line.split("=", 1)
            description[key.strip()] = value.strip()
    for key in _REQUIRED_KEYS:
        if key not in description:
            raise ValueError(f"{name}.txt has no '{key}=' line")
    for key in _COUNT_KEYS:
        if key in description:
            try:
                description[key] = int(description[key])
            except ValueError:
                raise ValueError(
                    f"{name}.txt: {key}= {description[key]!r} is not an integer"
                ) from None
            if description[key] < 1:
                raise ValueError(f"{name}.txt: {key}= {description[key]} must be >= 1")
    if description["n_arquivos"] != 1:
        raise ValueError(
            f"{name}.txt: n_arquivos= {description['n_arquivos']}; only datasets in one data "
            "file are supported (those with a separate test file are not)"
        )
    return description


def _read_data(folder, description):
    file_name = description["fich1"]
    n_features = description["n_entradas"]
    n_classes = description["n_clases"]
    n_rows = description["n_patrons1"]
    lines = [line for line in _open_text(folder / file_name) if line.strip()]
    rows = lines[1:]  # the first line is the header
    if len(rows) != n_rows:
        raise ValueError(
            f"{file_name} has {len(rows)} data rows, but n_patrons1= {n_rows} in the description"
        )
    values = np.empty((n_rows, n_features + 2))
    for index, line in enumerate(rows):
        fields = line.split()
        if len(fields) != n_features + 2:
            raise ValueError(
                f"{file_name} line {index + 2}: {len(fields)} fields, expected {n_features + 2} "
                f"(row number, n_entradas= {n_features} features, class)"
            )
        try:
            values[index] = [float(field) for field in fields]
        except ValueError:
            raise ValueError(
                f"{file_name} line {index + 2}: non-numeric value in {line.strip()!r}"
            ) from None
    if not np.isfinite(values).all():
        raise ValueError(f"{file_name} contains NaN or infinity")
    labels = values[:, -1]
    if (
        not np.array_equal(labels, np.round(labels))
        or labels.min() < 0
        or labels.max() >= n_classes
    ):
        raise ValueError(
            f"{file_name}: class labels must be integers 0 .. {n_classes - 1} "
            f"(n_clases= {n_classes}), got values from {labels.min()} to {labels.max()}"
        )
    return np.ascontiguousarray(values[:, 1:-1]), labels.astype(np.int64)


def _read_index_lines(path, n_lines, n_rows):
    """``n_lines`` arrays of 0-based row positions, one per non-empty line of ``path``."""
    lines = [line for line in _open_text(path) if line.strip()]
    if len(lines) != n_lines:
        raise ValueError(f"{path.name} has {len(lines)} lines of row positions, expected {n_lines}")
    arrays = []
    for number, line in enumerate(lines, start=1):
        try:
            positions = np.array([int(field) for field in line.split()], dtype=np.int64)
        except ValueError:
            raise ValueError(f"{path.name} line {number}: row positions must be integers") from None
        if positions.min() < 0 or positions.max() >= n_rows:
            raise ValueError(
                f"{path.name} line {number}: row positions must be in 0 .. {n_rows - 1}, got "
                f"{positions.min()} .. {positions.max()}"
            )
        if np.unique(positions).size != positions.size:
            raise ValueError(f"{path.name} line {number}: a row position is repeated")
        arrays.append(positions)
    return arrays


def _check_partition(first, second, n_rows, where):
    if np.intersect1d(first, second).size:
        raise ValueError(f"{where}: the two sets of rows overlap")
    if first.size + second.size != n_rows:
        raise ValueError(
            f"{where}: the two sets of rows must together be all {n_rows} rows, "
            f"got {first.size} + {second.size}"
        )
