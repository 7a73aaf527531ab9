"""Analytics: the one read path, over daily aggregates (never a scan of raw events)."""

from __future__ import annotations

from nexus_crm.analytics.anomalies import detect_anomalies, yesterday
from nexus_crm.analytics.anomaly_engine import Anomaly, AnomalyConfig
from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.degradation import (
    AgentHealth,
    Baseline,
    BaselineCache,
    DegradationPolicy,
    WindowStats,
    affected_customers,
    agent_health,
    breaches,
    judgeable,
    ratios,
)
from nexus_crm.analytics.forecast import forecast as forecast_series
from nexus_crm.analytics.pattern_schemas import Patterns
from nexus_crm.analytics.patterns import PATTERNS_MAX_LIMIT, get_patterns
from nexus_crm.analytics.upgrade_schemas import UpgradeOpportunities, UpgradeOpportunity
from nexus_crm.analytics.upgrades import (
    Assessment,
    UpgradePolicy,
    assess_customers,
    find_upgrade_opportunities,
    is_opportunity,
    opportunity,
    subscriptions,
)
from nexus_crm.analytics.windows import agent_rollup as cached_agent_rollup
from nexus_crm.analytics.windows import tier_rollup as cached_tier_rollup

__all__ = (
    "PATTERNS_MAX_LIMIT",
    "AgentHealth",
    "Anomaly",
    "AnomalyConfig",
    "Assessment",
    "Baseline",
    "BaselineCache",
    "ChurnConfig",
    "DegradationPolicy",
    "Patterns",
    "UpgradeOpportunities",
    "UpgradeOpportunity",
    "UpgradePolicy",
    "WindowStats",
    "affected_customers",
    "agent_health",
    "assess_customers",
    "breaches",
    "cached_agent_rollup",
    "cached_tier_rollup",
    "detect_anomalies",
    "find_upgrade_opportunities",
    "forecast_series",
    "get_patterns",
    "is_opportunity",
    "judgeable",
    "opportunity",
    "ratios",
    "subscriptions",
    "yesterday",
)
