"""Payload limits on every request body the API accepts: size (413) and JSON depth (422).

The webhook checks its own body (``security/webhooks.py``: its depth after the signature, so
that an unsigned request learns nothing); every other body passes :class:`BodyLimitMiddleware`
before any route sees it. Both read the body with :func:`read_capped`.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_crm.errors import ClientDisconnected, InvalidInput, NexusError, PayloadTooLarge
from nexus_crm.kit import strictjson
from nexus_crm.kit.http import nexus_response
from nexus_crm.kit.jsondepth import nests_deeper_than

# API bodies (alert notes, tier limits, sequences, logins) are small: a megabyte is plenty,
# and it bounds the work an unauthenticated body can cause before its credential is checked.
API_BODY_BYTES = 1024 * 1024


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 for a body over ``limit`` bytes."""
    return PayloadTooLarge(f"body is larger than {limit} bytes", field="body")


def check_json_depth(raw: bytes, max_depth: int) -> None:
    """Refuse (422, field ``body``) JSON nested more than ``max_depth`` levels."""
    if nests_deeper_than(raw, max_depth):
        raise InvalidInput(
            f"body nests arrays and objects more than {max_depth} levels deep", field="body"
        )


def check_json_values(raw: bytes) -> None:
    """Refuse (422 naming the field) non-finite numbers and keys repeated in one object.

    Malformed JSON is left to the route, which answers it as it always has.
    """
    try:
        strictjson.loads(raw)
    except strictjson.JsonRefused as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    except (ValueError, RecursionError):
        return


def is_json(headers: Headers) -> bool:
    """Whether the request says its body is JSON (``application/json`` or ``…+json``)."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def read_capped(
    headers: Headers, receive: Receive, limit: int
) -> tuple[bytes, list[Message]]:
    """The whole body, refusing (413) more than ``limit`` bytes; and the other messages read.

    A declared length over the limit is refused before anything is buffered.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), []


async def read_body(request: Request, limit: int) -> bytes:
    """A request's whole body, refusing (413) more than ``limit`` bytes."""
    body, pending = await read_capped(request.headers, request.receive, limit)
    if pending:  # http.disconnect: gone mid-body, an expected failure with nothing to store
        raise ClientDisconnected("client disconnected before the body was complete", field="body")
    return body


def _replay(body: bytes, pending: list[Message], receive: Receive) -> Receive:
    messages = [{"type": "http.request", "body": body, "more_body": False}, *pending]

    async def _receive() -> Message:
        return messages.pop(0) if messages else await receive()

    return _receive


class BodyLimitMiddleware:
    """Pure ASGI middleware: bodies over the cap get 413, JSON nested too deeply 422."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_depth: int, skip: Collection[str] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.skip = frozenset(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            body, pending = await self._body(headers, receive)
        except NexusError as exc:
            await nexus_response(exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, pending, receive), send)

    async def _body(self, headers: Headers, receive: Receive) -> tuple[bytes, list[Message]]:
        body, pending = await read_capped(headers, receive, self.max_bytes)
        if body and is_json(headers):
            check_json_depth(body, self.max_depth)
            check_json_values(body)
        return body, pending
