"""More customers than one IN list of 2,000 holds: the answers of a plain Python reference.

Upgrade assessments (ids in chunks), conversion per tier (a subquery on the alerts) and the
churn status reads (one scan past 2,000 ids) are checked on data past that size, on both
databases, against computations straight from the inserted rows.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import upgrades
from nexus_crm.analytics.churn import repository as churn_repo
from nexus_crm.analytics.upgrades import Subscription, assess, assess_customers, subscriptions
from nexus_crm.business.conversion import conversion_rates
from nexus_crm.db import transaction
from nexus_crm.tiers import repository as tiers_repo
from tests.analytics.test_business import (
    NOW,
    TODAY,
    UTC_ZONE,
    Sessions,
    alert,
    change,
    customer,
    daily,
    window,
    write,
)

N = 3_000
TIERS = ("essential", "pro", "elite", "prime", "longevity")


def people(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """N customers (random tier, status, anchor) and their usage, with noise rows."""
    custs, usage = [], []
    for i in range(N):
        user = f"u{i:05d}"
        row = customer(user, rng.choices(TIERS, weights=(3, 3, 3, 3, 1))[0])
        row["status"] = "active" if rng.random() < 0.9 else "cancelled"
        row["billing_anchor_day"] = rng.choice([None, 1, 9, 28, 31])
        custs.append(row)
        for k in rng.sample(range(0, 40), rng.randint(0, 6)):  # k = 0: today, not counted
            usage.append(daily(user, TODAY - timedelta(days=k), rng.randint(0, 90), 1000 * k))
        if rng.random() < 0.3:  # a second agent on the same day adds up
            usage.append(daily(user, TODAY - timedelta(days=2), 5, 77, agent="BLAZE"))
    usage.append(daily("stranger", TODAY - timedelta(days=1), 9, 9))  # use, no customer
    return custs, usage


def reference_days(usage: list[dict[str, Any]]) -> dict[str, dict[date, tuple[int, int]]]:
    """Per customer and day: (tokens, interactions) summed over agents."""
    out: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    for r in usage:
        t, n = out[r["user_id"]].get(r["day"], (0, 0))
        out[r["user_id"]][r["day"]] = (t + r["tokens"], n + r["interactions"])
    return out


async def _assessed(s: AsyncSession, subs: list[Subscription]) -> dict[str, Any]:
    return (await assess_customers(s, subs=subs, today=TODAY))[0]


async def test_upgrade_assessments_of_many_customers_match_the_reference(
    sessions: Sessions,
) -> None:
    custs, usage = people(random.Random(7))
    await write(sessions, customers=custs, usage=usage)
    ref = reference_days(usage)
    async with transaction(sessions) as s:
        by_name = {t.tier: t for t in await tiers_repo.list_tiers(s)}
        subs = await subscriptions(s)
        got = await _assessed(s, subs)
        few = await _assessed(s, subs[:50])  # a short list takes the IN path
        # The caller's subscriptions decide, not the table's (replays pass past ones).
        replay = [Subscription(x.user_id, "essential", "active", x.anchor_day) for x in subs]
        replayed = await _assessed(s, replay)

    top = max(t.rank for t in by_name.values())

    def expected(subs: list[Subscription]) -> dict[str, Any]:
        return {
            x.user_id: assess(x, by_name[x.tier], ref.get(x.user_id, {}), TODAY)
            for x in subs
            if x.status == "active" and by_name[x.tier].rank < top
        }

    assert len(expected(subs)) > upgrades.CHUNK_USERS  # more than one chunk
    assert got == expected(subs)
    assert few == expected(subs[:50])
    assert len(replayed) == N
    assert replayed == expected(replay)


async def test_conversion_of_many_attempts_matches_the_reference(sessions: Sessions) -> None:
    rng = random.Random(11)
    ranks = {t: i for i, t in enumerate(TIERS, 1)}
    start_at = datetime.combine(TODAY - timedelta(days=59), time(), UTC)  # window(60)
    alerts, changes, attempts = [], [], []
    for i in range(N):
        user, tier = f"a{i:05d}", rng.choice(TIERS[:-1])
        raised = NOW - timedelta(days=rng.randint(0, 70), hours=rng.randint(0, 23))
        target = TIERS[ranks[tier]]
        valid = rng.random() < 0.95  # else no recommended tier: not an attempt
        alerts.append(alert(user, tier, target if valid else "", raised))
        if valid and raised >= start_at:
            attempts.append((user, tier, target, raised))
        for _ in range(rng.randint(0, 2)):
            when = raised + timedelta(days=rng.randint(-5, 40))
            status = "active" if rng.random() < 0.9 else "cancelled"
            changes.append(change(user, rng.choice(TIERS), when, status))
    await write(sessions, alerts=alerts, changes=changes)
    by_user: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in changes:
        by_user[c["user_id"]].append(c)

    def outcome(user: str, target: str, raised: datetime) -> str:
        deadline = raised + timedelta(days=30)
        for c in by_user[user]:
            up = ranks[c["to_tier"]] >= ranks[target] and c["to_status"] == "active"
            if up and raised <= c["changed_at"] <= deadline:
                return "converted"
        return "pending" if deadline > NOW else "lost"

    want = Counter((tier, outcome(u, target, at)) for u, tier, target, at in attempts)
    async with transaction(sessions) as s:
        rows = await conversion_rates(s, w=window(60), tz=UTC_ZONE, now=NOW, follow_up_days=30)
    got = {r.tier: r for r in rows if r.source == "upgrade_alerts"}
    assert sum(r.started for r in got.values()) == len(attempts) > 2000
    for tier, r in got.items():
        assert (r.converted, r.pending) == (want[(tier, "converted")], want[(tier, "pending")])
        assert r.started == sum(n for (t, _), n in want.items() if t == tier)


async def test_churn_status_reads_of_many_customers(sessions: Sessions) -> None:
    custs, _ = people(random.Random(3))
    await write(sessions, customers=custs)
    status = {c["user_id"]: c["status"] for c in custs}
    async with transaction(sessions) as s:
        every = await churn_repo.statuses(s, [*status, "nobody"])
        some = await churn_repo.statuses(s, ["u00001", "u00002", "nobody"])
        active = await churn_repo.active_user_ids(s)
    assert every == status
    assert some == {u: status[u] for u in ("u00001", "u00002")}
    assert active == {u for u, st in status.items() if st == "active"}
