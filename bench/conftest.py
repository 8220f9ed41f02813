"""Print, after a benchmark run, each benchmark's time as a ratio to its group's reference.

Benchmarks put ``role`` ("subject" or "reference: <what>") in ``benchmark.extra_info``; the
ratios are also stored in the saved JSON (``extra_info["ratio_to_<reference>"]``).
"""

import pytest


def _reference_name(extra_info):
    return extra_info["role"].split(":", 1)[1].strip()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    groups = {}
    for bench in output_json["benchmarks"]:
        groups.setdefault(bench["group"], []).append(bench)
    for members in groups.values():
        references = [b for b in members if b["extra_info"].get("role", "").startswith("reference")]
        for bench in members:
            for reference in references:
                name = _reference_name(reference["extra_info"])
                ratio = bench["stats"]["min"] / reference["stats"]["min"]
                bench["extra_info"][f"ratio_to_{name}"] = round(ratio, 4)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group, []).append(bench)
    terminalreporter.section("ratios to the references of each group (min times)")
    for group, members in sorted(groups.items(), key=lambda item: str(item[0])):
        references = [b for b in members if b.extra_info.get("role", "").startswith("reference")]
        for bench in members:
            if not bench.extra_info.get("role", "").startswith("subject"):
                continue
            parts = [
                f"{_reference_name(r.extra_info)} {bench.stats.min / r.stats.min:.3f}"
                for r in references
            ]
            terminalreporter.write_line(f"{group} | {bench.name}: " + ", ".join(parts))
