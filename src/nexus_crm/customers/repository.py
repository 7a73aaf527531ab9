"""All SQL of customer and subscription state: customer rows and their change history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.sql import insert_ignore_returning
from nexus_crm.models import Customer, SubscriptionChange

CUSTOMER_TABLE = cast(Table, Customer.__table__)


async def existing_customers(session: AsyncSession, user_ids: Sequence[str]) -> set[str]:
    """Which of ``user_ids`` already have a customer row (no lock taken)."""
    stmt = select(Customer.user_id).where(Customer.user_id.in_(list(user_ids)))
    return set((await session.scalars(stmt)).all())


async def lock_customers(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, Customer]:
    """Load customers for update (row locks on PostgreSQL), in a fixed order."""
    if not user_ids:
        return {}
    stmt = (
        select(Customer)
        .where(Customer.user_id.in_(sorted(user_ids)))
        .order_by(Customer.user_id)
        .with_for_update()
    )
    return {c.user_id: c for c in (await session.scalars(stmt)).all()}


async def create_customers(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert customers that do not exist yet; return the user ids this call created."""
    created = await insert_ignore_returning(
        session,
        CUSTOMER_TABLE,
        rows,
        conflict=("user_id",),
        returning=("user_id",),
    )
    return {r.user_id for r in created}


async def state_at(session: AsyncSession, user_id: str, at: datetime) -> SubscriptionChange | None:
    """The latest recorded change of ``user_id`` at or before ``at``."""
    stmt = (
        select(SubscriptionChange)
        .where(SubscriptionChange.user_id == user_id, SubscriptionChange.changed_at <= at)
        .order_by(SubscriptionChange.changed_at.desc(), SubscriptionChange.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def change_exists(
    session: AsyncSession, user_id: str, at: datetime, state: tuple[str, str]
) -> bool:
    """Whether ``user_id`` has a recorded change into ``state`` (tier, status) at ``at``."""
    stmt = select(SubscriptionChange.id).where(
        SubscriptionChange.user_id == user_id,
        SubscriptionChange.changed_at == at,
        SubscriptionChange.to_tier == state[0],
        SubscriptionChange.to_status == state[1],
    )
    return (await session.scalar(stmt.limit(1))) is not None


async def add_changes(session: AsyncSession, changes: Sequence[SubscriptionChange]) -> None:
    """Record subscription changes."""
    session.add_all(changes)
    await session.flush()
