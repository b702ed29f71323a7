"""The code's shape, checked: the library has no Airflow import, no import cycle anywhere, modules stay small.

The import graph counts every import, module-level or inside a function: a lazy import only hides a cycle
from the interpreter, not from the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"include": ROOT / "include", "lifecycle_ops": ROOT / "plugins" / "lifecycle_ops", "scripts": ROOT / "scripts"}
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES.values():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder.parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")
                pkg = pkg[: len(pkg) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join([*pkg, base] if base else pkg)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            # the longest known module the name refers to
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(p, m, set(mods)) for m, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):  # noqa: B023
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_include_plugins_scripts():
    graph = _graph()
    # a package importing its own submodule (re-export) is not a cycle a reader trips over
    for mod, deps in graph.items():
        deps -= {d for d in deps if d.startswith(mod + ".")}
    assert _cycles(graph) == []


def test_the_library_imports_no_airflow():
    offenders = []
    for mod, path in _modules().items():
        if not mod.startswith("include."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{mod}: {n}" for n in names if n == "airflow" or n.startswith("airflow.")]
    assert offenders == []


@pytest.mark.parametrize("top", sorted(PACKAGES))
def test_no_module_over_the_size_limit(top):
    big = {str(p.relative_to(ROOT)): n for p in PACKAGES[top].rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"


def test_store_keys_are_built_only_in_the_layout_module():
    """A key like ``features/<uc>/date=...`` built outside layout.py would let two modules disagree on it."""
    import re

    pattern = re.compile(r"""f["'](raw|features|labels|predictions|incoming|quarantine|validation|monitoring|"""
                         r"""training|models|landing|shadow|profiles|alerts)/\{""")
    offenders = []
    for path in list((ROOT / "include").rglob("*.py")) + list((ROOT / "plugins").rglob("*.py")) + \
            list((ROOT / "dags").glob("*.py")):
        if path.name == "layout.py":
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == []
