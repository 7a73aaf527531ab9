"""Read API: insights, patterns and customer usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from nexus_crm.analytics import (
    PATTERNS_MAX_LIMIT,
    ChurnConfig,
    Patterns,
    UpgradeOpportunities,
    UpgradePolicy,
    find_upgrade_opportunities,
    service,
)
from nexus_crm.analytics import get_patterns as find_patterns
from nexus_crm.analytics.schemas import CustomerUsage, Insights
from nexus_crm.api.deps import API_PREFIX
from nexus_crm.api.reading import Read
from nexus_crm.db import transaction

router = APIRouter(prefix=API_PREFIX, tags=["analytics"])


@router.get("/insights", response_model=Insights)
async def get_insights(
    read: Read, days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 7
) -> Insights:
    """Totals, per agent and per tier over the last N days; vs the N before; week over week."""
    async with transaction(read.sessions) as session:
        return await service.get_insights(
            session, days=days, today=read.today, timezone=read.settings.timezone
        )


@router.get("/patterns", response_model=Patterns)
async def get_patterns(
    read: Read,
    days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 30,
    limit: Annotated[int, Query(ge=1, le=PATTERNS_MAX_LIMIT)] = 10,
) -> Patterns:
    """Trends, weekday/hour seasonality, agent mix per tier, customer cohorts, top customers."""
    tz = read.settings.tz
    async with transaction(read.sessions) as session:
        return await find_patterns(session, days=days, today=read.today, tz=tz, limit=limit)


@router.get("/customers/{user_id:path}", response_model=CustomerUsage, responses={404: {}})
async def get_customer(
    read: Read, user_id: Annotated[str, Path(min_length=1, max_length=128)]
) -> CustomerUsage:
    """A customer's tier, billing-period usage against limits, daily series and churn risk."""
    async with transaction(read.sessions) as session:
        return await service.get_customer_usage(
            session,
            user_id=user_id,
            today=read.today,
            tz=read.settings.tz,
            churn=ChurnConfig.from_settings(read.settings),
        )


@router.get("/upgrade-opportunities", response_model=UpgradeOpportunities)
async def get_upgrade_opportunities(
    read: Read, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> UpgradeOpportunities:
    """Customers projected to outgrow their tier this period, with tier, revenue, confidence."""
    today, policy = read.today, UpgradePolicy(threshold_pct=read.settings.upgrade_projection_pct)
    async with transaction(read.sessions) as session:
        found = await find_upgrade_opportunities(session, today=today, policy=policy, limit=limit)
    return UpgradeOpportunities(
        as_of=today,
        threshold_percentage=policy.threshold_pct,
        count=len(found),
        opportunities=found,
    )
