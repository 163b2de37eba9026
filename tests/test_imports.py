"""The dependency graph is visible: modules import at module level, without cycles.

Imports inside functions hide dependencies (and cycles); the package allows them only for the
few heavy libraries that most commands never need, each named here with the reason.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
from numpydoc.validate import validate

import simulator

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"
#: third-party modules a function may import itself: slow to import and needed on one path only
LAZY = {
    "osmnx": "half a second; only to parse OSM XML or to download (the bundled graph is cached)",
    "distributed": "only with a Dask scheduler (--scheduler)",
    "folium": "a third of a second; only to write map.html",
    "matplotlib.pyplot": "only for charts drawn interactively (files use figures of their own)",
    "SALib": "most of a second; only for Sobol sensitivity analyses",
    "pyabc": "only to fit a calibration (trainsim calibrate)",
    "scipy.stats": "a third of a second of every command's start (qmc); only for --design lhs",
    "xyzservices": "a tenth of a second (its catalogue of providers); only to write map.html",
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST) -> set[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "simulator":
            return {f"simulator.{a.name}" for a in node.names}
        return {node.module}
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    return set()


@functools.cache  # two tests read the same trees
def _trees() -> dict[str, ast.Module]:
    return {_module(p): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_import_cycles_at_module_level() -> None:
    trees = _trees()
    graph = nx.DiGraph()
    for name, tree in trees.items():
        graph.add_node(name)
        for node in tree.body:
            for target in _imported(node):
                if target in trees and target != name:
                    graph.add_edge(name, target)
    assert list(nx.simple_cycles(graph)) == []


def test_functions_import_only_the_heavy_optional_libraries() -> None:
    inner: list[str] = []
    for name, tree in _trees().items():
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                for target in _imported(node):
                    if not any(target == lazy or target.startswith(f"{lazy}.")
                               for lazy in LAZY):
                        inner.append(f"{name} imports {target} inside a function")
    assert inner == []


#: numpydoc checks every public function passes: a docstring with a one-line summary, every
#: parameter documented and none unknown, a Returns section when it returns something
FUNCTION_CHECKS = {"GL08", "SS01", "SS03", "PR01", "PR02", "RT01"}
#: and every public class and method: a docstring with a one-line summary
CLASS_CHECKS = {"GL08", "SS01", "SS03"}


def test_the_public_api_has_numpydoc_docstrings() -> None:
    problems = []
    for name in simulator.__all__:
        obj = getattr(simulator, name)
        if name == "__version__":
            continue
        names = [f"simulator.{name}"]
        checks = CLASS_CHECKS if isinstance(obj, type) else FUNCTION_CHECKS
        if name in ("ScenarioResult", "ScenarioComparison", "Route"):
            names += [f"simulator.{name}.{m}" for m, v in vars(obj).items()
                      if not m.startswith("_") and (callable(v) or hasattr(v, "__get__"))
                      and not isinstance(v, str | float | int)]
        for full in names:
            for code, message in validate(full)["errors"]:
                if code in checks:
                    problems.append(f"{full}: {code} {message}")
    assert problems == []
