"""The three prompts through an in-memory MCP client."""

from __future__ import annotations

from mcp_types import GetPromptResult, TextContent

from tests.mcp.conftest import Connect


def prompt_text(result: GetPromptResult) -> str:
    [message] = result.messages
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    return message.content.text


async def test_lists_the_three_prompts(connect: Connect) -> None:
    async with connect(None) as mcp:
        prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    assert set(prompts) == {"agent_usage_report", "customer_health_check", "daily_usage_report"}
    assert all(p.description for p in prompts.values())
    [user] = prompts["customer_health_check"].arguments or []
    assert (user.name, user.required) == ("user_id", False)


async def test_daily_usage_report_is_the_seeds_example_1(connect: Connect) -> None:
    async with connect(None) as mcp:
        text = prompt_text(await mcp.get_prompt("daily_usage_report"))
    steps = [
        "1. Call get_agent_usage_insights(days=1)",
        "2. Call get_usage_alerts()",
        "3. Call analyze_usage_patterns(days=7)",
        "4. Write a comprehensive report",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)


async def test_agent_usage_report_takes_the_days(connect: Connect) -> None:
    async with connect(None) as mcp:
        week = prompt_text(await mcp.get_prompt("agent_usage_report"))
        month = prompt_text(await mcp.get_prompt("agent_usage_report", {"days": "30"}))
    assert "get_agent_usage_insights(days=7)" in week
    assert "get_agent_usage_insights(days=30)" in month
    assert "analyze_usage_patterns(days=30)" in month
    assert "get_business_metrics()" in month


async def test_customer_health_check_for_one_customer_or_all(connect: Connect) -> None:
    async with connect(None) as mcp:
        one = prompt_text(
            await mcp.get_prompt("customer_health_check", {"user_id": "cliente_pro_456"})
        )
        everyone = prompt_text(await mcp.get_prompt("customer_health_check"))
    assert 'get_customer_usage(user_id="cliente_pro_456")' in one
    assert "ASK before calling trigger_upsell_sequence" in one
    assert "get_churn_risks(limit=10)" in everyone
    assert "cliente_pro_456" not in everyone
