"""ECharts options of the dashboard's charts, built from the services' figures (pure data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from nexus_crm.business.schemas import ForecastPoint, TierActiveUsers

Option = dict[str, Any]
GAUGE_BANDS: Final = ((0.8, "#10b981"), (0.95, "#f59e0b"), (1, "#dc2626"))
BAND_COLOR: Final = "#6366f1"


def usage_gauge(percentage: float, label: str) -> Option:
    """A gauge of the billing period's usage %, green to 80 %, amber to 95 %, red above."""
    shown = round(percentage, 1)
    return {
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": max(100, 10 * -(-shown // 10)),
                "progress": {"show": True, "width": 14},
                "axisLine": {"lineStyle": {"width": 14, "color": [list(b) for b in GAUGE_BANDS]}},
                "pointer": {"show": True, "length": "60%"},
                "detail": {"formatter": "{value} %", "fontSize": 22, "offsetCenter": [0, "70%"]},
                "title": {"offsetCenter": [0, "95%"], "fontSize": 12},
                "data": [{"value": shown, "name": label}],
            }
        ],
        "animation": False,
    }


def daily_by_agent(days: Sequence[date], by_agent: Mapping[str, Mapping[date, int]]) -> Option:
    """Stacked bars: interactions per day, one series per agent."""
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "top": 0},
        "grid": {"left": 40, "right": 10, "top": 30, "bottom": 30},
        "xAxis": {"type": "category", "data": [f"{d:%m-%d}" for d in days]},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": agent,
                "type": "bar",
                "stack": "use",
                "data": [by_agent[agent].get(d, 0) for d in days],
            }
            for agent in sorted(by_agent)
        ],
        "animation": False,
    }


def churn_histogram(buckets: Sequence[int], customers_label: str) -> Option:
    """Customers per churn-probability bucket of 0.1."""
    labels = [f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(len(buckets))]
    colors = ["#10b981" if i < 3 else "#f59e0b" if i < 6 else "#dc2626" for i in range(10)]
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 10, "top": 10, "bottom": 40},
        "xAxis": {"type": "category", "data": labels, "axisLabel": {"rotate": 30}},
        "yAxis": {"type": "value", "name": customers_label, "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "data": [
                    {"value": n, "itemStyle": {"color": colors[i % 10]}}
                    for i, n in enumerate(buckets)
                ],
            }
        ],
        "animation": False,
    }


def active_users(rows: Sequence[TierActiveUsers], last_7: str, last_30: str) -> Option:
    """Active customers per tier over the last 7 and 30 days (grouped bars)."""
    tiers = [r.tier.upper() for r in rows]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 10, "top": 30, "bottom": 30},
        "xAxis": {"type": "category", "data": tiers, "axisLabel": {"interval": 0}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {"name": name, "type": "bar", "data": data, "itemStyle": {"color": colour}}
            for name, data, colour in (
                (last_7, [r.last_7_days for r in rows], "#93c5fd"),
                (last_30, [r.last_30_days for r in rows], "#2563eb"),
            )
        ],
        "animation": False,
    }


def _band(name: str, lower: list[float], upper: list[float], opacity: float) -> list[Option]:
    """Two stacked series drawing the area between ``lower`` and ``upper``."""
    hidden = {
        "lineStyle": {"opacity": 0},
        "itemStyle": {"color": BAND_COLOR, "opacity": opacity},
        "symbol": "none",
        "type": "line",
        "stack": name,
    }
    return [
        {**hidden, "name": f"{name} low", "data": lower, "tooltip": {"show": False}},
        {
            **hidden,
            "name": name,
            "data": [round(u - lo, 1) for lo, u in zip(lower, upper, strict=True)],
            "areaStyle": {"color": BAND_COLOR, "opacity": opacity},
        },
    ]


def forecast_band(points: Sequence[ForecastPoint], mean_label: str) -> Option:
    """The point forecast as a line inside its 95 % and 80 % prediction intervals."""
    low95 = [max(0.0, p.lower_95) for p in points]
    low80 = [max(0.0, p.lower_80) for p in points]
    high95 = [max(lo, p.upper_95) for lo, p in zip(low95, points, strict=True)]
    high80 = [max(lo, p.upper_80) for lo, p in zip(low80, points, strict=True)]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": ["95 %", "80 %", mean_label]},
        "grid": {"left": 50, "right": 10, "top": 30, "bottom": 30},
        "xAxis": {"type": "category", "data": [f"{p.day:%m-%d}" for p in points]},
        "yAxis": {"type": "value"},
        "series": [
            *_band("95 %", low95, high95, 0.15),
            *_band("80 %", low80, high80, 0.3),
            {
                "name": mean_label,
                "type": "line",
                "data": [p.mean for p in points],
                "symbol": "none",
                "itemStyle": {"color": BAND_COLOR},
                "lineStyle": {"color": BAND_COLOR, "width": 2},
            },
        ],
        "animation": False,
    }
