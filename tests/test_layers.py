"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml), and no package cycles."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lbs", "api", "geofences", "les_simulator")


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def unit(module: str) -> str:
    """The package a module counts in: the top-level package, or lbs's sub-package (lbs.consent, lbs.messaging)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "lbs" else parts[0]


def cycles(edges: set[tuple[str, str]]) -> list[set[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [{"a", "b", "c"}]
    assert cycles({("a", "b"), ("b", "c")}) == []


def test_no_package_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES)
    edges = {
        (unit(m), unit(i))
        for m in graph.modules
        for i in graph.find_modules_directly_imported_by(m)
        if unit(m) != unit(i)
    }
    assert cycles(edges) == []
