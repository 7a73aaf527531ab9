"""The import graph of a source tree, read with ``ast``, checked against a domain order.

Every ``import`` counts, at module level or inside a function (an import on call is still a
dependency; it only hides the loop from the interpreter), under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Modules another domain may import; anything else in a domain is its own business.
PUBLIC_NAMES = frozenset({"service", "schemas", "events", "errors"})


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``line``."""

    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


@dataclass(frozen=True)
class Order:
    """The domains of a package in layers, lowest first; a domain imports only lower layers."""

    package: str
    layers: Sequence[frozenset[str]]
    #: Domains whose every module is public (a toolkit, the tables).
    open_domains: frozenset[str]

    def layer_of(self, domain: str) -> int:
        """The index of ``domain``'s layer; KeyError names a domain the order forgot."""
        for index, layer in enumerate(self.layers):
            if domain in layer:
                return index
        raise KeyError(f"domain {domain!r} is in no layer of the order")

    def domain_of(self, module: str) -> str:
        """``pkg.alerts.rules.churn`` → ``alerts``; ``pkg.settings`` → ``settings``."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    def is_public(self, module: str) -> bool:
        """Whether another domain may import ``module``: the domain package or a public name."""
        domain = self.domain_of(module)
        parts = module.split(".")
        return domain in self.open_domains or len(parts) <= 2 or parts[-1] in PUBLIC_NAMES


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the file ``path`` under the source folder ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name."""
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[Edge]:
    """The imports of one module that land in ``known`` (``from pkg import submodule`` too)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            targets = [_submodule_or_base(base, a.name, known) for a in node.names]
        else:
            continue
        yield from (Edge(module, t, node.lineno) for t in targets if t in known and t != module)


def _submodule_or_base(base: str, name: str, known: Mapping[str, Path]) -> str:
    candidate = f"{base}.{name}"
    return candidate if candidate in known else base


def graph(root: Path, package: str) -> list[Edge]:
    """Every import edge between the modules of ``package``."""
    known = modules(root, package)
    return [edge for name, path in known.items() for edge in imports_of(name, path, known)]


def violations(edges: Iterable[Edge], order: Order) -> list[str]:
    """Each import that climbs the order, joins two peers, or reaches into internals."""
    found = []
    for edge in edges:
        source, target = order.domain_of(edge.source), order.domain_of(edge.target)
        if source == target:
            continue
        if order.layer_of(target) >= order.layer_of(source):
            found.append(f"{edge}: {source} may not import {target} (not below it)")
        elif not order.is_public(edge.target):
            found.append(f"{edge}: reaches into {target}'s internals")
    return found


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """The import loops between modules (strongly connected components of two or more)."""
    succ: dict[str, set[str]] = {}
    for edge in edges:
        succ.setdefault(edge.source, set()).add(edge.target)
        succ.setdefault(edge.target, set())
    return [sorted(c) for c in _components(succ) if len(c) > 1]


def _components(succ: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in succ:
        if start in index:
            continue
        work = [(start, iter(sorted(succ[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    found.append(_pop_component(node, stack, on_stack))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(succ[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _pop_component(root: str, stack: list[str], on_stack: set[str]) -> list[str]:
    component = []
    while True:
        node = stack.pop()
        on_stack.discard(node)
        component.append(node)
        if node == root:
            return component
