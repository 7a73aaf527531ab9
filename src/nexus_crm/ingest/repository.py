"""All SQL of the ingest path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.sql import insert_ignore_keys, insert_ignore_returning, upsert_accumulate
from nexus_crm.models import (
    RESPONSE_TIME_BUCKETS,
    AgentUsageEvent,
    Customer,
    SubscriptionChange,
    UsageTierLimit,
    agent_usage_daily,
    agent_usage_hourly,
)

EVENT_TABLE = cast(Table, AgentUsageEvent.__table__)
CUSTOMER_TABLE = cast(Table, Customer.__table__)


async def known_tiers(session: AsyncSession) -> frozenset[str]:
    """Names of the configured tiers."""
    return frozenset((await session.scalars(select(UsageTierLimit.tier))).all())


async def insert_events(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert events not stored yet (by ``event_id``, unique in ``rows``); return their ids."""
    return await insert_ignore_keys(session, EVENT_TABLE, rows, conflict="event_id")


async def add_to_daily(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add per (day, user, agent) increments to ``agent_usage_daily``."""
    await upsert_accumulate(
        session,
        agent_usage_daily,
        rows,
        key=("day", "user_id", "agent_id"),
        add=("interactions", "tokens", "response_time_sum_ms", *RESPONSE_TIME_BUCKETS),
        greatest=("response_time_max_ms", "last_at"),
        least=("first_at",),
    )


async def add_to_hourly(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add per (hour, agent) increments to ``agent_usage_hourly``."""
    await upsert_accumulate(
        session,
        agent_usage_hourly,
        rows,
        key=("hour", "agent_id"),
        add=("interactions", "tokens", "response_time_sum_ms", *RESPONSE_TIME_BUCKETS),
        greatest=("response_time_max_ms",),
    )


async def existing_customers(session: AsyncSession, user_ids: Sequence[str]) -> set[str]:
    """Which of ``user_ids`` already have a customer row (no lock taken)."""
    stmt = select(Customer.user_id).where(Customer.user_id.in_(list(user_ids)))
    return set((await session.scalars(stmt)).all())


async def lock_customers(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, Customer]:
    """Load customers for update (row locks on PostgreSQL), in a fixed order."""
    if not user_ids:
        return {}
    stmt = (
        select(Customer)
        .where(Customer.user_id.in_(sorted(user_ids)))
        .order_by(Customer.user_id)
        .with_for_update()
    )
    return {c.user_id: c for c in (await session.scalars(stmt)).all()}


async def create_customers(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert customers that do not exist yet; return the user ids this call created."""
    created = await insert_ignore_returning(
        session,
        CUSTOMER_TABLE,
        rows,
        conflict=("user_id",),
        returning=("user_id",),
    )
    return {r.user_id for r in created}


async def state_at(session: AsyncSession, user_id: str, at: datetime) -> SubscriptionChange | None:
    """The latest recorded change of ``user_id`` at or before ``at``."""
    stmt = (
        select(SubscriptionChange)
        .where(SubscriptionChange.user_id == user_id, SubscriptionChange.changed_at <= at)
        .order_by(SubscriptionChange.changed_at.desc(), SubscriptionChange.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def change_exists(
    session: AsyncSession, user_id: str, at: datetime, state: tuple[str, str]
) -> bool:
    """Whether ``user_id`` has a recorded change into ``state`` (tier, status) at ``at``."""
    stmt = select(SubscriptionChange.id).where(
        SubscriptionChange.user_id == user_id,
        SubscriptionChange.changed_at == at,
        SubscriptionChange.to_tier == state[0],
        SubscriptionChange.to_status == state[1],
    )
    return (await session.scalar(stmt.limit(1))) is not None


async def add_changes(session: AsyncSession, changes: Sequence[SubscriptionChange]) -> None:
    """Record subscription changes."""
    session.add_all(changes)
    await session.flush()
