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

``bundled_uci`` reads the seven small datasets of that collection bundled in
``fastntk/data/uci`` (the demo's data).

``load_digits`` returns the 1797 8x8 images of handwritten digits bundled in
``fastntk/data/digits`` (the UCI "Optical Recognition of Handwritten Digits" test set, as
distributed with scikit-learn), as images for convolutional kernels or as flat rows.
"""

import gzip
import pathlib
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DigitsDataset",
    "UCIDataset",
    "bundled_uci",
    "bundled_uci_folders",
    "load_digits",
    "load_uci",
]


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
        Naming the file, when one is malformed: not UTF-8 text, a corrupt or truncated
        ``.gz`` file, a missing or non-integer description key, more than one data file, a
        ``fich1`` outside the folder, counts that the data file does not bear out (rows,
        columns, more classes than rows), a non-numeric value, a label that is not an integer
        or out of range, a row position out of range or repeated, or splits that are not
        disjoint or do not cover all rows.

    Examples
    --------
    >>> from fastntk.datasets import bundled_uci_folders, load_uci
    >>> iris = load_uci(bundled_uci_folders()[4])
    >>> iris
    UCIDataset(name='iris', n_samples=150, n_features=4, n_classes=3)
    >>> iris.train.size + iris.validation.size, len(iris.folds)
    (150, 4)
    """
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {str(folder)!r} does not exist")
    name = folder.name
    description = read_description(folder, name)
    if description["n_arquivos"] != 1:
        raise ValueError(
            f"{name}.txt: n_arquivos= {description['n_arquivos']}; only datasets in one data "
            "file are supported (those with a separate test file are not)"
        )
    X, y = _read_data(folder, name, description)
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


BUNDLED_UCI = pathlib.Path(__file__).parent / "data" / "uci"


def bundled_uci_folders():
    """The folders of the UCI datasets bundled with fastntk, sorted by name.

    Returns
    -------
    list of pathlib.Path
        The folders in ``fastntk/data/uci``, each readable by ``load_uci``.
    """
    return sorted(path for path in BUNDLED_UCI.iterdir() if path.is_dir())


def bundled_uci():
    """The seven UCI datasets bundled with fastntk (the data of ``python -m fastntk demo``).

    Returns
    -------
    list of UCIDataset
        ``load_uci`` of each folder of ``bundled_uci_folders()``, in that order.

    Examples
    --------
    >>> from fastntk.datasets import bundled_uci
    >>> for dataset in bundled_uci()[:3]:
    ...     print(dataset)
    UCIDataset(name='breast-cancer-wisc-diag', n_samples=569, n_features=30, n_classes=2)
    UCIDataset(name='conn-bench-sonar-mines-rocks', n_samples=208, n_features=60, n_classes=2)
    UCIDataset(name='glass', n_samples=214, n_features=9, n_classes=6)
    """
    return [load_uci(folder) for folder in bundled_uci_folders()]


def _open_text(path):
    """The text lines of ``path``, or of ``path.gz`` when only the compressed file exists.

    Raises ``FileNotFoundError`` when neither exists, and a ``ValueError`` naming the file when
    it is not UTF-8 text or not a whole gzip stream."""
    compressed = _compressed(path)
    if path.is_file():
        source, content = path, path.read_bytes()
    elif compressed.is_file():
        source = compressed
        try:
            with gzip.open(compressed, "rb") as stream:
                content = stream.read()
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ValueError(
                f"dataset file {str(compressed)!r} is not a valid gzip file (corrupt or "
                f"truncated: {error})"
            ) from None
    else:
        raise FileNotFoundError(f"dataset file {str(path)!r} (or {compressed.name}) does not exist")
    try:
        return content.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"dataset file {str(source)!r} line {line}: byte "
            f"0x{content[error.start]:02x} is not UTF-8 text"
        ) from None


