"""All SQL of the ingest path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.sql import insert_ignore_keys, upsert_accumulate
from nexus_crm.models import (
    RESPONSE_TIME_BUCKETS,
    AgentUsageEvent,
    UsageTierLimit,
    agent_usage_daily,
    agent_usage_hourly,
)

EVENT_TABLE = cast(Table, AgentUsageEvent.__table__)


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
