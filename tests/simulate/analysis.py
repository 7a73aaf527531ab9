"""Measurements on a generated history, the way an evaluator would take them."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nexus_crm.simulate.generator import Day, history
from nexus_crm.simulate.population import Population
from nexus_crm.simulate.truth import Tally, build_truth
from nexus_crm.tiers.defaults import DEFAULT_TIERS

LIMITS = {t["tier"]: (t["monthly_interactions"], t["monthly_tokens"]) for t in DEFAULT_TIERS}


def ts(value: str) -> datetime:
    """An event's or the truth's ISO timestamp as an aware datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass
class Sample:
    """A generated history with its truth, indexed for the checks."""

    pop: Population
    end: datetime
    days: list[Day]
    truth: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    by_user: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def generate(cls, pop: Population, end: datetime) -> Sample:
        """Generate ``pop``'s history up to ``end`` and its truth."""
        days, tally = list(history(pop, end)), Tally()
        for day in days:
            tally.observe(day)
        sample = cls(pop, end, days, build_truth(pop, end, tally))
        sample.events = [e for d in days for e in d.events]
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in sample.events:
            grouped[e["user_id"]].append(e)
        sample.by_user = dict(grouped)
        return sample

    @property
    def customers(self) -> list[dict[str, Any]]:
        """The truth's customer entries."""
        return list(self.truth["customers"])

    def full_days(self) -> list[date]:
        """The window's days that are wholly before its end."""
        last = self.pop.timeline.last_full_index(self.end)
        return [d.date for d in self.days if d.index <= last]

    def daily(self, user_id: str, what: str = "interactions") -> dict[date, int]:
        """Per full day: the customer's interactions (or ``tokens``), zeros included."""
        per: Counter[date] = Counter()
        for e in self.by_user.get(user_id, []):
            on = self.pop.timeline.date(self.pop.timeline.index(ts(e["timestamp"])))
            per[on] += 1 if what == "interactions" else e["tokens_used"]
        return {d: per[d] for d in self.full_days()}


def usage_share(interactions: float, tokens: float, tier: str) -> float:
    """max(interactions / limit, tokens / limit) for ``tier``'s monthly limits."""
    li, lt = LIMITS[tier]
    return max(interactions / li, tokens / lt)


def projected(sample: Sample, user_id: str, days: list[date], tier: str) -> float:
    """Usage over ``days`` extended to a 30-day month, as a share of ``tier``'s limit."""
    inter, toks = sample.daily(user_id), sample.daily(user_id, "tokens")
    n = len(days)
    return usage_share(
        sum(inter[d] for d in days) * 30 / n, sum(toks[d] for d in days) * 30 / n, tier
    )


def trailing(day: date, n: int) -> list[date]:
    """The ``n`` days ending with ``day``."""
    return [day - timedelta(days=k) for k in range(n - 1, -1, -1)]


def median_of(values: list[int]) -> float:
    """The median, 0 for nothing."""
    return statistics.median(values) if values else 0.0
