"""What the read API answers."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from nexus_crm.analytics.churn.schemas import ChurnScore


class Window(BaseModel):
    """The days a figure covers, inclusive, in the configured time zone."""

    start: date
    end: date
    days: int
    timezone: str


class Totals(BaseModel):
    """Totals over a window."""

    interactions: int
    tokens: int
    active_users: int
    avg_response_time_ms: float | None
    p95_response_time_ms: float | None = Field(
        description="from a response-time histogram; exact to within one bucket"
    )


class AgentUsage(BaseModel):
    """One agent's use over a window."""

    agent_id: str
    interactions: int
    tokens: int
    users: int
    avg_response_time_ms: float | None
    p95_response_time_ms: float | None
    max_response_time_ms: int


class TierUsage(BaseModel):
    """Use by customers grouped by their current tier."""

    tier: str
    users: int
    interactions: int
    tokens: int


class WindowTotals(BaseModel):
    """Totals over one window."""

    window: Window
    totals: Totals


class Change(BaseModel):
    """Change of each total against a comparison window, in %.

    Each is ``(current - previous) ÷ previous × 100``, rounded to 0.1; null when the
    previous value is 0 or missing (no use, or no response times).
    """

    interactions_pct: float | None
    tokens_pct: float | None
    active_users_pct: float | None
    avg_response_time_pct: float | None
    p95_response_time_pct: float | None


class Comparison(BaseModel):
    """One window against the equally long window just before it."""

    current: WindowTotals
    previous: WindowTotals
    change: Change


class Insights(BaseModel):
    """Usage insights for the last N days, with comparisons."""

    window: Window = Field(description="the last N days, today (so far) included")
    totals: Totals
    agents: list[AgentUsage]
    tiers: list[TierUsage]
    previous: WindowTotals = Field(
        description="the N complete days just before the window (for days=1: all of yesterday)"
    )
    change: Change = Field(
        description="window vs previous; the window's last day is today so far, so a "
        "short window reads low early in the day (see week_over_week)"
    )
    week_over_week: Comparison = Field(
        description="whatever N: the last 7 complete days (yesterday and the 6 before) "
        "vs the 7 days before them"
    )


class PeriodUsage(BaseModel):
    """A customer's use of the current billing period against the tier's limits."""

    period_start: date
    period_end: date = Field(description="first day of the next period (exclusive)")
    tokens_used: int
    interactions_used: int
    token_limit: int
    interaction_limit: int
    tokens_percentage: float
    interactions_percentage: float
    usage_percentage: float = Field(description="max of the two percentages")


class DailyPoint(BaseModel):
    """One day of a customer's use."""

    day: date
    interactions: int
    tokens: int


class CustomerUsage(BaseModel):
    """A customer's subscription, usage against limits and recent daily series."""

    user_id: str
    tier: str
    status: str
    email: str | None
    name: str | None
    usage: PeriodUsage
    agents: list[AgentUsage] = Field(description="per-agent use in the current period")
    daily: list[DailyPoint] = Field(description="the last 30 days, oldest first, zero-filled")
    churn: ChurnScore | None = Field(
        None,
        description="churn probability (next 30 days), top drivers and CLV; null when "
        "the customer was not active at the start of today",
    )
