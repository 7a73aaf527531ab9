"""JSON depth measured on the bytes agrees with the depth of the parsed value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_crm.kit.jsondepth import nests_deeper_than

# Strings full of what could fool a byte scanner: brackets, quotes and backslashes.
TRICKY = st.text(alphabet='[]{}"\\ aé\n', max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """Containers nested in ``value`` (a scalar is 0 deep)."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(0, 12), ascii_only=st.booleans())
def test_agrees_with_the_parsed_depth(value: Any, limit: int, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nests_deeper_than(raw, limit) == (depth(value) > limit)


@pytest.mark.parametrize(
    ("raw", "limit", "deeper"),
    [
        (b'{"a": "[[[[[[", "b": [1]}', 2, False),
        (b'{"a": "[[[[[[", "b": [1]}', 1, True),
        (b'["\\\\", [["\\"]"]]]', 2, True),
        (b'["\\\\", [["\\"]"]]]', 3, False),
        (b"[" * 40 + b"]" * 40, 32, True),
        (b"[" * 32 + b"]" * 32, 32, False),
        (b"[" * 40, 2, False),  # malformed: left to the parser, which names it
    ],
)
def test_cases(raw: bytes, limit: int, deeper: bool) -> None:
    assert nests_deeper_than(raw, limit) is deeper
