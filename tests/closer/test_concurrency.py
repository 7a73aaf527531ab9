"""Several workers on the same due steps: each email leaves exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
from fastapi import FastAPI

from nexus_crm.closer.worker import claim_due, deliver_due
from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings
from tests.closer.conftest import Inbox, customer, served, start
from tests.conftest import reset_database
from tests.support import TEST_SECRET

CUSTOMERS = 24


async def seed(client: httpx.AsyncClient, headers: dict[str, str], n: int = CUSTOMERS) -> None:
    for i in range(n):
        await customer(client, f"c{i:02d}", tokens=0)
        assert (await start(client, headers, f"c{i:02d}")).status_code == 201


async def drain(settings: Settings, at: list[int]) -> list[str]:
    """One worker (its own engine, as another process would have) until nothing is due."""
    engine = create_engine(settings)
    sent: list[str] = []
    try:
        sessions = create_sessionmaker(engine)
        t0 = utcnow()
        for days in at:
            at = t0 + timedelta(days=days, minutes=1)
            while (done := await deliver_due(sessions, settings, limit=3, now=at)).sent:
                sent.extend(o.message_id for o in done.sent)
                await asyncio.sleep(0)
    finally:
        await engine.dispose()
    return sent


async def test_two_workers_send_each_email_exactly_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    await seed(client, admin_headers)
    a, b = await asyncio.gather(drain(settings, [0, 3, 8]), drain(settings, [0, 3, 8]))
    assert len(a) + len(b) == 3 * CUSTOMERS
    assert not set(a) & set(b)
    received = Counter(m["Message-ID"] for m in inbox[0].messages)
    assert len(received) == 3 * CUSTOMERS
    assert set(received.values()) == {1}  # the SMTP server saw each message once


async def test_postgres_workers_skip_each_others_locked_steps(postgresql_url: str) -> None:
    """A claim in progress (not committed) hides its steps; the other worker takes the rest."""
    await reset_database(postgresql_url)
    quiet = {"UPSELL_WORKER_INTERVAL_SECONDS": 0, "ALERT_EVALUATION_INTERVAL_SECONDS": 0}
    pg = Settings(DATABASE_URL=postgresql_url, GENESIS_WEBHOOK_SECRET=TEST_SECRET, **quiet)
    async with served(pg) as (app, client):
        async with transaction(app.state.sessions) as session:
            _, key = await create_api_key(session, name="pg", scopes=["write"])
        await seed(client, {"Authorization": f"Bearer {key}"}, n=10)
        now = utcnow()
        async with transaction(app.state.sessions) as first:
            mine = await claim_due(first, settings=pg, now=now, limit=4)
            async with transaction(app.state.sessions) as second:
                theirs = await claim_due(second, settings=pg, now=now, limit=100)
    assert (len(mine), len(theirs)) == (4, 6)
    assert not {o.step_id for o in mine} & {o.step_id for o in theirs}
