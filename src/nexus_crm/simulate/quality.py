"""Measured quality: replay the history a truth file describes and score every detector.

``nexus-crm evaluate --truth truth.json`` (docs/analytics.md, "Measured quality"). The
population is rebuilt from the truth file's parameters (the simulator is deterministic:
same parameters, same traffic), checked against the file (generator version, run tag,
number of events), replayed into a scratch database (``evaluation.replay``) with the
configured detector settings, and the alerts it raised are scored (``grading``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect

from nexus_crm.db import create_engine, upgrade_database
from nexus_crm.errors import NexusError
from nexus_crm.settings import Settings, normalize_database_url
from nexus_crm.simulate import grading
from nexus_crm.simulate.evaluation import ReplayStats, replay
from nexus_crm.simulate.limit_check import LimitCheck
from nexus_crm.simulate.population import GENERATOR_VERSION, Population, build_population
from nexus_crm.simulate.scoring import daily_counts
from nexus_crm.simulate.truth import FORMAT
from nexus_crm.wiring import open_sessions


class TruthMismatch(NexusError):
    """The truth file cannot be replayed by this version of the simulator, or not here."""

    status = 422
    code = "cannot_evaluate"


@dataclass
class Evaluation:
    """Every detector's score, and what the replay did."""

    scores: list[grading.Score]
    replay: ReplayStats
    parameters: dict[str, Any]

    @property
    def met(self) -> bool:
        """Whether every detector meets its target."""
        return all(s.met for s in self.scores)


def rebuild(truth: dict[str, Any]) -> tuple[Population, datetime]:
    """The population and end instant a truth file describes; TruthMismatch if they differ."""
    if truth.get("format") != FORMAT:
        raise TruthMismatch("not a truth file of `nexus-crm simulate`", field="truth")
    p = truth["parameters"]
    if p["generator_version"] != GENERATOR_VERSION:
        raise TruthMismatch(
            f"the truth file comes from simulator version {p['generator_version']}, this is "
            f"version {GENERATOR_VERSION}: re-run `nexus-crm simulate` to write a new one",
            field="truth",
        )
    pop = build_population(
        seed=p["seed"],
        size=p["customers"],
        days=p["days"],
        first_day=date.fromisoformat(p["first_day"]),
        tz=ZoneInfo(p["timezone"]),
    )
    if pop.run_tag != p["run_tag"]:
        raise TruthMismatch("the truth file's run tag does not match its parameters", field="truth")
    return pop, datetime.fromisoformat(truth["window"]["end"])


async def _require_empty(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    if tables:
        raise TruthMismatch(
            "the evaluation database must be empty (the replay writes a whole history into "
            "it); leave --database-url out for a scratch SQLite file",
            field="database_url",
        )


def _judged_days(pop: Population, stats: ReplayStats) -> list[date]:
    """Days the anomaly rule judged: from the first to the day before the last evaluation."""
    if not stats.days_done:
        return []
    last = date.fromisoformat(stats.days_done[-1]) - timedelta(days=1)
    first = pop.timeline.date(0)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def _run(
    truth: dict[str, Any],
    settings: Settings,
    step: timedelta,
    daily_hour: int,
    progress: Callable[[ReplayStats], None] | None,
) -> Evaluation:
    pop, end = rebuild(truth)
    await _require_empty(settings)
    limits = LimitCheck.from_truth(truth)
    engine = create_engine(settings)
    try:
        await upgrade_database(engine)
        sessions = open_sessions(engine, settings)
        stats = await replay(
            sessions,
            settings,
            pop,
            end,
            step=step,
            daily_hour=daily_hour,
            hooks=[limits],
            progress=progress,
        )
        async with sessions() as session:
            flags = await grading.load_flags(session)
    finally:
        await engine.dispose()
    first = pop.timeline.start(0)
    scores = [
        grading.score_limits(limits.raises, flags),
        grading.score_churn(truth, flags, end),
        grading.score_upgrades(truth, flags, first),
        grading.score_anomaly_alerts(pop, daily_counts(pop, end), flags, _judged_days(pop, stats)),
        grading.score_degradation(truth, flags, end),
    ]
    return Evaluation(scores, stats, dict(truth["parameters"]))


async def evaluate_truth(
    truth: dict[str, Any],
    *,
    settings: Settings,
    database_url: str | None = None,
    step: timedelta = timedelta(minutes=5),
    daily_hour: int = 12,
    progress: Callable[[ReplayStats], None] | None = None,
) -> Evaluation:
    """Replay the truth file's history into a scratch (or the given, empty) database; score it."""
    with tempfile.TemporaryDirectory(prefix="nexus-evaluate-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'evaluate.db'}"
        scratch = settings.model_copy(update={"database_url": normalize_database_url(url)})
        return await _run(truth, scratch, step, daily_hour, progress)
