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


# Lowest rank first: tier, display name, monthly tokens, monthly interactions, price in cents.
_TABLE: Final = (
    ("essential", "Essential", 200_000, 1_000, 2_900),
    ("pro", "Pro", 1_000_000, 5_000, 9_900),
    ("elite", "Elite", 4_000_000, 20_000, 29_900),
    ("prime", "PRIME", 15_000_000, 75_000, 79_900),
    ("longevity", "LONGEVITY", 50_000_000, 250_000, 199_900),
)
DEFAULT_TIERS: Final[tuple[TierDefault, ...]] = tuple(
    TierDefault(
        tier=tier,
        display_name=name,
        rank=index + 1,
        monthly_tokens=tokens,
        monthly_interactions=interactions,
        monthly_price_cents=cents,
        currency="USD",
    )
    for index, (tier, name, tokens, interactions, cents) in enumerate(_TABLE)
)

TIER_NAMES: Final[tuple[str, ...]] = tuple(t["tier"] for t in DEFAULT_TIERS)
