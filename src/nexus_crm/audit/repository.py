"""All SQL for the audit trail: insert and filtered reads, never update or delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import AuditEntry


async def add(session: AsyncSession, entry: AuditEntry) -> None:
    """Insert one row (flushed with the caller's transaction)."""
    session.add(entry)
    await session.flush()


async def add_many(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows in one statement."""
    if rows:
        await session.execute(insert(cast(Table, AuditEntry.__table__)), list(rows))


async def search(
    session: AsyncSession,
    *,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[AuditEntry]:
    """Rows matching every given filter, newest first (``action`` ending in ``.`` = prefix)."""
    query = select(AuditEntry)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        if action.endswith("."):
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
