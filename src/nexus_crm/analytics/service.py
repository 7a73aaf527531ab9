"""Analytics services: insights over a window and a customer's usage against limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.analytics import windows
from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.churn.schemas import ChurnScore
from nexus_crm.analytics.churn.service import customer_churn
from nexus_crm.analytics.schemas import (
    AgentUsage,
    Change,
    Comparison,
    CustomerUsage,
    DailyPoint,
    Insights,
    PeriodUsage,
    TierUsage,
    Totals,
    Window,
    WindowTotals,
)
from nexus_crm.errors import InvalidInput, NotFound
from nexus_crm.kit.histogram import quantile
from nexus_crm.kit.time import billing_period, days_back, local_day
from nexus_crm.kit.trend import pct_change
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS, UsageTierLimit

MAX_DAYS = 366
DAILY_SERIES_DAYS = 30


def _p95(counts: list[int], max_value: int) -> float | None:
    value = quantile(counts, RESPONSE_TIME_BOUNDS_MS, 0.95, max_value)
    return None if value is None else round(value, 1)


def _avg(total_ms: int, n: int) -> float | None:
    return round(total_ms / n, 1) if n else None


def agent_usage(row: Any) -> AgentUsage:
    """One agent's figures from a row of ``repository.agent_rollup`` (or ``windows``')."""
    counts = [int(getattr(row, b)) for b in RESPONSE_TIME_BUCKETS]
    return AgentUsage(
        agent_id=row.agent_id,
        interactions=int(row.interactions),
        tokens=int(row.tokens),
        users=int(row.users),
        avg_response_time_ms=_avg(int(row.rt_sum), int(row.interactions)),
        p95_response_time_ms=_p95(counts, int(row.rt_max)),
        max_response_time_ms=int(row.rt_max),
    )


def _totals(rows: list[Any], active_users: int) -> Totals:
    interactions = sum(int(r.interactions) for r in rows)
    counts = [sum(int(getattr(r, b)) for r in rows) for b in RESPONSE_TIME_BUCKETS]
    max_rt = max((int(r.rt_max) for r in rows), default=0)
    return Totals(
        interactions=interactions,
        tokens=sum(int(r.tokens) for r in rows),
        active_users=active_users,
        avg_response_time_ms=_avg(sum(int(r.rt_sum) for r in rows), interactions),
        p95_response_time_ms=_p95(counts, max_rt),
    )


async def agent_rollup(session: AsyncSession, start: date, end: date) -> Sequence[Row[Any]]:
    """Per-agent sums with response-time histograms over days ``start..end`` (live KPIs)."""
    return await repo.agent_rollup(session, start, end)


async def active_users(session: AsyncSession, start: date, end: date) -> int:
    """Distinct customers with any use over days ``start..end``."""
    return await repo.active_users(session, start, end)


def window(days: int, today: date, timezone: str) -> Window:
    """The ``days`` days ending with ``today``."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_DAYS}", field="days")
    return Window(start=days_back(today, days), end=today, days=days, timezone=timezone)


def previous_window(w: Window) -> Window:
    """The window of the same length just before ``w``."""
    return window(w.days, w.start - timedelta(days=1), w.timezone)


async def _window_totals(session: AsyncSession, w: Window, today: date) -> WindowTotals:
    tz = ZoneInfo(w.timezone)
    rows = await windows.agent_rollup(session, w.start, w.end, tz, today=today)
    active = await windows.active_users(session, w.start, w.end, tz, today=today)
    return WindowTotals(window=w, totals=_totals(rows, active))


def _pct(current: float | None, previous: float | None) -> float | None:
    value = pct_change(current, previous)
    return None if value is None else round(value, 1)


def change(current: Totals, previous: Totals) -> Change:
    """% change of each total from ``previous`` to ``current``."""
    return Change(
        interactions_pct=_pct(current.interactions, previous.interactions),
        tokens_pct=_pct(current.tokens, previous.tokens),
        active_users_pct=_pct(current.active_users, previous.active_users),
        avg_response_time_pct=_pct(current.avg_response_time_ms, previous.avg_response_time_ms),
        p95_response_time_pct=_pct(current.p95_response_time_ms, previous.p95_response_time_ms),
    )


async def compare(session: AsyncSession, w: Window, today: date) -> Comparison:
    """Totals of ``w`` and of the window before it, and the % change between them."""
    current = await _window_totals(session, w, today)
    previous = await _window_totals(session, previous_window(w), today)
    return Comparison(
        current=current, previous=previous, change=change(current.totals, previous.totals)
    )


