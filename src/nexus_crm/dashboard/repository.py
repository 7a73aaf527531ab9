"""All SQL of the dashboard: the activity feed, hourly sparklines, a cheap change marker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeAlias

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import AgentUsageEvent, agent_usage_daily, agent_usage_hourly

E = AgentUsageEvent
D = agent_usage_daily.c
H = agent_usage_hourly.c
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


async def recent_events(session: AsyncSession, limit: int) -> Sequence[AnyRow]:
    """The latest events by time of use (the index on occurred_at), newest first."""
    stmt = (
        select(
            E.event_id,
            E.user_id,
            E.agent_id,
            E.tokens_used,
            E.response_time_ms,
            E.subscription_tier,
            E.occurred_at,
        )
        .order_by(E.occurred_at.desc(), E.id.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).all()


async def hourly_interactions(session: AsyncSession, since: datetime) -> Sequence[AnyRow]:
    """(agent, hour, interactions) from ``since`` on, all customers."""
    stmt = select(H.agent_id, H.hour, H.interactions).where(H.hour >= since).order_by(H.hour)
    return (await session.execute(stmt)).all()


async def change_marker(session: AsyncSession, today: date) -> tuple[Any, int]:
    """(latest event time, today's interactions): changes whenever an event is stored."""
    latest = await session.scalar(select(func.max(E.occurred_at)))
    total = await session.scalar(select(func.sum(D.interactions)).where(D.day == today))
    return latest, int(total or 0)


async def customer_daily_by_agent(
    session: AsyncSession, user_id: str, start: date, end: date
) -> Sequence[AnyRow]:
    """(day, agent, interactions, tokens) of one customer, ``start`` to ``end`` inclusive."""
    stmt = (
        select(D.day, D.agent_id, D.interactions, D.tokens)
        .where(D.user_id == user_id, D.day >= start, D.day <= end)
        .order_by(D.day, D.agent_id)
    )
    return (await session.execute(stmt)).all()
