"""Fixtures: every database test runs on a SQLite file and on a real PostgreSQL.

PostgreSQL comes from ``NEXUS_TEST_POSTGRES_URL`` (a fresh database made by ``.ci/run``; under
pytest-xdist, the first worker's) or a database the session (each other worker) creates on
``NEXUS_TEST_POSTGRES_SERVER`` (default: the local server) and drops at the end. An
unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.audit import ddl
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine, transaction
from nexus_crm.models import Base
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings
from nexus_crm.tiers.defaults import DEFAULT_TIERS
from nexus_crm.wiring import open_sessions
from tests.support import OLD_SECRET, TEST_SECRET

# NiceGUI keeps process-global state (ui.run_with once per process): apps built here, and
# the servers tests start, run without the dashboard unless a test turns it on
# (tests/dashboard starts its servers with DASHBOARD_ENABLED=true).
os.environ["DASHBOARD_ENABLED"] = "false"
# Every log record of the session is searched for credentials (docs/security.md).
pytest_plugins = ["tests.security.logcapture"]
T = TypeVar("T")
BACKENDS = ("sqlite", "postgresql")
PG_SERVER = os.environ.get(
    "NEXUS_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop, even from inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _create_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def fresh_pg_database(prefix: str = "nexus_test") -> tuple[str, Callable[[], None]]:
    """Create an empty database on the test server; return its URL and a dropper."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        run_async(_create_database(PG_SERVER, name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the database tests and is not reachable at "
            f"{PG_SERVER} ({exc!r}). Start it, or set NEXUS_TEST_POSTGRES_SERVER.",
            pytrace=False,
        )
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    return url, lambda: run_async(_drop_database(PG_SERVER, name))


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this test session (one per xdist worker)."""
    given = os.environ.get("NEXUS_TEST_POSTGRES_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, … under ``pytest -n``
    if given and worker in (None, "gw0"):
        url, drop = given, None
    else:  # the other workers each empty and reset a database of their own
        url, drop = fresh_pg_database(f"nexus_test_{worker}" if worker else "nexus_test")
    try:
        run_async(migrate(Settings(DATABASE_URL=url)))
    except OSError as exc:
        pytest.fail(f"PostgreSQL at {url} is not reachable: {exc!r}", pytrace=False)
    yield Settings(DATABASE_URL=url).database_url
    if drop:
        drop()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file for this test session."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "nexus_test.db"
    url = f"sqlite+aiosqlite:///{path}"
    run_async(migrate(Settings(DATABASE_URL=url)))
    return url


async def reset_database(url: str) -> None:
    """Empty every table and restore the shipped tier limits.

    Read caches (window roll-ups, churn scores) live with each test's own sessionmaker.
    """
    engine = create_engine(Settings(DATABASE_URL=url))
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text(f"TRUNCATE {', '.join(tables)}"))
            else:
                # audit_log refuses DELETE (append-only trigger): lift it while emptying.
                for statement in ddl.drop_statements("sqlite"):
                    await conn.execute(text(statement))
                for name in tables:
                    await conn.execute(text(f"DELETE FROM {name}"))
                for statement in ddl.create_statements("sqlite"):
                    await conn.execute(text(statement))
            tier_table = Base.metadata.tables["usage_tier_limits"]
            now = datetime.now(UTC)
            await conn.execute(
                tier_table.insert(), [{**t, "updated_at": now} for t in DEFAULT_TIERS]
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database: once SQLite, once PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    await reset_database(url)
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for the database under test, with two webhook secrets (rotation)."""
    return Settings(DATABASE_URL=db_url, GENESIS_WEBHOOK_SECRET=f"{TEST_SECRET},{OLD_SECRET}")


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the database under test, wired as the app wires its own."""
    engine = create_engine(settings)
    yield open_sessions(engine, settings)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application with its lifespan running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


MakeKey = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(sessions: async_sessionmaker[AsyncSession]) -> MakeKey:
    """Create an API key with the given scopes; return its plaintext."""

    async def _make(*scopes: str, name: str = "test") -> str:
        async with transaction(sessions) as session:
            _, plaintext = await create_api_key(session, name=name, scopes=list(scopes))
        return plaintext

    return _make


@pytest.fixture
async def admin_headers(make_key: MakeKey) -> dict[str, str]:
    """Authorization headers of an admin key."""
    return {"Authorization": f"Bearer {await make_key('admin')}"}


@pytest.fixture
async def read_headers(make_key: MakeKey) -> dict[str, str]:
    """Authorization headers of a read-only key."""
    return {"Authorization": f"Bearer {await make_key('read')}"}


# Tests that take minutes (the held-out replays, one per database). Under pytest-xdist's
# worksteal scheduler each worker first gets a contiguous share of the collection: each of
# these heads a share, so no worker starts one when the others are nearly done (measured:
# both at the end made a 16-minute tail).
LONGEST = ("tests/simulate/test_evaluate.py::test_measured_quality_on_a_held_out_seed",)


def _shares(total: int, workers: int) -> list[int]:
    """Where each worker's first share starts, as worksteal splits ``total`` tests."""
    starts, left = [], total
    for remaining in range(workers, 0, -1):
        starts.append(total - left)
        left -= left // remaining
    return starts


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each of the LONGEST tests at the head of a worker's first share."""
    longest = [i for i in items if i.nodeid.split("[")[0] in LONGEST]
    if not longest:
        return
    rest = [i for i in items if i not in longest]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    ordered: list[pytest.Item] = []
    starts = _shares(len(items), workers)
    for share, (start, end) in enumerate(itertools.pairwise([*starts, len(items)])):
        heads = longest[share::workers]
        ordered += heads + rest[: end - start - len(heads)]
        rest = rest[end - start - len(heads) :]
    items[:] = ordered + rest
