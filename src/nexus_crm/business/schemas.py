"""Business metrics as the API shows them (definitions: docs/business-metrics.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from nexus_crm.analytics.churn.schemas import ChurnScore
from nexus_crm.analytics.schemas import AgentUsage, Window


class TierConversion(BaseModel):
    """Upgrade attempts started from one tier in the window, and how many converted."""

    source: Literal["upgrade_alerts", "upsell_sequences"] = Field(
        description="what counts as an attempt: an upgrade_opportunity alert or an upsell "
        "sequence (each source has its own rows)"
    )
    tier: str = Field(description="the customer's tier when the attempt started")
    tier_name: str
    started: int
    converted: int = Field(
        description="followed within follow_up_days by the recommended tier or a higher one"
    )
    pending: int = Field(description="not converted, and the follow-up period is not over")
    rate: float | None = Field(
        description="converted ÷ (started − pending); null when no attempt has an outcome yet"
    )


class TierOpportunity(BaseModel):
    """Open upgrade opportunities of one tier, weighted by that tier's conversion rate."""

    tier: str
    opportunities: int
    revenue_delta_monthly: Decimal = Field(description="Σ recommended − current monthly price")
    conversion_rate: float
    rate_source: Literal["observed", "prior"] = Field(
        description="observed: the tier's conversion rate; prior: CONVERSION_PRIOR_RATE"
    )
    expected_revenue_monthly: Decimal = Field(description="revenue delta × conversion rate")


class RevenueOpportunity(BaseModel):
    """Σ over open upgrade opportunities of price difference × conversion rate."""

    currency: str
    total_revenue_delta_monthly: Decimal
    expected_revenue_monthly: Decimal
    tiers: list[TierOpportunity]


class AgentPerformance(AgentUsage):
    """One agent over the window, with its share of all use."""

    interactions_share: float = Field(description="of all agents' interactions, 0..1")
    tokens_share: float = Field(description="of all agents' tokens, 0..1")


class ChurnDistribution(BaseModel):
    """Churn probabilities of active customers: ten buckets of 0.1, mean, median."""

    customers: int
    buckets: list[int] = Field(description="counts in [0, 0.1), [0.1, 0.2), …, [0.9, 1.0]")
    mean: float | None
    median: float | None


class CustomerValue(BaseModel):
    """Customer lifetime value of active customers (churn model's contractual CLV)."""

    model: str = Field(description="the churn scorer used: logistic, boosting or rules")
    customers: int
    total_clv: float = Field(description="Σ monthly price × expected remaining lifetime, USD")
    top: list[ChurnScore] = Field(description="highest CLV first")


class TierActiveUsers(BaseModel):
    """Customers of a tier (current tier) with any use in the last 7 and 30 days."""

    tier: str
    last_7_days: int
    last_30_days: int


class ForecastPoint(BaseModel):
    """One forecast day: point forecast and 80 % / 95 % prediction intervals."""

    day: date
    mean: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class ForecastBacktest(BaseModel):
    """The method refitted without the last holdout_days days, scored on them."""

    method: Literal["ets", "seasonal_naive", "mean"]
    holdout_days: int
    mape_pct: float | None = Field(description="mean |y − ŷ| ÷ y × 100 over days with y > 0")
    smape_pct: float = Field(description="mean 200 × |y − ŷ| ÷ (|y| + |ŷ|); 0 when both are 0")
    coverage_80: float = Field(description="share of held-out days inside the 80 % interval")
    coverage_95: float


class SeriesForecast(BaseModel):
    """Forecast of one daily series of one agent."""

    method: Literal["ets", "seasonal_naive", "mean", "none"]
    note: str = Field(description="why this method (or why no forecast)")
    history_days: int
    next_7_days: float | None = Field(description="Σ of the daily point forecasts")
    next_30_days: float | None
    daily: list[ForecastPoint] = Field(description="from today, 30 days")
    backtest: ForecastBacktest | None


class AgentForecast(BaseModel):
    """Daily interactions and tokens of one agent, forecast for the next 30 days."""

    agent_id: str
    interactions: SeriesForecast
    tokens: SeriesForecast


class BusinessMetrics(BaseModel):
    """Conversion, revenue opportunity, agent performance, CLV, active users, forecasts."""

    as_of: date = Field(description="today in NEXUS_CRM_TIMEZONE")
    window: Window = Field(description="the last N days (conversion and agent performance)")
    follow_up_days: int = Field(description="days after an attempt in which a conversion counts")
    conversion: list[TierConversion]
    revenue_opportunity: RevenueOpportunity
    agents: list[AgentPerformance]
    customer_value: CustomerValue
    churn_distribution: ChurnDistribution
    active_users: list[TierActiveUsers]
    forecast_history_days: int = Field(description="complete days before today the models see")
    forecasts: list[AgentForecast]
