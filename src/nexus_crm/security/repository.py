"""All SQL for API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import ApiKey


async def add_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    """Store a new key row."""
    session.add(key)
    await session.flush()
    return key


async def get_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    """The key with this hash, revoked or not."""
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """Every key, oldest first."""
    return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()


def _match(ident: str) -> ColumnElement[bool]:
    try:
        return or_(ApiKey.prefix == ident, ApiKey.id == uuid.UUID(ident))
    except ValueError:
        return ApiKey.prefix == ident


async def revoke(session: AsyncSession, ident: str, at: datetime) -> int:
    """Revoke the live key whose id or prefix is ``ident``; return how many were revoked."""
    stmt = update(ApiKey).where(_match(ident), ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
