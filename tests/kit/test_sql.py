"""Dialect-specific SQL helpers behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.kit import sql
from nexus_crm.kit.sql import (
    CHUNK_ROWS,
    insert_ignore_keys,
    insert_ignore_returning,
    upsert_accumulate,
)
from nexus_crm.models import AgentUsageEvent, Customer, UsageAlert, agent_usage_daily

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def customer_row(i: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "user_id": f"u{i:05d}",
        "tier": "pro",
        "status": "active",
        "state_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }


async def test_insert_ignore_returning_reports_only_new_rows_across_chunks(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    table = Customer.__table__
    first = [customer_row(i) for i in range(10)]
    async with transaction(sessions) as s:
        got = await insert_ignore_returning(
            s,
            table,
            first,
            conflict=("user_id",),
            returning=("user_id",),
        )
    assert sorted(r.user_id for r in got) == [f"u{i:05d}" for i in range(10)]
    more = [customer_row(i) for i in range(5, CHUNK_ROWS + 300)]  # spans two statements
    async with transaction(sessions) as s:
        got = await insert_ignore_returning(
            s,
            table,
            more,
            conflict=("user_id",),
            returning=("user_id",),
        )
    assert len(got) == CHUNK_ROWS + 300 - 10
    async with sessions() as s:
        assert len((await s.scalars(select(Customer.user_id))).all()) == CHUNK_ROWS + 300


def daily(day: date, interactions: int, rt_max: int, at: datetime) -> dict[str, Any]:
    return {
        "day": day,
        "user_id": "u",
        "agent_id": "NEXUS",
        "interactions": interactions,
        "tokens": interactions * 10,
        "response_time_sum_ms": 0,
        "response_time_max_ms": rt_max,
        "first_at": at,
        "last_at": at,
    }


async def test_upsert_accumulate_adds_and_keeps_extremes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    d = date(2026, 11, 2)
    rounds = [
        daily(d, 2, 300, T0),
        daily(d, 3, 100, T0 - timedelta(hours=1)),
        daily(d, 1, 900, T0 + timedelta(hours=2)),
    ]
    for row in rounds:
        async with transaction(sessions) as s:
            await upsert_accumulate(
                s,
                agent_usage_daily,
                [row],
                key=("day", "user_id", "agent_id"),
                add=("interactions", "tokens"),
                greatest=("response_time_max_ms", "last_at"),
                least=("first_at",),
            )
    c = agent_usage_daily.c
    async with sessions() as s:
        row = (
            await s.execute(
                select(c.interactions, c.tokens, c.response_time_max_ms, c.first_at, c.last_at)
            )
        ).one()
    assert tuple(row) == (6, 60, 900, T0 - timedelta(hours=1), T0 + timedelta(hours=2))


async def test_insert_ignore_returning_on_a_partial_unique_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """``conflict_where`` targets a partial index: only rows inside its WHERE conflict."""
    table = UsageAlert.__table__
    open_where = text("status IN ('active', 'acknowledged')")

    def alert(status: str) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "alert_type": "churn_risk",
            "severity": "warning",
            "status": status,
            "subject": "user:u",
            "period_key": "2026-11-01",
            "title": "t",
            "message": "m",
            "data": {},
            "created_at": T0,
            "updated_at": T0,
        }

    async def insert(*rows: dict[str, Any]) -> int:
        async with transaction(sessions) as s:
            got = await insert_ignore_returning(
                s,
                table,
                rows,
                conflict=("alert_type", "subject", "period_key"),
                conflict_where=open_where,
                returning=("id",),
            )
        return len(got)

    assert await insert(alert("active")) == 1
    assert await insert(alert("acknowledged"), alert("active")) == 0  # the open one exists
    assert await insert(alert("resolved"), alert("dismissed")) == 2  # closed: no conflict
    async with transaction(sessions) as s:
        await s.execute(UsageAlert.__table__.update().values(status="resolved"))
    assert await insert(alert("active"), alert("active")) == 1  # the second conflicts
    async with sessions() as s:
        statuses = sorted((await s.scalars(select(UsageAlert.status))).all())
    assert statuses == ["active", "resolved", "resolved", "resolved"]


def event_row(event_id: str, **extra: Any) -> dict[str, Any]:
    at = datetime(2026, 11, 3, 23, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-5)))
    return {
        "id": uuid.uuid4(),
        "event_id": event_id,
        "user_id": "u1",
        "agent_id": "NEXUS",
        "session_id": "s",
        "tokens_used": 2**40,
        "response_time_ms": 250,
        "subscription_tier": "pro",
        "occurred_at": at,
        "day": date(2026, 11, 3),
        "received_at": T0,
        "metadata": {"ñ": [1, "x"], "n": None},
        **extra,
    }


async def test_insert_ignore_keys_returns_new_keys_and_skips_stored_ones(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only keys not stored yet are inserted and returned (stored ones looked up in chunks)."""
    monkeypatch.setattr(sql, "SQLITE_PARAMS", 7)  # several lookups on SQLite
    table = AgentUsageEvent.__table__
    async with transaction(sessions) as s:
        first = await insert_ignore_keys(
            s, table, [event_row(f"e{i:02d}") for i in range(10)], conflict="event_id"
        )
    assert first == {f"e{i:02d}" for i in range(10)}
    async with transaction(sessions) as s:
        second = await insert_ignore_keys(
            s, table, [event_row(f"e{i:02d}") for i in range(5, 25)], conflict="event_id"
        )
        assert await insert_ignore_keys(s, table, [], conflict="event_id") == set()
    assert second == {f"e{i:02d}" for i in range(10, 25)}
    async with sessions() as s:
        assert len((await s.scalars(select(AgentUsageEvent.event_id))).all()) == 25


