"""How deeply a JSON text nests, measured on the bytes at C speed (no Python loop per byte)."""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # a backslash and the byte it escapes
_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone, a string ends at the next quote
_SHAPE = bytes.maketrans(b"[]{}", b"()()")
_NOT_SHAPE = bytes(sorted(set(range(256)) - set(b'"[]{}')))


def _skeleton(raw: bytes) -> bytes:
    """The text's containers alone: ``(`` per opening and ``)`` per closing bracket."""
    if b"\\" in raw:
        raw = _ESCAPE.sub(b"", raw)
    shape = raw.translate(_SHAPE, _NOT_SHAPE)
    # Two adjacent quotes are an empty string, or two strings with no bracket between them:
    # dropping them keeps every other quote paired. What stays are strings holding brackets.
    shape = shape.replace(b'""', b"")
    return _STRING.sub(b"", shape) if b'"' in shape else shape


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` nests arrays and objects more than ``limit`` levels deep.

    Each pass removes the innermost empty pairs, so a well-formed text empties in as many
    passes as it is deep. Text that stops shrinking is malformed: the JSON parser reports it.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    shape = _skeleton(raw)
    for _ in range(limit + 1):
        if not shape:
            return False
        shorter = shape.replace(b"()", b"")
        if shorter == shape:
            return False
        shape = shorter
    return True
