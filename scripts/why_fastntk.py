"""Measure fastntk against neural-tangents and scikit-learn, and write ``docs/why.md``.

    python scripts/why_fastntk.py --nt-python nt-venv/bin/python [--n 1000 4000] [--out PATH]

Every figure on the page comes from this run; the page says when and where it was measured.

Speed and memory
    ``K(X, X)`` for ``X`` of shape (n, 16), standard normal, float64, one kernel per child
    process (so that each peak memory is its own): fastntk's ``NTK(depth=3)`` and
    ``NNGP(depth=3)`` (ReLU, no biases) against neural-tangents' ``kernel_fn(X, X, get)`` of
    ``stax.serial(*[Dense(512, W_std=1, b_std=None), Relu()] * 3, Dense(1, ...))``, jitted, CPU,
    float64; fastntk's ``Gaussian``, ``Polynomial(degree=3)`` and ``Laplacian`` against
    scikit-learn's ``rbf_kernel``, ``polynomial_kernel`` and ``laplacian_kernel`` with the same
    parameters. A child computes the kernel once on 8 rows (compiling it: Numba or XLA), then
    once at n (the first call, which for neural-tangents includes compiling for that shape),
    then keeps the fastest of ``--repeats`` further calls. The 8-row call is timed too (first
    use), and for the smallest n once more with an empty Numba cache (``NUMBA_CACHE_DIR``): the
    first use after installing fastntk, which compiles. Its peak memory is the growth of
    the process's peak resident set from before the call at n to after the last, against the
    n x n float64 output itself.

Accuracy at the diagonal
    The same children return their matrices' diagonal and the entries of near-parallel pairs
    (row ``i`` against itself perturbed by 1e-7 relative). The diagonal of the ReLU NTK of
    depth L without biases is exactly ``(L + 1) |x|^2 / (d 2^L)``; the pairs are compared with
    the same recursion evaluated in 50-digit arithmetic (mpmath) from the float64 inputs. The
    page gives the largest relative error of each.

Installation
    A fresh virtual environment per library, installed by pip (from its cache, where the
    packages are in it): the wall time, the size of the environment on disk, the number of
    distributions installed, and the time to import the package in a fresh interpreter.
    fastntk is installed from this checkout (``pip install .``); neural-tangents with the pins
    its 0.6.5 release needs (``NT_REQUIREMENTS``); scikit-learn alone.

This file runs in two roles: as the measuring script (fastntk's environment) and, with
``--child``, as one measurement in the environment of the library measured. So at module level
it imports only the standard library and NumPy.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPOSITORY / "docs" / "why.md"
N_FEATURES = 16
DEPTH = 3
#: Relative perturbation of the near-parallel pairs.
PERTURBATION = 1e-7
N_PAIRS = 16
#: neural-tangents 0.6.5 with the releases it works with (its JAX needs NumPy < 2).
NT_REQUIREMENTS = (
    "neural-tangents==0.6.5",
    "jax==0.4.23",
    "jaxlib==0.4.23",
    "numpy==1.26.4",
    "scipy<1.13",
    "ml_dtypes==0.5.1",
    "tf2jax==0.3.6",
    "tensorflow==2.21.0",
    "frozendict==2.5.1",
)
#: ``(label, library, kernel)``: each fastntk kernel and its peer's.
PAIRS = (
    ("NTK, ReLU, depth 3", "neural-tangents", "ntk"),
    ("NNGP, ReLU, depth 3", "neural-tangents", "nngp"),
    ("Gaussian", "scikit-learn", "gaussian"),
    ("Polynomial, degree 3", "scikit-learn", "polynomial"),
    ("Laplacian", "scikit-learn", "laplacian"),
)
LENGTHSCALE = 4.0


def inputs(n):
    """``X`` (n, 16) and the near-parallel pairs' second rows (16, 16)."""
    X = np.random.default_rng(0).standard_normal((n, N_FEATURES))
    noise = np.random.default_rng(1).standard_normal((N_PAIRS, N_FEATURES))
    partners = X[:N_PAIRS] * (1 + PERTURBATION * noise)
    return X, partners


# --------------------------------------------------------------------------------------------
# One measurement (``--child``), in the environment of the library measured
# --------------------------------------------------------------------------------------------


def fastntk_function(kernel):
    import fastntk as fk

    kernels = {
        "ntk": fk.NTK(depth=DEPTH),
        "nngp": fk.NNGP(depth=DEPTH),
        "gaussian": fk.Gaussian(lengthscale=LENGTHSCALE),
        "polynomial": fk.Polynomial(degree=3, gamma=1.0 / N_FEATURES, coef0=1.0),
        "laplacian": fk.Laplacian(lengthscale=LENGTHSCALE),
    }
    return lambda X, Z=None: fk.gram(kernels[kernel], X, Z)


