"""Command line: ``python -m fastntk demo`` and ``python -m fastntk benchmark --data DIR``.

``demo`` runs the small-data benchmark protocol of Arora et al. (ICLR 2020,
``fastntk.protocol``) on the UCI datasets bundled with fastntk, for the linear, polynomial,
Gaussian, NNGP and NTK kernels, and prints the test accuracy of each, their means and the time.

``benchmark`` runs the same protocol on every dataset folder of a directory laid out as the
Fernandez-Delgado collection (those with a single data file and at most ``--max-samples``
rows, as Arora et al.), writes a CSV, and ends with one line per kernel family,
``mean accuracy <family>: <value>``. A malformed dataset folder is skipped with its name and
what is wrong; the others still run, and the exit status is then 1.
"""

import argparse
import csv
import os
import pathlib
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import config, protocol
from .datasets import bundled_uci, load_uci, read_description
from .engine import progress_bar

CSV_COLUMNS = (
    "dataset",
    "n_samples",
    "n_features",
    "n_classes",
    "kernel",
    "params",
    "val_accuracy",
    "test_accuracy",
    "seconds",
)


@dataclass(frozen=True)
class RecordedResult:
    """One row of a results CSV written by an earlier run (``--out``), read back to resume."""

    dataset: str
    n_samples: int
    n_features: int
    n_classes: int
    family: str
    params: str
    val_accuracy: float
    test_accuracy: float
    seconds: float


def run_protocol(
    datasets, families, *, recorded=None, progress=False, threads=None, jobs=1, on_result=None
):
    """Results of every family on every ``UCIDataset``, as ``{dataset: {family: Result}}``.

    The (dataset, family) pairs already in ``recorded`` (results of an earlier run, in the
    same form, updated in place) are not run again; the others run in ``jobs`` worker
    processes (``protocol.evaluate_all``), and ``on_result(recorded)`` is called after each.
    """
    recorded = {} if recorded is None else recorded
    pairs = [
        (dataset, family)
        for dataset in datasets
        for family in families
        if family not in recorded.get(dataset.name, {})
    ]
    with progress_bar(progress, len(pairs), "fit", desc="protocol") as bar:
        for result in protocol.evaluate_all(pairs, jobs=jobs, threads=threads):
            recorded.setdefault(result.dataset, {})[result.family] = result
            bar.set_description(f"{result.dataset} {result.family}")
            bar.update(1)
            if on_result is not None:
                on_result(recorded)
    return {
        dataset.name: {family: recorded[dataset.name][family] for family in families}
        for dataset in datasets
    }


def print_table(results, families):
    width = max([len("dataset"), *(len(name) for name in results)])
    print(f"{'dataset':<{width}} {'n':>5} " + " ".join(f"{f:>10}" for f in families))
    for name, by_family in results.items():
        n = next(iter(by_family.values())).n_samples
        cells = " ".join(f"{by_family[f].test_accuracy:>10.2f}" for f in families)
        print(f"{name:<{width}} {n:>5} {cells}")
    means = " ".join(f"{mean_accuracy(results, f):>10.2f}" for f in families)
    print(f"{'mean':<{width}} {'':>5} {means}")


def mean_accuracy(results, family):
    return float(np.mean([by_family[family].test_accuracy for by_family in results.values()]))


def demo(jobs):
    start = time.perf_counter()
    families = protocol.FAMILIES
    print(
        "Arora et al.'s small-data protocol on the bundled UCI datasets: hyper-parameters "
        "chosen on the validation split,\ntest accuracy (%) = mean over the four train/test "
        "splits; classifier: kernel regression on one-hot targets."
    )
    datasets = bundled_uci()
    results = run_protocol(datasets, families, jobs=jobs)
    print_table(results, families)
    print(f"time: {time.perf_counter() - start:.1f} s (including compilation on first use)")


