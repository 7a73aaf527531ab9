"""Window roll-ups from cached past days plus the live last day equal a direct read."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics import repository as repo
from nexus_crm.analytics import windows
from nexus_crm.db import transaction
from nexus_crm.ingest.service import ingest_events
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import day_start, local_day, utcnow
from nexus_crm.privacy.service import erase_customer

TZ = ZoneInfo("America/Mexico_City")
AGENTS = ("NEXUS", "BLAZE", "SAGE")
TIERS = ("essential", "pro", "elite")


def event(rng: random.Random, occurred: datetime, user: str | None = None) -> dict[str, Any]:
    user = user or f"u{rng.randrange(40)}"
    return {
        "id": uuid7(),
        "event_id": str(uuid7()),
        "user_id": user,
        "agent_id": rng.choice(AGENTS),
        "session_id": "s",
        "tokens_used": rng.randrange(1, 5000),
        "response_time_ms": rng.randrange(1, 9000),
        "subscription_tier": TIERS[int(user[1:]) % 3],
        "occurred_at": occurred,
        "day": local_day(occurred, TZ),
        "received_at": utcnow(),
        "metadata": {},
    }


async def store(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    async with transaction(sessions) as s:
        await ingest_events(s, rows=rows, received_at=utcnow())


def plain(rows: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        items = r._mapping.items() if hasattr(r, "_mapping") else vars(r).items()
        out.append({k: int(v) if isinstance(v, int) else v for k, v in items})
    return out


async def assert_same(sessions: async_sessionmaker[AsyncSession], today: date) -> None:
    """Every window ending today or earlier: cached + live equals one direct read."""
    for days in (1, 2, 7, 30):
        for end in (today, today - timedelta(days=3)):
            start = end - timedelta(days=days - 1)
            async with sessions() as s:
                assert plain(await windows.agent_rollup(s, start, end, TZ, today=today)) == plain(
                    await repo.agent_rollup(s, start, end)
                ), (start, end)
                assert await windows.active_users(
                    s, start, end, TZ, today=today
                ) == await repo.active_users(s, start, end)
                assert plain(await windows.tier_rollup(s, start, end, TZ, today=today)) == plain(
                    await repo.tier_rollup(s, start, end)
                )


async def test_cached_past_plus_live_day_equals_a_direct_read(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rng = random.Random(7)
    now = utcnow()
    today = local_day(now, TZ)
    midnight = day_start(today, TZ)
    history = [
        event(rng, midnight - timedelta(minutes=rng.randrange(1, 40 * 24 * 60)))
        for _ in range(1500)
    ]
    await store(sessions, history)
    await assert_same(sessions, today)  # first reads fill the cache
    await assert_same(sessions, today)  # served from it
    # Today grows: new customers and old ones; the cache of past days stays valid.
    await store(sessions, [event(rng, midnight + timedelta(seconds=i)) for i in range(50)])
    await store(sessions, [event(rng, midnight + timedelta(minutes=5), user="u999")])
    await assert_same(sessions, today)
    # A late event for a past day, a tier change, an erasure: each invalidates the cache.
    await store(sessions, [event(rng, midnight - timedelta(days=2), user="u1000")])
    await assert_same(sessions, today)
    upgrade = event(rng, midnight + timedelta(minutes=10), user="u4")  # u4 had used pro
    upgrade["subscription_tier"] = "elite"  # its past use now counts under its current tier
    await store(sessions, [upgrade])
    await assert_same(sessions, today)
    async with transaction(sessions) as s:
        await erase_customer(s, user_id="u5", key=b"k" * 32, actor="test", now=now)
    await assert_same(sessions, today)
