"""Concurrent writers against a real server process, on SQLite and PostgreSQL.

Several writers post overlapping batches at once (the same event racing across writers and
retried), then the database itself is checked: every event stored once, and the daily
aggregates equal to a GROUP BY over the stored events.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.customers import repository as repo
from nexus_crm.customers import service as flows
from nexus_crm.kit.histogram import bucket_index
from nexus_crm.kit.time import utc_hour
from nexus_crm.models import (
    RESPONSE_TIME_BOUNDS_MS,
    RESPONSE_TIME_BUCKETS,
    AgentUsageEvent,
    Customer,
    SubscriptionChange,
    agent_usage_daily,
    agent_usage_hourly,
)
from tests.processes import ServerProcess, running_server
from tests.support import event, signed

URL = "/agent-usage/events"
WRITERS = 6
PRIVATE_PER_WRITER = 250
SHARED = 600
SHARED_PER_WRITER = 300
RETRY_PROBABILITY = 0.2
USERS = {"conc_u1": "essential", "conc_u2": "pro", "conc_u3": "elite", "conc_u4": "prime"}
AGENTS = ("NEXUS", "BLAZE", "SAGE")
DAYS = 3
GroupKey = tuple[date, str, str]


@pytest.fixture
def server(db_url: str) -> Iterator[ServerProcess]:
    """A real uvicorn process serving the database under test (days counted in UTC)."""
    with running_server(db_url, env={"NEXUS_CRM_TIMEZONE": "UTC"}) as srv:
        yield srv


@dataclass
class Sent:
    """What the writers sent and what the server answered."""

    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def make_events(n: int, rng: random.Random, now: datetime, tag: str) -> list[dict[str, Any]]:
    """``n`` events over a few users, agents and days (the last ``DAYS`` UTC days)."""
    out = []
    for i in range(n):
        user = rng.choice(list(USERS))
        at = now - timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(3600))
        out.append(
            event(
                event_id=f"{tag}-{i:05d}",
                user_id=user,
                agent_id=rng.choice(AGENTS),
                session_id=f"s-{rng.randrange(20)}",
                tokens_used=rng.randrange(0, 5000),
                response_time_ms=rng.choice((30, 120, 700, 1800, 4200, 70_000)),
                subscription_tier=USERS[user],
                timestamp=at.isoformat(),
            )
        )
    return out


def batches(events: list[dict[str, Any]], rng: random.Random) -> list[list[dict[str, Any]]]:
    """Split ``events`` into batches of 1 to 200 (mostly small, some large)."""
    out, i = [], 0
    while i < len(events):
        size = min(200, max(1, int(rng.lognormvariate(3.0, 1.3))))
        out.append(events[i : i + size])
        i += size
    return out


def writer_plan(
    private: list[dict[str, Any]], shared: list[dict[str, Any]], rng: random.Random
) -> list[list[dict[str, Any]]]:
    """A writer's batches: its own events interleaved with a subset of the shared ones.

    Shared events keep their common order, so writers reach the same event at about the
    same time and really race on it.
    """
    picked = sorted(rng.sample(range(len(shared)), SHARED_PER_WRITER))
    queue = [shared[i] for i in picked]
    mine = list(private)
    merged: list[dict[str, Any]] = []
    while queue or mine:
        source = queue if queue and (not mine or rng.random() < 0.5) else mine
        merged.append(source.pop(0))
    return batches(merged, rng)


async def post_batch(client: httpx.AsyncClient, events: list[dict[str, Any]], sent: Sent) -> None:
    """One signed delivery of ``events``; record the answer."""
    body, headers = signed({"events": events})
    resp = await client.post(URL, content=body, headers=headers)
    sent.statuses[resp.status_code] += 1
    sent.events += len(events)
    if resp.status_code != 200:
        sent.failures.append(f"{resp.status_code}: {resp.text[:300]}")
        return
    result = resp.json()
    sent.accepted += result["accepted"]
    sent.duplicates += result["duplicates"]


async def run_writer(
    base_url: str, plan: list[list[dict[str, Any]]], rng: random.Random, sent: Sent
) -> None:
    """Post every batch; retry some of them (a new delivery of the same events)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for batch in plan:
            await post_batch(client, batch, sent)
            if rng.random() < RETRY_PROBABILITY:
                await post_batch(client, batch, sent)


def expected_groups(events: list[dict[str, Any]]) -> dict[GroupKey, tuple[int, int]]:
    """(interactions, tokens) per (UTC day, user, agent) of distinct events."""
    out: dict[GroupKey, tuple[int, int]] = {}
    for ev in events:
        key = (datetime.fromisoformat(ev["timestamp"]).date(), ev["user_id"], ev["agent_id"])
        n, tokens = out.get(key, (0, 0))
        out[key] = (n + 1, tokens + ev["tokens_used"])
    return out


