"""JWTs for users' scripts: issue, scopes by role, expiry, refresh once, revocation, forgery."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import AuditEntry
from nexus_crm.security import tokens, users
from nexus_crm.security.principals import ROLE_SCOPES, scopes_for_role, session_scopes_for_role
from nexus_crm.security.scopes import Scope
from nexus_crm.settings import Settings
from tests.mcp.conftest import failed, ok
from tests.mcp.test_http import mcp_over_http

PASSWORD = "jwt-test-password"
TOKEN = "/agent-usage/auth/token"
REFRESH = "/agent-usage/auth/refresh"
READ_ROUTE = "/agent-usage/tiers"
WRITE_ROUTE = "/agent-usage/alerts/0191e7a0-0000-7000-8000-000000000000/acknowledge"
TIER_BODY = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 1,
    "monthly_interactions": 1,
    "monthly_price": "1",
}


async def make_user(
    sessions: async_sessionmaker[AsyncSession], role: str = "analyst", email: str | None = None
) -> str:
    """Create a dashboard user; return its email."""
    address = email or f"{role}-{uuid.uuid4().hex[:6]}@ngx.mx"
    async with transaction(sessions) as session:
        await users.create_user(session, email=address, password=PASSWORD, role=role)
    return address


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """POST /auth/token; assert 200; the token pair."""
    resp = await client.post(TOKEN, json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    """The unverified payload of a JWT (what anyone holding it can read)."""
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


async def test_a_password_buys_a_token_pair_that_reads(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    email = await make_user(sessions, "analyst")
    resp = await client.post(TOKEN, json={"email": email.upper(), "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    pair = resp.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.jwt_access_ttl_seconds == 900
    assert pair["refresh_expires_in"] == settings.jwt_refresh_ttl_seconds
    assert pair["scopes"] == ["read"]
    tiers = await client.get(READ_ROUTE, headers=bearer(pair["access_token"]))
    assert tiers.status_code == 200, tiers.text
    assert tiers.json()[0]["tier"] == "essential"
    claims = claims_of(pair["access_token"])
    assert claims["typ"] == "access"
    assert (claims["iss"], claims["aud"], claims["role"]) == (
        "nexus-crm",
        "nexus-crm-api",
        "analyst",
    )
    assert claims["scopes"] == ["read"]
    assert claims["exp"] - claims["iat"] == 900
    assert email not in json.dumps(claims)  # no PII: the user is named by id
    async with sessions() as session:
        user = await users.session_user(session, user_id=uuid.UUID(claims["sub"]), epoch=0)
    assert user is not None
    assert user.email == email


async def test_token_issue_is_audited_without_the_token(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = await make_user(sessions, "sales")
    pair = await login(client, email)
    await client.post(TOKEN, json={"email": email, "password": "wrong-password!"})
    refreshed = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.startswith("auth."))
                .order_by(AuditEntry.at)
            )
        ).all()
    got = [(r.actor, r.action) for r in rows]
    assert got == [
        (f"user:{email}", "auth.token_issued"),
        ("system:auth", "auth.token_refused"),
        (f"user:{email}", "auth.token_refreshed"),
    ]
    assert {r.target for r in rows} == {f"user:{email}"}  # as user.* rows name their user
    dumped = json.dumps([r.details for r in rows]) + " ".join(r.target for r in rows)
    for secret in (pair["access_token"], pair["refresh_token"], PASSWORD, "wrong-password!"):
        assert secret not in dumped
        assert secret.split(".")[-1] not in dumped


async def test_wrong_unknown_and_disabled_all_get_the_same_401(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = await make_user(sessions, "admin")
    disabled = await make_user(sessions, "admin")
    async with transaction(sessions) as session:
        await users.disable_user(session, email=disabled, now=utcnow())
    answers = []
    for who, password in (
        (email, "not-the-password"),
        ("nobody@ngx.mx", PASSWORD),
        (disabled, PASSWORD),
        ("not an email", PASSWORD),
    ):
        resp = await client.post(TOKEN, json={"email": who, "password": password})
        assert resp.status_code == 401, (who, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer"
        answers.append(resp.json())
    assert all(a == answers[0] for a in answers)
    assert answers[0] == {
        "error": "unauthorized",
        "detail": "wrong email or password, or the user is disabled",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@ngx.mx"}, "password"),
        ({"email": "a@ngx.mx", "password": ""}, "password"),
        ({"email": "a@ngx.mx", "password": "x" * 1025}, "password"),
        ({"email": "a@ngx.mx", "password": PASSWORD, "scope": "admin"}, "scope"),
        ({"password": PASSWORD}, "email"),
    ],
)
async def test_bad_token_requests_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    resp = await client.post(TOKEN, json=body)
    assert resp.status_code == 422
    assert resp.json()["field"] == field


@pytest.mark.parametrize(
    ("role", "read", "write", "admin"),
    [("analyst", 200, 403, 403), ("sales", 200, 404, 403), ("admin", 200, 404, 200)],
)
async def test_a_token_grants_its_roles_scopes(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    role: str,
    read: int,
    write: int,
    admin: int,
) -> None:
    headers = bearer((await login(client, await make_user(sessions, role)))["access_token"])
    assert (await client.get(READ_ROUTE, headers=headers)).status_code == read
    written = await client.post(WRITE_ROUTE, headers=headers)
    assert written.status_code == write  # 404: allowed, but no such alert
    put = await client.put("/agent-usage/tiers/pro", json=TIER_BODY, headers=headers)
    assert put.status_code == admin, put.text
    if admin == 403:
        assert put.json() == {
            "error": "forbidden",
            "detail": f"the {role!r} role lacks the 'admin' scope",
        }
    else:  # an admin's change is audited under the person, not a shared key
        async with sessions() as session:
            row = await session.scalar(select(AuditEntry).where(AuditEntry.action == "tier.update"))
        assert row is not None
        assert row.actor.startswith(f"user:{role}-")


def test_one_permission_model() -> None:
    assert scopes_for_role("admin") == {Scope.READ, Scope.WRITE, Scope.ADMIN}
    assert scopes_for_role("sales") == {Scope.READ, Scope.WRITE}
    assert scopes_for_role("analyst") == {Scope.READ}
    assert scopes_for_role("intern") == frozenset()
    for role in ROLE_SCOPES:  # a cookie never grants ingest or admin
        assert session_scopes_for_role(role) <= {Scope.READ, Scope.WRITE}
    assert session_scopes_for_role("admin") == {Scope.READ, Scope.WRITE}


async def test_the_database_role_caps_the_token(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A token claiming more scopes than its user's role (a leaked signing key) gets no more."""
    email = await make_user(sessions, "analyst")
    access = (await login(client, email))["access_token"]
    claims = claims_of(access)
    forged = jwt.encode(
        claims | {"role": "admin", "scopes": ["admin"]}, tokens.signing_key(settings), "HS256"
    )
    put = await client.put("/agent-usage/tiers/pro", json=TIER_BODY, headers=bearer(forged))
    assert put.status_code == 403
    async with transaction(sessions) as session:
        user = await users.session_user(session, user_id=uuid.UUID(claims["sub"]), epoch=0)
        assert user is not None
        user.role = "admin"  # promoted: the old token still claims only read
    put = await client.put("/agent-usage/tiers/pro", json=TIER_BODY, headers=bearer(access))
    assert put.status_code == 403  # the token still holds only what it was issued with
    assert put.json()["detail"].startswith("this token lacks the 'admin' scope")
    fresh = (await login(client, email))["access_token"]
    put = await client.put("/agent-usage/tiers/pro", json=TIER_BODY, headers=bearer(fresh))
    assert put.status_code == 200


