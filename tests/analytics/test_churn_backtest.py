"""The churn backtest: no future data reaches a score, and the CLI on simulated history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.churn.service import evaluate_churn, scored
from nexus_crm.analytics.churn.training import known_before, snapshot_at
from nexus_crm.db import transaction
from nexus_crm.models import SubscriptionChange, agent_usage_daily
from nexus_crm.settings import Settings
from nexus_crm.simulate.load import load_history
from nexus_crm.simulate.population import build_population
from tests.analytics.churn_data import FIRST, Person, at, daily_row, store
from tests.analytics.test_churn import decline
from tests.cli.test_cli import ok, run_cli

UTC_TZ = ZoneInfo("UTC")
AS_OF = 60
NO_CACHE = ChurnConfig(CHURN_CACHE_SECONDS=0)


def population() -> list[Person]:
    """16 churners cancelling before day 60, 4 cancelling late (after day 75), 20 steady."""
    early = [decline(c - 20, c) for c in range(30, 62, 2)]
    late = [Person(f"late_{i}", cancel_day=None) for i in range(4)]
    return early + late + [Person(f"steady_{i}", volume=lambda d, i=i: 8.0 + i) for i in range(20)]


def future_only_signal(people: list[Person]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """From day 60 on: a huge spike on a new, slow agent by the late churners and
    cancellations dated day 80 — a perfect predictor, if anything read the future."""
    late = [p.user_id for p in people if p.user_id.startswith("late_")]
    usage = [
        daily_row(u, "LEAKBOT", d, 5000, 30_000) for u in late for d in range(AS_OF, AS_OF + 25)
    ]
    changes = [
        {
            "user_id": u,
            "from_tier": "pro",
            "to_tier": "pro",
            "from_status": "active",
            "to_status": "cancelled",
            "changed_at": at(80),
            "source": "subscription",
        }
        for u in late
    ]
    return usage, changes


async def everything_at(sessions: async_sessionmaker[AsyncSession]) -> tuple[Any, ...]:
    day = FIRST + timedelta(days=AS_OF)
    async with sessions() as s:
        snap = await snapshot_at(s, await known_before(s, day, UTC_TZ), day)
        result = await scored(s, as_of=day, tz=UTC_TZ, config=NO_CACHE)
        ev = await evaluate_churn(
            s, as_of=day, horizon=14, tz=UTC_TZ, threshold=0.5, config=NO_CACHE
        )
    return snap, result, ev


async def test_a_future_only_signal_is_ignored(sessions: async_sessionmaker[AsyncSession]) -> None:
    people = population()
    await store(sessions, people, range(AS_OF))
    snap, result, ev = await everything_at(sessions)
    assert result.info.kind in ("logistic", "boosting")  # the model path, not the rules
    usage, changes = future_only_signal(people)
    async with transaction(sessions) as s:
        await s.execute(insert(agent_usage_daily), usage)
        await s.execute(insert(SubscriptionChange), changes)
    snap2, result2, ev2 = await everything_at(sessions)
    assert snap2.user_ids == snap.user_ids
    assert np.array_equal(snap2.x, snap.x, equal_nan=True)
    assert result2 == result  # same model, probabilities, drivers, CLV
    assert ev2 == ev  # the planted cancellations (day 80) are past the 14-day horizon
    # Control: the signal is real — a snapshot after day 60 sees it.
    later = FIRST + timedelta(days=AS_OF + 10)
    async with sessions() as s:
        seen = await snapshot_at(s, await known_before(s, later, UTC_TZ), later)
    late = [i for i, u in enumerate(seen.user_ids) if u.startswith("late_")]
    assert late
    assert all(seen.x[i, 0] > 100 for i in late)


@pytest.mark.slow
def test_cli_on_simulated_history(tmp_path: Path) -> None:
    import asyncio

    from nexus_crm.cli.db import migrate
    from nexus_crm.db import create_engine
    from nexus_crm.wiring import open_sessions

    url = f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}"
    settings = Settings(DATABASE_URL=url)
    end = datetime(2026, 3, 1, tzinfo=UTC)
    days = 60
    first = end.date() - timedelta(days=days)
    pop = build_population(seed=5, size=60, days=days, first_day=first, tz=UTC_TZ)

    async def load() -> None:
        await migrate(settings)
        engine = create_engine(settings)
        await load_history(open_sessions(engine, settings), settings, pop, end)
        await engine.dispose()

    asyncio.run(load())
    as_of = (first + timedelta(days=40)).isoformat()
    out = ok(
        run_cli(
            "churn", "evaluate", "--as-of", as_of, "--horizon", "14", database_url=url, cwd=tmp_path
        )
    )
    assert "AUC " in out, out
    assert "top-decile lift " in out, out
    body = json.loads(
        ok(run_cli("churn", "evaluate", "--as-of", as_of, "--json", database_url=url, cwd=tmp_path))
    )
    assert body["as_of"] == as_of
    assert body["customers"] > 0
    assert body["model"]["kind"]
    scores = json.loads(
        ok(
            run_cli(
                "churn",
                "score",
                "--as-of",
                as_of,
                "--format",
                "json",
                database_url=url,
                cwd=tmp_path,
            )
        )
    )
    probs = [c["probability"] for c in scores["customers"]]
    assert probs == sorted(probs, reverse=True)
    assert len(probs) == body["customers"]
    csv_out = ok(
        run_cli("churn", "score", "--as-of", as_of, "--limit", "3", database_url=url, cwd=tmp_path)
    )
    lines = csv_out.splitlines()
    assert lines[0].startswith("user_id,tier,probability,clv")
    assert len(lines) == 4
    trained = ok(run_cli("churn", "train", "--as-of", as_of, database_url=url, cwd=tmp_path))
    assert trained.startswith("model ")
    assert "validation AUC" in trained
