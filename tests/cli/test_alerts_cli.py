"""``nexus-crm alerts``: the real console script on both databases."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.ingest.schemas import UsageEventIn
from nexus_crm.ingest.service import event_rows, store_usage
from nexus_crm.kit.time import billing_period
from nexus_crm.models import UsageAlert, UsageAlertEvent
from tests.cli.test_cli import ok, run_cli

pytestmark = pytest.mark.slow


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Usage over the limit, stored without announcing it: no alert yet."""
    now = datetime.now(UTC)
    ev = UsageEventIn(
        user_id="cli_user",
        agent_id="NEXUS",
        session_id="s",
        tokens_used=970_000,
        response_time_ms=100,
        subscription_tier="pro",
    )
    rows = event_rows([ev], webhook_id="cli", batch=False, received_at=now, tz=UTC)
    async with transaction(sessions) as s:
        await store_usage(s, rows=rows, received_at=now)


async def test_evaluate_list_and_act(
    db_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await seed(sessions)
    out = ok(run_cli("alerts", "evaluate", database_url=db_url, cwd=tmp_path))
    assert out.splitlines()[0] == "raised 1, resolved 0"
    assert "usage_limit_exceeded" in out
    assert "user:cli_user" in out
    assert ok(run_cli("alerts", "evaluate", database_url=db_url, cwd=tmp_path)).strip() == (
        "raised 0, resolved 0"
    )

    listed = ok(run_cli("alerts", "list", database_url=db_url, cwd=tmp_path))
    [line] = listed.splitlines()
    alert_id = line.split()[0]
    out = ok(
        run_cli(
            "alerts", "acknowledge", alert_id, "--note", "seen", database_url=db_url, cwd=tmp_path
        )
    )
    assert "acknowledged" in out
    again = run_cli("alerts", "acknowledge", alert_id, database_url=db_url, cwd=tmp_path)
    assert again.returncode == 1
    assert "cannot acknowledge an alert that is acknowledged" in again.stderr
    missing = run_cli("alerts", "resolve", str(uuid.uuid4()), database_url=db_url, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no alert with id" in missing.stderr

    next_period = billing_period(date.today())[1]
    out = ok(
        run_cli(
            "alerts",
            "evaluate",
            "--now",
            f"{next_period}T01:00:00+00:00",
            "--json",
            database_url=db_url,
            cwd=tmp_path,
        )
    )
    changes = json.loads(out)
    assert changes["raised"] == []
    assert [a["id"] for a in changes["resolved"]] == [alert_id]
    assert changes["resolved"][0]["history"][-1]["note"].endswith("ended")

    async with sessions() as s:
        status = await s.scalar(select(UsageAlert.status))
        actors = (await s.scalars(select(UsageAlertEvent.actor).order_by(UsageAlertEvent.at))).all()
    assert status == "resolved"
    assert actors == ["system", "cli", "system"]
