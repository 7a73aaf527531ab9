"""The request's source IP, carried to the audit trail without threading it through services."""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

source_ip: ContextVar[str | None] = ContextVar("audit_source_ip", default=None)


class SourceIpMiddleware:
    """Pure ASGI middleware: sets :data:`source_ip` to the client address of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = source_ip.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            source_ip.reset(token)
