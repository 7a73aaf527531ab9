"""Usage anomalies on both databases: known z-scores, gates, robust vs plain, alerts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.alerts.service import evaluate_alerts, resolve_alert
from nexus_crm.analytics.anomalies import detect_anomalies
from nexus_crm.analytics.anomaly_engine import Anomaly, AnomalyConfig
from nexus_crm.db import transaction
from nexus_crm.errors import InvalidInput
from nexus_crm.models import UsageAlert
from nexus_crm.simulate.population import build_population
from nexus_crm.simulate.scoring import daily_counts, score_anomalies
from tests.analytics.anomaly_data import counts_rows, series_rows, write_rows

D = date(2026, 3, 10)  # the day judged
Sessions = async_sessionmaker[AsyncSession]


def days_before(n: int) -> date:
    return D - timedelta(days=n)


async def detect(sessions: Sessions, day: date = D, **cfg: Any) -> list[Anomaly]:
    async with sessions() as session:
        return await detect_anomalies(session, start=day, config=AnomalyConfig(**cfg))


def only(found: list[Anomaly], user: str | None) -> list[Anomaly]:
    return [a for a in found if a.user_id == user]


async def test_known_z_scores(sessions: Sessions) -> None:
    # 14 days alternating 8, 12: mean 10, std 2, median 10, MAD 2; then 20.
    await write_rows(sessions, series_rows("u", "NEXUS", days_before(14), [8, 12] * 7 + [20]))
    [a] = only(await detect(sessions), "u")  # (the agent's total is the same series)
    assert (a.user_id, a.agent_id, a.day, a.observed, a.direction) == ("u", "NEXUS", D, 20, "spike")
    b = a.baseline
    assert (b.days, b.mean, b.std, b.median, b.mad) == (14, 10.0, 2.0, 10.0, 2.0)
    assert a.z == 5.0
    assert a.robust_z == pytest.approx(10 / math.sqrt(10))  # √median beats 1.4826 × MAD
    assert await detect(sessions, day=D - timedelta(days=1)) == []  # 12 after 8, 12, …
    [total] = only(await detect(sessions), None)
    assert (total.agent_id, total.z, total.method) == ("NEXUS", 5.0, "both")


@pytest.mark.parametrize(
    ("history", "min_history", "flagged"),
    [(6, 7, False), (7, 7, True), (13, 14, False), (14, 14, True)],
)
async def test_the_minimum_history_gate(
    sessions: Sessions, history: int, min_history: int, flagged: bool
) -> None:
    await write_rows(
        sessions, series_rows("u", "SAGE", days_before(history), [10] * history + [40])
    )
    found = await detect(sessions, min_history_days=min_history)
    assert bool(only(found, "u")) is flagged


async def test_robust_ignores_an_outlier_in_the_baseline_plain_does_not(sessions: Sessions) -> None:
    values = [10] * 28
    values[5] = 100  # one earlier spike inflates the plain std to 16.7
    await write_rows(sessions, series_rows("u", "NEXUS", days_before(28), [*values, 40]))
    [robust] = only(await detect(sessions, method="robust"), "u")
    # More than half the days equal: MAD 0, so σ ≈ 1.2533 × mean |x − median| = 4.03.
    assert robust.baseline.mad == 0
    assert robust.robust_z == pytest.approx(30 / (1.2533 * 90 / 28))
    assert robust.z == pytest.approx((40 - 370 / 28) / (math.sqrt(28 * 12700 - 370**2) / 28))
    assert robust.z < 3
    assert only(await detect(sessions, method="plain"), "u") == []
    assert only(await detect(sessions, method="both"), "u") == []


async def test_spikes_drops_and_small_counts(sessions: Sessions) -> None:
    rows = series_rows("busy", "NEXUS", days_before(28), [28, 32] * 14 + [0])  # stops
    rows += series_rows("small", "NEXUS", days_before(28), [1, 2] * 14 + [6])  # 1-2 → 6
    rows += series_rows("small2", "NEXUS", days_before(28), [1, 2] * 14 + [7])  # 1-2 → 7
    await write_rows(sessions, rows)
    found = {a.user_id: a for a in await detect(sessions) if a.user_id}
    assert set(found) == {"busy", "small2"}
    assert found["busy"].direction == "drop"
    assert found["busy"].robust_z == pytest.approx(-30 / math.sqrt(30))
    # 1-2 a day → 6: robust z 3.7 but only 4.5 above the median (< ANOMALY_MIN_EXCESS 5).
    assert found["small2"].direction == "spike"
    assert found["small2"].robust_z == pytest.approx(5.5 / math.sqrt(1.5))


async def test_global_per_agent_series(sessions: Sessions) -> None:
    rows = []
    for i in range(10):  # each 2/4 alternating, in opposite phases: 30 a day together
        pattern = [2, 4] if i % 2 else [4, 2]
        rows += series_rows(f"c{i}", "BLAZE", days_before(28), pattern * 14 + [6])
    await write_rows(sessions, rows)
    found = await detect(sessions)
    [total] = found
    assert (total.user_id, total.agent_id, total.observed, total.direction) == (
        None,
        "BLAZE",
        60,
        "spike",
    )
    assert total.method == "both"
    assert (total.baseline.mean, total.baseline.std, total.z) == (30.0, 0.0, 30.0)


async def test_a_range_of_days_and_its_limits(sessions: Sessions) -> None:
    await write_rows(sessions, series_rows("u", "NEXUS", days_before(28), [10] * 28 + [40, 10, 41]))
    async with sessions() as session:
        found = only(await detect_anomalies(session, start=D, end=D + timedelta(days=2)), "u")
        assert [(a.day, a.observed) for a in found] == [(D, 40), (D + timedelta(days=2), 41)]
        with pytest.raises(InvalidInput):
            await detect_anomalies(session, start=D, end=D - timedelta(days=1))


# --------------------------------------------------------------------------------------
# The anomaly_detected alert
# --------------------------------------------------------------------------------------


async def anomaly_alerts(sessions: Sessions) -> list[UsageAlert]:
    async with sessions() as s:
        stmt = select(UsageAlert).where(UsageAlert.alert_type == "anomaly_detected")
        return list((await s.scalars(stmt.order_by(UsageAlert.subject))).all())


async def evaluate(sessions: Sessions, now: datetime) -> list[str]:
    async with transaction(sessions) as session:
        changes = await evaluate_alerts(session, now=now, policy=AlertPolicy())
    return [a.subject for a in changes.raised if a.alert_type == "anomaly_detected"]


async def test_one_alert_per_customer_day_never_raised_twice(sessions: Sessions) -> None:
    rows = series_rows("cliente_x", "NEXUS", days_before(28), [9, 11] * 14 + [62, 10])
    rows += series_rows("cliente_x", "BLAZE", days_before(28), [8] * 28 + [40, 8])
    for i in range(8):  # others, busy and varied, so that the agents' totals stay ordinary
        rows += series_rows(f"other{i}", "NEXUS", days_before(28), [20, 40] * 14 + [30, 30])
        rows += series_rows(f"other{i}", "BLAZE", days_before(28), [20, 40] * 14 + [30, 30])
    await write_rows(sessions, rows)
    now = datetime.combine(D + timedelta(days=1), time(9), tzinfo=UTC)

    assert await evaluate(sessions, now) == ["user:cliente_x"]
    [alert] = await anomaly_alerts(sessions)
    assert (alert.period_key, alert.user_id, alert.severity) == (
        D.isoformat(),
        "cliente_x",
        "critical",
    )
    assert alert.title == (
        f"cliente_x used NEXUS, BLAZE 5.7× more than usual on {D} (102 vs ~18 a day)"
    )
    assert alert.data["direction"] == "spike"
    assert [(a["agent_id"], a["observed"], a["baseline_median"]) for a in alert.data["agents"]] == [
        ("NEXUS", 62, 10.0),
        ("BLAZE", 40, 8.0),
    ]

    assert await evaluate(sessions, now) == []  # the same evaluation again
    async with transaction(sessions) as session:
        await resolve_alert(session, alert_id=alert.id, actor="cli", now=now)
    assert await evaluate(sessions, now) == []  # resolved: a past day is not re-raised
    assert await evaluate(sessions, now + timedelta(days=1)) == []  # still in the lookback
    assert [a.status for a in await anomaly_alerts(sessions)] == ["resolved"]


async def test_agent_and_drop_alerts(sessions: Sessions) -> None:
    rows = series_rows("solo", "WAVE", days_before(28), [20] * 28 + [0])
    await write_rows(sessions, rows)
    now = datetime.combine(D + timedelta(days=1), time(0, 30), tzinfo=UTC)
    assert await evaluate(sessions, now) == ["agent:WAVE", "user:solo"]
    agent, user = await anomaly_alerts(sessions)
    assert user.title == f"solo did not use WAVE on {D} (usually ~20 a day)"
    assert (agent.agent_id, agent.user_id, agent.data["direction"]) == ("WAVE", None, "drop")
    assert agent.title.startswith("All customers did not use WAVE")


# --------------------------------------------------------------------------------------
# Planted anomalies of the simulator (a seed never used for tuning; full runs in the docs)
# --------------------------------------------------------------------------------------

SIM_SEED, SIM_SIZE, SIM_DAYS = 303, 120, 60


async def test_planted_spikes_are_found_on_simulated_history(sessions: Sessions) -> None:
    first = date(2026, 1, 5)
    pop = build_population(
        seed=SIM_SEED, size=SIM_SIZE, days=SIM_DAYS, first_day=first, tz=ZoneInfo("UTC")
    )
    counts = daily_counts(pop, pop.timeline.start(SIM_DAYS))
    await write_rows(sessions, counts_rows(counts))
    last = first + timedelta(days=SIM_DAYS - 1)
    async with sessions() as session:
        found = await detect_anomalies(session, start=first, end=last)
    flags = [(a.user_id, a.day, a.direction) for a in found if a.user_id is not None]
    days = [first + timedelta(days=i) for i in range(SIM_DAYS)]
    score = score_anomalies(pop, counts, flags, days)
    assert score.planted >= 40
    assert score.recall >= 0.9, score
    assert score.false_per_100 <= 1.0, score
