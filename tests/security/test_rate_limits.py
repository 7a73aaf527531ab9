"""Rate limits per API key, user, client address and webhook signing secret, end to end.

Each test builds the app with small limits; the counters live in memory, or in the real Redis
for the test of two app instances sharing them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from redis.asyncio import Redis

from nexus_crm.app import create_app
from nexus_crm.dashboard.auth import router as login_router
from nexus_crm.db import transaction
from nexus_crm.security.ratelimit import RateLimiter
from nexus_crm.security.users import create_user
from nexus_crm.settings import Settings
from tests.security.limits_helpers import (
    HERE,
    THERE,
    client_of,
    count,
    make_settings,
    new_key,
    post_events,
    running,
)
from tests.support import OLD_SECRET, event, signed

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "rate-limit-test-password"
EDGE_S = 10.0  # no test here starts closer than this to the end of a clock minute


@pytest.fixture(autouse=True)
async def clear_of_a_minute_edge() -> None:
    """Start well inside a clock minute: the limits here count per minute, and a window that
    turns mid-test half-forgets the hits before it (the sliding counter rounds down), so a
    fourth request of "3/minute" got through once, one second before a minute ended."""
    into = time.time() % 60
    if into > 60 - EDGE_S:
        await asyncio.sleep(60 - into + 0.05)


def assert_limited(resp: httpx.Response, kind_words: str) -> int:
    """A 429 in the one error shape with an integer Retry-After; return it."""
    assert resp.status_code == 429, resp.text
    retry_after = resp.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    body = resp.json()
    assert body["error"] == "rate_limited"
    assert kind_words in body["detail"]
    assert body["retry_after"] == int(retry_after)
    return int(retry_after)


async def rejected(client: httpx.AsyncClient, kind: str) -> float:
    """The value of ``nexus_rate_limited_total{kind=…}`` at /metrics."""
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(f'nexus_rate_limited_total{{kind="{kind}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_per_key_limit(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_PER_KEY="3/minute"))
    async with running(app), client_of(app) as client:
        first, second = await new_key(app, "read"), await new_key(app, "read")
        for _ in range(3):
            assert (await client.get("/agent-usage/tiers", headers=first)).status_code == 200
        resp = await client.get("/agent-usage/tiers", headers=first)
        assert_limited(resp, "this API key")
        assert (await client.get("/agent-usage/tiers", headers=second)).status_code == 200
        assert await rejected(client, "key") == 1.0


async def log_in(client: httpx.AsyncClient, app: FastAPI, role: str) -> dict[str, str]:
    """Create a user and log in through the dashboard form; the Cookie header."""
    email = f"{role}.{uuid.uuid4().hex[:6]}@ngx.mx"
    async with transaction(app.state.sessions) as session:
        await create_user(session, email=email, password=PASSWORD, role=role)
    resp = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert resp.status_code == 303, resp.text
    cookie = resp.cookies["nexus_session"]
    client.cookies.clear()
    return {"Cookie": f"nexus_session={cookie}"}


async def test_per_user_limit(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_PER_USER="2/minute"))
    app.include_router(login_router)
    async with running(app), client_of(app) as client:
        ana, bea = await log_in(client, app, "analyst"), await log_in(client, app, "sales")
        for _ in range(2):
            assert (await client.get("/agent-usage/alerts", headers=ana)).status_code == 200
        assert_limited(await client.get("/agent-usage/alerts", headers=ana), "this user")
        assert (await client.get("/agent-usage/alerts", headers=bea)).status_code == 200
        # Keys have their own limit (off here): the exhausted user does not hold them back.
        key = await new_key(app, "read")
        assert (await client.get("/agent-usage/alerts", headers=key)).status_code == 200
        assert await rejected(client, "user") == 1.0


async def test_per_ip_limit(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_PER_IP="4/minute"))
    async with running(app), client_of(app, HERE) as here, client_of(app, THERE) as there:
        for _ in range(4):
            assert (await here.get("/agent-usage/tiers")).status_code == 401
        assert_limited(await here.get("/agent-usage/tiers"), "this client address")
        assert_limited(await here.post("/agent-usage/tiers/pro", json={}), "client address")
        assert (await there.get("/agent-usage/tiers")).status_code == 401
        # Probes, the scraper and signed webhooks are not limited per address.
        assert (await here.get("/healthz")).status_code == 200
        for _ in range(6):
            assert (await post_events(here, event())).status_code == 200
        assert await count(app, "agent_usage_events") == 6
        assert await rejected(here, "ip") == 2.0


async def test_bad_webhook_signatures_count_against_the_address(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_PER_IP="3/minute"))
    async with running(app), client_of(app, HERE) as here, client_of(app, THERE) as there:
        for _ in range(3):
            resp = await post_events(here, event(), secret="whsec_" + "A" * 43)
            assert resp.status_code == 401, resp.text
        resp = await post_events(here, event(), secret="whsec_" + "A" * 43)
        assert_limited(resp, "this client address")
        unsigned = await here.post("/agent-usage/events", json=event())
        assert_limited(unsigned, "this client address")
        resp = await post_events(there, event(), secret="whsec_" + "A" * 43)
        assert resp.status_code == 401
        # A valid signature from the throttled address still gets through.
        assert (await post_events(here, event())).status_code == 200
        assert await count(app, "agent_usage_events") == 1


async def test_webhook_limit_per_signing_secret(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_WEBHOOK="5/minute"))
    async with running(app), client_of(app) as client:
        resp = await post_events(client, {"events": [event() for _ in range(3)]})
        assert resp.json() == {"accepted": 3, "duplicates": 0}
        resp = await post_events(client, {"events": [event() for _ in range(2)]})
        assert resp.json() == {"accepted": 2, "duplicates": 0}
        assert_limited(await post_events(client, event()), "this webhook signing secret")
        batch = {"events": [event() for _ in range(2)]}
        assert_limited(await post_events(client, batch), "signing secret")
        sub = {"user_id": "cliente_123", "tier": "pro", "status": "active"}
        body, headers = signed(sub)
        resp = await client.post("/agent-usage/subscriptions", content=body, headers=headers)
        assert_limited(resp, "signing secret")
        assert await count(app, "agent_usage_events") == 5
        # The other (rotated) secret has its own budget.
        resp = await post_events(client, {"events": [event() for _ in range(4)]}, OLD_SECRET)
        assert resp.json() == {"accepted": 4, "duplicates": 0}
        assert await count(app, "agent_usage_events") == 9
        assert await rejected(client, "webhook") == 3.0


async def test_the_window_resets_after_retry_after(db_url: str) -> None:
    app = create_app(make_settings(db_url, RATE_LIMIT_PER_KEY="2/second"))
    async with running(app), client_of(app) as client:
        key = await new_key(app, "read")
        resp = await first_refusal(client, key, tries=20)
        retry_after = assert_limited(resp, "this API key")
        assert retry_after == 1
        await asyncio.sleep(retry_after + 0.05)
        assert (await client.get("/agent-usage/tiers", headers=key)).status_code == 200


async def first_refusal(
    client: httpx.AsyncClient, key: dict[str, str], tries: int
) -> httpx.Response:
    """GET until the first refusal; the first two requests of "2/second" must pass.

    The refusal is not always the third: the sliding counter weighs the previous second down
    as the current one goes by, so requests that straddle a second's boundary (or are slow
    on a busy machine) may let a third or fourth through before the count reaches two.
    """
    for n in range(tries):
        resp = await client.get("/agent-usage/tiers", headers=key)
        if resp.status_code != 200:
            assert n >= 2, f"request {n + 1} refused under a limit of 2: {resp.text}"
            return resp
    raise AssertionError(f"{tries} requests passed a limit of 2 per second")


def require_redis() -> None:
    """Skip without Redis, except in CI (CI=true), where a missing Redis fails."""
    host, _, port = REDIS_URL.split("://", 1)[1].split("/", 1)[0].partition(":")
    try:
        socket.create_connection((host, int(port or 6379)), timeout=2).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")


async def drop_keys(prefix: str) -> int:
    """Delete this test's counters from Redis; how many there were."""
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        return len(keys)
    finally:
        await redis.aclose()


