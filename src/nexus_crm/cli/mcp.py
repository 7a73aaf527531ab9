"""``nexus-crm mcp``: run NGX_Closer.Agent, the MCP server, for Claude Desktop (stdio) or HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from nexus_crm.cli.common import load_settings
from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.server import build_server


class Transport(StrEnum):
    """How MCP clients reach the server."""

    STDIO = "stdio"
    HTTP = "http"


def mcp(
    transport: Annotated[
        Transport, typer.Option(help="stdio (Claude Desktop) or streamable HTTP")
    ] = Transport.STDIO,
    host: Annotated[str, typer.Option(help="interface to bind (http only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (http only)")] = 8002,
) -> None:
    """Serve the MCP server over the REST API at NEXUS_CRM_BASE_URL with NEXUS_CRM_API_KEY.

    Example: NEXUS_CRM_API_KEY=ncrm_… nexus-crm mcp   (the /mcp route of `nexus-crm serve`
    is the same server over HTTP, with each caller's own key.)
    """
    settings = load_settings()
    if not settings.nexus_crm_api_key:
        # stderr: on stdio, stdout belongs to the protocol.
        typer.echo(
            "warning: NEXUS_CRM_API_KEY is not set; every tool will answer that the API "
            "refused the key (create one with `nexus-crm keys create claude --scope read "
            "--scope write`)",
            err=True,
        )
    server = build_server(ApiConfig(settings.nexus_crm_base_url, settings.nexus_crm_api_key))
    if transport is Transport.STDIO:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
