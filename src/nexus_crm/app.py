"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm import __version__
from nexus_crm.alerts import AlertPolicy, run_scheduler
from nexus_crm.api import DOCUMENTED_BODIES, ROUTERS, WEBHOOK_PATHS, NexusAPI
from nexus_crm.api.errors import install_error_handlers
from nexus_crm.audit import SourceIpMiddleware, record_settings_change
from nexus_crm.closer import auto_upsell_hook, run_worker
from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.ingest import EventWriter, IngestGate, TierNames
from nexus_crm.mcp import mount_mcp
from nexus_crm.ops import LatencyMiddleware, Metrics
from nexus_crm.privacy import run_retention
from nexus_crm.realtime.service import open_realtime
from nexus_crm.security import (
    API_BODY_BYTES,
    PROBE_PATHS,
    BodyLimitMiddleware,
    IpRateLimitMiddleware,
    NulGuardMiddleware,
    RateLimiter,
    SecurityHeadersMiddleware,
    install_log_redaction,
)
from nexus_crm.settings import Settings
from nexus_crm.wiring import domain_routes

log = logging.getLogger("nexus_crm.app")


def _start_scheduler(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> asyncio.Task[None] | None:
    """The alert scheduler task (None when ALERT_EVALUATION_INTERVAL_SECONDS is 0)."""
    interval = settings.alert_evaluation_interval_seconds
    if interval <= 0:
        return None
    policy = AlertPolicy.from_settings(settings)
    after = auto_upsell_hook(settings, sessions)
    return asyncio.create_task(run_scheduler(sessions, policy, interval, after=after))


def _start_upsell_worker(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> asyncio.Task[None] | None:
    """The upsell sequence worker (None when UPSELL_WORKER_INTERVAL_SECONDS is 0)."""
    interval = settings.upsell_worker_interval_seconds
    if interval <= 0:
        return None
    return asyncio.create_task(run_worker(sessions, settings, interval))


def _start_retention(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> asyncio.Task[None] | None:
    """The raw-event retention task (None when RAW_EVENT_RETENTION_DAYS is 0)."""
    days = settings.raw_event_retention_days
    return asyncio.create_task(run_retention(sessions, days)) if days > 0 else None


async def _audit_settings(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Record changed settings in the audit trail (skipped while the database is unusable)."""
    try:
        async with transaction(sessions) as session:
            await record_settings_change(session, settings)
    except (DBAPIError, OSError) as exc:  # unreachable or not migrated: /readyz says so
        log.warning("settings not audited at startup: %s", type(exc).__name__)


async def _stop(tasks: list[asyncio.Task[None] | None]) -> None:
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _mount_dashboard(app: FastAPI, settings: Settings) -> None:
    """The dashboard, imported only when enabled (NiceGUI: ~24 MB an API-only process skips)."""
    if settings.dashboard_enabled:
        from nexus_crm.dashboard import mount_dashboard

        mount_dashboard(app, settings)


def create_served_app() -> FastAPI:
    """The app as ``nexus-crm serve`` runs it: what building it loaded is exempt from GC.

    A full collection walks every tracked object, and a built app holds ~200,000 (FastAPI,
    SQLAlchemy, pydantic, NumPy; ~235,000 with the dashboard): under load each took 50-120 ms,
    holding every request. Frozen, they are never walked again (they live as long as the
    process does anyway).
    """
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


@asynccontextmanager
async def _background(
    app: FastAPI, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """The event writer and the periodic tasks, started for the app's life."""
    app.state.tier_names = TierNames(sessions)
    app.state.event_writer = writer = EventWriter(sessions, settings)
    writer.start()
    tasks = [
        _start_scheduler(settings, sessions),
        _start_upsell_worker(settings, sessions),
        _start_retention(settings, sessions),
    ]
    try:
        yield
    finally:
        await writer.stop()  # what is queued is stored before the bus closes
        await _stop(tasks)


@asynccontextmanager
async def _lifespan(app: FastAPI, *, settings: Settings) -> AsyncIterator[None]:
    """Open the database engine, realtime and background work; close them on shutdown."""
    engine = create_engine(settings)
    app.state.engine = engine
    routes = domain_routes(settings)  # the live stream's listeners join them below
    app.state.sessions = sessions = create_sessionmaker(engine, routes=routes)
    await _audit_settings(settings, sessions)
    realtime = open_realtime(settings, sessions, routes)
    try:
        async with realtime as live:
            app.state.bus, app.state.kpi_ticker = live.bus, live.ticker
            async with _background(app, settings, sessions):
                yield
    finally:
        await engine.dispose()
        await app.state.rate_limiter.aclose()


def _add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """The middleware stack; the order matters (each one added wraps those added before)."""
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=min(settings.max_body_bytes, API_BODY_BYTES),
        max_depth=settings.max_json_depth,
        skip=WEBHOOK_PATHS,
    )
    app.add_middleware(IpRateLimitMiddleware, skip=WEBHOOK_PATHS | PROBE_PATHS)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(SourceIpMiddleware)
    # Outside the latency histogram (a refusal is counted in nexus_events_rejected_total, not
    # as an "unmatched" route) and as early as can be: a refusal must cost next to nothing.
    app.add_middleware(
        IngestGate, paths=WEBHOOK_PATHS, limit=settings.ingest_max_in_progress, metrics=metrics
    )
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)


def _add_routes(app: FastAPI, settings: Settings) -> None:
    """The REST routers, then the MCP endpoint, then the dashboard."""
    for router in ROUTERS:
        app.include_router(router)
    mount_mcp(app, settings)  # before the dashboard's catch-all mount at /
    _mount_dashboard(app, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan opens the database engine and closes it on shutdown."""
    settings = settings or Settings()
    install_log_redaction()  # credentials never reach a log line (uvicorn prints ?api_key=…)
    metrics = Metrics()
    app = NexusAPI(
        title="NexusCRM agent-usage API",
        version=__version__,
        description="GENESIS usage ingestion, analytics and alerts for the NGX team.",
        lifespan=partial(_lifespan, settings=settings),
        # A path with a trailing slash is not another spelling of a resource: redirecting
        # ``/alerts/`` (an empty or ``%2F`` id) to the alert list answered a list for an id.
        redirect_slashes=False,
    )
    app.raw_bodies = DOCUMENTED_BODIES
    app.state.settings = settings
    app.state.metrics = metrics
    limiter = RateLimiter.from_settings(settings, on_reject=metrics.count_rate_limited)
    app.state.rate_limiter = limiter
    install_error_handlers(app)
    _add_middleware(app, settings, metrics)
    _add_routes(app, settings)
    return app
