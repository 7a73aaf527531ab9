"""`nexus-crm evaluate`: the detectors replayed over a simulation, scored against its truth.

The measured-quality test replays 300 customers × 90 days of a seed the detectors were
never tuned on (docs/analytics.md, "Measured quality") into each database and asserts
the issue's targets; the CLI test checks the command's contract on a small simulation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_crm.cli.simulate import write_history_truth
from nexus_crm.settings import Settings
from nexus_crm.simulate.population import build_population
from nexus_crm.simulate.quality import evaluate_truth
from nexus_crm.simulate.truth import read_truth
from tests.cli.test_cli import ok, run_cli
from tests.conftest import BACKENDS, fresh_pg_database

# Never used while tuning any detector (seeds 7, 11, 23, 101, 202, 303, 2024, 31337 were).
HELD_OUT_SEED = 4242
END = datetime(2025, 12, 1, tzinfo=UTC)


def truth_file(path: Path, seed: int, customers: int, days: int) -> Path:
    """Write the truth file of a simulation (the history itself is rebuilt from it)."""
    first = END.date() - timedelta(days=days)
    pop = build_population(
        seed=seed, size=customers, days=days, first_day=first, tz=ZoneInfo("UTC")
    )
    write_history_truth(pop, END, path, None)
    return path


def at_least(value: float | None, floor: float) -> bool:
    """A figure that exists and reaches ``floor``."""
    return value is not None and value >= floor


def test_cli_prints_every_detector_and_refuses_what_it_cannot_replay(
    tmp_path: Path, db_url: str
) -> None:
    truth = truth_file(tmp_path / "truth.json", seed=5, customers=40, days=21)
    body = json.loads(
        ok(
            run_cli(
                "evaluate",
                "--truth",
                str(truth),
                "--step-minutes",
                "60",
                "--format",
                "json",
                database_url=db_url,
                cwd=tmp_path,
                timeout=600,
            )
        )
    )
    detectors = [s["detector"] for s in body["scores"]]
    assert detectors == [
        "usage_limit (approaching, exceeded)",
        "churn_risk",
        "upgrade_opportunity",
        "anomaly_detected",
        "performance_degradation",
    ]
    events = (read_truth(truth) or {})["totals"]["events"]
    assert body["replay"]["events"] == events
    assert body["replay"]["daily_evaluations"] == 21
    limits = body["scores"][0]
    assert limits["met"], limits
    # The test database is migrated and not empty: the replay must not write into it.
    refused = run_cli(
        "evaluate",
        "--truth",
        str(truth),
        "--database-url",
        db_url,
        database_url=db_url,
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "must be empty" in refused.stderr
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"format": "something else"}')
    wrong = run_cli("evaluate", "--truth", str(bogus), database_url=db_url, cwd=tmp_path)
    assert wrong.returncode == 2
    assert "not a truth file" in wrong.stderr


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """An empty database to replay into: a fresh PostgreSQL one, or None (scratch SQLite)."""
    if request.param == "sqlite":
        yield None
        return
    url, drop = fresh_pg_database("nexus_evaluate")
    yield url
    drop()


def test_measured_quality_on_a_held_out_seed(tmp_path: Path, empty_database: str | None) -> None:
    truth_path = truth_file(tmp_path / "truth.json", HELD_OUT_SEED, customers=300, days=90)
    truth = read_truth(truth_path)
    assert truth is not None
    url = empty_database
    result = asyncio.run(
        evaluate_truth(truth, settings=Settings(), database_url=url, step=timedelta(minutes=15))
    )
    scores = {s.detector: s for s in result.scores}
    report = {d: (s.precision, s.recall, s.figures) for d, s in scores.items()}
    assert scores["usage_limit (approaching, exceeded)"].met, report
    churn = scores["churn_risk"]
    assert at_least(churn.precision, 0.9), report
    assert at_least(churn.recall, 0.8), report
    up = scores["upgrade_opportunity"]
    assert at_least(up.precision, 0.9), report
    assert at_least(up.recall, 0.8), report
    anomalies = scores["anomaly_detected"]
    assert at_least(anomalies.recall, 0.9), report
    assert anomalies.figures["false_per_100_customer_days"] <= 1.0, report
    windows = scores["performance_degradation"].figures["windows"]
    assert windows, report
    assert all(w["within_limit"] for w in windows), report
