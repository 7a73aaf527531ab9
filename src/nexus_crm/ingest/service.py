"""Ingest services: parse and validate webhooks, store events once, keep aggregates true."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.customers.events import SubscriptionRecorded
from nexus_crm.customers.schemas import SubscriptionIn, SubscriptionResult
from nexus_crm.customers.service import apply_subscription, observe_tiers
from nexus_crm.errors import InvalidInput
from nexus_crm.ingest import repository as repo
from nexus_crm.ingest.events import UsageStored
from nexus_crm.ingest.schemas import EVENT_LIST, IngestResult, SuppressedEvent, UsageEventIn
from nexus_crm.kit import strictjson
from nexus_crm.kit.events import dispatch
from nexus_crm.kit.histogram import bucket_index
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import local_day, utc_hour
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS
from nexus_crm.privacy.schemas import SUPPRESSED_REASON
from nexus_crm.privacy.service import admit_subscription, erasure_key, suppress_erased
from nexus_crm.settings import Settings


@dataclass(frozen=True)
class IngestOutcome:
    """Counts for the caller, and which rows were stored and which suppressed."""

    result: IngestResult
    inserted: list[Mapping[str, Any]]
    suppressed: list[Mapping[str, Any]] = field(default_factory=list)


def _context(settings: Settings, now: datetime, tiers: frozenset[str]) -> dict[str, Any]:
    return {
        "tiers": tiers,
        "now": now,
        "max_future_seconds": settings.max_future_seconds,
        "retention_days": settings.raw_event_retention_days,
    }


async def validation_context(
    session: AsyncSession, settings: Settings, now: datetime
) -> dict[str, Any]:
    """What validation needs to know: the configured tiers and the clock."""
    return _context(settings, now, await repo.known_tiers(session))


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body or fail with a 422 naming the body (or the refused value's field)."""
    try:
        return strictjson.loads(raw)
    except strictjson.JsonRefused as exc:
        raise _refused(exc) from None
    except RecursionError:
        raise InvalidInput("body is nested too deeply", field="body") from None
    except ValueError as exc:  # bad UTF-8, bad JSON, integers of more than 4,300 digits
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from None


_BATCH_ITEM = re.compile(r"events\[(\d+)\]\.?(.*)")


def _refused(exc: strictjson.JsonRefused) -> InvalidInput:
    """The 422 of a refused JSON value; in a batch, it names the item as validation does."""
    item = _BATCH_ITEM.fullmatch(exc.field)
    if item is None:
        return InvalidInput(str(exc), field=exc.field)
    index, inner = int(item[1]), item[2] or "event"
    errors = [{"index": index, "field": inner, "message": str(exc)}]
    return InvalidInput(f"[{index}] {inner}: {exc}; nothing was stored", errors=errors)


def _items(payload: Any) -> tuple[list[Any], bool]:
    """Split a payload into raw items; True when it was a batch envelope."""
    if isinstance(payload, dict) and "events" in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            raise InvalidInput(f"unexpected key {extra[0]!r} next to events", field=extra[0])
        if not isinstance(payload["events"], list):
            raise InvalidInput("events must be a list of event objects", field="events")
        return payload["events"], True
    if isinstance(payload, dict):
        return [payload], False
    raise InvalidInput('body must be an event object or {"events": [...]}', field="body")


def _errors(exc: ValidationError, batch: bool) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False):
        index, *path = err["loc"]
        item: dict[str, Any] = {"field": ".".join(map(str, path)) or "event", "message": err["msg"]}
        if batch:
            item = {"index": index, **item}
        out.append(item)
    return out


