"""Load a simulated history straight into a database, through the ingest services.

The same validation and writes as ``nexus-crm simulate --backfill`` without a server:
for tests and benchmarks of the detectors (no HTTP, no signatures).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.customers.schemas import SubscriptionIn
from nexus_crm.db import transaction
from nexus_crm.ingest import store_events, store_subscriptions
from nexus_crm.ingest.schemas import UsageEventIn
from nexus_crm.ingest.service import validation_context
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from nexus_crm.simulate.generator import history
from nexus_crm.simulate.population import Population

BATCH = 10_000


async def load_history(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, pop: Population, end: datetime
) -> int:
    """Store every subscription update and event of ``pop`` before ``end``; the events stored."""
    async with sessions() as session:
        context = await validation_context(session, settings, utcnow())
    stored = 0
    for day in history(pop, end):
        subs = [
            SubscriptionIn.model_validate(u.payload(), context=context) for u in day.subscriptions
        ]
        async with transaction(sessions) as session:
            await store_subscriptions(session, subscriptions=subs)
        for i in range(0, len(day.events), BATCH):
            events = [
                UsageEventIn.model_validate(e, context=context) for e in day.events[i : i + BATCH]
            ]
            async with transaction(sessions) as session:
                result = await store_events(session, events=events, settings=settings)
            stored += result.accepted
    return stored
