"""Tier limits API."""

from __future__ import annotations

from fastapi import APIRouter, Path

from nexus_crm.api.deps import API_PREFIX, AdminKey, ReadKey, Sessions
from nexus_crm.db import transaction
from nexus_crm.tiers import service
from nexus_crm.tiers.schemas import TierIn, TierOut

# A tier's name is a path segment and a label: printable, no line breaks.
TIER_NAME = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029/]+$"
router = APIRouter(prefix=API_PREFIX, tags=["tiers"])


@router.get("/tiers", response_model=list[TierOut])
async def get_tiers(_: ReadKey, sessions: Sessions) -> list[TierOut]:
    """Monthly limits and prices of every tier, cheapest first."""
    async with transaction(sessions) as session:
        return await service.list_tiers(session)


@router.put(
    "/tiers/{tier}",
    response_model=TierOut,
    responses={
        404: {"description": "no tier in the path: a tier name holds no '/'"},
        409: {"description": "rank taken"},
    },
)
async def put_tier(
    key: AdminKey,
    sessions: Sessions,
    data: TierIn,
    tier: str = Path(max_length=32, pattern=TIER_NAME, description="printable, no '/'"),
) -> TierOut:
    """Set a tier's monthly limits, price and rank (admin scope; audited)."""
    async with transaction(sessions) as session:
        return await service.put_tier(session, tier=tier, data=data, actor=key.actor)
