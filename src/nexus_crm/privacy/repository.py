"""All SQL of the privacy domain: export reads, erasure rewrites, retention deletes."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Table,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.sql import insert_ignore_returning
from nexus_crm.models import (
    AgentUsageEvent,
    Customer,
    PrivacyErasure,
    SubscriptionChange,
    UpsellSequence,
    UpsellSequenceEvent,
    UpsellStep,
    UsageAlert,
    UsageAlertEvent,
    agent_usage_daily,
)

EVENTS = cast(Table, AgentUsageEvent.__table__)
ERASURES = cast(Table, PrivacyErasure.__table__)
D = agent_usage_daily.c
E = EVENTS.c
Mapping = dict[str, Any]
# Advisory locks (PostgreSQL) that order an erasure and the ingest of the same customer:
# (class, bucket of the user id). Few buckets keep a batch of many customers to a few locks
# in the server's shared lock table; a shared bucket only makes one wait for the other.
LOCK_CLASS = 0x4E58_5052  # "NXPR"
LOCK_BUCKETS = 32
LOCK_SQL = MappingProxyType(
    {
        True: text("SELECT pg_advisory_xact_lock(:cls, b) FROM unnest(CAST(:buckets AS int[])) b"),
        False: text(
            "SELECT pg_advisory_xact_lock_shared(:cls, b) FROM unnest(CAST(:buckets AS int[])) b"
        ),
    }
)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


async def _rows(session: AsyncSession, stmt: Any) -> list[Mapping]:
    return [dict(r._mapping) for r in (await session.execute(stmt)).all()]


def _count(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


# --- erasure records --------------------------------------------------------------------


async def erasures(session: AsyncSession, hashes: Sequence[str]) -> dict[str, PrivacyErasure]:
    """Erasure records of these subject hashes."""
    if not hashes:
        return {}
    stmt = select(PrivacyErasure).where(PrivacyErasure.subject_hash.in_(list(hashes)))
    return {e.subject_hash: e for e in (await session.scalars(stmt)).all()}


async def record_erasure(session: AsyncSession, subject_hash: str, at: datetime) -> None:
    """Insert the erasure, or restart an existing one at ``at`` (suppressed again)."""
    row = {"id": uuid7(), "subject_hash": subject_hash, "erased_at": at, "resubscribed_at": None}
    inserted = await insert_ignore_returning(
        session, ERASURES, [row], conflict=("subject_hash",), returning=("id",)
    )
    if not inserted:
        stmt = update(ERASURES).where(ERASURES.c.subject_hash == subject_hash)
        await session.execute(stmt.values(erased_at=at, resubscribed_at=None))


async def mark_resubscribed(session: AsyncSession, subject_hash: str, at: datetime) -> None:
    """Record the new subscription that lifts an erasure's suppression."""
    stmt = update(ERASURES).where(
        ERASURES.c.subject_hash == subject_hash, ERASURES.c.resubscribed_at.is_(None)
    )
    await session.execute(stmt.values(resubscribed_at=at))


def lock_bucket(user_id: str) -> int:
    """The advisory-lock bucket of a user id (stable across processes and releases)."""
    return zlib.crc32(user_id.encode()) % LOCK_BUCKETS


async def lock_subjects(session: AsyncSession, user_ids: Iterable[str], *, exclusive: bool) -> None:
    """Take the erasure locks of these customers until the transaction ends (PostgreSQL).

    Ingest takes them shared, an erasure exclusive. SQLite needs none: its writers run one
    at a time (``BEGIN IMMEDIATE``).
    """
    buckets = sorted({lock_bucket(u) for u in user_ids})
    if not buckets or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(LOCK_SQL[exclusive], {"cls": LOCK_CLASS, "buckets": buckets})


# --- what is stored about a customer ----------------------------------------------------


async def has_data(session: AsyncSession, user_id: str) -> bool:
    """Whether anything is stored under ``user_id`` (customer, aggregates or events)."""
    stmt = select(
        exists().where(Customer.user_id == user_id)
        | exists().where(D.user_id == user_id)
        | exists().where(E.user_id == user_id)
    )
    return bool(await session.scalar(stmt))


async def lock_customer(session: AsyncSession, user_id: str) -> None:
    """Lock the customer's row (PostgreSQL), so ingest of the customer waits for us."""
    await session.execute(select(Customer.id).where(Customer.user_id == user_id).with_for_update())


async def count_events(session: AsyncSession, user_id: str) -> int:
    """How many raw events are stored for ``user_id``."""
    stmt = select(func.count()).select_from(EVENTS).where(E.user_id == user_id)
    return int(await session.scalar(stmt) or 0)


async def customer(session: AsyncSession, user_id: str) -> Mapping | None:
    """The customer row as a mapping."""
    rows = await _rows(session, select(_table(Customer)).where(Customer.user_id == user_id))
    return rows[0] if rows else None


async def subscription_changes(session: AsyncSession, user_id: str) -> list[Mapping]:
    """The customer's subscription history, oldest first."""
    t = _table(SubscriptionChange)
    stmt = select(t).where(t.c.user_id == user_id).order_by(t.c.changed_at, t.c.id)
    return await _rows(session, stmt)


async def daily_usage(session: AsyncSession, user_id: str) -> list[Mapping]:
    """The customer's daily aggregates, by day and agent."""
    stmt = select(agent_usage_daily).where(D.user_id == user_id).order_by(D.day, D.agent_id)
    return await _rows(session, stmt)


