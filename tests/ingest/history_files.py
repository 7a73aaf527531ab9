"""Test helpers: history files (JSONL, CSV, gzip) and database snapshots for import tests."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.ingest.importer import (
    EVENT_CSV,
    SUBSCRIPTION_CSV,
    ImportCounts,
    ImportHooks,
    Rejection,
    import_events,
    import_subscriptions,
)
from nexus_crm.ingest.readers import open_source, records
from nexus_crm.models import AgentUsageEvent, Customer, SubscriptionChange, agent_usage_daily
from nexus_crm.settings import Settings
from tests.support import event

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]
EVENT_COLUMNS = [
    "event_id",
    "user_id",
    "agent_id",
    "session_id",
    "tokens_used",
    "response_time_ms",
    "subscription_tier",
    "timestamp",
    "metadata",
]


def history(n: int = 12) -> list[dict[str, Any]]:
    """``n`` valid events over three users, three agents and several days; u0 moves up a tier."""
    out = []
    for i in range(n):
        user = f"u{i % 3}"
        tier = {"u0": "elite" if i >= n // 2 else "pro", "u1": "pro", "u2": "prime"}[user]
        out.append(
            event(
                event_id=f"ev-{i:04d}",
                user_id=user,
                agent_id=("NEXUS", "blaze", "Sage")[(i // 2) % 3],
                tokens_used=100 + 7 * i,
                response_time_ms=150 + 97 * i,
                subscription_tier=tier,
                timestamp=(T0 + timedelta(hours=9 * i)).isoformat(),
                metadata={"channel": "app", "i": i},
            )
        )
    return out


def write_lines(path: Path, lines: list[Any], *, compress: bool = False) -> Path:
    """Write items as JSONL (dicts are JSON-encoded, strings written as they are)."""
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def csv_text(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """CSV with a header row; metadata as a JSON cell, missing fields as empty cells."""
    columns = columns or EVENT_COLUMNS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = [row.get(c, "") for c in columns]
        writer.writerow([json.dumps(v) if isinstance(v, dict) else v for v in cells])
    return buf.getvalue()


def write_csv(
    path: Path,
    rows: list[dict[str, Any]],
    *,
    compress: bool = False,
    columns: list[str] | None = None,
) -> Path:
    """Write rows as CSV, gzip-compressed when asked."""
    data = csv_text(rows, columns).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


async def snapshot(sessions: Sessions) -> dict[str, list[tuple[Any, ...]]]:
    """Everything ingest writes, without ids and receive times (which differ run to run)."""
    e, d, c, h = AgentUsageEvent, agent_usage_daily.c, Customer, SubscriptionChange
    event_cols = (
        e.event_id,
        e.user_id,
        e.agent_id,
        e.session_id,
        e.tokens_used,
        e.response_time_ms,
        e.subscription_tier,
        e.occurred_at,
        e.day,
        e.event_metadata,
    )
    change_cols = (
        h.user_id,
        h.from_tier,
        h.to_tier,
        h.from_status,
        h.to_status,
        h.changed_at,
        h.source,
    )
    queries = {
        "events": select(*event_cols).order_by(e.event_id),
        "daily": select(*list(agent_usage_daily.c)).order_by(d.day, d.user_id, d.agent_id),
        "customers": select(c.user_id, c.tier, c.status, c.state_at).order_by(c.user_id),
        "changes": select(*change_cols).order_by(h.user_id, h.changed_at),
    }
    async with sessions() as s:
        return {k: [tuple(r) for r in (await s.execute(q)).all()] for k, q in queries.items()}


async def totals(sessions: Sessions) -> tuple[int, int, int]:
    """(events stored, Σ daily interactions, Σ daily tokens)."""
    d = agent_usage_daily.c
    async with sessions() as s:
        n = await s.scalar(select(func.count()).select_from(AgentUsageEvent))
        row = (await s.execute(select(func.sum(d.interactions), func.sum(d.tokens)))).one()
    return int(n or 0), int(row[0] or 0), int(row[1] or 0)


async def load(
    sessions: Sessions,
    settings: Settings,
    path: Path,
    *,
    kind: str = "events",
    fmt: Any = "auto",
    batch_size: int = 4,
) -> tuple[ImportCounts, list[Rejection]]:
    """Import ``path`` (small batches, so that several transactions run); counts and rejects."""
    rejected: list[Rejection] = []
    hooks = ImportHooks(on_reject=rejected.append)
    spec = EVENT_CSV if kind == "events" else SUBSCRIPTION_CSV
    run = import_events if kind == "events" else import_subscriptions
    with open_source(path) as source:
        counts = await run(sessions, settings, records(source, fmt, spec), hooks, batch_size)
    return counts, rejected


def problems(rejected: list[Rejection]) -> dict[int, list[str]]:
    """The fields named for each rejected line."""
    return {r.line: [name for name, _ in r.problems] for r in rejected}
