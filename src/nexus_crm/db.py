"""Engine and sessions: one async engine per app, SQLite tuned for a single writer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from nexus_crm.kit.events import ROUTES_KEY, EventRoutes, take_pending
from nexus_crm.kit.memo import MEMOS_KEY, Memo
from nexus_crm.settings import Settings

T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level so that SQLAlchemy's "begin" hook below decides how
    # transactions start (the pysqlite default would break SAVEPOINT and BEGIN IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 64 MiB of page cache (the default is 2 MiB): bulk writes touch indexes all over the file.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes can
    # fail with SQLITE_BUSY instead of waiting when another connection writes meanwhile.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# asyncpg prepares every statement and caches it per connection; after five runs PostgreSQL
# may switch a prepared statement to a generic plan, which for ``user_id IN (…thousands…)``
# or a date range ignores the actual values (measured: 399 ms → 9.8 s on the same query).
# Our statements are few and cheap to plan, so each run is planned for its own values.
PG_SERVER_SETTINGS: Mapping[str, str] = MappingProxyType({"plan_cache_mode": "force_custom_plan"})


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine for ``settings.database_url``."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.update(
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        connect_args={"server_settings": dict(PG_SERVER_SETTINGS)},  # asyncpg wants a dict
    )
    return create_async_engine(settings.database_url, **kwargs)


def create_sessionmaker(
    engine: AsyncEngine,
    *,
    routes: EventRoutes | None = None,
    memos: dict[str, Memo] | None = None,
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit, carrying the domain's event routes.

    Without ``routes`` a session can read and write but not dispatch a domain event (it
    would be lost): writers use the routes the composition root wires (``nexus_crm.wiring``).
    The sessions share the sessionmaker's read caches (``kit.memo``): a table of their own,
    or ``memos``, another sessionmaker's (``kit.memo.memos_of``).
    """
    # One table of read caches per sessionmaker, shared by its sessions (``kit.memo``).
    info: dict[str, object] = {MEMOS_KEY: {} if memos is None else memos}
    if routes is not None:
        info[ROUTES_KEY] = routes
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


# Deadlock and serialization failure (PostgreSQL): the whole transaction may be re-run.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})


def is_transient(exc: BaseException) -> bool:
    """Whether a database error means "busy, try again" rather than a bug or bad data."""
    if isinstance(exc, OperationalError):
        return True
    return (
        isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


# SQLSTATEs of a database that cannot serve anyone right now (PostgreSQL): whole classes 08
# (connection exception) and 53 (insufficient resources: disk full, out of memory, too many
# connections), and 57P01-57P05 (shutdown, crash, "cannot connect now" while starting or
# stopping, database dropped, idle session timeout). Class 57 also holds 57014, a cancelled
# statement: that one is about the request, not the database.
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53")
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05"})
# 55000 "object not in prerequisite state" when connecting is "database … is not currently
# accepting connections" (ALLOW_CONNECTIONS false); from a statement it is a bug.
UNAVAILABLE_AT_CONNECT = frozenset({"55000"})


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, wrapped by SQLAlchemy or not."""
    code = getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "sqlstate", None)
    return code if isinstance(code, str) else None


def _unavailable_sqlstate(exc: BaseException) -> bool:
    code = _sqlstate(exc)
    if code is None:
        return False
    connecting = isinstance(exc, DBAPIError) and exc.statement is None
    return (
        code[:2] in UNAVAILABLE_SQLSTATE_CLASSES
        or code in UNAVAILABLE_SQLSTATES
        or (connecting and code in UNAVAILABLE_AT_CONNECT)
    )


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is busy or unreachable (retry later), not a bug."""
    # OSError: refused, reset or timed out (asyncio's TimeoutError is one); PoolTimeout:
    # every pooled connection busy; DisconnectionError: the pool could not get a live one.
    if isinstance(exc, OSError | PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or is_transient(exc)):
        return True  # invalidated: SQLAlchemy saw the connection closed or killed
    return _unavailable_sqlstate(exc)


async def run_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run ``work`` in a transaction, re-running it on deadlock or serialization failure."""
    for attempt in range(1, attempts + 1):
        try:
            async with transaction(sessions) as session:
                return await work(session)
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in TRANSIENT_SQLSTATES or attempt == attempts:
                raise
            await asyncio.sleep(secrets.randbelow(20) * 2**attempt / 1000)  # jittered backoff
    raise AssertionError("unreachable")


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on any error.

    The unit of work: once the commit succeeded, the domain events dispatched in it are
    announced to their listeners (``kit.events``); a rolled-back one announces nothing.
    """
    async with sessions() as session:
        async with session.begin():
            yield session
        committed = take_pending(session)
        routes = session.info.get(ROUTES_KEY)
    if committed and isinstance(routes, EventRoutes):
        await routes.announce(committed)


def alembic_config(database_url: str | None = None) -> Any:
    """Alembic configuration pointing at our migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``'s database."""
    from alembic import command

    def _upgrade(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