def neural_tangents_function(kernel):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    from neural_tangents import stax

    layers = [stax.Dense(512, W_std=1.0, b_std=None), stax.Relu()] * DEPTH
    _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.0, b_std=None))
    compiled = jax.jit(lambda X, Z: kernel_fn(X, Z, kernel))
    return lambda X, Z=None: np.asarray(compiled(X, X if Z is None else Z).block_until_ready())


def scikit_learn_function(kernel):
    from sklearn.metrics import pairwise

    functions = {
        "gaussian": lambda X, Z=None: pairwise.rbf_kernel(X, Z, gamma=0.5 / LENGTHSCALE**2),
        "polynomial": lambda X, Z=None: pairwise.polynomial_kernel(
            X, Z, degree=3, gamma=1.0 / N_FEATURES, coef0=1.0
        ),
        "laplacian": lambda X, Z=None: pairwise.laplacian_kernel(X, Z, gamma=1.0 / LENGTHSCALE),
    }
    return functions[kernel]


LIBRARIES = {
    "fastntk": fastntk_function,
    "neural-tangents": neural_tangents_function,
    "scikit-learn": scikit_learn_function,
}


def peak_resident_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kibibytes


def child(library, kernel, n, repeats):
    """Time and memory of one kernel at ``n``; the result as a JSON line on stdout."""
    function = LIBRARIES[library](kernel)
    X, partners = inputs(n)
    start = time.perf_counter()
    function(X[:8])  # compiles (fastntk: or loads from Numba's cache)
    first_use = time.perf_counter() - start
    before = peak_resident_bytes()
    start = time.perf_counter()
    K = function(X)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        del K
        start = time.perf_counter()
        K = function(X)
        best = min(best, time.perf_counter() - start)
    peak = peak_resident_bytes() - before
    pairs = np.diagonal(function(X[:N_PAIRS], partners))
    result = {
        "first_use_s": first_use,
        "first_s": first,
        "best_s": best,
        "peak_bytes": peak,
        "diagonal": np.diagonal(K).tolist(),
        "pairs": pairs.tolist(),
    }
    print(json.dumps(result))


# --------------------------------------------------------------------------------------------
# References of the accuracy figures
# --------------------------------------------------------------------------------------------


def exact_ntk_diagonal(X):
    """``(L + 1) |x|^2 / (d 2^L)``: ReLU halves the variance, ``Theta_{l+1} = Sigma_{l+1} +
    Theta_l / 2``; ``|x|^2`` summed exactly (``math.fsum``) and rounded once."""
    import math

    squared = np.array([math.fsum(value * value for value in row) for row in X])
    return (DEPTH + 1) * squared / (X.shape[1] * 2**DEPTH)


def precise_pairs(X, Z, kernel):
    """The ReLU NNGP or NTK of each pair ``(X[i], Z[i])``, to 50 digits (mpmath)."""
    import mpmath

    mpmath.mp.dps = 50
    values = []
    for x, z in zip(X, Z, strict=True):
        x, z = [mpmath.mpf(float(v)) for v in x], [mpmath.mpf(float(v)) for v in z]
        d = len(x)
        sxx = mpmath.fsum(a * a for a in x) / d
        szz = mpmath.fsum(a * a for a in z) / d
        sxz = mpmath.fsum(a * b for a, b in zip(x, z, strict=True)) / d
        theta_ntk = sxz
        for _ in range(DEPTH):
            root = mpmath.sqrt(sxx * szz)
            angle = mpmath.acos(max(-1, min(1, sxz / root)))
            derivative = (mpmath.pi - angle) / (2 * mpmath.pi)
            sxz = root * (mpmath.sin(angle) + (mpmath.pi - angle) * mpmath.cos(angle))
            sxz /= 2 * mpmath.pi
            sxx, szz = sxx / 2, szz / 2
            theta_ntk = sxz + theta_ntk * derivative
        values.append(float(theta_ntk if kernel == "ntk" else sxz))
    return np.array(values)


def relative_error(values, reference):
    return float(np.max(np.abs(np.asarray(values) - reference) / np.abs(reference)))


# --------------------------------------------------------------------------------------------
# The measuring script
# --------------------------------------------------------------------------------------------


