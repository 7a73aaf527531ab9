"""POST /agent-usage/subscriptions: customers and their tier/status history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import Customer, SubscriptionChange
from tests.support import event, signed

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def post_sub(client: httpx.AsyncClient, **payload: Any) -> httpx.Response:
    body, headers = signed(payload)
    return await client.post("/agent-usage/subscriptions", content=body, headers=headers)


async def history(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> list[tuple[Any, ...]]:
    async with sessions() as s:
        rows = (
            await s.scalars(
                select(SubscriptionChange)
                .where(SubscriptionChange.user_id == user_id)
                .order_by(SubscriptionChange.changed_at)
            )
        ).all()
    return [(r.from_tier, r.to_tier, r.from_status, r.to_status, r.changed_at) for r in rows]


async def customer(sessions: async_sessionmaker[AsyncSession], user_id: str) -> Customer:
    async with sessions() as s:
        c = await s.scalar(select(Customer).where(Customer.user_id == user_id))
    assert c is not None
    return c


def at(days: int) -> str:
    return (T0 + timedelta(days=days)).isoformat()


async def test_subscription_creates_customer_with_contact_details(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    resp = await post_sub(
        client,
        user_id="pro_user_123",
        tier="Pro",
        status="active",
        email="ana@example.com",
        name="Ana",
        timestamp=at(0),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "user_id": "pro_user_123",
        "tier": "pro",
        "status": "active",
        "changed": True,
    }
    c = await customer(sessions, "pro_user_123")
    assert (c.tier, c.status, c.email, c.name, c.state_at) == (
        "pro",
        "active",
        "ana@example.com",
        "Ana",
        T0,
    )
    assert await history(sessions, "pro_user_123") == [(None, "pro", None, "active", T0)]


async def test_changes_are_recorded_at_the_payload_timestamp_and_repeats_are_ignored(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_sub(client, user_id="u1", tier="pro", status="active", timestamp=at(0))
    up = await post_sub(client, user_id="u1", tier="elite", status="active", timestamp=at(10))
    again = await post_sub(client, user_id="u1", tier="elite", status="active", timestamp=at(10))
    cancel = await post_sub(
        client, user_id="u1", tier="elite", status="cancelled", timestamp=at(40)
    )
    assert [r.json()["changed"] for r in (up, again, cancel)] == [True, False, True]
    assert await history(sessions, "u1") == [
        (None, "pro", None, "active", T0),
        ("pro", "elite", "active", "active", T0 + timedelta(days=10)),
        ("elite", "elite", "active", "cancelled", T0 + timedelta(days=40)),
    ]
    c = await customer(sessions, "u1")
    assert (c.tier, c.status) == ("elite", "cancelled")


async def test_redelivered_update_at_the_same_instant_as_a_later_one_changes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = {"user_id": "u5", "tier": "pro", "status": "active", "timestamp": at(0)}
    await post_sub(client, **first)
    await post_sub(client, user_id="u5", tier="elite", status="active", timestamp=at(0))
    again = await post_sub(client, **first)
    assert again.json()["changed"] is False
    assert [h[1] for h in await history(sessions, "u5")] == ["pro", "elite"]
    assert (await customer(sessions, "u5")).tier == "elite"


async def test_history_loaded_out_of_order_keeps_the_newest_state(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_sub(client, user_id="u2", tier="prime", status="active", timestamp=at(30))
    await post_sub(client, user_id="u2", tier="pro", status="active", timestamp=at(0))
    c = await customer(sessions, "u2")
    assert (c.tier, c.state_at) == ("prime", T0 + timedelta(days=30))
    assert [h[1] for h in await history(sessions, "u2")] == ["pro", "prime"]


async def test_event_with_other_tier_after_subscription_records_a_change(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_sub(client, user_id="u3", tier="pro", status="active", timestamp=at(0))
    body, headers = signed(event(user_id="u3", subscription_tier="ELITE", timestamp=at(5)))
    assert (await client.post("/agent-usage/events", content=body, headers=headers)).is_success
    assert (await customer(sessions, "u3")).tier == "elite"
    assert [(h[0], h[1]) for h in await history(sessions, "u3")] == [
        (None, "pro"),
        ("pro", "elite"),
    ]


async def test_bad_subscription_fields_are_named(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    cases = [
        ({"user_id": "u", "tier": "gold", "status": "active"}, "tier"),
        ({"user_id": "u", "tier": "pro", "status": "paused"}, "status"),
        ({"user_id": "u", "tier": "pro", "status": "active", "email": "nope"}, "email"),
        ({"user_id": "u", "tier": "pro", "status": "active", "email": "a\x00@b.co"}, "email"),
        ({"user_id": "u", "tier": "pro", "status": "active", "name": "An\x00a"}, "name"),
        ({"tier": "pro", "status": "active"}, "user_id"),
        (
            {"user_id": "u", "tier": "pro", "status": "active", "timestamp": "2999-01-01"},
            "timestamp",
        ),
    ]
    for payload, field in cases:
        resp = await post_sub(client, **payload)
        assert resp.status_code == 422, payload
        assert resp.json()["field"] == field
    async with sessions() as s:
        assert (await s.scalars(select(Customer))).all() == []


async def test_unsigned_subscription_gets_401(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/agent-usage/subscriptions", json={"user_id": "u", "tier": "pro", "status": "active"}
    )
    assert resp.status_code == 401
    assert resp.json()["field"] == "webhook-id"
