"""Alerts: usage-limit alerts (later churn, upgrade, anomaly, degradation) and their lifecycle."""