def _compressed(path):
    return path.with_name(path.name + ".gz")


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
    folder), as a dict; counts converted to int and checked >= 1.

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` naming it when it
    cannot be read as text (see ``_open_text``), lacks a required key or has a count that is
    not a positive integer. The number of data files, ``n_arquivos``, is left to the caller:
    ``load_uci`` supports only one."""
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
    return description


def _read_data(folder, name, description):
    file_name = description["fich1"]
    n_features = description["n_entradas"]
    n_classes = description["n_clases"]
    n_rows = description["n_patrons1"]
    path = _data_file(folder, name, file_name)
    numbered = [(number, line) for number, line in enumerate(_open_text(path), 1) if line.strip()]
    rows = numbered[1:]  # the first line is the header
    if len(rows) != n_rows:
        raise ValueError(
            f"{file_name} has {len(rows)} data rows, but n_patrons1= {n_rows} in the description"
        )
    if n_classes > n_rows:
        raise ValueError(
            f"{name}.txt: n_clases= {n_classes} is more than the {n_rows} data rows of {file_name}"
        )
    table = [line.split() for _, line in rows]
    # Every row's width is checked before allocating, so that the array's size is bounded by
    # the file's and not by the description's n_entradas.
    for (number, _), fields in zip(rows, table, strict=True):
        if len(fields) != n_features + 2:
            raise ValueError(
                f"{file_name} line {number}: {len(fields)} fields, expected {n_features + 2} "
                f"(row number, n_entradas= {n_features} features, class)"
            )
    values = np.empty((n_rows, n_features + 2))
    for index, ((number, line), fields) in enumerate(zip(rows, table, strict=True)):
        try:
            values[index] = [float(field) for field in fields]
        except ValueError:
            raise ValueError(
                f"{file_name} line {number}: non-numeric value in {line.strip()!r}"
            ) from None
    if not np.isfinite(values).all():
        raise ValueError(f"{file_name} contains NaN or infinity")
    labels = values[:, -1]
    fractional = labels != np.round(labels)
    if fractional.any():
        index = int(np.argmax(fractional))
        raise ValueError(
            f"{file_name} line {rows[index][0]}: class labels must be integers, "
            f"got {float(labels[index])!r}"
        )
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        index = int(np.argmax(outside))
        raise ValueError(
            f"{file_name} line {rows[index][0]}: class labels must be 0 .. {n_classes - 1} "
            f"(n_clases= {n_classes}), got {int(labels[index])}"
        )
    return np.ascontiguousarray(values[:, 1:-1]), labels.astype(np.int64)


def _data_file(folder, name, file_name):
    """``folder / file_name``, after checking that neither it nor its ``.gz`` form resolves
    outside ``folder``: the description is data, and the error messages quote the file."""
    path = folder / file_name
    inside = folder.resolve()
    for candidate in (path, _compressed(path)):
        if inside not in candidate.resolve().parents:
            raise ValueError(
                f"{name}.txt: fich1= {file_name!r} does not name a file inside the dataset "
                f"folder {str(folder)!r} (it resolves to {str(candidate.resolve())!r})"
            )
    return path


def _read_index_lines(path, n_lines, n_rows):
    """``n_lines`` arrays of 0-based row positions, one per non-empty line of ``path``."""
    lines = [line for line in _open_text(path) if line.strip()]
    if len(lines) != n_lines:
        raise ValueError(f"{path.name} has {len(lines)} lines of row positions, expected {n_lines}")
    arrays = []
    for number, line in enumerate(lines, start=1):
        try:
            values = [int(field) for field in line.split()]
        except ValueError:
            raise ValueError(f"{path.name} line {number}: row positions must be integers") from None
        # Checked on Python ints, before the conversion to int64 that a huge one would overflow.
        if min(values) < 0 or max(values) >= n_rows:
            raise ValueError(
                f"{path.name} line {number}: row positions must be in 0 .. {n_rows - 1}, got "
                f"{min(values)} .. {max(values)}"
            )
        positions = np.array(values, dtype=np.int64)
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


DIGITS_FILE = pathlib.Path(__file__).parent / "data" / "digits" / "digits.npz"

#: The largest grey level of the digits' pixels (the ink pixels counted in a 4x4 block).
DIGITS_MAX_GREY_LEVEL = 16


@dataclass(frozen=True, eq=False)
class DigitsDataset:
    """The bundled 8x8 handwritten digits.

    Attributes
    ----------
    X : ndarray float64, the pixels divided by 16 (in [0, 1]); shape (1797, 8, 8, 1) as
        images (height, width, one channel last) or (1797, 64) as rows (each image's pixels
        row by row)
    y : ndarray (1797,) int64, the digit shown, ``0 .. 9``
    n_classes : int, 10
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int

    def __repr__(self):
        return (
            f"DigitsDataset(n_samples={self.X.shape[0]}, X.shape={self.X.shape}, "
            f"n_classes={self.n_classes})"
        )


def load_digits(*, images=True):
    """The 1797 8x8 images of handwritten digits bundled with fastntk.

    Parameters
    ----------
    images : bool, default True
        Whether ``X`` holds images, shape (1797, 8, 8, 1) channels-last (for convolutional
        kernels), or flat rows, shape (1797, 64) (for fully-connected and classic kernels);
        the rows are the images' pixels in row-major order, ``X_rows[i] ==
        X_images[i].ravel()``.

    Returns
    -------
    DigitsDataset
        ``X`` float64, each pixel's grey level ``0 .. 16`` divided by 16, so in [0, 1];
        ``y`` int64, the digits ``0 .. 9`` (each shown by 174 to 183 images);
        ``n_classes`` 10. The order is scikit-learn's.

    Notes
    -----
    The images are the test set of the UCI Machine Learning Repository's "Optical
    Recognition of Handwritten Digits" dataset (E. Alpaydin and C. Kaynak, 1998): 32x32
    bitmaps of digits written by 13 people, with the ink pixels of each non-overlapping 4x4
    block counted. They are the data of scikit-learn's ``sklearn.datasets.load_digits``,
    read from it and stored as uint8 in ``fastntk/data/digits/digits.npz``; scikit-learn is
    not needed to load them. The UCI repository licenses the dataset CC BY 4.0 and
    scikit-learn redistributes it under its BSD 3-Clause License;
    ``fastntk/data/digits/README.md`` gives the source, the references and the license text.

    Examples
    --------
    >>> from fastntk.datasets import load_digits
    >>> load_digits()
    DigitsDataset(n_samples=1797, X.shape=(1797, 8, 8, 1), n_classes=10)
    >>> load_digits(images=False).X.shape
    (1797, 64)
    """
    with np.load(DIGITS_FILE, allow_pickle=False) as archive:
        pixels = archive["pixels"]
        labels = archive["labels"]
    X = pixels.astype(np.float64) / DIGITS_MAX_GREY_LEVEL
    X = X[..., np.newaxis] if images else X.reshape(X.shape[0], -1)
    y = labels.astype(np.int64)
    return DigitsDataset(X=X, y=y, n_classes=int(y.max()) + 1)
