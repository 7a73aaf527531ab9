"""``database/agent_usage_schema.sql`` builds what the migrations build, and its function agrees.

PostgreSQL only, by nature: the file is PostgreSQL DDL (``jsonb``, ``timestamptz``, a
PL/pgSQL function, ``ON CONFLICT``, ``AT TIME ZONE``, a partial index) for ``psql`` and
Supabase, and the comparison reads PostgreSQL's catalog (``information_schema``,
``pg_constraint``, ``pg_indexes``). SQLite databases are only ever built by the migrations,
so there is nothing to compare there.

- the file applied to an empty database gives the same tables, columns, defaults, keys,
  indexes and default tiers as ``nexus-crm db upgrade``, stamped at the migrations' head,
  so that a later ``db upgrade`` finds nothing to do;
- applying it again (or on a migrated database) changes nothing;
- ``calculate_usage_percentage()`` in SQL returns exactly what the Python engine
  (``nexus_crm.analytics.service.calculate_usage_percentage``) returns, across billing
  anchors, month ends, leap years and time zones.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_crm.analytics.service import calculate_usage_percentage
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine, create_sessionmaker, upgrade_database
from nexus_crm.ops.service import check_database, head_revision
from nexus_crm.settings import Settings
from tests.conftest import fresh_pg_database, reset_database, run_async

SCHEMA_SQL = Path(__file__).resolve().parents[1] / "database" / "agent_usage_schema.sql"
FUNCTION = "calculate_usage_percentage(text, timestamptz, text)"


def _dsn(url: str) -> str:
    """asyncpg wants a plain ``postgresql://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _apply_sql_file(url: str) -> None:
    """Run the whole file as one simple-protocol script, as ``psql -f`` would."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------
# Catalog snapshots
# --------------------------------------------------------------------------------------

_CAST = re.compile(r"::[a-z][a-z ]*(\(\d+(,\d+)?\))?(\[\])?$")
_QUOTED_NUMBER = re.compile(r"^'(-?\d+(\.\d+)?)'$")


def _normalize_default(default: str | None) -> str | None:
    """``'0'::bigint`` (Alembic's rendering), ``0::bigint`` and ``0`` are the same default."""
    if default is None:
        return None
    value = default.strip()
    while (stripped := _CAST.sub("", value)) != value:
        value = stripped.strip()
        if value.startswith("(") and value.endswith(")"):
            value = value[1:-1].strip()
    match = _QUOTED_NUMBER.match(value)
    return match.group(1) if match else value


async def _snapshot(url: str) -> dict[str, Any]:
    """Tables, columns, constraints and indexes of the database's current schema."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                schema,
            )
        }
        columns: dict[str, list[tuple[Any, ...]]] = {}
        for r in await conn.fetch(
            "SELECT table_name, column_name, data_type, character_maximum_length, "
            "numeric_precision, datetime_precision, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = $1 "
            "ORDER BY table_name, ordinal_position",
            schema,
        ):
            columns.setdefault(r["table_name"], []).append(
                (
                    r["column_name"],
                    r["data_type"],
                    r["character_maximum_length"],
                    r["numeric_precision"],
                    r["datetime_precision"],
                    r["is_nullable"],
                    _normalize_default(r["column_default"]),
                )
            )
        constraints = {
            (r["table_name"], r["conname"]): (r["contype"], r["definition"])
            for r in await conn.fetch(
                "SELECT t.relname AS table_name, c.conname, c.contype::text AS contype, "
                "pg_get_constraintdef(c.oid) AS definition "
                "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1",
                schema,
            )
        }
        qualified = re.compile(rf"\b{re.escape(schema)}\.")
        indexes = {
            r["indexname"]: (r["tablename"], qualified.sub("", r["indexdef"]))
            for r in await conn.fetch(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1",
                schema,
            )
        }
        tiers = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT tier, display_name, rank, monthly_tokens, monthly_interactions, "
                "monthly_price_cents, currency FROM usage_tier_limits ORDER BY rank"
            )
        ]
        versions = [
            r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")
        ]
    finally:
        await conn.close()
    return {
        "tables": tables,
        "columns": columns,
        "constraints": constraints,
        "indexes": indexes,
        "tiers": tiers,
        "versions": versions,
    }


def _assert_same_schema(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["tables"] == expected["tables"]
    for table in sorted(expected["tables"]):
        assert got["columns"][table] == expected["columns"][table], table
    assert got["constraints"] == expected["constraints"]
    assert got["indexes"] == expected["indexes"]


@pytest.fixture(scope="module")
def migrated_reference() -> Iterator[str]:
    """A pristine database built by the migrations (no other test has touched it)."""
    url, drop = fresh_pg_database("nexus_sqlref")
    try:
        run_async(migrate(Settings(DATABASE_URL=url)))
        yield url
    finally:
        drop()


@pytest.fixture
def bootstrapped() -> Iterator[str]:
    """An empty database with ``agent_usage_schema.sql`` applied once."""
    url, drop = fresh_pg_database("nexus_sqlfile")
    try:
        run_async(_apply_sql_file(url))
        yield url
    finally:
        drop()


# --------------------------------------------------------------------------------------
# The file builds the migrations' schema
# --------------------------------------------------------------------------------------


def test_normalize_default() -> None:
    assert _normalize_default("'0'::bigint") == "0"
    assert _normalize_default("0") == "0"
    assert _normalize_default("'UTC'::text") == "'UTC'"
    assert _normalize_default("now()") == "now()"
    assert _normalize_default(None) is None


async def test_file_builds_the_migrated_schema(migrated_reference: str, bootstrapped: str) -> None:
    expected = await _snapshot(migrated_reference)
    got = await _snapshot(bootstrapped)

    assert "agent_usage_daily" in expected["tables"]  # the reference is really migrated
    _assert_same_schema(got, expected)
    assert got["tiers"] == expected["tiers"]
    assert len(got["tiers"]) == 5
    assert got["versions"] == expected["versions"] == [head_revision()]
    # Spot checks of what the brief singles out, so a shared mistake cannot hide.
    assert got["constraints"][("agent_usage_events", "uq_agent_usage_events_event_id")] == (
        "u",
        "UNIQUE (event_id)",
    )
    assert got["constraints"][("alembic_version", "alembic_version_pkc")] == (
        "p",
        "PRIMARY KEY (version_num)",
    )
    table, definition = got["indexes"]["uq_usage_alerts_open"]
    assert table == "usage_alerts"
    assert definition.startswith("CREATE UNIQUE INDEX uq_usage_alerts_open ON usage_alerts")
    assert "WHERE" in definition
    assert "'acknowledged'" in definition
    rt = {c[0]: c for c in got["columns"]["agent_usage_daily"] if c[0].startswith("rt_")}
    assert len(rt) == 26
    assert {(c[1], c[5], c[6]) for c in rt.values()} == {("bigint", "NO", "0")}
    for table in ("agent_usage_hourly",):
        rt = {c[0]: c for c in got["columns"][table] if c[0].startswith("rt_")}
        assert len(rt) == 26
        assert {(c[1], c[5], c[6]) for c in rt.values()} == {("bigint", "NO", "0")}
    assert got["constraints"][
        ("usage_alert_events", "fk_usage_alert_events_alert_id_usage_alerts")
    ] == ("f", "FOREIGN KEY (alert_id) REFERENCES usage_alerts(id) ON DELETE CASCADE")
    assert [c[0] for c in got["columns"]["usage_alerts"]][-2:] == [
        "acknowledged_at",
        "dismissed_at",
    ]


async def test_function_is_installed_and_documented(bootstrapped: str) -> None:
    conn = await asyncpg.connect(_dsn(bootstrapped))
    try:
        row = await conn.fetchrow(
            "SELECT provolatile::text AS provolatile, proisstrict, proconfig, "
            "obj_description(oid, 'pg_proc') AS doc "
            "FROM pg_proc WHERE oid = $1::regprocedure",
            FUNCTION,
        )
        assert row is not None
        assert row["provolatile"] == "s"  # STABLE
        assert row["proisstrict"]
        schema = await conn.fetchval("SELECT current_schema()")
        assert row["proconfig"] == [f"search_path={schema}, pg_temp"]
        assert "billing period" in row["doc"]
        # Defaults: now() in UTC; no customer yet → NULL.
        assert await conn.fetchval("SELECT calculate_usage_percentage('nobody')") is None
    finally:
        await conn.close()


async def test_upgrade_sees_a_bootstrapped_database_at_head(bootstrapped: str) -> None:
    before = await _snapshot(bootstrapped)
    settings_ = Settings(DATABASE_URL=bootstrapped)
    engine = create_engine(settings_)
    try:
        assert await check_database(create_sessionmaker(engine)) is None
    finally:
        await engine.dispose()

    await migrate(settings_)  # would fail on "relation already exists" if not stamped

    after = await _snapshot(bootstrapped)
    _assert_same_schema(after, before)
    assert after["versions"] == [head_revision()]


async def test_applying_again_changes_nothing(bootstrapped: str) -> None:
    before = await _snapshot(bootstrapped)
    conn = await asyncpg.connect(_dsn(bootstrapped))
    try:
        await conn.execute("UPDATE usage_tier_limits SET monthly_tokens = 123 WHERE tier = 'pro'")
    finally:
        await conn.close()

    await _apply_sql_file(bootstrapped)
    await _apply_sql_file(bootstrapped)

    after = await _snapshot(bootstrapped)
    _assert_same_schema(after, before)
    assert after["versions"] == before["versions"] == [head_revision()]
    assert len(after["tiers"]) == 5  # no duplicates
    assert [t[0] for t in after["tiers"]] == [t[0] for t in before["tiers"]]
    pro = next(t for t in after["tiers"] if t[0] == "pro")
    assert pro[3] == 123  # an edited limit survives a re-run


async def test_applying_keeps_a_newer_alembic_revision(bootstrapped: str) -> None:
    conn = await asyncpg.connect(_dsn(bootstrapped))
    try:
        await conn.execute("UPDATE alembic_version SET version_num = '0099'")
    finally:
        await conn.close()

    await _apply_sql_file(bootstrapped)

    assert (await _snapshot(bootstrapped))["versions"] == ["0099"]  # not also '0002'


async def test_applying_on_a_database_at_0001_brings_it_to_head(migrated_reference: str) -> None:
    """A database at 0001 (as the file of that release left it) gets the later objects and stamp."""
    url, drop = fresh_pg_database("nexus_sql0001")
    try:
        engine = create_engine(Settings(DATABASE_URL=url))
        try:
            await upgrade_database(engine, "0001")
        finally:
            await engine.dispose()
        assert (await _snapshot(url))["versions"] == ["0001"]

        await _apply_sql_file(url)

        got, expected = await _snapshot(url), await _snapshot(migrated_reference)
        _assert_same_schema(got, expected)
        assert got["versions"] == [head_revision()] == ["0007"]
        await migrate(Settings(DATABASE_URL=url))  # nothing left to do
        assert (await _snapshot(url))["versions"] == ["0007"]
    finally:
        drop()


# --------------------------------------------------------------------------------------
# calculate_usage_percentage(): SQL against the Python engine
# --------------------------------------------------------------------------------------

FIRST_DAY = date(2026, 11, 1)
LAST_DAY = date(2028, 7, 31)
AGENTS = ("NEXUS", "BLAZE", "SAGE")
ODD_TIER = ("odd", "Odd", 90, 3_000_001, 7_777, 1_234, "USD")  # limits that round badly
# user_id, tier, billing_anchor_day
PARITY_CUSTOMERS = (
    ("calendar_essential", "essential", None),
    ("anchor1_pro", "pro", 1),
    ("anchor15_elite", "elite", 15),
    ("anchor29_odd", "odd", 29),
    ("anchor30_prime", "prime", 30),
    ("anchor31_pro", "pro", 31),
    ("anchor31_odd", "odd", 31),
    ("anchor0_essential", "essential", 0),  # outside the API's 1-31; both read it as 1
    ("tier_without_limits", "platinum", 15),
)
GHOST = "usage_but_no_customer"  # has daily rows, is not a customer → NULL
UNKNOWN = "never_seen"
HYPOTHESIS_ANCHORS: tuple[int | None, ...] = (None, *range(1, 32))
HYPOTHESIS_TIERS = ("essential", "pro", "elite", "prime", "longevity", "odd")
ZONES = (
    "UTC",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
)


def _hypothesis_user(anchor: int | None) -> str:
    return f"hyp_anchor_{anchor}"


def _boundary(day: date) -> bool:
    last = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return day.day in (1, 14, 15, 16, 28, 29, 30, 31) or day == last


def _daily_rows(rng: random.Random, user_id: str, scale: int) -> list[tuple[Any, ...]]:
    """Daily rows over the whole span; boundary days always have use, others sometimes."""
    rows: list[tuple[Any, ...]] = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        for i, agent in enumerate(AGENTS):
            if (i == 0 and _boundary(day)) or rng.random() < 0.45:
                interactions = rng.randint(1, 60)
                tokens = interactions * rng.randint(20, scale)
                at = datetime.combine(day, time(12), tzinfo=UTC)
                rows.append(
                    (day, user_id, agent, interactions, tokens, interactions * 900, 4000, at, at)
                )
        day += timedelta(days=1)
    return rows


async def _seed(url: str) -> None:
    await reset_database(url)
    rng = random.Random(20261124)
    now = datetime.now(UTC)
    customers = [*PARITY_CUSTOMERS]
    customers += [
        (_hypothesis_user(a), HYPOTHESIS_TIERS[i % len(HYPOTHESIS_TIERS)], a)
        for i, a in enumerate(HYPOTHESIS_ANCHORS)
    ]
    daily: list[tuple[Any, ...]] = []
    for user_id, _, _ in [*customers, (GHOST, None, None)]:
        daily += _daily_rows(rng, user_id, scale=rng.choice((150, 400, 2000)))

    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(
            "INSERT INTO usage_tier_limits (tier, display_name, rank, monthly_tokens, "
            "monthly_interactions, monthly_price_cents, currency, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
            *ODD_TIER,
        )
        await conn.executemany(
            "INSERT INTO customers (id, user_id, tier, status, billing_anchor_day, state_at, "
            "created_at, updated_at) VALUES ($1, $2, $3, 'active', $4, $5, $5, $5)",
            [(uuid.uuid4(), u, t, a, now) for u, t, a in customers],
        )
        await conn.copy_records_to_table(
            "agent_usage_daily",
            records=daily,
            columns=[
                "day",
                "user_id",
                "agent_id",
                "interactions",
                "tokens",
                "response_time_sum_ms",
                "response_time_max_ms",
                "first_at",
                "last_at",
            ],
        )
    finally:
        await conn.close()
    # On the migrated database: the tables exist, so only the function is new.
    await _apply_sql_file(url)


async def _unseed(url: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    finally:
        await conn.close()
    await reset_database(url)


@pytest.fixture(scope="module")
def parity_url(postgresql_url: str) -> Iterator[str]:
    """The session's migrated database with customers, usage and the SQL function."""
    run_async(_seed(postgresql_url))
    yield postgresql_url
    run_async(_unseed(postgresql_url))


class Both:
    """Asks the SQL function and the Python engine the same question."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Both:
        self.conn = await asyncpg.connect(_dsn(self.url))
        self.engine = create_engine(Settings(DATABASE_URL=self.url))
        self.session = create_sessionmaker(self.engine)()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.engine.dispose()
        await self.conn.close()

    async def ask(self, user_id: str, as_of: datetime, zone: str) -> tuple[Any, Any]:
        in_sql = await self.conn.fetchval(
            "SELECT calculate_usage_percentage($1, $2, $3)", user_id, as_of, zone
        )
        in_python = await calculate_usage_percentage(
            self.session, user_id=user_id, as_of=as_of, tz=ZoneInfo(zone)
        )
        return in_sql, in_python


def _parity_instants() -> list[datetime]:
    """Around month ends and anchor days: 00:30 UTC is the day before west of UTC,
    23:30 UTC the day after east of it. Non-leap Feb 2027, leap Feb 2028, a year end,
    and 30/31-day months."""
    months = [(2026, 12), (2027, 1), (2027, 2), (2027, 3), (2027, 4), (2027, 9), (2027, 10)]
    months += [(2027, 12), (2028, 1), (2028, 2), (2028, 3), (2028, 4)]
    instants: list[datetime] = []
    for year, month in months:
        for d in (1, 14, 15, 16, 28, 29, 30, 31):
            try:
                day = date(year, month, d)
            except ValueError:
                continue
            instants += [
                datetime.combine(day, time(0, 30), tzinfo=UTC),
                datetime.combine(day, time(23, 30), tzinfo=UTC),
            ]
    # Exact local midnights: the last microsecond of a month and the first of the next.
    tokyo = ZoneInfo("Asia/Tokyo")
    for day in (date(2027, 3, 1), date(2028, 3, 1), date(2028, 1, 1)):
        midnight = datetime.combine(day, time.min, tzinfo=tokyo)
        instants += [midnight - timedelta(microseconds=1), midnight]
    return instants


async def test_sql_function_matches_the_python_engine(parity_url: str) -> None:
    users = [u for u, _, _ in PARITY_CUSTOMERS] + [GHOST, UNKNOWN]
    instants = _parity_instants()
    zones = ("UTC", "Asia/Tokyo", "America/Los_Angeles")
    compared = nulls = positive = 0
    async with Both(parity_url) as both:
        for as_of in instants:
            for zone in zones:
                for user_id in users:
                    in_sql, in_python = await both.ask(user_id, as_of, zone)
                    assert in_sql == in_python, (user_id, as_of.isoformat(), zone)
                    compared += 1
                    nulls += in_sql is None
                    positive += bool(in_sql)
    assert compared == len(instants) * len(zones) * len(users)
    assert nulls == len(instants) * len(zones) * 3  # no limits, ghost, unknown
    assert positive == compared - nulls  # boundary days always have use: never vacuous


async def test_sql_function_known_values(parity_url: str) -> None:
    """Hand-checked periods, so that SQL and Python cannot agree on a shared mistake."""
    conn = await asyncpg.connect(_dsn(parity_url))
    try:

        async def pct(user_id: str, start: date, end: date) -> float:
            tokens, interactions, limit_t, limit_i = await conn.fetchrow(
                "SELECT coalesce(sum(d.tokens), 0), coalesce(sum(d.interactions), 0), "
                "t.monthly_tokens, t.monthly_interactions FROM customers c "
                "JOIN usage_tier_limits t ON t.tier = c.tier "
                "LEFT JOIN agent_usage_daily d ON d.user_id = c.user_id "
                "AND d.day >= $2 AND d.day < $3 WHERE c.user_id = $1 "
                "GROUP BY t.monthly_tokens, t.monthly_interactions",
                user_id,
                start,
                end,
            )
            return max(100.0 * int(tokens) / int(limit_t), 100.0 * int(interactions) / int(limit_i))

        cases = [
            # user, as_of, zone, [start, end)
            ("calendar_essential", "2027-02-28T23:30Z", "UTC", "2027-02-01", "2027-03-01"),
            ("calendar_essential", "2027-02-28T23:30Z", "Asia/Tokyo", "2027-03-01", "2027-04-01"),
            (
                "calendar_essential",
                "2028-01-01T00:30Z",
                "America/Los_Angeles",
                "2027-12-01",
                "2028-01-01",
            ),
            ("anchor31_pro", "2027-02-27T12:00Z", "UTC", "2027-01-31", "2027-02-28"),
            ("anchor31_pro", "2027-02-28T12:00Z", "UTC", "2027-02-28", "2027-03-31"),
            ("anchor31_pro", "2028-02-28T12:00Z", "UTC", "2028-01-31", "2028-02-29"),
            ("anchor31_pro", "2028-02-29T12:00Z", "UTC", "2028-02-29", "2028-03-31"),
            ("anchor31_pro", "2027-04-30T12:00Z", "UTC", "2027-04-30", "2027-05-31"),
            ("anchor31_pro", "2027-03-30T12:00Z", "UTC", "2027-02-28", "2027-03-31"),
            ("anchor15_elite", "2027-01-14T12:00Z", "UTC", "2026-12-15", "2027-01-15"),
            ("anchor15_elite", "2027-01-14T23:30Z", "Asia/Tokyo", "2027-01-15", "2027-02-15"),
            ("anchor30_prime", "2027-03-01T12:00Z", "UTC", "2027-02-28", "2027-03-30"),
            ("anchor0_essential", "2027-03-15T12:00Z", "UTC", "2027-03-01", "2027-04-01"),
        ]
        for user_id, as_of, zone, start, end in cases:
            at = datetime.fromisoformat(as_of)
            expected = await pct(user_id, date.fromisoformat(start), date.fromisoformat(end))
            assert expected > 0
            got = await conn.fetchval(
                "SELECT calculate_usage_percentage($1, $2, $3)", user_id, at, zone
            )
            assert got == expected, (user_id, as_of, zone)
    finally:
        await conn.close()


async def test_sql_function_defaults_and_nulls(parity_url: str) -> None:
    async with Both(parity_url) as both:
        # Both now() calls see the same instant: now() is fixed within a transaction.
        now, in_sql = await both.conn.fetchrow(
            "SELECT now(), calculate_usage_percentage('anchor15_elite')"
        )
        _, in_python = await both.ask("anchor15_elite", now, "UTC")
        assert in_sql == in_python
        assert in_sql is not None
        for args in [(None, now, "UTC"), ("anchor15_elite", None, "UTC")]:
            assert (
                await both.conn.fetchval("SELECT calculate_usage_percentage($1, $2, $3)", *args)
                is None
            )
        assert (
            await both.conn.fetchval(
                "SELECT calculate_usage_percentage('tier_without_limits', $1)", now
            )
            is None
        )


@settings(max_examples=50, deadline=None)
@given(
    anchor=st.sampled_from(HYPOTHESIS_ANCHORS),
    as_of=st.datetimes(
        min_value=datetime(2026, 10, 1),
        max_value=datetime(2028, 8, 31),
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES),
)
async def test_sql_function_matches_python_for_any_anchor_and_date(
    parity_url: str, anchor: int | None, as_of: datetime, zone: str
) -> None:
    async with Both(parity_url) as both:
        in_sql, in_python = await both.ask(_hypothesis_user(anchor), as_of, zone)
    assert in_python is not None
    assert in_sql == in_python
