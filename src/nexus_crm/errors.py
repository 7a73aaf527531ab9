"""One error base class carrying its HTTP status, and one JSON shape for every error.

Framework-free: a raised error knows its ``status``, ``code``, ``body()`` and ``headers()``;
``kit/http.py`` renders it for ASGI middlewares, ``api/errors.py`` for FastAPI's handlers.

::

    NexusError               400 bad_request             an expected failure, base of all
    ├── InvalidInput         422 validation_error        input that parses but breaks a rule
    ├── Unauthorized         401 unauthorized            missing or invalid credentials or
    │                                                    signature; ``WWW-Authenticate: Bearer``
    ├── Forbidden            403 forbidden               valid credentials, missing scope
    ├── NotFound             404 not_found               the named resource does not exist
    ├── PayloadTooLarge      413 payload_too_large       a body over the size cap
    ├── UnsupportedMediaType 415 unsupported_media_type  a body that is not JSON
    ├── ClientDisconnected   400 client_disconnected     the client left mid-body
    ├── Conflict             409 conflict                clashes with existing data
    ├── TooManyRequests      429 rate_limited            a rate limit exceeded; ``Retry-After``
    │   └── Overloaded       503 overloaded              the server's queue is full; ``Retry-After``
    └── MethodNotAllowed     405 method_not_allowed      a known path, another method; ``Allow``

Every error response, these and the rest (request validation 422, database unavailable 503,
unexpected 500: see ``api/errors.py``), has the body :class:`ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
