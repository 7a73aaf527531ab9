"""Scoring detectors against a population's ground truth (docs/simulator.md, "Using the truth").

In process, without a server: a population's history is aggregated into the daily
customer × agent counts the server would hold in ``agent_usage_daily``, and a detector's
findings are compared with the planted anomaly days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from nexus_crm.simulate.generator import history
from nexus_crm.simulate.population import Population

# (user_id, agent_id) → {day: interactions}
DailyCounts = dict[tuple[str | None, str], dict[date, int]]


def daily_counts(pop: Population, end: datetime) -> DailyCounts:
    """Interactions per customer × agent × local day of the history before ``end``."""
    counts: DailyCounts = defaultdict(lambda: defaultdict(int))
    for day in history(pop, end):
        for e in day.events:
            counts[(e["user_id"], e["agent_id"])][day.date] += 1
    return {k: dict(v) for k, v in counts.items()}


def first_uses(counts: DailyCounts) -> dict[tuple[str | None, str], date]:
    """Each series' first day with use."""
    return {k: min(v) for k, v in counts.items() if v}


@dataclass
class AnomalyScore:
    """Customer-level spike detection against the planted days, and drops on the side."""

    planted: int = 0
    found: int = 0
    false_spikes: int = 0
    drops: int = 0
    customer_days: int = 0
    false_by_persona: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    drops_by_persona: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def recall(self) -> float:
        """Planted spike days flagged ÷ planted spike days."""
        return self.found / self.planted if self.planted else 1.0

    @property
    def false_per_100(self) -> float:
        """Spike customer-days flagged that were not planted, per 100 customer-days."""
        return 100 * self.false_spikes / self.customer_days

    @property
    def drops_per_100(self) -> float:
        """Customer-days with a flagged drop, per 100 customer-days."""
        return 100 * self.drops / self.customer_days


def score_anomalies(
    pop: Population,
    counts: DailyCounts,
    flagged: Iterable[tuple[str | None, date, str]],
    days: Iterable[date],
) -> AnomalyScore:
    """Score (user_id, day, direction) flags over ``days`` (a customer-day counts once)."""
    window = set(days)
    spikes = {(u, d) for u, d, direction in flagged if direction == "spike" and d in window}
    drops = {(u, d) for u, d, direction in flagged if direction == "drop" and d in window}
    score = AnomalyScore()
    firsts: dict[str, date] = {}
    for (user, _), series in counts.items():
        if user is not None and series:
            firsts[user] = min(firsts.get(user, min(series)), min(series))
    for c in pop.customers:
        start = pop.timeline.date(0) if not c.never_started else firsts.get(c.user_id)
        if start is None:
            continue
        own = {d for d in window if d >= start}
        planted = {pop.timeline.date(i) for i, _ in c.anomalies} & own
        hits = {d for u, d in spikes if u == c.user_id}
        score.customer_days += len(own)
        score.planted += len(planted)
        score.found += len(planted & hits)
        score.false_spikes += len(hits - planted)
        score.false_by_persona[c.persona] += len(hits - planted)
        dropped = {d for u, d in drops if u == c.user_id}
        score.drops += len(dropped)
        score.drops_by_persona[c.persona] += len(dropped)
    return score
