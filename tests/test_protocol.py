"""The UCI benchmark protocol and the command line (``python -m fastntk demo`` / ``benchmark``).

The protocol's choice, made from one eigendecomposition per kernel, is checked against a brute
force over the same grid with one ``KernelClassifier`` fit per (kernel, alpha)."""

import csv
import gzip
import shutil

import numpy as np
import pytest

import fastntk as fk
from fastntk import __main__ as cli
from fastntk import protocol
from fastntk.datasets import bundled_uci_folders, load_uci

BUNDLED = {folder.name: folder for folder in bundled_uci_folders()}


def brute_force_choice(dataset, family, alphas):
    best = (-1.0, None, None)
    X, y = dataset.X, dataset.y
    for kernel in protocol.candidate_kernels(family, X.shape[1]):
        for alpha in alphas:
            model = fk.KernelClassifier(kernel, alpha=alpha, relative_alpha=True)
            accuracy = model.fit(X[dataset.train], y[dataset.train]).score(
                X[dataset.validation], y[dataset.validation]
            )
            if accuracy > best[0] + 1e-12:
                best = (accuracy, kernel, alpha)
    return best


@pytest.mark.parametrize("family", ["linear", "gaussian", "ntk"])
def test_choice_equals_brute_force_over_the_grid(family):
    dataset = load_uci(BUNDLED["iris"])
    alphas = (1.0, 1e-2, 1e-4)
    result = protocol.evaluate(dataset, family, alphas=alphas)
    accuracy, kernel, alpha = brute_force_choice(dataset, family, alphas)
    assert result.val_accuracy == pytest.approx(100 * accuracy)
    assert (result.kernel, result.alpha) == (kernel, alpha)
    tests = []
    for train, test in dataset.folds:
        model = fk.KernelClassifier(kernel, alpha=alpha, relative_alpha=True)
        tests.append(
            model.fit(dataset.X[train], dataset.y[train]).score(dataset.X[test], dataset.y[test])
        )
    assert result.test_accuracy == pytest.approx(100 * np.mean(tests))


def test_candidate_grids():
    assert len(protocol.candidate_kernels("ntk", 8)) == 15 * len(protocol.BIAS_STDS)
    assert all(k.frozen < k.depth for k in protocol.candidate_kernels("ntk", 8))
    nngps = protocol.candidate_kernels("nngp", 8)
    assert [k.depth for k in nngps] == [1, 2, 3, 4, 5] * len(protocol.BIAS_STDS)
    assert protocol.candidate_kernels("gaussian", 4)[2] == fk.Gaussian(lengthscale=2.0)
    with pytest.raises(ValueError, match="unknown kernel family"):
        protocol.candidate_kernels("rbf", 4)


def test_bundled_datasets_are_small_and_load():
    assert len(BUNDLED) >= 5
    total = sum(path.stat().st_size for folder in BUNDLED.values() for path in folder.iterdir())
    assert total < 1_000_000
    for folder in BUNDLED.values():
        dataset = load_uci(folder)
        assert len(dataset.folds) == 4 and dataset.X.shape[0] <= 1000


def _collection(tmp_path):
    """A directory with two bundled datasets, one with a second data file, one too large."""
    for name in ("iris", "wine"):
        shutil.copytree(BUNDLED[name], tmp_path / name)
    two_files = tmp_path / "two-files"
    shutil.copytree(BUNDLED["glass"], two_files)
    (two_files / "glass.txt.gz").rename(two_files / "two-files.txt.gz")
    with gzip.open(two_files / "two-files.txt.gz", "rt") as file:
        text = file.read().replace("n_arquivos= 1", "n_arquivos= 2")
    with gzip.open(two_files / "two-files.txt.gz", "wt") as file:
        file.write(text)
    shutil.copytree(BUNDLED["pima"], tmp_path / "pima")  # 768 rows: over --max-samples 500
    (tmp_path / "published.csv").write_text(
        "dataset,fd_rf_caret,fd_svm_C\niris,96.0,96.6\nwine,98.9,98.3\npima,76.3,78.3\n"
    )
    return tmp_path


