"""NGX_Closer.Agent: the MCP server. Thin tools over the NexusCRM REST API.

Every tool is one REST call (so auth, scopes, rate limits and the audit log apply) and
answers twice: Markdown for the person reading the chat, the API's JSON as structured
content for the model. Expected failures come back as tool errors with a clear sentence.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    GetPromptResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field

from nexus_crm import __version__
from nexus_crm.kit.time import utcnow
from nexus_crm.mcp import render, render_sales
from nexus_crm.mcp.client import ApiConfig, ApiError, Call, NexusApi
from nexus_crm.mcp.prompts import PROMPT_NAMES, invalid_prompt_arguments, register_prompts

INSTRUCTIONS = """NGX_Closer.Agent answers questions about how NGX customers use the GENESIS AI
agents (NEXUS, BLAZE, SAGE, …) against their subscription tier (Essential, Pro, Elite, PRIME,
LONGEVITY), shows alerts, churn risk and business metrics, and starts automated upsell
sequences. Reply in the user's language. Never call trigger_upsell_sequence or
manage_usage_alert without the user's explicit confirmation."""

Days = Annotated[int, Field(ge=1, le=366, description="how many days back, today included")]
AlertAction = Literal["acknowledge", "resolve", "dismiss", "snooze"]
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


def result(markdown: str, data: dict[str, Any]) -> CallToolResult:
    """A tool answer: Markdown for people, the API's JSON for the model."""
    return CallToolResult(content=[TextContent(text=markdown)], structured_content=data)


def caller_key(ctx: Context[Any, Any]) -> str | None:
    """The API key or JWT the MCP client sent (``Authorization: Bearer``), over HTTP only."""
    headers = ctx.headers or {}
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


class NexusTools:
    """The tools; each method is registered by name, its docstring is what the model reads."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config

    def api(self, ctx: Context[Any, Any]) -> NexusApi:
        """A REST client with the caller's key (HTTP) or NEXUS_CRM_API_KEY (stdio)."""
        return NexusApi(self.config, caller_key(ctx))

    async def get_agent_usage_insights(
        self, ctx: Context[Any, Any], days: Days = 7
    ) -> CallToolResult:
        """How the GENESIS agents were used over the last `days` days (today included).

        Totals (interactions, tokens, active users, average and p95 response time), each
        agent and each tier, compared with the `days` days before and week over week. Use
        days=1 for today, 7 for "this week", 30 for "this month".
        """
        data = await self.api(ctx).get("/insights", Call("read", "read usage insights"), days=days)
        return result(render.insights(data), data)

    async def get_usage_alerts(self, ctx: Context[Any, Any]) -> CallToolResult:
        """Open alerts: customers near (≥80 %) or over (≥95 %) their tier's limit, churn risk,
        upgrade opportunities, usage anomalies and agent performance degradation.

        Each alert has an `id` to pass to manage_usage_alert. Answers "is any customer close
        to their limit?".
        """
        data = await self.api(ctx).get("/alerts", Call("read", "read alerts"))
        return result(render_sales.alerts(data), data)

    async def analyze_usage_patterns(
        self, ctx: Context[Any, Any], days: Days = 30
    ) -> CallToolResult:
        """Usage patterns over the last `days` complete days, for business insight.

        Overall and per-agent trends, growing / declining / dormant customer cohorts,
        weekday and hour-of-day seasonality, agent mix per tier, and the customers closest
        to their limit this billing period.
        """
        data = await self.api(ctx).get("/patterns", Call("read", "read usage patterns"), days=days)
        return result(render.patterns(data), data)

    async def get_customer_usage(
        self, ctx: Context[Any, Any], user_id: Annotated[str, Field(min_length=1, max_length=128)]
    ) -> CallToolResult:
        """One customer: tier, this billing period's use against the tier's limits, use per
        agent, the last days, churn probability with its drivers, and lifetime value (CLV).

        Use it before recommending an upgrade ("analyse cliente_pro_456's usage").
        """
        call = Call("read", "read a customer's usage", missing=f"no customer {user_id!r}")
        # Quoted whole: an id may hold '/', '?' or '#', which the API route takes as they are.
        data = await self.api(ctx).get(f"/customers/{quote(user_id, safe='')}", call)
        return result(render.customer(data), data)

    async def get_churn_risks(
        self, ctx: Context[Any, Any], limit: Annotated[int, Field(ge=1, le=100)] = 10
    ) -> CallToolResult:
        """Active customers most likely to cancel in the next 30 days, highest first, with
        the drivers behind each score (falling use, days idle, low % of limit…) and CLV.

        Answers "which customers are at risk of churn?"; build a retention plan from it.
        """
        data = await self.api(ctx).get(
            "/churn-risks", Call("read", "read churn risks"), limit=limit
        )
        return result(render_sales.churn_risks(data), data)

    async def get_business_metrics(self, ctx: Context[Any, Any]) -> CallToolResult:
        """Business view of the last 30 days: upsell conversion rate per tier, revenue
        opportunity of open upgrades, agent performance, customer lifetime value, churn
        distribution, active users per tier and each agent's 30-day forecast.
        """
        data = await self.api(ctx).get("/business-metrics", Call("read", "read business metrics"))
        return result(render_sales.business(data), data)

    async def trigger_upsell_sequence(
        self,
        ctx: Context[Any, Any],
        user_id: Annotated[str, Field(min_length=1, max_length=128)],
        recommended_tier: Annotated[str, Field(description="a tier above the current one")],
        reason: Annotated[str, Field(min_length=1, max_length=500)],
    ) -> CallToolResult:
        """Start NGX_Closer.Agent's automated upgrade sequence (personalised emails and
        follow-ups) for a customer, towards `recommended_tier` (essential, pro, elite,
        prime, longevity; must be above the current tier). Only after the user confirms.

        If a sequence is already active for the customer, it is returned unchanged.
        """
        call = Call("write", "start an upsell sequence", missing=f"no customer {user_id!r}")
        body = {"user_id": user_id, "recommended_tier": recommended_tier, "reason": reason}
        data = await self.api(ctx).post("/upsell-sequences", call, body)
        return result(render_sales.sequence(data), data)

    async def manage_usage_alert(
        self,
        ctx: Context[Any, Any],
        alert_id: Annotated[uuid.UUID, Field(description="the `id` from get_usage_alerts")],
        action: AlertAction,
        note: Annotated[str | None, Field(max_length=2000)] = None,
        snooze_hours: Annotated[float | None, Field(gt=0, le=720)] = None,
    ) -> CallToolResult:
        """Act on an alert: acknowledge (seen, being handled), resolve (dealt with; raised
        again if the condition returns), dismiss (ignore for this period) or snooze (hide
        for `snooze_hours`, default 24, at most 720). `note` is kept in the alert's history.
        """
        if snooze_hours is not None and action != "snooze":
            raise ApiError("snooze_hours applies to action='snooze' only")
        body: dict[str, Any] = {"note": note} if note else {}
        if action == "snooze":
            body["until"] = (utcnow() + timedelta(hours=snooze_hours or 24)).isoformat()
        call = Call("write", f"{action} alerts", missing=f"no alert {alert_id}")
        data = await self.api(ctx).post(f"/alerts/{alert_id}/{action}", call, body or None)
        return result(render_sales.alert_action(data, action), data)


