"""Fixtures of the MCP tests: an in-memory MCP client whose tools call the in-process app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp_types import CallToolResult, TextContent

from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.server import build_server
from tests.alerts.helpers import list_alerts, post_subscription, use
from tests.conftest import MakeKey

Connect = Callable[..., Client]


@pytest.fixture
def connect(app: FastAPI) -> Connect:
    """``connect(key)``: an MCP client of NGX_Closer.Agent, whose REST calls reach ``app``."""

    def _connect(key: str | None, *, config: ApiConfig | None = None) -> Client:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return Client(build_server(config or ApiConfig("http://test", key, transport)))

    return _connect


@dataclass
class World:
    """Keys and customers the MCP tests work with."""

    admin: str
    write: str
    read: str
    alert_id: str


@pytest.fixture
async def world(client: httpx.AsyncClient, make_key: MakeKey) -> World:
    """A Pro customer at 85 % of the plan (one alert), an idle Elite one, three keys."""
    since = (datetime.now(UTC) - timedelta(days=40)).isoformat()  # active before today: scored
    await post_subscription(
        client,
        user_id="pro_user_123",
        tier="pro",
        status="active",
        email="ana@example.com",
        name="Ana",
        timestamp=since,
    )
    await post_subscription(
        client, user_id="cliente_elite_789", tier="elite", status="active", timestamp=since
    )
    await use(client, "pro_user_123", 850_000)
    await use(client, "cliente_elite_789", 2_000, tier="elite")
    read = await make_key("read", name="analyst")
    [alert] = await list_alerts(client, {"Authorization": f"Bearer {read}"})
    return World(
        admin=await make_key("admin", name="lead"),
        write=await make_key("write", name="sales"),
        read=read,
        alert_id=alert["id"],
    )


def text(result: CallToolResult) -> str:
    """The Markdown of a tool result (its one text block)."""
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


def ok(result: CallToolResult) -> tuple[str, dict[str, Any]]:
    """Markdown and structured content of a successful call."""
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return text(result), result.structured_content


def failed(result: CallToolResult) -> str:
    """The message of a call that must have failed as a tool error."""
    assert result.is_error, text(result)
    message = text(result)
    assert "Traceback" not in message
    # The SDK prefixes "Error executing tool NAME: " to an anticipated error's own text; a
    # crash would be the bare "Error executing tool NAME" with nothing of its own.
    prefix, colon, own = message.partition(": ")
    assert prefix.startswith("Error executing tool "), message
    assert colon, f"a crash, not a tool error: {message}"
    return own
