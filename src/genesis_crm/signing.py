"""Standard Webhooks signing (https://www.standardwebhooks.com), standard library only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


def _key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        raise ValueError("a Standard Webhooks secret looks like whsec_<base64>")
    return base64.b64decode(secret[len("whsec_") :])


def sign_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Return the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers."""
    msg_id = msg_id or f"msg_{secrets.token_hex(12)}"
    ts = int(time.time()) if timestamp is None else timestamp
    payload = f"{msg_id}.{ts}.".encode() + body
    digest = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }
