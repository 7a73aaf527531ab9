"""FastAPI dependencies: settings, sessions, metrics and API-key auth, as Annotated types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.service import AlertPublisher
from nexus_crm.db import transaction
from nexus_crm.errors import Unauthorized
from nexus_crm.models import ApiKey
from nexus_crm.ops.metrics import Metrics
from nexus_crm.security.scopes import Scope
from nexus_crm.security.service import authenticate
from nexus_crm.settings import Settings

API_PREFIX = "/agent-usage"


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's session factory (routes open their own transaction with it)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_alert_publisher(request: Request) -> AlertPublisher:
    """The app's in-process publisher of new and changed alerts."""
    publisher: AlertPublisher = request.app.state.alert_publisher
    return publisher


AppSettings = Annotated[Settings, Depends(get_settings)]
Alerts = Annotated[AlertPublisher, Depends(get_alert_publisher)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return token.strip()


def require(scope: Scope) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency that admits only API keys granting ``scope``."""

    async def _check(request: Request) -> ApiKey:
        token = _bearer(request)
        async with transaction(get_sessions(request)) as session:
            key = await authenticate(session, token, scope)
        request.state.api_key = key
        return key

    return _check


ReadKey = Annotated[ApiKey, Depends(require(Scope.READ))]
WriteKey = Annotated[ApiKey, Depends(require(Scope.WRITE))]
AdminKey = Annotated[ApiKey, Depends(require(Scope.ADMIN))]
