"""Transactions: a deadlock on PostgreSQL is retried; SQLite serialises writers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import run_transaction, transaction
from nexus_crm.kit.ids import uuid7
from nexus_crm.models import Customer

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def lock(session: AsyncSession, user_id: str) -> Customer:
    stmt = select(Customer).where(Customer.user_id == user_id).with_for_update()
    return (await session.scalars(stmt)).one()


async def test_opposite_lock_orders_end_in_a_retry_not_an_error(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessions) as s:
        s.add_all(
            [
                Customer(id=uuid7(), user_id=u, tier="pro", status="active", state_at=T0)
                for u in ("a", "b")
            ]
        )
    calls = {"one": 0, "two": 0}
    first_locked = {"one": asyncio.Event(), "two": asyncio.Event()}

    def worker(name: str, first: str, second: str, other: str) -> Coroutine[Any, Any, str]:
        async def work(session: AsyncSession) -> str:
            calls[name] += 1
            c = await lock(session, first)
            first_locked[name].set()
            with contextlib.suppress(TimeoutError):  # SQLite: the other waits to begin
                await asyncio.wait_for(first_locked[other].wait(), 0.5)
            c2 = await lock(session, second)
            c.name, c2.name = f"{c.name or ''}{name}", f"{c2.name or ''}{name}"
            return name

        return run_transaction(sessions, work)

    done = await asyncio.wait_for(
        asyncio.gather(worker("one", "a", "b", "two"), worker("two", "b", "a", "one")), 30
    )
    assert sorted(done) == ["one", "two"]
    async with sessions() as s:
        names = {c.user_id: c.name for c in (await s.scalars(select(Customer))).all()}
    # Each customer was updated by both transactions exactly once (the aborted try left nothing).
    assert sorted(names["a"] or "") == sorted("onetwo")
    assert sorted(names["b"] or "") == sorted("onetwo")
    if db_url.startswith("postgresql"):
        assert calls["one"] + calls["two"] == 3  # PostgreSQL aborted one: it ran again
    else:
        assert calls == {"one": 1, "two": 1}


async def test_every_connection_gets_the_engines_settings(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """PostgreSQL plans each run for its own values; SQLite runs in WAL with full fsync."""
    async with sessions() as s:
        if db_url.startswith("postgresql"):
            # A generic plan for `user_id IN (…2,000 values…)` took 9.8 s instead of 0.4 s.
            assert await s.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        else:
            assert await s.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await s.scalar(text("PRAGMA synchronous")) == 2  # FULL
