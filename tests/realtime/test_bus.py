"""The bus contract: bounded subscriptions, publish never raises, coalescing, settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from nexus_crm.realtime.bus import Bus, InProcessBus, Message
from nexus_crm.realtime.postgres_bus import CHUNK_CHARS, Reassembler, encode
from nexus_crm.realtime.service import create_bus
from nexus_crm.realtime.stream import coalesce
from nexus_crm.settings import Settings, SettingsError


def usage(*ids: str) -> Message:
    return Message("usage", {"count": len(ids), "events": [{"event_id": i} for i in ids]})


async def test_every_subscriber_gets_every_message_in_order() -> None:
    bus = InProcessBus()
    a, b = bus.subscribe(), bus.subscribe()
    await bus.publish([usage("1"), usage("2")])
    for sub in (a, b):
        assert [m.data["events"][0]["event_id"] for m in sub.drain()] == ["1", "2"]


async def test_a_full_queue_drops_its_oldest_and_counts() -> None:
    bus = InProcessBus()
    sub = bus.subscribe(max_queue=3)
    await bus.publish([usage(str(i)) for i in range(10)])
    assert sub.dropped == 7
    assert [m.data["events"][0]["event_id"] for m in sub.drain()] == ["7", "8", "9"]


async def test_a_newer_snapshot_replaces_the_queued_one() -> None:
    bus = InProcessBus()
    sub = bus.subscribe()
    bus.deliver([Message("metrics", {"n": 1}), usage("a"), Message("metrics", {"n": 2})])
    assert [(m.type, m.data.get("n")) for m in sub.drain()] == [("metrics", 2), ("usage", None)]
    assert sub.dropped == 0


async def test_iteration_ends_when_closed() -> None:
    bus = InProcessBus()
    sub = bus.subscribe()
    got: list[Message] = []

    async def consume() -> None:
        got.extend([m async for m in sub])

    task = asyncio.create_task(consume())
    await bus.publish([usage("x")])
    await asyncio.sleep(0.01)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert [m.type for m in got] == ["usage"]
    assert bus.subscriber_count == 0


class Broken(Bus):
    async def _send(self, messages: Sequence[Message]) -> None:
        raise ConnectionError("backend down")


async def test_publish_never_raises_and_still_delivers_locally(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Broken()
    sub = bus.subscribe()
    with caplog.at_level(logging.ERROR, "nexus_crm.realtime"):
        await bus.publish([usage("x")])
    assert sub.pending() == 1
    assert "not sent to other processes" in caplog.text


def test_consecutive_usage_messages_coalesce_up_to_the_cap() -> None:
    alert = Message("alert", {"id": "a"})
    frames = coalesce([usage("1"), usage("2", "3"), alert, usage("4", "5"), usage("6", "7")], 3)
    assert [(f.type, f.data.get("count")) for f in frames] == [
        ("usage", 3),
        ("alert", None),
        ("usage", 2),
        ("usage", 2),
    ]
    assert [e["event_id"] for e in frames[0].data["events"]] == ["1", "2", "3"]


def test_big_messages_are_chunked_and_reassembled_once() -> None:
    big = usage(*(f"event-{i:05d}-ñ" for i in range(2000)))  # non-ASCII is escaped
    payloads = encode("other", [big, usage("small")])
    assert len(payloads) > 3
    assert all(len(p.encode()) < 8000 for p in payloads)
    assert CHUNK_CHARS < 8000
    mine, theirs = Reassembler("other"), Reassembler("me")
    assert [mine.feed(p) for p in payloads] == [None] * len(payloads)
    got = [m for p in reversed(payloads[:-1]) if (m := theirs.feed(p)) is not None]
    assert got == [big]
    assert theirs.feed(payloads[-1]) == usage("small")
    with pytest.raises(ValueError, match="not enough values"):
        theirs.feed("garbage")


def test_postgres_bus_needs_postgresql() -> None:
    settings = Settings(DATABASE_URL="sqlite:///x.db", EVENT_BUS="postgres")
    with pytest.raises(SettingsError, match="EVENT_BUS=postgres needs a PostgreSQL"):
        create_bus(settings)
    assert isinstance(create_bus(Settings(DATABASE_URL="sqlite:///x.db")), InProcessBus)


def test_unknown_bus_is_refused() -> None:
    with pytest.raises(ValueError, match="EVENT_BUS"):
        Settings(EVENT_BUS="kafka")
