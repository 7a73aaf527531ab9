"""Group commit: concurrent webhooks share transactions, each answered with its own counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import create_sessionmaker
from nexus_crm.errors import Overloaded
from nexus_crm.ingest.events import UsageStored
from nexus_crm.ingest.service import IngestOutcome, event_rows, validate_events
from nexus_crm.ingest.writer import EventWriter
from nexus_crm.models import AgentUsageEvent, agent_usage_daily
from nexus_crm.settings import Settings
from nexus_crm.wiring import domain_routes
from tests.support import event, signed

URL = "/agent-usage/events"
NOW = datetime.now(UTC)


async def post(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    body, headers = signed(payload)
    return await client.post(URL, content=body, headers=headers)


async def stored(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """Event rows, and Σ interactions of the daily aggregate."""
    async with sessions() as s:
        rows = await s.scalar(select(func.count()).select_from(AgentUsageEvent))
        daily = await s.scalar(select(func.sum(agent_usage_daily.c.interactions)))
    return int(rows or 0), int(daily or 0)


async def test_concurrent_webhooks_share_transactions_and_get_their_own_counts(
    app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    shared = event(event_id="sent-twice")
    payloads: list[Any] = [event(user_id=f"u{i % 7}") for i in range(60)]
    payloads += [shared, shared, {"events": [event(), event(), shared]}]
    answers = await asyncio.gather(*(post(client, p) for p in payloads))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert bodies[:60] == [{"accepted": 1, "duplicates": 0}] * 60
    # "sent-twice" is stored once: by exactly one of the three requests carrying it.
    tail = bodies[60:]
    assert sum(b["accepted"] for b in tail) == 1 + 2
    assert sum(b["duplicates"] for b in tail) == 2
    assert await stored(sessions) == (63, 63)
    writer: EventWriter = app.state.event_writer
    assert writer.requests == len(payloads)
    assert writer.groups < writer.requests  # requests really were grouped


def rows_of(*events: dict[str, Any], webhook_id: str) -> list[dict[str, Any]]:
    valid, batch = validate_events({"events": list(events)}, context={"now": NOW}, max_events=100)
    return event_rows(valid, webhook_id=webhook_id, batch=batch, received_at=NOW, tz=Settings().tz)


async def test_a_request_that_fails_the_group_fails_alone(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A row the database refuses fails its own request; the group's others are stored."""
    writer = EventWriter(sessions, settings)
    writer.start()
    good = rows_of(event(), event(), webhook_id="good")
    bad = rows_of(event(), webhook_id="bad")
    bad[0]["tokens_used"] = 2**70  # passed no validation: too large for BIGINT / SQLite
    try:
        results = await asyncio.gather(
            writer.submit(good, NOW), writer.submit(bad, NOW), return_exceptions=True
        )
    finally:
        await writer.stop()
    assert isinstance(results[0], IngestOutcome)
    assert results[0].result.accepted == 2
    assert isinstance(results[1], Exception)
    assert await stored(sessions) == (2, 2)


async def test_a_full_queue_answers_overloaded_at_once(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    busy, release = asyncio.Event(), asyncio.Event()

    async def slow(_: UsageStored) -> None:
        busy.set()
        await release.wait()  # the writer is busy with the first group

    routes = domain_routes(settings)
    routes.listen(UsageStored, slow)  # after the first group's commit
    slowed = create_sessionmaker(sessions.kw["bind"], routes=routes)
    writer = EventWriter(slowed, settings, max_queued_events=5)
    writer.start()
    first = asyncio.create_task(writer.submit(rows_of(event(), webhook_id="a"), NOW))
    await busy.wait()
    queued = asyncio.create_task(
        writer.submit(rows_of(event(), event(), event(), webhook_id="b"), NOW)
    )
    await asyncio.sleep(0)
    assert writer.queued_events == 3
    with pytest.raises(Overloaded) as refused:
        await writer.submit(rows_of(event(), event(), event(), webhook_id="c"), NOW)
    assert refused.value.status == 503
    assert refused.value.headers() == {"Retry-After": "1"}
    release.set()
    assert (await first).result.accepted == 1
    assert (await queued).result.accepted == 3
    await writer.stop()
    assert await stored(sessions) == (4, 4)


async def test_stop_stores_what_is_queued(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    writer = EventWriter(sessions, settings)
    writer.start()
    pending = [
        asyncio.create_task(writer.submit(rows_of(event(), webhook_id=f"w{i}"), NOW))
        for i in range(5)
    ]
    await asyncio.sleep(0)
    await writer.stop()
    assert [(await p).result.accepted for p in pending] == [1] * 5
    assert await stored(sessions) == (5, 5)


async def test_an_event_of_a_tier_created_after_the_cache_was_read_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await post(client, event())).status_code == 200  # tier names now cached
    assert (await post(client, event(subscription_tier="platinum"))).status_code == 422
    tier = {
        "display_name": "Platinum",
        "rank": 99,
        "monthly_tokens": 10**9,
        "monthly_interactions": 10**6,
        "monthly_price": "999.00",
    }
    put = await client.put("/agent-usage/tiers/platinum", json=tier, headers=admin_headers)
    assert put.status_code == 200, put.text
    answer = await post(client, event(subscription_tier="platinum"))
    assert answer.json() == {"accepted": 1, "duplicates": 0}
