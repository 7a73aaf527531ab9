"""Tier limits as the API shows and accepts them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from nexus_crm.kit.text import NO_NUL


class TierOut(BaseModel):
    """A tier's monthly limits and price."""

    model_config = ConfigDict(from_attributes=True)

    tier: str = Field(examples=["pro"])
    display_name: str = Field(examples=["Pro"])
    rank: int = Field(description="1 = cheapest; upgrades go to a higher rank")
    monthly_tokens: int
    monthly_interactions: int
    monthly_price: Decimal = Field(description="price per month, in currency units")
    currency: str
    updated_at: datetime


class TierIn(BaseModel):
    """New limits for a tier (``PUT`` replaces them; an unknown tier is created)."""

    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    rank: int = Field(ge=1, le=1000)
    monthly_tokens: int = Field(gt=0, le=10**15)
    monthly_interactions: int = Field(gt=0, le=10**12)
    monthly_price: Decimal = Field(ge=0, le=10**7, max_digits=12, decimal_places=2)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