def benchmark(args):
    """Run the ``benchmark`` command; returns the exit status, 1 when a dataset was malformed.

    Raises ``SystemExit`` with a message when ``--data`` is not a directory, a kernel is
    unknown, no folder qualifies or none of those that do can be read."""
    start = time.perf_counter()
    data = pathlib.Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"--data {str(data)!r} is not a directory")
    families = _parse_families(args.kernels)
    folders, skipped, malformed = _selected_folders(data, args.max_samples)
    for name, reason in skipped + malformed:
        print(f"skipped {name}: {reason}")
    if not folders and not malformed:
        raise SystemExit(f"no dataset folder in {str(data)!r} qualifies")
    datasets = []
    for folder in folders:
        try:
            datasets.append(load_uci(folder))
        except (FileNotFoundError, ValueError) as error:
            print(f"skipped {folder.name}: {error}")
            malformed.append((folder.name, str(error)))
    if not datasets:
        raise SystemExit(f"no dataset folder in {str(data)!r} could be read")
    recorded = _read_csv(args.out) if args.out else {}
    done = sum(
        all(family in recorded.get(dataset.name, {}) for family in families) for dataset in datasets
    )
    if done:
        print(f"{done} dataset(s) already in {args.out}: not run again")
    results = run_protocol(
        datasets,
        families,
        recorded=recorded,
        progress=True,
        threads=args.threads,
        jobs=args.jobs,
        on_result=(lambda everything: _write_csv(everything, args.out)) if args.out else None,
    )
    print_table(results, families)
    if args.out:
        print(f"wrote {args.out}")
    if args.plot:
        _plot(results, args.plot)
        print(f"wrote {args.plot}")
    _print_published(data / "published.csv", results)
    print(f"{len(results)} datasets in {time.perf_counter() - start:.1f} s")
    for family in families:
        seconds = sum(by_family[family].seconds for by_family in results.values())
        print(f"time {family}: {seconds:.1f} s")
    for family in families:
        print(f"mean accuracy {family}: {mean_accuracy(results, family):.2f}")
    if malformed:
        names = ", ".join(name for name, _ in malformed)
        print(
            f"error: {len(malformed)} malformed dataset folder(s) skipped: {names}", file=sys.stderr
        )
        return 1
    return 0


def _parse_families(text):
    families = [f.strip() for f in text.split(",") if f.strip()] if text else protocol.FAMILIES
    for family in families:
        if family not in protocol.FAMILIES:
            raise SystemExit(
                f"unknown kernel {family!r}; choose from {', '.join(protocol.FAMILIES)}"
            )
    return tuple(families)


def _selected_folders(data, max_samples):
    """Dataset folders with one data file and at most ``max_samples`` rows (Arora et al.), as
    ``(selected, skipped, malformed)``: ``skipped`` and ``malformed`` are ``(name, reason)``
    pairs, ``skipped`` for folders without a description or out of the selection,
    ``malformed`` for those whose description cannot be read."""
    selected, skipped, malformed = [], [], []
    for folder in sorted(path for path in data.iterdir() if path.is_dir()):
        try:
            description = read_description(folder, folder.name)
        except FileNotFoundError as error:
            skipped.append((folder.name, str(error)))
            continue
        except ValueError as error:
            malformed.append((folder.name, str(error)))
            continue
        if description["n_arquivos"] != 1:
            skipped.append(
                (folder.name, f"n_arquivos= {description['n_arquivos']}: more than one data file")
            )
        elif description["n_patrons1"] > max_samples:
            skipped.append((folder.name, f"more than {max_samples} samples"))
        else:
            selected.append(folder)
    return selected, skipped, malformed


def _write_csv(results, path):
    """Every result of ``results`` (``{dataset: {family: result}}``), datasets by name and
    families in ``protocol.FAMILIES`` order, written to a temporary file that then replaces
    ``path``: an interrupted write leaves the previous file whole."""
    temporary = pathlib.Path(f"{path}.partial")
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        for name in sorted(results):
            by_family = results[name]
            for family in sorted(by_family, key=protocol.FAMILIES.index):
                result = by_family[family]
                writer.writerow(
                    [
                        result.dataset,
                        result.n_samples,
                        result.n_features,
                        result.n_classes,
                        result.family,
                        result.params,
                        f"{result.val_accuracy:.4f}",
                        f"{result.test_accuracy:.4f}",
                        f"{result.seconds:.3f}",
                    ]
                )
    os.replace(temporary, path)