def validate_events(
    payload: Any, *, context: Mapping[str, Any], max_events: int
) -> tuple[list[UsageEventIn], bool]:
    """Validate every item; reject the whole payload listing each bad item and field."""
    items, batch = _items(payload)
    if batch and not items:
        raise InvalidInput("events is empty", field="events")
    if len(items) > max_events:
        raise InvalidInput(f"a batch holds at most {max_events} events", field="events")
    try:
        return EVENT_LIST.validate_python(items, context=dict(context)), batch
    except ValidationError as exc:
        errors = _errors(exc, batch)
        bad = len({e.get("index", 0) for e in errors})
        detail = f"{bad} invalid event(s); nothing was stored: " + "; ".join(
            (f"[{e['index']}] " if batch else "") + f"{e['field']}: {e['message']}"
            for e in errors[:5]
        )
        extra = {"errors": errors} if batch else {"field": errors[0]["field"], "errors": errors}
        raise InvalidInput(detail, **extra) from None


EVENT_ID_MAX = 128  # agent_usage_events.event_id
# What a webhook-id may hold: printable, no blanks (it names stored events).
_WEBHOOK_ID = re.compile(r"[^\x00-\x20\x7f-\x9f\u2028\u2029]+")


def check_webhook_id(webhook_id: str) -> str:
    """The ``webhook-id`` header if it can name events; else a 422 naming the header."""
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise InvalidInput(
            "webhook-id must be printable, without blanks or control characters",
            field="webhook-id",
        )
    return webhook_id


def derived_event_id(webhook_id: str, index: int | None) -> str:
    """The id of an event sent without one: the webhook-id (``:index`` in a batch).

    A retried webhook repeats its webhook-id, so its events dedupe. One too long for the
    column is replaced by its SHA-256 (the same for every retry): never cut, which would
    make different webhooks' events collide.
    """
    suffix = "" if index is None else f":{index}"
    if len(webhook_id) + len(suffix) > EVENT_ID_MAX:
        webhook_id = "sha256:" + hashlib.sha256(webhook_id.encode()).hexdigest()
    return webhook_id + suffix


