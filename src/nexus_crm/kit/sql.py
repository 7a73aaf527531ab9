"""Dialect-specific SQL, one function each, so services stay portable.

SQLite (3.35+) and PostgreSQL both support ``INSERT … ON CONFLICT`` and ``RETURNING``; the
functions here build those statements with each dialect's insert construct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# Rows per multi-row INSERT of a bulk insert; SQLAlchemy also keeps each statement under the
# database's bind-parameter limit (32,766 on SQLite, 32,767 on PostgreSQL).
CHUNK_ROWS = 1000


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

    Rows should be sorted by ``key`` so that concurrent writers lock in the same order.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    fn_max, fn_min = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    stmt = _insert(dialect, table)
    excluded = stmt.excluded
    updates: dict[str, Any] = {c: table.c[c] + excluded[c] for c in add}
    for c in greatest:
        updates[c] = getattr(func, fn_max)(table.c[c], excluded[c])
    for c in least:
        updates[c] = getattr(func, fn_min)(table.c[c], excluded[c])
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=updates)
    await session.execute(stmt, list(rows))  # executemany: compiled once, rows in order
