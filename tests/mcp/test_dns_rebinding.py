"""``/mcp`` of the API refuses a foreign Host or Origin (DNS rebinding; MCP transports spec).

Allowed: the loopback names and the host of NEXUS_CRM_BASE_URL, on any port; a request
without Origin (not from a browser) is judged by its Host alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from nexus_crm.app import create_app
from nexus_crm.settings import Settings
from tests.conftest import MakeKey
from tests.mcp.test_http import ACCEPT, INITIALIZE
from tests.support import TEST_SECRET

PUBLIC_URL = "https://crm.example.com"


async def post(app: FastAPI, key: str | None, base_url: str, **headers: str) -> httpx.Response:
    """``initialize`` at ``/mcp`` of ``app``, sent to ``base_url`` with ``headers``."""
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        return await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **auth, **headers})


def refused(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert (body["error"], body["field"]) == ("forbidden", field), body
    assert body["detail"]


@pytest.fixture
async def public_app(db_url: str) -> AsyncIterator[FastAPI]:
    """The app with NEXUS_CRM_BASE_URL set to a public name (behind a proxy)."""
    settings = Settings(
        DATABASE_URL=db_url, GENESIS_WEBHOOK_SECRET=TEST_SECRET, NEXUS_CRM_BASE_URL=PUBLIC_URL
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_foreign_origin_is_refused(app: FastAPI, make_key: MakeKey) -> None:
    key = await make_key("read")
    local = "http://127.0.0.1:8001"
    for origin in ("http://evil.example", "https://evil.example:8001", "null", "file://"):
        refused(await post(app, key, local, Origin=origin), "origin")
    for origin in (local, "http://localhost:6274", "http://[::1]:8001", "https://127.0.0.1"):
        resp = await post(app, key, local, Origin=origin)
        assert resp.status_code == 200, (origin, resp.text)


async def test_a_foreign_host_is_refused_before_the_credential(
    app: FastAPI, make_key: MakeKey
) -> None:
    key = await make_key("read")
    refused(await post(app, key, "http://evil.example:8001"), "host")
    refused(await post(app, key, "http://evil.example"), "host")
    refused(await post(app, None, "http://evil.example"), "host")
    refused(await post(app, key, "http://127.0.0.1.evil.example"), "host")
    for url in ("http://127.0.0.1:8001", "http://localhost", "http://[::1]:9000"):
        resp = await post(app, key, url)
        assert resp.status_code == 200, (url, resp.text)


async def test_the_configured_base_urls_host_is_allowed(
    public_app: FastAPI, make_key: MakeKey
) -> None:
    key = await make_key("read")
    resp = await post(public_app, key, PUBLIC_URL, Origin=PUBLIC_URL)
    assert resp.status_code == 200, resp.text
    assert (await post(public_app, key, "http://127.0.0.1:8001")).status_code == 200
    refused(await post(public_app, key, "https://other.example.com"), "host")
    refused(await post(public_app, key, PUBLIC_URL, Origin="https://other.example.com"), "origin")
