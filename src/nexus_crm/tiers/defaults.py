"""Tier limits shipped with NexusCRM (editable with ``PUT /agent-usage/tiers/{tier}``).

Sizes grow about 4-5× per tier so that a customer who outgrows one fits in the next; an
interaction averages ~200 tokens in GENESIS traffic, so the two limits bind at similar use.
"""

from __future__ import annotations

from typing import Final, TypedDict


class TierDefault(TypedDict):
    """Shipped values of one tier."""

    tier: str
    display_name: str
    rank: int
    monthly_tokens: int
    monthly_interactions: int
    monthly_price_cents: int
    currency: str


DEFAULT_TIERS: Final[tuple[TierDefault, ...]] = (
    TierDefault(
        tier="essential",
        display_name="Essential",
        rank=1,
        monthly_tokens=200_000,
        monthly_interactions=1_000,
        monthly_price_cents=2_900,
        currency="USD",
    ),
    TierDefault(
        tier="pro",
        display_name="Pro",
        rank=2,
        monthly_tokens=1_000_000,
        monthly_interactions=5_000,
        monthly_price_cents=9_900,
        currency="USD",
    ),
    TierDefault(
        tier="elite",
        display_name="Elite",
        rank=3,
        monthly_tokens=4_000_000,
        monthly_interactions=20_000,
        monthly_price_cents=29_900,
        currency="USD",
    ),
    TierDefault(
        tier="prime",
        display_name="PRIME",
        rank=4,
        monthly_tokens=15_000_000,
        monthly_interactions=75_000,
        monthly_price_cents=79_900,
        currency="USD",
    ),
    TierDefault(
        tier="longevity",
        display_name="LONGEVITY",
        rank=5,
        monthly_tokens=50_000_000,
        monthly_interactions=250_000,
        monthly_price_cents=199_900,
        currency="USD",
    ),
)

TIER_NAMES: Final[tuple[str, ...]] = tuple(t["tier"] for t in DEFAULT_TIERS)
