"""Read caches that live as long as the sessions that fill them: no module-global state.

A process's sessionmaker (``db.create_sessionmaker``) carries one table of named memos,
shared by every session it opens; a service reaches its own with ``memo_of(session, name)``.
Two apps in one process (the tests build many) never share a cache, and a cache dies with
its app; work the app runs on another thread's event loop (the dashboard's off-loop
business metrics) shares the table through ``memos_of``. A session built without the table
gets a fresh memo each time: it computes, never caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

#: Where a session finds its sessionmaker's memos.
MEMOS_KEY = "nexus_crm.memos"


class Memo:
    """A bounded map, least recently used out first, with a lock for who fills it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        # An asyncio lock belongs to one event loop, and the table may serve several.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        """This event loop's lock of the memo (e.g. one training at a time, waiters reuse it)."""
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    def get(self, key: Hashable) -> Any | None:
        """The value under ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            # Dropped by another thread meanwhile: the value read is still good.
            with contextlib.suppress(KeyError):
                self._items.move_to_end(key)
        return value

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


def memos_of(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Memo]:
    """The memo table of ``sessions``, to share with a sessionmaker on another event loop."""
    memos = sessions.kw.get("info", {}).get(MEMOS_KEY)
    return memos if isinstance(memos, dict) else {}


def memo_of(session: AsyncSession, name: str, size: int) -> Memo:
    """The memo ``name`` of the sessionmaker that opened ``session`` (created on first use)."""
    memos = session.info.get(MEMOS_KEY)
    if not isinstance(memos, dict):
        return Memo(size)
    memo = memos.get(name)
    if not isinstance(memo, Memo):
        memo = memos[name] = Memo(size)
    return memo
