"""The authorization matrix: every route × {none, expired, revoked, wrong scope, right scope}.

Every operation of the OpenAPI schema, plus the WebSocket ``/agent-usage/ws`` and ``/mcp``
(outside the schema), is called with no credential, dead credentials (forged, expired and
revoked API keys, JWTs and session cookies), each API-key scope, each role's JWT and each
role's session cookie, and must answer as ``NEEDS`` documents: 401, 403, or (allowed)
2xx / 404 (no such thing) / 409 / 422 (bad body). A route without a rule fails the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute, Route, WebSocketRoute

from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import ApiKey
from nexus_crm.security import tokens, users
from nexus_crm.security import user_repository as user_repo
from nexus_crm.security.principals import (
    ROLE_SCOPES,
    Principal,
    scopes_for_role,
    session_scopes_for_role,
)
from nexus_crm.security.scopes import Scope, grants
from nexus_crm.security.service import revoke_api_key
from nexus_crm.security.sessions import COOKIE_NAME, issue_session
from nexus_crm.settings import Settings
from tests.conftest import MakeKey

# Public on purpose: operations (health, metrics), the signed webhooks (their signature is
# the credential), and the two endpoints that hand out JWTs.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/agent-usage/events"),
    ("POST", "/agent-usage/subscriptions"),
    ("POST", "/agent-usage/auth/token"),
    ("POST", "/agent-usage/auth/refresh"),
}
# route → the weakest scope that may call it
NEEDS = {
    ("GET", "/agent-usage/tiers"): "read",
    ("PUT", "/agent-usage/tiers/{tier}"): "admin",
    ("GET", "/agent-usage/insights"): "read",
    ("GET", "/agent-usage/patterns"): "read",
    ("GET", "/agent-usage/customers/{user_id}"): "read",
    ("GET", "/agent-usage/churn-risks"): "read",
    ("GET", "/agent-usage/upgrade-opportunities"): "read",
    ("GET", "/agent-usage/business-metrics"): "read",
    ("GET", "/agent-usage/alerts"): "read",
    ("GET", "/agent-usage/alerts/{alert_id}"): "read",
    ("POST", "/agent-usage/alerts/{alert_id}/acknowledge"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/resolve"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/dismiss"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/snooze"): "write",
    ("POST", "/agent-usage/upsell-sequences"): "write",
    ("GET", "/agent-usage/upsell-sequences"): "read",
    ("GET", "/agent-usage/upsell-sequences/{sequence_id}"): "read",
    ("POST", "/agent-usage/upsell-sequences/{sequence_id}/cancel"): "write",
    ("POST", "/agent-usage/upsell-sequences/{sequence_id}/replied"): "write",
    ("GET", "/agent-usage/audit"): "admin",
    ("GET", "/agent-usage/privacy/{user_id}/export"): "admin",
    ("DELETE", "/agent-usage/privacy/{user_id}"): "admin",
}
# outside the OpenAPI schema
WS_PATH, MCP_PATH = "/agent-usage/ws", "/mcp"
OTHER_NEEDS = {WS_PATH: "read", MCP_PATH: "read"}
SCHEMA_DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

ALLOWED = {200, 201, 202, 204, 404, 409, 422}  # past auth: done, no such thing, or bad body
UNKNOWN_ID = "0191e7a0-0000-7000-8000-000000000000"
TIER_BODY = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 1,
    "monthly_interactions": 1,
    "monthly_price": "1",
}
PASSWORD = "matrix-password"
MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "matrix", "version": "0"},
    },
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation in the OpenAPI schema that is not public."""
    paths = app.openapi()["paths"]
    ops = ((m.upper(), p) for p, methods in paths.items() for m in methods)
    return sorted(op for op in ops if op not in PUBLIC)


def _flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        yield from _flat(inner.routes) if inner is not None else (route,)


