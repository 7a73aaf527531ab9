"""Cross-process backends on real servers: PostgreSQL LISTEN/NOTIFY and Redis pub/sub.

Two bus instances stand for two server processes. The Redis test needs a Redis at
``REDIS_URL`` (default 127.0.0.1:6379); in CI (``CI=true``) an unreachable Redis fails it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from nexus_crm.realtime.bus import Bus, Message, Subscription
from nexus_crm.realtime.postgres_bus import PostgresBus
from nexus_crm.realtime.redis_bus import RedisBus

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def big_usage(n: int) -> Message:
    events = [{"event_id": f"ev-{i:06d}", "user_id": "ñandú", "tokens_used": i} for i in range(n)]
    return Message("usage", {"count": n, "events": events})


async def receive(sub: Subscription, n: int, wait_s: float = 5.0) -> list[Message]:
    got: list[Message] = []
    async with asyncio.timeout(wait_s):
        async for message in sub:
            got.append(message)
            if len(got) == n:
                break
    return got


async def receive_until(sub: Subscription, last: Message, wait_s: float = 5.0) -> list[Message]:
    got: list[Message] = []
    async with asyncio.timeout(wait_s):
        async for message in sub:
            got.append(message)
            if message == last:
                break
    return got


@asynccontextmanager
async def started(*buses: Bus) -> AsyncIterator[None]:
    for bus in buses:
        await bus.start()
    try:
        yield
    finally:
        for bus in buses:
            await bus.close()


async def check_fan_out(a: Bus, b: Bus) -> None:
    """Messages from ``a`` reach ``b`` once, and ``a``'s own subscribers exactly once."""
    at_a, at_b = a.subscribe(), b.subscribe()
    sent = [big_usage(500), Message("alert", {"id": "x"}), Message("usage", {"count": 0})]
    assert len(sent[0].to_json()) > 8000
    await a.publish(sent)
    assert await receive(at_b, 3) == sent
    # A marker from b reaches a after any echo of a's own messages (one channel, in order):
    # what a holds up to the marker is each of its messages once.
    marker = Message("alert", {"id": "marker"})
    await b.publish([marker])
    assert await receive_until(at_a, marker) == [*sent, marker]
    assert at_b.drain() == [marker]


async def test_postgres_listen_notify(postgresql_url: str) -> None:
    channel = f"nexus_test_{os.getpid()}"
    a = PostgresBus(postgresql_url, channel=channel)
    b = PostgresBus(postgresql_url, channel=channel)
    async with started(a, b):
        assert a.listening.is_set()
        assert b.listening.is_set()
        await check_fan_out(a, b)


def _redis_reachable() -> bool:
    host, _, port = REDIS_URL.split("://", 1)[1].split("/", 1)[0].partition(":")
    try:
        socket.create_connection((host, int(port or 6379)), timeout=2).close()
    except OSError:
        return False
    return True


async def test_redis_pub_sub() -> None:
    if not _redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    channel = f"nexus_test_{os.getpid()}"
    a, b = RedisBus(REDIS_URL, channel=channel), RedisBus(REDIS_URL, channel=channel)
    async with started(a, b):
        assert a.listening.is_set()
        assert b.listening.is_set()
        await check_fan_out(a, b)
