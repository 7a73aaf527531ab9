"""All SQL for tier limits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import UsageTierLimit


async def list_tiers(session: AsyncSession) -> Sequence[UsageTierLimit]:
    """All tiers by rank."""
    return (await session.scalars(select(UsageTierLimit).order_by(UsageTierLimit.rank))).all()


async def get_tier(
    session: AsyncSession, tier: str, *, lock: bool = False
) -> UsageTierLimit | None:
    """One tier by name."""
    stmt = select(UsageTierLimit).where(UsageTierLimit.tier == tier)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def tier_with_rank(session: AsyncSession, rank: int) -> UsageTierLimit | None:
    """The tier holding ``rank``, if any."""
    return await session.scalar(select(UsageTierLimit).where(UsageTierLimit.rank == rank))


async def save_tier(session: AsyncSession, row: UsageTierLimit) -> UsageTierLimit:
    """Insert or update a tier row."""
    session.add(row)
    await session.flush()
    return row
