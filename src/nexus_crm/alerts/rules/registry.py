"""The rules of the periodic evaluation (scheduler, ``nexus-crm alerts evaluate``).

The only module of the package that imports the rule modules; they import only ``base``,
so the package has no import loop.
"""

from __future__ import annotations

from nexus_crm.alerts.rules.anomaly import anomaly_rule
from nexus_crm.alerts.rules.base import Rule
from nexus_crm.alerts.rules.churn import churn_rule
from nexus_crm.alerts.rules.degradation import degradation_rule
from nexus_crm.alerts.rules.upgrade import upgrade_rule
from nexus_crm.alerts.rules.usage import limit_rule

SCHEDULED_RULES: tuple[Rule, ...] = (
    limit_rule,
    upgrade_rule,
    degradation_rule,
    anomaly_rule,
    churn_rule,
)
