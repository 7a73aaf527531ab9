"""The composition root of the unit of work: which domain rule hears which domain event.

Lower domains announce what happened (``ingest``: usage stored; ``customers``: a
subscription recorded or changed) without knowing who cares; the rules of higher domains
that must run in the same transaction are wired here, once per process. Every writer
(server, CLI, simulator) builds its sessions with :func:`open_sessions`; the server adds
the live stream's after-commit listeners (``realtime.service.open_realtime``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nexus_crm.alerts import AlertPolicy, wire_alerts
from nexus_crm.closer import wire_closer
from nexus_crm.db import create_sessionmaker
from nexus_crm.kit.events import EventRoutes
from nexus_crm.kit.memo import Memo
from nexus_crm.settings import Settings


def domain_routes(settings: Settings) -> EventRoutes:
    """Usage stored → usage-limit alerts; a subscription changed → sequence conversion."""
    routes = EventRoutes()
    wire_alerts(routes, AlertPolicy.from_settings(settings))
    wire_closer(routes, follow_up_days=settings.conversion_follow_up_days)
    return routes


def open_sessions(
    engine: AsyncEngine, settings: Settings, *, memos: dict[str, Memo] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions whose domain events reach every rule that must hear them."""
    return create_sessionmaker(engine, routes=domain_routes(settings), memos=memos)
