"""Agent icons, tier colours and number formatting shared by the pages."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Material icon per GENESIS agent; unknown agents get a generic one.
AGENT_ICONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NEXUS": "hub",
        "BLAZE": "local_fire_department",
        "SAGE": "psychology",
        "WAVE": "waves",
        "SPARK": "bolt",
        "NOVA": "auto_awesome",
        "LUNA": "dark_mode",
        "STELLA": "star",
    }
)
DEFAULT_AGENT_ICON: Final = "smart_toy"

TIER_COLORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "essential": "#64748b",
        "pro": "#2563eb",
        "elite": "#7c3aed",
        "prime": "#d97706",
        "longevity": "#059669",
    }
)
DEFAULT_TIER_COLOR: Final = "#6b7280"
SEVERITY_COLORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "info": "#2563eb",
        "warning": "#d97706",
        "critical": "#dc2626",
    }
)


def agent_icon(agent_id: str) -> str:
    """The Material icon name of an agent."""
    return AGENT_ICONS.get(agent_id.upper(), DEFAULT_AGENT_ICON)


def tier_color(tier: str) -> str:
    """The colour of a subscription tier."""
    return TIER_COLORS.get(tier.lower(), DEFAULT_TIER_COLOR)


def number(value: float | None) -> str:
    """A count with thousands separators (``—`` for none)."""
    return "—" if value is None else f"{value:,.0f}"


def millis(value: float | None) -> str:
    """A duration in ms (``—`` for none)."""
    return "—" if value is None else f"{value:,.0f} ms"


def change(pct: float | None) -> str:
    """``▲ 12.5 %`` / ``▼ 3.0 %`` / empty when unknown."""
    if pct is None:
        return ""
    return f"{'▲' if pct >= 0 else '▼'} {abs(pct):.1f} %"
