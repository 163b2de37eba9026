"""The package's modules import each other at module level without cycles, and the planning
stages and the engine import nothing inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, *, top: bool) -> set[str]:
    nodes = tree.body if top and isinstance(tree, ast.Module) else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "simulator":
                out |= {f"simulator.{a.name}" for a in node.names}
            elif node.module.startswith("simulator."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("simulator.")}
    return out


def test_no_import_cycles_at_module_level() -> None:
    graph = nx.DiGraph()
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    for name, path in modules.items():
        graph.add_node(name)
        for target in _imports(ast.parse(path.read_text(encoding="utf-8")), top=True):
            if target in modules and target != name:
                graph.add_edge(name, target)
    cycles = list(nx.simple_cycles(graph))
    assert cycles == []


def test_engine_and_planning_import_at_module_level() -> None:
    engine = [PACKAGE / f for f in ("journey.py", "_batch.py", "plan.py", "parameters.py",
                                    "montecarlo.py")]
    for path in [*engine, *(PACKAGE / "planning").glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = _imports(tree, top=False) - _imports(tree, top=True)
        assert not inner, f"{path.name} imports {sorted(inner)} inside a function"
