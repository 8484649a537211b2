"""The house rules, checked from the code: no import cycles, layers import only downwards,
first-party plugins use only the public API, and no module grows past 600 lines.

The import graph is read with ``ast`` (function-local imports included: a
lazy import is still a dependency), so a rule holds for every line of the
code, not only for what a test happens to execute.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import ftdecide

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PLUGINS = ROOT / "plugins"
MAX_LINES = 600

#: Layers from the bottom up; a module may import its own layer's modules and lower layers.
LAYERS = {
    "contract": 0,   # ftdecide (public API), providers, options, hookspecs, plugins, errors, paths, retries
    "data": 1,
    "pricing": 2,
    "tune": 3,
    "compare": 4,
    "assess": 5,
    "report": 6,     # imported by the api and the cli only
    "testing": 6,    # imported by tests only
    "api": 7,        # the Python API (ftdecide.validate, compare, ...): the cli calls it
    "cli": 8,
    "main": 9,       # python -m ftdecide
}
CONTRACT = {"ftdecide", "ftdecide._formatting", "ftdecide.providers", "ftdecide.options", "ftdecide.hookspecs",
            "ftdecide.plugins", "ftdecide.errors", "ftdecide.paths", "ftdecide.examples",
            "ftdecide.retries", "ftdecide.urls", "ftdecide.epochs"}
#: What a plugin may import besides the names in ``ftdecide.__all__``.
PLUGIN_MODULES = {"ftdecide", "ftdecide.providers", "ftdecide.errors", "ftdecide.paths",
                  "ftdecide.options"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def resolve_from(module: str, package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(path: Path, root: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in ``path``."""
    name = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a top-level `if TYPE_CHECKING:` are not run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno, id(node) in top_level))
        elif isinstance(node, ast.ImportFrom):
            src = (resolve_from(name, is_package(path), node.level, node.module) if node.level
                   else node.module or "")
            for alias in node.names:
                sub = f"{src}.{alias.name}"
                found.append((sub if sub in known else src, node.lineno, id(node) in top_level))
    type_checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    type_checking.add(inner.lineno)
    return [f for f in found if f[1] not in type_checking]


def core_graph() -> dict[str, list[tuple[str, int, bool]]]:
    files = {module_name(p, SRC): p for p in (SRC / "ftdecide").rglob("*.py")}
    known = set(files)
    return {mod: [(t, line, top) for t, line, top in imports_of(path, SRC, known)
                  if t in known and t != mod]
            for mod, path in files.items()}


def layer_of(module: str) -> str:
    if module in CONTRACT:
        return "contract"
    if module == "ftdecide.__main__":
        return "main"
    return module.split(".")[1]


def test_every_core_module_has_a_layer():
    unknown = sorted(m for m in core_graph() if layer_of(m) not in LAYERS)
    assert not unknown, f"modules outside the known layers (add them to LAYERS): {unknown}"


def test_no_import_cycles_in_the_core():
    graph = {m: sorted({t for t, _, _ in edges}) for m, edges in core_graph().items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_layers_import_only_downwards():
    bad = []
    for mod, edges in core_graph().items():
        src_layer = layer_of(mod)
        for target, line, top in edges:
            dst_layer = layer_of(target)
            if dst_layer == src_layer:
                continue
            if mod == "ftdecide" and not top and dst_layer != "cli":
                continue  # the public API's helpers (and ftdecide.api) are imported lazily
            if dst_layer == "report" and src_layer not in ("api", "cli", "main"):
                bad.append(f"{mod}:{line} imports {target} (report is for the api and cli only)")
            elif dst_layer == "testing" and src_layer not in ("cli", "main"):
                bad.append(f"{mod}:{line} imports {target} (testing is for the cli only)")
            elif LAYERS[dst_layer] > LAYERS[src_layer]:
                bad.append(f"{mod}:{line} imports {target}: {src_layer} may not import "
                           f"{dst_layer}")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_the_core_never_imports_a_plugin():
    bad = [f"{m}:{line} imports {t}" for path in (SRC / "ftdecide").rglob("*.py")
           for m in [module_name(path, SRC)]
           for t, line, _ in imports_of(path, SRC, set())
           if t.split(".")[0].startswith("ftdecide_")]
    assert not bad, bad


def plugin_sources() -> list[Path]:
    return sorted(PLUGINS.glob("*/src/*/**/*.py"))


def test_there_are_first_party_plugins():
    assert {p.parts[len(PLUGINS.parts)] for p in plugin_sources()} >= {
        "openai", "azure", "hf-trl", "autotrain"}


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_first_party_plugins_use_only_public_names(path):
    public = set(ftdecide.__all__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                node.module == "ftdecide" or node.module.startswith("ftdecide.")):
            if node.module not in PLUGIN_MODULES:
                bad.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module == "ftdecide":
                bad += [f"line {node.lineno}: from ftdecide import {a.name}"
                        for a in node.names if a.name not in public]
        elif isinstance(node, ast.Import):
            bad += [f"line {node.lineno}: import {a.name}" for a in node.names
                    if a.name.startswith("ftdecide.") and a.name not in PLUGIN_MODULES]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "ftdecide" and node.attr not in public):
            bad.append(f"line {node.lineno}: ftdecide.{node.attr}")
    assert not bad, f"{path.relative_to(ROOT)} reaches inside ftdecide:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_every_first_party_plugin_module_imports(path):
    src_root = next(p for p in path.parents if p.name == "src")
    importlib.import_module(module_name(path, src_root))


def test_no_module_is_longer_than_600_lines():
    long = [f"{p.relative_to(ROOT)}: {n} lines"
            for p in [*(SRC / "ftdecide").rglob("*.py"), *plugin_sources()]
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > MAX_LINES]
    assert not long, "split these at their sections:\n" + "\n".join(long)


def test_cli_main_only_assembles_commands():
    tree = ast.parse((SRC / "ftdecide" / "cli" / "main.py").read_text(encoding="utf-8"))
    commands = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)
                and any("command" in ast.unparse(d) for d in n.decorator_list)]
    assert commands == [], f"commands belong in their own cli module: {commands}"
