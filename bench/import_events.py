"""Benchmark of ``nexus-crm import events``: a realistic JSONL history, imported twice.

Generates a deterministic GENESIS history (customers of every tier joining, churning and
upgrading over 90 days, eight agents, weekday and hour-of-day seasonality, uuid7 event ids
as the GENESIS client makes them), imports it into a fresh database through the real CLI,
imports it again, and checks that the second run reports every event as a duplicate and
leaves the totals unchanged. Writes ``bench/results/import_events.json`` and prints a
Markdown row for ``bench/README.md``.

    .venv/bin/python bench/import_events.py                      # 1,000,000 events, SQLite
    .venv/bin/python bench/import_events.py --events 100000 \\
        --fresh-postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from nexus_crm.db import create_engine
from nexus_crm.models import AgentUsageEvent, Customer, SubscriptionChange, agent_usage_daily
from nexus_crm.settings import Settings

RESULTS = Path(__file__).parent / "results" / "import_events.json"
CLI = Path(sys.executable).parent / "nexus-crm"
FIRST_DAY, DAYS = date(2026, 7, 2), 90
AGENTS = {
    "NEXUS": 30,
    "BLAZE": 20,
    "SAGE": 18,
    "WAVE": 10,
    "SPARK": 8,
    "NOVA": 6,
    "LUNA": 4,
    "STELLA": 4,
}
# tier: (share of customers, typical tokens per interaction, activity weight)
TIERS = {
    "essential": (0.35, 120, 1.0),
    "pro": (0.30, 180, 2.5),
    "elite": (0.20, 240, 4.0),
    "prime": (0.10, 320, 6.0),
    "longevity": (0.05, 400, 8.0),
}
HOURS = [1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2]


@dataclass(frozen=True)
class Persona:
    """A generated customer: tier, activity, active days, and the day of an upgrade if any."""

    user_id: str
    tier: str
    weight: float
    joined: int
    left: int
    upgrade_day: int | None


def personas(n: int, rng: random.Random) -> list[Persona]:
    """``n`` customers: 15 % join during the window, 10 % churn, 8 % move up a tier."""
    tiers = list(TIERS)
    out = []
    for i in range(n):
        tier = rng.choices(tiers, weights=[t[0] for t in TIERS.values()])[0]
        joined = rng.randrange(DAYS) if rng.random() < 0.15 else 0
        left = rng.randrange(joined + 1, DAYS + 1) if rng.random() < 0.10 else DAYS
        upgrade = rng.randrange(joined, left) if rng.random() < 0.08 and tier != tiers[-1] else None
        weight = TIERS[tier][2] * rng.lognormvariate(0, 0.6)
        out.append(Persona(f"cliente_{tier}_{i:05d}", tier, weight, joined, left, upgrade))
    return out


def uuid7_at(at: datetime, rng: random.Random) -> str:
    """A version-7 UUID for the instant ``at`` (what the GENESIS client would have made)."""
    value = (int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def day_counts(total: int) -> list[int]:
    """Events per day: weekly seasonality (quiet weekends) and 40 % growth over the window."""
    shape = [
        (0.7 if (FIRST_DAY + timedelta(d)).weekday() >= 5 else 1.0) * (1 + 0.4 * d / DAYS)
        for d in range(DAYS)
    ]
    counts = [math.floor(total * s / sum(shape)) for s in shape]
    counts[-1] += total - sum(counts)
    return counts


def event(p: Persona, day: int, at: datetime, rng: random.Random) -> dict[str, Any]:
    """One interaction of ``p`` at ``at``."""
    tiers = list(TIERS)
    tier = p.tier
    if p.upgrade_day is not None and day >= p.upgrade_day:
        tier = tiers[tiers.index(p.tier) + 1]
    agent = rng.choices(list(AGENTS), weights=list(AGENTS.values()))[0]
    tokens = TIERS[tier][1]
    return {
        "event_id": uuid7_at(at, rng),
        "user_id": p.user_id,
        "agent_id": agent,
        "session_id": f"session_{p.user_id[-5:]}_{day}_{rng.randint(1, 3)}",
        "tokens_used": max(1, int(rng.gauss(tokens, tokens / 4))),
        "response_time_ms": max(60, int(rng.lognormvariate(6.9 + 0.05 * len(agent), 0.4))),
        "subscription_tier": tier,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "metadata": {"channel": rng.choice(("app", "app", "web", "api"))},
    }


def generate(path: Path, total: int, seed: int = 20260702) -> None:
    """Write ``total`` events, in time order, as JSONL."""
    rng = random.Random(seed)
    people = personas(max(50, total // 300), rng)
    with path.open("w") as out:
        for day, count in enumerate(day_counts(total)):
            active = [p for p in people if p.joined <= day < p.left]
            chosen = rng.choices(active, weights=[p.weight for p in active], k=count)
            start = datetime.combine(FIRST_DAY + timedelta(day), datetime.min.time(), UTC)
            hours = rng.choices(range(24), weights=HOURS, k=count)
            seconds = sorted(h * 3600 + rng.random() * 3600 for h in hours)
            for p, s in zip(chosen, seconds, strict=True):
                out.write(json.dumps(event(p, day, start + timedelta(seconds=s), rng)) + "\n")


def run_import(path: Path, url: str) -> tuple[dict[str, Any], int]:
    """``nexus-crm import events FILE --json`` (progress lines on stderr pass through)."""
    env = {**os.environ, "DATABASE_URL": url}
    started = time.perf_counter()
    proc = subprocess.run(
        [str(CLI), "import", "events", str(path), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = round(wall, 2)
    return summary, proc.returncode


async def _totals(url: str) -> dict[str, int]:
    engine = create_engine(Settings(DATABASE_URL=url))
    d = agent_usage_daily.c
    queries = {
        "events": select(func.count()).select_from(AgentUsageEvent),
        "interactions": select(func.coalesce(func.sum(d.interactions), 0)),
        "tokens": select(func.coalesce(func.sum(d.tokens), 0)),
        "daily_rows": select(func.count()).select_from(agent_usage_daily),
        "customers": select(func.count()).select_from(Customer),
        "subscription_changes": select(func.count()).select_from(SubscriptionChange),
    }
    try:
        async with engine.connect() as conn:
            return {k: int((await conn.execute(q)).scalar_one()) for k, q in queries.items()}
    finally:
        await engine.dispose()


def totals(url: str) -> dict[str, int]:
    """Event count, Σ daily interactions and tokens, and the customer tables' sizes."""
    return asyncio.run(_totals(url))


