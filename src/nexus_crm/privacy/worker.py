"""Raw-event retention inside the server: deletes old raw events every hour."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import run_transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.privacy.schemas import RetentionResult
from nexus_crm.privacy.service import apply_retention

log = logging.getLogger("nexus_crm.privacy.worker")
ACTOR = "system:retention"


async def retention_once(sessions: async_sessionmaker[AsyncSession], days: int) -> RetentionResult:
    """One retention run in its own transaction."""

    async def work(session: AsyncSession) -> RetentionResult:
        return await apply_retention(session, days=days, now=utcnow(), actor=ACTOR)

    return await run_transaction(sessions, work)


async def run_retention(
    sessions: async_sessionmaker[AsyncSession], days: int, interval_s: float = 3600
) -> None:
    """Apply retention now and then every ``interval_s`` seconds until cancelled."""
    while True:
        try:
            result = await retention_once(sessions, days)
        except Exception:
            log.exception("raw-event retention failed; retrying in %s s", interval_s)
        else:
            if result.deleted:
                log.info(
                    "retention: %d raw events older than %d days deleted", result.deleted, days
                )
        await asyncio.sleep(interval_s)
