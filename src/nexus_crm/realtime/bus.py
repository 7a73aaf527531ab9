"""The event bus: what was committed, fanned out to live subscribers (WebSocket, dashboard).

``Bus.publish`` is called after commit and never raises into the caller; each subscriber has
a bounded queue that drops its oldest message (counted) rather than block the publisher.
The in-process bus reaches this process only; ``PostgresBus`` and ``RedisBus`` also reach
the other server processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

log = logging.getLogger("nexus_crm.realtime")
MESSAGE_TYPES = ("usage", "alert", "metrics")


@dataclass(frozen=True)
class Message:
    """One message on the bus: ``usage``, ``alert`` or ``metrics``, with a schema version."""

    type: str  # "usage" | "alert" | "metrics"
    data: dict[str, Any]
    version: int = 1

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent to WebSocket clients and other processes."""
        return {"type": self.type, "version": self.version, "data": self.data}

    @cached_property
    def encoded(self) -> str:
        """:meth:`to_wire` as compact ASCII JSON, encoded once for every connection."""
        return json.dumps(self.to_wire(), separators=(",", ":"), default=str)

    def to_json(self) -> str:
        """:meth:`to_wire` as compact ASCII JSON."""
        return self.encoded

    @classmethod
    def from_wire(cls, obj: Any) -> Message:
        """The message of a :meth:`to_wire` object; ValueError if it is not one."""
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
            raise ValueError("not a bus message")
        kind, version = obj.get("type"), obj.get("version", 1)
        if kind not in MESSAGE_TYPES or not isinstance(version, int):
            raise ValueError(f"unknown message type {kind!r}")
        return cls(type=kind, data=obj["data"], version=version)


class Subscription:
    """An async iterator of messages with a bounded queue; ``close()`` ends it."""

    def __init__(self, bus: Bus, max_queue: int) -> None:
        self._bus = bus
        self._queue: deque[Message] = deque()
        self._max = max(1, max_queue)
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0  # messages lost because the subscriber fell behind

    def put(self, message: Message) -> None:
        """Queue without waiting; a full queue loses its oldest message (metrics: replaced)."""
        if self.closed:
            return
        if message.type == "metrics" and self._replace_metrics(message):
            return
        if len(self._queue) >= self._max:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._ready.set()

    def _replace_metrics(self, message: Message) -> bool:
        for i, queued in enumerate(self._queue):
            if queued.type == "metrics":
                self._queue[i] = message
                return True
        return False

    def pending(self) -> int:
        """How many messages wait in the queue."""
        return len(self._queue)

    def drain(self) -> list[Message]:
        """Take every queued message at once (empty when none)."""
        items = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return items

    async def wait(self) -> None:
        """Return when a message is queued or the subscription is closed."""
        if not self._queue and not self.closed:
            await self._ready.wait()

    def close(self) -> None:
        """Stop receiving; a waiting iterator ends."""
        if not self.closed:
            self.closed = True
            self._bus.unsubscribe(self)
            self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        await self.wait()
        if not self._queue:
            raise StopAsyncIteration
        message = self._queue.popleft()
        if not self._queue:
            self._ready.clear()
        return message


class Bus:
    """Base bus: local fan-out; subclasses also send to other processes in :meth:`_send`."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex  # tells this process's messages from the others'
        self._subscriptions: set[Subscription] = set()

    async def start(self) -> None:
        """Connect to the backend (no-op in process)."""

    async def close(self) -> None:
        """Disconnect and end every subscription."""
        for sub in list(self._subscriptions):
            sub.close()

    def subscribe(self, *, max_queue: int = 1000) -> Subscription:
        """A new subscription to every message published from now on."""
        sub = Subscription(self, max_queue)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub`` (called by ``Subscription.close``)."""
        self._subscriptions.discard(sub)

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions in this process."""
        return len(self._subscriptions)

    def deliver(self, messages: Sequence[Message]) -> None:
        """Hand messages to this process's subscribers (never blocks)."""
        for message in messages:
            for sub in list(self._subscriptions):
                sub.put(message)

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish committed facts to every process's subscribers; log failures, never raise."""
        if not messages:
            return
        self.deliver(messages)
        try:
            await self._send(messages)
        except Exception:
            log.exception("event bus: %d message(s) not sent to other processes", len(messages))

    async def _send(self, messages: Sequence[Message]) -> None:
        """Send to the other processes (the in-process bus has none)."""


class InProcessBus(Bus):
    """The default bus: subscribers of this process only."""


class ListeningBus(Bus):
    """A bus that hears the other processes in a background listener task."""

    def __init__(self) -> None:
        super().__init__()
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def _start_listening(self, what: str, timeout_s: float) -> None:
        """Start the listener; wait up to ``timeout_s`` for it so no early event is lost."""
        self._listener = asyncio.create_task(self._listen_forever())
        try:
            await asyncio.wait_for(self.listening.wait(), timeout_s)
        except TimeoutError:
            log.warning("event bus: not %s yet; retrying in the background", what)

    async def close(self) -> None:
        """End every subscription and stop listening."""
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen_forever(self) -> None:
        """Listen, reconnecting when the connection drops (set ``listening`` while it is up)."""
        raise NotImplementedError
