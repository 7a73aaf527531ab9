"""Raw-event retention: old raw events go, aggregates stay; ingest refuses events that old."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import AgentUsageEvent
from nexus_crm.privacy.service import apply_retention
from nexus_crm.settings import Settings
from tests.privacy.helpers import ANA, BOB, audit_rows, count, daily_totals, send, usage
from tests.support import OLD_SECRET, TEST_SECRET, signed


async def seed_ages(client: httpx.AsyncClient) -> None:
    """Events 40 and 10 days old and one from now, for two customers."""
    await send(
        client,
        usage(ANA, 40 * 24, 100),
        usage(BOB, 40 * 24, 200),
        usage(ANA, 10 * 24, 10),
        usage(BOB, 1, 20),
    )


async def test_retention_deletes_old_raw_events_only_and_keeps_aggregates(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_ages(client)
    totals = await daily_totals(sessions)
    async with transaction(sessions) as s:
        dry = await apply_retention(s, days=30, now=utcnow(), actor="system:test", dry_run=True)
    assert (dry.events, dry.deleted, dry.dry_run) == (2, 0, True)
    assert await count(sessions, AgentUsageEvent) == 4
    assert await audit_rows(sessions, "privacy.retention") == []

    async with transaction(sessions) as s:
        done = await apply_retention(s, days=30, now=utcnow(), actor="system:test")
    assert (done.events, done.deleted) == (2, 2)
    left = await count(sessions, AgentUsageEvent, AgentUsageEvent.tokens_used.in_([10, 20]))
    assert left == await count(sessions, AgentUsageEvent) == 2
    assert await daily_totals(sessions) == totals  # the aggregates still count all four
    [row] = await audit_rows(sessions, "privacy.retention")
    assert (row.actor, row.details["deleted"], row.details["days"]) == ("system:test", 2, 30)
    async with transaction(sessions) as s:  # nothing left to delete: no audit row
        assert (await apply_retention(s, days=30, now=utcnow(), actor="x")).deleted == 0
        off = await apply_retention(s, days=0, now=utcnow(), actor="x")
    assert (off.cutoff, off.deleted) == (None, 0)
    assert len(await audit_rows(sessions, "privacy.retention")) == 1


async def test_with_retention_on_ingest_refuses_older_events_and_the_server_applies_it(
    db_url: str, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_ages(client)  # stored while retention was off
    settings = Settings(
        DATABASE_URL=db_url,
        GENESIS_WEBHOOK_SECRET=f"{TEST_SECRET},{OLD_SECRET}",
        RAW_EVENT_RETENTION_DAYS=30,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for _ in range(100):  # the retention task runs once at startup
            if await count(sessions, AgentUsageEvent) == 2:
                break
            await asyncio.sleep(0.05)
        assert await count(sessions, AgentUsageEvent) == 2
        [row] = await audit_rows(sessions, "privacy.retention")
        assert (row.actor, row.details["deleted"]) == ("system:retention", 2)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
            body, headers = signed({"events": [usage(ANA, 0, 1) | {"timestamp": old}]})
            resp = await c.post("/agent-usage/events", content=body, headers=headers)
            assert resp.status_code == 422, resp.text
            [error] = resp.json()["errors"]
            assert (error["index"], error["field"]) == (0, "timestamp")
            assert "retention window (30 days" in error["message"]
            recent = (datetime.now(UTC) - timedelta(days=29)).isoformat()
            answer = await send(c, usage(ANA, 0, 1) | {"timestamp": recent})
            assert answer == {"accepted": 1, "duplicates": 0}
    assert await count(sessions, AgentUsageEvent) == 3
