"""Health, readiness and metrics endpoints (no ``/agent-usage`` prefix, no auth)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from nexus_crm import __version__
from nexus_crm.api.deps import AppMetrics, Sessions
from nexus_crm.ops.service import check_database

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "the database is not ready"}})
async def readyz(sessions: Sessions) -> JSONResponse:
    """Readiness: the database answers and its schema is at the latest migration."""
    problem = await check_database(sessions)
    if problem:
        body = {"error": "not_ready", "status": "unavailable", "detail": problem}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(m: AppMetrics) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
