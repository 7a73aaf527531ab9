"""Trend classes of daily series and customer cohorts (pure functions; see docs/analytics.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from nexus_crm.analytics.pattern_schemas import (
    Cohort,
    Cohorts,
    CustomerTrend,
    Thresholds,
    TrendClass,
)
from nexus_crm.analytics.schemas import Window
from nexus_crm.kit.trend import Fit, half_change_pct, least_squares

GROWING_CHANGE_PCT = 25.0
DECLINING_CHANGE_PCT = -25.0
MIN_ABS_T = 2.0
DORMANT_DAYS = 7
T_CAP = 1000.0
THRESHOLDS = Thresholds(
    growing_change_pct=GROWING_CHANGE_PCT,
    declining_change_pct=DECLINING_CHANGE_PCT,
    min_abs_t=MIN_ABS_T,
    dormant_days=DORMANT_DAYS,
)


@dataclass
class UserUse:
    """One customer's daily interactions in the window, tokens, and last day with use."""

    daily: dict[date, int] = field(default_factory=dict)
    tokens: int = 0
    last_active: date = date.min


def days_of(w: Window) -> list[date]:
    """Every day of a window, oldest first."""
    return [w.start + timedelta(days=i) for i in range((w.end - w.start).days + 1)]


def series(points: Mapping[date, int], w: Window) -> list[int]:
    """The window's daily values, zero-filled, oldest first."""
    return [points.get(d, 0) for d in days_of(w)]


def classify(fit: Fit | None, change_pct: float | None, second_half: int) -> TrendClass:
    """growing / declining / stable from the slope's t statistic and the half-on-half change."""
    t = fit.t if fit else None
    if t is None:
        return "stable"
    if t >= MIN_ABS_T and (
        (change_pct is None and second_half > 0)
        or (change_pct is not None and change_pct >= GROWING_CHANGE_PCT)
    ):
        return "growing"
    if t <= -MIN_ABS_T and change_pct is not None and change_pct <= DECLINING_CHANGE_PCT:
        return "declining"
    return "stable"


def _round_t(t: float | None) -> float | None:
    if t is None:
        return None
    return round(max(-T_CAP, min(T_CAP, t)), 2) if math.isfinite(t) else math.copysign(T_CAP, t)


def trend_fields(ys: list[int]) -> dict[str, Any]:
    """The fields of a ``Trend`` for a daily series."""
    fit, change = least_squares(ys), half_change_pct(ys)
    return {
        "interactions": sum(ys),
        "daily_mean": round(sum(ys) / len(ys), 2),
        "slope_per_day": round(fit.slope, 3) if fit else None,
        "change_pct": None if change is None else round(change, 1),
        "t_stat": _round_t(fit.t if fit else None),
        "trend": classify(fit, change, sum(ys[len(ys) - len(ys) // 2 :])),
    }


def is_dormant(use: UserUse, w: Window) -> bool:
    """No use in the window's last DORMANT_DAYS days nor after, but some earlier in it."""
    return w.days > DORMANT_DAYS and use.last_active <= w.end - timedelta(days=DORMANT_DAYS)


def customer_trend(user_id: str, use: UserUse, w: Window, state: Any) -> CustomerTrend:
    """A customer's trend and class (``state``: its customer row, or None)."""
    fields = trend_fields(series(use.daily, w))
    if is_dormant(use, w):
        fields["trend"] = "dormant"
    return CustomerTrend(
        user_id=user_id,
        tier=state.tier if state is not None else "unknown",
        status=state.status if state is not None else "unknown",
        last_active_day=use.last_active,
        **fields,
    )


def _growing_key(c: CustomerTrend) -> tuple[float, str]:
    return (-math.inf if c.change_pct is None else -c.change_pct, c.user_id)


def _declining_key(c: CustomerTrend) -> tuple[float, str]:
    return (c.change_pct if c.change_pct is not None else 0.0, c.user_id)


def _volume_key(c: CustomerTrend) -> tuple[int, str]:
    return (-c.interactions, c.user_id)


def cohorts(trends: Iterable[CustomerTrend], limit: int) -> Cohorts:
    """Customers grouped by class, each group ordered and cut at ``limit``."""
    groups: dict[str, list[CustomerTrend]] = {c: [] for c in Cohorts.model_fields}
    for t in trends:
        groups[t.trend].append(t)
    keys: dict[str, Any] = {
        "growing": _growing_key,
        "declining": _declining_key,
        "dormant": _volume_key,
        "stable": _volume_key,
    }
    return Cohorts(
        **{
            name: Cohort(count=len(g), customers=sorted(g, key=keys[name])[:limit])
            for name, g in groups.items()
        }
    )
