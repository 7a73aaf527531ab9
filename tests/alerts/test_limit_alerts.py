"""Usage-limit alerts raised on ingest, visible at once, never duplicated; auto-resolution."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.service import evaluate_alerts, evaluate_limit_alerts
from nexus_crm.db import transaction
from nexus_crm.kit.time import billing_period
from tests.alerts.helpers import (
    alert_count,
    list_alerts,
    post_events,
    post_subscription,
    transitions,
    use,
)
from tests.support import event

PERIOD = billing_period(datetime.now(UTC).date())[0].isoformat()


async def test_crossing_80_and_95_percent_raises_one_alert_each_with_figures(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await use(client, "cliente_pro_456", 790_000)
    assert await list_alerts(client, read_headers) == []  # 79 %: nothing yet

    await use(client, "cliente_pro_456", 60_000)  # 85 %: visible right after the 200
    [alert] = await list_alerts(client, read_headers)
    assert alert["alert_type"] == "usage_limit_approaching"
    assert alert["severity"] == "warning"
    assert alert["status"] == "active"
    assert alert["subject"] == "user:cliente_pro_456"
    assert alert["user_id"] == "cliente_pro_456"
    assert alert["period_key"] == PERIOD
    assert alert["message"].startswith(
        "cliente_pro_456 has used 85 % of the Pro plan this period (850,000 of 1,000,000 tokens)"
    )
    data = alert["data"]
    assert data["tokens_used"] == 850_000
    assert data["token_limit"] == 1_000_000
    assert data["interactions_used"] == 2
    assert data["interaction_limit"] == 5_000
    assert data["usage_percentage"] == 85.0
    assert data["tier"] == "pro"
    assert data["period_start"] == PERIOD
    assert data["threshold_percentage"] == 80.0
    assert [h["action"] for h in alert["history"]] == ["raised"]
    assert alert["history"][0]["actor"] == "system"

    await use(client, "cliente_pro_456", 50_000)  # 90 %: still the same one alert
    assert [a["id"] for a in await list_alerts(client, read_headers)] == [alert["id"]]

    await use(client, "cliente_pro_456", 100_000)  # 100 %: exceeded supersedes approaching
    [exceeded] = await list_alerts(client, read_headers)
    assert exceeded["alert_type"] == "usage_limit_exceeded"
    assert exceeded["severity"] == "critical"
    assert exceeded["data"]["usage_percentage"] == 100.0
    everything = await list_alerts(client, read_headers, status="all")
    assert len(everything) == 2
    old = next(a for a in everything if a["id"] == alert["id"])
    assert old["status"] == "resolved"
    assert old["history"][-1]["actor"] == "system"
    assert old["history"][-1]["note"].startswith("superseded by usage_limit_exceeded")
    await use(client, "cliente_pro_456", 1)
    assert await alert_count(sessions) == 2
    assert await transitions(sessions, exceeded["id"]) == [("raised", None, "active", "system")]


async def test_a_retried_or_duplicated_batch_raises_nothing_twice(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    batch = [event(user_id="dup_user", tokens_used=300_000) for _ in range(3)]
    await post_events(client, *batch)
    await post_events(client, *batch)  # a retry: every event a duplicate
    await post_events(client, *batch, *batch)  # duplicates inside one batch
    [alert] = await list_alerts(client, read_headers, status="all")
    assert alert["data"]["tokens_used"] == 900_000
    assert await transitions(sessions, alert["id"]) == [("raised", None, "active", "system")]


async def test_interactions_can_bind_before_tokens(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    events = [
        event(user_id="chatty", tokens_used=1, subscription_tier="essential") for _ in range(800)
    ]
    await post_events(client, *events)
    [alert] = await list_alerts(client, read_headers)
    assert "(800 of 1,000 interactions)" in alert["message"]
    assert alert["data"]["interactions_percentage"] == 80.0


async def test_dismissed_is_not_raised_again_in_the_period_resolved_is(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await use(client, "dismisser", 820_000)
    await use(client, "resolver", 820_000)
    alerts = {a["user_id"]: a for a in await list_alerts(client, read_headers)}
    url = "/agent-usage/alerts/{}/{}"
    resp = await client.post(
        url.format(alerts["dismisser"]["id"], "dismiss"), headers=admin_headers
    )
    assert resp.status_code == 200, resp.text
    resp = await client.post(url.format(alerts["resolver"]["id"], "resolve"), headers=admin_headers)
    assert resp.status_code == 200, resp.text
    assert await list_alerts(client, read_headers) == []

    await use(client, "dismisser", 1_000)
    await use(client, "resolver", 1_000)
    [again] = await list_alerts(client, read_headers)
    assert again["user_id"] == "resolver"
    assert again["id"] != alerts["resolver"]["id"]
    assert await alert_count(sessions, user_id="dismisser") == 1
    assert await alert_count(sessions, user_id="resolver") == 2


async def test_tier_upgrade_by_subscription_resolves_the_alert(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    await use(client, "upgrader", 900_000)
    [alert] = await list_alerts(client, read_headers)
    await post_subscription(client, user_id="upgrader", tier="elite", status="active")
    assert await list_alerts(client, read_headers) == []
    [resolved] = await list_alerts(client, read_headers, status="resolved")
    assert resolved["id"] == alert["id"]
    assert resolved["resolved_at"] is not None
    last = resolved["history"][-1]
    assert (last["action"], last["from_status"], last["actor"]) == ("resolved", "active", "system")
    assert last["note"].startswith("tier changed from pro to elite: now 22 % of the Elite plan")


async def test_tier_change_seen_on_events_resolves_and_downgrade_raises(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    await use(client, "mover", 170_000, tier="essential")  # 85 % of Essential
    [alert] = await list_alerts(client, read_headers)
    assert alert["data"]["tier"] == "essential"
    await use(client, "mover", 1_000, tier="pro")  # events now say Pro: 17 %
    assert await list_alerts(client, read_headers) == []
    await post_subscription(client, user_id="mover", tier="essential", status="active")
    [back] = await list_alerts(client, read_headers)  # downgraded: over the limit again
    assert back["id"] != alert["id"]
    assert back["alert_type"] == "usage_limit_approaching"


async def test_period_end_resolves_limit_alerts(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await use(client, "monthly", 960_000)
    [alert] = await list_alerts(client, read_headers)
    next_period = billing_period(date.fromisoformat(PERIOD) + timedelta(days=40))[0]
    later = datetime.combine(next_period, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    async with transaction(sessions) as session:
        changes = await evaluate_alerts(session, now=later, policy=AlertPolicy())
    assert [a.id for a in changes.resolved] == [alert_id(alert)]
    assert changes.raised == []
    [resolved] = await list_alerts(client, read_headers, status="resolved")
    assert resolved["history"][-1]["note"] == f"billing period starting {PERIOD} ended"
    async with transaction(sessions) as session:  # a second run finds nothing to do
        again = await evaluate_alerts(session, now=later, policy=AlertPolicy())
    assert again.all == []


async def test_usage_back_under_the_threshold_after_a_limit_edit(
    client: httpx.AsyncClient,
    read_headers: dict[str, str],
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await use(client, "edited", 850_000)
    assert len(await list_alerts(client, read_headers)) == 1
    body = {
        "display_name": "Pro",
        "rank": 2,
        "monthly_tokens": 2_000_000,
        "monthly_interactions": 5_000,
        "monthly_price": "99",
    }
    resp = await client.put("/agent-usage/tiers/pro", json=body, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    async with transaction(sessions) as session:
        changes = await evaluate_alerts(session, now=datetime.now(UTC), policy=AlertPolicy())
    [resolved] = changes.resolved
    assert resolved.history[-1].note == ("usage back under the threshold: now 42 % of the Pro plan")
    assert await list_alerts(client, read_headers) == []


async def test_thresholds_come_from_the_policy(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await use(client, "half", 550_000)  # 55 %: no alert at the default 80 %
    assert await alert_count(sessions) == 0
    policy = AlertPolicy(approaching_pct=50, exceeded_pct=55)
    async with transaction(sessions) as session:
        changes = await evaluate_limit_alerts(
            session, user_ids=["half", "unknown"], now=datetime.now(UTC), policy=policy
        )
    [raised] = changes.raised
    assert raised.alert_type == "usage_limit_exceeded"
    assert raised.data["threshold_percentage"] == 55
    assert raised.title == "half is over 55 % of the Pro plan"


def alert_id(alert: dict[str, object]) -> uuid.UUID:
    return uuid.UUID(str(alert["id"]))
