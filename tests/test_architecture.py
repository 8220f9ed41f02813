"""The package's structure, read from its source with ``ast``: no import cycle (imports inside
functions count), no module that imports another module's underscore names, no module over
600 lines, and every ``FASTNTK_*`` variable the source names is a documented setting."""

import ast
import pathlib
import re

import pytest

import fastntk
from fastntk import config

PACKAGE = pathlib.Path(fastntk.__file__).parent
MODULES = {
    ".".join(("fastntk",) + path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(
        ".__init__"
    ): path
    for path in sorted(PACKAGE.rglob("*.py"))
}


def _imports(name, path):
    """``(imported module, imported names)`` of every import statement in a module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            target = node.module if not node.level else ".".join(filter(None, (base, node.module)))
            yield target, tuple(alias.name for alias in node.names)


def _graph():
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names in _imports(name, path):
            candidates = [f"{target}.{imported}" for imported in names] + [target]
            for candidate in candidates:
                while candidate not in MODULES and "." in candidate:
                    candidate = candidate.rsplit(".", 1)[0]
                if candidate in MODULES and candidate not in (name, "fastntk"):
                    graph[name].add(candidate)
    return graph


def _cycle(graph):
    """A cycle of the graph as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert _cycle(_graph()) is None


def test_no_module_imports_another_modules_private_names():
    """Names starting with ``_`` stay in their module (private modules may be imported: their
    public names are the package's internal interfaces)."""
    private = []
    for name, path in MODULES.items():
        aliases = {}
        for target, names in _imports(name, path):
            private += [
                f"{name}: from {target} import {n}"
                for n in names
                if _private(n) and f"{target}.{n}" not in MODULES  # a private module is fine
            ]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("fastntk"):
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
            ):
                private.append(f"{name}: {node.value.id}.{node.attr}")
    assert private == []


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_short(name):
    assert len(MODULES[name].read_text().splitlines()) <= 600


def test_every_environment_variable_is_a_setting():
    named = set()
    for path in MODULES.values():
        named |= set(re.findall(r"FASTNTK_[A-Z0-9_]+", path.read_text()))
    settings = {setting.variable for setting in config.SETTINGS.values()}
    assert named <= settings, named - settings
    documented = set(re.findall(r"``(FASTNTK_[A-Z0-9_]+)``", config.__doc__))
    assert documented == settings
