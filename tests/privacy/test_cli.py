"""``nexus-crm privacy export|erase|retention``: the real console script on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import AgentUsageEvent
from tests.cli.test_cli import ok, run_cli
from tests.privacy.helpers import (
    ANA,
    BOB,
    audit_rows,
    count,
    daily_totals,
    seed_customer,
    send,
    stored_about,
    usage,
)

pytestmark = pytest.mark.slow


async def test_export_then_erase_from_the_command_line(
    db_url: str,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    sent = await seed_customer(client, admin_headers, ANA, "ana@example.com")
    await seed_customer(client, admin_headers, BOB, "bob@example.com")
    out = tmp_path / "ana.json"
    ok(run_cli("privacy", "export", ANA, "--output", str(out), database_url=db_url, cwd=tmp_path))
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["customer"]["email"] == "ana@example.com"
    assert {e["event_id"] for e in doc["events"]} == {e["event_id"] for e in sent}
    stdout = json.loads(ok(run_cli("privacy", "export", BOB, database_url=db_url, cwd=tmp_path)))
    assert stdout["customer"]["email"] == "bob@example.com"
    assert [r.actor for r in await audit_rows(sessions, "privacy.export")] == ["system:cli"] * 2

    totals = await daily_totals(sessions)
    refused = run_cli("privacy", "erase", ANA, database_url=db_url, cwd=tmp_path)  # no --yes
    assert refused.returncode == 1
    assert (await stored_about(sessions, ANA))["events"] == 3
    erased = json.loads(
        ok(run_cli("privacy", "erase", ANA, "--yes", database_url=db_url, cwd=tmp_path))
    )
    assert (erased["status"], erased["counts"]["events_deleted"]) == ("erased", 3)
    again = json.loads(
        ok(run_cli("privacy", "erase", ANA, "-y", database_url=db_url, cwd=tmp_path))
    )
    assert again["status"] == "already_erased"
    assert await daily_totals(sessions) == totals
    [row] = await audit_rows(sessions, "privacy.erase")
    assert (row.actor, row.target) == ("system:cli", f"customer:{ANA}")
    # The server and the CLI derive the same key: the server suppresses what the CLI erased.
    assert (await send(client, *sent))["suppressed"] == 3

    gone = run_cli("privacy", "export", ANA, "-o", str(out), database_url=db_url, cwd=tmp_path)
    assert gone.returncode == 1
    assert "no data is stored about customer" in gone.stderr
    assert not out.exists()


async def test_retention_from_the_command_line(
    db_url: str,
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await send(client, usage(ANA, 40 * 24, 100), usage(ANA, 1, 10))
    off = ok(run_cli("privacy", "retention", database_url=db_url, cwd=tmp_path))
    assert "retention is off" in off
    env = {"RAW_EVENT_RETENTION_DAYS": "30"}
    dry = ok(
        run_cli("privacy", "retention", "--dry-run", database_url=db_url, cwd=tmp_path, env=env)
    )
    assert dry.startswith("would delete 1 raw events")
    assert await count(sessions, AgentUsageEvent) == 2
    done = ok(run_cli("privacy", "retention", database_url=db_url, cwd=tmp_path, env=env))
    assert done.startswith("deleted 1 raw events")
    assert await count(sessions, AgentUsageEvent) == 1
