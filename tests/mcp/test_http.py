"""``/mcp`` on the API (streamable HTTP): API-key auth, and each caller's key reaching REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import MakeKey
from tests.mcp.conftest import World, failed, ok

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}
LOCAL = "http://127.0.0.1:8001"  # an allowed host of /mcp (loopback), unlike "http://test"


@asynccontextmanager
async def mcp_over_http(app: FastAPI, key: str) -> AsyncIterator[Client]:
    """An MCP client of ``/mcp`` on the in-process app, sending ``key``."""
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        headers={"Authorization": f"Bearer {key}"},
        base_url=LOCAL,
    )
    async with http, Client(streamable_http_client(f"{LOCAL}/mcp", http_client=http)) as c:
        yield c


async def test_mcp_route_needs_a_live_api_key(app: FastAPI, make_key: MakeKey) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL) as http:
        for headers, status in (
            ({}, 401),
            ({"Authorization": "Bearer ncrm_00000000_forged"}, 401),
            ({"Authorization": f"Bearer {await make_key('ingest')}"}, 403),
        ):
            resp = await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **headers})
            assert resp.status_code == status, resp.text
            assert resp.json()["error"] in ("unauthorized", "forbidden")
        key = await make_key("read")
        resp = await http.post(
            "/mcp", json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {key}"}
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["serverInfo"]["name"] == "NGX_Closer.Agent"


async def test_tools_over_http_use_the_callers_key(app: FastAPI, world: World) -> None:
    async with mcp_over_http(app, world.read) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert "get_usage_alerts" in names
        md, data = ok(await mcp.call_tool("get_usage_alerts", {}))
        assert data["count"] == 1
        assert "pro_user_123" in md
        args = {"alert_id": world.alert_id, "action": "acknowledge"}
        assert "lacks the 'write' scope" in failed(await mcp.call_tool("manage_usage_alert", args))
    async with mcp_over_http(app, world.write) as mcp:
        _, data = ok(await mcp.call_tool("manage_usage_alert", args))
        assert data["status"] == "acknowledged"
        assert data["history"][-1]["actor"] == f"key:{world.write.split('_')[1]}"
