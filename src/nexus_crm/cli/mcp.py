"""``nexus-crm mcp``: run NGX_Closer.Agent, the MCP server, for Claude Desktop (stdio) or HTTP.

Over stdio (one local user) the tools use NEXUS_CRM_API_KEY. Over HTTP anyone who reaches
the port could call them, so the server has no key of its own there: each request must carry
the caller's own API key or JWT, which the tools forward to the REST API (mcp/gate.py). On a
non-loopback interface it also needs TLS, or --allow-insecure-remote (a TLS proxy in front),
since bearer credentials must not cross a network in clear text.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from nexus_crm.cli.common import load_settings
from nexus_crm.cli.serve import SslCertfile, SslKeyfile, context_factory
from nexus_crm.mcp import ApiConfig, allowed_hosts, build_server, gated_app, rest_check
from nexus_crm.settings import Settings


class Transport(StrEnum):
    """How MCP clients reach the server."""

    STDIO = "stdio"
    HTTP = "http"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (localhost, 127.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(reason: str) -> typer.Exit:
    typer.echo(f"configuration error: {reason}", err=True)
    return typer.Exit(2)


def _run_stdio(settings: Settings) -> None:
    if not settings.nexus_crm_api_key:
        # stderr: on stdio, stdout belongs to the protocol.
        typer.echo(
            "warning: NEXUS_CRM_API_KEY is not set; every tool will answer that the API "
            "refused the key (create one with `nexus-crm keys create claude --scope read "
            "--scope write`)",
            err=True,
        )
    build_server(ApiConfig(settings.nexus_crm_base_url, settings.nexus_crm_api_key)).run("stdio")


def _run_http(
    settings: Settings,
    *,
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    allow_insecure_remote: bool,
    allowed_host: list[str] | None,
) -> None:
    """Serve streamable HTTP, refusing clear text off loopback unless allowed."""
    tls = context_factory(certfile, keyfile, "1.2")  # exits 2 on a bad pair
    if tls is None and not allow_insecure_remote and not is_loopback(host):
        raise _refuse(
            f"--host {host} is not a loopback address and API keys must not cross the "
            "network in clear text: give --ssl-certfile and --ssl-keyfile, or "
            "--allow-insecure-remote if a TLS proxy sits in front"
        )
    config = ApiConfig(settings.nexus_crm_base_url, None)  # never the server's own key
    hosts = allowed_hosts(settings.nexus_crm_base_url, names=(host, *(allowed_host or ())))
    app = gated_app(build_server(config), hosts=hosts, check=rest_check(config))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=certfile if tls else None,
        ssl_keyfile=keyfile if tls else None,
        ssl_context_factory=tls,
    )


def mcp(
    transport: Annotated[
        Transport, typer.Option(help="stdio (Claude Desktop) or streamable HTTP")
    ] = Transport.STDIO,
    host: Annotated[str, typer.Option(help="interface to bind (http only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (http only)")] = 8002,
    ssl_certfile: SslCertfile = None,
    ssl_keyfile: SslKeyfile = None,
    allow_insecure_remote: Annotated[
        bool, typer.Option(help="plain HTTP on a non-loopback --host (behind a TLS proxy only)")
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="a Host name clients use besides loopback and NEXUS_CRM_BASE_URL's"),
    ] = None,
) -> None:
    """Serve the MCP server over the REST API at NEXUS_CRM_BASE_URL.

    Example: NEXUS_CRM_API_KEY=ncrm_… nexus-crm mcp   (stdio, with that key), or
    nexus-crm mcp --transport http   (each caller sends its own key, like /mcp of `serve`).
    """
    settings = load_settings()
    if transport is Transport.STDIO:
        _run_stdio(settings)
        return
    _run_http(
        settings,
        host=host,
        port=port,
        certfile=ssl_certfile,
        keyfile=ssl_keyfile,
        allow_insecure_remote=allow_insecure_remote,
        allowed_host=allowed_host,
    )
