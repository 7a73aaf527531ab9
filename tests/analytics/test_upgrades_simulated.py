"""Upgrade opportunities on simulated history: the upgrade-worthy are found, nobody else.

A scaled-down run (40 customers × 42 days, evaluated at noon of each day); the full one
(300 × 90, two seeds, replayed in time) is in docs/analytics.md. The history is loaded at
once, so each day is assessed with the subscription the customer held that day (from the
simulator), as the customers table only holds today's; later events change nothing, as
only complete days before the evaluated day count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics.upgrades import (
    Subscription,
    UpgradePolicy,
    assess_customers,
    is_opportunity,
)
from nexus_crm.db import transaction
from nexus_crm.simulate.personas import Customer
from tests.analytics.test_patterns_simulated import DAYS, backfill


def held(c: Customer, at: datetime) -> Subscription:
    """The customer's subscription at an instant."""
    cancelled = c.cancel_at is not None and at >= c.cancel_at
    return Subscription(c.user_id, c.tier_at(at), "cancelled" if cancelled else "active", None)


async def test_upgrade_worthy_customers_are_flagged_while_worthy(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    end = datetime.now(UTC)
    customers = await backfill(client, end)
    first = end.date() - timedelta(days=DAYS - 1)
    flagged: dict[str, list[datetime]] = {}
    async with transaction(sessions) as s:
        for d in range(1, DAYS):  # complete days only count: later events change nothing
            today = first + timedelta(days=d)
            noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
            subs = [held(c, noon) for c in customers]
            assessed, _ = await assess_customers(s, subs=subs, today=today)
            for user, a in assessed.items():
                if is_opportunity(a, UpgradePolicy()):
                    flagged.setdefault(user, []).append(noon)
    worthy = [c for c in customers if c.persona == "upgrade_worthy"]
    assert worthy
    assert set(flagged) <= {c.user_id for c in worthy}  # precision 1
    for c in worthy:
        assert c.worthy_day is not None
        since = datetime.combine(first + timedelta(days=c.worthy_day), datetime.min.time(), UTC)
        hits = [t for t in flagged.get(c.user_id, []) if t >= since]
        hits = [t for t in hits if c.upgrade_at is None or t < c.upgrade_at]
        assert hits, (c.user_id, c.worthy_day, c.upgrade_at)  # recall 1 at this scale
