"""The signed webhooks' checks, as one FastAPI dependency: :class:`SignedWebhook`.

In this order: the body is read under ``MAX_BODY_BYTES`` (413); the Standard Webhooks
signature is verified (401; a failure to read or verify counts against the client address);
the body is decoded (422) and its depth checked (422, ``MAX_JSON_DEPTH``). The route then
charges the signing secret's rate limit (429) with a cost it computes from the payload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from nexus_crm.errors import NexusError
from nexus_crm.kit.time import utcnow
from nexus_crm.security.payloads import check_json_depth, read_body
from nexus_crm.security.ratelimit import RateLimiter, hit_client_ip, limiter_of
from nexus_crm.security.signatures import verify_signer
from nexus_crm.settings import Settings

Decode = Callable[[bytes], Any]
OnReject = Callable[[Request, NexusError], None]


def secret_id(key: bytes) -> str:
    """A name for a webhook signing secret that reveals nothing of it (for rate limits)."""
    return "whsec:" + hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True)
class VerifiedWebhook:
    """A webhook whose signature holds: its exact body, its JSON, webhook-id and secret."""

    body: bytes
    payload: Any
    webhook_id: str
    secret_id: str
    limiter: RateLimiter

    async def charge(self, cost: int = 1) -> None:
        """Count ``cost`` hits against the signing secret's rate limit (429 when over it)."""
        await self.limiter.hit("webhook", self.secret_id, cost=cost)


async def _verified(request: Request, settings: Settings) -> tuple[bytes, str, int]:
    """The body, webhook-id and signing key's index; a failure counts against the address."""
    try:
        body = await read_body(request, settings.max_body_bytes)
        msg_id, signer = verify_signer(
            request.headers,
            body,
            settings.webhook_keys,
            now=utcnow(),
            tolerance_s=settings.webhook_tolerance_seconds,
        )
    except NexusError:
        await hit_client_ip(request)  # brute force: refused (429) once over the address's limit
        raise
    return body, msg_id, signer


class SignedWebhook:
    """FastAPI dependency: the request's :class:`VerifiedWebhook`, or the check's error.

    ``decode`` is the route's JSON decoder (its 422s name the domain's fields); it runs before
    the depth check, so a malformed body is answered as malformed. ``on_reject`` sees every
    error these checks raise (a route's rejection metric).
    """

    def __init__(self, decode: Decode, *, on_reject: OnReject | None = None) -> None:
        self.decode = decode
        self.on_reject = on_reject

    async def __call__(self, request: Request) -> VerifiedWebhook:
        try:
            return await self._checked(request)
        except NexusError as exc:
            if self.on_reject is not None:
                self.on_reject(request, exc)
            raise

    async def _checked(self, request: Request) -> VerifiedWebhook:
        settings: Settings = request.app.state.settings
        body, msg_id, signer = await _verified(request, settings)
        payload = self.decode(body)
        check_json_depth(body, settings.max_json_depth)
        return VerifiedWebhook(
            body=body,
            payload=payload,
            webhook_id=msg_id,
            secret_id=secret_id(settings.webhook_keys[signer]),
            limiter=limiter_of(request.scope),
        )
