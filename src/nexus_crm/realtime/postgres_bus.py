"""The event bus over PostgreSQL LISTEN/NOTIFY: several server processes, one database.

A NOTIFY payload must stay under 8000 bytes, so each message is sent as numbered chunks
(``origin|message-id|index|count|text``) in one transaction, which PostgreSQL delivers
together and in order; listeners reassemble them. A process delivers its own messages
locally at once and ignores their echo, so local subscribers get each message exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import asyncpg

from nexus_crm.realtime.bus import ListeningBus, Message

log = logging.getLogger("nexus_crm.realtime")
CHANNEL = "nexus_crm_events"
CHUNK_CHARS = 7000  # ASCII JSON, so characters are bytes; the limit is 8000 with the header
SEND_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
MAX_PARTIAL = 256  # incomplete chunked messages kept (a dropped connection may leave some)
NOTIFY_SQL = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p"


def encode(origin: str, messages: Sequence[Message]) -> list[str]:
    """NOTIFY payloads of ``messages``: each split into chunks under the size limit."""
    payloads: list[str] = []
    for message in messages:
        body, mid = message.to_json(), uuid.uuid4().hex[:16]
        parts = [body[i : i + CHUNK_CHARS] for i in range(0, len(body), CHUNK_CHARS)]
        payloads += [f"{origin}|{mid}|{i}|{len(parts)}|{p}" for i, p in enumerate(parts)]
    return payloads


class Reassembler:
    """Turns received chunks back into messages, skipping this process's own."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._partial: OrderedDict[str, dict[int, str]] = OrderedDict()

    def feed(self, payload: str) -> Message | None:
        """The message completed by ``payload`` (None: ours, or more chunks to come)."""
        origin, mid, index, count, chunk = payload.split("|", 4)
        if origin == self.origin:
            return None
        if count == "1":
            return Message.from_wire(json.loads(chunk))
        key = f"{origin}|{mid}"
        parts = self._partial.setdefault(key, {})
        parts[int(index)] = chunk
        while len(self._partial) > MAX_PARTIAL:
            self._partial.popitem(last=False)
        if len(parts) < int(count):
            return None
        del self._partial[key]
        return Message.from_wire(json.loads("".join(parts[i] for i in range(int(count)))))


def asyncpg_dsn(database_url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresBus(ListeningBus):
    """LISTEN on one dedicated connection, NOTIFY on another; reconnects when either drops."""

    def __init__(self, database_url: str, *, channel: str = CHANNEL) -> None:
        super().__init__()
        self._dsn = asyncpg_dsn(database_url)
        self._channel = channel
        self._reassembler = Reassembler(self.origin)
        self._sender: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start listening; wait (up to 10 s) for the first LISTEN so no early event is lost."""
        await self._start_listening("listening on PostgreSQL", START_TIMEOUT_S)

    async def close(self) -> None:
        """Stop listening and close both connections."""
        await super().close()
        await self._drop_sender()

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_once()
                delay = 0.5
            except Exception as exc:
                log.warning("event bus: LISTEN connection failed (%r); retry in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(self._channel, self._on_notify)
            self.listening.set()
            await lost.wait()
            log.warning("event bus: LISTEN connection lost; reconnecting")
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = self._reassembler.feed(payload)
        except ValueError:
            log.warning("event bus: ignored a malformed notification (%d bytes)", len(payload))
            return
        if message is not None:
            self.deliver([message])

    async def _send(self, messages: Sequence[Message]) -> None:
        payloads = encode(self.origin, messages)
        async with self._lock:
            if self._sender is None or self._sender.is_closed():
                self._sender = await asyncpg.connect(self._dsn, timeout=SEND_TIMEOUT_S)
            try:
                await self._sender.execute(
                    NOTIFY_SQL, self._channel, payloads, timeout=SEND_TIMEOUT_S
                )
            except BaseException:
                await self._drop_sender()
                raise

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender.close(timeout=2)
