"""The issue's end to end: a customer at 85 % → alert → sequence → email → upgrade → converted.

Once over REST, once as the seed's three practical cases through the MCP tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from mcp import Client
from mcp_types import CallToolResult, TextContent

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.worker import evaluate_once
from nexus_crm.closer.worker import deliver_due
from nexus_crm.kit.time import utcnow
from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.server import build_server
from nexus_crm.settings import Settings
from nexus_crm.simulate.load import load_history
from nexus_crm.simulate.population import build_population
from tests.alerts.helpers import list_alerts, post_events
from tests.closer.conftest import SEQUENCES, Inbox, heavy_user, sequence_of, start
from tests.support import event

USER = "cliente_85"


def conversion_of(metrics: dict[str, Any], tier: str) -> dict[str, Any]:
    """The upsell-sequence conversion row of a tier."""
    rows = [c for c in metrics["conversion"] if c["source"] == "upsell_sequences"]
    row: dict[str, Any] = next(c for c in rows if c["tier"] == tier)
    return row


async def customer_at_85(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> dict[str, Any]:
    """A Pro customer at 85 % with its limit alert and, after evaluation, its upgrade alert."""
    await heavy_user(client, USER)
    usage = (await client.get(f"/agent-usage/customers/{USER}", headers=headers)).json()
    assert usage["usage"]["usage_percentage"] == 85.0
    limit = await list_alerts(client, headers, user_id=USER)
    assert [a["alert_type"] for a in limit] == ["usage_limit_approaching"]  # raised on ingest
    policy = AlertPolicy.from_settings(settings)
    await evaluate_once(app.state.sessions, policy)
    upgrade = await list_alerts(client, headers, user_id=USER, type="upgrade_opportunity")
    assert len(upgrade) == 1
    return upgrade[0]


async def test_from_85_percent_to_a_converted_sequence(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    upgrade = await customer_at_85(app, client, admin_headers, settings)
    target = upgrade["data"]["recommended_tier"]
    assert target == "elite"

    before = (await client.get("/agent-usage/business-metrics", headers=admin_headers)).json()
    assert conversion_of(before, "pro")["started"] == 0
    resp = await start(client, admin_headers, USER, tier=target, reason=upgrade["title"])
    assert resp.status_code == 201, resp.text
    seq = sequence_of(resp)

    await deliver_due(app.state.sessions, settings, now=utcnow())
    (mail,) = inbox[0].messages
    assert mail["To"] == f"{USER}@example.com"
    assert "85 %" in mail["Subject"]
    body = mail.get_content()
    for figure in (
        "850,000 of 1,000,000 tokens (85 %)",
        "8 of 5,000 interactions",
        "SAGE (8 interactions)",
        "Elite",
        "299.00 USD",
    ):
        assert figure in body, figure

    await post_events(client, event(user_id=USER, subscription_tier="elite"))
    done = (await client.get(f"{SEQUENCES}/{seq['id']}", headers=admin_headers)).json()
    assert done["status"] == "converted"
    assert [s["status"] for s in done["steps"]] == ["sent", "skipped", "skipped"]
    after = (await client.get("/agent-usage/business-metrics", headers=admin_headers)).json()
    row = conversion_of(after, "pro")
    assert (row["started"], row["converted"], row["pending"], row["rate"]) == (1, 1, 0, 1.0)


async def background_traffic(settings: Settings, app: FastAPI) -> int:
    """Two weeks of simulated traffic of 20 other customers (nexus_crm.simulate), loaded."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = end.date() - timedelta(days=14)
    pop = build_population(seed=77, size=20, days=14, first_day=first, tz=ZoneInfo("UTC"))
    return await load_history(app.state.sessions, settings, pop, end)


def tool_ok(result: CallToolResult) -> tuple[str, dict[str, Any]]:
    """Markdown and structured content of a tool call that must have worked."""
    [block] = result.content
    assert isinstance(block, TextContent)
    assert not result.is_error, block.text
    assert result.structured_content is not None
    return block.text, result.structured_content


async def test_the_seed_s_three_cases_through_the_mcp_tools(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    inbox: tuple[Inbox, int],
) -> None:
    assert await background_traffic(settings, app) > 1000
    upgrade = await customer_at_85(app, client, admin_headers, settings)
    key = admin_headers["Authorization"].removeprefix("Bearer ")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with Client(build_server(ApiConfig("http://test", key, transport))) as mcp:
        # 1. "¿Hay algún cliente cerca de su límite?" — the alerts name the customer at 85 %.
        md, alerts = tool_ok(await mcp.call_tool("get_usage_alerts", {}))
        assert USER in md
        assert {a["alert_type"] for a in alerts["alerts"] if a["user_id"] == USER} >= {
            "usage_limit_approaching",
            "upgrade_opportunity",
        }
        # 2. "¿Cómo va el uso de cliente_85?" — its figures.
        md, usage = tool_ok(await mcp.call_tool("get_customer_usage", {"user_id": USER}))
        assert usage["usage"]["usage_percentage"] == 85.0
        assert "85" in md
        # 3. "Inicia secuencia de upgrade para cliente_85 a elite."
        args = {"user_id": USER, "recommended_tier": "elite", "reason": upgrade["title"]}
        md, started = tool_ok(await mcp.call_tool("trigger_upsell_sequence", args))
        assert started["created"] is True
        assert started["sequence"]["status"] == "active"
        await deliver_due(app.state.sessions, settings, now=utcnow())
        (mail,) = inbox[0].messages
        assert mail["To"] == f"{USER}@example.com"
        assert "850,000 of 1,000,000 tokens (85 %)" in mail.get_content()
        await post_events(client, event(user_id=USER, subscription_tier="elite"))
        _, metrics = tool_ok(await mcp.call_tool("get_business_metrics", {}))
    seq = (
        await client.get(f"{SEQUENCES}/{started['sequence']['id']}", headers=admin_headers)
    ).json()
    assert seq["status"] == "converted"
    assert seq["created_by"].startswith("key:")
    row = conversion_of(metrics, "pro")
    assert (row["started"], row["converted"], row["rate"]) == (1, 1, 1.0)
