"""No import cycle among the scripts and the Airflow-facing plugin modules (function-level imports count too:
a cycle papered over by importing late still breaks when a module is run as a file)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"scripts": ROOT / "scripts", "lifecycle_ops": ROOT / "plugins" / "lifecycle_ops"}


def _modules() -> dict[str, Path]:
    return {f"{pkg}.{path.stem}": path for pkg, folder in PACKAGES.items() for path in folder.glob("*.py")
            if path.stem != "__init__"}


def _imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join([*stack[stack.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles
    assert graph["scripts.production"] >= {"scripts.platform_core"}  # the walk sees real edges
