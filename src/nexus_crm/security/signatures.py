"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

See https://www.standardwebhooks.com — any compliant signer (the ``standardwebhooks``
library, Svix, our ``genesis_crm`` client) produces headers this module accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from nexus_crm.errors import Unauthorized

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of a message."""
    payload = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise Unauthorized(f"missing {name} header", field=name)
    return value


def _timestamp(raw: str, now: datetime, tolerance_s: int) -> int:
    try:
        ts = int(raw)
    except ValueError:
        raise Unauthorized("webhook-timestamp is not an integer", field=HEADER_TIMESTAMP) from None
    skew = now.timestamp() - ts
    if skew > tolerance_s:
        raise Unauthorized("webhook-timestamp is too old", field=HEADER_TIMESTAMP)
    if skew < -tolerance_s:
        raise Unauthorized("webhook-timestamp is too far in the future", field=HEADER_TIMESTAMP)
    return ts


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes],
    *,
    now: datetime,
    tolerance_s: int = 300,
) -> str:
    """Check the signature against every key (rotation); return the ``webhook-id``."""
    return verify_signer(headers, body, keys, now=now, tolerance_s=tolerance_s)[0]


def verify_signer(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes],
    *,
    now: datetime,
    tolerance_s: int = 300,
) -> tuple[str, int]:
    """As :func:`verify`; also which of ``keys`` (its index) signed the message."""
    msg_id = _header(headers, HEADER_ID)
    ts = _timestamp(_header(headers, HEADER_TIMESTAMP), now, tolerance_s)
    offered = _header(headers, HEADER_SIGNATURE).split()
    expected = [sign(key, msg_id, ts, body) for key in keys]
    for candidate in offered:
        for index, signature in enumerate(expected):
            if hmac.compare_digest(candidate, signature):
                return msg_id, index
    raise Unauthorized("no valid signature for this body", field=HEADER_SIGNATURE)
