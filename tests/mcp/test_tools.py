"""Every tool through an in-memory MCP client, its REST calls reaching the in-process app."""

from __future__ import annotations

from typing import Any

import httpx

from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.server import READ_TOOLS, WRITE_TOOLS
from tests.mcp.conftest import Connect, World, failed, ok
from tests.processes import free_port

TOOLS = {
    "get_agent_usage_insights",
    "get_usage_alerts",
    "analyze_usage_patterns",
    "trigger_upsell_sequence",
    "manage_usage_alert",
    "get_customer_usage",
    "get_churn_risks",
    "get_business_metrics",
}


async def rest(client: httpx.AsyncClient, key: str, path: str, **params: Any) -> Any:
    resp = await client.get(
        f"/agent-usage{path}", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_lists_the_seed_tools_with_docstrings_for_the_model(connect: Connect) -> None:
    async with connect(None) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert set(tools) == TOOLS == set(READ_TOOLS + WRITE_TOOLS)
    for tool in tools.values():
        assert len(tool.description or "") > 80, tool.name
        assert not any(line.startswith(" ") for line in tool.description.splitlines())
    insights = tools["get_agent_usage_insights"].input_schema["properties"]["days"]
    assert (insights["default"], insights["minimum"]) == (7, 1)
    assert tools["analyze_usage_patterns"].input_schema["properties"]["days"]["default"] == 30
    assert tools["get_churn_risks"].input_schema["properties"]["limit"]["default"] == 10
    trigger = tools["trigger_upsell_sequence"].input_schema
    assert set(trigger["required"]) == {"user_id", "recommended_tier", "reason"}
    manage = tools["manage_usage_alert"].input_schema
    assert set(manage["required"]) == {"alert_id", "action"}
    assert tools["get_usage_alerts"].annotations is not None
    assert tools["get_usage_alerts"].annotations.read_only_hint is True


async def test_usage_tools_answer_markdown_and_the_apis_json(
    connect: Connect, world: World, client: httpx.AsyncClient
) -> None:
    async with connect(world.read) as mcp:
        md, data = ok(await mcp.call_tool("get_agent_usage_insights", {"days": 1}))
        assert md.startswith("## Agent usage — last 1 day(s)")
        assert "**2 interactions**" in md
        assert "| NEXUS |" in md
        assert data == await rest(client, world.read, "/insights", days=1)
        md, data = ok(await mcp.call_tool("get_agent_usage_insights", {}))
        assert data["window"]["days"] == 7
        md, data = ok(await mcp.call_tool("analyze_usage_patterns", {"days": 7}))
        assert md.startswith("## Usage patterns — 7 complete days")
        assert "| pro_user_123 | pro | 85.0 % |" in md
        assert data == await rest(client, world.read, "/patterns", days=7)
        md, data = ok(await mcp.call_tool("get_customer_usage", {"user_id": "pro_user_123"}))
        assert "## Customer pro_user_123 (Ana · ana@example.com)" in md
        assert "**85.0 % of the limit**" in md
        assert data == await rest(client, world.read, "/customers/pro_user_123")


async def test_alert_churn_and_business_tools(
    connect: Connect, world: World, client: httpx.AsyncClient
) -> None:
    async with connect(world.read) as mcp:
        md, data = ok(await mcp.call_tool("get_usage_alerts", {}))
        assert md.startswith("## Open alerts (1)")
        assert "`usage_limit_approaching` — pro_user_123" in md
        assert world.alert_id in md
        assert data == await rest(client, world.read, "/alerts")
        md, data = ok(await mcp.call_tool("get_churn_risks", {}))
        assert md.startswith("## Churn risk — next 30 days")
        assert {c["user_id"] for c in data["customers"]} == {"pro_user_123", "cliente_elite_789"}
        assert "| cliente_elite_789 | elite |" in md
        md, data = ok(await mcp.call_tool("get_churn_risks", {"limit": 1}))
        assert len(data["customers"]) == 1
        md, data = ok(await mcp.call_tool("get_business_metrics", {}))
        assert md.startswith("## Business metrics")
        assert "Revenue opportunity" in md
        assert "### Interaction forecast" in md
        assert data["window"]["days"] == 30


async def test_manage_usage_alert_runs_the_lifecycle(
    connect: Connect, world: World, client: httpx.AsyncClient
) -> None:
    async with connect(world.write) as mcp:
        args = {"alert_id": world.alert_id, "action": "acknowledge", "note": "calling Ana"}
        md, data = ok(await mcp.call_tool("manage_usage_alert", args))
        assert data["status"] == "acknowledged"
        assert "acknowledged; its status is now **acknowledged**" in md
        assert data["history"][-1]["note"] == "calling Ana"
        assert data["history"][-1]["actor"].startswith("key:")
        args = {"alert_id": world.alert_id, "action": "snooze", "snooze_hours": 2}
        md, data = ok(await mcp.call_tool("manage_usage_alert", args))
        assert data["snoozed_until"] is not None
        assert "snoozed until" in md
        assert (await rest(client, world.read, "/alerts"))["count"] == 0
        args = {"alert_id": world.alert_id, "action": "resolve"}
        _, data = ok(await mcp.call_tool("manage_usage_alert", args))
        assert data["status"] == "resolved"
        again = failed(await mcp.call_tool("manage_usage_alert", args))
        assert again.startswith("cannot resolve alerts:"), again


async def test_manage_usage_alert_errors(connect: Connect, world: World) -> None:
    unknown = "0191e7a0-0000-7000-8000-000000000000"
    async with connect(world.write) as mcp:
        msg = failed(
            await mcp.call_tool("manage_usage_alert", {"alert_id": unknown, "action": "resolve"})
        )
        assert msg.startswith(f"no alert {unknown}"), msg
        args = {"alert_id": world.alert_id, "action": "dismiss", "snooze_hours": 3}
        msg = failed(await mcp.call_tool("manage_usage_alert", args))
        assert msg == "snooze_hours applies to action='snooze' only"
        args = {"alert_id": world.alert_id, "action": "delete"}
        assert "action" in failed(await mcp.call_tool("manage_usage_alert", args))
        args = {"alert_id": "not-a-uuid", "action": "resolve"}
        assert "alert_id" in failed(await mcp.call_tool("manage_usage_alert", args))
        args = {"alert_id": world.alert_id, "action": "dismiss"}
        _, data = ok(await mcp.call_tool("manage_usage_alert", args))
        assert data["status"] == "dismissed"


async def test_read_only_key_reads_but_cannot_trigger_or_manage(
    connect: Connect, world: World
) -> None:
    async with connect(world.read) as mcp:
        ok(await mcp.call_tool("get_usage_alerts", {}))
        args = {"user_id": "pro_user_123", "recommended_tier": "elite", "reason": "High usage"}
        msg = failed(await mcp.call_tool("trigger_upsell_sequence", args))
        assert msg.startswith("this API key lacks the 'write' scope needed to start an upsell")
        args = {"alert_id": world.alert_id, "action": "acknowledge"}
        msg = failed(await mcp.call_tool("manage_usage_alert", args))
        assert msg.startswith("this API key lacks the 'write' scope needed to acknowledge alerts")


async def test_unknown_customer_and_bad_arguments(connect: Connect, world: World) -> None:
    async with connect(world.admin) as mcp:
        msg = failed(await mcp.call_tool("get_customer_usage", {"user_id": "nobody"}))
        assert msg.startswith("no customer 'nobody'"), msg
        assert "days" in failed(await mcp.call_tool("get_agent_usage_insights", {"days": 0}))
        assert "limit" in failed(await mcp.call_tool("get_churn_risks", {"limit": 1000}))


async def test_missing_or_revoked_key_and_unreachable_api(connect: Connect, world: World) -> None:
    async with connect(None) as mcp:
        msg = failed(await mcp.call_tool("get_usage_alerts", {}))
        assert msg.startswith("no NexusCRM API key: set NEXUS_CRM_API_KEY"), msg
    async with connect("ncrm_00000000_forged") as mcp:
        msg = failed(await mcp.call_tool("get_usage_alerts", {}))
        assert msg.startswith("the NexusCRM API refused the API key (invalid or revoked"), msg
    closed = ApiConfig(f"http://127.0.0.1:{free_port()}", world.read)  # nothing listens
    async with connect(None, config=closed) as mcp:
        for name, args in (("get_usage_alerts", {}), ("get_customer_usage", {"user_id": "x"})):
            msg = failed(await mcp.call_tool(name, args))
            assert msg.startswith(f"the NexusCRM API at {closed.base_url} is unreachable"), msg
