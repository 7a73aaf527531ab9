"""Refuse NUL characters in the URL path and query string (422) before any route runs.

PostgreSQL's text type cannot hold NUL, so an id such as ``a%00b`` reaching a query would
fail there (a 500) while SQLite would quietly look it up; both now answer the same 422.
Bodies are checked by their models (``nexus_crm.kit.text.NO_NUL``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_crm.errors import InvalidInput
from nexus_crm.kit.http import nexus_response


def nul_field(scope: Scope) -> str | None:
    """The part of the URL holding a NUL character: "path", a query parameter, or None."""
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


class NulGuardMiddleware:
    """Pure ASGI middleware: a NUL in the path or query string answers 422 naming it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        field = nul_field(scope) if scope["type"] == "http" else None
        if field is None:
            await self.app(scope, receive, send)
            return
        error = InvalidInput("NUL characters are not allowed in the URL", field=field)
        await nexus_response(error)(scope, receive, send)
