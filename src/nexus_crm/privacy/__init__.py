"""Privacy (GDPR/CCPA): export, erasure, suppression of erased customers, retention."""

from __future__ import annotations

from nexus_crm.privacy.export import stream_export
from nexus_crm.privacy.worker import run_retention

__all__ = (
    "run_retention",
    "stream_export",
)