async def alerts(session: AsyncSession, user_id: str) -> list[Mapping]:
    """The customer's alerts, oldest first, each with its ``events`` (transitions)."""
    a, ev = _table(UsageAlert), _table(UsageAlertEvent)
    found = await _rows(session, select(a).where(a.c.user_id == user_id).order_by(a.c.id))
    events = await _rows(
        session,
        select(ev).where(ev.c.alert_id.in_([x["id"] for x in found])).order_by(ev.c.at, ev.c.id),
    )
    for alert in found:
        alert["events"] = [e for e in events if e["alert_id"] == alert["id"]]
    return found


async def sequences(session: AsyncSession, user_id: str) -> list[Mapping]:
    """The customer's upsell sequences, each with its ``steps`` and ``events``."""
    s, st, ev = _table(UpsellSequence), _table(UpsellStep), _table(UpsellSequenceEvent)
    found = await _rows(session, select(s).where(s.c.user_id == user_id).order_by(s.c.id))
    ids = [x["id"] for x in found]
    steps = await _rows(
        session, select(st).where(st.c.sequence_id.in_(ids)).order_by(st.c.step_index)
    )
    events = await _rows(
        session, select(ev).where(ev.c.sequence_id.in_(ids)).order_by(ev.c.at, ev.c.id)
    )
    for seq in found:
        seq["steps"] = [x for x in steps if x["sequence_id"] == seq["id"]]
        seq["events"] = [x for x in events if x["sequence_id"] == seq["id"]]
    return found


async def events_page(
    session: AsyncSession, user_id: str, after: tuple[datetime, Any] | None, limit: int
) -> list[Mapping]:
    """Up to ``limit`` raw events after ``(occurred_at, id)``, in that order (keyset paging)."""
    stmt = select(EVENTS).where(E.user_id == user_id)
    if after is not None:
        at, last = after
        stmt = stmt.where(or_(E.occurred_at > at, and_(E.occurred_at == at, E.id > last)))
    return await _rows(session, stmt.order_by(E.occurred_at, E.id).limit(limit))


# --- erasure ----------------------------------------------------------------------------


async def delete_events(session: AsyncSession, user_id: str) -> int:
    """Delete the customer's raw events; return how many."""
    return _count(await session.execute(delete(EVENTS).where(E.user_id == user_id)))


async def rekey_daily(session: AsyncSession, user_id: str, anonymous_id: str) -> int:
    """Move the customer's daily aggregates to ``anonymous_id``; return how many rows."""
    stmt = update(agent_usage_daily).where(D.user_id == user_id).values(user_id=anonymous_id)
    return _count(await session.execute(stmt))


async def anonymise_customer(session: AsyncSession, user_id: str, anonymous_id: str) -> int:
    """Re-key the customer row, drop its personal fields, mark it erased (its tier stays)."""
    stmt = (
        update(_table(Customer))
        .where(Customer.user_id == user_id)
        .values(
            user_id=anonymous_id, email=None, name=None, billing_anchor_day=None, status="erased"
        )
    )
    return _count(await session.execute(stmt))


async def rekey_subscription_changes(session: AsyncSession, user_id: str, anon: str) -> int:
    """Move the customer's tier/status history to the anonymous id."""
    t = _table(SubscriptionChange)
    return _count(
        await session.execute(update(t).where(t.c.user_id == user_id).values(user_id=anon))
    )


async def delete_alerts(session: AsyncSession, user_id: str) -> int:
    """Delete the customer's alerts and their transitions (their text names the customer)."""
    a, ev = _table(UsageAlert), _table(UsageAlertEvent)
    ids = select(a.c.id).where(a.c.user_id == user_id).scalar_subquery()
    await session.execute(delete(ev).where(ev.c.alert_id.in_(ids)))
    return _count(await session.execute(delete(a).where(a.c.user_id == user_id)))


async def anonymise_sequences(session: AsyncSession, user_id: str, anon: str, now: datetime) -> int:
    """Re-key sequences, scrub free text, end active ones (nothing is sent to an erased id)."""
    s, st, ev = _table(UpsellSequence), _table(UpsellStep), _table(UpsellSequenceEvent)
    ids = select(s.c.id).where(s.c.user_id == user_id).scalar_subquery()
    await session.execute(update(st).where(st.c.sequence_id.in_(ids)).values(last_error=None))
    pending = st.c.status.in_(("scheduled", "sending"))
    await session.execute(
        update(st).where(st.c.sequence_id.in_(ids), pending).values(status="skipped")
    )
    await session.execute(update(ev).where(ev.c.sequence_id.in_(ids)).values(note=None))
    await session.execute(
        update(s)
        .where(s.c.user_id == user_id, s.c.status == "active")
        .values(status="cancelled", ended_at=now, updated_at=now)
    )
    stmt = update(s).where(s.c.user_id == user_id).values(user_id=anon, reason="[erased]")
    return _count(await session.execute(stmt))


# --- retention --------------------------------------------------------------------------


async def count_events_before(session: AsyncSession, cutoff: datetime) -> int:
    """How many raw events happened before ``cutoff``."""
    stmt = select(func.count()).select_from(EVENTS).where(E.occurred_at < cutoff)
    return int(await session.scalar(stmt) or 0)


async def delete_events_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete raw events that happened before ``cutoff``; return how many."""
    return _count(await session.execute(delete(EVENTS).where(E.occurred_at < cutoff)))
