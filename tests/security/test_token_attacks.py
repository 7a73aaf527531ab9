"""JWTs under attack: forged, re-signed, alg=none, old secrets, password guessing, log leaks."""

from __future__ import annotations

import base64
import json
import logging
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.api.deps import login_throttle
from nexus_crm.app import create_app
from nexus_crm.security import tokens
from nexus_crm.settings import Settings
from tests.security.test_tokens import (
    PASSWORD,
    READ_ROUTE,
    REFRESH,
    TOKEN,
    bearer,
    claims_of,
    login,
    make_user,
)


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


def _hs512(claims: dict[str, Any], key: bytes) -> str:
    """The right key, another algorithm (pyjwt warns that 32 bytes are short for HS512)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, "HS512")


def _forgeries(token: str, settings: Settings) -> dict[str, str]:
    claims, key = claims_of(token), tokens.signing_key(settings)
    return {
        "tampered signature": _tampered(token),
        "alg none": jwt.encode(claims, "", algorithm="none"),
        "wrong audience": jwt.encode(claims | {"aud": "someone-else"}, key, "HS256"),
        "wrong issuer": jwt.encode(claims | {"iss": "evil"}, key, "HS256"),
        "cookie secret": jwt.encode(claims, settings.session_secret, "HS256"),
        "another secret": jwt.encode(claims, "z" * 64, "HS256"),
        "HS512": _hs512(claims, key),
        "no epoch": jwt.encode({k: v for k, v in claims.items() if k != "epoch"}, key, "HS256"),
        "no typ": jwt.encode({k: v for k, v in claims.items() if k != "typ"}, key, "HS256"),
        "unknown user": jwt.encode(claims | {"sub": str(uuid.uuid4())}, key, "HS256"),
        "bad sub": jwt.encode(claims | {"sub": "not-a-uuid"}, key, "HS256"),
        "modified payload": token.split(".")[0]
        + "."
        + base64.urlsafe_b64encode(json.dumps(claims | {"role": "admin"}).encode())
        .decode()
        .rstrip("=")
        + "."
        + token.split(".")[2],
        "garbage": "not.a.jwt",
        "empty-ish": "x",
    }


async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    pair = await login(client, await make_user(sessions, "admin"))
    assert (await client.get(READ_ROUTE, headers=bearer(pair["access_token"]))).status_code == 200
    for name, forged in _forgeries(pair["access_token"], settings).items():
        resp = await client.get(READ_ROUTE, headers=bearer(forged))
        assert resp.status_code == 401, name
        assert resp.json()["error"] == "unauthorized", name
    for name, forged in _forgeries(pair["refresh_token"], settings).items():
        resp = await client.post(REFRESH, json={"refresh_token": forged})
        assert resp.status_code == 401, name


def test_the_signing_key_is_jwt_secret_or_derived_from_the_session_secret(
    settings: Settings,
) -> None:
    derived = tokens.signing_key(settings)
    assert derived != settings.session_secret.encode()
    assert len(derived) == 32
    own = settings.model_copy(update={"jwt_secret": "s" * 40})
    assert tokens.signing_key(own) == b"s" * 40
    assert Settings(DATABASE_URL=settings.database_url, JWT_SECRET="t" * 32).jwt_secret == "t" * 32


async def test_a_token_signed_before_jwt_secret_changed_is_refused(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = await make_user(sessions, "analyst")
    for first, second in ((None, "k" * 40), ("k" * 40, "m" * 40)):
        before = create_app(settings.model_copy(update={"jwt_secret": first}))
        after = create_app(settings.model_copy(update={"jwt_secret": second}))
        async with _client(before) as c1, _client(after) as c2:
            access = (await login(c1, email))["access_token"]
            assert (await c1.get(READ_ROUTE, headers=bearer(access))).status_code == 200
            assert (await c2.get(READ_ROUTE, headers=bearer(access))).status_code == 401


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``app`` with its lifespan running."""
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(transport=transport, base_url="http://test")
    async with app.router.lifespan_context(app), http:
        yield http


async def test_failed_logins_are_throttled_with_the_dashboard_form(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    email = await make_user(sessions, "analyst")
    for _ in range(settings.login_max_failures):
        bad = await client.post(TOKEN, json={"email": email, "password": "wrong-password"})
        assert bad.status_code == 401
    blocked = await client.post(TOKEN, json={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429  # even the right password waits
    assert 0 < int(blocked.headers["retry-after"]) <= settings.login_failure_window_seconds
    assert blocked.json()["error"] == "rate_limited"
    assert login_throttle(app) is app.state.login_throttle  # one counter, two doors
    assert login_throttle(app).retry_after([f"email:{email}"]) > 0
    app.state.login_throttle.succeeded(f"email:{email}")
    app.state.login_throttle.succeeded("ip:127.0.0.1")
    assert (await login(client, email))["scopes"] == ["read"]


async def test_tokens_and_passwords_never_reach_the_logs(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    email = await make_user(sessions, "sales")
    pair = await login(client, email)
    await client.post(TOKEN, json={"email": email, "password": "a-wrong-password"})
    renewed = (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).json()
    await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})  # reused: 401
    await client.get(READ_ROUTE, headers=bearer(renewed["access_token"]))
    await client.get(READ_ROUTE, headers=bearer(_tampered(renewed["access_token"])))
    assert caplog.records, "the flow logs nothing at all: the check would prove nothing"
    text = caplog.text
    secrets = (pair["access_token"], pair["refresh_token"], renewed["access_token"], PASSWORD)
    for secret in (*secrets, "a-wrong-password"):
        assert secret not in text
    for token in secrets[:3]:
        assert token.split(".")[2] not in text  # not even the signature
