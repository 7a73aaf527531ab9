"""Cost of the usage-limit alert evaluation on the ingest path, for 10,000-event batches.

Ingests ``--batches`` batches of ``--events`` events over ``--users`` customers of all tiers
in the current month (every 20th customer 30x as busy, so that some cross the thresholds),
each batch in one transaction as the webhook does, and times the whole ``ingest_events``
call and, inside it, ``evaluate_limit_alerts``. Prints the medians.

    .venv/bin/python bench/alert_limits.py                           # SQLite (temp file)
    .venv/bin/python bench/alert_limits.py \\
        --fresh-postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts import service as alerts
from nexus_crm.alerts.events import AlertsChanged
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.ingest import service as ingest
from nexus_crm.ingest.schemas import UsageEventIn
from nexus_crm.settings import Settings
from nexus_crm.wiring import domain_routes

TIERS = ("essential", "pro", "elite", "prime", "longevity")
SPENT: list[float] = []


def batch(users: list[tuple[str, str]], n: int, rng: random.Random) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    events = []
    # Every 20th customer is 30x as busy, so that some cross the thresholds during the run.
    weights = [30 if i % 20 == 0 else 1 for i in range(len(users))]
    for user, tier in rng.choices(users, weights, k=n):
        events.append(
            UsageEventIn(
                event_id=str(uuid.uuid4()),
                user_id=user,
                agent_id="NEXUS",
                session_id="s",
                tokens_used=rng.randrange(50, 2_000),
                response_time_ms=rng.randrange(100, 3_000),
                subscription_tier=tier,
                timestamp=now - timedelta(minutes=rng.randrange(60)),
            )
        )
    return ingest.event_rows(events, webhook_id="bench", batch=True, received_at=now, tz=UTC)


async def _batches(
    sessions: async_sessionmaker[AsyncSession],
    users: list[tuple[str, str]],
    rng: random.Random,
    args: argparse.Namespace,
) -> list[float]:
    """Ingest ``args.batches`` batches; their wall times and the alerts they raised."""
    totals = []
    for _ in range(args.batches):
        rows = batch(users, args.events, rng)
        start = time.perf_counter()
        async with transaction(sessions) as session:
            await ingest.ingest_events(session, rows=rows, received_at=datetime.now(UTC))
        totals.append(time.perf_counter() - start)
    return totals


async def run(url: str, args: argparse.Namespace) -> None:
    settings = Settings(DATABASE_URL=url)
    await migrate(settings)
    engine = create_engine(settings)
    routes, changed = domain_routes(settings), []

    async def count(event: AlertsChanged) -> None:
        changed.extend(a for a in event.alerts if a.status == "active")

    routes.listen(AlertsChanged, count)  # after each batch's commit
    sessions = create_sessionmaker(engine, routes=routes)
    rng = random.Random(7)
    users = [(f"bench_{i:05d}", TIERS[i % len(TIERS)]) for i in range(args.users)]
    timed = alerts.evaluate_limit_alerts

    async def evaluate(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return await timed(*a, **kw)
        finally:
            SPENT.append(time.perf_counter() - start)

    with mock.patch.object(alerts, "evaluate_limit_alerts", evaluate):
        totals = await _batches(sessions, users, rng, args)
    raised = len(changed)
    await engine.dispose()
    ms = statistics.median(SPENT) * 1000
    total = statistics.median(totals) * 1000
    print(
        f"{settings.database_url.split(':')[0]}: {args.batches} batches of {args.events:,} "
        f"events over {args.users:,} customers; ingest_events median {total:.0f} ms, of which "
        f"limit alerts {ms:.1f} ms ({100 * ms / total:.1f} %); {raised} alerts raised"
    )


async def fresh_pg(server: str) -> tuple[str, str]:
    name = f"nexus_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return server.rsplit("/", 1)[0] + f"/{name}", name


async def drop_pg(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def main() -> None:
    """Parse options and run on SQLite or a fresh PostgreSQL database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--fresh-postgres", metavar="SERVER_URL")
    args = parser.parse_args()
    if args.fresh_postgres:
        url, name = asyncio.run(fresh_pg(args.fresh_postgres))
        try:
            asyncio.run(run(url, args))
        finally:
            asyncio.run(drop_pg(args.fresh_postgres, name))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite:///{tmp}/bench.db", args))


if __name__ == "__main__":
    main()
