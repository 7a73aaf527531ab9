"""The audit trail: an append-only record of every mutation."""

from __future__ import annotations

from nexus_crm.audit.config import record_settings_change
from nexus_crm.audit.context import SourceIpMiddleware
from nexus_crm.audit.ddl import create_statements, drop_statements

__all__ = (
    "SourceIpMiddleware",
    "create_statements",
    "drop_statements",
    "record_settings_change",
)
