"""One error base class carrying its HTTP status, and one JSON shape for every error."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from nexus_crm.db import database_unavailable

log = logging.getLogger("nexus_crm.errors")


class FieldError(BaseModel):
    """One invalid field (``index``: the item of a batch, when the body is one)."""

    field: str
    message: str
    index: int | None = None


class ErrorBody(BaseModel):
    """The JSON body of every error response."""

    error: str = Field(examples=["validation_error"])
    detail: str
    field: str | None = Field(None, description="the field at fault, when there is one")
    errors: list[FieldError] | None = None


class NexusError(Exception):
    """An expected failure: rendered as ``{"error": code, "detail": message, ...}``."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra)
        if field is not None:
            self.extra["field"] = field

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": self.code, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str] | None:
        """Response headers this error asks for (a 401 asks for a bearer credential)."""
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else None


class InvalidInput(NexusError):
    """Input that parses but breaks a rule (422)."""

    status = 422
    code = "validation_error"


class Unauthorized(NexusError):
    """Missing or invalid credentials or signature (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(NexusError):
    """Valid credentials without the needed scope (403)."""

    status = 403
    code = "forbidden"


class NotFound(NexusError):
    """The named resource does not exist (404)."""

    status = 404
    code = "not_found"


class PayloadTooLarge(NexusError):
    """A body over the configured size cap (413)."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(NexusError):
    """A body that is not JSON (415)."""

    status = 415
    code = "unsupported_media_type"


class ClientDisconnected(NexusError):
    """The client left before its request body was complete (400; nobody reads the answer)."""

    status = 400
    code = "client_disconnected"


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """Render an error body with its status."""
    return JSONResponse(body, status_code=status, headers=headers)


def nexus_response(exc: NexusError) -> JSONResponse:
    """Render an expected failure (also for middleware, which runs outside the handlers)."""
    return error_response(exc.status, exc.body(), exc.headers())


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


class Conflict(NexusError):
    """The request clashes with existing data (409)."""

    status = 409
    code = "conflict"


class TooManyRequests(NexusError):
    """A rate limit exceeded (429); ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        """``Retry-After`` in whole seconds."""
        return {"Retry-After": str(self.retry_after)}


class Overloaded(TooManyRequests):
    """The server's own queue is full (503); ``Retry-After`` says when to try again."""

    status = 503
    code = "overloaded"


class MethodNotAllowed(NexusError):
    """A known path asked with a method it does not serve (405); ``Allow`` lists those it does."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, detail: str, *, allow: list[str], **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.allow = allow

    def headers(self) -> dict[str, str] | None:
        """``Allow``: the methods the path serves."""
        return {"Allow": ", ".join(self.allow)}
