"""The webhook channel: each step POSTed to the Closer endpoint, signed (Standard Webhooks)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from nexus_crm.closer.worker import deliver_due
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from tests.closer.conftest import customer, sequence_of, served, start, steps
from tests.support import OTHER_SECRET

Received = list[tuple[dict[str, str], bytes]]


class Receiver(BaseHTTPRequestHandler):
    """Keeps each request; answers 503 while ``failures`` is positive."""

    received: Received
    failures: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status = 503 if self.failures[0] > 0 else 200
        self.failures[0] -= 1
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received, list[int]]]:
    """A local HTTP endpoint standing in for the Closer/GENESIS receiver."""
    received: Received = []
    failures = [1]
    handler = type("H", (Receiver,), {"received": received, "failures": failures})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/closer", received, failures
    finally:
        server.shutdown()
        server.server_close()


async def test_steps_are_posted_signed_and_retried_with_the_same_id(
    settings: Settings, receiver: tuple[str, Received, list[int]], admin_headers: dict[str, str]
) -> None:
    url, received, _ = receiver
    tuned = Settings(
        **{
            **_env(settings),
            "UPSELL_CHANNEL": "webhook",
            "UPSELL_WEBHOOK_URL": url,
            "UPSELL_WEBHOOK_SECRET": OTHER_SECRET,
        }
    )
    async with served(tuned) as (app, client):
        await customer(client, tokens=2_000)
        seq = sequence_of(await start(client, admin_headers))
        assert [s["channel"] for s in seq["steps"]] == ["webhook"] * 3
        t0 = utcnow()
        assert (await deliver_due(app.state.sessions, tuned, now=t0)).retried == 1  # 503
        done = await deliver_due(app.state.sessions, tuned, now=t0 + timedelta(minutes=5))
        assert len(done.sent) == 1
        first = (await steps(app.state.sessions, seq["id"]))[0]
    assert (first.status, first.attempts) == ("sent", 2)
    assert len(received) == 2
    (h1, _), (h2, b2) = received
    assert h1["webhook-id"] == h2["webhook-id"] == first.message_id  # receivers dedupe on it
    payload = Webhook(OTHER_SECRET).verify(b2.decode(), h2)  # the reference library agrees
    assert payload == json.loads(b2)
    assert payload["type"] == "upsell.step"
    assert (payload["sequence_id"], payload["user_id"]) == (seq["id"], "cliente_123")
    assert payload["step"] == {"index": 0, "kind": "initial"}
    message = payload["message"]
    assert message["to"] == "ana@example.com"
    assert message["figures"]["tokens_used"] == "2,000"
    assert "2,000 of 1,000,000 tokens" in message["body"]


def _env(settings: Settings) -> dict[str, Any]:
    """The environment names of the settings that the closer tests set."""
    return {
        "DATABASE_URL": settings.database_url,
        "GENESIS_WEBHOOK_SECRET": settings.genesis_webhook_secret,
        "UPSELL_WORKER_INTERVAL_SECONDS": 0,
        "ALERT_EVALUATION_INTERVAL_SECONDS": 0,
    }


def test_the_webhook_channel_needs_a_url_and_a_secret() -> None:
    with pytest.raises(ValueError, match="UPSELL_WEBHOOK_URL"):
        Settings(UPSELL_CHANNEL="webhook")
    with pytest.raises(ValueError, match="three increasing days"):
        Settings(UPSELL_STEP_DAYS="0,7,3")
