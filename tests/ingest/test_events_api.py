"""POST /agent-usage/events: signatures, validation, idempotency, aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent, Customer, SubscriptionChange, agent_usage_daily
from tests.support import OLD_SECRET, OTHER_SECRET, event, signed

URL = "/agent-usage/events"


async def post(client: httpx.AsyncClient, payload: Any, **kw: Any) -> httpx.Response:
    body, headers = signed(payload, **kw)
    return await client.post(URL, content=body, headers=headers)


async def count_events(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AgentUsageEvent)) or 0)


async def daily_totals(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    d = agent_usage_daily.c
    async with sessions() as s:
        row = (await s.execute(select(func.sum(d.interactions), func.sum(d.tokens)))).one()
    return int(row[0] or 0), int(row[1] or 0)


async def test_single_event_signed_by_standardwebhooks_is_accepted(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    resp = await post(client, event(tokens_used=150))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    assert await count_events(sessions) == 1
    assert await daily_totals(sessions) == (1, 150)


async def test_same_event_id_again_is_a_duplicate_and_not_counted_twice(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ev = event(tokens_used=200)
    assert (await post(client, ev)).json() == {"accepted": 1, "duplicates": 0}
    # A retry is a new delivery (new webhook-id and timestamp) carrying the same event.
    assert (await post(client, ev)).json() == {"accepted": 0, "duplicates": 1}
    assert await count_events(sessions) == 1
    assert await daily_totals(sessions) == (1, 200)


async def test_event_without_event_id_takes_the_webhook_id(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ev = event()
    del ev["event_id"]
    assert (await post(client, ev, msg_id="msg_fixed_1")).json()["accepted"] == 1
    assert (await post(client, ev, msg_id="msg_fixed_1")).json() == {"accepted": 0, "duplicates": 1}
    async with sessions() as s:
        assert await s.scalar(select(AgentUsageEvent.event_id)) == "msg_fixed_1"


async def test_batch_is_stored_with_aggregates_per_day_user_agent(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    events = [
        event(
            user_id="u1",
            agent_id="NEXUS",
            tokens_used=100,
            response_time_ms=100,
            timestamp=t0.isoformat(),
        ),
        event(
            user_id="u1",
            agent_id="nexus",
            tokens_used=50,
            response_time_ms=900,
            timestamp=(t0 + timedelta(hours=1)).isoformat(),
        ),
        event(user_id="u1", agent_id="BLAZE", tokens_used=70, timestamp=t0.isoformat()),
        event(
            user_id="u2",
            agent_id="NEXUS",
            tokens_used=30,
            timestamp=(t0 + timedelta(days=1)).isoformat(),
        ),
    ]
    resp = await post(client, {"events": events})
    assert resp.json() == {"accepted": 4, "duplicates": 0}
    d = agent_usage_daily.c
    async with sessions() as s:
        rows = (
            await s.execute(
                select(
                    d.day,
                    d.user_id,
                    d.agent_id,
                    d.interactions,
                    d.tokens,
                    d.response_time_sum_ms,
                    d.response_time_max_ms,
                ).order_by(d.day, d.user_id, d.agent_id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (t0.date(), "u1", "BLAZE", 1, 70, 1200, 1200),
        (t0.date(), "u1", "NEXUS", 2, 150, 1000, 900),
        (t0.date() + timedelta(days=1), "u2", "NEXUS", 1, 30, 1200, 1200),
    ]


async def test_batch_with_duplicates_inside_and_across(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, b = event(tokens_used=10), event(tokens_used=20)
    assert (await post(client, {"events": [a]})).json() == {"accepted": 1, "duplicates": 0}
    resp = await post(client, {"events": [a, b, b]})
    assert resp.json() == {"accepted": 1, "duplicates": 2}
    assert await daily_totals(sessions) == (2, 30)


async def test_batch_with_one_bad_item_is_rejected_whole_naming_index_and_field(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    events = [event(), event(), event(tokens_used=-5), event()]
    resp = await post(client, {"events": events})
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "validation_error"
    assert body["errors"] == [
        {"index": 2, "field": "tokens_used", "message": body["errors"][0]["message"]}
    ]
    assert "greater than or equal to 0" in body["errors"][0]["message"]
    assert await count_events(sessions) == 0
    assert await daily_totals(sessions) == (0, 0)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"subscription_tier": "platinum"}, "subscription_tier"),
        ({"tokens_used": -1}, "tokens_used"),
        ({"response_time_ms": -3}, "response_time_ms"),
        ({"tokens_used": "150"}, "tokens_used"),
        ({"tokens_used": 10**30}, "tokens_used"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "a\x00b"}, "user_id"),
        ({"agent_id": "x" * 65}, "agent_id"),
        ({"timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"metadata": "not an object"}, "metadata"),
        ({"metadata": {"note": "a\x00b"}}, "metadata"),  # PostgreSQL's jsonb cannot hold NUL
        ({"metadata": {"note": "\ud800"}}, "metadata"),  # nor an unpaired surrogate
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_fields_get_422_naming_the_field(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    override: dict[str, Any],
    field: str,
) -> None:
    resp = await post(client, event(**override))
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    assert await count_events(sessions) == 0


async def test_missing_required_field_is_named(client: httpx.AsyncClient) -> None:
    ev = event()
    del ev["session_id"]
    resp = await post(client, {"events": [event(), ev]})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["index"] == 1
    assert resp.json()["errors"][0]["field"] == "session_id"


async def test_tiers_are_case_insensitive_and_agents_normalized(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    resp = await post(client, event(subscription_tier="PRIME", agent_id="sage"))
    assert resp.status_code == 200
    async with sessions() as s:
        row = (await s.execute(select(AgentUsageEvent))).scalar_one()
    assert (row.subscription_tier, row.agent_id) == ("prime", "SAGE")


async def test_timestamp_defaults_to_received_time_and_naive_means_utc(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = datetime.now(UTC)
    await post(client, event(event_id="a"))
    await post(client, event(event_id="b", timestamp="2026-01-02T03:04:05"))
    async with sessions() as s:
        rows = {e.event_id: e for e in (await s.scalars(select(AgentUsageEvent))).all()}
    assert before - timedelta(seconds=1) <= rows["a"].occurred_at <= datetime.now(UTC)
    assert rows["b"].occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rows["a"].received_at.tzinfo is not None


async def test_metadata_is_stored(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post(client, event(metadata={"plan": "trial", "tags": ["a", 1]}))
    async with sessions() as s:
        stored = await s.scalar(select(AgentUsageEvent))
    assert stored is not None
    assert stored.event_metadata == {"plan": "trial", "tags": ["a", 1]}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b, h: (b.replace(b"150", b"151"), h), "webhook-signature"),
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}),
            "webhook-signature",
        ),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-id"}), "webhook-id"),
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-timestamp"}),
            "webhook-timestamp",
        ),
        (lambda b, h: (b, {**h, "webhook-id": "msg_other"}), "webhook-signature"),
        (lambda b, h: (b, {**h, "webhook-timestamp": "soon"}), "webhook-timestamp"),
    ],
)
async def test_tampered_or_incomplete_webhooks_get_401(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    mutate: Any,
    field: str,
) -> None:
    body, headers = signed(event(tokens_used=150))
    body, headers = mutate(body, headers)
    resp = await client.post(URL, content=body, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    assert resp.json()["field"] == field
    assert await count_events(sessions) == 0


async def test_timestamp_six_minutes_old_or_ahead_gets_401(client: httpx.AsyncClient) -> None:
    for skew in (timedelta(minutes=-6), timedelta(minutes=6)):
        resp = await post(client, event(), at=datetime.now(UTC) + skew)
        assert resp.status_code == 401
        assert resp.json()["field"] == "webhook-timestamp"
    ok = await post(client, event(), at=datetime.now(UTC) - timedelta(minutes=4))
    assert ok.status_code == 200


async def test_unknown_secret_gets_401_and_rotated_secret_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    resp = await post(client, event(), secret=OTHER_SECRET)
    assert resp.status_code == 401
    assert resp.json()["detail"] == "no valid signature for this body"
    assert (await post(client, event(), secret=OLD_SECRET)).status_code == 200


async def test_oversized_body_gets_413(
    client: httpx.AsyncClient, app: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limit = app.state.settings.max_body_bytes
    big = {"events": [event(metadata={"pad": "x" * 15000}) for _ in range(limit // 15000 + 2)]}
    resp = await post(client, big)
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"
    assert await count_events(sessions) == 0


async def test_too_many_events_get_422(client: httpx.AsyncClient) -> None:
    resp = await post(client, {"events": [event() for _ in range(10_001)]})
    assert resp.status_code == 422
    assert resp.json()["field"] == "events"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"events": 3}', "events"),
        (b'{"events": []}', "events"),
        (b'{"events": [], "x": 1}', "x"),
        (b"[" * 200_000 + b"]" * 200_000, "body"),
        (b'{"tokens_used": ' + b"9" * 5000 + b"}", "body"),
        (b"\xff\xfe", "body"),
    ],
)
async def test_malformed_bodies_get_422(client: httpx.AsyncClient, body: bytes, field: str) -> None:
    body_, headers = signed(body)
    resp = await client.post(URL, content=body_, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["field"] == field


async def test_first_event_creates_the_customer_and_a_tier_change_is_recorded(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    await post(client, event(user_id="u9", subscription_tier="pro", timestamp=t0.isoformat()))
    later = (t0 + timedelta(days=3)).isoformat()
    await post(client, event(user_id="u9", subscription_tier="elite", timestamp=later))
    # A late event from before the upgrade does not turn the customer back to pro.
    await post(
        client,
        event(
            user_id="u9", subscription_tier="pro", timestamp=(t0 + timedelta(days=1)).isoformat()
        ),
    )
    async with sessions() as s:
        customer = await s.scalar(select(Customer).where(Customer.user_id == "u9"))
        changes = (
            await s.scalars(select(SubscriptionChange).order_by(SubscriptionChange.changed_at))
        ).all()
    assert customer is not None
    assert (customer.tier, customer.status) == ("elite", "active")
    assert [(c.from_tier, c.to_tier, c.changed_at, c.source) for c in changes] == [
        (None, "pro", t0, "usage_event"),
        ("pro", "elite", t0 + timedelta(days=3), "usage_event"),
    ]
