"""The bulk paths store every string whole or refuse it: never cut (issue 15, item 1).

PostgreSQL's explicit cast to ``VARCHAR(n)`` truncates silently; SQLite stores anything.
For every ``VARCHAR(n)`` column the bulk paths bind, a value of exactly ``n`` characters
(multi-byte ones) is stored whole, and one of ``n + 1`` is refused on both databases with
nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import String, Table, func, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.kit import sql
from nexus_crm.kit.sql import ValueTooLong, insert_ignore_keys, upsert_accumulate
from nexus_crm.models import RESPONSE_TIME_BUCKETS, AgentUsageEvent, agent_usage_daily
from nexus_crm.models.usage_hourly import agent_usage_hourly

T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
EVENTS = cast(Table, AgentUsageEvent.__table__)
Store = Callable[[AsyncSession, Table, dict[str, Any]], Awaitable[None]]


def event_row() -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "event_id": "e",
        "user_id": "u",
        "agent_id": "A",
        "session_id": "s",
        "tokens_used": 1,
        "response_time_ms": 1,
        "subscription_tier": "pro",
        "occurred_at": T0,
        "day": T0.date(),
        "received_at": T0,
        "metadata": {},
    }


def totals(**key: Any) -> dict[str, Any]:
    counters = {"interactions": 1, "tokens": 1, "response_time_sum_ms": 1}
    return {**key, **counters, "response_time_max_ms": 1, **dict.fromkeys(RESPONSE_TIME_BUCKETS, 0)}


async def store_event(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    assert await insert_ignore_keys(session, table, [row], conflict="event_id")


async def store_daily(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    key = ("day", "user_id", "agent_id")
    await upsert_accumulate(session, table, [row], key=key, add=("interactions",))


async def store_hourly(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    await upsert_accumulate(session, table, [row], key=("hour", "agent_id"), add=("interactions",))


CASES: list[tuple[Table, Callable[[], dict[str, Any]], Store]] = [
    (EVENTS, event_row, store_event),
    (
        agent_usage_daily,
        lambda: totals(day=T0.date(), user_id="u", agent_id="A", first_at=T0, last_at=T0),
        store_daily,
    ),
    (agent_usage_hourly, lambda: totals(hour=T0, agent_id="A"), store_hourly),
]
BOUNDED = [
    pytest.param(table, make, store, col.name, col.type.length, id=f"{table.name}.{col.name}")
    for table, make, store in CASES
    for col in table.c
    if isinstance(col.type, String) and col.type.length and col.name in make()
]


async def rows_in(sessions: async_sessionmaker[AsyncSession], table: Table) -> list[Any]:
    async with sessions() as s:
        return list((await s.execute(select(table))).all())


@pytest.mark.parametrize(("table", "make", "store", "column", "length"), BOUNDED)
async def test_a_full_length_value_is_stored_whole(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    make: Callable[[], dict[str, Any]],
    store: Store,
    column: str,
    length: int,
) -> None:
    value = "ü" * length  # two bytes each in UTF-8: characters are what the limit counts
    async with transaction(sessions) as s:
        await store(s, table, {**make(), column: value})
    [row] = await rows_in(sessions, table)
    assert getattr(row, column) == value


@pytest.mark.parametrize(("table", "make", "store", "column", "length"), BOUNDED)
async def test_one_character_more_is_refused_and_nothing_written(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    make: Callable[[], dict[str, Any]],
    store: Store,
    column: str,
    length: int,
) -> None:
    with pytest.raises(ValueTooLong) as caught:
        async with transaction(sessions) as s:
            await store(s, table, {**make(), column: "x" * (length + 1)})
    assert (caught.value.column, caught.value.limit) == (column, length)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(table)) == 0


def test_no_bulk_statement_casts_to_a_bounded_string() -> None:
    """The arrays of PostgreSQL's ``unnest`` are unbounded: an explicit cast would cut."""
    dialect = PGDialect_asyncpg()  # what the app runs on
    for table, make, _ in CASES:
        names = tuple(make())
        adds = tuple(n for n in names if n in ("interactions", "tokens"))
        for how in (sql.OnConflict(key=(names[0],)), sql.OnConflict(key=(names[0],), add=adds)):
            text, _ = sql._bulk_sql(dialect, table, names, how)
            assert "VARCHAR(" not in text.upper(), text
