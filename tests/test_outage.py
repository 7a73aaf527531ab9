"""A database outage answers 503 + ``Retry-After``, never 500, and the server recovers alone.

PostgreSQL only where the outage is PostgreSQL's (SQLSTATEs, ``ALLOW_CONNECTIONS``, killed
backends): each error is provoked on the real server, not built by hand. The process test
refuses connections to a live server's database (``ALLOW_CONNECTIONS false`` and every
backend terminated) while a client keeps posting events and reading routes, then restores it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nexus_crm.app import create_app
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine, create_sessionmaker, database_unavailable, transaction
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings
from tests.conftest import PG_SERVER, fresh_pg_database, run_async
from tests.processes import running_server, serve_command
from tests.support import event, signed

CONNECTION_EXCEPTION = ("08000", "08001", "08003", "08004", "08006", "08P01")
INSUFFICIENT_RESOURCES = ("53000", "53100", "53200", "53300", "53400")
OPERATOR_INTERVENTION = ("57P01", "57P02", "57P03", "57P04", "57P05")  # shutdown, restart…
UNAVAILABLE_SQLSTATES = CONNECTION_EXCEPTION + INSUFFICIENT_RESOURCES + OPERATOR_INTERVENTION
# A bug or bad data stays a bug: retrying the same request would fail the same way. 55000
# is an outage only when connecting (test_a_database_refusing_connections_is_unavailable);
# 57014 is a cancelled statement, not an operator taking the database away.
OTHER_SQLSTATES = ("23505", "42703", "22P02", "P0001", "55000", "57014")


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def pg_engine(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the session's PostgreSQL database."""
    engine = create_engine(Settings(DATABASE_URL=postgresql_url))
    yield engine
    await engine.dispose()


async def _raised(engine: AsyncEngine, sqlstate: str) -> sa_exc.DBAPIError:
    """The error PostgreSQL sends for ``sqlstate``, as asyncpg and SQLAlchemy deliver it."""
    raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{sqlstate}'; END $$"
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as conn:
            await conn.execute(text(raise_it))
    cause = caught.value.orig.__cause__ if caught.value.orig else None
    assert isinstance(cause, asyncpg.PostgresError)
    assert cause.sqlstate == sqlstate
    return caught.value


@pytest.mark.parametrize("sqlstate", UNAVAILABLE_SQLSTATES)
async def test_each_outage_sqlstate_is_database_unavailable(
    pg_engine: AsyncEngine, sqlstate: str
) -> None:
    assert database_unavailable(await _raised(pg_engine, sqlstate))


@pytest.mark.parametrize("sqlstate", OTHER_SQLSTATES)
async def test_a_bug_or_bad_data_is_not_database_unavailable(
    pg_engine: AsyncEngine, sqlstate: str
) -> None:
    assert not database_unavailable(await _raised(pg_engine, sqlstate))


async def test_a_database_refusing_connections_is_unavailable() -> None:
    url, drop = fresh_pg_database("nexus_refused")
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(_dsn(PG_SERVER), timeout=10)
    engine = create_async_engine(_pg(url))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        with pytest.raises(sa_exc.DBAPIError) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
        await admin.close()
        drop()
    assert getattr(caught.value.orig, "sqlstate", None) == "55000"
    assert database_unavailable(caught.value)


async def test_too_many_connections_is_unavailable(postgresql_url: str) -> None:
    role = f"nexus_outage_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(PG_SERVER), timeout=10)
    engine = create_async_engine(make_url(postgresql_url).set(username=role))
    try:
        # Superusers ignore connection limits: a role of its own with none left.
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        with pytest.raises(sa_exc.DBAPIError) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
    assert getattr(caught.value.orig, "sqlstate", None) == "53300"
    assert database_unavailable(caught.value)


ACTIVE = "SELECT state = 'active' FROM pg_stat_activity WHERE pid = $1"


