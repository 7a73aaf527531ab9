"""All ORM tables, imported here so that Alembic sees one metadata."""

from nexus_crm.models.api_key import ApiKey
from nexus_crm.models.audit_entry import AuditEntry
from nexus_crm.models.base import Base
from nexus_crm.models.customer import Customer
from nexus_crm.models.dashboard_user import USER_ROLES, DashboardUser
from nexus_crm.models.privacy_erasure import PrivacyErasure
from nexus_crm.models.subscription_change import SubscriptionChange
from nexus_crm.models.tier_limit import UsageTierLimit
from nexus_crm.models.upsell_sequence import SEQUENCE_STATUSES, UpsellSequence
from nexus_crm.models.upsell_sequence_event import UpsellSequenceEvent
from nexus_crm.models.upsell_step import STEP_STATUSES, UpsellStep
from nexus_crm.models.usage_alert import ALERT_STATUSES, OPEN_ALERT_STATUSES, UsageAlert
from nexus_crm.models.usage_alert_event import UsageAlertEvent
from nexus_crm.models.usage_daily import (
    RESPONSE_TIME_BOUNDS_MS,
    RESPONSE_TIME_BUCKETS,
    AgentUsageDaily,
    agent_usage_daily,
)
from nexus_crm.models.usage_event import AgentUsageEvent
from nexus_crm.models.usage_hourly import agent_usage_hourly

__all__ = (
    "ALERT_STATUSES",
    "OPEN_ALERT_STATUSES",
    "RESPONSE_TIME_BOUNDS_MS",
    "RESPONSE_TIME_BUCKETS",
    "SEQUENCE_STATUSES",
    "STEP_STATUSES",
    "USER_ROLES",
    "AgentUsageDaily",
    "AgentUsageEvent",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Customer",
    "DashboardUser",
    "PrivacyErasure",
    "SubscriptionChange",
    "UpsellSequence",
    "UpsellSequenceEvent",
    "UpsellStep",
    "UsageAlert",
    "UsageAlertEvent",
    "UsageTierLimit",
    "agent_usage_daily",
    "agent_usage_hourly",
)
