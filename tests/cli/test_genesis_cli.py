"""``nexus-crm genesis outbox PATH status|retry-dead|purge-dead``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from genesis_crm.outbox import Outbox
from tests.processes import nexus_crm_command


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*nexus_crm_command(), "genesis", "outbox", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_outbox(path: Path) -> None:
    ob = Outbox(path)
    for i in range(3):
        ob.add("event", f'{{"user_id": "u{i}", "subscription_tier": "gold"}}')
    ob.bury({1: "subscription_tier: unknown tier 'gold'"})
    ob.reschedule([2], 30, "HTTP 503: busy")
    ob.close()


def test_status_retry_and_purge(tmp_path: Path) -> None:
    path = tmp_path / "ob.db"
    make_outbox(path)
    status = run(str(path))
    assert status.returncode == 0, status.stderr
    assert "pending:       2" in status.stdout
    assert "dead letters:  1" in status.stdout
    assert "unknown tier 'gold'" in status.stdout
    assert "HTTP 503: busy" in status.stdout
    retried = run(str(path), "retry-dead")
    assert "1 dead letter(s) queued again" in retried.stdout
    assert "pending:       3" in retried.stdout
    ob = Outbox(path)
    ob.bury({3: "x"})
    ob.close()
    purged = run(str(path), "purge-dead")
    assert "1 dead letter(s) deleted" in purged.stdout
    assert "dead letters:  0" in purged.stdout


def test_errors(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.db"))
    assert missing.returncode == 2
    assert "no outbox" in missing.stderr
    path = tmp_path / "ob.db"
    make_outbox(path)
    held = Outbox(path)
    try:
        busy = run(str(path))
    finally:
        held.close()
    assert busy.returncode == 1
    assert "in use by another process" in busy.stderr
    bad = run(str(path), "explode")
    assert bad.returncode == 2
