"""An erasure racing webhooks for the same customer: no error, and nothing outlives it.

Every event sent while ``DELETE /agent-usage/privacy/{user_id}`` runs is either stored before
the erasure (and then erased by it, its usage kept in the anonymous totals) or suppressed
after it; none is stored after it, no customer row comes back, no request fails.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent, Customer, agent_usage_daily
from tests.privacy.helpers import (
    BOB,
    EVENTS,
    SUBSCRIPTIONS,
    privacy_url,
    send,
    stored_about,
    subscribe,
    usage,
)
from tests.support import signed

ROUNDS = 5
POSTS = 10  # batches racing each erasure
PER_POST = 20  # events of the erased customer in each batch (plus one of a bystander)
NOTHING = {"events": 0, "daily": 0, "customers": 0, "changes": 0, "alerts": 0, "sequences": 0}


async def _post(client: httpx.AsyncClient, path: str, payload: Any) -> httpx.Response:
    body, headers = signed(payload)
    return await client.post(path, content=body, headers=headers)


async def _total_tokens(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.sum(agent_usage_daily.c.tokens))) or 0)


async def _race(
    client: httpx.AsyncClient, headers: dict[str, str], user: str, at: int
) -> tuple[list[httpx.Response], httpx.Response, list[list[dict[str, Any]]]]:
    """POSTS batches and one erasure at once, the erasure started ``at``-th; their answers."""
    batches = [
        [usage(user, 0.5, 100 * p + i + 1) for i in range(PER_POST)] + [usage(BOB, 0.5, 7)]
        for p in range(POSTS)
    ]
    posts = [_post(client, EVENTS, {"events": b}) for b in batches]
    erase = client.delete(privacy_url(user), headers=headers)
    answers = await asyncio.gather(*posts[:at], erase, *posts[at:])
    return [*answers[:at], *answers[at + 1 :]], answers[at], batches


async def test_events_racing_an_erasure_are_erased_or_suppressed_never_a_500(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stored_tokens = await _total_tokens(sessions)
    for r in range(ROUNDS):
        user = f"race_{r}"
        await subscribe(client, user, email=f"{user}@example.com")
        stored_tokens += (await send(client, usage(user, 2, 5)))["accepted"] * 5
        answers, erased, batches = await _race(client, admin_headers, user, at=(3 * r) % POSTS)

        assert [a.status_code for a in answers] == [200] * POSTS, [a.text for a in answers]
        assert erased.status_code == 200, erased.text
        stored_before = 1  # the event sent before the race
        for answer, batch in zip(answers, batches, strict=True):
            body = answer.json()
            suppressed = {s["event_id"] for s in body.get("suppressed_events", [])}
            assert body["accepted"] + body.get("suppressed", 0) == len(batch)  # no duplicates
            assert suppressed <= {e["event_id"] for e in batch if e["user_id"] == user}
            stored_before += body["accepted"] - 1  # minus the bystander's event
            stored_tokens += sum(e["tokens_used"] for e in batch if e["event_id"] not in suppressed)
        # What was stored before the erasure was erased by it; nothing was stored after.
        assert erased.json()["counts"]["events_deleted"] == stored_before
        assert await stored_about(sessions, user) == NOTHING
        # Usage stored before the erasure stays in the (anonymous) totals; suppressed does not.
        assert await _total_tokens(sessions) == stored_tokens
        assert (await send(client, usage(user, 0, 1)))["suppressed"] == 1
    async with sessions() as s:
        bob = select(func.count()).where(AgentUsageEvent.user_id == BOB)
        assert await s.scalar(bob) == ROUNDS * POSTS


async def test_subscription_updates_racing_an_erasure_never_bring_the_customer_back(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for r in range(ROUNDS):
        user = f"race_sub_{r}"
        await subscribe(client, user, email=f"{user}@example.com")
        await send(client, usage(user, 2, 5))
        # Updates that never lift an erasure: a cancellation, and one dated before it.
        kinds = [
            {"status": "cancelled"},
            {"status": "active", "tier": "elite", "timestamp": hour_ago},
        ]
        updates = [
            _post(
                client,
                SUBSCRIPTIONS,
                {"user_id": user, "tier": "pro", "email": f"{user}@example.com", **kinds[i % 2]},
            )
            for i in range(6)
        ]
        events = [_post(client, EVENTS, {"events": [usage(user, 0.1, 3)]}) for _ in range(4)]
        erase = client.delete(privacy_url(user), headers=admin_headers)
        *answers, erased = await asyncio.gather(*updates[:3], *events, *updates[3:], erase)
        assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
        assert erased.status_code == 200, erased.text
        assert await stored_about(sessions, user) == NOTHING
        async with sessions() as s:
            email = select(func.count()).where(Customer.email == f"{user}@example.com")
            assert await s.scalar(email) == 0
