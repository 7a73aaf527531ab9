"""All SQL of the closer domain: sequences, steps, their audit trail, claiming due steps."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import Customer, UpsellSequence, UpsellSequenceEvent, UpsellStep

S, ST, EV = UpsellSequence, UpsellStep, UpsellSequenceEvent
EVENT_TABLE = cast(Table, UpsellSequenceEvent.__table__)
CHUNK_USERS = 2000


async def lock_customer(session: AsyncSession, user_id: str) -> Customer | None:
    """The customer, locked (PostgreSQL) so that two starts for it are serialised."""
    stmt = select(Customer).where(Customer.user_id == user_id).with_for_update()
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalars().one_or_none()


async def active_sequence(session: AsyncSession, user_id: str) -> UpsellSequence | None:
    """The customer's active sequence, if any."""
    stmt = select(S).where(S.user_id == user_id, S.status == "active")
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalars().one_or_none()


async def add(session: AsyncSession, rows: Sequence[Any]) -> None:
    """Insert new ORM rows (a sequence, its steps)."""
    session.add_all(rows)
    await session.flush()


async def add_transitions(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record sequence transitions."""
    if rows:
        await session.execute(insert(EVENT_TABLE), list(rows))


async def lock_sequence(session: AsyncSession, sequence_id: uuid.UUID) -> UpsellSequence | None:
    """One sequence, locked for update and read fresh."""
    stmt = select(S).where(S.id == sequence_id).with_for_update()
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalars().one_or_none()


async def get_sequence(session: AsyncSession, sequence_id: uuid.UUID) -> UpsellSequence | None:
    """One sequence by id."""
    return await session.get(S, sequence_id, populate_existing=True)


async def list_sequences(
    session: AsyncSession, *, status: str | None, user_id: str | None, limit: int
) -> list[UpsellSequence]:
    """Sequences newest first."""
    stmt = select(S)
    if status is not None:
        stmt = stmt.where(S.status == status)
    if user_id is not None:
        stmt = stmt.where(S.user_id == user_id)
    stmt = stmt.order_by(S.created_at.desc(), S.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def steps_of(
    session: AsyncSession, sequence_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[UpsellStep]]:
    """The steps of each sequence, in order."""
    out: dict[uuid.UUID, list[UpsellStep]] = {i: [] for i in sequence_ids}
    if sequence_ids:
        stmt = select(ST).where(ST.sequence_id.in_(list(sequence_ids))).order_by(ST.step_index)
        result = await session.execute(stmt, execution_options={"populate_existing": True})
        for step in result.scalars().all():
            out[step.sequence_id].append(step)
    return out


async def transitions_of(
    session: AsyncSession, sequence_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[UpsellSequenceEvent]]:
    """The audit trail of each sequence, oldest first."""
    out: dict[uuid.UUID, list[UpsellSequenceEvent]] = {i: [] for i in sequence_ids}
    if sequence_ids:
        stmt = select(EV).where(EV.sequence_id.in_(list(sequence_ids))).order_by(EV.at, EV.id)
        for ev in (await session.scalars(stmt)).all():
            out[ev.sequence_id].append(ev)
    return out


async def skip_scheduled_steps(session: AsyncSession, sequence_id: uuid.UUID) -> None:
    """Mark the sequence's steps not yet claimed as skipped."""
    await session.execute(
        update(ST)
        .where(ST.sequence_id == sequence_id, ST.status == "scheduled")
        .values(status="skipped")
    )


async def open_sequences_of(
    session: AsyncSession, user_ids: Sequence[str], completed_since: datetime
) -> list[tuple[UpsellSequence, Customer]]:
    """Active sequences, and those completed but started since ``completed_since``, of users."""
    out: list[tuple[UpsellSequence, Customer]] = []
    users = sorted(set(user_ids))
    for i in range(0, len(users), CHUNK_USERS):
        stmt = (
            select(S, Customer)
            .join(Customer, Customer.user_id == S.user_id)
            .where(S.user_id.in_(users[i : i + CHUNK_USERS]))
            .where(
                (S.status == "active")
                | ((S.status == "completed") & (S.created_at >= completed_since))
            )
            .order_by(S.id)
            .with_for_update(of=S)
        )
        result = await session.execute(stmt, execution_options={"populate_existing": True})
        out.extend((row[0], row[1]) for row in result.all())
    return out


async def automatic_started_since(session: AsyncSession, since: datetime) -> int:
    """How many sequences auto-upsell started since ``since``."""
    stmt = select(func.count()).select_from(S).where(S.automatic.is_(True), S.created_at >= since)
    return int(await session.scalar(stmt) or 0)


async def claim_candidates(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[UpsellStep, UpsellSequence]]:
    """Due scheduled steps of active sequences, locked; others' locked steps are skipped.

    PostgreSQL: ``FOR UPDATE OF upsell_steps SKIP LOCKED``, so concurrent workers take
    disjoint steps. SQLite: the transaction began IMMEDIATE (one writer at a time), so a
    plain SELECT is already exclusive.
    """
    stmt = (
        select(ST, S)
        .join(S, S.id == ST.sequence_id)
        .where(ST.status == "scheduled", ST.next_attempt_at <= now, S.status == "active")
        .order_by(ST.next_attempt_at, ST.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=ST, skip_locked=True)
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return [(row[0], row[1]) for row in result.all()]


async def lock_step(session: AsyncSession, step_id: uuid.UUID) -> UpsellStep | None:
    """One step, locked for update and read fresh."""
    stmt = select(ST).where(ST.id == step_id).with_for_update()
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalars().one_or_none()


async def abandon_stale_sending(session: AsyncSession, *, claimed_before: datetime) -> int:
    """Steps left ``sending`` by a worker that stopped: failed, never re-sent; how many."""
    result = await session.execute(
        update(ST)
        .where(ST.status == "sending", ST.claimed_at < claimed_before)
        .values(
            status="failed",
            last_error="delivery outcome unknown: the worker stopped while sending "
            "(not retried, so that the customer never gets it twice)",
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def unfinished_steps(session: AsyncSession, sequence_id: uuid.UUID) -> int:
    """How many steps of a sequence are still scheduled or sending."""
    stmt = select(func.count()).where(
        ST.sequence_id == sequence_id, ST.status.in_(("scheduled", "sending"))
    )
    return int(await session.scalar(stmt) or 0)
