"""Patterns on simulated history: personas with known outcomes land in the expected classes.

A scaled-down run (40 customers × 42 days); the full one (300 × 60) is in docs/analytics.md.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from nexus_crm.simulate.generator import history
from nexus_crm.simulate.personas import Customer
from nexus_crm.simulate.population import build_population
from tests.analytics.test_read_api import ingest
from tests.support import signed

DAYS, SIZE = 42, 40


async def backfill(client: httpx.AsyncClient, end: datetime) -> list[Customer]:
    """Send a population's history, as ``nexus-crm simulate --backfill`` does."""
    first = end.date() - timedelta(days=DAYS - 1)
    pop = build_population(seed=7, size=SIZE, days=DAYS, first_day=first, tz=ZoneInfo("UTC"))
    for day in history(pop, end):
        for update in day.subscriptions:
            body, headers = signed(update.payload())
            resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
            assert resp.status_code == 200, resp.text
        for i in range(0, len(day.events), 5000):
            await ingest(client, day.events[i : i + 5000])
    return list(pop.customers)


def expected(c: Customer, end: datetime) -> set[str]:
    """The classes a persona may take over the whole history (days=DAYS-1)."""
    if c.persona == "upgrade_worthy":
        return {"growing"}
    if c.persona == "churn":
        return {"declining", "dormant"}
    if c.persona == "dormant":
        # Dormant once its last possible use is 8+ days old; until then anything but growing.
        first = end.date() - timedelta(days=DAYS - 1)
        if c.stop_day is not None:
            last_use = first + timedelta(days=c.stop_day - 1)
            if (end.date() - last_use).days >= 8:
                return {"dormant"}
        return {"dormant", "declining", "stable"}
    return {"stable"}


async def test_personas_land_in_their_classes(
    client: httpx.AsyncClient, read_headers: dict[str, str]
) -> None:
    end = datetime.now(UTC)
    customers = await backfill(client, end)
    resp = await client.get(
        f"/agent-usage/patterns?days={DAYS - 1}&limit=100", headers=read_headers
    )
    assert resp.status_code == 200, resp.text
    classes = {
        c["user_id"]: name
        for name, cohort in resp.json()["customers"].items()
        for c in cohort["customers"]
    }
    hits: Counter[tuple[str, bool]] = Counter()
    for c in customers:
        got = classes.get(c.user_id, "absent")
        hits[c.persona, got in expected(c, end)] += 1
    assert {p for p, _ in hits} == {"steady", "spiky", "upgrade_worthy", "churn", "dormant"}
    wrong = {p: hits[p, False] for p in ("steady", "spiky", "upgrade_worthy", "churn", "dormant")}
    # The large majority, and never a grower or churner in the wrong direction.
    assert wrong["upgrade_worthy"] == wrong["churn"] == 0, (hits, classes)
    assert sum(wrong.values()) <= 2, (hits, classes)