async def stored_groups(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[dict[GroupKey, tuple[Any, ...]], dict[GroupKey, tuple[Any, ...]]]:
    """Per (day, user, agent): a GROUP BY over raw events, and the daily aggregate rows."""
    e, d = AgentUsageEvent, agent_usage_daily.c
    raw = select(
        e.day,
        e.user_id,
        e.agent_id,
        func.count(),
        func.sum(e.tokens_used),
        func.sum(e.response_time_ms),
        func.max(e.response_time_ms),
        func.min(e.occurred_at),
        func.max(e.occurred_at),
    ).group_by(e.day, e.user_id, e.agent_id)
    daily = select(
        d.day,
        d.user_id,
        d.agent_id,
        d.interactions,
        d.tokens,
        d.response_time_sum_ms,
        d.response_time_max_ms,
        d.first_at,
        d.last_at,
        sum((d[b] for b in RESPONSE_TIME_BUCKETS[1:]), d[RESPONSE_TIME_BUCKETS[0]]),
    )
    async with sessions() as s:
        raw_rows = (await s.execute(raw)).all()
        daily_rows = (await s.execute(daily)).all()
    return (
        {(r[0], r[1], r[2]): _normalize(r[3:]) for r in raw_rows},
        {(r[0], r[1], r[2]): _normalize(r[3:]) for r in daily_rows},
    )


def _normalize(values: tuple[Any, ...]) -> tuple[Any, ...]:
    # func.min/max over a UTC column come back raw (naive text on SQLite): compare as UTC.
    out: list[Any] = []
    for v in values:
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        if isinstance(v, datetime):
            v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        out.append(int(v) if isinstance(v, int | Decimal) else v)
    return tuple(out)


async def hourly_vs_raw(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[
    dict[tuple[datetime, str], tuple[int, ...]], dict[tuple[datetime, str], tuple[int, ...]]
]:
    """Per (UTC hour, agent): sums over raw events (in Python), and the hourly rows."""
    e, h = AgentUsageEvent, agent_usage_hourly.c
    async with sessions() as s:
        events = (
            await s.execute(select(e.occurred_at, e.agent_id, e.tokens_used, e.response_time_ms))
        ).all()
        hourly = (
            await s.execute(
                select(
                    h.hour,
                    h.agent_id,
                    h.interactions,
                    h.tokens,
                    h.response_time_sum_ms,
                    h.response_time_max_ms,
                    *(h[b] for b in RESPONSE_TIME_BUCKETS),
                )
            )
        ).all()
    raw: dict[tuple[datetime, str], list[int]] = {}
    for at, agent, tokens, rt in events:
        acc = raw.setdefault((utc_hour(at), agent), [0, 0, 0, 0, *[0] * len(RESPONSE_TIME_BUCKETS)])
        acc[0] += 1
        acc[1] += tokens
        acc[2] += rt
        acc[3] = max(acc[3], rt)
        acc[4 + bucket_index(rt, RESPONSE_TIME_BOUNDS_MS)] += 1
    stored = {(r[0], r[1]): tuple(int(v) for v in r[2:]) for r in hourly}
    return {k: tuple(v) for k, v in raw.items()}, stored


async def scalar_int(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> int:
    async with sessions() as s:
        return int(await s.scalar(stmt) or 0)


@pytest.mark.slow
async def test_concurrent_writers_with_duplicates_keep_aggregates_exact(
    server: ServerProcess, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rng = random.Random(20261124)
    now = datetime.now(UTC) - timedelta(minutes=5)
    shared = make_events(SHARED, rng, now, "shared")
    plans = [
        writer_plan(make_events(PRIVATE_PER_WRITER, rng, now, f"w{w}"), shared, rng)
        for w in range(WRITERS)
    ]
    distinct = {ev["event_id"]: ev for plan in plans for b in plan for ev in b}
    sent = Sent()
    await asyncio.gather(
        *(run_writer(server.base_url, plan, random.Random(w), sent) for w, plan in enumerate(plans))
    )

    assert sent.failures == [], (sent.statuses, sent.failures[:5], server.output()[-3000:])
    assert sent.accepted == len(distinct)
    assert sent.accepted + sent.duplicates == sent.events
    assert sent.duplicates >= sent.events // 3  # the test really exercised duplicates

    e, d = AgentUsageEvent, agent_usage_daily.c
    assert await scalar_int(sessions, select(func.count()).select_from(e)) == len(distinct)
    async with sessions() as s:
        stored_ids = set((await s.scalars(select(e.event_id))).all())
    assert stored_ids == set(distinct)
    event_tokens = sum(ev["tokens_used"] for ev in distinct.values())
    assert await scalar_int(sessions, select(func.sum(d.interactions))) == len(distinct)
    assert await scalar_int(sessions, select(func.sum(d.tokens))) == event_tokens
    assert await scalar_int(sessions, select(func.sum(e.tokens_used))) == event_tokens

    raw, daily = await stored_groups(sessions)
    assert daily.keys() == raw.keys()
    for key, row in raw.items():
        assert daily[key] == (*row, row[0]), key  # buckets add up to interactions
    assert {k: v[:2] for k, v in daily.items()} == expected_groups(list(distinct.values()))
    raw_hourly, hourly = await hourly_vs_raw(sessions)
    assert hourly == raw_hourly
    assert sum(v[0] for v in hourly.values()) == len(distinct)

    async with sessions() as s:
        customers = dict((await s.execute(select(Customer.user_id, Customer.tier))).all())
        changes = (await s.execute(select(SubscriptionChange.user_id))).scalars().all()
    seen_users = {ev["user_id"] for ev in distinct.values()}
    assert customers == {u: USERS[u] for u in seen_users}
    assert sorted(changes) == sorted(seen_users)  # one creation each, no tier change


def first_events(user: str, writer: int, now: datetime) -> list[dict[str, Any]]:
    """A writer's batch of a new user's first events; odd writers add one shared event."""
    own = [
        event(
            event_id=f"{user}-w{writer}-{i}",
            user_id=user,
            subscription_tier="pro",
            timestamp=(now - timedelta(seconds=writer * 10 + i)).isoformat(),
        )
        for i in range(3)
    ]
    shared = event(event_id=f"{user}-common", user_id=user, subscription_tier="pro")
    return [*own, shared] if writer % 2 else own


@pytest.mark.slow
async def test_concurrent_first_events_of_a_new_user_create_one_customer(
    server: ServerProcess, sessions: async_sessionmaker[AsyncSession]
) -> None:
    writers, rounds = 8, 5
    now = datetime.now(UTC) - timedelta(minutes=1)
    sent = Sent()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        for r in range(rounds):
            payloads = [first_events(f"newcomer_{r}", w, now) for w in range(writers)]
            await asyncio.gather(*(post_batch(client, p, sent) for p in payloads))

    assert sent.failures == [], (sent.statuses, sent.failures[:5], server.output()[-3000:])
    assert sent.accepted == rounds * (writers * 3 + 1)
    c, ch = Customer, SubscriptionChange
    async with sessions() as s:
        customers = [tuple(r) for r in await s.execute(select(c.user_id, c.tier, c.status))]
        creations = [
            tuple(r)
            for r in await s.execute(
                select(ch.user_id, ch.to_tier, ch.to_status).where(ch.from_tier.is_(None))
            )
        ]
        total_changes = int(await s.scalar(select(func.count()).select_from(ch)) or 0)
    expected = sorted((f"newcomer_{r}", "pro", "active") for r in range(rounds))
    assert sorted(customers) == expected
    assert sorted(creations) == expected
    assert total_changes == rounds


async def test_customer_creation_interleaving_does_not_deadlock(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three ingest transactions meeting on new customers, in an order a busy server allows.

    Z creates customer q; Y (users o, q) inserts o and waits for q; Z commits; before Y
    re-locks its customers, W (users o, q) locks the now committed q and waits for Y's o.
    Y's re-lock of q then waits for W: a lock cycle unless customers are locked in one
    order (insert the missing ones first, then lock all, sorted).
    """
    now = datetime.now(UTC)
    y_paused, release_y = asyncio.Event(), asyncio.Event()
    lock_customers, create_customers = repo.lock_customers, repo.create_customers

    async def create_then_note(session: AsyncSession, rows: Any) -> set[str]:
        created = await create_customers(session, rows)
        session.info["inserted"] = True
        return created

    async def lock_paused(session: AsyncSession, user_ids: Any) -> dict[str, Customer]:
        # Y stops after inserting its missing customers, before it locks them.
        if session.info.get("name") == "Y" and session.info.get("inserted"):
            y_paused.set()
            await release_y.wait()
        return await lock_customers(session, user_ids)

    monkeypatch.setattr(repo, "create_customers", create_then_note)
    monkeypatch.setattr(repo, "lock_customers", lock_paused)

    async def ensure(name: str, *users: str, started: asyncio.Event | None = None) -> None:
        async with sessions() as session, session.begin():
            session.info["name"] = name
            first = dict.fromkeys(users, (now, "pro", "active"))
            await flows._ensure_customers(session, first, now, "usage_event")
            if started is not None:
                started.set()
                await release_z.wait()

    z_done, release_z = asyncio.Event(), asyncio.Event()
    tz = asyncio.create_task(ensure("Z", "q", started=z_done))
    await asyncio.wait_for(z_done.wait(), 10)  # Z holds an uncommitted q
    ty = asyncio.create_task(ensure("Y", "o", "q"))
    await asyncio.sleep(0.3)  # Y inserts o and waits for Z's q (SQLite: waits to begin)
    release_z.set()
    await asyncio.wait_for(tz, 10)
    await asyncio.wait_for(y_paused.wait(), 10)
    tw = asyncio.create_task(ensure("W", "o", "q"))
    await asyncio.sleep(0.3)  # W locks q and waits for Y's o (SQLite: waits to begin)
    release_y.set()
    results = await asyncio.wait_for(asyncio.gather(ty, tw, return_exceptions=True), 40)
    for result in results:
        if isinstance(result, BaseException):
            raise result

    async with sessions() as s:
        users = sorted((await s.scalars(select(Customer.user_id))).all())
    assert users == ["o", "q"]