async def get_insights(session: AsyncSession, *, days: int, today: date, timezone: str) -> Insights:
    """Totals, per agent, per tier over the last ``days`` days, and their % changes."""
    w, tz = window(days, today, timezone), ZoneInfo(timezone)
    rows = await windows.agent_rollup(session, w.start, w.end, tz, today=today)
    totals = _totals(rows, await windows.active_users(session, w.start, w.end, tz, today=today))
    tiers = [
        TierUsage(
            tier=r.tier, users=int(r.users), interactions=int(r.interactions), tokens=int(r.tokens)
        )
        for r in await windows.tier_rollup(session, w.start, w.end, tz, today=today)
    ]
    previous = await _window_totals(session, previous_window(w), today)
    return Insights(
        window=w,
        totals=totals,
        agents=[agent_usage(r) for r in rows],
        tiers=tiers,
        previous=previous,
        change=change(totals, previous.totals),
        week_over_week=await compare(
            session, window(7, today - timedelta(days=1), timezone), today
        ),
    )


class Limits(Protocol):
    """A tier's monthly limits (a ``UsageTierLimit``, or a row carrying them)."""

    @property
    def monthly_tokens(self) -> int: ...

    @property
    def monthly_interactions(self) -> int: ...


def usage_percentages(tokens: int, interactions: int, tier: Limits) -> tuple[float, float]:
    """(tokens %, interactions %) of a tier's monthly limits."""
    return 100.0 * tokens / tier.monthly_tokens, 100.0 * interactions / tier.monthly_interactions


async def _period_usage(
    session: AsyncSession, user_id: str, tier: UsageTierLimit, today: date, anchor: int | None
) -> PeriodUsage:
    start, end = billing_period(today, anchor)
    tokens, interactions = await repo.customer_totals(session, user_id, start, end)
    tok_pct, int_pct = usage_percentages(tokens, interactions, tier)
    return PeriodUsage(
        period_start=start,
        period_end=end,
        tokens_used=tokens,
        interactions_used=interactions,
        token_limit=tier.monthly_tokens,
        interaction_limit=tier.monthly_interactions,
        tokens_percentage=round(tok_pct, 2),
        interactions_percentage=round(int_pct, 2),
        usage_percentage=round(max(tok_pct, int_pct), 2),
    )


async def calculate_usage_percentage(
    session: AsyncSession, *, user_id: str, as_of: datetime, tz: ZoneInfo
) -> float | None:
    """Usage % of the billing period containing ``as_of`` (None: unknown customer)."""
    found = await repo.customer_with_tier(session, user_id)
    if found is None or found[1] is None:
        return None
    customer, tier = found[0], found[1]
    start, end = billing_period(local_day(as_of, tz), customer.billing_anchor_day)
    tokens, interactions = await repo.customer_totals(session, user_id, start, end)
    return max(usage_percentages(tokens, interactions, tier))


async def _daily_series(session: AsyncSession, user_id: str, today: date) -> list[DailyPoint]:
    """The customer's last ``DAILY_SERIES_DAYS`` days, a point for each (0 without use)."""
    start = days_back(today, DAILY_SERIES_DAYS)
    by_day = {r.day: r for r in await repo.customer_daily(session, user_id, start, today)}
    return [
        DailyPoint(
            day=d,
            interactions=int(by_day[d].interactions) if d in by_day else 0,
            tokens=int(by_day[d].tokens) if d in by_day else 0,
        )
        for d in (start + timedelta(days=i) for i in range(DAILY_SERIES_DAYS))
    ]


async def _churn_of(
    session: AsyncSession,
    user_id: str,
    today: date,
    tz: ZoneInfo | None,
    config: ChurnConfig | None,
) -> ChurnScore | None:
    if tz is None or config is None:
        return None
    return await customer_churn(session, user_id=user_id, as_of=today, tz=tz, config=config)


async def get_customer_usage(
    session: AsyncSession,
    *,
    user_id: str,
    today: date,
    tz: ZoneInfo | None = None,
    churn: ChurnConfig | None = None,
) -> CustomerUsage:
    """A customer's tier, status, period usage against limits, last-30-day series and churn.

    The churn score needs the time zone and the churn settings; without them it is None.
    """
    found = await repo.customer_with_tier(session, user_id)
    if found is None:
        raise NotFound(f"no customer with user_id {user_id!r}", field="user_id")
    customer, tier = found
    if tier is None:
        raise NotFound(f"customer's tier {customer.tier!r} has no limits configured", field="tier")
    usage = await _period_usage(session, user_id, tier, today, customer.billing_anchor_day)
    agents = await repo.agent_rollup(
        session, usage.period_start, usage.period_end - timedelta(days=1), user_id
    )
    return CustomerUsage(
        user_id=customer.user_id,
        tier=customer.tier,
        status=customer.status,
        email=customer.email,
        name=customer.name,
        usage=usage,
        agents=[agent_usage(r) for r in agents],
        daily=await _daily_series(session, user_id, today),
        churn=await _churn_of(session, user_id, today, tz, churn),
    )