def other_routes(app: FastAPI) -> set[str]:
    """WebSockets and plain ASGI routes: what the OpenAPI schema does not show."""
    found = set()
    for route in _flat(app.routes):
        plain = type(route) is Route and route.path not in SCHEMA_DOCS
        if isinstance(route, WebSocketRoute) or plain or "WebSocket" in type(route).__name__:
            found.add(getattr(route, "path", repr(route)))
    return found


def url_of(path: str) -> str:
    """``path`` with its placeholders filled in with values that name nothing."""
    fills = {"{tier}": "pro", "{user_id}": "nobody", "{alert_id}": UNKNOWN_ID}
    fills["{sequence_id}"] = UNKNOWN_ID
    for placeholder, value in fills.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"add a placeholder value for {path}"
    return path


def bearer(credential: str | None) -> dict[str, str]:
    """The Authorization header of an API key or JWT (none for None)."""
    return {"Authorization": f"Bearer {credential}"} if credential else {}


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    """Call one route with ``headers`` (and a valid body where one is needed)."""
    body = TIER_BODY if method == "PUT" else None
    return await client.request(method, url_of(path), json=body, headers=headers)


def judge(resp: httpx.Response, allowed: bool, who: str) -> None:
    """A granted call gets past auth; a refused one gets 403 in the one error shape."""
    where = (resp.request.method, resp.request.url.path, who, resp.text[:200])
    if allowed:
        assert resp.status_code in ALLOWED, where
    else:
        assert resp.status_code == 403, where
        assert resp.json()["error"] == "forbidden", where


def judge_dead(resp: httpx.Response, who: str) -> None:
    """No, forged, expired or revoked credentials: 401 naming the Bearer scheme."""
    where = (resp.request.method, resp.request.url.path, who, resp.text[:200])
    assert resp.status_code == 401, where
    assert resp.headers["www-authenticate"] == "Bearer", where
    assert resp.json()["error"] == "unauthorized", where


# --------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------


@dataclass
class Credentials:
    """Live and dead credentials of every kind."""

    keys: dict[str, str] = field(default_factory=dict)  # scope → live API key
    jwts: dict[str, str] = field(default_factory=dict)  # role → live access token
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # role → headers
    dead: dict[str, dict[str, str]] = field(default_factory=dict)  # what → headers

    def granted(self) -> Iterator[tuple[str, dict[str, str], frozenset[Scope]]]:
        """(who, headers, scopes held) of every live credential."""
        for scope, key in self.keys.items():
            yield f"key:{scope}", bearer(key), frozenset({Scope(scope)})
        for role, token in self.jwts.items():
            yield f"jwt:{role}", bearer(token), scopes_for_role(role)
        for role, headers in self.cookies.items():
            yield f"cookie:{role}", headers, session_scopes_for_role(role)


async def new_user(sessions: async_sessionmaker[AsyncSession], role: str) -> str:
    """A dashboard user with ``role``; its email."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@ngx.mx"
    async with transaction(sessions) as session:
        await users.create_user(session, email=email, password=PASSWORD, role=role)
    return email


async def access_token(client: httpx.AsyncClient, email: str) -> str:
    """A JWT from ``POST /agent-usage/auth/token``."""
    resp = await client.post("/agent-usage/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


async def session_cookie(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, email: str, *, age: int = 0
) -> dict[str, str]:
    """The Cookie and same-origin headers of ``email``'s session, issued ``age`` s ago."""
    async with transaction(sessions) as session:
        user = await user_repo.get_by_email(session, email)
    assert user is not None
    token = issue_session(
        settings.session_secret,
        user_id=user.id,
        epoch=user.session_epoch,
        now=utcnow() - timedelta(seconds=age),
        max_age=600,
    )
    return {"Cookie": f"{COOKIE_NAME}={token}", "Origin": "http://test"}


