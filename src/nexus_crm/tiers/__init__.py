"""Subscription tiers: limits, prices and ranks."""
