"""Read API: customers ranked by churn probability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics.churn import service
from nexus_crm.analytics.churn.schemas import ChurnRisks
from nexus_crm.api.deps import API_PREFIX
from nexus_crm.api.reading import Read
from nexus_crm.db import transaction

router = APIRouter(prefix=API_PREFIX, tags=["analytics"])


@router.get("/churn-risks", response_model=ChurnRisks)
async def get_churn_risks(
    read: Read, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> ChurnRisks:
    """Active customers by churn probability (next 30 days), with top drivers, tier and CLV."""
    async with transaction(read.sessions) as session:
        return await service.list_churn_risks(
            session,
            as_of=read.today,
            tz=read.settings.tz,
            config=ChurnConfig.from_settings(read.settings),
            limit=limit,
        )
