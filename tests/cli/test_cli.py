"""The real ``nexus-crm`` console script, run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from nexus_crm.ops.service import head_revision
from nexus_crm.settings import Settings
from tests.processes import (
    ServerProcess,
    free_port,
    nexus_crm_command,
    running_server,
    serve_command,
    server_env,
    stopped_by,
)

pytestmark = pytest.mark.slow

TIER_BODY = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 1_000_000,
    "monthly_interactions": 5_000,
    "monthly_price": "49.00",
}


def run_cli(
    *args: str,
    database_url: str | None,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``nexus-crm ARGS`` with the test environment; stdout and stderr captured."""
    full_env = server_env(database_url or "", extra=env)
    if database_url is None:
        del full_env["DATABASE_URL"]
    return subprocess.run(
        [*nexus_crm_command(), *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_db_upgrade_creates_the_schema_on_a_new_sqlite_file_and_is_idempotent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new" / "dir" / "nexus.db"
    for _ in range(2):
        out = ok(run_cli("db", "upgrade", database_url=f"sqlite:///{path}", cwd=tmp_path))
        assert out.strip() == f"database at revision {head_revision()}"
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    conn.close()
    assert {"agent_usage_events", "agent_usage_daily", "customers", "api_keys"} <= tables
    assert version == [(head_revision(),)]


def test_db_upgrade_on_the_test_databases(db_url: str, tmp_path: Path) -> None:
    out = ok(run_cli("db", "upgrade", database_url=db_url, cwd=tmp_path))
    assert out == f"database at revision {head_revision()}\n"


async def test_key_lifecycle_create_list_revoke(
    db_url: str, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, database_url=db_url, cwd=tmp_path)

    created = await asyncio.to_thread(
        cli, "keys", "create", "bi-dashboard", "--scope", "read", "--scope", "write"
    )
    lines = ok(created).splitlines()
    assert len(lines) == 1, created.stdout
    assert lines[0].startswith("ncrm_"), created.stdout
    key = lines[0]
    prefix = key.removeprefix("ncrm_").split("_", 1)[0]

    assert (await client.get("/agent-usage/tiers", headers=bearer(key))).status_code == 200
    put = await client.put("/agent-usage/tiers/pro", headers=bearer(key), json=TIER_BODY)
    assert put.status_code == 403, put.text

    listing = ok(await asyncio.to_thread(cli, "keys", "list"))
    row = next(line for line in listing.splitlines() if "bi-dashboard" in line)
    assert prefix in row
    assert "read,write" in row
    assert row.endswith("active")
    assert key not in listing
    assert key.split("_", 2)[2] not in listing

    assert ok(await asyncio.to_thread(cli, "keys", "revoke", prefix)) == f"revoked {prefix}\n"
    resp = await client.get("/agent-usage/tiers", headers=bearer(key))
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    listing = ok(await asyncio.to_thread(cli, "keys", "list"))
    assert "revoked" in next(line for line in listing.splitlines() if prefix in line)

    again = await asyncio.to_thread(cli, "keys", "revoke", prefix)
    assert again.returncode == 1
    assert "no live API key" in again.stderr


def test_revoking_an_unknown_key_fails_on_stderr(db_url: str, tmp_path: Path) -> None:
    result = run_cli("keys", "revoke", "deadbeef", database_url=db_url, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "error: no live API key with id or prefix 'deadbeef'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_scope_is_refused(db_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "keys", "create", "x", "--scope", "superuser", database_url=db_url, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "superuser" in result.stderr
    assert result.stdout == ""
    listing = ok(run_cli("keys", "list", database_url=db_url, cwd=tmp_path))
    assert len(listing.splitlines()) == 1  # only the header: nothing was created


def test_webhook_secret_prints_a_new_secret_that_settings_accept(tmp_path: Path) -> None:
    secrets = set()
    for _ in range(2):
        out = ok(run_cli("keys", "webhook-secret", database_url=None, cwd=tmp_path))
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+=*\n", out), out
        secrets.add(out.strip())
    assert len(secrets) == 2
    for secret in secrets:
        settings = Settings(NEXUS_CRM_ENV="production", GENESIS_WEBHOOK_SECRET=secret)
        assert settings.webhook_secrets == [secret]
        assert len(settings.webhook_keys[0]) == 32


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NEXUS_CRM_ENV": "production", "GENESIS_WEBHOOK_SECRET": ""}, "GENESIS_WEBHOOK_SECRET"),
        ({"NEXUS_CRM_ENV": "production", "GENESIS_WEBHOOK_SECRET": None}, "GENESIS_WEBHOOK_SECRET"),
        ({"GENESIS_WEBHOOK_SECRET": "not-a-secret"}, "GENESIS_WEBHOOK_SECRET"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"NEXUS_CRM_TIMEZONE": "Mars/Olympus"}, "NEXUS_CRM_TIMEZONE"),
    ],
)
def test_serve_refuses_bad_configuration_quickly_with_exit_2(
    tmp_path: Path, env: dict[str, str | None], named: str
) -> None:
    full_env = server_env(f"sqlite:///{tmp_path}/x.db")
    for name, value in env.items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    started = time.monotonic()
    result = subprocess.run(
        [*nexus_crm_command(), "serve", "--port", str(free_port())],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert time.monotonic() - started < 15
    assert named in result.stderr
    assert result.stderr.startswith("configuration error: ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_serve_answers_and_stops_cleanly_on_sigterm(db_url: str) -> None:
    with running_server(db_url, command=serve_command) as server:
        ready = httpx.get(f"{server.base_url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready"}
        code = server.stop()
        assert stopped_by(code, signal.SIGTERM), (code, server.output())
        assert "Traceback" not in server.output()


def run_demo(tmp_path: Path, db: Path) -> ServerProcess:
    """``nexus-crm demo`` with a small population (20 customers, 14 days) in ``tmp_path``."""
    demo = [*nexus_crm_command(), "demo", "--rate", "20", "--customers", "20", "--days", "14"]
    return ServerProcess(
        server_env(f"sqlite:///{db}"),
        command=lambda port: [*demo, "--port", str(port)],
        cwd=tmp_path,
    )


def wait_for_output(server: ServerProcess, pattern: str, timeout: float) -> re.Match[str]:
    """Poll the process's output until ``pattern`` appears in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, server.output(), re.MULTILINE)
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in the output:\n{server.output()}")


def test_demo_backfills_history_then_serves_live_traffic(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    with run_demo(tmp_path, db) as server:
        server.start(timeout=20)
        key = wait_for_output(server, r"^admin API key: (ncrm_\S+)$", 1).group(1)
        wait_for_output(server, r"^demo: history loaded", 60)
        truth = json.loads((tmp_path / "data" / "truth.json").read_text())
        with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=10) as client:
            history = client.get("/agent-usage/insights", params={"days": 14}).json()
            assert history["totals"]["interactions"] >= truth["totals"]["events"] > 1000
            assert 0 < history["totals"]["active_users"] <= 20
            first = wait_for_interactions(client, above=0, timeout=20)
            second = wait_for_interactions(client, above=first, timeout=20)
            assert second > first
            tiers = client.put("/agent-usage/tiers/pro", json=TIER_BODY)
            assert tiers.status_code == 200, tiers.text  # the demo key is an admin key
        wait_for_output(server, r"^live: \d+ events in \d+ s", 20)
        code = server.stop(sig=signal.SIGINT)
        assert stopped_by(code, signal.SIGINT), (code, server.output())
        assert "Traceback" not in server.output()
    assert db.exists()


def test_a_second_demo_run_resends_the_history_as_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    for run in range(2):
        with run_demo(tmp_path, db) as server:
            server.start(timeout=20)
            summary = wait_for_output(
                server,
                r"^backfill: ([\d,]+) events sent, ([\d,]+) "
                r"accepted, ([\d,]+) duplicates",
                60,
            )
            sent, accepted, duplicates = (int(g.replace(",", "")) for g in summary.groups())
            if run == 0:
                first_sent = sent
                assert (accepted, duplicates) == (sent, 0)
            else:
                assert duplicates == first_sent
                assert accepted == sent - first_sent
            server.stop(sig=signal.SIGINT)


def wait_for_interactions(client: httpx.Client, *, above: int, timeout: float) -> int:
    """Poll today's insights until interactions exceed ``above``; return them."""
    deadline = time.monotonic() + timeout
    seen = above
    while time.monotonic() < deadline:
        resp = client.get("/agent-usage/insights", params={"days": 1})
        assert resp.status_code == 200, resp.text
        seen = resp.json()["totals"]["interactions"]
        if seen > above:
            return int(seen)
        time.sleep(0.25)
    raise AssertionError(f"interactions stayed at {seen} (needed > {above}) for {timeout} s")
