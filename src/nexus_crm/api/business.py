"""Read API: business metrics (conversion, revenue opportunity, CLV, churn mix, forecasts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nexus_crm.analytics import service
from nexus_crm.api.deps import API_PREFIX, AppSettings, ReadKey, Sessions
from nexus_crm.business import service as business
from nexus_crm.business.schemas import BusinessMetrics
from nexus_crm.db import transaction
from nexus_crm.kit.time import local_day, utcnow

# Tagged with the analytics routes, where the OpenAPI has always listed it.
router = APIRouter(prefix=API_PREFIX, tags=["analytics"])


@router.get("/business-metrics", response_model=BusinessMetrics)
async def get_business_metrics(
    _: ReadKey,
    sessions: Sessions,
    settings: AppSettings,
    days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> BusinessMetrics:
    """Conversion per tier, revenue opportunity, agent performance, CLV, churn, forecasts."""
    now = utcnow()
    policy = business.BusinessPolicy.from_settings(settings)
    async with transaction(sessions) as session:
        return await business.get_business_metrics(
            session,
            days=days,
            today=local_day(now, settings.tz),
            now=now,
            tz=settings.tz,
            limit=limit,
            policy=policy,
        )
