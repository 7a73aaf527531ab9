"""Real-time services: the bus for the settings, who may stream, and what gets published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.events import AlertsChanged
from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.db import transaction
from nexus_crm.errors import Forbidden, Unauthorized
from nexus_crm.ingest.events import UsageStored
from nexus_crm.kit.events import EventRoutes
from nexus_crm.kit.time import as_utc, utcnow
from nexus_crm.realtime.bus import Bus, InProcessBus, Message
from nexus_crm.realtime.kpis import KpiTicker
from nexus_crm.realtime.postgres_bus import PostgresBus
from nexus_crm.realtime.redis_bus import RedisBus
from nexus_crm.realtime.schemas import UsageBatch, UsageEventOut
from nexus_crm.security import (
    COOKIE_NAME,
    Scope,
    authenticate_bearer,
    authenticate_session,
    same_origin,
)
from nexus_crm.settings import Settings, SettingsError


class Handshake(Protocol):
    """What authentication reads of a WebSocket handshake (a Starlette ``WebSocket`` fits)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def query_params(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    @property
    def app(self) -> Any: ...


class WebSocketRejected(Exception):
    """A handshake refused: closed with ``code`` (4401 no/invalid credentials, 4403 scope)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _token(websocket: Handshake) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket.query_params.get("api_key") or None


async def _check(websocket: Handshake, check: Callable[[AsyncSession], Awaitable[str]]) -> str:
    sessions: async_sessionmaker[AsyncSession] = websocket.app.state.sessions
    try:
        async with transaction(sessions) as session:
            return await check(session)
    except Unauthorized as exc:
        raise WebSocketRejected(4401, exc.detail) from None
    except Forbidden as exc:
        raise WebSocketRejected(4403, exc.detail) from None


async def _by_cookie(websocket: Handshake, cookie: str) -> str:
    secret: str = websocket.app.state.settings.session_secret

    async def check(session: AsyncSession) -> str:
        principal = await authenticate_session(
            session, secret=secret, token=cookie, needed=Scope.READ, now=utcnow()
        )
        return principal.actor

    actor = await _check(websocket, check)
    if not same_origin(websocket.headers):
        raise WebSocketRejected(4403, "a dashboard session streams only to a same-origin page")
    return actor


async def authenticate_websocket(websocket: Handshake) -> str:
    """Who opens the live stream ("key:<prefix>", "user:<email>"); else WebSocketRejected.

    An API key (header or ``?api_key=``) is judged alone; without one, the dashboard session
    cookie counts if the handshake's ``Origin`` is this host (4401 no/invalid, 4403 scope).
    """
    token = _token(websocket)
    cookie = websocket.cookies.get(COOKIE_NAME)
    if token is None and cookie:
        return await _by_cookie(websocket, cookie)
    if token is None:
        raise WebSocketRejected(4401, "send an API key: Authorization: Bearer <key> or ?api_key=")

    settings: Settings = websocket.app.state.settings

    async def check(session: AsyncSession) -> str:  # an API key or a user's access JWT
        found = await authenticate_bearer(
            session, settings=settings, token=token, needed=Scope.READ
        )
        return found.actor

    return await _check(websocket, check)


def create_bus(settings: Settings) -> Bus:
    """The bus that ``EVENT_BUS`` names (memory, postgres or redis); not started yet."""
    if settings.event_bus == "postgres":
        if settings.is_sqlite:
            raise SettingsError(
                "EVENT_BUS=postgres needs a PostgreSQL DATABASE_URL (LISTEN/NOTIFY); with "
                "SQLite use EVENT_BUS=memory (one process) or EVENT_BUS=redis"
            )
        return PostgresBus(settings.database_url)
    if settings.event_bus == "redis":
        return RedisBus(settings.redis_url)
    return InProcessBus()


def usage_message(inserted: Sequence[Mapping[str, Any]]) -> Message | None:
    """The ``usage`` message of the events a batch stored (None when all were duplicates)."""
    if not inserted:
        return None
    events = [
        UsageEventOut(
            event_id=str(r["event_id"]),
            user_id=r["user_id"],
            agent_id=r["agent_id"],
            tokens_used=int(r["tokens_used"]),
            response_time_ms=int(r["response_time_ms"]),
            subscription_tier=r["subscription_tier"],
            timestamp=as_utc(r["occurred_at"]),
        )
        for r in inserted
    ]
    batch = UsageBatch(count=len(events), events=events)
    return Message(type="usage", data=batch.model_dump(mode="json"))


def alert_message(alert: AlertOut) -> Message:
    """The ``alert`` message of a raised or changed alert, as the REST API renders it."""
    return Message(type="alert", data=alert.model_dump(mode="json"))


def wire_stream(routes: EventRoutes, bus: Bus) -> Callable[[], None]:
    """After commit, stored usage and changed alerts go to the bus; return the unwiring."""

    async def on_usage(event: UsageStored) -> None:
        usage = usage_message(event.inserted)  # duplicates were not inserted: not re-sent
        if usage is not None:
            await bus.publish([usage])

    async def on_alerts(event: AlertsChanged) -> None:
        await bus.publish([alert_message(a) for a in event.alerts])

    removers = [routes.listen(UsageStored, on_usage), routes.listen(AlertsChanged, on_alerts)]

    def unwire() -> None:
        for remove in removers:
            remove()

    return unwire


@dataclass(frozen=True)
class Realtime:
    """The started bus and the KPI ticker of one app."""

    bus: Bus
    ticker: KpiTicker


@asynccontextmanager
async def open_realtime(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], routes: EventRoutes
) -> AsyncIterator[Realtime]:
    """Start the bus, stream committed events to it, start the KPI ticker; stop on exit."""
    bus = create_bus(settings)
    await bus.start()
    ticker = KpiTicker(bus, sessions, interval=settings.ws_metrics_interval_seconds, tz=settings.tz)
    task = asyncio.create_task(ticker.run())
    unwire = wire_stream(routes, bus)
    try:
        yield Realtime(bus=bus, ticker=ticker)
    finally:
        unwire()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.close()