def event_rows(
    events: Sequence[UsageEventIn],
    *,
    webhook_id: str,
    batch: bool,
    received_at: datetime,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    """Rows for ``agent_usage_events``, sorted by ``event_id`` (a fixed lock order)."""
    rows = []
    for i, ev in enumerate(events):
        occurred = ev.timestamp or received_at
        event_id = ev.event_id or derived_event_id(webhook_id, i if batch else None)
        rows.append(
            {
                "id": uuid7(),
                "event_id": event_id,
                "user_id": ev.user_id,
                "agent_id": ev.agent_id,
                "session_id": ev.session_id,
                "tokens_used": ev.tokens_used,
                "response_time_ms": ev.response_time_ms,
                "subscription_tier": ev.subscription_tier,
                "occurred_at": occurred,
                "day": local_day(occurred, tz),
                "received_at": received_at,
                "metadata": ev.metadata,
            }
        )
    rows.sort(key=lambda r: str(r["event_id"]))
    return rows


Event = Mapping[str, Any]


def _accumulate(
    inserted: Sequence[Event],
    key_of: Callable[[Event], tuple[Any, ...]],
    names: Sequence[str],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per-key sums, maxima and histograms of inserted event rows (``names``: the key columns)."""
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in inserted:
        key = key_of(r)
        a = acc.get(key)
        if a is None:
            a = acc[key] = {
                **dict(zip(names, key, strict=True)),
                "interactions": 0,
                "tokens": 0,
                "response_time_sum_ms": 0,
                "response_time_max_ms": 0,
                **dict.fromkeys(RESPONSE_TIME_BUCKETS, 0),
            }
        ms = r["response_time_ms"]
        a["interactions"] += 1
        a["tokens"] += r["tokens_used"]
        a["response_time_sum_ms"] += ms
        a["response_time_max_ms"] = max(a["response_time_max_ms"], ms)
        a[RESPONSE_TIME_BUCKETS[bucket_index(ms, RESPONSE_TIME_BOUNDS_MS)]] += 1
    return acc


def daily_increments(inserted: Sequence[Event]) -> list[dict[str, Any]]:
    """Per (day, user, agent) increments from the rows actually inserted, sorted by key."""
    acc = _accumulate(
        inserted, itemgetter("day", "user_id", "agent_id"), ("day", "user_id", "agent_id")
    )
    for r in inserted:
        a, at = acc[(r["day"], r["user_id"], r["agent_id"])], r["occurred_at"]
        a["first_at"] = min(a.get("first_at", at), at)
        a["last_at"] = max(a.get("last_at", at), at)
    return [acc[k] for k in sorted(acc)]


def hourly_increments(inserted: Sequence[Event]) -> list[dict[str, Any]]:
    """Per (UTC hour, agent) increments from the rows actually inserted, sorted by key."""
    acc = _accumulate(
        inserted, lambda r: (utc_hour(r["occurred_at"]), r["agent_id"]), ("hour", "agent_id")
    )
    return [acc[k] for k in sorted(acc)]


def _first_of_each_event(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``rows`` without repeats of an ``event_id`` (the first is kept; the rest are duplicates)."""
    seen: set[Any] = set()
    unique = []
    for r in rows:
        if r["event_id"] not in seen:
            seen.add(r["event_id"])
            unique.append(r)
    return unique


def _result(inserted: int, kept: int, suppressed: Sequence[Mapping[str, Any]]) -> IngestResult:
    if not suppressed:
        return IngestResult(accepted=inserted, duplicates=kept - inserted)
    notes = [
        SuppressedEvent(event_id=str(r["event_id"]), reason=SUPPRESSED_REASON) for r in suppressed
    ]
    return IngestResult(
        accepted=inserted,
        duplicates=kept - inserted,
        suppressed=len(suppressed),
        suppressed_events=notes,
    )


async def store_usage(
    session: AsyncSession,
    *,
    rows: Sequence[Mapping[str, Any]],
    received_at: datetime,
    erasure_key: bytes | None = None,
) -> IngestOutcome:
    """Store new events, add them to aggregates and track tiers, announcing nothing.

    With ``erasure_key``, events of erased customers are answered as suppressed, not stored.
    The caller announces the usage (``UsageStored``) itself, as a history import does once.
    """
    suppressed: list[Mapping[str, Any]] = []
    if erasure_key is not None:
        rows, suppressed = await suppress_erased(session, rows, erasure_key)
    unique = _first_of_each_event(rows)
    stored = await repo.insert_events(session, unique)
    inserted = [r for r in unique if r["event_id"] in stored]
    await repo.add_to_daily(session, daily_increments(inserted))
    await repo.add_to_hourly(session, hourly_increments(inserted))
    observations: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for r in inserted:
        observations[r["user_id"]].append((r["occurred_at"], r["subscription_tier"]))
    await observe_tiers(session, observations, now=received_at)
    result = _result(len(inserted), len(rows), suppressed)
    return IngestOutcome(result=result, inserted=inserted, suppressed=suppressed)


async def ingest_events(
    session: AsyncSession,
    *,
    rows: Sequence[Mapping[str, Any]],
    received_at: datetime,
    erasure_key: bytes | None = None,
) -> IngestOutcome:
    """Store new events (``store_usage``) and announce them: ``UsageStored``.

    Its handlers run in this transaction (usage-limit alerts); its listeners after commit
    (the live stream). Duplicates and suppressed events are not announced.
    """
    outcome = await store_usage(
        session, rows=rows, received_at=received_at, erasure_key=erasure_key
    )
    if outcome.inserted:
        users = tuple(sorted({str(r["user_id"]) for r in outcome.inserted}))
        stored = UsageStored(user_ids=users, at=received_at, inserted=tuple(outcome.inserted))
        await dispatch(session, stored)
    return outcome


async def ingest_requests(
    session: AsyncSession,
    *,
    requests: Sequence[Sequence[Mapping[str, Any]]],
    received_at: datetime,
    settings: Settings,
) -> tuple[IngestOutcome, list[IngestOutcome]]:
    """Store several webhooks' event rows in the caller's transaction (group commit).

    Returns the combined outcome and each request's own counts. An event id sent by two
    requests of the group is stored for the first one and is a duplicate for the other, as
    if they had come one after the other.
    """
    rows = sorted((r for req in requests for r in req), key=lambda r: str(r["event_id"]))
    combined = await ingest_events(
        session,
        rows=rows,
        received_at=received_at,
        erasure_key=erasure_key(settings),
    )
    stored = {id(r) for r in combined.inserted}
    suppressed = {id(r) for r in combined.suppressed}
    each = []
    for req in requests:
        mine = [r for r in req if id(r) in stored]
        blocked = [r for r in req if id(r) in suppressed]
        result = _result(len(mine), len(req) - len(blocked), blocked)
        each.append(IngestOutcome(result=result, inserted=mine, suppressed=blocked))
    return combined, each


async def store_subscription(
    session: AsyncSession,
    sub: SubscriptionIn,
    *,
    received_at: datetime,
    key: bytes,
) -> SubscriptionResult:
    """Apply an update unless its customer was erased (then answered as suppressed).

    The rule of the webhook and of the history import alike (``admit_subscription``).
    """
    at = sub.timestamp or received_at
    if not await admit_subscription(
        session, user_id=sub.user_id, status=sub.status, at=at, key=key
    ):
        return SubscriptionResult(
            user_id=sub.user_id,
            tier=sub.tier,
            status=sub.status,
            changed=False,
            suppressed=SUPPRESSED_REASON,
        )
    return await apply_subscription(session, sub, received_at=received_at)


def validate_subscription(payload: Any, *, context: Mapping[str, Any]) -> SubscriptionIn:
    """Validate a subscription update or fail with a 422 naming each bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput("body must be a subscription object", field="body")
    try:
        return SubscriptionIn.model_validate(payload, context=dict(context))
    except ValidationError as exc:
        errors = [
            {"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidInput(detail, field=errors[0]["field"], errors=errors) from None


def payload_rows(
    payload: Any,
    *,
    webhook_id: str,
    settings: Settings,
    received_at: datetime,
    tiers: frozenset[str],
) -> list[dict[str, Any]]:
    """Validate a decoded events webhook against the known ``tiers``; its rows to store."""
    context = _context(settings, received_at, tiers)
    check_webhook_id(webhook_id)
    events, batch = validate_events(payload, context=context, max_events=settings.max_batch_events)
    return event_rows(
        events, webhook_id=webhook_id, batch=batch, received_at=received_at, tz=settings.tz
    )


async def ingest_payload(
    session: AsyncSession,
    *,
    payload: Any,
    webhook_id: str,
    settings: Settings,
    received_at: datetime,
) -> IngestOutcome:
    """Validate a decoded events webhook and store its events in the caller's transaction."""
    rows = payload_rows(
        payload,
        webhook_id=webhook_id,
        settings=settings,
        received_at=received_at,
        tiers=await repo.known_tiers(session),
    )
    return await ingest_events(
        session, rows=rows, received_at=received_at, erasure_key=erasure_key(settings)
    )


async def record_subscription(
    session: AsyncSession, *, payload: Any, settings: Settings, received_at: datetime
) -> SubscriptionResult:
    """Validate and apply a subscription webhook; announce it (``SubscriptionRecorded``).

    Its handler re-evaluates the customer's usage-limit alerts in this transaction.
    """
    context = await validation_context(session, settings, received_at)
    sub = validate_subscription(payload, context=context)
    key = erasure_key(settings)
    result = await store_subscription(session, sub, received_at=received_at, key=key)
    if not result.suppressed:
        await dispatch(session, SubscriptionRecorded(user_id=sub.user_id, at=received_at))
    return result
