"""History import: GENESIS events and subscriptions from files, by the webhook's write path.

Each line is validated on its own with the webhook's models, so a bad line is reported with
its number and reason and the others are imported. Valid events are stored in batches by
``store_usage`` (the same dedupe, daily aggregates and tier tracking as the webhook), one
transaction per batch: a million events cannot wait for one commit, and a re-run is safe
because every event has an id (derived from its content when the file gives none) and a
subscription update records only real changes. The imported customers' usage is announced
once at the end (``UsageStored``: their usage-limit alerts). Erased customers' lines are
suppressed by the webhook's rule (events and subscription updates alike; docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.customers.schemas import SubscriptionIn, SubscriptionResult
from nexus_crm.customers.service import apply_subscription
from nexus_crm.db import run_transaction
from nexus_crm.ingest.events import UsageStored
from nexus_crm.ingest.readers import Problem, Record, spec_of
from nexus_crm.ingest.schemas import IngestResult, UsageEventIn
from nexus_crm.ingest.service import (
    event_rows,
    ingest_events,
    store_subscription,
    store_usage,
    validation_context,
)
from nexus_crm.kit.events import dispatch
from nexus_crm.kit.time import utcnow
from nexus_crm.privacy.service import erasure_key
from nexus_crm.settings import Settings

M = TypeVar("M", bound=BaseModel)
EVENT_CSV = spec_of(
    UsageEventIn.model_fields, integers={"tokens_used", "response_time_ms"}, objects={"metadata"}
)
SUBSCRIPTION_CSV = spec_of(
    SubscriptionIn.model_fields, integers={"billing_anchor_day"}, objects=set()
)
EVENT_BATCH = 10_000
SUBSCRIPTION_BATCH = 500
NO_TIMESTAMP = "required in a history import (the import time would misdate the history)"
PROGRESS_EVERY = 2000  # lines


@dataclass(frozen=True)
class Rejection:
    """A line that was not imported: its number and each problem as (field, reason)."""

    line: int
    problems: list[Problem]

    def __str__(self) -> str:
        return "; ".join(f"{name}: {reason}" for name, reason in self.problems)


@dataclass
class ImportCounts:
    """What an import did with the lines it read (``read`` excludes blank lines)."""

    kind: Literal["events", "subscriptions"]
    read: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    blank: int = 0
    suppressed: int = 0  # valid lines of erased customers, not stored (docs/security.md)

    def summary(self) -> dict[str, int]:
        """Counts under the kind's own names: imported/duplicates or changed/unchanged."""
        stored, unchanged = (
            ("imported", "duplicates") if self.kind == "events" else ("changed", "unchanged")
        )
        counts = {
            "read": self.read,
            stored: self.stored,
            unchanged: self.unchanged,
            "rejected": self.rejected,
            "blank": self.blank,
        }
        return counts | ({"suppressed": self.suppressed} if self.suppressed else {})


@dataclass(frozen=True)
class ImportHooks:
    """Callbacks of a running import: each rejected line, and progress now and then."""

    on_reject: Callable[[Rejection], None] = lambda _r: None
    on_progress: Callable[[ImportCounts], None] = lambda _c: None


def _describe(error: Mapping[str, Any]) -> Problem:
    name = ".".join(map(str, error["loc"])) or "line"
    reason = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, str | int | float | bool):
        reason += f" (got {value!r:.60})"
    return name, reason


def validate_record(record: Record, model: type[M], context: dict[str, Any]) -> M | Rejection:
    """The record as ``model``, or every problem of its line; a history needs timestamps."""
    problems = list(record.problems)
    if record.fields is None:
        return Rejection(record.line, problems)
    if record.fields.get("timestamp") is None:
        problems.append(("timestamp", NO_TIMESTAMP))
    try:
        item = model.model_validate(record.fields, context=context)
    except ValidationError as exc:
        reported = {name for name, _ in problems}
        problems += [p for p in map(_describe, exc.errors()) if p[0] not in reported]
        return Rejection(record.line, problems)
    return Rejection(record.line, problems) if problems else item


