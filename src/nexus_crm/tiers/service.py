"""Tier limits: read and edit; the billing-period usage percentage lives in analytics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit.service import record
from nexus_crm.errors import Conflict, InvalidInput
from nexus_crm.kit.time import utcnow
from nexus_crm.models import UsageTierLimit
from nexus_crm.tiers import repository as repo
from nexus_crm.tiers.schemas import TierIn, TierOut

TIER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


def to_out(row: UsageTierLimit) -> TierOut:
    """API view of a tier row (price in currency units)."""
    return TierOut(
        tier=row.tier,
        display_name=row.display_name,
        rank=row.rank,
        monthly_tokens=row.monthly_tokens,
        monthly_interactions=row.monthly_interactions,
        monthly_price=Decimal(row.monthly_price_cents) / 100,
        currency=row.currency,
        updated_at=row.updated_at,
    )


async def list_tiers(session: AsyncSession) -> list[TierOut]:
    """Every tier, cheapest first."""
    return [to_out(t) for t in await repo.list_tiers(session)]


async def tier_rows(session: AsyncSession) -> Sequence[UsageTierLimit]:
    """Every tier's row (limits, price, rank), cheapest first, for other domains' rules."""
    return await repo.list_tiers(session)


async def tier_row(session: AsyncSession, tier: str) -> UsageTierLimit | None:
    """One tier's row by name (None when no such tier)."""
    return await repo.get_tier(session, tier)


async def put_tier(session: AsyncSession, *, tier: str, data: TierIn, actor: str) -> TierOut:
    """Replace a tier's limits and price (creating it if new; audited); ranks stay unique."""
    name = tier.strip().lower()
    if not re.fullmatch(TIER_NAME_PATTERN, name):
        raise InvalidInput("tier names are lowercase letters, digits, - and _", field="tier")
    holder = await repo.tier_with_rank(session, data.rank)
    if holder is not None and holder.tier != name:
        raise Conflict(f"rank {data.rank} belongs to tier {holder.tier!r}", field="rank")
    row = await repo.get_tier(session, name, lock=True)
    before = None if row is None else to_out(row).model_dump(mode="json")
    row = row or UsageTierLimit(tier=name)
    row.display_name = data.display_name
    row.rank = data.rank
    row.monthly_tokens = data.monthly_tokens
    row.monthly_interactions = data.monthly_interactions
    row.monthly_price_cents = int(data.monthly_price * 100)
    row.currency = data.currency
    row.updated_at = utcnow()
    after = to_out(await repo.save_tier(session, row))
    details = {"before": before, "after": after.model_dump(mode="json")}
    await record(session, actor=actor, action="tier.update", target=f"tier:{name}", details=details)
    return after
