"""The baseline of bench/ingest.py's batch figure: the same rows written into a bare table.

The rows are converted before the clock starts; one connection writes them in the same
batches as the HTTP run, one transaction each, into a table of the same columns as
``agent_usage_events`` with only the primary key: COPY (asyncpg ``copy_records_to_table``)
on PostgreSQL, ``executemany`` on SQLite (WAL, synchronous=FULL, as the app).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COLUMNS = (
    "id",
    "event_id",
    "user_id",
    "agent_id",
    "session_id",
    "tokens_used",
    "response_time_ms",
    "subscription_tier",
    "occurred_at",
    "day",
    "received_at",
    "metadata",
)
RAW_TABLE = """CREATE TABLE raw_events (id {uuid} PRIMARY KEY, event_id VARCHAR(128) NOT NULL,
 user_id VARCHAR(128) NOT NULL, agent_id VARCHAR(64) NOT NULL, session_id VARCHAR(128) NOT NULL,
 tokens_used BIGINT NOT NULL, response_time_ms INTEGER NOT NULL,
 subscription_tier VARCHAR(32) NOT NULL, occurred_at {ts} NOT NULL, day DATE NOT NULL,
 received_at {ts} NOT NULL, metadata {json} NOT NULL)"""
RAW_INSERT = "INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def raw_rows(lines: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """The rows the app would store, converted before the baseline's clock starts."""
    now, rows = datetime.now(UTC), []
    for line in lines:
        e = json.loads(line)
        at = datetime.fromisoformat(e["timestamp"])
        rows.append(
            (
                uuid.uuid4(),
                e["event_id"],
                e["user_id"],
                e["agent_id"],
                e["session_id"],
                e["tokens_used"],
                e["response_time_ms"],
                e["subscription_tier"],
                at,
                at.date(),
                now,
                json.dumps(e.get("metadata", {})),
            )
        )
    return rows


async def _copy_postgres(url: str, batches: Sequence[Sequence[tuple[Any, ...]]]) -> float:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(RAW_TABLE.format(uuid="UUID", ts="TIMESTAMPTZ", json="JSONB"))
        began = time.perf_counter()
        for batch in batches:
            async with conn.transaction():
                await conn.copy_records_to_table("raw_events", records=batch, columns=COLUMNS)
        return time.perf_counter() - began
    finally:
        await conn.close()


def _executemany_sqlite(path: Path, batches: Sequence[Sequence[tuple[Any, ...]]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(RAW_TABLE.format(uuid="CHAR(32)", ts="DATETIME", json="JSON"))
    began = time.perf_counter()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_INSERT, batch)
        conn.execute("COMMIT")
    took = time.perf_counter() - began
    conn.close()
    return took


def raw_baseline(db: str, url: str, tmp: Path, lines: Sequence[bytes], size: int) -> float:
    """Rows/s of the bare-table write of the same rows, in the same batches."""
    rows = raw_rows(lines)
    if db == "sqlite":  # SQLite has no COPY; stored as the app stores them (text, hex uuid)
        rows = [
            (r[0].hex, *r[1:8], r[8].isoformat(), r[9].isoformat(), r[10].isoformat(), r[11])
            for r in rows
        ]
    batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    if db == "postgresql":
        seconds = asyncio.run(_copy_postgres(url, batches))
    else:
        path = tmp / "raw.db"
        seconds = _executemany_sqlite(path, batches)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return len(rows) / seconds
