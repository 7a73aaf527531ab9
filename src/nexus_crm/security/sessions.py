"""Dashboard session cookies: ``<payload>.<HMAC-SHA256>``, signed with SESSION_SECRET.

The payload names the user, the user's session epoch (logout bumps it, voiding every
older cookie) and an expiry. Nothing secret is inside; the signature stops forgery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from nexus_crm.settings import Settings

COOKIE_NAME = "nexus_session"


@dataclass(frozen=True)
class SessionClaims:
    """Who a valid cookie speaks for."""

    user_id: uuid.UUID
    epoch: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue_session(
    secret: str, *, user_id: uuid.UUID, epoch: int, now: datetime, max_age: int
) -> str:
    """A signed cookie value for ``user_id``, valid for ``max_age`` seconds."""
    claims = {"u": str(user_id), "e": epoch, "x": int(now.timestamp()) + max_age}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_session(secret: str, token: str, *, now: datetime) -> SessionClaims | None:
    """The claims of a well-signed, unexpired cookie value; None otherwise."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        raw = json.loads(_unb64(payload))
        claims = SessionClaims(uuid.UUID(raw["u"]), int(raw["e"]), int(raw["x"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return claims if claims.expires_at > now.timestamp() else None


def cookie_secure(settings: Settings, *, scheme: str) -> bool:
    """Whether the cookie gets ``Secure``: in production, and whenever served over HTTPS.

    Development over plain HTTP (``make demo`` on 127.0.0.1) is the one case without it,
    since a browser does not send a Secure cookie back over HTTP. SESSION_COOKIE_SECURE
    (always / never) overrides the rule, e.g. behind a TLS proxy in development.
    """
    if settings.session_cookie_secure != "auto":
        return settings.session_cookie_secure == "always"
    return settings.environment == "production" or scheme == "https"
