"""Read caches that live as long as the sessions that fill them: no module-global state.

A process's sessionmaker (``db.create_sessionmaker``) carries one table of named memos,
shared by every session it opens; a service reaches its own with ``memo_of(session, name)``.
Two apps in one process (the tests build many) never share a cache, and a cache dies with
its app. A session built without the table (a one-off script) gets a fresh memo each time:
it computes, never caches.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

#: Where a session finds its sessionmaker's memos.
MEMOS_KEY = "nexus_crm.memos"


class Memo:
    """A bounded map, least recently used out first, with a lock for who fills it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = asyncio.Lock()  # e.g. one training at a time; waiters reuse its result
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        """The value under ``key`` (now the most recently used), or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used beyond ``size``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def memo_of(session: AsyncSession, name: str, size: int) -> Memo:
    """The memo ``name`` of the sessionmaker that opened ``session`` (created on first use)."""
    memos = session.info.get(MEMOS_KEY)
    if not isinstance(memos, dict):
        return Memo(size)
    memo = memos.get(name)
    if not isinstance(memo, Memo):
        memo = memos[name] = Memo(size)
    return memo
