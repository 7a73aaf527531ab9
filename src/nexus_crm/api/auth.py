"""JWTs for users' scripts: ``POST /agent-usage/auth/token`` and ``POST /agent-usage/auth/refresh``.

Both are public (they are how a caller gets credentials). Failed logins count against the
same per-email and per-IP throttle as the dashboard's login form (LOGIN_MAX_FAILURES per
LOGIN_FAILURE_WINDOW_SECONDS): over it the answer is 429 with ``Retry-After``, without
checking the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fastapi import APIRouter, Request, Response

from nexus_crm.api.deps import API_PREFIX, AppSettings, Sessions, login_throttle, throttle_keys
from nexus_crm.api.openapi import freeze, thaw
from nexus_crm.db import transaction
from nexus_crm.errors import TooManyRequests, Unauthorized
from nexus_crm.kit.time import utcnow
from nexus_crm.security import TokenPair, issue_tokens, refresh_tokens
from nexus_crm.security.schemas import RefreshRequest, TokenOut, TokenRequest

router = APIRouter(prefix=API_PREFIX, tags=["auth"])
PUBLIC: Mapping[str, Any] = freeze({"security": []})  # no credential: these routes issue them
BAD_LOGIN = "wrong email or password, or the user is disabled"
NO_STORE: Mapping[str, str] = MappingProxyType(
    {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
)


def _answer(pair: TokenPair, response: Response) -> TokenOut:
    response.headers.update(NO_STORE)
    return TokenOut(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
        scopes=pair.scopes,
    )


@router.post(
    "/auth/token",
    response_model=TokenOut,
    openapi_extra=thaw(PUBLIC),
    responses={401: {"description": "wrong credentials"}, 429: {"description": "throttled"}},
)
async def create_token(
    body: TokenRequest,
    request: Request,
    response: Response,
    sessions: Sessions,
    settings: AppSettings,
) -> TokenOut:
    """Exchange a dashboard user's email and password for a short-lived JWT pair (audited)."""
    keys, throttle = throttle_keys(request, body.email), login_throttle(request.app)
    wait = throttle.retry_after(keys)
    if wait:
        raise TooManyRequests(f"too many failed logins: retry in {wait} s", retry_after=wait)
    async with transaction(sessions) as session:
        pair = await issue_tokens(
            session, settings=settings, email=body.email, password=body.password, now=utcnow()
        )
    if pair is None:
        throttle.failed(keys)
        raise Unauthorized(BAD_LOGIN)
    throttle.succeeded(keys[0])
    return _answer(pair, response)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    openapi_extra=thaw(PUBLIC),
    responses={401: {"description": "expired, used, revoked or invalid refresh token"}},
)
async def refresh_token(
    body: RefreshRequest, response: Response, sessions: Sessions, settings: AppSettings
) -> TokenOut:
    """Exchange a refresh token (it then stops working) for a new JWT pair (audited)."""
    async with transaction(sessions) as session:
        pair = await refresh_tokens(
            session, settings=settings, refresh_token=body.refresh_token, now=utcnow()
        )
    return _answer(pair, response)
