"""Analytics: the one read path, over daily aggregates (never a scan of raw events)."""