def _read_csv(path):
    """The results of an earlier run's CSV at ``path`` as ``{dataset: {family:
    RecordedResult}}``; empty when there is no file. A file that is not such a CSV is a
    ``SystemExit``, so it is never overwritten."""
    if not pathlib.Path(path).exists():
        return {}
    recorded = {}
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise SystemExit(
                f"--out {path!r} exists and is not a results file of this command (columns "
                f"{', '.join(CSV_COLUMNS)}); move it away or choose another name"
            )
        try:
            for row in reader:
                if row["kernel"] not in protocol.FAMILIES:
                    raise ValueError(f"unknown kernel family {row['kernel']!r}")
                record = RecordedResult(
                    dataset=row["dataset"],
                    n_samples=int(row["n_samples"]),
                    n_features=int(row["n_features"]),
                    n_classes=int(row["n_classes"]),
                    family=row["kernel"],
                    params=row["params"],
                    val_accuracy=float(row["val_accuracy"]),
                    test_accuracy=float(row["test_accuracy"]),
                    seconds=float(row["seconds"]),
                )
                recorded.setdefault(record.dataset, {})[record.family] = record
        except (TypeError, ValueError) as error:
            raise SystemExit(
                f"--out {path!r}, line {reader.line_num}: {error}; move it away or choose "
                "another name"
            ) from None
    return recorded


def _plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, by_family in results.items() if "ntk" in by_family]
    others = [f for f in protocol.FAMILIES if f != "ntk"]
    ntk = [results[name]["ntk"].test_accuracy for name in names]
    best_other = [
        max(results[name][f].test_accuracy for f in others if f in results[name]) for name in names
    ]
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(best_other, ntk, s=16)
    low = min(ntk + best_other) - 2
    axes.plot([low, 100], [low, 100], color="gray", linewidth=0.8)
    axes.set_xlabel("best other kernel: test accuracy (%)")
    axes.set_ylabel("NTK: test accuracy (%)")
    axes.set_title(f"{len(names)} UCI datasets")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _print_published(path, results):
    """Published accuracies (random forest, Gaussian SVM) for the datasets that ran, when the
    collection has a ``published.csv`` (columns ``dataset``, ``fd_rf_caret``, ``fd_svm_C``)."""
    if not path.exists():
        return
    with open(path, newline="") as file:
        rows = {row["dataset"]: row for row in csv.DictReader(file)}
    names = [name for name in results if name in rows]
    if not names:
        return
    for column, label in (("fd_rf_caret", "random forest"), ("fd_svm_C", "Gaussian SVM")):
        values = [float(rows[name][column]) for name in names if rows[name].get(column)]
        if len(values) == len(names):
            print(
                f"published {label} ({column}) on these {len(names)} datasets: "
                f"{np.mean(values):.2f}"
            )


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _writable_file(text):
    """``text``, once it is known that a file can be written there: checked while parsing the
    arguments, because the results are written only at the end of a long run."""
    path = pathlib.Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: folder {str(folder)!r} does not exist")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK | os.X_OK)
    if not writable:
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text


def _plot_file(text):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise argparse.ArgumentTypeError("needs matplotlib: pip install matplotlib") from None
    return _writable_file(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastntk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="run the benchmark protocol on the bundled UCI datasets"
    )
    bench = commands.add_parser("benchmark", help="run the protocol on a directory of datasets")
    bench.add_argument("--data", required=True, help="directory of dataset folders")
    bench.add_argument("--max-samples", type=_positive_int, default=5000)
    bench.add_argument("--kernels", help=f"comma-separated subset of {','.join(protocol.FAMILIES)}")
    bench.add_argument("--out", type=_writable_file, help="CSV file of the results")
    bench.add_argument(
        "--plot", type=_plot_file, help="PNG of NTK against the best other kernel (matplotlib)"
    )
    bench.add_argument(
        "--threads",
        type=_positive_int,
        help="Gram and LAPACK threads of each job, >= 1 (default: the CPUs shared out)",
    )
    for command in (demo_parser, bench):
        command.add_argument(
            "--jobs",
            type=_positive_int,
            default=config.usable_cpus(),
            help="(dataset, kernel family) pairs run at once, each in its own process "
            "(default: all CPUs)",
        )
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.jobs)
        return 0
    return benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
