"""The NGX team's ready-made requests: which tools to call, in which order, and what to write."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import Field, ValidationError

REPORT_SHAPE = """Write it for the NGX team, in their language (Spanish unless they wrote in
another), in Markdown: a three-line summary first, then the figures that support it, then
concrete next actions (who to contact, which upgrade to offer, which alert to handle). Quote
numbers from the tool results; do not invent any."""


def agent_usage_report(days: Annotated[int, Field(ge=1, le=366)] = 7) -> str:
    """Executive report on GENESIS agent usage over the last N days (default 7)."""
    return f"""Prepare an executive report on GENESIS agent usage over the last {days} days.

1. Call get_agent_usage_insights(days={days}) for totals, agents, tiers and the changes.
2. Call analyze_usage_patterns(days={max(days, 7)}) for trends, cohorts and seasonality.
3. Call get_usage_alerts() for customers near their limit and other open alerts.
4. Call get_business_metrics() for conversion, revenue opportunity and forecasts.

Cover: overall use and its trend, the busiest and slowest agents (response times), use per
tier, upgrade opportunities with their revenue, and risks.

{REPORT_SHAPE}"""


def customer_health_check(
    user_id: Annotated[str | None, Field(description="one customer; empty: all")] = None,
) -> str:
    """Health assessment of customers from their usage: one customer, or the whole base."""
    if user_id:
        return f"""Assess the health of customer {user_id}.

1. Call get_customer_usage(user_id="{user_id}"): tier, % of the limit, trend, churn drivers.
2. Call get_usage_alerts() and keep the alerts about {user_id}.

Classify the customer as healthy, at risk of churn, or ready to upgrade, and say why. If an
upgrade fits, propose the tier and a reason and ASK before calling trigger_upsell_sequence.

{REPORT_SHAPE}"""
    return f"""Assess the health of the NGX customer base.

1. Call get_churn_risks(limit=10) for the customers most likely to cancel and why.
2. Call analyze_usage_patterns(days=30) for the declining and dormant cohorts.
3. Call get_usage_alerts() for limit, churn and upgrade alerts.

Group customers into: at risk (with a retention action each), ready to upgrade (with the
tier), and healthy. Elite/PRIME customers using under 30 % of their limit deserve a note.

{REPORT_SHAPE}"""


def daily_usage_report() -> str:
    """The morning report of the seed's Example 1: today so far, open alerts, the week."""
    return f"""Generate today's daily GENESIS agent usage report.

1. Call get_agent_usage_insights(days=1): today so far against yesterday.
2. Call get_usage_alerts(): what needs attention now.
3. Call analyze_usage_patterns(days=7): the week's trends and cohorts.
4. Write a comprehensive report with insights from the three results.

{REPORT_SHAPE}"""


PROMPTS = (agent_usage_report, customer_health_check, daily_usage_report)
PROMPT_NAMES = tuple(fn.__name__ for fn in PROMPTS)


def register_prompts(server: MCPServer[Any]) -> None:
    """Add the three prompts to ``server``."""
    for fn in PROMPTS:
        server.prompt()(fn)


def _validation_error(exc: BaseException | None) -> ValidationError | None:
    # The SDK wraps the arguments' ValidationError in ValueErrors ("Error rendering prompt").
    while exc is not None and not isinstance(exc, ValidationError):
        exc = exc.__cause__
    return exc


def invalid_prompt_arguments(name: str, exc: ValueError) -> MCPError | None:
    """MCPError -32602 naming each bad argument if bad arguments caused ``exc``; else None."""
    invalid = _validation_error(exc)
    if invalid is None:
        return None
    # Field names and pydantic's messages only: the rejected values are the caller's data.
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "arguments", "message": e["msg"]}
        for e in invalid.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return MCPError(INVALID_PARAMS, f"Invalid arguments for prompt {name}: {detail}", errors)
