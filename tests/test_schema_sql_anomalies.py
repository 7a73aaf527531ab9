"""``detect_usage_anomalies()`` in SQL returns exactly the rows of the Python engine.

PostgreSQL only, by nature (see ``tests/test_schema_sql.py``). Varied data: low counts,
sporadic use, zeros, late starters (short histories), spikes, drops, a series whose MAD is
0, and a robust z of exactly the threshold; compared over many days and parameter sets.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from nexus_crm.analytics.anomalies import detect_anomalies
from nexus_crm.analytics.anomaly_engine import AnomalyConfig
from nexus_crm.db import create_engine, create_sessionmaker
from nexus_crm.settings import Settings
from tests.analytics.anomaly_data import daily_row
from tests.conftest import reset_database, run_async
from tests.test_schema_sql import _apply_sql_file, _dsn

FIRST = date(2027, 1, 1)
DAYS = 75
SIGNATURE = "detect_usage_anomalies(date, integer, integer, double precision, "
SIGNATURE += "double precision, text, text)"
EXACT_DAY = FIRST + timedelta(days=40)  # "exact": 4 a day, then 10: robust z = 6/√4 = 3.0


def _values(rng: random.Random, kind: str) -> list[int]:
    if kind == "low":
        return [rng.choice((0, 0, 1, 1, 2, 3)) for _ in range(DAYS)]
    if kind == "sporadic":
        return [rng.randint(3, 12) if rng.random() < 0.2 else 0 for _ in range(DAYS)]
    if kind == "late":
        start = rng.randint(40, 70)
        return [0] * start + [rng.randint(5, 15) for _ in range(DAYS - start)]
    if kind == "exact":
        return [4] * 40 + [10] + [4] * (DAYS - 41)
    busy = [rng.randint(15, 40) for _ in range(DAYS)]
    for _ in range(4):  # spikes and drops to zero
        busy[rng.randrange(10, DAYS)] = rng.choice((0, 0, 150, 90, 60))
    return busy


def _rows() -> list[dict[str, Any]]:
    rng = random.Random(20270101)
    kinds = ("low", "sporadic", "late", "busy", "busy", "exact")
    rows = []
    for i in range(36):
        for agent in ("NEXUS", "BLAZE", "SAGE")[: 1 + i % 3]:
            kind = kinds[i % len(kinds)]
            values = _values(rng, kind)
            rows += [
                daily_row(f"user_{i:02d}_{kind}", agent, FIRST + timedelta(days=k), v)
                for k, v in enumerate(values)
                if v
            ]
    return rows


async def _seed(url: str) -> None:
    await reset_database(url)
    rows = _rows()
    conn = await asyncpg.connect(_dsn(url))
    try:
        columns = list(rows[0])
        await conn.copy_records_to_table(
            "agent_usage_daily",
            records=[tuple(r[c] for c in columns) for r in rows],
            columns=columns,
        )
    finally:
        await conn.close()
    await _apply_sql_file(url)


async def _unseed(url: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    finally:
        await conn.close()
    await reset_database(url)


@pytest.fixture(scope="module")
def anomaly_url(postgresql_url: str) -> Iterator[str]:
    """The session's migrated database with varied daily series and the SQL function."""
    run_async(_seed(postgresql_url))
    yield postgresql_url
    run_async(_unseed(postgresql_url))


Row = tuple[Any, ...]


def _order(row: Row) -> tuple[str, str]:
    """Rows sorted by (user, agent); the global per-agent series has no user."""
    return (row[0] or "", row[1])


async def _both(url: str, day: date, cfg: AnomalyConfig) -> tuple[list[Row], list[Row]]:
    conn = await asyncpg.connect(_dsn(url))
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        records = await conn.fetch(
            "SELECT * FROM detect_usage_anomalies($1, $2, $3, $4, $5, $6, $7)",
            day,
            cfg.baseline_days,
            cfg.min_history_days,
            cfg.z_threshold,
            cfg.min_excess,
            cfg.method,
            cfg.global_method,
        )
        async with create_sessionmaker(engine)() as session:
            found = await detect_anomalies(session, start=day, config=cfg)
    finally:
        await engine.dispose()
        await conn.close()
    in_sql = [tuple(r.values()) for r in records]
    in_python = [
        (
            a.user_id,
            a.agent_id,
            a.day,
            a.observed,
            a.baseline.mean,
            a.baseline.std,
            a.z,
            a.robust_z,
            a.direction,
            a.baseline.median,
            a.baseline.mad,
            a.baseline.days,
        )
        for a in found
    ]
    return sorted(in_sql, key=_order), sorted(in_python, key=_order)


CONFIGS = [
    AnomalyConfig(),
    AnomalyConfig(method="plain", global_method="plain"),
    AnomalyConfig(method="both", global_method="robust", min_excess=0.0),
    AnomalyConfig(baseline_days=7, min_history_days=3, z_threshold=2.0),
    AnomalyConfig(baseline_days=14, min_history_days=14, z_threshold=3.5, min_excess=2.0),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.method}-{c.baseline_days}d")
async def test_sql_function_matches_the_python_engine(anomaly_url: str, cfg: AnomalyConfig) -> None:
    compared = with_totals = 0
    seen: set[str] = set()
    for offset in range(0, DAYS + 2, 2):
        day = FIRST + timedelta(days=offset)
        in_sql, in_python = await _both(anomaly_url, day, cfg)
        assert in_sql == in_python, day  # the same bits, not only close
        compared += len(in_sql)
        seen |= {r[8] for r in in_sql}
        with_totals += any(r[0] is None for r in in_sql)
    assert compared >= 20  # never vacuous
    assert with_totals > 0  # agents' global series compared too
    assert seen == {"spike", "drop"}


async def test_exact_threshold_and_defaults(anomaly_url: str) -> None:
    in_sql, in_python = await _both(anomaly_url, EXACT_DAY, AnomalyConfig())
    assert in_sql == in_python
    exact = [r for r in in_sql if r[0] and r[0].endswith("_exact")]
    assert exact
    assert {(r[3], r[7], r[8]) for r in exact} == {(10, 3.0, "spike")}  # |z| ≥ 3 is flagged
    conn = await asyncpg.connect(_dsn(anomaly_url))
    try:
        defaults = await conn.fetch("SELECT * FROM detect_usage_anomalies($1)", EXACT_DAY)
        assert [tuple(r.values()) for r in defaults] == [
            tuple(r.values())
            for r in await conn.fetch(
                "SELECT * FROM detect_usage_anomalies($1, 28, 7, 3.0, 5.0, 'robust', 'both')",
                EXACT_DAY,
            )
        ]
        row = await conn.fetchrow(
            "SELECT provolatile, proisstrict FROM pg_proc WHERE oid = $1::regprocedure",
            SIGNATURE,
        )
        assert (row["provolatile"], row["proisstrict"]) == (b"s", True)
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await conn.fetch(
                "SELECT * FROM detect_usage_anomalies($1, 28, 7, 3.0, 5.0, 'x')", EXACT_DAY
            )
    finally:
        await conn.close()
