"""The import graph of the brownout package, read from the source with ``ast``.

A plain module (not a test file) so that the import-direction test and the
architecture benchmark share it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "brownout"


@dataclass(frozen=True)
class Import:
    """One import of a brownout module by another."""

    source: str    # importing module, e.g. brownout.service.live
    target: str    # imported module (a module when it exists, else the package)
    line: int
    top_level: bool  # at module level (not inside a function or TYPE_CHECKING)


def modules(root: Path = SRC) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _resolve(mod: str, names: list[str], known: dict[str, Path]) -> Iterator[str]:
    hits = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]
    yield from hits or [mod]


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST, top: bool = True) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(tree):
        nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(child, ast.If) and _is_type_checking(child))
        yield child, top
        yield from _walk(child, top and not nested)


@cache
def imports() -> list[Import]:
    """Every import between brownout modules (read once per process)."""
    known = modules()
    out = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, top in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, package, known):
                if target != name:
                    out.append(Import(name, target, getattr(node, "lineno", 0), top))
    return out


def _targets(node: ast.AST, package: str, known: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.startswith("brownout"))
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*up, *([node.module] if node.module else [])])
        if base.startswith("brownout"):
            yield from _resolve(base, [a.name for a in node.names], known)


def package_of(module: str) -> str:
    """``brownout.detect.engine`` -> ``detect``; top-level modules name themselves."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found
