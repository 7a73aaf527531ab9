"""Replay a simulated history in simulated time, with the detectors running as in production.

``nexus-crm evaluate`` (docs/analytics.md, "Measured quality"): the population named by a
truth file is rebuilt, and its history is fed to a scratch database step by step: at each
step (default 5 minutes, the scheduler's interval) the subscription updates and events
stamped before it are ingested through the ingest services, received at that instant (so
limit alerts are raised by ingest, as on the webhook), then the degradation rule runs; once
a day, at ``daily_hour`` local time, every scheduled rule runs (limits, upgrades,
anomalies, churn, degradation) — the daily rules judge whole days or the period so far, so
a daily cadence is what they need, and it keeps a 90-day replay to minutes. Everything the
detectors decide lands in ``usage_alerts``; ``grading`` scores it against the truth.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts import AlertPolicy, RuleContext, apply_findings, degradation_rule
from nexus_crm.alerts.service import evaluate_alerts
from nexus_crm.analytics import BaselineCache
from nexus_crm.db import transaction
from nexus_crm.ingest.service import ingest_payload, record_subscription
from nexus_crm.settings import Settings
from nexus_crm.simulate.generator import SubscriptionUpdate, history
from nexus_crm.simulate.population import Population

BATCH = 5000  # events per ingest call (the webhook's default maximum)


@dataclass(frozen=True)
class Step:
    """What one step of the replay ingested, for observers (``grading.LimitTracker``)."""

    at: datetime
    events: Sequence[dict[str, Any]]
    updates: Sequence[SubscriptionUpdate]
    daily: bool


StepHook = Callable[[AsyncSession, Step], Awaitable[None]]


@dataclass
class ReplayStats:
    """Counts of the replay, for the report."""

    steps: int = 0
    daily_evaluations: int = 0
    events: int = 0
    updates: int = 0
    seconds: float = 0.0
    days_done: list[str] = field(default_factory=list)


def _ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def steps(pop: Population, end: datetime, step: timedelta, daily_hour: int) -> Iterator[Step]:
    """The history cut into steps ``step`` apart, each with what is stamped before it."""
    days = list(history(pop, end))
    events = sorted((e for d in days for e in d.events), key=_ts)
    updates = sorted((u for d in days for u in d.subscriptions), key=lambda u: u.timestamp)
    t, ei, ui = pop.timeline.start(0) + step, 0, 0
    tz = pop.timeline.tz
    while t <= end:
        e0, u0 = ei, ui
        while ei < len(events) and _ts(events[ei]) < t:
            ei += 1
        while ui < len(updates) and updates[ui].timestamp < t:
            ui += 1
        local = t.astimezone(tz)
        daily = local.hour == daily_hour and (local - step).hour != daily_hour
        yield Step(t, events[e0:ei], updates[u0:ui], daily)
        t += step


async def run_step(
    session: AsyncSession,
    s: Step,
    settings: Settings,
    policy: AlertPolicy,
    n: int,
    baselines: BaselineCache | None = None,
) -> None:
    """Ingest one step (updates first, as GENESIS sends them), then run the rules due."""
    for u in s.updates:
        await record_subscription(session, payload=u.payload(), settings=settings, received_at=s.at)
    for i in range(0, len(s.events), BATCH):
        payload = {"events": list(s.events[i : i + BATCH])}
        await ingest_payload(
            session,
            payload=payload,
            webhook_id=f"evaluate-{n}-{i}",
            settings=settings,
            received_at=s.at,
        )
    if s.daily:
        await evaluate_alerts(session, now=s.at, policy=policy, baselines=baselines)
        return
    ctx = RuleContext(now=s.at, policy=policy, baselines=baselines)
    findings = await degradation_rule(session, ctx)
    await apply_findings(session, findings=findings, now=s.at)


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    pop: Population,
    end: datetime,
    *,
    step: timedelta = timedelta(minutes=5),
    daily_hour: int = 12,
    hooks: Sequence[StepHook] = (),
    progress: Callable[[ReplayStats], None] | None = None,
) -> ReplayStats:
    """Feed the history to the database in simulated time; alerts land in ``usage_alerts``."""
    policy, stats = AlertPolicy.from_settings(settings), ReplayStats()
    baselines = BaselineCache()  # a step's baselines are mostly those of the step before
    started = time.monotonic()
    for s in steps(pop, end, step, daily_hour):
        async with transaction(sessions) as session:
            await run_step(session, s, settings, policy, stats.steps, baselines)
            for hook in hooks:
                await hook(session, s)
        stats.steps += 1
        stats.events += len(s.events)
        stats.updates += len(s.updates)
        if s.daily:
            stats.daily_evaluations += 1
            stats.days_done.append(s.at.astimezone(pop.timeline.tz).date().isoformat())
            if progress is not None:
                progress(stats)
    stats.seconds = round(time.monotonic() - started, 1)
    return stats
