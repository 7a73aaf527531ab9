"""Read API: business metrics (conversion, revenue opportunity, CLV, churn mix, forecasts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nexus_crm.analytics import service
from nexus_crm.api.deps import API_PREFIX
from nexus_crm.api.reading import Read
from nexus_crm.business import service as business
from nexus_crm.business.schemas import BusinessMetrics
from nexus_crm.db import transaction

# Tagged with the analytics routes, where the OpenAPI has always listed it.
router = APIRouter(prefix=API_PREFIX, tags=["analytics"])


@router.get("/business-metrics", response_model=BusinessMetrics)
async def get_business_metrics(
    read: Read,
    days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> BusinessMetrics:
    """Conversion per tier, revenue opportunity, agent performance, CLV, churn, forecasts."""
    settings = read.settings
    policy = business.BusinessPolicy.from_settings(settings)
    async with transaction(read.sessions) as session:
        return await business.get_business_metrics(
            session,
            days=days,
            today=read.today,
            now=read.now,
            tz=settings.tz,
            limit=limit,
            policy=policy,
        )
