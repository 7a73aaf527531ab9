"""Render a refusal as the one JSON error shape, for every layer.

ASGI middlewares (payload limits, rate limits, the ingest gate, the MCP gate) answer before
FastAPI's exception handlers run, so they render their refusal here, below the API layer.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.responses import JSONResponse


class Refusal(Protocol):
    """What a rendered refusal needs; ``nexus_crm.errors.NexusError`` is one."""

    status: int

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        ...

    def headers(self) -> dict[str, str] | None:
        """The response headers it asks for, if any."""
        ...


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """Render an error body with its status."""
    return JSONResponse(body, status_code=status, headers=headers)


def nexus_response(exc: Refusal) -> JSONResponse:
    """Render an expected failure (also for middleware, which runs outside the handlers)."""
    return error_response(exc.status, exc.body(), exc.headers())
