"""All SQL for dashboard users."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import DashboardUser


async def add_user(session: AsyncSession, user: DashboardUser) -> DashboardUser:
    """Store a new user row."""
    session.add(user)
    await session.flush()
    return user


async def get_by_email(session: AsyncSession, email: str) -> DashboardUser | None:
    """The user with this (normalised) email."""
    return await session.scalar(select(DashboardUser).where(DashboardUser.email == email))


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> DashboardUser | None:
    """The user with this id."""
    return await session.get(DashboardUser, user_id)


async def list_users(session: AsyncSession) -> Sequence[DashboardUser]:
    """Every user, oldest first."""
    stmt = select(DashboardUser).order_by(DashboardUser.created_at, DashboardUser.email)
    return (await session.scalars(stmt)).all()


async def next_token_generation(
    session: AsyncSession, user_id: uuid.UUID, *, expected: int | None = None
) -> int | None:
    """Move the user's refresh-token generation on atomically; the new value.

    With ``expected``, only from that generation (compare-and-set): None when it had moved.
    """
    stmt = update(DashboardUser).where(DashboardUser.id == user_id)
    if expected is not None:
        stmt = stmt.where(DashboardUser.token_generation == expected)
    stmt = stmt.values(token_generation=DashboardUser.token_generation + 1)
    returning = stmt.returning(DashboardUser.token_generation)
    new: int | None = await session.scalar(returning.execution_options(synchronize_session=False))
    return new
