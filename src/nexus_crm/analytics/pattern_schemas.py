"""What ``GET /agent-usage/patterns`` answers (definitions: docs/analytics.md)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from nexus_crm.analytics.schemas import Window

TrendClass = Literal["growing", "declining", "stable", "dormant"]


class Thresholds(BaseModel):
    """The rules that put a series in a trend class."""

    growing_change_pct: float = Field(description="growing: change_pct at least this …")
    declining_change_pct: float = Field(description="declining: change_pct at most this …")
    min_abs_t: float = Field(description="… and |t_stat| at least this, slope of the same sign")
    dormant_days: int = Field(
        description="dormant: no use in the window's last this-many days, nor today, "
        "but some earlier in the window"
    )


class Trend(BaseModel):
    """The trend of a daily interaction series over the window."""

    interactions: int = Field(description="total over the window")
    daily_mean: float = Field(description="interactions per day, rounded to 0.01")
    slope_per_day: float | None = Field(
        description="least-squares slope of daily interactions, in interactions/day per "
        "day, rounded to 0.001; null for a one-day window"
    )
    change_pct: float | None = Field(
        description="% change of the window's second half over its first (⌊N/2⌋ days each; "
        "the middle day of an odd window is left out), rounded to 0.1; null when the first "
        "half has no use"
    )
    t_stat: float | None = Field(
        description="slope ÷ its standard error, rounded to 0.01 and capped at ±1000 "
        "(|t| ≥ 2: significant); null for windows under 3 days"
    )
    trend: TrendClass


class AgentTrend(Trend):
    """One agent's trend over all customers."""

    agent_id: str


class CustomerTrend(Trend):
    """One customer's trend over all agents."""

    user_id: str
    tier: str = Field(description="current tier ('unknown' without a customer record)")
    status: str = Field(description="current subscription status")
    last_active_day: date = Field(description="last day with use, today included")


class Cohort(BaseModel):
    """Customers of one trend class: how many, and the first ``limit`` of them."""

    count: int
    customers: list[CustomerTrend]


class Cohorts(BaseModel):
    """Customers with use in the window, by trend class."""

    growing: Cohort = Field(description="by change_pct, largest first (new ones first)")
    declining: Cohort = Field(description="by change_pct, steepest first")
    dormant: Cohort = Field(description="by interactions in the window, largest first")
    stable: Cohort = Field(description="by interactions in the window, largest first")


class WeekdayPoint(BaseModel):
    """Mean use on one weekday of the window."""

    weekday: int = Field(description="0 = Monday … 6 = Sunday")
    name: str
    days: int = Field(description="how many of this weekday the window holds")
    mean_interactions: float = Field(description="interactions per such day, rounded to 0.01")
    index: float = Field(description="mean ÷ the window's mean per day, rounded to 0.001")


class HourPoint(BaseModel):
    """Mean use in one local hour of the day over the window."""

    hour: int = Field(description="0-23, in the configured time zone")
    mean_interactions: float = Field(description="interactions in this hour per day of the window")
    index: float = Field(description="mean ÷ the mean over all 24 hours, rounded to 0.001")


class Seasonality(BaseModel):
    """When in the week and in the day the agents are used."""

    weekday: list[WeekdayPoint] = Field(description="Monday first; empty without use")
    hour_of_day: list[HourPoint] = Field(description="hour 0 first; empty without use")


class AgentShare(BaseModel):
    """An agent's share of a tier's interactions."""

    agent_id: str = Field(description="'(other)' sums the agents beyond the limit")
    interactions: int
    share_pct: float = Field(description="% of the tier's interactions, rounded to 0.01")


class TierMix(BaseModel):
    """Which agents customers of one (current) tier use."""

    tier: str
    interactions: int
    agents: list[AgentShare] = Field(description="by interactions, largest first")


class CustomerVolume(BaseModel):
    """A customer's use over the window."""

    user_id: str
    tier: str
    interactions: int
    tokens: int


class CustomerLimitUse(BaseModel):
    """A customer's use of the current billing period against the tier's limits."""

    user_id: str
    tier: str
    status: str
    period_start: date
    period_end: date = Field(description="first day of the next period (exclusive)")
    tokens_used: int
    interactions_used: int
    usage_percentage: float = Field(
        description="max(tokens ÷ token limit, interactions ÷ interaction limit) × 100, "
        "rounded to 0.01"
    )


class TopCustomers(BaseModel):
    """The biggest users, each list at most ``limit`` long."""

    by_interactions: list[CustomerVolume] = Field(description="over the window")
    by_tokens: list[CustomerVolume] = Field(description="over the window")
    by_limit_pct: list[CustomerLimitUse] = Field(
        description="current billing period (today included), highest usage_percentage first"
    )


class Patterns(BaseModel):
    """Trends, seasonality, agent mix and customer cohorts over the last N complete days."""

    window: Window = Field(description="the N complete days ending yesterday (today excluded)")
    thresholds: Thresholds
    overall: Trend = Field(description="all customers and agents together")
    agents: list[AgentTrend] = Field(description="by interactions, largest first")
    customers: Cohorts
    seasonality: Seasonality
    agent_mix: list[TierMix] = Field(description="per customers' current tier, over the window")
    top_customers: TopCustomers
