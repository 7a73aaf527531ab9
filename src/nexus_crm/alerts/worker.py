"""The alert scheduler: evaluates the scheduled rules every N seconds inside the server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.schemas import AlertChanges
from nexus_crm.alerts.service import evaluate_alerts
from nexus_crm.analytics import BaselineCache
from nexus_crm.db import run_transaction
from nexus_crm.kit.time import utcnow

log = logging.getLogger("nexus_crm.alerts.worker")


async def evaluate_once(
    sessions: async_sessionmaker[AsyncSession],
    policy: AlertPolicy,
    now: datetime | None = None,
    baselines: BaselineCache | None = None,
) -> AlertChanges:
    """One evaluation in its own transaction (retried on deadlock), announced after commit."""
    at = now or utcnow()

    async def work(session: AsyncSession) -> AlertChanges:
        return await evaluate_alerts(session, now=at, policy=policy, baselines=baselines)

    return await run_transaction(sessions, work)


async def run_scheduler(
    sessions: async_sessionmaker[AsyncSession],
    policy: AlertPolicy,
    interval_s: float,
    clock: Callable[[], datetime] = utcnow,
    after: Callable[[AlertChanges], Awaitable[object]] | None = None,
) -> None:
    """Evaluate every ``interval_s`` seconds until cancelled; a failed round is logged.

    ``after`` runs with each round's committed changes (auto-upsell, docs/upsell.md).
    """
    baselines = BaselineCache()  # most rounds ask for the baselines of the round before
    while True:
        await asyncio.sleep(interval_s)
        try:
            changes = await evaluate_once(sessions, policy, clock(), baselines)
            if after is not None:
                await after(changes)
        except Exception:
            log.exception("alert evaluation failed; retrying in %s s", interval_s)
            continue
        if changes.all:
            log.info("alerts: %d raised, %d resolved", len(changes.raised), len(changes.resolved))
