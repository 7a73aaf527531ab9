"""Customers and their subscriptions: who is on which tier, since when, and the change history."""
