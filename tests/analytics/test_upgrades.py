"""Upgrade opportunities: projection, recommendation, confidence, alerts (both databases)."""

from __future__ import annotations

import uuid
from collections.abc import Set
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.schemas import StatusFilter
from nexus_crm.alerts.service import evaluate_alerts, list_alerts
from nexus_crm.analytics.upgrades import (
    Assessment,
    Subscription,
    UpgradePolicy,
    confidence,
    find_upgrade_opportunities,
)
from nexus_crm.db import transaction
from nexus_crm.models import Customer, UsageTierLimit, agent_usage_daily

TODAY = date(2025, 11, 16)  # 15 complete days of November
NOW = datetime(2025, 11, 16, 9, 0, tzinfo=UTC)
POLICY = UpgradePolicy()


def daily(user: str, day: date, interactions: int, tokens: int) -> dict[str, Any]:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        "day": day,
        "user_id": user,
        "agent_id": "NEXUS",
        "interactions": interactions,
        "tokens": tokens,
        "response_time_sum_ms": 1000 * interactions,
        "response_time_max_ms": 1000,
        "first_at": at,
        "last_at": at,
    }


async def seed(
    sessions: async_sessionmaker[AsyncSession],
    user: str,
    tier: str,
    per_day: tuple[int, int],
    *,
    days: int = 30,
    status: str = "active",
    skip: Set[int] = frozenset(),
    today: date = TODAY,
    anchor: int | None = None,
) -> None:
    """A customer with ``per_day`` (interactions, tokens) on each of the ``days`` before today."""
    rows = [
        daily(user, today - timedelta(days=k), *per_day)
        for k in range(1, days + 1)
        if k not in skip
    ]
    async with transaction(sessions) as s:
        await s.execute(
            insert(Customer),
            [
                {
                    "id": uuid.uuid4(),
                    "user_id": user,
                    "tier": tier,
                    "status": status,
                    "billing_anchor_day": anchor,
                    "state_at": NOW - timedelta(days=90),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        await s.execute(insert(agent_usage_daily), rows)


async def opportunities(sessions: async_sessionmaker[AsyncSession], **kw: Any) -> dict[str, Any]:
    async with transaction(sessions) as s:
        found = await find_upgrade_opportunities(s, today=kw.get("today", TODAY), policy=POLICY)
    return {o.user_id: o for o in found}


async def test_projection_recommendation_revenue_and_confidence(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, "grower", "essential", (40, 6000))  # 1,200 a month vs 1,000
    await seed(sessions, "calm", "essential", (10, 1500))  # 30 %
    await seed(sessions, "big", "elite", (700, 100_000))  # 105 % of Elite → PRIME
    ops = await opportunities(sessions)
    assert set(ops) == {"grower", "big"}
    o = ops["grower"]
    assert (o.elapsed_days, o.active_days_last_7) == (15, 7)
    assert (o.interactions_used, o.tokens_used) == (600, 90_000)
    # 600 used + 40 a day × 15 remaining days (today included) = 1,200 interactions.
    assert (o.projected_interactions, o.projected_tokens) == (1200, 180_000)
    assert o.projected_percentage == 120.0
    assert o.run_rate_percentage == 120.0  # 40 × 30 days of November
    assert o.recommended_tier == "pro"  # 1,200 ≤ 80 % of 5,000 and 180,000 ≤ 80 % of 1M
    assert o.revenue_delta_monthly == Decimal("70")
    # evidence min(1, 15/14) × 7/7 = 1; margin (120 − 90) / 50 = 0.6 → 0.5 + 0.3.
    assert o.confidence == 0.8
    assert ops["big"].recommended_tier == "prime"
    assert next(iter(ops)) == "big"  # ranked by revenue delta × confidence


async def test_recommendation_skips_tiers_without_headroom(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, "surge", "essential", (150, 20_000))  # 4,500 a month: Pro at 90 %
    o = (await opportunities(sessions))["surge"]
    assert o.recommended_tier == "elite"
    assert o.revenue_delta_monthly == Decimal("270")


async def test_growing_use_is_projected_at_the_blended_pace(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # 20 a day until 7 days ago, 50 a day since: trailing 50, month-to-date 34 → pace 42.
    await seed(sessions, "ramp", "essential", (20, 100), days=30, skip=set(range(1, 8)))
    async with transaction(sessions) as s:
        await s.execute(
            insert(agent_usage_daily),
            [daily("ramp", TODAY - timedelta(days=k), 50, 100) for k in range(1, 8)],
        )
    o = (await opportunities(sessions))["ramp"]
    used = 8 * 20 + 7 * 50
    pace = min(50, (50 + used / 15) / 2)
    assert o.interactions_used == used
    assert o.projected_interactions == round(used + pace * 15)
    assert o.run_rate_percentage == 150.0


@pytest.mark.parametrize(
    ("who", "tier", "status", "skip"),
    [
        ("top", "longevity", "active", set()),  # top tier: nowhere to go
        ("gone", "essential", "cancelled", set()),  # not a customer any more
        ("sparse", "essential", "active", {1, 2, 3}),  # 4 of the last 7 days: not sustained
    ],
)
async def test_not_flagged(
    sessions: async_sessionmaker[AsyncSession], who: str, tier: str, status: str, skip: set[int]
) -> None:
    await seed(sessions, who, tier, (20_000, 3_000_000), status=status, skip=skip)
    assert await opportunities(sessions) == {}


async def test_too_early_in_the_period_is_not_flagged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, "early", "essential", (60, 100), today=date(2025, 11, 3))
    assert await opportunities(sessions, today=date(2025, 11, 3)) == {}  # 2 complete days
    assert "early" in await opportunities(sessions, today=date(2025, 11, 4))


@pytest.mark.parametrize(
    ("elapsed", "active", "used"),
    [(0, 0, (0, 0)), (3, 5, (10**9, 10**9)), (30, 7, (1, 1)), (14, 7, (10**6, 10**4))],
)
def test_confidence_stays_between_0_and_1(elapsed: int, active: int, used: tuple[int, int]) -> None:
    tier = UsageTierLimit(
        tier="pro",
        display_name="Pro",
        rank=2,
        monthly_tokens=1_000_000,
        monthly_interactions=5_000,
        monthly_price_cents=9_900,
        currency="USD",
    )
    a = Assessment(
        Subscription("u", "pro", "active", None),
        tier,
        date(2025, 11, 1),
        date(2025, 12, 1),
        elapsed,
        active,
        used,
        (float(used[0]), float(used[1])),
        (0.0, 0.0),
    )
    assert 0.0 <= confidence(a, POLICY) <= 1.0


async def _alerts(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with transaction(sessions) as s:
        return await list_alerts(
            s, status=StatusFilter.ALL, alert_type="upgrade_opportunity", now=NOW
        )


async def test_one_alert_per_period_resolved_on_upgrade(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, "grower", "essential", (40, 6000))
    for hours in (0, 1, 2):  # evaluated again and again: still one alert
        async with transaction(sessions) as s:
            await evaluate_alerts(s, now=NOW + timedelta(hours=hours), policy=AlertPolicy())
    [alert] = await _alerts(sessions)
    assert (alert.status, alert.severity, alert.subject) == ("active", "info", "user:grower")
    assert alert.period_key == "2025-11-01"
    assert alert.data["recommended_tier"] == "pro"
    assert alert.message.startswith("grower has used 60 % of the Essential plan in 15 days")
    assert "Recommended: Pro (+70.00 USD/month), confidence 0.80" in alert.message

    async with transaction(sessions) as s:  # the subscription update moved it to Pro
        await s.execute(update(Customer).where(Customer.user_id == "grower").values(tier="pro"))
        changes = await evaluate_alerts(s, now=NOW + timedelta(hours=3), policy=AlertPolicy())
    assert [a.id for a in changes.resolved if a.alert_type == "upgrade_opportunity"] == [alert.id]
    [after] = await _alerts(sessions)
    assert after.status == "resolved"
    assert after.history[-1].actor == "system"
    assert after.history[-1].note == "upgraded from essential to pro"


async def test_alert_resolved_when_the_projection_falls(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, "fader", "essential", (40, 6000))
    async with transaction(sessions) as s:
        await evaluate_alerts(s, now=NOW, policy=AlertPolicy())
        # A week later, nothing used in that week: 600 + 0 pace → 60 % and a zero run rate.
        changes = await evaluate_alerts(s, now=NOW + timedelta(days=7), policy=AlertPolicy())
    mine = [a for a in changes.resolved if a.alert_type == "upgrade_opportunity"]
    assert [a.history[-1].note for a in mine] == [
        "projection back under the threshold: now 60 % of the Essential plan"
    ]


async def test_upgrade_opportunities_endpoint(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    today = datetime.now(UTC).date()
    start = next(
        today - timedelta(days=k) for k in range(12, 20) if (today - timedelta(days=k)).day <= 28
    )
    await seed(sessions, "grower", "essential", (60, 6000), today=today, anchor=start.day)
    resp = await client.get("/agent-usage/upgrade-opportunities?limit=5", headers=read_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == 1
    [o] = body["opportunities"]
    assert (o["user_id"], o["recommended_tier"], o["revenue_delta_monthly"]) == (
        "grower",
        "pro",
        "70.00",
    )
    assert o["period_start"] == start.isoformat()
    bad = await client.get("/agent-usage/upgrade-opportunities?limit=0", headers=read_headers)
    assert bad.status_code == 422
