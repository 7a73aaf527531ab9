"""FastAPI's exception handlers: every error, expected or not, answers with the one JSON shape.

The shape and the expected errors live in ``nexus_crm.errors`` (framework-free); this module
renders them, plus what FastAPI, Starlette and the database raise, on HTTP and on WebSockets.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from nexus_crm.db import database_unavailable
from nexus_crm.errors import NexusError
from nexus_crm.kit.http import error_response, nexus_response

# The logger keeps the name it had before the handlers left ``nexus_crm.errors``: a refactor
# must not move the records that log filters and tests select by name.
log = logging.getLogger("nexus_crm.errors")


def _field_of(error: Any) -> str:
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>)
        return "body"
    parts = [str(p) for p in error["loc"] if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Turn pydantic/FastAPI error dicts into ``[{"field", "message"}]``."""
    return [{"field": _field_of(e), "message": e["msg"]} for e in errors]


async def _nexus_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NexusError)
    return nexus_response(exc)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(list(exc.errors()))
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    body = {"error": "validation_error", "detail": detail, "errors": errors}
    if len(errors) == 1:
        body["field"] = errors[0]["field"]
    return error_response(422, body)


# FastAPI's answer to a JSON body it cannot even decode (invalid UTF-8): a 400 without a
# field. It is bad input like malformed JSON (422, field "body"), so it answers the same.
UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == UNPARSABLE_BODY:
        body = {"error": "validation_error", "detail": "body is not valid UTF-8 JSON"}
        return error_response(422, {**body, "field": "body"})
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(
        exc.status_code, {"error": code, "detail": str(exc.detail)}, dict(exc.headers or {})
    )


class CloseWebSocket(Response):
    """An error handler's answer on a WebSocket: close it with a code (sends no HTTP message).

    A ``Response`` because Starlette types every handler's answer as one; it runs on the
    handler's ``WebSocket`` so the close fits the socket's state.
    """

    def __init__(self, websocket: WebSocket, code: int, reason: str) -> None:
        super().__init__()
        self.websocket, self.code, self.reason = websocket, code, reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Accept if need be, then close; a client that already left needs nothing."""
        ws = self.websocket
        with contextlib.suppress(WebSocketDisconnect, OSError):
            if ws.application_state == WebSocketState.CONNECTING:
                # Accept first: a close before accepting reaches the client as a bare HTTP 403.
                await ws.accept()
            if ws.application_state == WebSocketState.CONNECTED:
                await ws.close(self.code, self.reason)


def _method(conn: HTTPConnection) -> str:
    """The HTTP method, or ``WEBSOCKET`` (a WebSocket scope has no method)."""
    return str(conn.scope.get("method", "WEBSOCKET"))


async def _database_handler(conn: HTTPConnection, exc: Exception) -> Response:
    if not database_unavailable(exc):
        return await _unexpected_handler(conn, exc)
    # Busy (SQLite lock timeout, every pooled connection in use), unreachable, refusing
    # connections or restarting database: transient, and the transaction was rolled back,
    # so the client may safely retry the same request.
    log.warning(
        "database unavailable on %s %s: %s", _method(conn), conn.url.path, type(exc).__name__
    )
    if isinstance(conn, WebSocket):
        return CloseWebSocket(conn, 1013, "database busy or unreachable; retry")  # try later
    body = {"error": "database_unavailable", "detail": "the database is busy or unreachable; retry"}
    return error_response(503, body, {"Retry-After": "1"})


async def _unexpected_handler(conn: HTTPConnection, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", _method(conn), conn.url.path)
    if isinstance(conn, WebSocket):
        return CloseWebSocket(conn, 1011, "unexpected server error")  # internal error
    return error_response(500, {"error": "internal_error", "detail": "unexpected server error"})


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, answer with the one JSON shape."""
    app.add_exception_handler(NexusError, _nexus_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    # SQLAlchemyError, not only DBAPIError: a pool checkout timeout is not a driver error.
    app.add_exception_handler(SQLAlchemyError, _database_handler)
    app.add_exception_handler(OSError, _database_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
