"""Upsell sequences API (NGX_Closer): start (write), list and read (read), cancel, replied."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from nexus_crm.api.deps import API_PREFIX, AppSettings, ReadKey, Sessions, WriteKey
from nexus_crm.api.openapi import freeze, thaw
from nexus_crm.api.routing import add_post
from nexus_crm.closer import service
from nexus_crm.closer.schemas import (
    NoteIn,
    SequenceIn,
    SequenceList,
    SequenceOut,
    SequenceStatus,
    StartResult,
)
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow

router = APIRouter(prefix=API_PREFIX, tags=["upsell"])
SequenceId = Annotated[uuid.UUID, Path(description="the sequence's id")]
ERRORS: Mapping[int | str, Any] = freeze({404: {}, 409: {}, 422: {}})


@router.post(
    "/upsell-sequences",
    response_model=StartResult,
    status_code=201,
    responses={200: {"model": StartResult, "description": "already active"}, **thaw(ERRORS)},
)
async def start(
    key: WriteKey, sessions: Sessions, settings: AppSettings, body: SequenceIn, response: Response
) -> StartResult:
    """Start an upsell sequence for a customer; answers the active one if there is one (200)."""
    by, plan = service.Starter(actor=key.actor), service.SequencePlan.from_settings(settings)
    async with transaction(sessions) as session:
        result = await service.start_sequence(
            session,
            user_id=body.user_id,
            recommended_tier=body.recommended_tier,
            reason=body.reason,
            by=by,
            now=utcnow(),
            plan=plan,
        )
    if not result.created:
        response.status_code = 200
    return result


@router.get("/upsell-sequences", response_model=SequenceList)
async def list_sequences(
    _: ReadKey,
    sessions: Sessions,
    status: SequenceStatus | None = None,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SequenceList:
    """Upsell sequences newest first, with their steps; filter by status or customer."""
    async with transaction(sessions) as session:
        found = await service.list_sequences(session, status=status, user_id=user_id, limit=limit)
    return SequenceList(count=len(found), sequences=found)


@router.get("/upsell-sequences/{sequence_id}", response_model=SequenceOut, responses={404: {}})
async def get_sequence(_: ReadKey, sessions: Sessions, sequence_id: SequenceId) -> SequenceOut:
    """One upsell sequence with its steps and audit trail."""
    async with transaction(sessions) as session:
        return await service.get_sequence(session, sequence_id=sequence_id)


def _add_ending(action: str, to: Literal["cancelled", "replied"], doc: str) -> None:
    """Add the route ``POST /upsell-sequences/{sequence_id}/<action>`` that ends a sequence."""

    async def route(
        key: WriteKey, sessions: Sessions, sequence_id: SequenceId, body: NoteIn | None = None
    ) -> SequenceOut:
        async with transaction(sessions) as session:
            return await service.end_sequence(
                session,
                sequence_id=sequence_id,
                to=to,
                actor=key.actor,
                now=utcnow(),
                note=body.note if body else None,
            )

    path = f"/upsell-sequences/{{sequence_id}}/{action}"
    add_post(
        router,
        path,
        route,
        name=action,
        doc=doc,
        response_model=SequenceOut,
        responses=thaw(ERRORS),
    )


_add_ending(
    "cancel",
    "cancelled",
    "Cancel an active sequence; steps not yet sent are skipped (409 if not active).",
)
_add_ending(
    "replied", "replied", "Record the customer's reply: the sequence stops (409 if not active)."
)
