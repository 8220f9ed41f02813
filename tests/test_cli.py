"""The command line's handling of bad input: ``python -m fastntk benchmark`` refuses bad
arguments while parsing them (exit status 2 and the usage), before any dataset is read, and
skips a malformed dataset folder with its name and what is wrong, runs the others and exits 1.
The command on good input is tested in test_protocol.py."""

import csv
import gzip
import os
import shutil
import subprocess
import sys
import types

import pytest

from fastntk import __main__ as cli
from fastntk.datasets import bundled_uci_folders

IRIS = next(folder for folder in bundled_uci_folders() if folder.name == "iris")


def iris_as(folder):
    """A copy of the bundled iris dataset under ``folder`` (whose name is the dataset's)."""
    shutil.copytree(IRIS, folder)
    (folder / "iris.txt.gz").rename(folder / f"{folder.name}.txt.gz")
    return folder


def rewrite(path, change):
    """Apply ``change`` to the text of the gzip file ``path``."""
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()).decode()).encode()))


def assert_usage_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any dataset was read or skipped
    assert captured.err.startswith("usage: python -m fastntk benchmark")
    for fragment in fragments:
        assert fragment in captured.err


@pytest.mark.parametrize("option", ["--threads", "--max-samples"])
@pytest.mark.parametrize("value", ["0", "-1", "-16", "two", "1.5", ""])
def test_count_options_must_be_positive_integers(tmp_path, capsys, option, value):
    iris_as(tmp_path / "iris")
    argv = ["benchmark", "--data", str(tmp_path), "--kernels", "linear", option, value]
    assert_usage_error(capsys, argv, f"argument {option}: ")


def test_bad_threads_from_the_real_command_line(tmp_path):
    command = [sys.executable, "-m", "fastntk", "benchmark", "--data", str(tmp_path)]
    finished = subprocess.run([*command, "--threads", "0"], capture_output=True, text=True)
    assert finished.returncode == 2
    assert "argument --threads: must be >= 1, got 0" in finished.stderr
    assert "Traceback" not in finished.stderr


def _missing_folder(tmp_path):
    return tmp_path / "no-such-folder" / "results"


def _folder_is_a_file(tmp_path):
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file" / "results"


def _a_directory(tmp_path):
    (tmp_path / "a-directory").mkdir()
    return tmp_path / "a-directory"


def _read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):
        pytest.skip("a read-only folder is writable by this user (root)")
    return folder / "results"


def _read_only_file(tmp_path):
    path = tmp_path / "read-only-results"
    path.write_text("")
    path.chmod(0o400)
    if os.access(path, os.W_OK):
        pytest.skip("a read-only file is writable by this user (root)")
    return path


UNWRITABLE = {
    "missing folder": (_missing_folder, "does not exist"),
    "folder is a file": (_folder_is_a_file, "does not exist"),
    "a directory": (_a_directory, "is a directory"),
    "read-only folder": (_read_only_folder, "is not writable"),
    "read-only file": (_read_only_file, "is not writable"),
}


@pytest.mark.parametrize("option", ["--out", "--plot"])
@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_output_is_refused_before_the_run(tmp_path, capsys, monkeypatch, option, case):
    # Stands in for matplotlib, so that --plot's path is what gets checked, installed or not.
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    make_path, message = UNWRITABLE[case]
    path = make_path(tmp_path)
    data = tmp_path / "data"
    iris_as(data / "iris")
    argv = ["benchmark", "--data", str(data), "--kernels", "linear", option, str(path)]
    assert_usage_error(capsys, argv, f"argument {option}: ", str(path), message)


def test_plot_without_matplotlib_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    iris_as(tmp_path / "iris")
    argv = ["benchmark", "--data", str(tmp_path), "--plot", str(tmp_path / "plot.png")]
    assert_usage_error(capsys, argv, "argument --plot: needs matplotlib")


def _truncated_data(folder):
    path = folder / "iris_R.dat.gz"
    path.write_bytes(path.read_bytes()[:200])
    return path.name


def _latin1_description(folder):
    path = folder / f"{folder.name}.txt.gz"
    path.write_bytes(gzip.compress(b"n_entradas= 4 caract\xe9ristiques\n"))
    return path.name


def _escaping_fich1(folder):
    rewrite(
        folder / f"{folder.name}.txt.gz",
        lambda text: text.replace("fich1= iris_R.dat", "fich1= ../good/iris_R.dat"),
    )
    return "fich1="


def _fractional_label(folder):
    rewrite(folder / "iris_R.dat.gz", lambda text: text.replace("\t0\n", "\t0.5\n", 1))
    return "class labels must be integers, got 0.5"


def _missing_splits(folder):
    (folder / "conxuntos.dat.gz").unlink()
    return "conxuntos.dat"


def _overlapping_folds(folder):
    rewrite(folder / "conxuntos_kfold.dat.gz", lambda text: text.replace("\n", " 0\n", 2))
    return "conxuntos_kfold.dat line"


MALFORMED = {
    "truncated-data": _truncated_data,
    "latin1-description": _latin1_description,
    "escaping-fich1": _escaping_fich1,
    "fractional-label": _fractional_label,
    "missing-splits": _missing_splits,
    "overlapping-folds": _overlapping_folds,
}


def test_malformed_datasets_are_skipped_and_the_others_run(tmp_path, capsys):
    data = tmp_path / "data"
    iris_as(data / "good")
    reasons = {name: breaks(iris_as(data / name)) for name, breaks in MALFORMED.items()}
    # Skipped but not malformed: a folder without a description, a dataset in two files.
    (data / "notes").mkdir()
    rewrite(
        iris_as(data / "two-files") / "two-files.txt.gz",
        lambda text: text.replace("n_arquivos= 1", "n_arquivos= 2"),
    )
    out = tmp_path / "results.csv"
    argv = ["benchmark", "--data", str(data), "--kernels", "linear", "--out", str(out)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    printed = captured.out.splitlines()
    for name, reason in reasons.items():
        line = next(line for line in printed if line.startswith(f"skipped {name}: "))
        assert reason in line
    assert any(line.startswith("skipped notes: ") for line in printed)
    assert "skipped two-files: n_arquivos= 2: more than one data file" in printed
    with open(out, newline="") as file:
        assert [row["dataset"] for row in csv.DictReader(file)] == ["good"]
    assert printed[-1].startswith("mean accuracy linear: ")
    summary = captured.err.splitlines()[-1]  # after the progress bar's lines
    prefix = f"error: {len(MALFORMED)} malformed dataset folder(s) skipped: "
    assert summary.startswith(prefix)
    assert sorted(summary.removeprefix(prefix).split(", ")) == sorted(MALFORMED)


def test_only_malformed_datasets_is_an_error(tmp_path, capsys):
    for name in ("truncated-data", "latin1-description"):
        MALFORMED[name](iris_as(tmp_path / name))
    with pytest.raises(SystemExit, match="could be read"):
        cli.main(["benchmark", "--data", str(tmp_path), "--kernels", "linear"])
    printed = capsys.readouterr().out
    assert "skipped truncated-data: " in printed and "skipped latin1-description: " in printed
