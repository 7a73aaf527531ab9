"""Dialect-specific SQL, one function each, so services stay portable.

SQLite (3.35+) and PostgreSQL both support ``INSERT … ON CONFLICT`` and ``RETURNING``; the
functions here build those statements with each dialect's insert construct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    CursorResult,
    Row,
    Select,
    String,
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
    check_lengths(table, rows)
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
    check_lengths(table, rows)
    dialect = session.get_bind().dialect.name
    stmt = _insert(dialect, table).on_conflict_do_nothing(index_elements=list(conflict))
    await session.execute(stmt, list(rows))


@dataclass(frozen=True)
class OnConflict:
    """What a bulk insert does on a clash of ``key``: skip the row, or accumulate into it.

    Skipping (no ``add``/``greatest``/``least``) returns the inserted keys on PostgreSQL.
    """

    key: tuple[str, ...]
    add: tuple[str, ...] = ()
    greatest: tuple[str, ...] = ()
    least: tuple[str, ...] = ()

    @property
    def ignore(self) -> bool:
        """Whether clashing rows are skipped (and inserted keys returned)."""
        return not (self.add or self.greatest or self.least)


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
    how = OnConflict(key=(conflict,))
    if _dialect(session) == "postgresql":
        result = await _bulk(session, table, rows, how)
        return set(result.scalars().all()) if result is not None else set()
    key = table.c[conflict]
    wanted = [r[conflict] for r in rows]
    stored: set[Any] = set()
    for i in range(0, len(wanted), SQLITE_PARAMS):
        part = wanted[i : i + SQLITE_PARAMS]
        stored.update((await session.scalars(select(key).where(key.in_(part)))).all())
    fresh = [r for r in rows if r[conflict] not in stored]
    await _bulk(session, table, fresh, how)
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
    how = OnConflict(key=tuple(key), add=tuple(add), greatest=tuple(greatest), least=tuple(least))
    await _bulk(session, table, rows, how)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _bulk(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], how: OnConflict
) -> CursorResult[Any] | None:
    """Insert all ``rows`` at once, doing ``how`` on a clash.

    PostgreSQL: one statement, one array per column (``INSERT … SELECT … FROM unnest(…)``).
    SQLite: the driver's executemany. The SQL is compiled once per shape and sent as is, and
    values are converted by each column's own type (stored as the ORM would store them):
    SQLAlchemy's per-statement and per-row work cost more than the database's own.
    """
    if not rows:
        return None
    dialect = session.get_bind().dialect
    names = tuple(rows[0])
    check_lengths(table, rows)
    sql, order = _bulk_sql(dialect, table, names, how)
    values = [_converted(table.c[n], [r[n] for r in rows], dialect) for n in names]
    conn = await session.connection()
    if dialect.name == "postgresql":
        return await conn.exec_driver_sql(sql, tuple(values[i] for i in order))
    batch = [tuple(row[i] for i in order) for row in zip(*values, strict=True)]
    return await conn.exec_driver_sql(sql, batch)


class ValueTooLong(ValueError):
    """A value longer than its column allows; ``column`` names it (never truncated)."""

    def __init__(self, column: str, limit: int, index: int) -> None:
        super().__init__(f"{column} is longer than {limit} characters (row {index})")
        self.column, self.limit, self.index = column, limit, index


def _bounded(table: Table) -> list[tuple[str, int]]:
    """The columns of ``table`` with a maximum length, and that length."""
    out = []
    for col in table.c:
        if isinstance(col.type, String) and col.type.length is not None:
            out.append((col.name, col.type.length))
    return out


def _longest(values: list[Any]) -> int:
    try:
        return max(map(len, values), default=0)  # strings only: C speed
    except TypeError:  # None among them
        return max((len(v) for v in values if isinstance(v, str)), default=0)


def check_lengths(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (:class:`ValueTooLong`) any string longer than its ``VARCHAR(n)`` column.

    PostgreSQL would refuse it, SQLite would store it whole: both refuse it here, the same.
    """
    for name, limit in _bounded(table):
        if not rows or name not in rows[0]:
            continue
        values = [row[name] for row in rows]
        if _longest(values) > limit:
            index = next(i for i, v in enumerate(values) if isinstance(v, str) and len(v) > limit)
            raise ValueTooLong(name, limit, index)


@lru_cache(maxsize=64)
def _bulk_sql(
    dialect: Dialect, table: Table, names: tuple[str, ...], how: OnConflict
) -> tuple[str, tuple[int, ...]]:
    """The SQL of a bulk insert of columns ``names``, and each parameter's column index."""
    stmt = _insert(dialect.name, table)
    if how.ignore:
        key = how.key[0]
        stmt = stmt.on_conflict_do_nothing(index_elements=list(how.key))
        stmt = stmt.returning(table.c[key]) if dialect.name == "postgresql" else stmt
    else:
        updates = _accumulated(dialect.name, stmt, table, how)
        stmt = stmt.on_conflict_do_update(index_elements=list(how.key), set_=updates)
    cols = [table.c[n] for n in names]
    if dialect.name == "postgresql":
        stmt = stmt.from_select(list(names), _unnest(cols, dialect))
        prefix = "bulk_"
    else:
        stmt = stmt.values({n: bindparam(n) for n in names})
        prefix = ""
    compiled = stmt.compile(dialect=dialect)
    order = tuple(names.index(p.removeprefix(prefix)) for p in compiled.positiontup or ())
    return str(compiled), order


def _accumulated(dialect: str, stmt: Any, table: Table, how: OnConflict) -> dict[str, Any]:
    """The SET of an accumulating upsert: sums and extremes of the stored and new values."""
    fn_max, fn_min = ("greatest", "least") if dialect == "postgresql" else ("max", "min")
    excluded = stmt.excluded
    updates: dict[str, Any] = {c: table.c[c] + excluded[c] for c in how.add}
    for c in how.greatest:
        updates[c] = getattr(func, fn_max)(table.c[c], excluded[c])
    for c in how.least:
        updates[c] = getattr(func, fn_min)(table.c[c], excluded[c])
    return updates


def _converted(col: Column[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    convert = col.type.dialect_impl(dialect).bind_processor(dialect)
    return [convert(v) for v in values] if convert else values


def _is_json(col: Column[Any], dialect: Dialect) -> bool:
    return isinstance(col.type.dialect_impl(dialect), JSON)


def _element(col: Column[Any], dialect: Dialect) -> Any:
    """The array element type of a column: never a bounded string.

    An explicit cast to ``VARCHAR(n)`` truncates silently, where the INSERT's own
    assignment to the column refuses an over-long value; lengths are checked before anyway.
    """
    if _is_json(col, dialect):
        return Text()
    if isinstance(col.type, String) and col.type.length is not None:
        return String()
    return col.type


def _unnest(cols: Sequence[Column[Any]], dialect: Dialect) -> Select[Any]:
    """``SELECT … FROM unnest(:bulk_a, :bulk_b, …)``: one array parameter per column.

    JSON goes as text (``_converted`` serialises it) and is cast back in SQL.
    """
    arrays = [
        bindparam(f"bulk_{c.name}", type_=postgresql.ARRAY(_element(c, dialect))) for c in cols
    ]
    source = func.unnest(*arrays).table_valued(*[c.name for c in cols]).render_derived()
    picks = [
        cast(source.c[c.name], c.type) if _is_json(c, dialect) else source.c[c.name] for c in cols
    ]
    return select(*picks)
