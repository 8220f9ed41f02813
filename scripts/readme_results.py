"""Rewrite the README's results section with the output of the commands that produce it.

    python scripts/readme_results.py [--data DIR]

Runs ``python -m fastntk demo`` (and, with ``--data``, ``python -m fastntk benchmark --data
DIR``), and replaces the text between the README's ``<!-- results:start -->`` and
``<!-- results:end -->`` markers with each command and its output, verbatim, with the date and
the machine's CPU count: the section holds no hand-typed figure.
"""

import argparse
import datetime
import os
import pathlib
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def run(command):
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout.rstrip()


def section(commands):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    today = datetime.date.today().isoformat()
    parts = [START, f"Produced by `python scripts/readme_results.py` on {today}, {cpus} CPUs."]
    for command in commands:
        # The data directory is the reader's own: show its name, not where it lies here.
        shown = " ".join(["python", *command[1:]])
        if "--data" in command:
            shown = (
                shown.replace(command[-1], "DIR") + f"  # DIR: {pathlib.Path(command[-1]).name}/"
            )
        parts += ["", "```", f"$ {shown}", run(command), "```"]
    parts.append(END)
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a directory of UCI dataset folders for `benchmark`")
    args = parser.parse_args()
    commands = [[sys.executable, "-m", "fastntk", "demo"]]
    if args.data:
        commands.append([sys.executable, "-m", "fastntk", "benchmark", "--data", args.data])
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} section")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(before + section(commands) + after)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
