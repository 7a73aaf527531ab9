"""The configured tier names, cached per process for webhook validation.

Tiers are created by an admin and never deleted, so a cached set can only miss a tier made
since it was read: a payload the cached names refuse is checked again against fresh names
before it is refused. An accepted event is therefore never accepted wrongly, and an event of
a brand-new tier is never refused wrongly.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.ingest import repository as repo


class TierNames:
    """The names of the configured tiers, read once and re-read on demand."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._names: frozenset[str] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> frozenset[str]:
        """The cached names (read from the database the first time)."""
        return self._names if self._names is not None else await self.refresh()

    async def refresh(self) -> frozenset[str]:
        """Read the names again (a tier may have been created since)."""
        async with self._lock:
            async with self._sessions() as session:
                self._names = await repo.known_tiers(session)
            return self._names
