"""Alert rules: what should be open, given the data; the service applies their findings.

A rule is ``async (session, context) -> Findings``: alerts to raise (drafts, inserted only
if no open alert has the same type, subject and period) and open alerts to resolve, each
with a note saying why. The usage-limit rule (``usage``) runs on ingest for the customers
of a batch and in every scheduled evaluation; the other detectors (``upgrade``,
``degradation``, ``anomaly``, ``churn``) join it in ``SCHEDULED_RULES`` (``registry``).
Each rule module imports only ``base``; this package re-exports what other modules use.
"""

from nexus_crm.alerts.rules.anomaly import anomaly_rule
from nexus_crm.alerts.rules.base import (
    AlertDraft,
    AlertPolicy,
    Findings,
    Resolution,
    Rule,
    RuleContext,
)
from nexus_crm.alerts.rules.churn import churn_rule
from nexus_crm.alerts.rules.degradation import degradation_rule
from nexus_crm.alerts.rules.registry import SCHEDULED_RULES
from nexus_crm.alerts.rules.upgrade import upgrade_rule
from nexus_crm.alerts.rules.usage import limit_rule

__all__ = (
    "SCHEDULED_RULES",
    "AlertDraft",
    "AlertPolicy",
    "Findings",
    "Resolution",
    "Rule",
    "RuleContext",
    "anomaly_rule",
    "churn_rule",
    "degradation_rule",
    "limit_rule",
    "upgrade_rule",
)
