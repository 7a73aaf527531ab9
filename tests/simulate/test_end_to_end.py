"""The simulator against a real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import SubscriptionChange
from tests.processes import nexus_crm_command, running_server, server_env
from tests.support import OTHER_SECRET, TEST_SECRET

pytestmark = pytest.mark.slow
Sessions = async_sessionmaker[AsyncSession]
SUMMARY = re.compile(
    r"backfill: ([\d,]+) events sent, ([\d,]+) accepted, ([\d,]+) duplicates, "
    r"([\d,]+) subscription updates"
)


def population_args(end: str, base_url: str) -> list[str]:
    """A small population (30 customers × 14 days) ending at ``end``."""
    return [
        "--customers",
        "30",
        "--days",
        "14",
        "--seed",
        "5",
        "--end",
        end,
        "--base-url",
        base_url,
    ]


async def run_simulate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``nexus-crm simulate ARGS``, signing with the test secret."""
    env = server_env("sqlite:///unused.db", extra={"CRM_WEBHOOK_SECRET": TEST_SECRET})
    return await asyncio.to_thread(
        subprocess.run,
        [*nexus_crm_command(), "simulate", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def simulate(*args: str, cwd: Path) -> str:
    """``nexus-crm simulate ARGS``'s stdout; it must succeed."""
    result = await run_simulate(*args, cwd=cwd)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


async def rows(sessions: Sessions, sql: str) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(text(sql))).all())


async def db_totals(sessions: Sessions) -> tuple[Any, ...]:
    """Everything a duplicate delivery must not change."""
    return (
        await rows(sessions, "SELECT count(*), sum(tokens_used) FROM agent_usage_events"),
        await rows(sessions, "SELECT sum(interactions), sum(tokens) FROM agent_usage_daily"),
        await rows(sessions, "SELECT count(*) FROM subscription_changes"),
    )


def counts(summary: str) -> list[int]:
    match = SUMMARY.search(summary)
    assert match, summary
    return [int(g.replace(",", "")) for g in match.groups()]


async def check_database_matches_truth(sessions: Sessions, truth: dict[str, Any]) -> None:
    customers = {c["user_id"]: c for c in truth["customers"]}
    stored = await rows(sessions, "SELECT user_id, count(*) FROM agent_usage_events GROUP BY 1")
    assert dict(stored) == {u: c["events"] for u, c in customers.items() if c["events"]}
    states = await rows(sessions, "SELECT user_id, tier, status FROM customers")
    assert {u: (t, s) for u, t, s in states} == {
        u: (c["final_tier"], c["final_status"]) for u, c in customers.items()
    }
    sc = SubscriptionChange
    async with sessions() as session:
        history = (await session.scalars(select(sc).order_by(sc.user_id, sc.changed_at))).all()
    assert {h.source for h in history} == {"subscription"}  # no tier change from a late event
    expected = [
        (u, s["tier"], s["status"], datetime.fromisoformat(s["timestamp"]))
        for u, c in sorted(customers.items())
        for s in c["subscription_events"]
    ]
    assert [(h.user_id, h.to_tier, h.to_status, h.changed_at) for h in history] == expected


async def test_backfill_stores_the_truths_history_and_a_rerun_only_finds_duplicates(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    end = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0).isoformat()
    truth_path = tmp_path / "truth.json"
    with running_server(db_url) as server:
        args = [*population_args(end, server.base_url), "--truth", str(truth_path), "--backfill"]
        sent, accepted, duplicates, subs = counts(await simulate(*args, cwd=tmp_path))
        truth = json.loads(truth_path.read_text())
        assert sent == accepted == truth["totals"]["events"] > 2000
        assert duplicates == 0
        assert subs == truth["totals"]["subscription_updates"] >= 30
        await check_database_matches_truth(sessions, truth)
        before = await db_totals(sessions)
        assert before[0][0][0] == before[1][0][0] == sent

        again = counts(await simulate(*args, cwd=tmp_path))
        assert again == [sent, 0, sent, subs]
        assert await db_totals(sessions) == before
        assert json.loads(truth_path.read_text()) == truth


async def test_a_refused_backfill_stops_with_the_servers_error(
    sqlite_url: str, tmp_path: Path
) -> None:
    end = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0).isoformat()
    with running_server(sqlite_url, secret=OTHER_SECRET) as server:
        args = population_args(end, server.base_url)
        result = await run_simulate(*args, "--truth", "t.json", "--backfill", cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "error: backfill stopped: POST /agent-usage/subscriptions refused: HTTP 401" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "t.json").exists()


def check_live_events(live: list[Any], truth: dict[str, Any]) -> None:
    """Live senders are current customers with their current tier; the slow agent is slow."""
    customers = {c["user_id"]: c for c in truth["customers"]}
    for user, _, tier, _ in live:
        c = customers[user]
        assert not c["churned"], c["persona"]
        assert c["dormant_since"] is None, c["persona"]
        assert tier == c["final_tier"]
    ongoing = next(a for a in truth["agents"] for w in a["degradations"] if w["end"] is None)
    slow = [rt for _, agent, _, rt in live if agent == ongoing["agent_id"]]
    assert len(slow) >= 5
    assert statistics.median(slow) >= 2 * ongoing["median_response_time_ms"]


async def test_live_streams_the_same_personas_now(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    end = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0).isoformat()
    live_args = ["--live", "--rate", "100", "--duration", "3", "--outbox", str(tmp_path / "o.db")]
    with running_server(db_url) as server:
        args = population_args(end, server.base_url)
        await simulate(*args, "--truth", str(tmp_path / "t.json"), "--backfill", cwd=tmp_path)
        truth = json.loads((tmp_path / "t.json").read_text())
        changes = await db_totals(sessions)
        out = await simulate(*args, *live_args, cwd=tmp_path)
    assert f"live: {truth['totals']['subscription_updates']} subscription updates replayed" in out
    live = await rows(
        sessions,
        "SELECT user_id, agent_id, subscription_tier, response_time_ms "
        "FROM agent_usage_events WHERE event_id NOT LIKE 'sim-%'",
    )
    assert 100 <= len(live) <= 600, out
    assert re.search(rf"live: {len(live)} events in \d+ s", out), out
    assert (await db_totals(sessions))[2] == changes[2]  # replayed subscriptions change nothing
    check_live_events(live, truth)
