"""Cheap checks of a decoded events webhook before validation: batch size and event sizes."""

from __future__ import annotations

import json
from typing import Any

from nexus_crm.errors import InvalidInput, PayloadTooLarge
from nexus_crm.settings import Settings


def _event_items(payload: Any) -> tuple[list[Any], bool]:
    """The items of a batch envelope, or the payload as one item (validation says the rest)."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        return payload["events"], True
    return [payload], False


def _size(item: Any) -> int:
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())


def _check_sizes(items: list[Any], batch: bool, limit: int) -> None:
    for index, item in enumerate(items):
        size = _size(item)
        if size <= limit:
            continue
        message = f"event is {size} bytes as compact JSON; at most {limit} (MAX_EVENT_BYTES)"
        if not batch:
            raise PayloadTooLarge(f"the {message}", field="body")
        raise PayloadTooLarge(
            f"[{index}] {message}; nothing was stored",
            field="events",
            errors=[{"index": index, "field": "event", "message": message}],
        )


def check_events_payload(payload: Any, *, body_bytes: int, settings: Settings) -> int:
    """Refuse a batch over MAX_BATCH_EVENTS (422) or an event over MAX_EVENT_BYTES (413).

    Returns the number of events, what the webhook's rate limit counts.
    """
    items, batch = _event_items(payload)
    if len(items) > settings.max_batch_events:
        raise InvalidInput(
            f"a batch holds at most {settings.max_batch_events} events", field="events"
        )
    # No event can be larger than the body it came in: measure events only when it could be.
    if body_bytes > settings.max_event_bytes:
        _check_sizes(items, batch, settings.max_event_bytes)
    return max(1, len(items))