def derived_event_id(event: UsageEventIn) -> str:
    """A stable id for an event given without one: the same content, the same id."""
    content = event.model_dump(mode="json", exclude={"event_id"})
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "imp_" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def valid_batches(
    records: Iterable[Record],
    counts: ImportCounts,
    hooks: ImportHooks,
    size: int,
    validate: Callable[[Record], M | Rejection],
) -> Iterator[list[M]]:
    """Lists of up to ``size`` valid items; blank lines counted, rejected ones reported."""
    batch: list[M] = []
    for record in records:
        if record.blank:
            counts.blank += 1
            continue
        counts.read += 1
        if counts.read % PROGRESS_EVERY == 0:
            hooks.on_progress(counts)
        item = validate(record)
        if isinstance(item, Rejection):
            counts.rejected += 1
            hooks.on_reject(item)
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def store_events(
    session: AsyncSession,
    *,
    events: list[UsageEventIn],
    settings: Settings,
    announce: bool = True,
) -> IngestResult:
    """Store validated history events in the caller's transaction, as the webhook would.

    ``announce=False`` leaves announcing the usage (``UsageStored``: usage-limit alerts) to
    the caller: ``import_events`` does it once at the end instead of once per batch.
    """
    now = utcnow()
    for ev in events:
        if ev.event_id is None:
            ev.event_id = derived_event_id(ev)
    rows = event_rows(events, webhook_id="import", batch=True, received_at=now, tz=settings.tz)
    key = erasure_key(settings)  # erased customers stay erased (suppressed)
    store = ingest_events if announce else store_usage
    return (await store(session, rows=rows, received_at=now, erasure_key=key)).result


async def announce_imported(session: AsyncSession, *, user_ids: Sequence[str]) -> None:
    """Announce the imported customers' usage once, as of now (their usage-limit alerts)."""
    await dispatch(session, UsageStored(user_ids=tuple(user_ids), at=utcnow()))


async def store_subscriptions(
    session: AsyncSession, *, subscriptions: list[SubscriptionIn], settings: Settings | None = None
) -> list[SubscriptionResult]:
    """Apply subscription updates in file order in the caller's transaction.

    With ``settings``, as the webhook does: updates of erased customers are suppressed.
    """
    now = utcnow()
    if settings is None:
        return [await apply_subscription(session, sub, received_at=now) for sub in subscriptions]
    key = erasure_key(settings)
    return [
        await store_subscription(session, sub, received_at=now, key=key) for sub in subscriptions
    ]


async def _context(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, Any]:
    async with sessions() as session:
        return await validation_context(session, settings, utcnow())


async def import_events(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    records: Iterable[Record],
    hooks: ImportHooks | None = None,
    batch_size: int = EVENT_BATCH,
) -> ImportCounts:
    """Import event records, one transaction per batch; count every line and report rejects."""
    hooks = hooks or ImportHooks()
    counts = ImportCounts("events")
    check = partial(validate_record, model=UsageEventIn, context=await _context(sessions, settings))
    touched: set[str] = set()
    for batch in valid_batches(records, counts, hooks, batch_size, check):
        work = partial(store_events, events=batch, settings=settings, announce=False)
        result = await run_transaction(sessions, work)
        touched.update(ev.user_id for ev in batch)
        counts.stored += result.accepted
        counts.unchanged += result.duplicates
        counts.suppressed += result.suppressed or 0
    # Limits are checked once for the whole history (per batch, a customer's period totals
    # were re-read for every batch that touched it: the import's cost grew with customers).
    if touched:
        await run_transaction(sessions, partial(announce_imported, user_ids=sorted(touched)))
    hooks.on_progress(counts)
    return counts


async def import_subscriptions(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    records: Iterable[Record],
    hooks: ImportHooks | None = None,
    batch_size: int = SUBSCRIPTION_BATCH,
) -> ImportCounts:
    """Import subscription records in file order; "changed" counts tier/status changes."""
    hooks = hooks or ImportHooks()
    counts = ImportCounts("subscriptions")
    context = await _context(sessions, settings)
    check = partial(validate_record, model=SubscriptionIn, context=context)
    for batch in valid_batches(records, counts, hooks, batch_size, check):
        work = partial(store_subscriptions, subscriptions=batch, settings=settings)
        results = await run_transaction(sessions, work)
        counts.stored += sum(r.changed for r in results)
        counts.suppressed += sum(r.suppressed is not None for r in results)
        counts.unchanged += sum(not r.changed and r.suppressed is None for r in results)
    hooks.on_progress(counts)
    return counts
