"""``nexus-crm demo`` mails through its own loopback mailbox instead of a missing server."""

from __future__ import annotations

import json
import signal
import smtplib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus_crm.cli.demo import demo_app
from nexus_crm.closer.mailbox import installed_mailbox
from nexus_crm.settings import Settings
from tests.cli.test_cli import bearer, wait_for_output
from tests.processes import ServerProcess, nexus_crm_command, server_env, stopped_by
from tests.support import TEST_SECRET

SEQUENCES = "/agent-usage/upsell-sequences"


async def test_the_demo_app_points_smtp_at_its_mailbox_and_stops_it(db_url: str) -> None:
    settings = Settings(
        DATABASE_URL=db_url,
        GENESIS_WEBHOOK_SECRET=TEST_SECRET,
        DASHBOARD_ENABLED=False,
        SMTP_HOST="smtp.example.com",
        SMTP_USERNAME="someone",
        SMTP_PASSWORD="secret",
        UPSELL_WORKER_INTERVAL_SECONDS=0,
        ALERT_EVALUATION_INTERVAL_SECONDS=0,
    )
    app = demo_app(settings)
    mailbox = installed_mailbox(app)
    assert mailbox is not None
    smtp = app.state.settings
    assert (smtp.smtp_host, smtp.smtp_port) == ("127.0.0.1", mailbox.port)
    assert (smtp.smtp_starttls, smtp.smtp_username, smtp.smtp_password) == (False, None, None)
    assert smtp.database_url == settings.database_url  # only the SMTP settings change
    async with app.router.lifespan_context(app):
        with smtplib.SMTP("127.0.0.1", mailbox.port, timeout=10) as client:
            assert client.noop()[0] == 250
    with pytest.raises(ConnectionRefusedError), smtplib.SMTP("127.0.0.1", mailbox.port, timeout=5):
        pass  # the app's shutdown stopped the mailbox


def a_customer_to_upsell(truth_path: Path) -> str:
    """An active simulated customer below the top tier, with an email address."""
    truth = json.loads(truth_path.read_text())
    for c in truth["customers"]:
        if c["final_status"] == "active" and c["final_tier"] != "longevity" and c["email"]:
            return str(c["user_id"])
    raise AssertionError("no active customer below LONGEVITY in the truth file")


def first_step_outcome(client: httpx.Client, sequence_id: str, timeout: float) -> dict[str, Any]:
    """Poll the sequence until its first step was sent or failed to send; that step."""
    deadline = time.monotonic() + timeout
    step: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = client.get(f"{SEQUENCES}/{sequence_id}")
        assert resp.status_code == 200, resp.text
        step = resp.json()["steps"][0]
        if step["status"] not in ("scheduled", "sending") or step["last_error"]:
            return step
        time.sleep(0.2)
    raise AssertionError(f"the first step stayed {step} for {timeout} s")


@pytest.mark.slow
def test_the_demo_delivers_upsell_email_to_its_mailbox(tmp_path: Path) -> None:
    demo = [*nexus_crm_command(), "demo", "--rate", "5", "--customers", "20", "--days", "14"]
    # As `make demo` runs it (the dashboard on); the first email goes out at once.
    extra = {"DASHBOARD_ENABLED": "true", "UPSELL_WORKER_INTERVAL_SECONDS": "0.5"}
    env = server_env(f"sqlite:///{tmp_path / 'demo.db'}", extra=extra)
    with ServerProcess(env, command=lambda p: [*demo, "--port", str(p)], cwd=tmp_path) as server:
        server.start(timeout=20)
        key = wait_for_output(server, r"^admin API key: (ncrm_\S+)$", 1).group(1)
        wait_for_output(server, r"^demo: history loaded", 60)
        user = a_customer_to_upsell(tmp_path / "data" / "truth.json")
        body = {"user_id": user, "recommended_tier": "longevity", "reason": "demo test"}
        with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=10) as client:
            started = client.post(SEQUENCES, json=body)
            assert started.status_code in (200, 201), started.text
            step = first_step_outcome(client, started.json()["sequence"]["id"], 30)
        assert (step["status"], step["last_error"]) == ("sent", None), step
        wait_for_output(server, rf"^mailbox: {server.base_url}/mailbox\b", 1)
        wait_for_output(server, r"^live: ", 20)  # a Ctrl+C while it imports prints a traceback
        code = server.stop(sig=signal.SIGINT)
        assert stopped_by(code, signal.SIGINT), (code, server.output())
        assert "Traceback" not in server.output()
