"""Churn features, labels, scorers, API and the churn_risk alert, on constructed histories."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics.churn import service as churn_service
from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.churn.features import FEATURES, Snapshot
from nexus_crm.analytics.churn.model import RuleScorer, TrainingSet, select_scorer
from nexus_crm.analytics.churn.repository import fingerprint
from nexus_crm.analytics.churn.service import lifetime_months, scored
from nexus_crm.analytics.churn.training import known_before, snapshot_at, training_set
from nexus_crm.db import transaction
from nexus_crm.ingest.service import ingest_events
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import day_start, local_day, utcnow
from nexus_crm.privacy.service import erase_customer
from tests.analytics.churn_data import FIRST, Person, decliner, store

UTC = ZoneInfo("UTC")
COL = {f: i for i, f in enumerate(FEATURES)}
NO_CACHE = ChurnConfig(CHURN_CACHE_SECONDS=0)


def decline(start: int, end: int, base: float = 20.0) -> Person:
    """Steady at ``base``, then a linear decline to 15 % from ``start``, cancelling at ``end``."""

    def volume(d: int) -> float:
        if d < start:
            return base
        return base * (1 - 0.85 * min(1.0, (d - start) / (end - start)))

    return Person(f"churn_{start}_{end}", volume=volume, cancel_day=end)


def row(snap: Snapshot, user: str) -> dict[str, float]:
    i = snap.user_ids.index(user)
    return {f: float(snap.x[i, j]) for f, j in COL.items()}


async def test_features_as_of_a_day(sessions: async_sessionmaker[AsyncSession]) -> None:
    people = [
        Person("steady", volume=lambda d: 10.0),
        decline(20, 50),
        Person("stopped", volume=lambda d: 10.0 if d < 31 else 0.0, rt_ms=3000),
        Person("gone", cancel_day=25),
        Person("upgraded", tier="essential", tier_changes=[(30, "pro")], agents=("NEXUS",)),
    ]
    await store(sessions, people, range(60))
    as_of = FIRST + timedelta(days=40)
    async with sessions() as s:
        snap = await snapshot_at(s, await known_before(s, as_of, UTC), as_of)
    assert snap.user_ids == ["churn_20_50", "steady", "stopped", "upgraded"]  # "gone" cancelled
    steady, churn = row(snap, "steady"), row(snap, "churn_20_50")
    stopped, up = row(snap, "stopped"), row(snap, "upgraded")
    assert steady["usage_change_pct"] == 0
    assert steady["days_since_last_use"] == 0
    assert steady["active_day_ratio"] == 1
    assert steady["agent_breadth"] == 2
    assert steady["rt_mean_ms"] == 1000
    assert steady["tier_rank"] == 2
    assert steady["active_day_volume_ratio"] == 1
    assert churn["active_day_volume_ratio"] < 0.8
    assert stopped["active_day_volume_ratio"] == 1  # no use in the last week: no thinning seen
    assert steady["tenure_days"] == 140
    assert steady["recent_week_ratio"] == pytest.approx(1)
    assert churn["usage_change_pct"] < -30
    assert churn["usage_slope_t"] < -2
    assert stopped["days_since_last_use"] == 9  # last use day 30, as of day 40
    assert stopped["rt_mean_ms"] == 3000
    assert stopped["active_day_ratio"] == pytest.approx(19 / 28)
    assert up["tier_changes_60d"] == 1
    assert up["tier_rank"] == 2
    assert up["agent_breadth"] == 1
    # January to day 39 (9 Feb): the last period is January, 31 days × 10 a day of 5,000.
    assert up["limit_pct_last_period"] == pytest.approx(100 * 31 * 10 / 5000)
    assert steady["limit_pct_period"] == pytest.approx(100 * 9 * 20 / 5000)


async def test_labels_are_cancellations_known_by_the_day(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    people = [decline(10, d) for d in (35, 44, 52, 70)] + [Person(f"s{i}") for i in range(5)]
    await store(sessions, people, range(80))
    as_of = FIRST + timedelta(days=60)
    async with sessions() as s:
        known = await known_before(s, as_of, UTC)
        ts = await training_set(s, known, 14)
    # Snapshots at days 46, 42, … 14 (every 4 days from as_of − 14); label: cancelled in 14 days.
    assert ts.fold.max() == 8
    assert len(ts.y) > 0
    # Cancellations on days 35, 44, 52 are known; the one on day 70 is after as_of: never a label.
    assert known.history[-1].changed_at.date() < as_of
    assert ts.positives == sum(
        1 for t in range(46, 13, -4) for c in (35, 44, 52) if t <= c < t + 14
    )


def test_rule_score_ranks_decline_above_steady_and_dormant() -> None:
    x = np.zeros((3, len(FEATURES)))
    x[:, COL["active_day_ratio"]] = 1
    x[:, COL["recent_week_ratio"]] = 1
    x[:, COL["active_day_volume_ratio"]] = 1
    x[0, COL["active_day_volume_ratio"]] = 0.4  # a decline thins the days still used
    x[0, [COL["usage_change_pct"], COL["recent_week_ratio"], COL["usage_slope_t"]]] = [-70, 0.3, -6]
    x[2, [COL["usage_change_pct"], COL["recent_week_ratio"], COL["usage_slope_t"]]] = [-100, 0, -6]
    x[2, COL["days_since_last_use"]], x[2, COL["active_day_ratio"]] = 15, 0.4
    scorer = RuleScorer()
    p = scorer.probabilities(x)
    assert p[0] > 0.5 > p[2] > p[1]
    effects = scorer.contributions(x)
    assert FEATURES[int(np.argmax(effects[0]))] == "usage_change_pct"  # 0.7 × 3 log-odds
    assert effects[2, COL["days_since_last_use"]] == -4  # an outright stop pulls down


def test_model_chosen_by_backtest_with_enough_labels() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, len(FEATURES)))
    y = (x[:, COL["usage_change_pct"]] < -1.2).astype(np.int64)
    ts = TrainingSet(x, y, np.repeat(np.arange(3), 200))
    scorer = select_scorer(ts, min_positives=10)
    assert scorer.kind in ("logistic", "boosting")
    assert all(v is not None and v > 0.9 for v in scorer.aucs.values())
    again = select_scorer(ts, min_positives=10)
    assert np.array_equal(scorer.probabilities(x), again.probabilities(x))  # deterministic
    few = TrainingSet(x, np.where(np.arange(600) < 5, 1, 0), ts.fold)
    assert select_scorer(few, min_positives=10).kind == "rules"


def test_lifetime_from_probability() -> None:
    assert lifetime_months(0.0, 30) == 60  # capped
    assert lifetime_months(0.5, 30) == pytest.approx(2.0)
    assert lifetime_months(0.5, 60) == pytest.approx(1 / (1 - 0.5**0.5))


async def test_scores_with_too_few_labels_use_rules(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await store(sessions, [decline(20, 60), Person("steady")], range(50))
    async with sessions() as s:
        result = await scored(s, as_of=FIRST + timedelta(days=50), tz=UTC, config=NO_CACHE)
    assert result.info.kind == "rules"
    assert result.info.training_positives == 0
    top = result.scores[0]
    assert top.user_id == "churn_20_60"
    assert top.probability > result.scores[1].probability
    assert any(d.text.startswith("usage down") for d in top.drivers)
    assert top.clv == pytest.approx(top.monthly_price * top.expected_lifetime_months, rel=0.01)
    assert top.monthly_price == 99


async def test_churn_api(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    read_headers: dict[str, str],
) -> None:
    from nexus_crm.kit.time import utcnow

    today = utcnow().date()
    offset = (today - FIRST).days
    people = [decliner(offset - 20), Person("steady")]
    await store(sessions, people, range(offset - 60, offset + 1))
    resp = await client.get("/agent-usage/churn-risks?limit=1", headers=read_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == 2
    assert len(body["customers"]) == 1
    assert body["model"]["kind"] == "rules"
    assert body["as_of"] == today.isoformat()
    first = body["customers"][0]
    assert first["user_id"] == people[0].user_id
    assert {"probability", "drivers", "tier", "clv", "expected_lifetime_months"} <= set(first)
    assert {"feature", "value", "contribution", "text"} == set(first["drivers"][0])
    resp = await client.get("/agent-usage/customers/steady", headers=read_headers)
    churn = resp.json()["churn"]
    assert churn["user_id"] == "steady"
    assert 0 <= churn["probability"] < first["probability"]
    bad = await client.get("/agent-usage/churn-risks?limit=0", headers=read_headers)
    assert bad.status_code == 422


async def test_the_cache_key_changes_with_past_usage_and_erasures_not_with_today(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A late event for a past day or an erasure changes the key; today's use does not."""
    tz = ZoneInfo("America/Mexico_City")
    now = utcnow()
    today = local_day(now, tz)
    since = day_start(today, tz)

    async def key() -> tuple[object, ...]:
        async with sessions() as s:
            return await fingerprint(s, since)

    async def ingest(occurred: datetime, user_id: str = "u1") -> None:
        rows = [
            {
                "id": uuid7(),
                "event_id": str(uuid7()),
                "user_id": user_id,
                "agent_id": "NEXUS",
                "session_id": "s",
                "tokens_used": 10,
                "response_time_ms": 100,
                "subscription_tier": "pro",
                "occurred_at": occurred,
                "day": local_day(occurred, tz),
                "received_at": now,
                "metadata": {},
            }
        ]
        async with transaction(sessions) as s:
            await ingest_events(s, rows=rows, received_at=now)

    first = await key()
    await ingest(since + timedelta(minutes=1))  # today: scores as of today are unchanged
    assert await key() == first
    await ingest(since - timedelta(days=3))  # a late event for a past day
    late = await key()
    assert late != first
    await ingest(since - timedelta(days=3), user_id="u2")
    assert await key() != late
    settled = await key()
    async with transaction(sessions) as s:
        await erase_customer(s, user_id="u2", key=b"k" * 32, actor="test", now=now)
    assert await key() != settled


async def test_requests_missing_the_cache_together_train_once(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five concurrent first calls: one training, five answers with the same scores."""
    await store(sessions, [decline(20, 60), Person("steady")], range(50))
    trainings: list[object] = []
    compute = churn_service._compute

    async def counted(*args: Any) -> churn_service.Scored:
        trainings.append(args[1])
        return await compute(*args)

    monkeypatch.setattr(churn_service, "_compute", counted)  # the fixture's cache is empty

    async def call() -> churn_service.Scored:
        async with sessions() as s:
            return await scored(
                s,
                as_of=FIRST + timedelta(days=50),
                tz=UTC,
                config=ChurnConfig(CHURN_CACHE_SECONDS=60),
            )

    results = await asyncio.gather(*(call() for _ in range(5)))
    assert len(trainings) == 1
    assert {r.scores[0].user_id for r in results} == {"churn_20_60"}
    assert all(r is results[0] for r in results)
