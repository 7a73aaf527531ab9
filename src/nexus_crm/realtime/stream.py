"""One WebSocket connection: queued bus messages out, coalesced, with heartbeat and lifetime.

The connection reads only its own bounded subscription (the publisher never waits for it)
and holds no database session. A client that stops reading first loses its oldest queued
messages (a ``lagged`` frame says how many), then is dropped when a send stalls longer than
``WS_SEND_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect

from nexus_crm.realtime.bus import Message, Subscription
from nexus_crm.settings import Settings

log = logging.getLogger("nexus_crm.realtime")
HEARTBEAT = json.dumps({"type": "heartbeat", "version": 1}, separators=(",", ":"))
CLOSE_LIFETIME = 1001  # going away: reconnect
CLOSE_SHUTDOWN = 1012  # service restart
CLOSE_SLOW = 1013  # try again later


class SlowClient(Exception):
    """A send did not complete within the send timeout."""


@dataclass(frozen=True)
class StreamConfig:
    """Per-connection limits, from the ``WS_*`` settings."""

    heartbeat_s: float
    lifetime_s: float
    send_timeout_s: float
    max_usage_batch: int

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamConfig:
        """The limits that ``settings`` configure."""
        return cls(
            heartbeat_s=settings.ws_heartbeat_seconds,
            lifetime_s=settings.ws_max_lifetime_seconds,
            send_timeout_s=settings.ws_send_timeout_seconds,
            max_usage_batch=settings.ws_max_usage_batch,
        )


def coalesce(messages: list[Message], max_batch: int) -> list[Message]:
    """Merge consecutive ``usage`` messages into frames of at most ``max_batch`` events."""
    out: list[Message] = []
    for message in messages:
        last = out[-1] if out else None
        if (
            last is not None
            and message.type == last.type == "usage"
            and message.version == last.version
            and last.data["count"] + message.data["count"] <= max_batch
        ):
            events = [*last.data["events"], *message.data["events"]]
            out[-1] = Message("usage", {"count": len(events), "events": events}, last.version)
        else:
            out.append(message)
    return out


def lagged(dropped: int) -> str:
    """The frame telling a client that ``dropped`` messages were lost since the last one."""
    return json.dumps({"type": "lagged", "version": 1, "data": {"dropped": dropped}})


async def _send(websocket: WebSocket, text: str, limit_s: float) -> None:
    try:
        await asyncio.wait_for(websocket.send_text(text), limit_s)
    except TimeoutError:
        raise SlowClient from None


class _Pump:
    """Sends a subscription's messages to one client until lifetime, shutdown or failure."""

    def __init__(self, websocket: WebSocket, sub: Subscription, cfg: StreamConfig) -> None:
        self.ws, self.sub, self.cfg = websocket, sub, cfg
        self.reported_drops = 0

    async def run(self, first: Message | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.lifetime_s
        if first is not None:
            await _send(self.ws, first.to_json(), self.cfg.send_timeout_s)
        while (remaining := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(self.sub.wait(), min(self.cfg.heartbeat_s, remaining))
            except TimeoutError:
                if deadline - loop.time() > 0:
                    await _send(self.ws, HEARTBEAT, self.cfg.send_timeout_s)
                continue
            if self.sub.closed:
                await self.ws.close(CLOSE_SHUTDOWN, "server shutting down")
                return
            await self.flush()
        await self.ws.close(CLOSE_LIFETIME, "maximum connection lifetime reached; reconnect")

    async def flush(self) -> None:
        """Send what is queued: a ``lagged`` frame first if messages were dropped."""
        frames = coalesce(self.sub.drain(), self.cfg.max_usage_batch)
        if self.sub.dropped > self.reported_drops:
            dropped, self.reported_drops = self.sub.dropped - self.reported_drops, self.sub.dropped
            await _send(self.ws, lagged(dropped), self.cfg.send_timeout_s)
        for frame in frames:
            await _send(self.ws, frame.to_json(), self.cfg.send_timeout_s)


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def serve_connection(
    websocket: WebSocket, sub: Subscription, cfg: StreamConfig, first: Message | None
) -> None:
    """Serve an accepted connection until the client leaves, lifetime ends or it is dropped."""
    pump = asyncio.create_task(_Pump(websocket, sub, cfg).run(first))
    reader = asyncio.create_task(_until_disconnect(websocket))
    done, pending = await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        await _finish(websocket, task)


async def _finish(websocket: WebSocket, task: asyncio.Task[None]) -> None:
    exc = task.exception()
    if isinstance(exc, SlowClient):
        log.warning("WebSocket client too slow; dropped")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(CLOSE_SLOW, "client too slow"), 1.0)
    elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError | RuntimeError):
        log.error("WebSocket stream failed", exc_info=exc)
