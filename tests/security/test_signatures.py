"""Standard Webhooks verification, interoperating with the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from genesis_crm.signing import sign_headers
from nexus_crm.errors import Unauthorized
from nexus_crm.security.signatures import sign, verify
from nexus_crm.settings import decode_webhook_secret
from tests.support import OTHER_SECRET, TEST_SECRET, signed

KEY = decode_webhook_secret(TEST_SECRET)
NOW = datetime.now(UTC)


def test_our_signature_equals_the_reference_library() -> None:
    body = b'{"a": 1}'
    ts = int(NOW.timestamp())
    theirs = Webhook(TEST_SECRET).sign("msg_1", datetime.fromtimestamp(ts, UTC), body.decode())
    assert sign(KEY, "msg_1", ts, body) == theirs
    assert (
        sign_headers(TEST_SECRET, body, msg_id="msg_1", timestamp=ts)["webhook-signature"] == theirs
    )


def test_reference_library_verifies_what_genesis_signs() -> None:
    body = b'{"user_id": "u"}'
    headers = sign_headers(TEST_SECRET, body)
    assert Webhook(TEST_SECRET).verify(body.decode(), headers) == {"user_id": "u"}


def test_verify_accepts_any_listed_signature_and_any_configured_key() -> None:
    body, headers = signed({"x": 1}, secret=OTHER_SECRET)
    both = {**headers, "webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    keys = [KEY, decode_webhook_secret(OTHER_SECRET)]
    now = datetime.now(UTC)  # signed() stamps the real time; a module-level NOW grows stale
    assert verify(both, body, keys, now=now) == headers["webhook-id"]
    with pytest.raises(Unauthorized):
        verify(both, body, [KEY], now=now)


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=-5, seconds=-30), timedelta(minutes=5, seconds=30)]
)
def test_tolerance_is_five_minutes_each_way(skew: timedelta) -> None:
    body, headers = signed({"x": 1}, at=NOW + skew)
    with pytest.raises(Unauthorized) as err:
        verify(headers, body, [KEY], now=NOW, tolerance_s=300)
    assert err.value.extra["field"] == "webhook-timestamp"


def test_secrets_are_checked() -> None:
    from nexus_crm.settings import SettingsError

    with pytest.raises(SettingsError):
        decode_webhook_secret("shared_secret_with_genesis")
    with pytest.raises(SettingsError):
        decode_webhook_secret("whsec_***")
    with pytest.raises(SettingsError):
        decode_webhook_secret("whsec_" + base64.b64encode(b"short").decode())