async def dead_keys(
    make_key: MakeKey, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    """A forged and a revoked (admin) API key."""
    revoked = await make_key("admin")
    async with transaction(sessions) as session:
        await revoke_api_key(session, revoked.split("_")[1])
    return {"forged key": "ncrm_00000000_forged", "revoked key": revoked}


async def dead_jwts(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, str]:
    """Admin JWTs that must not work: expired, after a password change, forged, refresh."""
    expired_user, changed_user = (
        await new_user(sessions, "admin"),
        await new_user(sessions, "admin"),
    )
    async with transaction(sessions) as session:
        expired = await tokens.issue_tokens(
            session,
            settings=settings,
            email=expired_user,
            password=PASSWORD,
            now=utcnow() - timedelta(seconds=settings.jwt_access_ttl_seconds + 1),
        )
    assert expired is not None
    revoked = await access_token(client, changed_user)
    async with transaction(sessions) as session:
        await users.set_password(session, email=changed_user, password="a-new-password")
    live = await access_token(client, await new_user(sessions, "admin"))
    claims = jwt.decode(live, options={"verify_signature": False})
    return {
        "expired jwt": expired.access_token,
        "jwt after password change": revoked,
        "jwt signed with another key": jwt.encode(claims, "f" * 64, "HS256"),
        "refresh token as access token": expired.refresh_token,  # refresh tokens live 7 days
    }


async def dead_cookies(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, dict[str, str]]:
    """Admin session cookies that must not work: expired, logged out."""
    expired = await session_cookie(sessions, settings, await new_user(sessions, "admin"), age=601)
    email = await new_user(sessions, "admin")
    logged_out = await session_cookie(sessions, settings, email)
    async with transaction(sessions) as session:
        user = await user_repo.get_by_email(session, email)
        assert user is not None
        await users.end_sessions(session, user_id=user.id)
    return {"expired cookie": expired, "logged-out cookie": logged_out}


@pytest.fixture
async def credentials(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Credentials:
    """One live credential per scope, role and kind; dead ones of every kind."""
    creds = Credentials(keys={s.value: await make_key(s.value) for s in Scope})
    for role in ROLE_SCOPES:
        email = await new_user(sessions, role)
        creds.jwts[role] = await access_token(client, email)
        creds.cookies[role] = await session_cookie(sessions, settings, email)
    keys = await dead_keys(make_key, sessions)
    jwts = await dead_jwts(client, sessions, settings)
    creds.dead = {"no credential": {}} | {w: bearer(c) for w, c in (keys | jwts).items()}
    creds.dead |= await dead_cookies(sessions, settings)
    return creds


# --------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------


async def test_every_route_has_a_documented_rule(app: FastAPI) -> None:
    assert set(api_routes(app)) == set(NEEDS), "a new route needs an entry in NEEDS or PUBLIC"
    assert other_routes(app) == set(OTHER_NEEDS), "a new non-OpenAPI route needs OTHER_NEEDS"
    paths = app.openapi()["paths"]
    for method, path in PUBLIC:  # documented as needing no credential
        assert paths[path][method.lower()].get("security") == [], (method, path)
    for method, path in NEEDS:
        assert "security" not in paths[path][method.lower()], (method, path)


async def test_authorization_matrix(client: httpx.AsyncClient, credentials: Credentials) -> None:
    for (method, path), needed in NEEDS.items():
        for who, headers in credentials.dead.items():
            judge_dead(await call(client, method, path, headers), who)
        for who, headers, held in credentials.granted():
            resp = await call(client, method, path, headers)
            judge(resp, grants(set(held), Scope(needed)), who)


async def test_public_routes_need_no_credential(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
    for path in ("/agent-usage/events", "/agent-usage/subscriptions"):
        unsigned = await client.post(path, json={})
        assert unsigned.status_code == 401, path  # the signature is their credential
        assert "webhook" in unsigned.json()["detail"].lower(), path
    for path in ("/agent-usage/auth/token", "/agent-usage/auth/refresh"):
        assert (await client.post(path, json={})).status_code == 422, path


# --------------------------------------------------------------------------------------
# WebSocket and /mcp
# --------------------------------------------------------------------------------------


async def ws_handshake(app: FastAPI, headers: dict[str, str]) -> int:
    """Open the live stream in process: its close code (4401/4403), or 101 if it streamed."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": WS_PATH,
        "raw_path": WS_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "subprotocols": [],
    }
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    sent: list[MutableMapping[str, Any]] = []
    accepted = asyncio.Event()

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.accept":
            accepted.set()

    task = asyncio.create_task(app(scope, inbox.get, send))
    async with asyncio.timeout(10):
        await accepted.wait()
        await inbox.put({"type": "websocket.disconnect", "code": 1000})
        await task
    codes = [m.get("code") for m in sent if m["type"] == "websocket.close"]
    return next((c for c in codes if c in (4401, 4403)), 101)


async def test_websocket_matrix(app: FastAPI, credentials: Credentials) -> None:
    for who, headers in credentials.dead.items():
        if "cookie" not in who:  # the stream's cookie rules: tests/realtime/test_ws_session.py
            assert await ws_handshake(app, headers) == 4401, who
    for who, headers, held in credentials.granted():
        if not who.startswith("cookie"):
            expected = 101 if grants(set(held), Scope(OTHER_NEEDS[WS_PATH])) else 4403
            assert await ws_handshake(app, headers) == expected, who


async def test_mcp_matrix(client: httpx.AsyncClient, credentials: Credentials) -> None:
    async def post(headers: dict[str, str]) -> httpx.Response:
        own_host = MCP_ACCEPT | {"Host": "127.0.0.1"}  # /mcp refuses foreign hosts (rebinding)
        return await client.post(MCP_PATH, json=MCP_INITIALIZE, headers=own_host | headers)

    for who, headers in credentials.dead.items():
        if "cookie" not in who:  # /mcp takes bearer credentials only
            resp = await post(headers)
            assert resp.status_code == 401, (who, resp.text)
            assert resp.json()["error"] == "unauthorized", who
    for who, headers, held in credentials.granted():
        if who.startswith("cookie"):
            continue
        resp = await post(headers)
        if grants(set(held), Scope(OTHER_NEEDS[MCP_PATH])):
            assert resp.status_code == 200, (who, resp.text)
            assert resp.json()["result"]["serverInfo"]["name"] == "NGX_Closer.Agent"
        else:
            assert resp.status_code == 403, (who, resp.text)


# --------------------------------------------------------------------------------------
# Smaller promises
# --------------------------------------------------------------------------------------


async def test_401_names_the_scheme(client: httpx.AsyncClient) -> None:
    resp = await client.get("/agent-usage/tiers", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"] == "unauthorized"


async def test_the_principal_is_a_person_for_jwts_and_a_prefix_for_keys(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    email = await new_user(sessions, "admin")
    token, key = await access_token(client, email), await make_key("read")
    async with sessions() as session:
        by_jwt = await tokens.authenticate_bearer(
            session, settings=settings, token=token, needed=Scope.ADMIN
        )
        by_key = await tokens.authenticate_bearer(
            session, settings=settings, token=key, needed=Scope.READ
        )
    assert by_jwt == Principal(actor=f"user:{email}")
    assert by_key == Principal(actor=f"key:{key.split('_')[1]}")


async def test_keys_are_stored_hashed(
    make_key: MakeKey, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plaintext = await make_key("read", name="bi")
    async with sessions() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.name == "bi"))
    assert row is not None
    assert plaintext not in (row.key_hash, row.prefix)
    secret_part = plaintext.split("_", 2)[2]  # the random part may itself contain "_"
    assert secret_part not in row.key_hash
    assert row.scopes == ["read"]


@pytest.mark.parametrize(
    ("held", "needed", "ok"),
    [
        (["admin"], "read", True),
        (["admin"], "ingest", True),
        (["write"], "read", True),
        (["read"], "write", False),
        (["ingest"], "read", False),
        (["read", "ingest"], "ingest", True),
        (["bogus"], "read", False),
    ],
)
def test_scope_implications(held: list[str], needed: str, ok: bool) -> None:
    assert grants(held, Scope(needed)) is ok
