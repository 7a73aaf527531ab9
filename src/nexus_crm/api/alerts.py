"""Alerts API: list and read (read scope), lifecycle actions (write scope)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from nexus_crm.alerts import service
from nexus_crm.alerts.schemas import AlertList, AlertOut, AlertType, StatusFilter, TransitionIn
from nexus_crm.api.deps import API_PREFIX, ReadKey, Sessions, WriteKey
from nexus_crm.api.openapi import freeze, thaw
from nexus_crm.api.routing import add_post
from nexus_crm.db import transaction
from nexus_crm.errors import InvalidInput
from nexus_crm.kit.time import utcnow

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])
AlertId = Annotated[uuid.UUID, Path(description="the alert's id")]
ERRORS: Mapping[int | str, Any] = freeze({404: {}, 409: {}, 422: {}})


@router.get("/alerts", response_model=AlertList)
async def get_alerts(
    _: ReadKey,
    sessions: Sessions,
    status: StatusFilter = StatusFilter.OPEN,
    alert_type: Annotated[AlertType | None, Query(alias="type")] = None,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    include_snoozed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    """Alerts newest first, each with its history; by default the open, unsnoozed ones."""
    async with transaction(sessions) as session:
        alerts = await service.list_alerts(
            session,
            status=status,
            alert_type=alert_type.value if alert_type else None,
            user_id=user_id,
            include_snoozed=include_snoozed,
            limit=limit,
            now=utcnow(),
        )
    return AlertList(count=len(alerts), alerts=alerts)


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses={404: {}})
async def get_alert(_: ReadKey, sessions: Sessions, alert_id: AlertId) -> AlertOut:
    """One alert with the figures behind it and every transition."""
    async with transaction(sessions) as session:
        return await service.get_alert(session, alert_id=alert_id)


Action = Callable[..., Awaitable[AlertOut]]


async def _act(
    action: Action,
    key: WriteKey,
    sessions: Sessions,
    alert_id: uuid.UUID,
    body: TransitionIn | None,
    **extra: Any,
) -> AlertOut:
    body = body or TransitionIn()
    async with transaction(sessions) as session:  # the change reaches the stream after commit
        return await action(
            session,
            alert_id=alert_id,
            actor=key.actor,
            now=utcnow(),
            note=body.note,
            **extra,
        )


def _no_until(body: TransitionIn | None) -> TransitionIn | None:
    if body is not None and body.until is not None:
        raise InvalidInput("until applies to snooze only", field="until")
    return body


def _add_action(name: str, action: Action, doc: str) -> None:
    """Add the route ``POST /alerts/{alert_id}/<name>``: ``action`` with a note, no ``until``."""

    async def route(
        key: WriteKey,
        sessions: Sessions,
        alert_id: AlertId,
        body: TransitionIn | None = None,
    ) -> AlertOut:
        return await _act(action, key, sessions, alert_id, _no_until(body))

    path = f"/alerts/{{alert_id}}/{name}"
    add_post(
        router, path, route, name=name, doc=doc, response_model=AlertOut, responses=thaw(ERRORS)
    )


_add_action(
    "acknowledge",
    service.acknowledge_alert,
    "Acknowledge an active alert (active → acknowledged), with an optional note.",
)
_add_action(
    "resolve",
    service.resolve_alert,
    "Resolve an open alert; it is raised again if its condition still holds later.",
)
_add_action(
    "dismiss",
    service.dismiss_alert,
    "Dismiss an open alert; it is not raised again in the same period.",
)


@router.post("/alerts/{alert_id}/snooze", response_model=AlertOut, responses=thaw(ERRORS))
async def snooze(
    key: WriteKey,
    sessions: Sessions,
    alert_id: AlertId,
    body: TransitionIn | None = None,
) -> AlertOut:
    """Hide an open alert from the default list until body.until (at most 30 days ahead)."""
    until = body.until if body else None
    return await _act(service.snooze_alert, key, sessions, alert_id, body, until=until)
