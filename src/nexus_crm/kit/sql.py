"""Dialect-specific SQL, one function each, so services stay portable.

SQLite (3.35+) and PostgreSQL both support ``INSERT … ON CONFLICT`` and ``RETURNING``; the
functions here build those statements with each dialect's insert construct.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# Rows per statement: keeps bind parameters under both databases' 32,766 limit.
CHUNK_ROWS = 1000


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect: {dialect}")


def _chunks(rows: Sequence[Mapping[str, Any]]) -> Iterable[Sequence[Mapping[str, Any]]]:
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


async def insert_ignore_returning(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str],
) -> list[Row[Any]]:
    """Insert ``rows``, skip those that hit the ``conflict`` unique key, return the inserted."""
    dialect = session.get_bind().dialect.name
    cols = [table.c[name] for name in returning]
    inserted: list[Row[Any]] = []
    for chunk in _chunks(rows):
        stmt = _insert(dialect, table).values(list(chunk))
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict)).returning(*cols)
        inserted.extend((await session.execute(stmt)).all())
    return inserted


async def insert_ignore(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
) -> None:
    """Insert ``rows``, silently keeping existing rows with the same ``conflict`` key."""
    dialect = session.get_bind().dialect.name
    for chunk in _chunks(rows):
        stmt = _insert(dialect, table).values(list(chunk))
        await session.execute(stmt.on_conflict_do_nothing(index_elements=list(conflict)))


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
    dialect = session.get_bind().dialect.name
    fn_max, fn_min = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    for chunk in _chunks(rows):
        stmt = _insert(dialect, table).values(list(chunk))
        excluded = stmt.excluded
        updates: dict[str, Any] = {c: table.c[c] + excluded[c] for c in add}
        for c in greatest:
            updates[c] = getattr(func, fn_max)(table.c[c], excluded[c])
        for c in least:
            updates[c] = getattr(func, fn_min)(table.c[c], excluded[c])
        await session.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=updates))
