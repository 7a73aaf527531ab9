"""Business metrics: conversion, revenue opportunity, agents, CLV, active users, forecasts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics.churn.service import list_churn_risks
from nexus_crm.analytics.schemas import Window
from nexus_crm.business import service as business
from nexus_crm.business.conversion import conversion_rates
from nexus_crm.db import transaction
from nexus_crm.kit.ids import uuid7
from nexus_crm.models import Customer, SubscriptionChange, UsageAlert, agent_usage_daily
from tests.analytics.churn_data import Person, store

UTC_ZONE = ZoneInfo("UTC")
TODAY = date(2025, 11, 16)  # 15 complete days of November
NOW = datetime(2025, 11, 16, 9, 0, tzinfo=UTC)
POLICY = business.BusinessPolicy()
Sessions = async_sessionmaker[AsyncSession]


def alert(user: str, tier: str, recommended: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "alert_type": "upgrade_opportunity",
        "severity": "info",
        "status": "active",
        "subject": f"user:{user}",
        "user_id": user,
        "period_key": created_at.date().isoformat(),
        "title": "t",
        "message": "m",
        "data": {"tier": tier, "recommended_tier": recommended},
        "created_at": created_at,
        "updated_at": created_at,
    }


def change(user: str, tier: str, when: datetime, status: str = "active") -> dict[str, Any]:
    return {
        "id": uuid7(),
        "user_id": user,
        "from_tier": None,
        "to_tier": tier,
        "from_status": "active",
        "to_status": status,
        "changed_at": when,
        "recorded_at": when,
        "source": "subscription",
    }


def customer(user: str, tier: str) -> dict[str, Any]:
    at = NOW - timedelta(days=200)
    return {
        "id": uuid7(),
        "user_id": user,
        "tier": tier,
        "status": "active",
        "state_at": at,
        "created_at": at,
        "updated_at": at,
    }


def daily(user: str, day: date, n: int, tokens: int, agent: str = "NEXUS") -> dict[str, Any]:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        "day": day,
        "user_id": user,
        "agent_id": agent,
        "interactions": n,
        "tokens": tokens,
        "response_time_sum_ms": 800 * n,
        "response_time_max_ms": 800,
        "rt_le_1000": n,
        "first_at": at,
        "last_at": at,
    }


async def write(sessions: Sessions, **tables: list[dict[str, Any]]) -> None:
    targets: dict[str, Any] = {
        "alerts": UsageAlert,
        "changes": SubscriptionChange,
        "customers": Customer,
        "usage": agent_usage_daily,
    }
    async with transaction(sessions) as s:
        for name, rows in tables.items():
            if rows:
                await s.execute(insert(targets[name]), rows)


def window(days: int) -> Window:
    return Window(start=TODAY - timedelta(days=days - 1), end=TODAY, days=days, timezone="UTC")


async def conversion(sessions: Sessions, days: int = 60) -> dict[str, Any]:
    async with transaction(sessions) as s:
        rows = await conversion_rates(s, w=window(days), tz=UTC_ZONE, now=NOW, follow_up_days=30)
    return {r.tier: r for r in rows if r.source == "upgrade_alerts"}


async def pro_history(sessions: Sessions) -> None:
    """4 alerted pro customers 40 days ago: 2 upgraded in time, 1 too late, 1 downgraded."""
    raised = NOW - timedelta(days=40)
    await write(
        sessions,
        alerts=[alert(f"p{i}", "pro", "elite", raised) for i in range(4)],
        changes=[
            change("p0", "elite", raised + timedelta(days=10)),  # the recommended tier
            change("p1", "prime", raised + timedelta(days=29)),  # higher counts too
            change("p2", "elite", raised + timedelta(days=31)),  # after the follow-up
            change("p3", "essential", raised + timedelta(days=3)),  # a downgrade
        ],
    )


async def test_conversion_rate_per_tier(sessions: Sessions) -> None:
    await pro_history(sessions)
    raised = NOW - timedelta(days=5)
    await write(
        sessions,
        alerts=[
            alert("e0", "essential", "pro", raised),  # follow-up still open
            alert("e1", "essential", "pro", NOW - timedelta(days=50)),
            alert("old", "pro", "elite", NOW - timedelta(days=80)),  # before the window
        ],
        changes=[
            change("e1", "pro", NOW - timedelta(days=45), status="cancelled"),  # not a customer
            change("old", "elite", NOW - timedelta(days=70)),
        ],
    )
    rows = await conversion(sessions)
    assert list(rows) == ["essential", "pro", "elite", "prime"]  # the top tier starts nothing
    pro = rows["pro"]
    assert (pro.source, pro.started, pro.converted, pro.pending, pro.rate) == (
        "upgrade_alerts",
        4,
        2,
        0,
        0.5,
    )
    ess = rows["essential"]
    assert (ess.started, ess.converted, ess.pending, ess.rate) == (2, 0, 1, 0.0)
    assert rows["elite"].started == 0
    assert rows["elite"].rate is None  # never divides by zero


async def test_only_pending_attempts_have_no_rate(sessions: Sessions) -> None:
    await write(sessions, alerts=[alert("e0", "essential", "pro", NOW - timedelta(days=2))])
    ess = (await conversion(sessions, days=7))["essential"]
    assert (ess.started, ess.pending, ess.rate) == (1, 1, None)


async def seed_opportunity(sessions: Sessions, user: str, tier: str, n: int, tokens: int) -> None:
    rows = [daily(user, TODAY - timedelta(days=k), n, tokens) for k in range(1, 31)]
    await write(sessions, customers=[customer(user, tier)], usage=rows)


async def test_revenue_opportunity_weights_by_observed_rate_or_prior(sessions: Sessions) -> None:
    await pro_history(sessions)  # pro converts at 0.5
    await seed_opportunity(sessions, "grower", "essential", 40, 6000)  # → pro, +70
    await seed_opportunity(sessions, "busy", "pro", 180, 20_000)  # → elite, +200
    await seed_opportunity(sessions, "big", "elite", 700, 100_000)  # → prime, +500
    async with transaction(sessions) as s:
        m = await business.get_business_metrics(
            s, days=60, today=TODAY, now=NOW, tz=UTC_ZONE, limit=5, policy=POLICY
        )
    r = m.revenue_opportunity
    tiers = {t.tier: t for t in r.tiers}
    assert [t.tier for t in r.tiers] == ["essential", "pro", "elite"]
    assert (tiers["pro"].rate_source, tiers["pro"].conversion_rate) == ("observed", 0.5)
    assert (tiers["essential"].rate_source, tiers["essential"].conversion_rate) == ("prior", 0.2)
    assert tiers["elite"].rate_source == "prior"
    assert tiers["pro"].expected_revenue_monthly == Decimal("100.00")  # 200 × 0.5
    assert tiers["essential"].expected_revenue_monthly == Decimal("14.00")  # 70 × 0.2
    assert tiers["elite"].expected_revenue_monthly == Decimal("100.00")  # 500 × 0.2
    assert r.total_revenue_delta_monthly == Decimal("770.00")
    assert r.expected_revenue_monthly == Decimal("214.00")
    assert r.currency == "USD"


async def test_agent_performance_and_active_users(sessions: Sessions) -> None:
    usage = [daily("a", TODAY - timedelta(days=k), 10, 1000) for k in range(0, 20)]
    usage += [daily("b", TODAY - timedelta(days=k), 30, 2000, "BLAZE") for k in range(0, 3)]
    usage += [daily("b", TODAY - timedelta(days=k), 5, 500) for k in range(10, 12)]
    usage.append(daily("c", TODAY - timedelta(days=20), 5, 500))  # in the 30 days, not the 7
    people = [customer("a", "pro"), customer("b", "elite"), customer("c", "essential")]
    await write(sessions, customers=people, usage=usage)
    async with transaction(sessions) as s:
        agents = await business.agent_performance(s, window(7))
        active = await business.active_users_per_tier(s, TODAY, UTC_ZONE)
    assert [a.agent_id for a in agents] == ["BLAZE", "NEXUS"]
    blaze, nexus = agents
    # Last 7 days: NEXUS 7 × 10 = 70, BLAZE 3 × 30 = 90 interactions.
    assert (nexus.interactions, nexus.tokens, nexus.users) == (70, 7000, 1)
    assert (blaze.interactions, blaze.tokens, blaze.users) == (90, 6000, 1)
    assert blaze.interactions_share == round(90 / 160, 4)
    assert nexus.tokens_share == round(7000 / 13000, 4)
    assert nexus.avg_response_time_ms == 800.0
    assert nexus.p95_response_time_ms is not None
    assert nexus.p95_response_time_ms <= 800
    assert [(t.tier, t.last_7_days, t.last_30_days) for t in active] == [
        ("essential", 0, 1),
        ("pro", 1, 1),
        ("elite", 1, 1),
    ]


async def test_customer_value_reuses_the_churn_model(sessions: Sessions) -> None:
    people = [
        Person(f"c{i}", tier=("essential", "pro", "elite")[i % 3], volume=lambda d, i=i: 5.0 + i)
        for i in range(9)
    ]
    people.append(Person("fading", tier="prime", volume=lambda d: max(0.0, 40 - d)))
    await store(sessions, people, range(0, 45))
    as_of = date(2026, 2, 10)
    async with transaction(sessions) as s:
        shipped = ChurnConfig()
        value, dist = await business.customer_value(
            s, today=as_of, tz=UTC_ZONE, limit=3, config=shipped
        )
        risks = await list_churn_risks(s, as_of=as_of, tz=UTC_ZONE, config=shipped, limit=500)
    scores = risks.customers
    assert value.customers == dist.customers == len(scores) == 10
    assert value.total_clv == round(sum(c.clv for c in scores), 2)
    by_clv = sorted(scores, key=lambda c: -c.clv)
    assert [c.user_id for c in value.top] == [c.user_id for c in by_clv[:3]]
    probs = [c.probability for c in scores]
    expected = [0] * 10
    for p in probs:
        expected[min(9, math.floor(p * 10 + 1e-9))] += 1
    assert dist.buckets == expected
    assert dist.mean == round(sum(probs) / len(probs), 4)
    assert dist.median == round(sorted(probs)[4] / 2 + sorted(probs)[5] / 2, 4)


def test_churn_distribution_edges() -> None:
    d = business.churn_distribution([0.0, 0.1, 0.0999, 0.95, 1.0])
    assert d.buckets == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert d.median == 0.1
    empty = business.churn_distribution([])
    assert (empty.customers, empty.mean, empty.median) == (0, None, None)


async def test_forecasts_per_agent(sessions: Sessions) -> None:
    week = (12, 13, 12, 11, 9, 4, 3)
    usage = [
        daily("a", TODAY - timedelta(days=k), week[(TODAY - timedelta(days=k)).weekday()], 1000)
        for k in range(1, 57)
    ]
    usage.append(daily("a", TODAY, 1, 100))  # today so far: not part of the history
    usage.append(daily("b", TODAY - timedelta(days=1), 4, 400, "SPARK"))  # one day only
    await write(sessions, usage=usage)
    async with transaction(sessions) as s:
        found = {f.agent_id: f for f in await business.agent_forecasts(s, TODAY)}
    nexus = found["NEXUS"]
    assert (nexus.interactions.method, nexus.interactions.history_days) == ("ets", 56)
    first = nexus.interactions.daily[0]
    assert first.day == TODAY
    assert abs(first.mean - week[TODAY.weekday()]) < 0.5
    assert len(nexus.interactions.daily) == 30
    assert nexus.tokens.next_7_days == sum(p.mean for p in nexus.tokens.daily[:7])
    assert nexus.interactions.backtest is not None
    assert nexus.interactions.backtest.smape_pct < 5
    spark = found["SPARK"].interactions
    assert (spark.method, spark.daily, spark.backtest) == ("none", [], None)
    assert "at least 2" in spark.note


async def test_business_metrics_endpoint(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    resp = await client.get("/agent-usage/business-metrics", headers=read_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["window"]["days"] == 30
    assert body["follow_up_days"] == 30
    tiers = ["essential", "pro", "elite", "prime"]
    for source in ("upgrade_alerts", "upsell_sequences"):
        assert [c["tier"] for c in body["conversion"] if c["source"] == source] == tiers
    assert len(body["conversion"]) == 2 * len(tiers)
    assert all(c["rate"] is None for c in body["conversion"])
    assert body["revenue_opportunity"]["expected_revenue_monthly"] == "0.00"
    assert body["churn_distribution"] == {
        "customers": 0,
        "buckets": [0] * 10,
        "mean": None,
        "median": None,
    }
    assert (body["agents"], body["forecasts"], body["active_users"]) == ([], [], [])
    for bad in ("0", "367", "x"):
        resp = await client.get(f"/agent-usage/business-metrics?days={bad}", headers=read_headers)
        assert resp.status_code == 422
        assert resp.json()["field"] == "days"
    resp = await client.get("/agent-usage/business-metrics?limit=0", headers=read_headers)
    assert resp.json()["field"] == "limit"
