"""Per-agent response-time degradation from ``agent_usage_hourly`` (UTC hours, histograms).

For each agent: the hour in progress (from its start to now), the last complete hour and
the last 24 hours, each with interactions, mean and p95 (from the summed histogram), against
a baseline — the median of the agent's hourly means (and p95s) over the 7 days before the
last complete hour, counting hours with enough interactions for a mean (for a p95) — and an
absolute SLO on the p95. Definitions and thresholds: docs/analytics.md ("Performance degradation").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from statistics import median
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.kit.histogram import quantile
from nexus_crm.kit.time import utc_hour
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS

HOUR = timedelta(hours=1)
_BUCKETS_OF = attrgetter(*RESPONSE_TIME_BUCKETS)
_NO_COUNTS = (0,) * len(RESPONSE_TIME_BUCKETS)


@dataclass(frozen=True)
class DegradationPolicy:
    """Thresholds of the degradation detector (documented in docs/analytics.md)."""

    slo_p95_ms: float = 5000.0  # absolute SLO on an hour's p95
    p95_factor: float = 2.0  # p95 ≥ baseline p95 × this is degraded
    mean_factor: float = 1.5  # mean ≥ baseline mean × this is degraded
    min_interactions: int = 10  # a window's mean is judged from this many on
    min_p95_interactions: int = 20  # its p95 (and the SLO) from this many on (p95 ≠ max)
    baseline_days: int = 7
    min_baseline_hours: int = 12  # fewer qualifying hours: no baseline (SLO only)
    critical_ratio: float = 2.5  # ratio from which the alert is critical
    top_customers: int = 10


@dataclass(frozen=True)
class WindowStats:
    """Response times of one agent over ``[start, end)``."""

    start: datetime
    end: datetime
    interactions: int
    mean_ms: float | None
    p95_ms: float | None

    def as_data(self) -> dict[str, Any]:
        """JSON figures for alert data."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interactions": self.interactions,
            "mean_ms": None if self.mean_ms is None else round(self.mean_ms, 1),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 1),
        }


@dataclass(frozen=True)
class Baseline:
    """An agent's normal: median hourly mean (and p95), and how many hours they come from.

    ``p95_ms`` is None when too few hours had enough interactions for a p95 (a quiet agent):
    such an agent is judged by its mean and the SLO only.
    """

    p95_ms: float | None
    mean_ms: float
    hours: int


@dataclass(frozen=True)
class AgentHealth:
    """One agent's windows and baseline at an instant."""

    agent_id: str
    current: WindowStats  # the hour in progress, up to now
    last_hour: WindowStats  # the last complete hour
    last_day: WindowStats  # the 24 hours up to now
    baseline: Baseline | None


def window_stats(rows: Sequence[Any], start: datetime, end: datetime) -> WindowStats:
    """Sum hourly rows (histograms add up) into one window's figures."""
    n = sum(int(r.interactions) for r in rows)
    # Column-wise sums in C: the scheduler calls this for every hour of a week, every 5 min.
    counts = [int(c) for c in map(sum, zip(*map(_BUCKETS_OF, rows), strict=True))] or _NO_COUNTS
    top = max((int(r.response_time_max_ms) for r in rows), default=0)
    p95 = quantile(counts, RESPONSE_TIME_BOUNDS_MS, 0.95, top)
    mean = sum(int(r.response_time_sum_ms) for r in rows) / n if n else None
    return WindowStats(start, end, n, mean, p95)


def baseline_of(rows: Sequence[Any], policy: DegradationPolicy) -> Baseline | None:
    """Median hourly mean over hours with enough interactions for a mean; p95 likewise."""
    hours = [
        window_stats([r], r.hour, r.hour + HOUR)
        for r in rows
        if int(r.interactions) >= policy.min_interactions
    ]
    if len(hours) < policy.min_baseline_hours:
        return None
    busy = [h.p95_ms or 0.0 for h in hours if h.interactions >= policy.min_p95_interactions]
    return Baseline(
        p95_ms=median(busy) if len(busy) >= policy.min_baseline_hours else None,
        mean_ms=median(h.mean_ms or 0.0 for h in hours),
        hours=len(hours),
    )


def ratios(w: WindowStats, base: Baseline | None) -> tuple[float | None, float | None]:
    """(p95 ratio, mean ratio) of a window to the baseline; None where not computable."""
    if base is None:
        return None, None
    p95 = w.p95_ms / base.p95_ms if w.p95_ms is not None and base.p95_ms is not None else None
    mean = w.mean_ms / base.mean_ms if w.mean_ms is not None and base.mean_ms else None
    return p95, mean


