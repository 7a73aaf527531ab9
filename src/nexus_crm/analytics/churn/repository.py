"""All SQL of the churn model: usage before a day, subscription history before an instant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics.repository import past_marker
from nexus_crm.models import (
    OPEN_ALERT_STATUSES,
    Customer,
    SubscriptionChange,
    UsageAlert,
    UsageTierLimit,
    agent_usage_daily,
)

D = agent_usage_daily.c
MAX_IN_LIST = 2000  # more customers than this: read every customer's status


async def daily_usage(session: AsyncSession, start: date, end_exclusive: date) -> Sequence[Any]:
    """Per customer and day with use: interactions and tokens, ``start <= day < end``."""
    stmt = (
        select(
            D.user_id,
            D.day,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .where(D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id, D.day)
    )
    return list((await session.execute(stmt)).all())


async def response_times(session: AsyncSession, start: date, end_exclusive: date) -> Sequence[Any]:
    """Per customer: interactions and response-time sum over the days."""
    stmt = (
        select(
            D.user_id,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.response_time_sum_ms).label("rt_sum"),
        )
        .where(D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id)
    )
    return list((await session.execute(stmt)).all())


async def agent_breadth(session: AsyncSession, start: date, end_exclusive: date) -> dict[str, int]:
    """Per customer: distinct agents used in ``start <= day < end``."""
    stmt = (
        select(D.user_id, func.count(func.distinct(D.agent_id)))
        .where(D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id)
    )
    return {r[0]: int(r[1]) for r in (await session.execute(stmt)).all()}


async def last_use(session: AsyncSession, before: date) -> dict[str, date]:
    """Per customer: the last day with use before ``before``."""
    stmt = select(D.user_id, func.max(D.day)).where(D.day < before).group_by(D.user_id)
    return {r[0]: r[1] for r in (await session.execute(stmt)).all()}


async def first_use(session: AsyncSession) -> date | None:
    """The first day with any use."""
    day: date | None = await session.scalar(select(func.min(D.day)))
    return day


async def history(session: AsyncSession, before: datetime) -> Sequence[Any]:
    """Subscription changes recorded as happening before ``before``, oldest first."""
    stmt = (
        select(
            SubscriptionChange.user_id,
            SubscriptionChange.from_tier,
            SubscriptionChange.to_tier,
            SubscriptionChange.to_status,
            SubscriptionChange.changed_at,
        )
        .where(SubscriptionChange.changed_at < before)
        .order_by(SubscriptionChange.changed_at, SubscriptionChange.id)
    )
    return list((await session.execute(stmt)).all())


async def cancellations(
    session: AsyncSession, start: datetime, end_exclusive: datetime
) -> dict[str, datetime]:
    """Per customer: its first change to ``cancelled`` in ``[start, end)``."""
    stmt = (
        select(SubscriptionChange.user_id, func.min(SubscriptionChange.changed_at))
        .where(
            SubscriptionChange.to_status == "cancelled",
            SubscriptionChange.changed_at >= start,
            SubscriptionChange.changed_at < end_exclusive,
        )
        .group_by(SubscriptionChange.user_id)
    )
    return {r[0]: r[1] for r in (await session.execute(stmt)).all()}


async def anchors(session: AsyncSession) -> dict[str, int | None]:
    """Each customer's billing anchor day (None: calendar months)."""
    stmt = select(Customer.user_id, Customer.billing_anchor_day)
    return {r[0]: r[1] for r in (await session.execute(stmt)).all()}


async def tiers(session: AsyncSession) -> Sequence[UsageTierLimit]:
    """Every tier's limits, rank and price."""
    return list((await session.scalars(select(UsageTierLimit))).all())


async def statuses(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, str]:
    """Each customer's current status."""
    wanted = set(user_ids)
    stmt = select(Customer.user_id, Customer.status)
    if len(wanted) <= MAX_IN_LIST:  # else one scan of a small table beats a huge IN list
        stmt = stmt.where(Customer.user_id.in_(sorted(wanted)))
    return {r[0]: r[1] for r in (await session.execute(stmt)).all() if r[0] in wanted}


async def active_user_ids(session: AsyncSession) -> set[str]:
    """The user ids of the customers whose status is ``active``."""
    stmt = select(Customer.user_id).where(Customer.status == "active")
    return set((await session.scalars(stmt)).all())


async def fingerprint(session: AsyncSession, before_at: datetime) -> tuple[Any, ...]:
    """Cheap figures that change when usage or history before ``before_at`` is added, or a
    customer is erased (today's use does not change a score as of today).

    Usage and erasures: ``analytics.repository.past_marker`` (the hourly totals, not a scan
    of the daily table); history: the subscription changes before ``before_at``.
    """
    changes = select(func.count(), func.max(SubscriptionChange.recorded_at)).where(
        SubscriptionChange.changed_at < before_at
    )
    return (*await past_marker(session, before_at), *(await session.execute(changes)).one())


def database_of(session: AsyncSession) -> str:
    """The URL of the session's database (a cache key; the password is hidden)."""
    return str(session.get_bind().engine.url)


async def churn_alerts(session: AsyncSession, *, alert_type: str, month: str) -> list[UsageAlert]:
    """Open alerts of ``alert_type`` and those dismissed in ``month``."""
    dismissed = (UsageAlert.status == "dismissed") & (UsageAlert.period_key == month)
    stmt = select(UsageAlert).where(
        UsageAlert.alert_type == alert_type,
        or_(UsageAlert.status.in_(OPEN_ALERT_STATUSES), dismissed),
    )
    return list((await session.scalars(stmt.order_by(UsageAlert.id))).all())
