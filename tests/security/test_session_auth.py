"""A dashboard session cookie authorises the REST API like a key: roles, CSRF, logout."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.dashboard.auth import router as auth_router
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.security.sessions import COOKIE_NAME
from nexus_crm.security.users import create_user, disable_user
from tests.alerts.helpers import act, list_alerts, transitions, use

PASSWORD = "session-test-password"
SAME_ORIGIN = {"Origin": "http://test"}


@pytest.fixture
def login_app(app: FastAPI) -> FastAPI:
    """The app with the dashboard's login and logout routes (the dashboard itself is off)."""
    app.include_router(auth_router)
    return app


async def log_in(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], role: str
) -> tuple[str, dict[str, str]]:
    """Create a user with ``role``, log in through the form; the email and Cookie header."""
    email = f"{role}.{uuid.uuid4().hex[:6]}@ngx.mx"
    async with transaction(sessions) as session:
        await create_user(session, email=email, password=PASSWORD, role=role)
    form = {"email": email, "password": PASSWORD, "next": "/alerts"}
    resp = await client.post("/login", data=form)
    assert resp.status_code == 303, resp.text
    token = resp.cookies[COOKIE_NAME]
    client.cookies.clear()  # each request below says which cookie it sends
    return email, {"Cookie": f"{COOKIE_NAME}={token}"}


async def test_every_role_reads(
    login_app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for role in ("analyst", "sales", "admin"):
        _, cookie = await log_in(client, sessions, role)
        for path in ("/agent-usage/tiers", "/agent-usage/alerts", "/agent-usage/insights"):
            resp = await client.get(path, headers=cookie)
            assert resp.status_code == 200, (role, path, resp.text)


async def test_alert_actions_by_role_and_origin(
    login_app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    read_headers: dict[str, str],
) -> None:
    await use(client, "cookie_user", 850_000)
    [alert] = await list_alerts(client, read_headers, user_id="cookie_user")
    _, analyst = await log_in(client, sessions, "analyst")
    resp = await act(client, analyst | SAME_ORIGIN, alert["id"], "acknowledge")
    assert (resp.status_code, resp.json()["error"]) == (403, "forbidden")
    assert "analyst" in resp.json()["detail"]
    email, sales = await log_in(client, sessions, "sales")
    foreign = {"Origin": "https://evil.example"}
    for headers in (sales, sales | foreign, sales | {"Origin": "null"}):
        resp = await act(client, headers, alert["id"], "acknowledge")
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "forbidden"
    resp = await act(client, sales | SAME_ORIGIN, alert["id"], "acknowledge", note="on it")
    assert resp.status_code == 200, resp.text
    assert resp.json()["history"][-1]["actor"] == f"user:{email}"
    referer = {"Referer": "http://test/alerts?status=open"}
    resp = await act(client, sales | referer, alert["id"], "resolve")
    assert resp.status_code == 200, resp.text
    assert [t[3] for t in await transitions(sessions, alert["id"])] == [
        "system",
        f"user:{email}",
        f"user:{email}",
    ]


async def test_no_cookie_grants_admin(
    login_app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, admin = await log_in(client, sessions, "admin")
    body = {"display_name": "Pro", "rank": 2, "monthly_tokens": 1, "monthly_interactions": 1}
    resp = await client.put(
        "/agent-usage/tiers/pro", json=body | {"monthly_price": "1"}, headers=admin | SAME_ORIGIN
    )
    assert resp.status_code == 403
    assert "API key" in resp.json()["detail"]


async def test_ended_sessions_and_bad_cookies_get_401(
    login_app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, first = await log_in(client, sessions, "sales")
    assert (await client.post("/logout", headers=first)).status_code == 303
    email, second = await log_in(client, sessions, "analyst")
    async with transaction(sessions) as session:
        await disable_user(session, email=email, now=utcnow())
    forged = {"Cookie": f"{COOKIE_NAME}=eyJ1IjoiMSJ9.forged"}
    for cookie in (first, second, forged):
        resp = await client.get("/agent-usage/tiers", headers=cookie)
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"] == "unauthorized"


async def test_an_authorization_header_is_judged_alone(
    login_app: FastAPI, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, cookie = await log_in(client, sessions, "admin")
    bad_key = {"Authorization": "Bearer ncrm_00000000_forged"}
    resp = await client.get("/agent-usage/tiers", headers=cookie | bad_key)
    assert resp.status_code == 401
    assert resp.json()["detail"] == "invalid or revoked API key"
