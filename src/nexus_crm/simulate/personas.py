"""Simulated customers: who they are, their persona's timeline, and their daily volume.

A customer's expected volume on day ``d`` is ``base_daily × trend(d)`` interactions
(weekly-average; the generator applies weekday, noise and anomaly factors). Every date
that defines a persona is fixed here, at creation, so the truth file can state it exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from nexus_crm.simulate.profiles import AGENTS, DAILY_RANGE, daily_capacity

Persona = Literal["steady", "upgrade_worthy", "churn", "dormant", "spiky"]
PERSONAS: tuple[Persona, ...] = ("steady", "upgrade_worthy", "churn", "dormant", "spiky")
DECLINE_FLOOR = 0.15  # a churner's volume on its cancellation day, relative to its base
WORTHY_AT = 0.9  # upgrade-worthy from the day the expected rate reaches 90 % of the limit
MIN_DAILY = 3.0  # an active customer's least expected interactions per day


@dataclass(frozen=True)
class Growth:
    """Usage fraction of the tier's limit: ``f0`` until day ``g0``, then growing by the same
    factor every day (no day looks like a jump) to ``f1`` at day ``g1``, flat after."""

    g0: int
    g1: int
    f0: float
    f1: float

    def fraction(self, day: int) -> float:
        """Expected monthly-equivalent share of the limit on ``day``."""
        if day <= self.g0:
            return self.f0
        if day >= self.g1:
            return self.f1
        return float(self.f0 * (self.f1 / self.f0) ** ((day - self.g0) / (self.g1 - self.g0)))

    def first_day_at(self, fraction: float) -> int:
        """The first day whose expected fraction is at least ``fraction``."""
        share = math.log(fraction / self.f0) / math.log(self.f1 / self.f0)
        day = self.g0 + max(0, math.ceil(share * (self.g1 - self.g0) - 1e-9))
        return day if self.fraction(day) >= fraction else day + 1


@dataclass(frozen=True)
class Customer:
    """One simulated NGX customer and the fixed facts of its persona."""

    index: int
    user_id: str
    name: str
    persona: Persona
    tier: str  # initial tier
    base_daily: float  # expected interactions per (weekly-average) day at the start
    mean_tokens: float
    agents: tuple[tuple[str, float], ...]  # (agent, share of the customer's interactions)
    subscribed_at: datetime
    first_day: int = 0  # first day index with usage
    stop_day: int | None = None  # from this day index on: no usage, ever
    growth: Growth | None = None
    worthy_day: int | None = None
    upgrade_at: datetime | None = None
    upgrade_tier: str | None = None
    decline_day: int | None = None
    cancel_day: int | None = None
    cancel_at: datetime | None = None
    anomalies: tuple[tuple[int, float], ...] = ()  # (day index, volume factor)
    never_started: bool = False

    @property
    def email(self) -> str:
        """A deliverable-looking address for the subscription payloads."""
        return f"{self.user_id}@example.com"

    def trend(self, day: int) -> float:
        """The persona's multiplier of ``base_daily`` on ``day`` (before noise)."""
        if self.growth is not None:
            return self.growth.fraction(day) / self.growth.f0
        if self.decline_day is not None and self.cancel_day is not None and day >= self.decline_day:
            span = self.cancel_day - self.decline_day + 1
            return 1 - (1 - DECLINE_FLOOR) * min(1.0, (day - self.decline_day + 1) / span)
        return 1.0

    def level(self, day: int) -> float:
        """Expected interactions on ``day`` for an average weekday, 0 when not using."""
        if day < self.first_day or (self.stop_day is not None and day >= self.stop_day):
            return 0.0
        return self.base_daily * self.trend(day)

    def anomaly_factor(self, day: int) -> float:
        """The planted spike factor of ``day`` (1 on ordinary days)."""
        return next((f for d, f in self.anomalies if d == day), 1.0)

    def tier_at(self, instant: datetime) -> str:
        """The tier the customer's events carry at ``instant``."""
        if self.upgrade_at is not None and self.upgrade_tier and instant >= self.upgrade_at:
            return self.upgrade_tier
        return self.tier

    def uses_at(self, instant: datetime) -> bool:
        """Whether an interaction at ``instant`` is possible (subscribed, not cancelled)."""
        if instant < self.subscribed_at:
            return False
        return self.cancel_at is None or instant < self.cancel_at


def agent_mix(rng: random.Random) -> tuple[tuple[str, float], ...]:
    """3-6 agents (always NEXUS), weighted by popularity with a personal twist."""
    others = [a for a in AGENTS if a != "NEXUS"]
    k = rng.randint(2, 5)
    chosen = ["NEXUS"]
    while len(chosen) < k + 1:
        pick = rng.choices(others, weights=[AGENTS[a][0] for a in others])[0]
        others.remove(pick)
        chosen.append(pick)
    weights = [AGENTS[a][0] * rng.uniform(0.5, 1.5) for a in chosen]
    total = sum(weights)
    return tuple((a, w / total) for a, w in zip(chosen, weights, strict=True))


def steady_base(rng: random.Random, tier: str, mean_tokens: float, fraction: float) -> float:
    """A non-growing customer's daily volume: ≤ ``fraction`` of its limit, human-sized."""
    lo, hi = DAILY_RANGE[tier]
    return max(MIN_DAILY, min(fraction * daily_capacity(tier, mean_tokens), rng.uniform(lo, hi)))
