"""Typed domain events and the routes that carry them: in the transaction, then after commit.

A service that changed something says so with ``await dispatch(session, SomethingHappened(…))``.
Two kinds of receivers are wired once, at start-up, into the :class:`EventRoutes` a
sessionmaker carries (``db.create_sessionmaker(engine, routes=…)``):

* **handlers** run at once, inside the same transaction, and may change more data (usage
  stored → usage-limit alerts; a tier changed → the upsell sequence converts). They are how
  a lower domain triggers a rule of a higher one without importing it. A handler that fails
  fails the transaction, as the same code called directly would.
* **listeners** run only after the transaction committed (``db.transaction`` announces the
  events it collected), e.g. to put a message on the live stream. A failing listener is
  logged and never fails the caller: the data is already committed. A rolled-back
  transaction announces nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("nexus_crm.events")

#: Where a session keeps its routes and the events waiting for the commit.
ROUTES_KEY = "nexus_crm.events.routes"
PENDING_KEY = "nexus_crm.events.pending"


class DomainEvent:
    """Base of every domain event (subclasses are frozen dataclasses named in the past tense)."""

    __slots__ = ()


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, Any], Awaitable[None]]
Listener = Callable[[Any], Awaitable[None]]


class NoEventRoutes(RuntimeError):
    """A domain event was dispatched in a session built without routes: it would be lost."""


@dataclass
class EventRoutes:
    """Who receives each type of event: handlers in the transaction, listeners after commit."""

    handlers: dict[type[DomainEvent], list[Handler]] = field(default_factory=dict)
    listeners: dict[type[DomainEvent], list[Listener]] = field(default_factory=dict)

    def handle(self, kind: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
        """Run ``handler`` inside the transaction of every ``kind`` event, in wiring order."""
        self.handlers.setdefault(kind, []).append(handler)

    def listen(self, kind: type[E], listener: Callable[[E], Awaitable[None]]) -> Callable[[], None]:
        """Call ``listener`` with every ``kind`` event once committed; return its remover."""
        listeners = self.listeners.setdefault(kind, [])
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    async def announce(self, events: Sequence[DomainEvent]) -> None:
        """Hand committed events to their listeners; log (and skip) listeners that raise."""
        for event in events:
            # A copy: a listener may be removed meanwhile (the stream unwired at shutdown).
            for listener in list(self.listeners.get(type(event), ())):
                try:
                    await listener(event)
                except Exception:
                    log.exception("listener %r failed on %s", listener, type(event).__name__)


def routes_of(session: AsyncSession) -> EventRoutes:
    """The routes ``session`` was built with, or :class:`NoEventRoutes`."""
    routes = session.info.get(ROUTES_KEY)
    if not isinstance(routes, EventRoutes):
        raise NoEventRoutes("this session has no event routes (db.create_sessionmaker(routes=…))")
    return routes


async def dispatch(session: AsyncSession, event: DomainEvent) -> None:
    """Run the event's handlers now, in ``session``'s transaction; announce it after commit."""
    routes = routes_of(session)
    session.info.setdefault(PENDING_KEY, []).append(event)
    for handler in routes.handlers.get(type(event), ()):
        await handler(session, event)


def take_pending(session: AsyncSession) -> list[DomainEvent]:
    """The events dispatched in ``session`` so far, removed from it (they are announced once)."""
    pending: list[DomainEvent] = session.info.pop(PENDING_KEY, [])
    return pending
