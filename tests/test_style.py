"""Style rules checked on the source tree: short functions, and no formatter opt-outs."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_FUNCTION_LINES = 40
#: Built from two parts so that this file does not contain the text it looks for.
FORMATTER_OPT_OUT = "fmt" + ": skip"


def _functions(path: Path) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of a module, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's last line; decorators are not counted."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def _files(*folders: str) -> Iterator[Path]:
    """The files under ``folders``, bytecode caches left out."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path


def long_functions(root: Path) -> list[str]:
    """``file:function (N lines)`` of every function under ``root`` over the limit."""
    return [
        f"{path.relative_to(root)}:{node.name} ({_length(node)} lines)"
        for path in sorted(root.rglob("*.py"))
        for node in _functions(path)
        if _length(node) > MAX_FUNCTION_LINES
    ]


def test_no_function_is_longer_than_40_lines() -> None:
    long = long_functions(SRC)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)


def test_the_function_walk_sees_the_source() -> None:
    # Guards the test above against passing vacuously (a moved src/ would find nothing).
    assert sum(1 for path in SRC.rglob("*.py") for _ in _functions(path)) > 100


def _toy(statements: int) -> str:
    """A decorated function whose nested function holds ``statements`` lines."""
    body = "".join(f"        x{i} = {i}\n" for i in range(statements))
    return f"@decorated\ndef outer():\n    async def inner():\n{body}    return inner\n"


def test_a_long_function_is_named_nested_ones_on_their_own_too(tmp_path: Path) -> None:
    toy = tmp_path / "toy.py"
    # inner: its def line and the statements; outer adds its def and return, not the decorator.
    toy.write_text(_toy(39), encoding="utf-8")
    assert long_functions(tmp_path) == ["toy.py:outer (42 lines)"]
    toy.write_text(_toy(40), encoding="utf-8")
    assert long_functions(tmp_path) == ["toy.py:outer (43 lines)", "toy.py:inner (41 lines)"]


def test_no_file_opts_out_of_the_formatter() -> None:
    needle = FORMATTER_OPT_OUT.encode()
    found = [
        str(path.relative_to(ROOT))
        for path in _files("src", "tests", "bench")
        if needle in path.read_bytes()
    ]
    assert not found, f"{FORMATTER_OPT_OUT!r} in: " + ", ".join(found)
