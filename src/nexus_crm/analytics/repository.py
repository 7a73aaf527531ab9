"""All SQL of the read path: sums over ``agent_usage_daily`` and ``agent_usage_hourly``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import (
    RESPONSE_TIME_BUCKETS,
    Customer,
    PrivacyErasure,
    SubscriptionChange,
    UsageTierLimit,
    agent_usage_daily,
    agent_usage_hourly,
)

D = agent_usage_daily.c
ONE_DAY = timedelta(days=1)
H = agent_usage_hourly.c


def _in_window(start: date, end: date) -> Any:
    return D.day.between(start, end)


def _rollup_columns() -> list[Any]:
    return [
        func.sum(D.interactions).label("interactions"),
        func.sum(D.tokens).label("tokens"),
        func.count(func.distinct(D.user_id)).label("users"),
        func.sum(D.response_time_sum_ms).label("rt_sum"),
        func.max(D.response_time_max_ms).label("rt_max"),
        *(func.sum(D[b]).label(b) for b in RESPONSE_TIME_BUCKETS),
    ]


async def agent_rollup(
    session: AsyncSession, start: date, end: date, user_id: str | None = None
) -> Sequence[Row[Any]]:
    """Per-agent sums (with histograms) over a window, optionally for one customer."""
    stmt = select(D.agent_id, *_rollup_columns()).where(_in_window(start, end))
    if user_id is not None:
        stmt = stmt.where(D.user_id == user_id)
    return list((await session.execute(stmt.group_by(D.agent_id).order_by(D.agent_id))).all())


async def active_users(session: AsyncSession, start: date, end: date) -> int:
    """Distinct customers with any use in a window."""
    stmt = select(func.count(func.distinct(D.user_id))).where(_in_window(start, end))
    return int(await session.scalar(stmt) or 0)


async def tier_rollup(session: AsyncSession, start: date, end: date) -> Sequence[Row[Any]]:
    """Use per customers' current tier over a window."""
    tier = func.coalesce(Customer.tier, "unknown").label("tier")
    stmt = (
        select(
            tier,
            func.count(func.distinct(D.user_id)).label("users"),
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .select_from(agent_usage_daily.outerjoin(Customer, Customer.user_id == D.user_id))
        .where(_in_window(start, end))
        .group_by(tier)
        .order_by(tier)
    )
    return list((await session.execute(stmt)).all())


def _seen_before(start: date, end: date, *, per_agent: bool) -> Any:
    """Whether the outer daily row's customer (and agent) has a row in ``[start, end]``."""
    p = agent_usage_daily.alias("earlier")
    cond = [p.c.user_id == D.user_id, p.c.day.between(start, end)]
    if per_agent:
        cond.append(p.c.agent_id == D.agent_id)
    return exists().where(*cond)


async def day_agent_rollup(session: AsyncSession, day: date, since: date) -> Sequence[Row[Any]]:
    """``agent_rollup`` of one day, and per agent its customers with no use in [since, day)."""
    new = func.count().filter(~_seen_before(since, day - ONE_DAY, per_agent=True))
    columns = [*_rollup_columns(), new.label("new_users")]
    stmt = select(D.agent_id, *columns).where(D.day == day)
    return list((await session.execute(stmt.group_by(D.agent_id).order_by(D.agent_id))).all())


async def day_new_users(session: AsyncSession, day: date, since: date) -> int:
    """Customers with use on ``day`` and none in ``[since, day)``."""
    stmt = select(func.count(func.distinct(D.user_id))).where(
        D.day == day, ~_seen_before(since, day - ONE_DAY, per_agent=False)
    )
    return int(await session.scalar(stmt) or 0)


async def day_tier_rollup(session: AsyncSession, day: date, since: date) -> Sequence[Row[Any]]:
    """``tier_rollup`` of one day; ``users`` counts only customers with no use in [since, day)."""
    tier = func.coalesce(Customer.tier, "unknown").label("tier")
    new = ~_seen_before(since, day - ONE_DAY, per_agent=False)
    stmt = (
        select(
            tier,
            func.count(func.distinct(D.user_id)).filter(new).label("users"),
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .select_from(agent_usage_daily.outerjoin(Customer, Customer.user_id == D.user_id))
        .where(D.day == day)
        .group_by(tier)
        .order_by(tier)
    )
    return list((await session.execute(stmt)).all())


async def past_marker(session: AsyncSession, before_at: datetime) -> tuple[Any, ...]:
    """Cheap figures that change when any use before ``before_at`` is stored or re-keyed.

    From the hourly totals (every ingest writes them with the daily rows; an event before
    ``before_at`` adds to an hour starting before it) and the erasures (they re-key rows).
    """
    usage = select(func.count(), func.coalesce(func.sum(H.interactions), 0)).where(
        H.hour < before_at
    )
    erased = select(
        func.count(), func.max(PrivacyErasure.erased_at), func.max(PrivacyErasure.resubscribed_at)
    )
    return (*(await session.execute(usage)).one(), *(await session.execute(erased)).one())


async def tier_marker(session: AsyncSession) -> tuple[Any, ...]:
    """Figures that change when a customer's current tier may have changed."""
    stmt = select(func.count(), func.max(SubscriptionChange.recorded_at))
    return tuple((await session.execute(stmt)).one())


async def customer_with_tier(
    session: AsyncSession, user_id: str
) -> tuple[Customer, UsageTierLimit | None] | None:
    """A customer and its tier's limits."""
    stmt = (
        select(Customer, UsageTierLimit)
        .outerjoin(UsageTierLimit, UsageTierLimit.tier == Customer.tier)
        .where(Customer.user_id == user_id)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def customer_totals(
    session: AsyncSession, user_id: str, start: date, end_exclusive: date
) -> tuple[int, int]:
    """A customer's (tokens, interactions) with ``start <= day < end_exclusive``."""
    stmt = select(func.coalesce(func.sum(D.tokens), 0), func.coalesce(func.sum(D.interactions), 0))
    stmt = stmt.where(D.user_id == user_id, D.day >= start, D.day < end_exclusive)
    row = (await session.execute(stmt)).one()
    return int(row[0]), int(row[1])


async def customer_daily(
    session: AsyncSession, user_id: str, start: date, end: date
) -> Sequence[Row[Any, Any, Any]]:
    """A customer's per-day sums in a window."""
    stmt = (
        select(
            D.day,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .where(D.user_id == user_id, _in_window(start, end))
        .group_by(D.day)
    )
    return list((await session.execute(stmt)).all())


async def user_daily(
    session: AsyncSession, start: date, end: date
) -> Sequence[Row[Any, Any, Any, Any]]:
    """Per customer and day: interactions and tokens in a window (days with use only)."""
    stmt = (
        select(
            D.user_id,
            D.day,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.tokens).label("tokens"),
        )
        .where(_in_window(start, end))
        .group_by(D.user_id, D.day)
    )
    return list((await session.execute(stmt)).all())


async def agent_daily(
    session: AsyncSession, start: date, end: date
) -> Sequence[Row[Any, Any, Any]]:
    """Per agent and day: interactions in a window (days with use only)."""
    stmt = (
        select(D.agent_id, D.day, func.sum(D.interactions).label("interactions"))
        .where(_in_window(start, end))
        .group_by(D.agent_id, D.day)
    )
    return list((await session.execute(stmt)).all())


async def tier_agent_mix(
    session: AsyncSession, start: date, end: date
) -> Sequence[Row[Any, Any, Any]]:
    """Interactions per customers' current tier and agent in a window."""
    tier = func.coalesce(Customer.tier, "unknown").label("tier")
    stmt = (
        select(tier, D.agent_id, func.sum(D.interactions).label("interactions"))
        .select_from(agent_usage_daily.outerjoin(Customer, Customer.user_id == D.user_id))
        .where(_in_window(start, end))
        .group_by(tier, D.agent_id)
    )
    return list((await session.execute(stmt)).all())


async def customer_states(
    session: AsyncSession,
) -> Sequence[Row[str, str, str, int | None, int, int]]:
    """Every customer's tier, status, billing anchor and its tier's monthly limits."""
    stmt = select(
        Customer.user_id,
        Customer.tier,
        Customer.status,
        Customer.billing_anchor_day,
        UsageTierLimit.monthly_tokens,
        UsageTierLimit.monthly_interactions,
    ).outerjoin(UsageTierLimit, UsageTierLimit.tier == Customer.tier)
    return list((await session.execute(stmt)).all())


async def user_totals(
    session: AsyncSession, start: date, end_exclusive: date
) -> Sequence[Row[Any, Any, Any]]:
    """Per customer: tokens and interactions with ``start <= day < end_exclusive``."""
    stmt = (
        select(
            D.user_id,
            func.sum(D.tokens).label("tokens"),
            func.sum(D.interactions).label("interactions"),
        )
        .where(D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id)
    )
    return list((await session.execute(stmt)).all())


async def hourly_interactions(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> Sequence[Row[datetime, Any]]:
    """Interactions per UTC hour (all agents) with ``start_at <= hour < end_at``."""
    stmt = (
        select(H.hour, func.sum(H.interactions).label("interactions"))
        .where(H.hour >= start_at, H.hour < end_at)
        .group_by(H.hour)
    )
    return list((await session.execute(stmt)).all())


async def customer_subscriptions(session: AsyncSession) -> Sequence[Any]:
    """Every customer's tier, status and billing anchor day, by user id."""
    stmt = select(
        Customer.user_id,
        Customer.tier,
        Customer.status,
        Customer.billing_anchor_day,
    ).order_by(Customer.user_id)
    return list((await session.execute(stmt)).all())


async def users_daily(
    session: AsyncSession, user_ids: Sequence[str], start: date, end_exclusive: date
) -> Sequence[Any]:
    """Per customer and day: tokens and interactions, ``start <= day < end_exclusive``."""
    stmt = (
        select(
            D.user_id,
            D.day,
            func.sum(D.tokens).label("tokens"),
            func.sum(D.interactions).label("interactions"),
        )
        .where(D.user_id.in_(list(user_ids)), D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id, D.day)
    )
    return list((await session.execute(stmt)).all())


async def agent_hours(
    session: AsyncSession,
    start_at: datetime,
    end_at: datetime,
    agent_ids: Sequence[str] | None = None,
) -> Sequence[Any]:
    """Hourly rows (with histograms) of every agent (or these), ``start_at <= hour < end_at``."""
    stmt = select(
        H.hour,
        H.agent_id,
        H.interactions,
        H.response_time_sum_ms,
        H.response_time_max_ms,
        *(H[b] for b in RESPONSE_TIME_BUCKETS),
    ).where(H.hour >= start_at, H.hour < end_at)
    if agent_ids is not None:
        stmt = stmt.where(H.agent_id.in_(list(agent_ids)))
    return list((await session.execute(stmt.order_by(H.agent_id, H.hour))).all())


async def agent_hours_fingerprint(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> dict[str, tuple[int, int, int]]:
    """Per agent: (rows, interactions, Σ response time) of ``start_at <= hour < end_at``."""
    stmt = (
        select(
            H.agent_id,
            func.count(),
            func.sum(H.interactions),
            func.sum(H.response_time_sum_ms),
        )
        .where(H.hour >= start_at, H.hour < end_at)
        .group_by(H.agent_id)
    )
    rows = (await session.execute(stmt)).all()
    return {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}


async def agent_users(
    session: AsyncSession, agent_id: str, start: date, end: date, limit: int
) -> tuple[int, Sequence[Any]]:
    """Customers of an agent over days ``start..end``: their count and the top by interactions."""
    where = (D.agent_id == agent_id, _in_window(start, end))
    count = await session.scalar(select(func.count(func.distinct(D.user_id))).where(*where))
    interactions = func.sum(D.interactions)
    stmt = (
        select(
            D.user_id,
            interactions.label("interactions"),
            func.sum(D.response_time_sum_ms).label("rt_sum"),
        )
        .where(*where)
        .group_by(D.user_id)
        .order_by(interactions.desc(), D.user_id)
        .limit(limit)
    )
    return int(count or 0), list((await session.execute(stmt)).all())


async def users_response_times(
    session: AsyncSession, user_ids: Sequence[str], since: date
) -> Sequence[Any]:
    """Per customer since a day: interactions, response-time sum, max and histogram."""
    stmt = (
        select(
            D.user_id,
            func.sum(D.interactions).label("interactions"),
            func.sum(D.response_time_sum_ms).label("rt_sum"),
            func.max(D.response_time_max_ms).label("rt_max"),
            *(func.sum(D[b]).label(b) for b in RESPONSE_TIME_BUCKETS),
        )
        .where(D.user_id.in_(list(user_ids)), D.day >= since)
        .group_by(D.user_id)
    )
    return list((await session.execute(stmt)).all())


async def daily_interactions(session: AsyncSession, start: date, end: date) -> Sequence[Any]:
    """(user_id, agent_id, day, interactions) of every daily row from start to end."""
    stmt = select(D.user_id, D.agent_id, D.day, D.interactions).where(_in_window(start, end))
    return list((await session.execute(stmt)).all())


async def series_first_days(session: AsyncSession, *, until: date) -> Sequence[Any]:
    """Each customer × agent series' first day with use, among days up to ``until``."""
    stmt = (
        select(D.user_id, D.agent_id, func.min(D.day).label("first_day"))
        .where(D.day <= until)
        .group_by(D.user_id, D.agent_id)
    )
    return list((await session.execute(stmt)).all())
