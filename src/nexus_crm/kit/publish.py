"""A tiny in-process publisher: listeners called with what changed, after commit.

Until the event bus exists (LISTEN/NOTIFY, WebSocket), this is how new or changed items
reach whoever listens in this process. A failing listener is logged and never fails the
request that published: the data is already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("nexus_crm.publish")


class Publisher(Generic[T]):
    """Calls every subscribed listener with each published item, in order."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[T], None]] = []

    def subscribe(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Add ``listener``; return a function that removes it."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def publish(self, items: Sequence[T]) -> None:
        """Hand each item to each listener; log (and skip) listeners that raise."""
        for item in items:
            for listener in list(self.listeners):
                try:
                    listener(item)
                except Exception:
                    log.exception("listener %r failed", listener)
