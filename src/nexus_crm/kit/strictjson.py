"""JSON decoding that refuses what the standard library lets through silently.

``json.loads`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON), turns ``1e999``
into ``inf`` and keeps the last of two equal keys in an object. None of them can be stored
faithfully (PostgreSQL's jsonb refuses non-finite numbers, SQLite stores them and the export
then emits ``NaN``), so a body holding one is refused, naming where.
"""

from __future__ import annotations

import json
import math
from typing import Any


class JsonRefused(ValueError):
    """Valid-looking JSON holding a value we refuse; ``field`` says where (dotted path)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class _NonFinite(ValueError):
    pass


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFinite(text)
    return value


def _constant(text: str) -> float:
    raise _NonFinite(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey(_first_repeat(pairs))
    return obj


def _first_repeat(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


_STRICT = json.JSONDecoder(parse_float=_float, parse_constant=_constant, object_pairs_hook=_object)
_NON_FINITE = object()


def loads(raw: bytes | str) -> Any:
    """Decode ``raw``; :class:`JsonRefused` for non-finite numbers or a repeated key.

    Malformed JSON raises ``ValueError`` as ``json.loads`` does.
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return _STRICT.decode(text)
    except _DuplicateKey as exc:
        raise JsonRefused(f"key {exc.key!r} appears twice in one object", exc.key) from None
    except _NonFinite as exc:
        path = _path_of_non_finite(text)
        raise JsonRefused(f"{exc} is not a finite number", path) from None


def _path_of_non_finite(text: str) -> str:
    """The dotted path of the first non-finite number in ``text`` (the error path only)."""
    marked = json.loads(text, parse_float=_marked, parse_constant=lambda _: _NON_FINITE)
    return _find(marked, "") or "body"


def _marked(text: str) -> Any:
    value = float(text)
    return _NON_FINITE if math.isinf(value) else value


def _find(node: Any, path: str) -> str | None:
    if node is _NON_FINITE:
        return path
    items: Any = ()
    if isinstance(node, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        items = ((f"{path}[{i}]" if path else f"[{i}]", v) for i, v in enumerate(node))
    for child_path, child in items:
        found = _find(child, child_path)
        if found is not None:
            return found
    return None
