"""Human wording of each feature's value, for the drivers shown with a churn probability."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

from nexus_crm.analytics.churn.features import FEATURES


def _change(v: float) -> str:
    if v < 0:
        return f"usage down {-v:.0f} % over the last 2 weeks (vs the 2 before)"
    return f"usage up {v:.0f} % over the last 2 weeks (vs the 2 before)"


def _idle(v: float) -> str:
    if v <= 0:
        return "used yesterday"
    return f"no use for {v:.0f} day{'s' if v != 1 else ''}"


def _seconds(name: str) -> Callable[[float], str]:
    def text(v: float) -> str:
        return (
            f"no response times in 4 weeks ({name})"
            if math.isnan(v)
            else (f"{name} response time {v / 1000:.1f} s over 4 weeks")
        )

    return text


TEXTS: Mapping[str, Callable[[float], str]] = MappingProxyType(
    {
        "usage_change_pct": _change,
        "recent_week_ratio": lambda v: (
            f"last 7 days at {v * 100:.0f} % of the previous weeks' pace"
        ),
        "active_day_volume_ratio": lambda v: (
            f"use per active day at {v * 100:.0f} % of the previous weeks' in the last 7 days"
        ),
        "usage_slope_t": lambda v: (
            f"{'downward' if v < 0 else 'upward'} usage trend over 4 weeks (t = {v:+.1f})"
        ),
        "days_since_last_use": _idle,
        "active_day_ratio": lambda v: f"active on {v * 100:.0f} % of the last 4 weeks' days",
        "limit_pct_period": lambda v: f"{v:.0f} % of the plan's limit used this period so far",
        "limit_pct_last_period": lambda v: f"{v:.0f} % of the plan's limit used last period",
        "rt_mean_ms": _seconds("mean"),
        "agent_breadth": lambda v: f"uses {v:.0f} agent{'s' if v != 1 else ''}",
        "tier_rank": lambda v: f"tier rank {v:.0f} of 5",
        "tenure_days": lambda v: f"customer for {v:.0f} days",
        "tier_changes_60d": lambda v: f"{v:.0f} tier change{'s' if v != 1 else ''} in 60 days",
    }
)
assert set(TEXTS) == set(FEATURES)


def describe(feature: str, value: float) -> str:
    """A short sentence about a feature's value, e.g. "no use for 9 days"."""
    return TEXTS[feature](value)
