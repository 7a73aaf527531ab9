"""Test helpers: signing with the third-party Standard Webhooks library, sample events."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from genesis_crm.signing import sign_headers

TEST_SECRET = "whsec_" + base64.b64encode(b"test-secret-for-nexus-crm-suite!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"previous-secret-still-accepted!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"a-secret-the-server-does-not-know").decode()


def signed(
    payload: Any,
    *,
    secret: str = TEST_SECRET,
    msg_id: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers signed by the ``standardwebhooks`` library (not our code)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    try:
        signature = Webhook(secret).sign(msg_id, at, body.decode())
    except UnicodeDecodeError:  # the library signs text only; bytes go through our signer
        ts = int(at.timestamp())
        signature = sign_headers(secret, body, msg_id=msg_id, timestamp=ts)["webhook-signature"]
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body, headers


def event(**overrides: Any) -> dict[str, Any]:
    """A valid usage event (the seed's example), with overrides."""
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "user_id": "cliente_123",
        "agent_id": "NEXUS",
        "session_id": "session_abc",
        "tokens_used": 150,
        "response_time_ms": 1200,
        "subscription_tier": "pro",
    }
    base.update(overrides)
    return base
