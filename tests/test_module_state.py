"""No module-global mutable state in ``src/`` (issue 16): module-level tables are immutable."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Calls that build a mutable container.
MUTABLE_CALLS = frozenset(
    {
        "dict",
        "list",
        "set",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "deque",
        "bytearray",
        "WeakValueDictionary",
        "WeakKeyDictionary",
        "WeakSet",
    }
)
MUTABLE_LITERALS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)

#: Module state accepted for now, as ``path NAME`` (none: caches live with the sessions).
ISSUE_16_PENDING: frozenset[str] = frozenset()


def top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a module body, looking into top-level ``if`` and ``try``."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from top_level(node.body)
            yield from top_level(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            yield from top_level(node.body)
            for handler in node.handlers:
                yield from top_level(handler.body)
            yield from top_level(node.orelse)
            yield from top_level(node.finalbody)


def is_mutable(value: ast.expr) -> bool:
    """Whether an expression builds a mutable container."""
    if isinstance(value, MUTABLE_LITERALS):
        return True
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return name in MUTABLE_CALLS


def findings(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of each module-level mutable assignment and non-tuple ``__all__``."""
    found: list[tuple[int, str]] = []
    for node in top_level(ast.parse(source).body):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = [ast.unparse(target) for target in targets]
        all_not_tuple = "__all__" in names and not isinstance(value, ast.Tuple)
        if all_not_tuple or is_mutable(value):
            found.extend((node.lineno, name) for name in names)
    return found


def tree_findings() -> list[tuple[str, int, str]]:
    """``(path, line, name)`` of every finding under ``src/``, in file and line order."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        found.extend((relative, line, name) for line, name in findings(path.read_text()))
    return found


def test_the_checker_finds_mutable_containers() -> None:
    source = "\n".join(
        (
            "from types import MappingProxyType",
            "A = {'a': 1}",
            "B: dict[str, int] = dict(a=1)",
            "C = (1, 2)",
            "D = frozenset({1})",
            "E = MappingProxyType({'a': 1})",
            "if True:",
            "    F = [1]",
            "try:",
            "    G = {1}",
            "except ImportError:",
            "    H = collections.deque()",
            "__all__ = ['A']",
            "def f() -> None:",
            "    local = []",
        )
    )
    assert findings(source) == [(2, "A"), (3, "B"), (8, "F"), (10, "G"), (12, "H"), (13, "__all__")]
    assert findings("__all__ = ('A',)\nclass K:\n    cache: dict[str, int] = {}") == []


def test_no_module_global_mutable_state() -> None:
    bad = [
        f"{path}:{line} {name}"
        for path, line, name in tree_findings()
        if f"{path} {name}" not in ISSUE_16_PENDING
    ]
    assert not bad, (
        "module-level mutable state (use a tuple, frozenset or MappingProxyType):\n"
        + "\n".join(bad)
    )


def test_the_pending_list_only_names_what_is_still_there() -> None:
    gone = ISSUE_16_PENDING - {f"{path} {name}" for path, _, name in tree_findings()}
    assert not gone, f"no longer module state, remove from ISSUE_16_PENDING: {sorted(gone)}"
