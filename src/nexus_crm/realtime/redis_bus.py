"""The event bus over Redis pub/sub (optional: ``pip install redis``; ``EVENT_BUS=redis``).

Each publish is one Redis message ``{"origin", "messages": [...]}`` (no size limit to work
around); a process delivers its own messages locally at once and ignores their echo.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nexus_crm.realtime.bus import ListeningBus, Message

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("nexus_crm.realtime")
CHANNEL = "nexus_crm_events"
SEND_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0


class RedisBus(ListeningBus):
    """PUBLISH on a shared client, SUBSCRIBE on a dedicated connection; reconnects on loss."""

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        super().__init__()
        self._url = url
        self._channel = channel
        self._redis: Redis | None = None

    async def start(self) -> None:
        """Connect and subscribe; wait (up to 10 s) for the subscription to be active."""
        try:
            from redis.asyncio import Redis
        except ImportError as exc:
            raise RuntimeError(
                "EVENT_BUS=redis needs the redis package: pip install redis"
            ) from exc
        self._redis = Redis.from_url(self._url, socket_connect_timeout=5)
        await self._start_listening("subscribed on Redis", START_TIMEOUT_S)

    async def close(self) -> None:
        """Unsubscribe and close the client."""
        await super().close()
        if self._redis is not None:
            await self._redis.aclose()

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_once()
            except Exception as exc:
                log.warning(
                    "event bus: Redis subscription failed (%r); retry in %.1f s", exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _listen_once(self) -> None:
        assert self._redis is not None
        async with self._redis.pubsub() as pubsub:
            try:
                await pubsub.subscribe(self._channel)
                self.listening.set()
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        self._on_message(item["data"])
            finally:
                self.listening.clear()

    def _on_message(self, raw: Any) -> None:
        try:
            envelope = json.loads(raw)
            if envelope.get("origin") == self.origin:
                return
            messages = [Message.from_wire(m) for m in envelope["messages"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("event bus: ignored a malformed Redis message")
            return
        self.deliver(messages)

    async def _send(self, messages: Sequence[Message]) -> None:
        if self._redis is None:
            raise RuntimeError("RedisBus.start() was not called")
        payload = json.dumps(
            {"origin": self.origin, "messages": [m.to_wire() for m in messages]}, default=str
        )
        await asyncio.wait_for(self._redis.publish(self._channel, payload), SEND_TIMEOUT_S)
