"""Upgrade opportunities as the API shows them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class UpgradeOpportunity(BaseModel):
    """A customer projected to outgrow its tier this billing period, with a recommendation."""

    user_id: str
    tier: str
    tier_name: str
    tier_rank: int
    period_start: date
    period_end: date = Field(description="exclusive")
    elapsed_days: int = Field(description="complete days of the period before today")
    active_days_last_7: int
    tokens_used: int = Field(description="complete days of the period")
    interactions_used: int
    token_limit: int
    interaction_limit: int
    projected_tokens: int
    projected_interactions: int
    usage_percentage: float
    projected_percentage: float = Field(description="projected use at the period end, % of limit")
    run_rate_percentage: float = Field(description="trailing 7-day pace × days in the period, %")
    recommended_tier: str
    recommended_tier_name: str
    current_monthly_price: Decimal
    recommended_monthly_price: Decimal
    revenue_delta_monthly: Decimal = Field(description="recommended − current monthly price")
    currency: str
    confidence: float = Field(ge=0, le=1)


class UpgradeOpportunities(BaseModel):
    """Open upgrade opportunities, by expected revenue (delta × confidence), largest first."""

    as_of: date = Field(description="today in NEXUS_CRM_TIMEZONE; complete days before it count")
    threshold_percentage: float
    count: int
    opportunities: list[UpgradeOpportunity]