async def _terminate_while_running(pid: int) -> None:
    """Kill backend ``pid`` once it is running a statement (as an operator's kill would)."""
    admin = await asyncpg.connect(_dsn(PG_SERVER), timeout=10)
    try:
        async with asyncio.timeout(30):  # a condition, polled: pg_stat_activity has no wait
            while True:
                if await admin.fetchval(ACTIVE, pid):
                    break
                await asyncio.sleep(0.01)
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_terminated_connection_is_unavailable(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        running = asyncio.create_task(conn.execute(text("SELECT pg_sleep(30)")))
        await _terminate_while_running(pid)
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await running
    assert isinstance(caught.value.orig and caught.value.orig.__cause__, asyncpg.PostgresError)
    assert database_unavailable(caught.value)


async def test_a_closed_connection_is_unavailable(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.close()  # type: ignore[union-attr]
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await conn.execute(text("SELECT 1"))
    assert caught.value.connection_invalidated  # asyncpg: "connection is closed"
    assert database_unavailable(caught.value)


async def test_a_pool_checkout_timeout_answers_503(db_url: str) -> None:
    """Every connection of a pool busy: the request waits, then answers 503 (both backends)."""
    app = create_app(Settings(DATABASE_URL=db_url))
    tiny = create_async_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.1)

    @app.get("/busy-pool")
    async def busy_pool() -> None:
        async with tiny.connect(), tiny.connect():
            pass

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.get("/busy-pool")
        with pytest.raises(sa_exc.TimeoutError) as caught:
            await busy_pool()
    finally:
        await tiny.dispose()
    assert database_unavailable(caught.value)
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["error"] == "database_unavailable"


# ---- the outage, end to end, on a real server process ------------------------------------

READS = (
    "/agent-usage/tiers",
    "/agent-usage/insights?days=7",
    "/agent-usage/alerts",
    "/agent-usage/customers/outage_u1",
)
USERS = ("outage_u1", "outage_u2", "outage_u3")
OUTAGE_MIN_S = 3.0  # long enough for every connection of the pool to be tried and refused
WAIT_S = 30.0


@dataclass
class Traffic:
    """What the client sent and what the server answered, phase by phase."""

    phase: str = "before"
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    unacknowledged: list[dict[str, Any]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def seen(self, kind: str, status: int, phase: str | None = None) -> int:
        """How many ``kind`` answers had ``status`` (in ``phase``, default: the current one)."""
        return self.statuses[(phase or self.phase, kind, status)]

    def record(self, kind: str, resp: httpx.Response) -> bool:
        """Count the answer; note it if it is neither 2xx nor a well-formed 503; 2xx?"""
        self.statuses[(self.phase, kind, resp.status_code)] += 1
        if resp.is_success:
            return True
        if kind == "ready":  # a probe's body is its own (not_ready): the status is what counts
            good = resp.status_code == 503
        else:
            good = resp.status_code == 503 and "retry-after" in resp.headers
            good = good and _error_code(resp) == "database_unavailable"
        if not good:
            self.problems.append(f"{self.phase} {kind}: {resp.status_code} {resp.text[:200]}")
        return False


def _error_code(resp: httpx.Response) -> object:
    try:
        return resp.json().get("error")
    except ValueError:  # not JSON at all
        return None


def _payload(rng_index: int) -> dict[str, Any]:
    """A single event (even index) or a batch of a few (odd index)."""
    size = 1 if rng_index % 2 == 0 else 2 + rng_index % 7
    events = [event(user_id=USERS[(rng_index + i) % 3], tokens_used=10 + i) for i in range(size)]
    return events[0] if size == 1 else {"events": events}


async def _deliver(client: httpx.AsyncClient, traffic: Traffic, payload: dict[str, Any]) -> None:
    events = payload.get("events", [payload])
    traffic.sent.update((e["event_id"], e) for e in events)
    body, headers = signed(payload)
    resp = await client.post("/agent-usage/events", content=body, headers=headers)
    if traffic.record("write", resp):
        traffic.acknowledged.update(e["event_id"] for e in events)
    else:
        traffic.unacknowledged.append(payload)


async def _loop(traffic: Traffic, step: Callable[[int], Awaitable[None]]) -> None:
    i = 0
    while not traffic.stop.is_set():
        try:
            await step(i)
        except httpx.TransportError as exc:  # the server must answer, not drop the request
            traffic.problems.append(f"{traffic.phase}: {exc!r}")
        i += 1
        await asyncio.sleep(0.005)  # leave the two shared cores some room


async def _client_traffic(base_url: str, key: str, traffic: Traffic) -> None:
    """Post events, read routes and probe readiness until told to stop."""
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_S) as client:
        await _deliver(client, traffic, event(user_id=USERS[0]))  # READS' customer exists

        async def write(i: int) -> None:
            await _deliver(client, traffic, _payload(i))

        async def read(i: int) -> None:
            traffic.record("read", await client.get(READS[i % len(READS)], headers=auth))

        async def ready(_: int) -> None:
            traffic.record("ready", await client.get("/readyz"))

        await asyncio.gather(*(_loop(traffic, s) for s in (write, write, read, ready)))


async def _until(condition: Callable[[], bool], what: str, traffic: Traffic) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if traffic.problems or time.monotonic() > deadline:
            seen = f"{traffic.statuses}, {traffic.problems[:5]}"
            raise AssertionError(f"waiting for {what}: {seen}")
        await asyncio.sleep(0.05)


async def _allow_connections(name: str, allow: bool) -> None:
    """The outage switch: refuse (and cut) every connection to ``name``, or allow them again."""
    admin = await asyncpg.connect(_dsn(PG_SERVER), timeout=10)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await admin.close()


@pytest.fixture
def outage_db() -> Iterator[str]:
    """A fresh migrated PostgreSQL database the test may take away (dropped afterwards)."""
    url, drop = fresh_pg_database("nexus_outage")
    try:
        url = Settings(DATABASE_URL=url).database_url
        run_async(migrate(Settings(DATABASE_URL=url)))
        yield url
    finally:
        drop()


async def _read_key(url: str) -> str:
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            _, plaintext = await create_api_key(session, name="outage", scopes=["read"])
    finally:
        await engine.dispose()
    return plaintext


PER_EVENT_ID = "SELECT event_id, count(*) FROM agent_usage_events GROUP BY event_id"
RAW_TOTALS = "SELECT count(*), coalesce(sum(tokens_used), 0) FROM agent_usage_events"
DAILY_TOTALS = (
    "SELECT coalesce(sum(interactions), 0), coalesce(sum(tokens), 0) FROM agent_usage_daily"
)


async def _stored(url: str) -> tuple[dict[str, int], tuple[int, int], tuple[int, int]]:
    """Rows per event_id, (events, tokens) raw and (interactions, tokens) of the daily rows."""
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        async with engine.connect() as conn:
            per_id = {row[0]: row[1] for row in await conn.execute(text(PER_EVENT_ID))}
            raw = (await conn.execute(text(RAW_TOTALS))).one()
            daily = (await conn.execute(text(DAILY_TOTALS))).one()
    finally:
        await engine.dispose()
    return per_id, (raw[0], raw[1]), (daily[0], daily[1])


async def _outage(name: str, traffic: Traffic) -> None:
    """Traffic flows, the database goes away (503s seen), comes back (200s seen again)."""
    await _until(
        lambda: traffic.seen("write", 200) >= 10 and traffic.seen("read", 200) >= 4,
        "traffic before the outage",
        traffic,
    )
    traffic.phase = "outage"
    await _allow_connections(name, allow=False)
    started = time.monotonic()
    await _until(
        lambda: (
            time.monotonic() - started >= OUTAGE_MIN_S
            and all(traffic.seen(kind, 503) >= 3 for kind in ("write", "read", "ready"))
        ),
        "503 from writes, reads and /readyz during the outage",
        traffic,
    )
    traffic.phase = "after"
    await _allow_connections(name, allow=True)
    await _until(
        lambda: all(traffic.seen(kind, 200) >= 3 for kind in ("write", "read", "ready")),
        "200 again after the outage, without a restart",
        traffic,
    )


@pytest.mark.slow
async def test_an_outage_answers_503_and_the_server_recovers_alone(outage_db: str) -> None:
    key = await _read_key(outage_db)
    name = outage_db.rsplit("/", 1)[1]
    traffic = Traffic()
    with running_server(outage_db, command=serve_command) as server:
        client = asyncio.create_task(_client_traffic(server.base_url, key, traffic))
        try:
            await _outage(name, traffic)
        finally:
            traffic.stop.set()
            await _allow_connections(name, allow=True)
            await client
        async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT_S) as retry:
            pending = list(traffic.unacknowledged)  # as GENESIS would: deliver them again
            await asyncio.gather(*(_deliver(retry, traffic, payload) for payload in pending))
    assert traffic.problems == [], traffic.statuses
    per_id, raw, daily = await _stored(outage_db)
    assert set(per_id) == set(traffic.sent) == traffic.acknowledged  # nothing lost
    assert set(per_id.values()) == {1}  # nothing twice
    assert raw == (len(traffic.sent), sum(e["tokens_used"] for e in traffic.sent.values()))
    assert daily == raw  # Σ interactions and Σ tokens of the daily rows match the raw events
