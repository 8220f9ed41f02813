"""Synthetic stand-ins for the largest datasets of the UCI small-data benchmark.

Arora et al.'s 90 datasets include six of 4177-5000 rows, which dominate the benchmark's time.
Five of them are not among the sample datasets a checkout may have; this script writes
datasets of their sizes (rows, features, classes) in the collection's layout
(``fastntk.datasets.load_uci``), so the benchmark can be timed on inputs of the real sizes:

    python scripts/synthetic_uci.py OUT [--with SAMPLE_DIR]
    python -m fastntk benchmark --data OUT

Each class is a Gaussian blob with its own random mean and a shared random covariance, under
a nonlinear warp; the features are then standardised, as in the collection. The stand-ins are
for timing only: most of them are nearly separable, so their accuracies say nothing.
``conxuntos.dat`` splits the rows in half at random, and ``conxuntos_kfold.dat`` holds four
random 75/25 train/test splits. ``--with`` also links every dataset folder of ``SAMPLE_DIR``
into ``OUT``.
"""

import argparse
import pathlib

import numpy as np

#: (name, rows, features, classes) of the large datasets the stand-ins imitate.
LARGE_DATASETS = (
    ("bank", 4521, 16, 2),
    ("spambase", 4601, 57, 2),
    ("waveform", 5000, 21, 3),
    ("waveform-noise", 5000, 40, 3),
    ("wine-quality-white", 4898, 11, 7),
)


def features_and_labels(rng, n, d, classes):
    labels = rng.integers(0, classes, size=n)
    means = rng.standard_normal((classes, d)) * 0.8
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    X = means[labels] + rng.standard_normal((n, d)) @ mixing
    X = X + 0.5 * np.sin(2.0 * X[:, np.roll(np.arange(d), 1)])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, labels


def write_dataset(folder, name, rng, n, d, classes):
    folder.mkdir(parents=True, exist_ok=True)
    X, labels = features_and_labels(rng, n, d, classes)
    train_rows = (n + 1) // 2
    description = {
        "n_entradas": d,
        "n_clases": classes,
        "n_arquivos": 1,
        "fich1": f"{name}_R.dat",
        "n_patrons1": n,
        "n_patrons_entrena": train_rows,
        "n_patrons_valida": n - train_rows,
        "n_conxuntos": 1,
    }
    (folder / f"{name}.txt").write_text("".join(f"{k}= {v}\n" for k, v in description.items()))
    header = "\t" + "\t".join(f"f{k + 1}" for k in range(d)) + "\tclase\n"
    with open(folder / f"{name}_R.dat", "w") as file:
        file.write(header)
        for row, (features, label) in enumerate(zip(X, labels, strict=True), start=1):
            file.write(f"{row}\t" + "\t".join(f"{v:.6g}" for v in features) + f"\t{label}\n")
    order = rng.permutation(n)
    split = [order[:train_rows], order[train_rows:]]
    (folder / "conxuntos.dat").write_text("".join(_line(rows) for rows in split))
    lines = []
    for _ in range(4):
        test = np.sort(rng.permutation(n)[: n // 4])
        train = np.setdiff1d(np.arange(n), test)
        lines += [_line(train), _line(test)]
    (folder / "conxuntos_kfold.dat").write_text("".join(lines))


def _line(rows):
    return " ".join(str(int(r)) for r in rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="directory to write the dataset folders into")
    parser.add_argument("--with", dest="sample", help="also link the dataset folders of this one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for name, n, d, classes in LARGE_DATASETS:
        standin = f"synthetic-{name}"
        write_dataset(out / standin, standin, rng, n, d, classes)
        print(f"wrote {out / standin} ({n} x {d}, {classes} classes)")
    if args.sample:
        for folder in sorted(pathlib.Path(args.sample).iterdir()):
            link = out / folder.name
            if folder.is_dir() and not link.exists():
                link.symlink_to(folder.resolve(), target_is_directory=True)
                print(f"linked {link}")


if __name__ == "__main__":
    main()