@contextmanager
def fresh_postgres(server: str) -> Iterator[str]:
    """A new, empty database on ``server``, dropped afterwards."""
    name = f"nexus_bench_{uuid.uuid4().hex[:8]}"
    url = Settings(DATABASE_URL=server).database_url

    async def _sql(statement: str) -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(url: str) -> None:
    """``nexus-crm db upgrade`` on ``url``."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([str(CLI), "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)


def measure(path: Path, url: str, events: int) -> dict[str, Any]:
    """Import twice; check the second run changes nothing; return the figures."""
    migrate(url)
    if totals(url)["events"]:
        raise SystemExit(f"{url} already holds events; the benchmark needs an empty database")
    first, code1 = run_import(path, url)
    after_first = totals(url)
    second, code2 = run_import(path, url)
    after_second = totals(url)
    checks = {
        "first_run_exit_0": code1 == 0,
        "all_imported": first["imported"] == events == after_first["events"],
        "second_run_exit_0": code2 == 0,
        "all_duplicates": second["duplicates"] == events and second["imported"] == 0,
        "totals_unchanged": after_first == after_second,
        "interactions_equal_events": after_first["interactions"] == events,
    }
    return {"import": first, "reimport": second, "totals": after_second, "checks": checks}


def markdown(result: dict[str, Any]) -> str:
    """A row of bench/README.md's table."""
    imp, again = result["import"], result["reimport"]
    rate = round(result["events"] / imp["wall_seconds"])
    return (
        f"| import {result['events']:,} events (JSONL, {result['file_mb']} MB) | "
        f"{result['database']} | {rate:,} | events/s | import {imp['wall_seconds']} s; "
        f"re-import {again['wall_seconds']} s, {again['duplicates']:,} duplicates, "
        f"totals unchanged: {result['checks']['totals_unchanged']} |"
    )


def save(result: dict[str, Any]) -> None:
    """Merge this run into the results file, keyed by database and size."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[f"{result['database']}_{result['events']}"] = result
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    """Generate, import twice, check, record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    target.add_argument(
        "--fresh-postgres",
        metavar="SERVER_URL",
        help="create (and drop afterwards) a database on this server",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as tmp:
        path = Path(tmp) / f"genesis_history_{args.events}.jsonl"
        started = time.perf_counter()
        generate(path, args.events)
        generated = round(time.perf_counter() - started, 1)
        print(f"generated {path.stat().st_size / 1e6:.0f} MB in {generated} s", file=sys.stderr)
        if args.fresh_postgres:
            with fresh_postgres(args.fresh_postgres) as url:
                figures = measure(path, url, args.events)
        else:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            figures = measure(path, url, args.events)
        result = {
            "benchmark": "import_events",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "events": args.events,
            "file_mb": round(path.stat().st_size / 1e6),
            "generate_seconds": generated,
            **figures,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "platform": platform.platform(),
            },
        }
    save(result)
    print(markdown(result))
    if not all(result["checks"].values()):
        raise SystemExit(f"checks failed: {result['checks']}")


if __name__ == "__main__":
    main()
