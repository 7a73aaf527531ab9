"""The GENESIS webhooks: usage events and subscription updates (signed, no API key)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from nexus_crm.api.deps import (
    API_PREFIX,
    AppMetrics,
    AppSettings,
    Sessions,
    get_metrics,
)
from nexus_crm.api.openapi import freeze, thaw
from nexus_crm.customers.schemas import SubscriptionIn, SubscriptionResult
from nexus_crm.db import run_transaction
from nexus_crm.errors import InvalidInput, NexusError
from nexus_crm.ingest import EventWriter, TierNames, check_events_payload, service
from nexus_crm.ingest.schemas import EventBatchIn, IngestResult, UsageEventIn
from nexus_crm.kit.time import utcnow
from nexus_crm.security import SignedWebhook, VerifiedWebhook
from nexus_crm.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["ingest"])
# Limited per signing secret, not per client address (GENESIS sends from few addresses).
WEBHOOK_PATHS = frozenset({f"{API_PREFIX}/events", f"{API_PREFIX}/subscriptions"})
WEBHOOK_RESPONSES: Mapping[int | str, Any] = freeze(
    {
        401: {"description": "bad signature"},
        413: {},
        422: {},
        429: {"description": "over the signing secret's rate limit"},
        503: {"description": "overloaded or database unavailable; retry after Retry-After"},
    }
)
# Webhook bodies are read as bytes (the signature covers the exact bytes), so FastAPI does not
# see their models; the app adds these to the OpenAPI components.
DOCUMENTED_BODIES = (UsageEventIn, EventBatchIn, SubscriptionIn)

SIGNED: Mapping[str, Any] = freeze(
    {
        "security": [],
        "parameters": [
            {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
            for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
    }
)


def _body_doc(*models: type[Any]) -> dict[str, Any]:
    schemas = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _count_rejected(request: Request, exc: NexusError) -> None:
    get_metrics(request).events_rejected.labels(exc.code).inc()


# The events route counts every refusal in nexus_events_rejected_total, the checks' too.
SignedEvents = Annotated[
    VerifiedWebhook, Depends(SignedWebhook(service.parse_json, on_reject=_count_rejected))
]
SignedSubscription = Annotated[VerifiedWebhook, Depends(SignedWebhook(service.parse_json))]


async def _rows(
    request: Request, settings: Settings, payload: Any, msg_id: str, received_at: datetime
) -> list[dict[str, Any]]:
    """Validate the payload against the cached tier names (fresh ones before refusing)."""
    names: TierNames = request.app.state.tier_names
    rows_of = partial(
        service.payload_rows, payload, webhook_id=msg_id, settings=settings, received_at=received_at
    )
    try:
        return rows_of(tiers=await names.get())
    except InvalidInput:
        return rows_of(tiers=await names.refresh())


async def _ingest(request: Request, settings: Settings, webhook: VerifiedWebhook) -> IngestResult:
    payload = webhook.payload
    cost = check_events_payload(payload, body_bytes=len(webhook.body), settings=settings)
    await webhook.charge(cost)  # the signing secret's rate limit counts events
    received_at = utcnow()
    rows = await _rows(request, settings, payload, webhook.webhook_id, received_at)
    writer: EventWriter = request.app.state.event_writer
    return (await writer.submit(rows, received_at)).result


@router.post(
    "/events",
    response_model=IngestResult,
    response_model_exclude_none=True,
    openapi_extra={**thaw(SIGNED), **_body_doc(UsageEventIn, EventBatchIn)},
    responses=thaw(WEBHOOK_RESPONSES),
)
async def post_events(
    request: Request, settings: AppSettings, metrics: AppMetrics, webhook: SignedEvents
) -> IngestResult:
    """Store one usage event or a batch of up to 10,000, idempotently on event_id."""
    try:
        result = await _ingest(request, settings, webhook)
    except NexusError as exc:
        metrics.events_rejected.labels(exc.code).inc()
        raise
    metrics.events_accepted.inc(result.accepted)
    metrics.events_duplicate.inc(result.duplicates)
    metrics.events_suppressed.inc(result.suppressed or 0)
    return result


@router.post(
    "/subscriptions",
    response_model=SubscriptionResult,
    response_model_exclude_none=True,
    openapi_extra={**thaw(SIGNED), **_body_doc(SubscriptionIn)},
    responses=thaw(WEBHOOK_RESPONSES),
)
async def post_subscription(
    settings: AppSettings, sessions: Sessions, webhook: SignedSubscription
) -> SubscriptionResult:
    """Record a customer's subscription tier and status as GENESIS reports it."""
    await webhook.charge()
    work = partial(
        service.record_subscription,
        payload=webhook.payload,
        settings=settings,
        received_at=utcnow(),
    )
    return await run_transaction(sessions, work)
