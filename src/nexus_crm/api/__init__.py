"""The HTTP API: one router module per domain, the shared request dependencies (``deps``).

A router parses, authorizes and calls its domain's service; it holds no SQL and no rules.
"""

from __future__ import annotations

from fastapi import APIRouter

from nexus_crm.api import (
    alerts,
    analytics,
    audit,
    auth,
    business,
    churn,
    closer,
    ops,
    privacy,
    realtime,
    tiers,
    webhooks,
)
from nexus_crm.api.deps import API_PREFIX, login_throttle, throttle_keys
from nexus_crm.api.openapi import NexusAPI
from nexus_crm.api.webhooks import DOCUMENTED_BODIES, WEBHOOK_PATHS

#: Every router, in the order the OpenAPI document lists their routes.
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        ops,
        webhooks,
        tiers,
        analytics,
        business,
        alerts,
        closer,
        churn,
        audit,
        privacy,
        realtime,
        auth,
    )
)

__all__ = (
    "API_PREFIX",
    "DOCUMENTED_BODIES",
    "ROUTERS",
    "WEBHOOK_PATHS",
    "NexusAPI",
    "login_throttle",
    "throttle_keys",
)