def breaches(w: WindowStats, base: Baseline | None, policy: DegradationPolicy) -> list[str]:
    """Why a window is degraded (empty: healthy, or too few interactions to judge)."""
    if w.interactions < policy.min_interactions:
        return []
    p95_ratio, mean_ratio = ratios(w, base)
    enough = w.interactions >= policy.min_p95_interactions
    found = []
    if mean_ratio is not None and mean_ratio >= policy.mean_factor:
        found.append(f"mean {mean_ratio:.1f}× baseline")
    if enough and p95_ratio is not None and p95_ratio >= policy.p95_factor:
        found.append(f"p95 {p95_ratio:.1f}× baseline")
    if enough and w.p95_ms is not None and w.p95_ms >= policy.slo_p95_ms:
        found.append(f"p95 over the {policy.slo_p95_ms:,.0f} ms SLO")
    return found


def judgeable(w: WindowStats, base: Baseline | None, policy: DegradationPolicy) -> bool:
    """Whether a window can be called healthy: some check of ``breaches`` could apply."""
    if w.interactions >= policy.min_p95_interactions:
        return True  # the SLO at least
    return base is not None and w.interactions >= policy.min_interactions


def _health(
    agent: str, rows: Sequence[Any], now: datetime, baseline: Baseline | None
) -> AgentHealth:
    h0 = utc_hour(now)
    last = h0 - HOUR
    return AgentHealth(
        agent_id=agent,
        current=window_stats([r for r in rows if r.hour == h0], h0, now),
        last_hour=window_stats([r for r in rows if r.hour == last], last, h0),
        last_day=window_stats([r for r in rows if r.hour > h0 - 24 * HOUR], now - 24 * HOUR, now),
        baseline=baseline,
    )


class BaselineCache:
    """Baselines by (agent, window, policy, fingerprint of the window's rows), across calls.

    Held by whoever evaluates again and again (the alert scheduler, a simulated replay): it
    asks every 5 minutes for a baseline that only moves when the hour turns or late events
    land in it; the fingerprint (rows, Σ interactions, Σ response time) changes in either case.
    """

    KEPT = 512

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], Baseline | None] = {}

    async def of(
        self,
        session: AsyncSession,
        agents: Sequence[str],
        h0: datetime,
        policy: DegradationPolicy,
    ) -> dict[str, Baseline | None]:
        """Each agent's baseline over the ``baseline_days`` before the last complete hour."""
        since, last = h0 - timedelta(days=policy.baseline_days) - HOUR, h0 - HOUR
        prints = await repo.agent_hours_fingerprint(session, since, last)
        keys = {a: (a, since, last, policy, prints.get(a)) for a in agents}
        missing = [a for a, k in keys.items() if k not in self._by_key]
        if missing:
            by_agent: dict[str, list[Any]] = defaultdict(list)
            for r in await repo.agent_hours(session, since, last, missing):
                by_agent[r.agent_id].append(r)
            if len(self._by_key) > self.KEPT:
                self._by_key.clear()
            for a in missing:
                self._by_key[keys[a]] = baseline_of(by_agent.get(a, []), policy)
        return {a: self._by_key[k] for a, k in keys.items()}


async def agent_health(
    session: AsyncSession,
    *,
    now: datetime,
    policy: DegradationPolicy,
    cache: BaselineCache | None = None,
) -> list[AgentHealth]:
    """Every agent with use in the last 24 hours: windows and baseline, by agent id."""
    h0 = utc_hour(now)
    by_agent: dict[str, list[Any]] = defaultdict(list)
    for r in await repo.agent_hours(session, h0 - 23 * HOUR, h0 + HOUR):
        by_agent[r.agent_id].append(r)
    agents = sorted(by_agent)
    baselines = await (BaselineCache() if cache is None else cache).of(session, agents, h0, policy)
    return [_health(a, by_agent[a], now, baselines[a]) for a in agents]


async def affected_customers(
    session: AsyncSession, *, agent_id: str, first_day: date, last_day: date, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Customers who used the agent on those (local) days: count and the top by interactions."""
    count, rows = await repo.agent_users(session, agent_id, first_day, last_day, limit)
    top = [
        {
            "user_id": r.user_id,
            "interactions": int(r.interactions),
            "mean_response_time_ms": round(int(r.rt_sum) / int(r.interactions), 1)
            if int(r.interactions)
            else None,
        }
        for r in rows
    ]
    return count, top