def run_child(python, library, kernel, n, repeats, **environment):
    command = [python, __file__, "--child", library, kernel, str(n), "--repeats", str(repeats)]
    environment = dict(os.environ, PYTHONPATH="", **environment)
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=tempfile.gettempdir(), env=environment
    )
    if completed.returncode != 0:
        raise SystemExit(f"{library} {kernel} n={n} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure_speed(arguments):
    pythons = {
        "fastntk": sys.executable,
        "scikit-learn": sys.executable,
        "neural-tangents": arguments.nt_python,
    }
    rows = []
    for n in arguments.n:
        for label, peer, kernel in PAIRS:
            own = run_child(sys.executable, "fastntk", kernel, n, arguments.repeats)
            other = run_child(pythons[peer], peer, kernel, n, arguments.repeats)
            row = {"n": n, "label": label, "peer": peer, "kernel": kernel, "fastntk": own,
                   "other": other}  # fmt: skip
            if n == min(arguments.n):
                with tempfile.TemporaryDirectory() as empty_cache:
                    cold = run_child(sys.executable, "fastntk", kernel, 8 * N_PAIRS, 1,
                                     NUMBA_CACHE_DIR=empty_cache)  # fmt: skip
                row["fastntk_cold_first_use_s"] = cold["first_use_s"]
            rows.append(row)
            print(f"n={n} {label}: fastntk {own['best_s']:.3f} s, {peer} {other['best_s']:.3f} s")
    return rows


def directory_bytes(path):
    return sum(file.stat().st_size for file in pathlib.Path(path).rglob("*") if file.is_file())


def measure_installation(name, requirements, module, python):
    """Install ``requirements`` into a fresh virtual environment of ``python``."""
    with tempfile.TemporaryDirectory() as folder:
        environment = pathlib.Path(folder) / "venv"
        subprocess.run([python, "-m", "venv", str(environment)], check=True)
        pip = [str(environment / "bin" / "python"), "-m", "pip"]
        start = time.perf_counter()
        subprocess.run([*pip, "install", "-q", *requirements], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        seconds = time.perf_counter() - start
        listed = subprocess.run([*pip, "list", "--format=json"], check=True, capture_output=True,
                                text=True)  # fmt: skip
        start = time.perf_counter()
        subprocess.run([str(environment / "bin" / "python"), "-c", f"import {module}"],
                       check=True, cwd=folder, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                       capture_output=True)  # fmt: skip
        import_seconds = time.perf_counter() - start
        result = {
            "name": name,
            "seconds": seconds,
            "bytes": directory_bytes(environment),
            "distributions": len(json.loads(listed.stdout)) - 1,  # pip itself
            "import_s": import_seconds,
        }
    print(f"installed {name}: {result['seconds']:.0f} s, {result['bytes'] / 1e6:.0f} MB")
    return result


def measure_installations(arguments):
    nt_python = subprocess.run(
        [arguments.nt_python, "-c", "import sys; print(sys.executable)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    base = pathlib.Path(nt_python).resolve()
    # The virtual environment's interpreter, resolved, is the one it was made from.
    return [
        measure_installation("fastntk", [str(REPOSITORY)], "fastntk", sys.executable),
        measure_installation(
            "neural-tangents 0.6.5", list(NT_REQUIREMENTS), "neural_tangents", str(base)
        ),  # fmt: skip
        measure_installation("scikit-learn", ["scikit-learn"], "sklearn", sys.executable),
    ]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            names = [line.split(":", 1)[1].strip() for line in file if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def versions(nt_python):
    import numba
    import sklearn

    import fastntk

    nt = subprocess.run(
        [nt_python, "-c", "import neural_tangents, jax; print(neural_tangents.__version__, "
         "jax.__version__)"],
        check=True, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    ).stdout.split()  # fmt: skip
    return (
        f"fastntk {fastntk.__version__} (Numba {numba.__version__}, NumPy {np.__version__}), "
        f"neural-tangents {nt[0]} (JAX {nt[1]}), scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}"
    )


def page(rows, installs, arguments):
    largest = max(arguments.n)
    lines = [
        "# Why fastntk",
        "",
        "<!-- Generated by scripts/why_fastntk.py; edit that script, not this page. -->",
        "",
        f"Measured on {datetime.date.today().isoformat()}: {machine()}; "
        f"{versions(arguments.nt_python)}.",
        f"Regenerate with `python scripts/why_fastntk.py --nt-python NT_PYTHON --n "
        f"{' '.join(map(str, arguments.n))}` (the script's docstring says what it measures and "
        "how). The machine may be shared: read ratios within a factor of 1.5 as equal.",
        "",
        "## Speed",
        "",
        f"`K(X, X)` for `X` of shape (n, {N_FEATURES}), float64, on all CPUs: the fastest of "
        f"{arguments.repeats} calls after the first, and the first call at that n (for "
        "neural-tangents, which compiles for each new shape, it includes compiling; fastntk and "
        "scikit-learn compile nothing per shape).",
        "",
        "| kernel | n | peer | fastntk | peer's time | peer / fastntk | fastntk first call "
        "| peer's first call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        own, other = row["fastntk"], row["other"]
        lines.append(
            f"| {row['label']} | {row['n']} | {row['peer']} | {own['best_s']:.3f} s "
            f"| {other['best_s']:.3f} s | **{other['best_s'] / own['best_s']:.1f}** "
            f"| {own['first_s']:.3f} s | {other['first_s']:.3f} s |"
        )
    lines += [
        "",
        "## First use",
        "",
        "The first call in a fresh process (on 8 rows), after the import: what a user waits for "
        "before the first result. fastntk compiles each kernel with Numba on its first use "
        "after installation and keeps the machine code in Numba's on-disk cache, which later "
        "processes load; JAX compiles neural-tangents' kernel for each new input shape, in "
        "every process; scikit-learn compiles nothing.",
        "",
        "| kernel | fastntk, cached | fastntk, first use after installation (compiling) "
        "| peer | peer's time |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if "fastntk_cold_first_use_s" in row:
            lines.append(
                f"| {row['label']} | {row['fastntk']['first_use_s']:.2f} s "
                f"| {row['fastntk_cold_first_use_s']:.1f} s | {row['peer']} "
                f"| {row['other']['first_use_s']:.2f} s |"
            )
    lines += [
        "",
        "## Memory",
        "",
        f"Growth of the peak resident memory of the computing process during the calls at "
        f"n = {largest}, against the output matrix itself ({largest**2 * 8 / 1e6:.0f} MB).",
        "",
        "| kernel | peer | fastntk | peer | peer / fastntk |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row["n"] == largest:
            own, other = row["fastntk"]["peak_bytes"], row["other"]["peak_bytes"]
            lines.append(
                f"| {row['label']} | {row['peer']} | {own / 1e6:.0f} MB | {other / 1e6:.0f} MB "
                f"| {other / max(own, 1):.1f} |"
            )
    lines += [
        "",
        "## Accuracy at the diagonal",
        "",
        f"The ReLU NTK and NNGP of depth {DEPTH} without biases, n = {min(arguments.n)}. The "
        f"diagonal of `K(X, X)` against its exact value, `(L + 1) |x|^2 / (d 2^L)` for the NTK "
        f"and `|x|^2 / (d 2^L)` for the NNGP; and {N_PAIRS} near-parallel pairs (a row and "
        f"itself perturbed by {PERTURBATION:g} relative) against the recursion evaluated with "
        "50 digits. Largest relative error; float64's rounding unit is 1.1e-16.",
        "",
        "| kernel | library | diagonal | near-parallel pairs |",
        "|---|---|---|---|",
    ]
    X, partners = inputs(min(arguments.n))
    diagonal_reference = {"ntk": exact_ntk_diagonal(X),
                          "nngp": exact_ntk_diagonal(X) / (DEPTH + 1)}  # fmt: skip
    for row in rows:
        if row["n"] == min(arguments.n) and row["kernel"] in diagonal_reference:
            pair_reference = precise_pairs(X[:N_PAIRS], partners, row["kernel"])
            for library, result in (("fastntk", row["fastntk"]), (row["peer"], row["other"])):
                diagonal = relative_error(result["diagonal"], diagonal_reference[row["kernel"]])
                pairs = relative_error(result["pairs"], pair_reference)
                lines.append(f"| {row['label']} | {library} | {diagonal:.1e} | {pairs:.1e} |")
    lines += [
        "",
        "## Installation",
        "",
        "A fresh virtual environment per library, `pip install` (packages from pip's cache "
        "where it has them), then `import` in a fresh interpreter.",
        "",
        "| library | install | on disk | distributions | import |",
        "|---|---|---|---|---|",
    ]
    for install in installs:
        lines.append(
            f"| {install['name']} | {install['seconds']:.0f} s | {install['bytes'] / 1e6:.0f} MB "
            f"| {install['distributions']} | {install['import_s']:.1f} s |"
        )
    lines.append("")
    return "\n".join(lines)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nt-python", default=os.environ.get("FASTNTK_NT_PYTHON"),
                        help="the Python of neural-tangents' environment")  # fmt: skip
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-install", action="store_true",
                        help="leave the installation section out (it takes minutes)")  # fmt: skip
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "KERNEL", "N"),
                        help=argparse.SUPPRESS)  # fmt: skip
    arguments = parser.parse_args()
    if arguments.child is None and not arguments.nt_python:
        parser.error("--nt-python (or FASTNTK_NT_PYTHON) is needed: see the docstring")
    if arguments.repeats < 1 or min(arguments.n) < N_PAIRS:
        parser.error(f"--repeats must be at least 1 and every --n at least {N_PAIRS}")
    return arguments


def main():
    arguments = parse_arguments()
    if arguments.child:
        library, kernel, n = arguments.child
        child(library, kernel, int(n), arguments.repeats)
        return 0
    rows = measure_speed(arguments)
    installs = [] if arguments.skip_install else measure_installations(arguments)
    text = page(rows, installs, arguments)
    if arguments.skip_install:
        text = text.split("\n## Installation")[0] + "\n"
    arguments.out.write_text(text)
    print(f"wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
