"""Delivery policy as pure functions: what to do with an answer, how long to wait."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

RETRYABLE_STATUSES = frozenset({408, 425, 429})
# 401/403 mean the secret or URL is misconfigured, not that the events are bad: keep them.
CONFIG_STATUSES = frozenset({401, 403})
MAX_RETRY_AFTER_S = 3600.0
# The CRM, its gateway or its database is down or overloaded: an outage, whatever we send.
OUTAGE_STATUSES = frozenset({502, 503, 504})
# Server errors (is_server_fault) a batch's items may collect before it is bisected to find
# a poisoned item; 1-2 are left to transient failures (docs/genesis-client.md).
SPLIT_AFTER_SERVER_ERRORS = 3
# Server errors in a row, without one proper answer, after which a bisection stops: the
# server fails everything (an outage), so nothing is dead-lettered and the rest retries.
BLIND_PROBES = 4


class Action(Enum):
    """What the flusher does with a batch after an answer (or a failure to get one)."""

    DONE = "done"  # delivered: delete from the outbox
    RETRY = "retry"  # keep, try again after a delay
    SPLIT = "split"  # too large: resend in smaller batches
    DEAD = "dead"  # the server refused these items: move them to the dead-letter table


@dataclass(frozen=True)
class Decision:
    """An action, and for DEAD on a batch, which items (by index) the server refused."""

    action: Action
    reason: str
    bad_items: dict[int, str] = field(default_factory=dict)


def _item_errors(body: str) -> dict[int, str]:
    """Index → message of the items a 422 batch answer names."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return {}
    out: dict[int, str] = {}
    for e in errors:
        if isinstance(e, dict) and isinstance(e.get("index"), int):
            out.setdefault(e["index"], f"{e.get('field')}: {e.get('message')}")
    return out


def classify(status: int | None, body: str, *, batch_size: int) -> Decision:
    """Decide from an HTTP status (None: no answer — network error or timeout)."""
    if status is None:
        return Decision(Action.RETRY, "no answer from NexusCRM")
    if 200 <= status < 300:
        return Decision(Action.DONE, "delivered")
    if status >= 500 or status in RETRYABLE_STATUSES:
        return Decision(Action.RETRY, f"HTTP {status}")
    if status in CONFIG_STATUSES:
        return Decision(Action.RETRY, f"HTTP {status}: check CRM_WEBHOOK_SECRET / CRM_BASE_URL")
    if status == 413 and batch_size > 1:
        return Decision(Action.SPLIT, "HTTP 413: batch too large")
    bad = _item_errors(body) if status == 422 else {}
    if bad:
        return Decision(Action.DEAD, f"HTTP {status}", bad)
    if batch_size > 1:
        return Decision(Action.SPLIT, f"HTTP {status} for a batch: isolate the bad item")
    return Decision(Action.DEAD, f"HTTP {status}: {body[:500]}", {0: body[:500]})


def is_server_fault(status: int | None, retry_after: str | None) -> bool:
    """A 5xx that may be caused by what was sent (500-like), not an outage.

    No answer, 502/503/504 and any answer with ``Retry-After`` mean the CRM is down or busy;
    a 500 (or 501, 505…) without ``Retry-After`` may be a crash on one item of the batch.
    """
    if status is None or status < 500 or status in OUTAGE_STATUSES:
        return False
    return not retry_after


def backoff(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base·2^(n-1))]."""
    return rand() * min(cap, base * 2.0 ** max(0, attempt - 1))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_S)


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    rand: Callable[[], float],
) -> float:
    """Wait before attempt ``attempt + 1``: the server's Retry-After if given, else backoff."""
    if retry_after is not None:
        return retry_after
    return backoff(attempt, base=base, cap=cap, rand=rand)
