"""Patterns service: trends, seasonality, agent mix, cohorts and top customers (aggregates only)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.analytics.pattern_schemas import (
    AgentShare,
    AgentTrend,
    CustomerLimitUse,
    CustomerVolume,
    HourPoint,
    Patterns,
    Seasonality,
    TierMix,
    TopCustomers,
    Trend,
    WeekdayPoint,
)
from nexus_crm.analytics.schemas import Window
from nexus_crm.analytics.service import usage_percentages, window
from nexus_crm.analytics.trends import (
    THRESHOLDS,
    UserUse,
    cohorts,
    customer_trend,
    days_of,
    series,
    trend_fields,
)
from nexus_crm.errors import InvalidInput
from nexus_crm.kit.time import billing_period, day_start

PATTERNS_MAX_LIMIT = 100
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
OTHER_AGENTS = "(other)"


def patterns_window(days: int, today: date, timezone: str) -> Window:
    """The ``days`` complete days ending yesterday."""
    return window(days, today - timedelta(days=1), timezone)


async def _user_use(session: AsyncSession, w: Window, today: date) -> dict[str, UserUse]:
    """Customers with use in the window: daily interactions, tokens, last active day."""
    uses: dict[str, UserUse] = defaultdict(UserUse)
    for r in await repo.user_daily(session, w.start, today):
        use = uses[r.user_id]
        use.last_active = max(use.last_active, r.day)
        if r.day <= w.end:
            use.daily[r.day] = int(r.interactions)
            use.tokens += int(r.tokens)
    return {user: use for user, use in uses.items() if use.daily}


def _daily_totals(uses: dict[str, UserUse]) -> dict[date, int]:
    totals: dict[date, int] = defaultdict(int)
    for use in uses.values():
        for day, n in use.daily.items():
            totals[day] += n
    return totals


async def _agent_trends(session: AsyncSession, w: Window, limit: int) -> list[AgentTrend]:
    by_agent: dict[str, dict[date, int]] = defaultdict(dict)
    for r in await repo.agent_daily(session, w.start, w.end):
        by_agent[r.agent_id][r.day] = int(r.interactions)
    trends = [AgentTrend(agent_id=a, **trend_fields(series(d, w))) for a, d in by_agent.items()]
    return sorted(trends, key=lambda t: (-t.interactions, t.agent_id))[:limit]


def weekday_seasonality(totals: dict[date, int], w: Window) -> list[WeekdayPoint]:
    """Mean interactions per weekday of the window and its index against the daily mean."""
    days = days_of(w)
    overall = sum(totals.get(d, 0) for d in days) / len(days)
    if overall == 0:
        return []
    points = []
    for wd, name in enumerate(WEEKDAYS):
        these = [totals.get(d, 0) for d in days if d.weekday() == wd]
        if these:
            mean = sum(these) / len(these)
            points.append(
                WeekdayPoint(
                    weekday=wd,
                    name=name,
                    days=len(these),
                    mean_interactions=round(mean, 2),
                    index=round(mean / overall, 3),
                )
            )
    return points


async def hour_seasonality(session: AsyncSession, w: Window, tz: ZoneInfo) -> list[HourPoint]:
    """Mean interactions per local hour of the day over the window, and its index."""
    start, end = day_start(w.start, tz), day_start(w.end + timedelta(days=1), tz)
    per_hour = [0] * 24
    for r in await repo.hourly_interactions(session, start, end):
        # A UTC hour counts in the local hour it starts in (half-hour zones: the earlier one).
        per_hour[r.hour.astimezone(tz).hour] += int(r.interactions)
    total = sum(per_hour)
    if total == 0:
        return []
    return [
        HourPoint(
            hour=h,
            mean_interactions=round(n / w.days, 2),
            index=round(24 * n / total, 3),
        )
        for h, n in enumerate(per_hour)
    ]


def _tier_mix(tier: str, agents: dict[str, int], limit: int) -> TierMix:
    total = sum(agents.values())
    ranked = sorted(agents.items(), key=lambda a: (-a[1], a[0]))
    shown = ranked[:limit]
    rest = sum(n for _, n in ranked[limit:])
    if rest:
        shown.append((OTHER_AGENTS, rest))
    shares = [
        AgentShare(agent_id=a, interactions=n, share_pct=round(100 * n / total, 2) if total else 0)
        for a, n in shown
    ]
    return TierMix(tier=tier, interactions=total, agents=shares)


async def agent_mix(session: AsyncSession, w: Window, limit: int) -> list[TierMix]:
    """Each current tier's interactions split by agent (beyond ``limit`` agents: '(other)')."""
    by_tier: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await repo.tier_agent_mix(session, w.start, w.end):
        by_tier[r.tier][r.agent_id] = int(r.interactions)
    return [_tier_mix(t, agents, limit) for t, agents in sorted(by_tier.items())]


