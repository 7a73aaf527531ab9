"""All SQL of the business metrics: daily use per agent, upgrade alerts, tier changes, sequences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import SubscriptionChange, UpsellSequence, UsageAlert, agent_usage_daily

D = agent_usage_daily.c
S = UpsellSequence


async def agent_daily_usage(session: AsyncSession, start: date, end: date) -> Sequence[Any]:
    """Per agent and day: interactions and tokens in a window (days with use only)."""
    stmt = (
        select(
            D.agent_id,
            D.day,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .where(D.day.between(start, end))
        .group_by(D.agent_id, D.day)
    )
    return list((await session.execute(stmt)).all())


async def alerts_raised(
    session: AsyncSession, alert_type: str, start_at: datetime, end_at: datetime
) -> Sequence[Any]:
    """(user_id, created_at, data) of alerts of a type with ``start_at <= created_at < end_at``."""
    stmt = select(UsageAlert.user_id, UsageAlert.created_at, UsageAlert.data).where(
        UsageAlert.alert_type == alert_type,
        UsageAlert.created_at >= start_at,
        UsageAlert.created_at < end_at,
    )
    return list((await session.execute(stmt.order_by(UsageAlert.created_at))).all())


async def tier_changes_since(
    session: AsyncSession, user_ids: Sequence[str], since: datetime
) -> Sequence[Any]:
    """(user_id, to_tier, to_status, changed_at) of these customers' changes from ``since``."""
    c = SubscriptionChange
    stmt = select(c.user_id, c.to_tier, c.to_status, c.changed_at).where(
        c.user_id.in_(list(user_ids)), c.changed_at >= since
    )
    return list((await session.execute(stmt.order_by(c.changed_at))).all())


async def sequences_started_between(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> list[UpsellSequence]:
    """Sequences started in ``[start_at, end_at)``."""
    stmt = select(S).where(S.created_at >= start_at, S.created_at < end_at).order_by(S.created_at)
    return list((await session.scalars(stmt)).all())
