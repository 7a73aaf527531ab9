"""Read API: customers ranked by churn probability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics.churn import service
from nexus_crm.analytics.churn.schemas import ChurnRisks
from nexus_crm.api.deps import API_PREFIX, AppSettings, ReadKey, Sessions
from nexus_crm.db import transaction
from nexus_crm.kit.time import local_day, utcnow

router = APIRouter(prefix=API_PREFIX, tags=["analytics"])


@router.get("/churn-risks", response_model=ChurnRisks)
async def get_churn_risks(
    _: ReadKey,
    sessions: Sessions,
    settings: AppSettings,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> ChurnRisks:
    """Active customers by churn probability (next 30 days), with top drivers, tier and CLV."""
    today = local_day(utcnow(), settings.tz)
    async with transaction(sessions) as session:
        return await service.list_churn_risks(
            session,
            as_of=today,
            tz=settings.tz,
            config=ChurnConfig.from_settings(settings),
            limit=limit,
        )
