"""Audit trail API: read-only, admin scope (no route edits or deletes a row)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from nexus_crm.api.deps import API_PREFIX, AdminKey, Sessions
from nexus_crm.audit import service
from nexus_crm.audit.schemas import AuditList
from nexus_crm.db import transaction

router = APIRouter(prefix=API_PREFIX, tags=["audit"])
Text = Annotated[str | None, Query(min_length=1, max_length=300)]


@router.get("/audit", response_model=AuditList, responses={422: {}})
async def get_audit(
    _: AdminKey,
    sessions: Sessions,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    action: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="exact, or a prefix ending in '.'"),
    ] = None,
    target: Text = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601 with offset")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601 with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """Audit rows newest first, filtered by actor, action (or 'area.' prefix), target and time."""
    async with transaction(sessions) as session:
        entries = await service.search_audit(
            session,
            actor=actor,
            action=action,
            target=target,
            since=since,
            until=until,
            limit=limit,
        )
    return AuditList(count=len(entries), entries=entries)
