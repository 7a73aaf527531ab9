"""Serve the MCP server at ``/mcp`` of the API (streamable HTTP), behind API-key auth.

The key the MCP client sends (``Authorization: Bearer``) is checked here (any scope that
reads), and the tools forward that same key to the REST API, so each caller gets exactly its
own scopes. The tools reach the REST API in process (an ASGI transport on this very app):
the full stack still runs (auth, error handlers, metrics), and no port has to be known.
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
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_crm.db import transaction
from nexus_crm.errors import NexusError, Unauthorized, error_response
from nexus_crm.mcp.client import ApiConfig
from nexus_crm.mcp.server import build_server
from nexus_crm.security.scopes import Scope as KeyScope
from nexus_crm.security.tokens import authenticate_bearer
from nexus_crm.settings import Settings

MCP_PATH = "/mcp"
T = TypeVar("T")


class ApiKeyGate:
    """ASGI wrapper: only requests with a live API key granting ``read`` reach the MCP app."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def _check(self, scope: Scope) -> NexusError | None:
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        try:
            async with transaction(self.api.state.sessions) as session:
                settings = self.api.state.settings  # an API key or a user's access JWT
                await authenticate_bearer(
                    session, settings=settings, token=token.strip(), needed=KeyScope.READ
                )
        except NexusError as exc:
            return exc
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure = await self._check(scope) if scope["type"] == "http" else None
        if failure is None:
            await self.app(scope, receive, send)
            return
        headers = {"WWW-Authenticate": "Bearer"} if failure.status == 401 else None
        await error_response(failure.status, failure.body(), headers)(scope, receive, send)


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
    server = _without_root_logging(
        lambda: build_server(ApiConfig(settings.nexus_crm_base_url, None, transport))
    )
    http_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,  # any worker answers any request: no session affinity needed
        json_response=True,
        # The API key is the protection; the server may sit behind any host name.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.router.routes.append(Route(MCP_PATH, ApiKeyGate(http_app, app)))
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
