"""Serve the MCP server at ``/mcp`` of the API (streamable HTTP), behind :class:`McpGate`.

The gate (gate.py) refuses a foreign Host or Origin, then checks the caller's key or JWT
(``Authorization: Bearer``, any credential that reads) in this app's database; the tools
forward that same credential to the REST API, so each caller gets exactly its own scopes.
Allowed hosts: the loopback names and NEXUS_CRM_BASE_URL's host (set it to the public URL
behind a proxy). The tools reach the REST API in process (an ASGI transport on this very
app): the full stack still runs (auth, error handlers, metrics), and no port has to be known.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route

from nexus_crm.db import transaction
from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.gate import MCP_PATH, Check, allowed_hosts, gated_app
from nexus_crm.mcp.server import build_server
from nexus_crm.security import Scope as KeyScope
from nexus_crm.security import authenticate_bearer
from nexus_crm.settings import Settings

T = TypeVar("T")


def database_check(api: FastAPI) -> Check:
    """A credential check against ``api``'s own database (an API key or a user's JWT)."""

    async def check(token: str) -> None:
        async with transaction(api.state.sessions) as session:
            await authenticate_bearer(
                session, settings=api.state.settings, token=token, needed=KeyScope.READ
            )

    return check


def _without_root_logging(build: Callable[[], T]) -> T:
    """``build()``, undoing what it did to the root logger.

    ``MCPServer()`` calls ``logging.basicConfig`` (a Rich handler on the root logger): right
    for ``nexus-crm mcp``, but the API server's logs stay as uvicorn and the app set them.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return build()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def mount_mcp(app: FastAPI, settings: Settings) -> None:
    """Serve NGX_Closer.Agent at ``/mcp`` (stateless streamable HTTP, JSON answers)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    # No key of its own: each tool call sends the caller's credential (see gate.py).
    server = _without_root_logging(
        lambda: build_server(ApiConfig(settings.nexus_crm_base_url, None, transport))
    )
    hosts = allowed_hosts(settings.nexus_crm_base_url)
    gated = gated_app(server, hosts=hosts, check=database_check(app))
    app.router.routes.append(Route(MCP_PATH, gated))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state, _running(server.session_manager):
            yield state

    app.router.lifespan_context = lifespan


@asynccontextmanager
async def _running(manager: StreamableHTTPSessionManager) -> AsyncIterator[None]:
    """Run the MCP session manager in a task of its own while the app runs.

    Its anyio task group must be left by the task that entered it; a lifespan may be
    entered and left by different tasks (test fixtures do), so a dedicated task holds it.
    """
    ready, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with manager.run():
            ready.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # it failed to start: raise its error
    try:
        yield
    finally:
        stop.set()
        await task
