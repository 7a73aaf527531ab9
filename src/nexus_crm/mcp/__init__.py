"""NGX_Closer.Agent: the MCP server over the NexusCRM REST API."""

from __future__ import annotations

from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.gate import allowed_hosts, gated_app, rest_check
from nexus_crm.mcp.mount import mount_mcp
from nexus_crm.mcp.server import build_server

__all__ = (
    "ApiConfig",
    "allowed_hosts",
    "build_server",
    "gated_app",
    "mount_mcp",
    "rest_check",
)