async def test_an_expired_access_token_is_refused(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    email = await make_user(sessions, "sales")
    short = settings.model_copy(update={"jwt_access_ttl_seconds": 30})
    async with transaction(sessions) as session:
        pair = await tokens.issue_tokens(
            session,
            settings=short,
            email=email,
            password=PASSWORD,
            now=utcnow() - timedelta(seconds=31),
        )
    assert pair is not None
    assert pair.expires_in == 30
    resp = await client.get(READ_ROUTE, headers=bearer(pair.access_token))
    assert resp.status_code == 401
    assert resp.json()["detail"] == (
        "the access token has expired: get a new one at POST /agent-usage/auth/refresh"
    )
    # its refresh token (7 days) still works, and buys a fresh access token
    refreshed = await client.post(REFRESH, json={"refresh_token": pair.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    ok = await client.get(READ_ROUTE, headers=bearer(refreshed.json()["access_token"]))
    assert ok.status_code == 200


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    email = await make_user(sessions, "sales")
    async with transaction(sessions) as session:
        pair = await tokens.issue_tokens(
            session,
            settings=settings,
            email=email,
            password=PASSWORD,
            now=utcnow() - timedelta(seconds=settings.jwt_refresh_ttl_seconds + 1),
        )
    assert pair is not None
    resp = await client.post(REFRESH, json={"refresh_token": pair.refresh_token})
    assert resp.status_code == 401
    assert "refresh token has expired" in resp.json()["detail"]


async def test_a_refresh_token_works_once(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await login(client, await make_user(sessions, "analyst"))
    second = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.headers["cache-control"] == "no-store"
    new = second.json()
    assert new["access_token"] != first["access_token"]
    again = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]
    third = await client.post(REFRESH, json={"refresh_token": new["refresh_token"]})
    assert third.status_code == 200
    for access in (first["access_token"], new["access_token"], third.json()["access_token"]):
        # access tokens live out their (short) lives: rotation is about refresh tokens
        assert (await client.get(READ_ROUTE, headers=bearer(access))).status_code == 200


async def test_concurrent_refreshes_with_one_token_give_one_pair(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    pair = await login(client, await make_user(sessions, "analyst"))
    body = {"refresh_token": pair["refresh_token"]}
    answers = await asyncio.gather(*(client.post(REFRESH, json=body) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


async def test_a_new_login_voids_older_refresh_tokens(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = await make_user(sessions, "analyst")
    old, new = await login(client, email), await login(client, email)
    assert (
        await client.post(REFRESH, json={"refresh_token": old["refresh_token"]})
    ).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": new["refresh_token"]})
    ).status_code == 200


async def test_access_and_refresh_tokens_are_not_interchangeable(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    pair = await login(client, await make_user(sessions, "admin"))
    as_access = await client.get(READ_ROUTE, headers=bearer(pair["refresh_token"]))
    assert as_access.status_code == 401
    assert as_access.json()["detail"].startswith("this is not an access token")
    as_refresh = await client.post(REFRESH, json={"refresh_token": pair["access_token"]})
    assert as_refresh.status_code == 401
    assert as_refresh.json()["detail"].startswith("this is not a refresh token")


@pytest.mark.parametrize("how", ["set_password", "disable_user", "end_sessions"])
async def test_password_change_disable_and_logout_revoke_tokens(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], how: str
) -> None:
    email = await make_user(sessions, "sales")
    pair = await login(client, email)
    async with transaction(sessions) as session:
        if how == "set_password":
            await users.set_password(session, email=email, password="a-new-password-1")
        elif how == "disable_user":
            await users.disable_user(session, email=email, now=utcnow())
        else:
            user = await users.session_user(
                session, user_id=uuid.UUID(claims_of(pair["access_token"])["sub"]), epoch=0
            )
            assert user is not None
            await users.end_sessions(session, user_id=user.id)
    resp = await client.get(READ_ROUTE, headers=bearer(pair["access_token"]))
    assert resp.status_code == 401
    assert resp.json()["detail"].startswith("this token was revoked")
    refused = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert refused.status_code == 401
    if how == "set_password":
        assert (
            await client.post(TOKEN, json={"email": email, "password": PASSWORD})
        ).status_code == 401
        fresh = await login(client, email, "a-new-password-1")
        assert (
            await client.get(READ_ROUTE, headers=bearer(fresh["access_token"]))
        ).status_code == 200


async def test_a_jwt_drives_the_mcp_tools_with_its_roles_scopes(
    app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token = (await login(client, await make_user(sessions, "analyst")))["access_token"]
    async with mcp_over_http(app, token) as mcp:
        _, data = ok(await mcp.call_tool("get_usage_alerts", {}))
        assert data["count"] == 0
        args = {"alert_id": "0191e7a0-0000-7000-8000-000000000000", "action": "acknowledge"}
        refused = failed(await mcp.call_tool("manage_usage_alert", args))
        assert "lacks the 'write' scope" in refused  # the REST API's 403, relayed
