"""Alerts: the rules (usage limits, churn, upgrade, anomaly, degradation), lifecycle, scheduler."""

from __future__ import annotations

from nexus_crm.alerts.flows import apply_findings
from nexus_crm.alerts.rules import AlertPolicy, RuleContext, degradation_rule
from nexus_crm.alerts.service import wire_alerts
from nexus_crm.alerts.worker import run_scheduler

__all__ = (
    "AlertPolicy",
    "RuleContext",
    "apply_findings",
    "degradation_rule",
    "run_scheduler",
    "wire_alerts",
)
