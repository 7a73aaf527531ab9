"""Mount the dashboard on the API's FastAPI app (``ui.run_with``), once per process."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from nicegui import app as nicegui_app
from nicegui import ui
from starlette.routing import Match, Mount

from nexus_crm.api import API_PREFIX
from nexus_crm.dashboard.alerts_page import AlertsPage
from nexus_crm.dashboard.auth import router as auth_router
from nexus_crm.dashboard.business import BusinessPage
from nexus_crm.dashboard.customer import CustomerPage
from nexus_crm.dashboard.layout import PageContext, open_page
from nexus_crm.dashboard.live import LiveView
from nexus_crm.dashboard.mailbox_page import register_mailbox_page
from nexus_crm.errors import MethodNotAllowed, NotFound
from nexus_crm.settings import Settings

log = logging.getLogger("nexus_crm.dashboard")


def register_pages(app: FastAPI) -> None:
    """Declare the pages; each reads the data of ``app`` (the API's app)."""
    _register_live_pages(app)
    _register_report_pages(app)
    register_mailbox_page(app)


def _register_live_pages(app: FastAPI) -> None:
    @ui.page("/", title="NexusCRM · Live")
    async def live_page(request: Request) -> Response | None:
        """Live: today's KPIs, agents, tiers, alerts and activity."""
        ctx = await open_page(app, request)
        if not isinstance(ctx, PageContext):
            return ctx
        view = LiveView(ctx)
        with ui.column().classes("w-full gap-4 p-2"):
            await view.build()
        view.start(app)
        return None

    @ui.page("/customers/{user_id:path}", title="NexusCRM · Customer")
    async def customer_page(request: Request, user_id: str) -> Response | None:
        """Customer: usage vs limit, daily use by agent, churn, CLV, alerts, upsell."""
        ctx = await open_page(app, request)
        if not isinstance(ctx, PageContext):
            return ctx
        with ui.column().classes("w-full gap-4 p-2"):
            view = CustomerPage(ctx, user_id)
            await view.refresh()
        view.start(app)
        return None


def _register_report_pages(app: FastAPI) -> None:
    @ui.page("/alerts", title="NexusCRM · Alerts")
    async def alerts_page(request: Request) -> Response | None:
        """Alerts: filter, select, acknowledge / resolve / dismiss in bulk."""
        ctx = await open_page(app, request)
        if not isinstance(ctx, PageContext):
            return ctx
        view = AlertsPage(ctx, request.query_params)
        with ui.column().classes("w-full gap-4 p-2"):
            await view.build()
        view.start(app)
        return None

    @ui.page("/business", title="NexusCRM · Business")
    async def business_page(request: Request) -> Response | None:
        """Business: conversion, revenue opportunity, agents, CLV, churn, forecasts."""
        ctx = await open_page(app, request)
        if not isinstance(ctx, PageContext):
            return ctx
        with ui.column().classes("w-full gap-4 p-2"):
            BusinessPage(ctx).start()
        return None


API_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _api_not_found(request: Request, path: str) -> None:
    """The JSON 404 (or 405 for a known path) of an API path the dashboard would answer."""
    allowed = _allowed_methods(request)
    if allowed:
        raise MethodNotAllowed(
            f"{request.method} is not served on {API_PREFIX}/{path}", allow=allowed
        )
    raise NotFound(f"no API route {API_PREFIX}/{path}")


def _allowed_methods(request: Request) -> list[str]:
    """The methods the API serves on this request's path (none: an unknown path)."""
    routes = [
        r
        for r in request.app.router.routes
        if not isinstance(r, Mount) and getattr(r, "endpoint", None) is not _api_not_found
    ]
    return [
        method
        for method in API_METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def _claim_nicegui(app: FastAPI) -> None:
    """Record ``app`` as the dashboard's host on NiceGUI's app, refusing a second one."""
    # NiceGUI's state is process-global, so the record lives on its (process-global) app.
    if getattr(nicegui_app.state, "nexus_crm_host", None) is not None:
        raise RuntimeError(
            "the dashboard is already mounted on another app in this process (NiceGUI keeps "
            "global state); set DASHBOARD_ENABLED=false for additional apps"
        )
    nicegui_app.state.nexus_crm_host = app


def mount_dashboard(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from ``app`` when DASHBOARD_ENABLED (at most one app per process)."""
    if not settings.dashboard_enabled:
        return
    _claim_nicegui(app)
    app.include_router(auth_router)
    # Under the dashboard's catch-all mount, unknown API paths still get the JSON error.
    app.add_api_route(
        f"{API_PREFIX}/{{path:path}}",
        _api_not_found,
        methods=list(API_METHODS),
        include_in_schema=False,
    )
    register_pages(app)
    ui.run_with(
        app,
        title="NexusCRM",
        favicon="📊",
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
    log.info("dashboard mounted at /")
