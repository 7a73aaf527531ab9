"""Validation of what ``track_agent_usage`` and ``track_subscription`` are given.

The rules mirror NexusCRM's contract (docs/ingest.md), so a bad call fails in the caller's
code, at once, instead of in the dead-letter table later.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from genesis_crm.errors import InvalidEventError
from genesis_crm.ids import uuid7

_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")
MAX_METADATA_BYTES = 16 * 1024
MAX_FUTURE = timedelta(minutes=5)


def _text(field: str, value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidEventError(field, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if not value or len(value) > max_len or not _PRINTABLE.match(value):
        raise InvalidEventError(field, f"must be 1-{max_len} printable characters")
    return value


def _count(field: str, value: object, maximum: int) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventError(field, f"must be a finite integer, not {value}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(field, f"must be an integer, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise InvalidEventError(field, f"must be between 0 and {maximum:,}")
    return value


def _timestamp(value: datetime | None, now: datetime) -> str:
    if value is None:
        return now.isoformat()
    if not isinstance(value, datetime):
        raise InvalidEventError("timestamp", "must be a datetime (timezone-aware, or UTC)")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value > now + MAX_FUTURE:
        raise InvalidEventError("timestamp", "is more than 5 minutes in the future")
    return value.isoformat()


def _metadata(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEventError("metadata", "must be a dict")
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise InvalidEventError("metadata", f"must be JSON-serialisable ({exc})") from None
    except RecursionError:
        raise InvalidEventError("metadata", "is nested too deeply") from None
    if size > MAX_METADATA_BYTES:
        raise InvalidEventError("metadata", f"is larger than {MAX_METADATA_BYTES} bytes")
    # json.dumps writes NaN/Infinity, which is not JSON: NexusCRM cannot store it, and an
    # event holding one would poison every batch it travels in.
    path = _non_finite_path(value, "metadata")
    if path is not None:
        raise InvalidEventError(path, "must be a finite number (not NaN or ±infinity)")
    return value


def _non_finite_path(root: object, root_path: str) -> str | None:
    """Where the first NaN or ±inf is (``metadata.a.b[1]``), None if nowhere.

    Iterative, so any depth json.dumps accepted is walked; json.dumps also ruled out cycles.
    """
    stack: list[tuple[str, object]] = [(root_path, root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return path
        children: list[tuple[str, object]] = []
        if isinstance(node, dict):
            children = [(f"{path}.{k}", v) for k, v in node.items()]
        elif isinstance(node, list | tuple):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(node)]
        stack.extend(reversed(children))  # document order: the first one is reported
    return None


def build_event(
    *,
    user_id: str,
    agent_id: str,
    session_id: str,
    tokens_used: int,
    response_time_ms: int,
    subscription_tier: str,
    timestamp: datetime | None,
    metadata: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """A validated usage event with a fresh time-ordered ``event_id``, ready to send."""
    return {
        "event_id": str(uuid7()),
        "user_id": _text("user_id", user_id, 128),
        "agent_id": _text("agent_id", agent_id, 64).upper(),
        "session_id": _text("session_id", session_id, 128),
        "tokens_used": _count("tokens_used", tokens_used, 10_000_000),
        "response_time_ms": _count("response_time_ms", response_time_ms, 3_600_000),
        "subscription_tier": _text("subscription_tier", subscription_tier, 32).lower(),
        "timestamp": _timestamp(timestamp, now),
        "metadata": _metadata(metadata),
    }


def build_subscription(
    *,
    user_id: str,
    tier: str,
    status: str,
    email: str | None,
    name: str | None,
    timestamp: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """A validated subscription update, stamped with its time so a resend is the same fact."""
    status = _text("status", status, 16).lower()
    if status not in ("active", "cancelled"):
        raise InvalidEventError("status", "must be 'active' or 'cancelled'")
    body: dict[str, Any] = {
        "user_id": _text("user_id", user_id, 128),
        "tier": _text("tier", tier, 32).lower(),
        "status": status,
        "timestamp": _timestamp(timestamp, now),
    }
    if email is not None:
        if "@" not in _text("email", email, 320):
            raise InvalidEventError("email", "is not an e-mail address")
        body["email"] = email.strip()
    if name is not None:
        body["name"] = _text("name", name, 200)
    return body
