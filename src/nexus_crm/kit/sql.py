"""Dialect-specific SQL, one function each, so services stay portable.

SQLite (3.35+) and PostgreSQL both support ``INSERT … ON CONFLICT`` and ``RETURNING``; the
functions here build those statements with each dialect's insert construct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    CursorResult,
    Row,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

# Rows per multi-row INSERT of a bulk insert; SQLAlchemy also keeps each statement under the
# database's bind-parameter limit (32,766 on SQLite, 32,767 on PostgreSQL).
CHUNK_ROWS = 1000
# Bind parameters per statement of the SQLite bulk path (SQLite allows 32,766 since 3.32).
SQLITE_PARAMS = 30_000


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect: {dialect}")


async def insert_ignore_returning(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str],
    conflict_where: Any = None,
) -> list[Row[Any]]:
    """Insert ``rows``, skip those that hit the ``conflict`` unique key, return the inserted.

    ``conflict_where`` is the WHERE of a partial unique index (both databases need it in the
    conflict target to pick that index).
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    cols = [table.c[name] for name in returning]
    stmt = _insert(dialect, table).on_conflict_do_nothing(
        index_elements=list(conflict), index_where=conflict_where
    )
    # One statement with a list of parameter sets: SQLAlchemy's "insertmanyvalues" sends
    # multi-row INSERTs of CHUNK_ROWS rows from a statement compiled once and cached, rather
    # than compiling a new VALUES list of thousands of bind parameters for every chunk.
    stmt = stmt.returning(*cols).execution_options(insertmanyvalues_page_size=CHUNK_ROWS)
    result = await session.execute(stmt, list(rows))
    return list(result.all())


async def insert_ignore(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
) -> None:
    """Insert ``rows``, silently keeping existing rows with the same ``conflict`` key."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = _insert(dialect, table).on_conflict_do_nothing(index_elements=list(conflict))
    await session.execute(stmt, list(rows))


async def insert_ignore_keys(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *, conflict: str
) -> set[Any]:
    """Insert ``rows`` skipping clashes on the unique column ``conflict``; return inserted keys.

    The bulk path of ingest (see ``_bulk``). Rows must not repeat a ``conflict`` value. On
    SQLite the keys already stored are read first: the transaction holds the database's
    write lock from its start (``BEGIN IMMEDIATE``), so none can appear in between.
    """
    if not rows:
        return set()
    key = table.c[conflict]
    if _dialect(session) == "postgresql":
        pg = postgresql.insert(table).on_conflict_do_nothing(index_elements=[conflict])
        result = await _bulk(session, table, rows, pg.returning(key))
        return set(result.scalars().all()) if result is not None else set()
    wanted = [r[conflict] for r in rows]
    stored: set[Any] = set()
    for i in range(0, len(wanted), SQLITE_PARAMS):
        part = wanted[i : i + SQLITE_PARAMS]
        stored.update((await session.scalars(select(key).where(key.in_(part)))).all())
    fresh = [r for r in rows if r[conflict] not in stored]
    lite = sqlite.insert(table).on_conflict_do_nothing(index_elements=[conflict])
    await _bulk(session, table, fresh, lite)
    return {r[conflict] for r in fresh}


async def upsert_accumulate(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    add: Sequence[str],
    greatest: Sequence[str] = (),
    least: Sequence[str] = (),
) -> None:
    """Insert ``rows``; on a ``key`` clash add the ``add`` columns and keep extremes.

    Rows must not repeat a key, and should be sorted by it so that concurrent writers lock
    in the same order.
    """
    if not rows:
        return
    dialect = _dialect(session)
    fn_max, fn_min = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    stmt = _insert(dialect, table)
    excluded = stmt.excluded
    updates: dict[str, Any] = {c: table.c[c] + excluded[c] for c in add}
    for c in greatest:
        updates[c] = getattr(func, fn_max)(table.c[c], excluded[c])
    for c in least:
        updates[c] = getattr(func, fn_min)(table.c[c], excluded[c])
    await _bulk(session, table, rows, stmt.on_conflict_do_update(index_elements=list(key),
                                                                 set_=updates))  # fmt: skip


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _bulk(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], stmt: Any
) -> CursorResult[Any] | None:
    """Run the INSERT ``stmt`` (with its ON CONFLICT / RETURNING) for all ``rows`` at once.

    PostgreSQL: one statement, one array per column (``INSERT … SELECT … FROM unnest(…)``),
    one set of parameters. SQLite: the driver's executemany of the compiled statement. Both
    skip SQLAlchemy's per-row parameter handling, which cost more than the database's work;
    values are still converted by each column's own type, so they are stored as the ORM
    would store them.
    """
    if not rows:
        return None
    dialect = session.get_bind().dialect
    cols = [table.c[name] for name in rows[0]]
    conn = await session.connection()
    if dialect.name == "postgresql":
        # The arrays' item types convert each value; JSON goes as text, serialised here.
        params = {f"bulk_{c.name}": _converted(c, [r[c.name] for r in rows], dialect)
                  if _is_json(c, dialect) else [r[c.name] for r in rows] for c in cols}  # fmt: skip
        stmt = stmt.from_select([c.name for c in cols], _unnest(cols, dialect))
        result: CursorResult[Any] = await conn.execute(stmt, params)
        return result
    values = [_converted(col, [r[col.name] for r in rows], dialect) for col in cols]
    compiled = stmt.values({c.name: bindparam(c.name) for c in cols}).compile(dialect=dialect)
    order = [cols.index(table.c[name]) for name in compiled.positiontup]
    batch = [tuple(row[i] for i in order) for row in zip(*values, strict=True)]
    return await conn.exec_driver_sql(str(compiled), batch)


def _converted(col: Column[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    convert = col.type.dialect_impl(dialect).bind_processor(dialect)
    return [convert(v) for v in values] if convert else values


def _is_json(col: Column[Any], dialect: Dialect) -> bool:
    return isinstance(col.type.dialect_impl(dialect), JSON)


def _unnest(cols: Sequence[Column[Any]], dialect: Dialect) -> Select[Any]:
    """``SELECT … FROM unnest(:bulk_a, :bulk_b, …)``: one array parameter per column.

    JSON goes as text and is cast back in SQL.
    """
    arrays = [bindparam(f"bulk_{c.name}",
                        type_=postgresql.ARRAY(Text() if _is_json(c, dialect) else c.type))
              for c in cols]  # fmt: skip
    source = func.unnest(*arrays).table_valued(*[c.name for c in cols]).render_derived()
    picks = [cast(source.c[c.name], c.type) if _is_json(c, dialect) else source.c[c.name]
             for c in cols]  # fmt: skip
    return select(*picks)
