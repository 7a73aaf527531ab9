"""FastAPI dependencies: settings, sessions, metrics, auth (API key, JWT or dashboard session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.errors import Forbidden, Unauthorized
from nexus_crm.kit.time import utcnow
from nexus_crm.ops import Metrics
from nexus_crm.security import (
    COOKIE_NAME,
    LoginThrottle,
    Principal,
    Scope,
    authenticate_access,
    authenticate_session,
    enforce_rate_limit,
    key_principal,
    same_origin,
)
from nexus_crm.security.service import KEY_PREFIX, authenticate
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


def login_throttle(app: FastAPI) -> LoginThrottle:
    """The app's failed-login counter, shared by the dashboard form and the token route."""
    throttle: LoginThrottle | None = getattr(app.state, "login_throttle", None)
    if throttle is None:
        settings: Settings = app.state.settings
        throttle = LoginThrottle(
            limit=settings.login_max_failures, window_seconds=settings.login_failure_window_seconds
        )
        app.state.login_throttle = throttle
    return throttle


def throttle_keys(request: Request, email: str) -> list[str]:
    """The throttle's keys of a login attempt: the email and the client address."""
    client = request.client.host if request.client else "unknown"
    return [f"email:{email.strip().lower()}", f"ip:{client}"]


# FastAPI runs a plain ``def`` dependency in a worker thread (a thread hop per dependency per
# request, measured at ~12 % of a single event's cost): these read app state, so they are async.
async def _settings(request: Request) -> Settings:
    return get_settings(request)


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return get_sessions(request)


async def _metrics(request: Request) -> Metrics:
    return get_metrics(request)


AppSettings = Annotated[Settings, Depends(_settings)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key or an access token as 'Authorization: Bearer <...>'")
    return token.strip()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _session_principal(request: Request, token: str, scope: Scope) -> Principal:
    settings = get_settings(request)
    async with transaction(get_sessions(request)) as session:
        principal = await authenticate_session(
            session, secret=settings.session_secret, token=token, needed=scope, now=utcnow()
        )
    if request.method not in SAFE_METHODS and not same_origin(request.headers):
        raise Forbidden("a dashboard session may change data only from a same-origin page")
    return principal


async def _bearer_principal(request: Request, token: str, scope: Scope) -> Principal:
    """An API key (``ncrm_…``) or else a user's access JWT."""
    async with transaction(get_sessions(request)) as session:
        if not token.startswith(KEY_PREFIX):
            settings = get_settings(request)
            return await authenticate_access(session, settings=settings, token=token, needed=scope)
        key = await authenticate(session, token, scope)
    request.state.api_key = key
    return key_principal(key)


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits an API key, access JWT or dashboard session granting ``scope``.

    A request with an ``Authorization`` header is judged by its key or token alone; the
    session cookie counts only without one.
    """

    async def _check(request: Request) -> Principal:
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie and "authorization" not in request.headers:
            principal = await _session_principal(request, cookie, scope)
        else:
            principal = await _bearer_principal(request, _bearer(request), scope)
        request.state.principal = principal
        await enforce_rate_limit(request, principal)
        return principal

    return _check


ReadKey = Annotated[Principal, Depends(require(Scope.READ))]
WriteKey = Annotated[Principal, Depends(require(Scope.WRITE))]
AdminKey = Annotated[Principal, Depends(require(Scope.ADMIN))]
