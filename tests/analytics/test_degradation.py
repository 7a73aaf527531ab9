"""Per-agent performance degradation on constructed hourly data and streamed events."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.schemas import AlertChanges
from nexus_crm.alerts.service import evaluate_alerts
from nexus_crm.analytics.degradation import (
    AgentHealth,
    DegradationPolicy,
    agent_health,
    breaches,
)
from nexus_crm.analytics.response_times import response_time_experienced
from nexus_crm.db import transaction
from nexus_crm.ingest.service import ingest_payload
from nexus_crm.kit.histogram import bucket_index
from nexus_crm.models import RESPONSE_TIME_BOUNDS_MS, RESPONSE_TIME_BUCKETS, agent_usage_hourly
from nexus_crm.settings import Settings

POLICY = DegradationPolicy()
DAY = datetime(2025, 11, 20, tzinfo=UTC)
USERS = ("u1", "u1", "u1", "u2", "u2", "u3")  # u1 > u2 > u3 by volume
NORMAL = [700 + 25 * (i % 25) for i in range(30)]  # 700…1,300 ms: mean ~1,000


def hour_row(hour: datetime, values: list[int], agent: str = "NEXUS") -> dict[str, Any]:
    counts = Counter(bucket_index(v, RESPONSE_TIME_BOUNDS_MS) for v in values)
    return {
        "hour": hour,
        "agent_id": agent,
        "interactions": len(values),
        "tokens": 100 * len(values),
        "response_time_sum_ms": sum(values),
        "response_time_max_ms": max(values, default=0),
        **{b: counts.get(i, 0) for i, b in enumerate(RESPONSE_TIME_BUCKETS)},
    }


async def put_hours(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    async with transaction(sessions) as s:
        await s.execute(insert(agent_usage_hourly), rows)


async def baseline(
    sessions: async_sessionmaker[AsyncSession], until: datetime, values: list[int]
) -> None:
    """Eight days of ordinary hours of NEXUS before ``until``."""
    hours = [until - timedelta(hours=h) for h in range(1, 8 * 24 + 1)]
    await put_hours(sessions, [hour_row(h, values) for h in hours])


async def health(sessions: async_sessionmaker[AsyncSession], now: datetime) -> AgentHealth:
    async with transaction(sessions) as s:
        [h] = await agent_health(s, now=now, policy=POLICY)
    return h


async def test_spike_against_the_baseline(sessions: async_sessionmaker[AsyncSession]) -> None:
    h10 = DAY.replace(hour=10)
    await baseline(sessions, h10, NORMAL)
    await put_hours(sessions, [hour_row(h10, [3 * v for v in NORMAL])])
    h = await health(sessions, h10 + timedelta(minutes=30))
    assert h.baseline is not None
    assert h.baseline.hours == 7 * 24  # the week before the last hour
    assert 950 < h.baseline.mean_ms < 1050
    assert h.current.interactions == 30
    assert h.current.end == h10 + timedelta(minutes=30)
    assert breaches(h.current, h.baseline, POLICY) == [
        "mean 3.0× baseline",
        "p95 3.0× baseline",
    ]
    assert breaches(h.last_hour, h.baseline, POLICY) == []  # the hour before was normal
    assert h.last_day.interactions == 24 * 30


async def test_slo_breach_without_a_ratio(sessions: async_sessionmaker[AsyncSession]) -> None:
    h10 = DAY.replace(hour=10)
    slow = [4000 + 20 * (i % 25) for i in range(30)]  # p95 ~4,500 ms: under the SLO
    await baseline(sessions, h10, slow)
    await put_hours(sessions, [hour_row(h10, [v + 1500 for v in slow])])  # +35 %: p95 ~6,000
    h = await health(sessions, h10 + timedelta(minutes=40))
    assert breaches(h.current, h.baseline, POLICY) == ["p95 over the 5,000 ms SLO"]


async def test_minimum_volume(sessions: async_sessionmaker[AsyncSession]) -> None:
    h10 = DAY.replace(hour=10)
    await baseline(sessions, h10, NORMAL)
    await put_hours(sessions, [hour_row(h10, [20_000] * 9)])
    h = await health(sessions, h10 + timedelta(minutes=10))
    assert breaches(h.current, h.baseline, POLICY) == []  # 9: too few to judge
    async with transaction(sessions) as s:
        await s.execute(agent_usage_hourly.delete().where(agent_usage_hourly.c.hour == h10))
    await put_hours(sessions, [hour_row(h10, [20_000] * 10)])
    h = await health(sessions, h10 + timedelta(minutes=10))
    # 10 are enough for the mean; a p95 (and the SLO) needs 20, else it is just the maximum.
    assert breaches(h.current, h.baseline, POLICY) == ["mean 20.9× baseline"]


async def test_a_quiet_agent_is_judged_by_its_mean(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    h10 = DAY.replace(hour=10)
    await baseline(sessions, h10, NORMAL[:12])  # 12 an hour: never enough for a p95
    h = await health(sessions, h10 + timedelta(minutes=50))
    assert h.baseline is not None
    assert h.baseline.p95_ms is None
    await put_hours(sessions, [hour_row(h10, [3 * v for v in NORMAL[:12]])])
    h = await health(sessions, h10 + timedelta(minutes=50))
    assert breaches(h.current, h.baseline, POLICY) == ["mean 3.0× baseline"]


def minute_events(
    start: datetime, minutes: int, slow_from: datetime, slow_until: datetime
) -> list[dict[str, Any]]:
    """One NEXUS event a minute (users u1 > u2 > u3 by volume), 3× slower in the window."""
    out = []
    for m in range(minutes):
        at = start + timedelta(minutes=m, seconds=17)
        factor = 3 if slow_from <= at < slow_until else 1
        out.append(
            {
                "event_id": f"ev-{at:%Y%m%d%H%M%S}",
                "user_id": USERS[m % 6],
                "agent_id": "NEXUS",
                "session_id": "s",
                "tokens_used": 100,
                "response_time_ms": factor * NORMAL[m % 30],
                "subscription_tier": "pro",
                "timestamp": at.isoformat(),
            }
        )
    return out


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    events: list[dict[str, Any]],
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, AlertChanges]]:
    """Every 5 minutes: ingest what happened before, then run the scheduled rules."""
    out, t = [], start + timedelta(minutes=5)
    while t <= end:
        batch = [
            e
            for e in events
            if t - timedelta(minutes=5) <= datetime.fromisoformat(e["timestamp"]) < t
        ]
        async with transaction(sessions) as s:
            if batch:
                await ingest_payload(
                    s,
                    payload={"events": batch},
                    webhook_id=f"w{t:%H%M}",
                    settings=settings,
                    received_at=t,
                )
            out.append((t, await evaluate_alerts(s, now=t, policy=AlertPolicy())))
        t += timedelta(minutes=5)
    return out


@pytest.mark.parametrize("onset_minute", [4, 52])
async def test_detected_within_an_hour_one_alert_then_resolved(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, onset_minute: int
) -> None:
    h10 = DAY.replace(hour=10)
    await baseline(sessions, h10, NORMAL)
    onset = h10 + timedelta(minutes=onset_minute, seconds=41)
    recovery = onset + timedelta(hours=3)
    events = minute_events(h10, 6 * 60, onset, recovery)
    steps = await replay(sessions, settings, events, h10, h10 + timedelta(hours=6))
    kind = "performance_degradation"
    raised = [(t, a) for t, ch in steps for a in ch.raised if a.alert_type == kind]
    resolved = [(t, a) for t, ch in steps for a in ch.resolved if a.alert_type == kind]
    [(at, alert)] = raised  # one alert for the whole degradation
    assert onset < at <= onset + timedelta(hours=1)
    assert (alert.subject, alert.agent_id, alert.alert_type) == (
        "agent:NEXUS",
        "NEXUS",
        "performance_degradation",
    )
    assert alert.severity in ("warning", "critical")  # by the ratio when first seen
    assert alert.data["mean_ratio"] >= POLICY.mean_factor
    assert alert.data["baseline_p95_ms"] is not None
    assert alert.data["slo_p95_ms"] == 5000
    assert alert.data["affected_customers"] == 3
    assert [c["user_id"] for c in alert.data["top_customers"]] == ["u1", "u2", "u3"]
    assert "most active: u1, u2, u3" in alert.message
    [(done, closed)] = resolved
    assert closed.id == alert.id
    assert recovery < done <= recovery + timedelta(hours=2, minutes=5)  # a full healthy hour
    assert (closed.history[-1].note or "").startswith("NEXUS back to normal for the hour from")


async def test_response_time_experienced(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    h10 = DAY.replace(hour=10)
    events = minute_events(h10, 60, h10 + timedelta(minutes=30), h10 + timedelta(hours=2))
    async with transaction(sessions) as s:
        await ingest_payload(
            s,
            payload={"events": events},
            webhook_id="w",
            settings=settings,
            received_at=h10 + timedelta(hours=1),
        )
        got = await response_time_experienced(s, ["u1", "u3", "nobody"], DAY.date())
    assert set(got) == {"u1", "u3"}
    u1 = [e["response_time_ms"] for e in events if e["user_id"] == "u1"]
    assert got["u1"].interactions == len(u1) == 30
    assert got["u1"].mean_ms == round(sum(u1) / len(u1), 1)
    assert got["u1"].p95_ms is not None
    assert max(u1) * 0.75 <= got["u1"].p95_ms <= max(u1)
