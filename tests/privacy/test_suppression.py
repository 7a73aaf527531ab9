"""After an erasure, re-sent events are suppressed (answered, not stored) until re-subscribed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent, Customer
from tests.privacy.helpers import (
    ANA,
    BOB,
    count,
    daily_totals,
    privacy_url,
    seed_customer,
    send,
    stored_about,
    subscribe,
    usage,
)
from tests.support import signed


def suppressed_metric(app: FastAPI) -> float:
    value = app.state.metrics.registry.get_sample_value("nexus_events_suppressed_total")
    return float(value or 0)


async def test_resent_events_of_an_erased_customer_are_reported_and_not_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    sent = await seed_customer(client, admin_headers, ANA, "ana@example.com")
    assert (await client.delete(privacy_url(ANA), headers=admin_headers)).status_code == 200
    totals = await daily_totals(sessions)

    bob, later = usage(BOB, 1, 50), usage(ANA, 0.5, 70)
    answer = await send(client, *sent, later, bob)  # GENESIS replays its outbox, and more
    assert answer["accepted"] == 1
    assert answer["duplicates"] == 0
    assert answer["suppressed"] == 4
    assert {s["reason"] for s in answer["suppressed_events"]} == {"customer_erased"}
    suppressed = {s["event_id"] for s in answer["suppressed_events"]}
    assert suppressed == {e["event_id"] for e in [*sent, later]}
    assert (await stored_about(sessions, ANA))["events"] == 0
    assert (await stored_about(sessions, ANA))["customers"] == 0  # not re-created either
    tokens = sum(t[0] for t in (await daily_totals(sessions)).values())
    assert tokens == sum(t[0] for t in totals.values()) + 50  # Bob's event only
    assert suppressed_metric(app) == 4
    # An ordinary answer keeps its old shape: no suppressed keys when nothing was suppressed.
    assert await send(client, usage(BOB, 0.2, 1)) == {"accepted": 1, "duplicates": 0}


async def test_a_stale_or_cancelling_subscription_update_is_suppressed(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await client.delete(privacy_url(ANA), headers=admin_headers)
    before = datetime.now(UTC) - timedelta(hours=1)
    stale = await subscribe(client, ANA, email="ana@example.com", timestamp=before.isoformat())
    assert (stale["suppressed"], stale["changed"]) == ("customer_erased", False)
    cancel = await subscribe(client, ANA, status="cancelled", email="ana@example.com")
    assert cancel["suppressed"] == "customer_erased"
    assert await count(sessions, Customer, Customer.email == "ana@example.com") == 0


async def test_after_a_new_subscription_new_events_are_stored_and_old_ones_stay_out(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await client.delete(privacy_url(ANA), headers=admin_headers)
    answer = await subscribe(client, ANA, tier="elite", email="ana.new@example.com")
    assert "suppressed" not in answer
    assert (answer["tier"], answer["status"]) == ("elite", "active")

    new = usage(ANA, 0, 300) | {"subscription_tier": "elite", "timestamp": None}
    answer = await send(client, *old, new)
    assert (answer["accepted"], answer["suppressed"]) == (1, 3)  # history stays erased
    assert await count(sessions, AgentUsageEvent, AgentUsageEvent.user_id == ANA) == 1
    about = await stored_about(sessions, ANA)
    assert (about["customers"], about["events"], about["alerts"]) == (1, 1, 0)
    # Erasing again works, and suppresses again.
    again = await client.delete(privacy_url(ANA), headers=admin_headers)
    assert (again.status_code, again.json()["status"]) == (200, "erased")
    assert again.json()["counts"]["events_deleted"] == 1
    assert (await send(client, usage(ANA, 0, 1)))["suppressed"] == 1


async def test_reserved_anonymous_ids_are_refused_at_ingest(client: httpx.AsyncClient) -> None:
    body, headers = signed({"events": [usage("erased:1234", 0, 1)]})
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "user_id"
    body, headers = signed({"user_id": "erased:1", "tier": "pro", "status": "active"})
    resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
    assert (resp.status_code, resp.json()["field"]) == (422, "user_id")