async def test_redis_backend_is_shared_by_two_instances(db_url: str) -> None:
    require_redis()
    settings = make_settings(
        db_url, RATE_LIMIT_BACKEND="redis", REDIS_URL=REDIS_URL, RATE_LIMIT_PER_KEY="3/minute"
    )
    prefix = f"nexus_test_{uuid.uuid4().hex[:12]}"  # runs do not share counters
    one, two = create_app(settings), create_app(settings)
    for app in (one, two):
        app.state.rate_limiter = RateLimiter.from_settings(settings, prefix=prefix)
    try:
        async with running(one), running(two), client_of(one) as a, client_of(two) as b:
            key = await new_key(one, "read")
            for client in (a, b, a):
                assert (await client.get("/agent-usage/tiers", headers=key)).status_code == 200
            assert_limited(await b.get("/agent-usage/tiers", headers=key), "this API key")
            assert_limited(await a.get("/agent-usage/tiers", headers=key), "this API key")
    finally:
        assert await drop_keys(prefix) >= 1


async def test_unreachable_redis_lets_requests_through(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        db_url,
        RATE_LIMIT_BACKEND="redis",
        RATE_LIMIT_PER_KEY="1/minute",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    app = create_app(settings)
    async with running(app), client_of(app) as client:
        key = await new_key(app, "read")
        with caplog.at_level(logging.WARNING, "nexus_crm.ratelimit"):
            for _ in range(3):
                assert (await client.get("/agent-usage/tiers", headers=key)).status_code == 200
        warnings = [r for r in caplog.records if r.name == "nexus_crm.ratelimit"]
        assert len(warnings) == 1, warnings  # once a minute, not once a request
        assert "not limited" in warnings[0].getMessage()


def test_a_malformed_limit_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_PER_IP='lots' is not a rate limit"):
        Settings(RATE_LIMIT_PER_IP="lots")
    assert Settings(RATE_LIMIT_PER_IP=" ").rate_limit_per_ip == " "  # blank: off
