"""Failed logins are limited per email and per client IP: 429 with Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.dashboard.auth import router as auth_router
from nexus_crm.db import transaction
from nexus_crm.security.sessions import COOKIE_NAME
from nexus_crm.security.throttle import LoginThrottle
from nexus_crm.security.users import create_user

PASSWORD = "throttle-test-password"


@asynccontextmanager
async def from_ip(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def attempt(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Post the login form: "in" (cookie set), "failed" (back to the form) or "429"."""
    resp = await client.post("/login", data={"email": email, "password": password})
    client.cookies.clear()
    if resp.status_code == 429:
        assert 0 < int(resp.headers["retry-after"]) <= 900
        assert "Too many failed attempts" in resp.text
        return "429"
    assert resp.status_code == 303, resp.text
    return "in" if COOKIE_NAME in resp.cookies else "failed"


async def test_five_failures_per_email_and_per_ip(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> None:
    app.include_router(auth_router)
    ana, bo = (f"{n}.{uuid.uuid4().hex[:6]}@ngx.mx" for n in ("ana", "bo"))
    async with transaction(sessions) as session:
        for email in (ana, bo):
            await create_user(session, email=email, password=PASSWORD, role="sales")
    async with from_ip(app, "10.0.0.1") as first:
        for _ in range(5):
            assert await attempt(first, ana, "wrong-password-1") == "failed"
        assert await attempt(first, ana) == "429"  # even the right password
        assert await attempt(first, bo) == "429"  # the IP is limited too
    async with from_ip(app, "10.0.0.2") as second:
        assert await attempt(second, ana.upper()) == "429"  # the email, from anywhere
        assert await attempt(second, bo) == "in"


def test_the_window_slides_and_success_clears_the_email() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    throttle = LoginThrottle(limit=3, window_seconds=60, clock=clock)
    keys = ["email:a@b.c", "ip:1.2.3.4"]
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert throttle.retry_after(keys) == 0
        throttle.failed(keys)
    assert throttle.retry_after(keys) == 40  # the first failure leaves the window at 60
    now[0] = 60.0
    assert throttle.retry_after(keys) == 0
    throttle.failed(keys)
    assert throttle.retry_after(keys) == 10
    throttle.succeeded("email:a@b.c")
    assert throttle.retry_after(["email:a@b.c"]) == 0
    assert throttle.retry_after(["ip:1.2.3.4"]) == 10
