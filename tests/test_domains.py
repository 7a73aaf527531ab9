"""The domain order of docs/architecture.md, checked on the imports of ``src/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.importgraph import Order, cycles, graph, violations

SRC = Path(__file__).resolve().parents[1] / "src"

#: Lowest first: a domain imports only domains of a lower layer (docs/architecture.md).
LAYERS = (
    {"__init__", "kit", "settings"},
    {"db"},
    {"errors"},
    {"models"},
    {"audit", "ops"},
    {"migrations", "security"},
    {"tiers"},
    {"privacy"},
    {"customers"},
    {"ingest"},
    {"analytics"},
    {"alerts"},
    {"closer"},
    {"business"},
    {"wiring"},
    {"realtime"},
    {"api"},
    {"dashboard", "mcp"},
    {"simulate"},
    {"app"},
    {"cli"},
)
ORDER = Order(
    package="nexus_crm",
    layers=[frozenset(layer) for layer in LAYERS],
    open_domains=frozenset({"__init__", "kit", "settings", "db", "errors", "models"}),
)

#: Imports that break the order and are accepted for now (none: a fixed one must go).
KNOWN: frozenset[str] = frozenset()


def found_violations() -> set[str]:
    """The violations of the tree, without line numbers (they move with every edit)."""
    return {v.split(" (line")[0] for v in violations(graph(SRC, "nexus_crm"), ORDER)}


def test_every_domain_has_a_place_in_the_order() -> None:
    domains = {ORDER.domain_of(e.source) for e in graph(SRC, "nexus_crm")}
    missing = [d for d in sorted(domains) if not any(d in layer for layer in LAYERS)]
    assert not missing, f"add these domains to LAYERS and docs/architecture.md: {missing}"


def test_no_import_climbs_the_order_or_reaches_into_internals() -> None:
    found = found_violations()
    new = sorted(found - KNOWN)
    assert not new, "imports that break the domain order:\n" + "\n".join(new)
    fixed = sorted(KNOWN - found)
    assert not fixed, "fixed, remove from KNOWN:\n" + "\n".join(fixed)


def test_no_import_cycles() -> None:
    loops = cycles(graph(SRC, "nexus_crm")) + cycles(graph(SRC, "genesis_crm"))
    assert not loops, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in loops)


def write_package(root: Path, files: dict[str, str]) -> None:
    """A throwaway package ``pkg`` with ``files`` (path under pkg → source)."""
    for name, source in {"__init__.py": "", **files}.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


TOY = Order(
    package="pkg",
    layers=[frozenset({"kit"}), frozenset({"low"}), frozenset({"high"})],
    open_domains=frozenset({"kit"}),
)
TOY_FILES = {
    "kit/__init__.py": "",
    "kit/time.py": "",
    "low/__init__.py": "",
    "low/service.py": "from pkg.kit import time\n",
    "low/repository.py": "",
    "high/__init__.py": "",
    "high/service.py": "from pkg.low.service import x\n",
}


def test_a_clean_toy_tree_passes(tmp_path: Path) -> None:
    write_package(tmp_path, TOY_FILES)
    edges = graph(tmp_path, "pkg")
    assert {(e.source, e.target) for e in edges} == {
        ("pkg.low.service", "pkg.kit.time"),
        ("pkg.high.service", "pkg.low.service"),
    }
    assert violations(edges, TOY) == []
    assert cycles(edges) == []


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("low/service.py", "from pkg.high import service\n", "low may not import high"),
        (
            "low/service.py",
            "def f():\n    from pkg.high.service import y\n",
            "low may not import high",
        ),
        ("high/service.py", "from pkg.low.repository import q\n", "reaches into low's internals"),
        ("high/service.py", "from ..low import repository\n", "reaches into low's internals"),
    ],
)
def test_a_broken_order_is_named(tmp_path: Path, name: str, source: str, expected: str) -> None:
    write_package(tmp_path, {**TOY_FILES, name: source})
    found = violations(graph(tmp_path, "pkg"), TOY)
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith(f"pkg.{name[:-3].replace('/', '.')} -> ")


def test_a_loop_inside_a_domain_is_found_even_through_a_function_import(tmp_path: Path) -> None:
    loop = {
        "low/rules.py": "from pkg.low import churn\n",
        "low/churn.py": "def rule():\n    from pkg.low.rules import base\n",
    }
    write_package(tmp_path, {**TOY_FILES, **loop})
    assert cycles(graph(tmp_path, "pkg")) == [["pkg.low.churn", "pkg.low.rules"]]