def test_benchmark_command(tmp_path, capsys):
    data = _collection(tmp_path / "data")
    out = tmp_path / "results.csv"
    argv = [
        "benchmark",
        "--data",
        str(data),
        "--max-samples",
        "500",
        "--kernels",
        "linear,polynomial",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("skipped two-files") for line in printed)
    assert any(line.startswith("skipped pima: more than 500") for line in printed)
    with open(out, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(cli.CSV_COLUMNS)
    assert sorted({row["dataset"] for row in rows}) == ["iris", "wine"]
    assert sorted({row["kernel"] for row in rows}) == ["linear", "polynomial"]
    for family in ("linear", "polynomial"):
        mean = np.mean([float(row["test_accuracy"]) for row in rows if row["kernel"] == family])
        line = next(line for line in printed if line.startswith(f"mean accuracy {family}: "))
        assert float(line.split(": ")[1]) == pytest.approx(mean, abs=0.01)
    assert printed[-2].startswith("mean accuracy linear: ")
    assert printed[-1].startswith("mean accuracy polynomial: ")
    published = next(line for line in printed if "random forest" in line)
    assert published.endswith(f"{np.mean([96.0, 98.9]):.2f}")


def test_benchmark_command_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="not a directory"):
        cli.main(["benchmark", "--data", str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="unknown kernel"):
        cli.main(["benchmark", "--data", str(tmp_path), "--kernels", "rbf"])
    with pytest.raises(SystemExit, match="no dataset folder"):
        cli.main(["benchmark", "--data", str(tmp_path)])


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_worker_processes_give_the_results_of_one_process():
    """Two spawned workers, the pairs handed out costliest first, against the same pairs in
    this process in order: the same choices and accuracies, every pair once."""
    datasets = [load_uci(BUNDLED[name]) for name in ("iris", "wine")]
    pairs = [(dataset, family) for dataset in datasets for family in ("linear", "gaussian")]
    alone = {(r.dataset, r.family): r for r in protocol.evaluate_all(pairs, jobs=1)}
    shared = list(protocol.evaluate_all(pairs, jobs=2))
    assert sorted((r.dataset, r.family) for r in shared) == sorted(alone)
    for result in shared:
        expected = alone[result.dataset, result.family]
        assert (result.kernel, result.alpha) == (expected.kernel, expected.alpha)
        assert result.val_accuracy == expected.val_accuracy
        assert result.test_accuracy == expected.test_accuracy
        assert result.seconds > 0


def test_benchmark_resumes_from_its_csv(tmp_path, capsys, monkeypatch):
    """An interrupted run keeps every pair it finished; the next run with the same --out runs
    only the others and writes them all, the earlier rows unchanged."""
    data = tmp_path / "data"
    for name in ("iris", "wine"):
        shutil.copytree(BUNDLED[name], data / name)
    out = tmp_path / "results.csv"
    argv = ["benchmark", "--data", str(data), "--kernels", "linear,gaussian", "--out", str(out)]
    argv += ["--jobs", "1"]
    evaluate = protocol.evaluate
    calls = []

    def interrupted_after_three(dataset, family, **options):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append((dataset.name, family))
        return evaluate(dataset, family, **options)

    monkeypatch.setattr(protocol, "evaluate", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        cli.main(argv)
    first = _rows(out)
    assert [(row["dataset"], row["kernel"]) for row in first] == calls
    assert all(float(row["seconds"]) > 0 for row in first)

    calls.clear()
    monkeypatch.setattr(protocol, "evaluate", lambda *a, **o: calls.append(a) or evaluate(*a, **o))
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "1 dataset(s) already in" in printed[0]
    assert [(dataset.name, family) for dataset, family in calls] == [("wine", "gaussian")]
    second = _rows(out)
    assert second[:3] == first
    assert [(row["dataset"], row["kernel"]) for row in second][3:] == [("wine", "gaussian")]
    for family in ("linear", "gaussian"):
        total = sum(float(row["seconds"]) for row in second if row["kernel"] == family)
        line = next(line for line in printed if line.startswith(f"time {family}: "))
        assert float(line.split(": ")[1].removesuffix(" s")) == pytest.approx(total, abs=0.1)

    capsys.readouterr()
    calls.clear()
    assert cli.main(argv) == 0
    assert calls == [] and _rows(out) == second


def test_benchmark_refuses_an_out_file_that_is_not_its_csv(tmp_path):
    shutil.copytree(BUNDLED["iris"], tmp_path / "data" / "iris")
    out = tmp_path / "notes.csv"
    out.write_text("name,value\na,1\n")
    argv = ["benchmark", "--data", str(tmp_path / "data"), "--kernels", "linear"]
    with pytest.raises(SystemExit, match="not a results file of this command"):
        cli.main([*argv, "--out", str(out)])
    assert out.read_text() == "name,value\na,1\n"
    header = ",".join(cli.CSV_COLUMNS)
    out.write_text(f"{header}\niris,150,4,3,linear,x,90.0,not-a-number,1.0\n")
    with pytest.raises(SystemExit, match="line 2"):
        cli.main([*argv, "--out", str(out)])


def test_one_compile_task_per_compiled_kernel_signature():
    """Worker processes first compile one kernel per compiled signature: the network families
    share theirs (NNGP and NTK, any depth), and each classic family has its own."""
    datasets = [load_uci(BUNDLED[name]) for name in ("iris", "wine")]
    pairs = [(dataset, family) for dataset in datasets for family in protocol.FAMILIES]
    tasks = protocol._compile_tasks(pairs)
    assert [type(kernel).__name__ for kernel, _ in tasks] == [
        "NTK",
        "Gaussian",
        "Polynomial",
        "Linear",
    ]
