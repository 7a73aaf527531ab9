"""Fixed shapes of simulated GENESIS traffic: agents, seasonality, tier capacities."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import accumulate
from types import MappingProxyType
from typing import Final

from nexus_crm.tiers import DEFAULT_TIERS

# Agent -> (popularity weight, median response time in ms when healthy).
AGENTS: Final[Mapping[str, tuple[float, int]]] = MappingProxyType(
    {
        "NEXUS": (30, 1200),
        "BLAZE": (20, 900),
        "SAGE": (18, 1600),
        "WAVE": (10, 1000),
        "SPARK": (8, 700),
        "NOVA": (6, 1400),
        "LUNA": (4, 1100),
        "STELLA": (4, 1300),
    }
)
RESPONSE_SIGMA: Final = 0.35  # lognormal spread of response times around the median
MAX_RESPONSE_MS: Final = 120_000
TOKEN_SIGMA: Final = 0.45  # lognormal spread of tokens around the customer's mean

# Relative traffic per local hour (0-23): quiet nights, a morning and an afternoon peak.
HOURLY: Final = (
    0.2,
    0.12,
    0.08,
    0.06,
    0.06,
    0.1,
    0.25,
    0.5,
    0.8,
    1.0,
    1.1,
    1.1,
    0.9,
    0.95,
    1.05,
    1.1,
    1.05,
    0.95,
    0.85,
    0.8,
    0.75,
    0.6,
    0.45,
    0.3,
)
HOURLY_CUMULATIVE: Final = tuple(accumulate(HOURLY))
_WEEKLY_RAW = (1.1, 1.12, 1.1, 1.05, 0.95, 0.65, 0.55)  # Monday .. Sunday
# Normalised to a mean of 1, so a customer's base volume is its weekly-average day.
WEEKDAY: Final = tuple(w * 7 / sum(_WEEKLY_RAW) for w in _WEEKLY_RAW)

DAYS_PER_MONTH: Final = 30  # "monthly-equivalent" volume = daily volume × 30
TIER_ORDER: Final = tuple(t["tier"] for t in sorted(DEFAULT_TIERS, key=lambda t: t["rank"]))
LIMITS: Final = MappingProxyType(
    {t["tier"]: (t["monthly_interactions"], t["monthly_tokens"]) for t in DEFAULT_TIERS}
)

# Share of each tier among customers, and per tier the range of absolute daily volume a
# non-growing customer has: people use GENESIS a few to a few dozen times a day whatever
# they pay, so big tiers use a small share of their limits. At least 3 a day: an active user.
TIER_MIX: Final = MappingProxyType(
    {"essential": 0.40, "pro": 0.30, "elite": 0.16, "prime": 0.09, "longevity": 0.05}
)
DAILY_RANGE: Final = MappingProxyType(
    {
        "essential": (3.0, 10.0),
        "pro": (3.0, 12.0),
        "elite": (4.0, 14.0),
        "prime": (5.0, 16.0),
        "longevity": (6.0, 20.0),
    }
)


def next_tier(tier: str) -> str | None:
    """The tier ranked just above ``tier`` (None for the top tier)."""
    i = TIER_ORDER.index(tier)
    return TIER_ORDER[i + 1] if i + 1 < len(TIER_ORDER) else None


def monthly_capacity(tier: str, mean_tokens: float) -> float:
    """Interactions a month that reach 100 % of ``tier`` (tokens or interactions, first)."""
    interactions, tokens = LIMITS[tier]
    return min(float(interactions), tokens / mean_tokens)


def daily_capacity(tier: str, mean_tokens: float) -> float:
    """Interactions a day that, kept up for a month, reach 100 % of ``tier``."""
    return monthly_capacity(tier, mean_tokens) / DAYS_PER_MONTH
