"""The live dashboard: NiceGUI pages on the API's FastAPI app (docs/dashboard.md)."""

from __future__ import annotations

from nexus_crm.dashboard.mount import mount_dashboard

__all__ = ("mount_dashboard",)
