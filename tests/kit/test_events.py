"""The unit of work: handlers run in the transaction, listeners only after it committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.audit.service import record_many
from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.kit.events import DomainEvent, EventRoutes, NoEventRoutes, dispatch
from nexus_crm.kit.time import utcnow
from nexus_crm.models import AuditEntry
from nexus_crm.settings import Settings


@dataclass(frozen=True, slots=True)
class Pinged(DomainEvent):
    name: str


@dataclass(frozen=True, slots=True)
class Other(DomainEvent):
    name: str


class Recorder:
    """Routes whose handler writes an audit row and whose listeners record what they heard."""

    def __init__(self) -> None:
        self.routes = EventRoutes()
        self.heard: list[str] = []
        self.handled: list[str] = []
        self.routes.handle(Pinged, self.on_ping)
        self.routes.listen(Pinged, self.after_ping)

    async def on_ping(self, session: AsyncSession, event: Pinged) -> None:
        self.handled.append(event.name)
        entry = {"actor": "test", "action": "ping", "target": event.name, "at": utcnow()}
        await record_many(session, [{**entry, "details": {}}])

    async def after_ping(self, event: Pinged) -> None:
        self.heard.append(event.name)


@pytest.fixture
async def wired(settings: Settings) -> Any:
    engine = create_engine(settings)
    recorder = Recorder()
    yield recorder, create_sessionmaker(engine, routes=recorder.routes)
    await engine.dispose()


async def pings(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).where(AuditEntry.action == "ping")) or 0)


async def test_handlers_run_in_the_transaction_listeners_after_commit(wired: Any) -> None:
    recorder, sessions = wired
    async with transaction(sessions) as session:
        await dispatch(session, Pinged("a"))
        await dispatch(session, Pinged("b"))
        assert recorder.handled == ["a", "b"]  # at once, in the caller's transaction
        assert recorder.heard == []  # not before the commit
    assert recorder.heard == ["a", "b"]
    assert await pings(sessions) == 2


async def test_a_rolled_back_transaction_announces_nothing_and_keeps_nothing(wired: Any) -> None:
    recorder, sessions = wired

    async def fail_after_dispatch() -> None:
        async with transaction(sessions) as session:
            await dispatch(session, Pinged("lost"))
            raise RuntimeError("a later step failed")

    with pytest.raises(RuntimeError, match="later"):
        await fail_after_dispatch()
    assert recorder.handled == ["lost"]
    assert recorder.heard == []
    assert await pings(sessions) == 0
    async with transaction(sessions) as session:  # the next unit of work starts clean
        await dispatch(session, Pinged("next"))
    assert recorder.heard == ["next"]


async def test_a_failing_listener_is_logged_and_the_others_still_hear(
    wired: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, sessions = wired

    async def broken(event: Pinged) -> None:
        raise RuntimeError("boom")

    recorder.routes.listen(Pinged, broken)
    remove = recorder.routes.listen(Pinged, recorder.after_ping)
    async with transaction(sessions) as session:
        await dispatch(session, Pinged("x"))
        await dispatch(session, Other("nobody listens"))
    assert recorder.heard == ["x", "x"]
    assert "failed on Pinged" in caplog.text
    assert await pings(sessions) == 1  # committed whatever a listener did
    remove()
    async with transaction(sessions) as session:
        await dispatch(session, Pinged("y"))
    assert recorder.heard == ["x", "x", "y"]


async def test_a_session_without_routes_refuses_to_lose_an_event(settings: Settings) -> None:
    engine = create_engine(settings)

    async def dispatch_unwired() -> None:
        async with transaction(create_sessionmaker(engine)) as session:
            await dispatch(session, Pinged("nowhere"))

    try:
        with pytest.raises(NoEventRoutes):
            await dispatch_unwired()
    finally:
        await engine.dispose()
