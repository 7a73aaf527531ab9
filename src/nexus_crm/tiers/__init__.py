"""Subscription tiers: limits, prices and ranks."""

from __future__ import annotations

from nexus_crm.tiers.defaults import DEFAULT_TIERS

__all__ = ("DEFAULT_TIERS",)