READ_TOOLS = (
    "get_agent_usage_insights",
    "get_usage_alerts",
    "analyze_usage_patterns",
    "get_customer_usage",
    "get_churn_risks",
    "get_business_metrics",
)
WRITE_TOOLS = ("trigger_upsell_sequence", "manage_usage_alert")


class NexusServer(MCPServer[Any]):
    """MCPServer whose unknown tools and prompts, and bad prompt arguments, are -32602.

    The SDK answers an unknown tool with a tool result and a prompt it cannot render with an
    internal error; the MCP spec wants JSON-RPC "invalid params" for both. Bad *tool*
    arguments stay tool results (``isError``), as the spec wants: the model corrects them.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call tool ``name``; :class:`MCPError` -32602 if there is no such tool."""
        if name not in READ_TOOLS + WRITE_TOOLS:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}", {"tool": name})
        return await super().call_tool(name, arguments, context)

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        """Render prompt ``name``; :class:`MCPError` -32602 if unknown or its arguments are bad."""
        if name not in PROMPT_NAMES:
            known = ", ".join(PROMPT_NAMES)
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name} (known: {known})")
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:
            invalid = invalid_prompt_arguments(name, exc)
            if invalid is None:
                raise
            raise invalid from None


def build_server(config: ApiConfig) -> MCPServer[Any]:
    """The NGX_Closer.Agent server: eight tools and three prompts over ``config``'s API."""
    server = NexusServer(
        "NGX_Closer.Agent", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = NexusTools(config)
    for name in READ_TOOLS + WRITE_TOOLS:
        fn = getattr(tools, name)
        server.add_tool(
            fn,
            description=inspect.cleandoc(fn.__doc__ or ""),
            annotations=READ_ONLY if name in READ_TOOLS else WRITES,
        )
    register_prompts(server)
    return server
