"""Privacy API (GDPR/CCPA): a customer's data export and erasure (admin scope; audited)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from nexus_crm.api.deps import API_PREFIX, AdminKey, AppSettings, Sessions
from nexus_crm.api.openapi import freeze, thaw
from nexus_crm.db import run_transaction, transaction
from nexus_crm.errors import ErrorBody
from nexus_crm.kit.time import utcnow
from nexus_crm.privacy import service, stream_export
from nexus_crm.privacy.schemas import ErasureResult

router = APIRouter(prefix=API_PREFIX, tags=["privacy"])
UserId = Path(min_length=1, max_length=128, examples=["cliente_123"])
EXPORT_DOC: Mapping[int | str, Any] = freeze(
    {
        200: {
            "description": "everything stored about the customer; raw events stream last",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        404: {"model": ErrorBody, "description": "nothing is stored about this customer"},
    }
)


@router.get(
    "/privacy/{user_id:path}/export", response_class=StreamingResponse, responses=thaw(EXPORT_DOC)
)
async def export_customer(
    principal: AdminKey, sessions: Sessions, user_id: str = UserId
) -> StreamingResponse:
    """Everything stored about a customer as one JSON document (admin scope; audited)."""
    async with transaction(sessions) as session:
        await service.begin_export(session, user_id=user_id, actor=principal.actor)
    body = stream_export(sessions, user_id=user_id, exported_at=utcnow())
    disposition = {"content-disposition": 'attachment; filename="customer-export.json"'}
    return StreamingResponse(body, media_type="application/json", headers=disposition)


@router.delete(
    "/privacy/{user_id:path}",
    response_model=ErasureResult,
    responses={404: {"model": ErrorBody, "description": "unknown and never erased"}},
)
async def erase_customer(
    principal: AdminKey, sessions: Sessions, settings: AppSettings, user_id: str = UserId
) -> ErasureResult:
    """Erase a customer's personal data and raw events; keep anonymous totals (idempotent)."""
    work = partial(
        service.erase_customer,
        user_id=user_id,
        key=service.erasure_key(settings),
        actor=principal.actor,
        now=utcnow(),
    )
    return await run_transaction(sessions, work)  # re-run on a deadlock with another writer