async def test_bulk_rows_are_stored_exactly_as_the_orm_stores_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Same text in the database for every column (UUID, UTC time, date, JSON, big integers)."""
    async with transaction(sessions) as s:
        orm = event_row("by-orm")
        orm["event_metadata"] = orm.pop("metadata")
        s.add(AgentUsageEvent(**orm))
    async with transaction(sessions) as s:
        await insert_ignore_keys(
            s, AgentUsageEvent.__table__, [event_row("by-bulk")], conflict="event_id"
        )
    cols = [c for c in AgentUsageEvent.__table__.c if c.name not in ("id", "event_id")]
    texts = [text(f"CAST({c.name} AS TEXT)") for c in cols]
    query = select(text("event_id"), *texts).select_from(AgentUsageEvent.__table__)
    async with sessions() as s:
        stored = {r[0]: r[1:] for r in (await s.execute(query)).all()}
        ids = (await s.execute(text("SELECT CAST(id AS TEXT) FROM agent_usage_events"))).all()
        loaded = (
            await s.scalars(select(AgentUsageEvent).where(AgentUsageEvent.event_id == "by-bulk"))
        ).one()
    assert stored["by-bulk"] == stored["by-orm"]
    assert len({len(i[0]) for i in ids}) == 1  # both ids in the same form
    assert loaded.occurred_at == event_row("x")["occurred_at"]
    assert loaded.occurred_at.tzinfo == UTC
    assert loaded.event_metadata == {"ñ": [1, "x"], "n": None}
    assert loaded.tokens_used == 2**40


async def test_upsert_accumulate_many_keys_in_one_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A call with many keys inserts the new ones and adds to the stored ones."""
    d = date(2026, 11, 2)
    rows = [{**daily(d, i, i, T0), "user_id": f"u{i}"} for i in range(1, 51)]
    args: dict[str, Any] = {
        "key": ("day", "user_id", "agent_id"),
        "add": ("interactions", "tokens"),
        "greatest": ("response_time_max_ms", "last_at"),
        "least": ("first_at",),
    }
    for _ in range(2):
        async with transaction(sessions) as s:
            await upsert_accumulate(s, agent_usage_daily, rows, **args)
    c = agent_usage_daily.c
    async with sessions() as s:
        got = (await s.execute(select(c.user_id, c.interactions, c.tokens))).all()
    assert sorted(got) == sorted((f"u{i}", 2 * i, 20 * i) for i in range(1, 51))
