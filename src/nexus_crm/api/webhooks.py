"""The GENESIS webhooks: usage events and subscription updates (signed, no API key)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect

from nexus_crm.alerts.service import publish_changes
from nexus_crm.api.deps import API_PREFIX, Alerts, AppMetrics, AppSettings, Sessions
from nexus_crm.customers.schemas import SubscriptionIn, SubscriptionResult
from nexus_crm.db import run_transaction
from nexus_crm.errors import ClientDisconnected, InvalidInput, NexusError, PayloadTooLarge
from nexus_crm.ingest import (
    AfterCommit,
    EventWriter,
    TierNames,
    check_events_payload,
    secret_id,
    service,
)
from nexus_crm.ingest.schemas import EventBatchIn, IngestResult, UsageEventIn
from nexus_crm.ingest.service import IngestOutcome
from nexus_crm.kit.time import utcnow
from nexus_crm.realtime import Bus
from nexus_crm.realtime.service import usage_message
from nexus_crm.security import check_json_depth, hit_client_ip, limiter_of, verify_signer
from nexus_crm.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["ingest"])
# Limited per signing secret, not per client address (GENESIS sends from few addresses).
WEBHOOK_PATHS = frozenset({f"{API_PREFIX}/events", f"{API_PREFIX}/subscriptions"})
WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "bad signature"},
    413: {},
    422: {},
    429: {"description": "over the signing secret's rate limit"},
    503: {"description": "overloaded or database unavailable; retry after Retry-After"},
}
# Webhook bodies are read as bytes (the signature covers the exact bytes), so FastAPI does not
# see their models; the app adds these to the OpenAPI components.
DOCUMENTED_BODIES = (UsageEventIn, EventBatchIn, SubscriptionIn)

SIGNED = {
    "security": [],
    "parameters": [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
        for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ],
}


def _body_doc(*models: type[Any]) -> dict[str, Any]:
    schemas = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything over ``limit`` bytes before buffering it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes", field="body")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body is larger than {limit} bytes", field="body")
            chunks.append(chunk)
    except ClientDisconnect:  # gone mid-body: an expected failure, nothing to store
        raise ClientDisconnected(
            "client disconnected before the body was complete", field="body"
        ) from None
    return b"".join(chunks)


async def _verified(request: Request, settings: Settings) -> tuple[bytes, str, int]:
    """The body, webhook-id and signing key's index; a failure counts against the address."""
    try:
        body = await _read_body(request, settings.max_body_bytes)
        msg_id, signer = verify_signer(
            request.headers,
            body,
            settings.webhook_keys,
            now=utcnow(),
            tolerance_s=settings.webhook_tolerance_seconds,
        )
    except NexusError:
        await hit_client_ip(request)  # brute force: refused (429) once over the address's limit
        raise
    return body, msg_id, signer


async def _signed_json(request: Request, settings: Settings, *, events: bool) -> tuple[str, Any]:
    """Size-check, verify, decode and rate-limit a webhook; return its webhook-id and JSON."""
    body, msg_id, signer = await _verified(request, settings)
    payload = service.parse_json(body)
    check_json_depth(body, settings.max_json_depth)
    cost = check_events_payload(payload, body_bytes=len(body), settings=settings) if events else 1
    secret = secret_id(settings.webhook_keys[signer])
    await limiter_of(request.scope).hit("webhook", secret, cost=cost)
    return msg_id, payload


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


async def _ingest(request: Request, settings: Settings) -> IngestResult:
    msg_id, payload = await _signed_json(request, settings, events=True)
    received_at = utcnow()
    rows = await _rows(request, settings, payload, msg_id, received_at)
    writer: EventWriter = request.app.state.event_writer
    return (await writer.submit(rows, received_at)).result


def publish_stored(app: Any) -> AfterCommit:
    """What the event writer does after each commit: publish alerts and the usage message."""

    async def publish(outcome: IngestOutcome) -> None:
        publish_changes(app.state.alert_publisher, outcome.alerts)
        usage = usage_message(outcome.inserted)  # duplicates were not inserted: not re-published
        if usage is not None:
            bus: Bus = app.state.bus
            await bus.publish([usage])

    return publish


@router.post(
    "/events",
    response_model=IngestResult,
    response_model_exclude_none=True,
    openapi_extra={**SIGNED, **_body_doc(UsageEventIn, EventBatchIn)},
    responses=WEBHOOK_RESPONSES,
)
async def post_events(request: Request, settings: AppSettings, metrics: AppMetrics) -> IngestResult:
    """Store one usage event or a batch of up to 10,000, idempotently on event_id."""
    try:
        result = await _ingest(request, settings)
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
    openapi_extra={**SIGNED, **_body_doc(SubscriptionIn)},
    responses=WEBHOOK_RESPONSES,
)
async def post_subscription(
    request: Request, settings: AppSettings, sessions: Sessions, alerts: Alerts
) -> SubscriptionResult:
    """Record a customer's subscription tier and status as GENESIS reports it."""
    _, payload = await _signed_json(request, settings, events=False)
    work = partial(
        service.record_subscription, payload=payload, settings=settings, received_at=utcnow()
    )
    result, changes = await run_transaction(sessions, work)
    publish_changes(alerts, changes)
    return result