def _volumes(uses: dict[str, UserUse], states: dict[str, Any]) -> list[CustomerVolume]:
    return [
        CustomerVolume(
            user_id=u,
            tier=states[u].tier if u in states else "unknown",
            interactions=sum(use.daily.values()),
            tokens=use.tokens,
        )
        for u, use in uses.items()
    ]


async def limit_use(
    session: AsyncSession, states: dict[str, Any], today: date
) -> list[CustomerLimitUse]:
    """Every customer with use in its current billing period, with its usage percentage."""
    by_period: dict[tuple[date, date], list[Any]] = defaultdict(list)
    for s in states.values():
        if s.monthly_tokens is not None:
            by_period[billing_period(today, s.billing_anchor_day)].append(s)
    out = []
    for (start, end), members in by_period.items():
        totals = {r.user_id: r for r in await repo.user_totals(session, start, end)}
        for s in members:
            if (t := totals.get(s.user_id)) is None:
                continue
            pct = max(usage_percentages(int(t.tokens), int(t.interactions), s))
            out.append(
                CustomerLimitUse(
                    user_id=s.user_id,
                    tier=s.tier,
                    status=s.status,
                    period_start=start,
                    period_end=end,
                    tokens_used=int(t.tokens),
                    interactions_used=int(t.interactions),
                    usage_percentage=round(pct, 2),
                )
            )
    return out


async def _top_customers(
    session: AsyncSession, uses: dict[str, UserUse], states: dict[str, Any], today: date, limit: int
) -> TopCustomers:
    volumes = _volumes(uses, states)
    limits = await limit_use(session, states, today)
    return TopCustomers(
        by_interactions=sorted(volumes, key=lambda v: (-v.interactions, v.user_id))[:limit],
        by_tokens=sorted(volumes, key=lambda v: (-v.tokens, v.user_id))[:limit],
        by_limit_pct=sorted(limits, key=lambda c: (-c.usage_percentage, c.user_id))[:limit],
    )


async def get_patterns(
    session: AsyncSession, *, days: int, today: date, tz: ZoneInfo, limit: int = 10
) -> Patterns:
    """Trends, weekday/hour seasonality, agent mix, cohorts and top customers over N days."""
    if not 1 <= limit <= PATTERNS_MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {PATTERNS_MAX_LIMIT}", field="limit")
    w = patterns_window(days, today, tz.key)
    states = {r.user_id: r for r in await repo.customer_states(session)}
    uses = await _user_use(session, w, today)
    totals = _daily_totals(uses)
    return Patterns(
        window=w,
        thresholds=THRESHOLDS,
        overall=Trend(**trend_fields(series(totals, w))),
        agents=await _agent_trends(session, w, limit),
        customers=cohorts(
            (customer_trend(u, use, w, states.get(u)) for u, use in uses.items()), limit
        ),
        seasonality=Seasonality(
            weekday=weekday_seasonality(totals, w),
            hour_of_day=await hour_seasonality(session, w, tz),
        ),
        agent_mix=await agent_mix(session, w, limit),
        top_customers=await _top_customers(session, uses, states, today, limit),
    )
