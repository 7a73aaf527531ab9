"""Behavioural features of each customer as of a day, from what was known before that day.

Everything here is pure: the service fetches usage with ``day < as_of`` and subscription
changes with ``changed_at`` before the as-of day's first instant, and these functions turn
them into one row of numbers per customer active at that instant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nexus_crm.kit.time import billing_period
from nexus_crm.kit.trend import half_change_pct, least_squares

WINDOW_DAYS = 28  # trend, activity, response times and breadth look at the last 4 weeks
TIER_CHANGE_DAYS = 60
MAX_IDLE_DAYS = 90
FEATURES: tuple[str, ...] = (
    "usage_change_pct",  # last 14 days vs the 14 before, %
    "recent_week_ratio",  # last 7 days ÷ the weekly average of the 21 before
    "active_day_volume_ratio",  # use per active day: last 7 days ÷ the 21 before
    "usage_slope_t",  # t statistic of the 28-day least-squares slope
    "days_since_last_use",  # whole days since the last day with use (0: yesterday)
    "active_day_ratio",  # days with use ÷ days in the window the customer existed
    "limit_pct_period",  # % of the plan's limit used in the current period so far
    "limit_pct_last_period",  # % of the plan's limit used in the previous period
    "rt_mean_ms",  # mean response time experienced over 28 days (NaN: no use)
    "agent_breadth",  # distinct agents used over 28 days
    "tier_rank",  # 1 = cheapest tier
    "tenure_days",  # days since the first subscription change
    "tier_changes_60d",  # tier changes in the last 60 days
)
Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Plan:
    """A tier's rank, monthly limits and monthly price (USD)."""

    rank: int
    tokens: int
    interactions: int
    price: float


@dataclass
class State:
    """A customer's subscription as of an instant, from its history."""

    tier: str
    status: str
    since: datetime
    tier_changes: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class Usage:
    """Use before the as-of day: per-day sums, response times, breadth, last day with use."""

    daily: Mapping[str, Mapping[date, tuple[int, int]]]  # user → day → (interactions, tokens)
    response: Mapping[str, Any]  # user → row with interactions and rt_sum
    breadth: Mapping[str, int]
    last_use: Mapping[str, date]


@dataclass(frozen=True)
class Snapshot:
    """Features of the customers active at the start of ``as_of`` (one row each)."""

    as_of: date
    user_ids: list[str]
    tiers: list[str]
    x: Matrix


def states_at(history: Sequence[Any], before: datetime) -> dict[str, State]:
    """Each customer's tier, status, first change and tier changes before ``before``."""
    out: dict[str, State] = {}
    for row in history:
        if row.changed_at >= before:
            break
        s = out.get(row.user_id)
        if s is None:
            out[row.user_id] = State(row.to_tier, row.to_status, row.changed_at)
            continue
        if row.from_tier is not None and row.from_tier != row.to_tier:
            s.tier_changes.append(row.changed_at)
        s.tier, s.status = row.to_tier, row.to_status
    return out


def window_start(as_of: date, anchor_days: Sequence[int | None]) -> date:
    """The first day any feature at ``as_of`` reads: 28 days back or the previous period."""
    earliest = as_of - timedelta(days=WINDOW_DAYS)
    for anchor in set(anchor_days) or {None}:
        start, _ = billing_period(as_of - timedelta(days=1), anchor)
        previous, _ = billing_period(start - timedelta(days=1), anchor)
        earliest = min(earliest, previous)
    return earliest


def _series(days: Mapping[date, tuple[int, int]], as_of: date) -> list[float]:
    first = as_of - timedelta(days=WINDOW_DAYS)
    return [float(days.get(first + timedelta(days=i), (0, 0))[0]) for i in range(WINDOW_DAYS)]


def _per_active_day(values: list[float]) -> float | None:
    active = [v for v in values if v > 0]
    return sum(active) / len(active) if active else None


def thinning(series: list[float]) -> float:
    """Use per active day in the last 7 days ÷ the 21 before (1 without use in either).

    A gradual decline thins every day's use; an outright stop leaves the days still used
    at full volume, so this separates the two.
    """
    last, before = _per_active_day(series[-7:]), _per_active_day(series[:-7])
    return 1.0 if last is None or before is None else min(3.0, last / before)


def _trend(series: list[float]) -> tuple[float, float, float]:
    """(half-on-half change %, last-week ratio, slope t) of a 28-day series."""
    half = half_change_pct(series)
    if half is None:
        half = 100.0 if sum(series[-14:]) > 0 else 0.0
    before = sum(series[:-7]) / 3
    last = sum(series[-7:])
    ratio = (last / before) if before > 0 else (1.0 if last > 0 else 0.0)
    fit = least_squares(series)
    t = fit.t if fit is not None and fit.t is not None else 0.0
    t = max(-10.0, min(10.0, t if math.isfinite(t) else math.copysign(10.0, t)))
    return min(200.0, half), min(3.0, ratio), t


def _limit_pct(days: Mapping[date, tuple[int, int]], start: date, end: date, plan: Plan) -> float:
    tokens = sum(v[1] for d, v in days.items() if start <= d < end)
    interactions = sum(v[0] for d, v in days.items() if start <= d < end)
    return 100.0 * max(tokens / plan.tokens, interactions / plan.interactions)


def _response(row: Any) -> float:
    """Mean response time experienced. Not the p95: from a customer's few calls it is biased
    upwards, so it stood in for low volume, and a 10-day degradation of one agent then read
    as churn for its steady users (docs/analytics.md, "Features")."""
    if row is None or not int(row.interactions):
        return math.nan
    return int(row.rt_sum) / int(row.interactions)


def customer_row(
    user_id: str, state: State, plan: Plan, usage: Usage, as_of: date, anchor: int | None
) -> list[float]:
    """The FEATURES of one customer as of the start of ``as_of``."""
    days = usage.daily.get(user_id, {})
    series = _series(days, as_of)
    change, ratio, slope_t = _trend(series)
    yesterday = as_of - timedelta(days=1)
    last = usage.last_use.get(user_id)
    idle = MAX_IDLE_DAYS if last is None else min(MAX_IDLE_DAYS, (yesterday - last).days)
    tenure = max(0, (as_of - state.since.date()).days)
    existed = max(1, min(WINDOW_DAYS, tenure))
    active = sum(1 for d in days if as_of - timedelta(days=WINDOW_DAYS) <= d < as_of)
    start, _ = billing_period(yesterday, anchor)
    previous, _ = billing_period(start - timedelta(days=1), anchor)
    rt_mean = _response(usage.response.get(user_id))
    recent = as_of - timedelta(days=TIER_CHANGE_DAYS)
    return [
        change,
        ratio,
        thinning(series),
        slope_t,
        float(idle),
        min(1.0, active / existed),
        _limit_pct(days, start, as_of, plan),
        _limit_pct(days, previous, start, plan),
        rt_mean,
        float(usage.breadth.get(user_id, 0)),
        float(plan.rank),
        float(tenure),
        float(sum(1 for at in state.tier_changes if at.date() >= recent)),
    ]


def snapshot(
    as_of: date,
    states: Mapping[str, State],
    plans: Mapping[str, Plan],
    usage: Usage,
    anchors: Mapping[str, int | None],
) -> Snapshot:
    """Features of every customer whose status is active at ``as_of`` (sorted by user id)."""
    users = sorted(u for u, s in states.items() if s.status == "active" and s.tier in plans)
    rows = [
        customer_row(u, states[u], plans[states[u].tier], usage, as_of, anchors.get(u))
        for u in users
    ]
    x = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return Snapshot(as_of, users, [states[u].tier for u in users], x)
