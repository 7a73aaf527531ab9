"""How each persona's customer is drawn: tier, volume and the dates that define it.

Dates are day indices of a population designed for ``days`` days: the first ``baseline``
days are ordinary for everyone (detectors need a baseline), and every persona event
(upgrade, cancellation, stop, spike) falls no later than day ``days - 2``, the last full day.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from nexus_crm.simulate.personas import (
    WORTHY_AT,
    Customer,
    Growth,
    Persona,
    agent_mix,
    steady_base,
)
from nexus_crm.simulate.profiles import TIER_MIX, daily_capacity, next_tier
from nexus_crm.simulate.timeline import Timeline

SPIKY_MIN_DAILY = 5.0  # enough volume for a spike to stand out on every agent
FIRST_NAMES = (
    "Ana",
    "Luis",
    "María",
    "Carlos",
    "Lucía",
    "Jorge",
    "Sofía",
    "Diego",
    "Valeria",
    "Andrés",
    "Camila",
    "Mateo",
    "Elena",
    "Pablo",
    "Isabel",
    "Javier",
)
LAST_NAMES = (
    "García",
    "Martínez",
    "López",
    "Hernández",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
)


@dataclass(frozen=True)
class Plan:
    """The population's design length and calendar."""

    days: int
    timeline: Timeline

    @property
    def baseline(self) -> int:
        """Leading days with no persona event (a week, or a third of a short history)."""
        return min(7, self.days // 3)

    @property
    def last_full(self) -> int:
        """The last day index on which persona events may fall."""
        return self.days - 2

    def at(self, day: int, rng: random.Random, lo: float, hi: float) -> datetime:
        """A whole-second instant on ``day`` between local hours ``lo`` and ``hi``."""
        return self.timeline.at(day, rng.uniform(lo, hi)).replace(microsecond=0)


def _pick(rng: random.Random, mix: Mapping[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def common(index: int, user_id: str, rng: random.Random, plan: Plan, tier: str) -> dict[str, Any]:
    """Fields every persona has; subscribed 1-24 months before the first day."""
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    subscribed = plan.at(-rng.randint(30, 720), rng, 8, 22)
    return {
        "index": index,
        "user_id": user_id,
        "name": name,
        "tier": tier,
        "mean_tokens": round(rng.uniform(140, 240), 1),
        "agents": agent_mix(rng),
        "subscribed_at": subscribed,
    }


def _base(c: dict[str, Any], rng: random.Random, lo: float, hi: float) -> float:
    return round(steady_base(rng, c["tier"], c["mean_tokens"], rng.uniform(lo, hi)), 3)


def steady(c: dict[str, Any], rng: random.Random, plan: Plan, _: str) -> Customer:
    """Flat use at 10-45 % of the limit (or less, for big tiers)."""
    return Customer(persona="steady", base_daily=_base(c, rng, 0.10, 0.45), **c)


def spiky(c: dict[str, Any], rng: random.Random, plan: Plan, _: str) -> Customer:
    """Flat, lighter use (≥ 5 a day) with a spike day (×4-8) per 20 days, ≥ 4 days apart."""
    n = max(1, plan.days // 20)
    candidates = range(plan.baseline, plan.last_full + 1)
    days = sorted(rng.sample(candidates, n))
    while any(b - a < 4 for a, b in pairwise(days)):
        days = sorted(rng.sample(candidates, n))
    spikes = tuple((d, round(rng.uniform(4.0, 8.0), 1)) for d in days)
    base = max(SPIKY_MIN_DAILY, _base(c, rng, 0.08, 0.25))
    return Customer(persona="spiky", base_daily=base, anomalies=spikes, **c)


def churn(c: dict[str, Any], rng: random.Random, plan: Plan, _: str) -> Customer:
    """Steady, then a linear decline over 2-4 weeks to 15 %, then cancelled on ``cancel_day``."""
    b = plan.baseline
    cancel = rng.randint(max(b + 5, plan.days // 2), plan.last_full)
    length = rng.randint(min(14, cancel - b), min(28, cancel - b))
    return Customer(
        persona="churn",
        base_daily=_base(c, rng, 0.10, 0.45),
        decline_day=cancel - length,
        cancel_day=cancel,
        stop_day=cancel + 1,
        cancel_at=plan.at(cancel, rng, 10, 20),
        **c,
    )


def dormant(c: dict[str, Any], rng: random.Random, plan: Plan, variant: str) -> Customer:
    """Stops abruptly without cancelling, or signs up, barely tries it and never returns."""
    if variant == "stopped":
        stop = rng.randint(plan.baseline + 3, plan.days - 4)
        return Customer(persona="dormant", base_daily=_base(c, rng, 0.10, 0.45), stop_day=stop, **c)
    first = rng.randint(0, min(5, plan.days // 4))
    c = {**c, "subscribed_at": plan.at(first, rng, 8, 14)}
    return Customer(
        persona="dormant",
        base_daily=round(rng.uniform(2, 5), 3),
        first_day=first,
        stop_day=first + 1 + rng.randint(0, 2),
        never_started=True,
        **c,
    )


def upgrade_worthy(c: dict[str, Any], rng: random.Random, plan: Plan, variant: str) -> Customer:
    """Grows from 35-50 % to 110-140 % of the limit; "accepts" an upgrade after a week ≥ 90 %
    and 3 days at the peak (in histories long enough for both)."""
    growth = Growth(
        g0=rng.randint(0, plan.baseline // 2),
        g1=rng.randint(round(plan.days * 0.55), round(plan.days * 0.7)),
        f0=round(rng.uniform(0.35, 0.50), 3),
        f1=round(rng.uniform(1.1, 1.4), 3),
    )
    worthy = growth.first_day_at(WORTHY_AT)
    base = round(growth.f0 * daily_capacity(c["tier"], c["mean_tokens"]), 3)
    upgrade: dict[str, Any] = {}
    if variant == "accepts":
        earliest = min(plan.last_full, max(worthy + 7, growth.g1 + 3))
        day = rng.randint(earliest, plan.last_full)
        upgrade = {"upgrade_at": plan.at(day, rng, 9, 18), "upgrade_tier": next_tier(c["tier"])}
    return Customer(
        persona="upgrade_worthy",
        base_daily=base,
        growth=growth,
        worthy_day=worthy,
        **upgrade,
        **c,
    )


BUILDERS = MappingProxyType(
    {
        "steady": steady,
        "spiky": spiky,
        "churn": churn,
        "dormant": dormant,
        "upgrade_worthy": upgrade_worthy,
    }
)


def build_customer(
    index: int,
    user_id: str,
    persona: Persona,
    variant: str,
    tier: str | None,
    rng: random.Random,
    plan: Plan,
) -> Customer:
    """Draw customer ``index`` of ``persona`` (``variant``: accepts/declines, stopped/…)."""
    c = common(index, user_id, rng, plan, tier or _pick(rng, TIER_MIX))
    return BUILDERS[persona](c, rng, plan, variant)


def degradation_start(rng: random.Random, plan: Plan, lo_day: int, hi_day: int) -> datetime:
    """A working-hours onset (09-16 local) between two day indices."""
    return plan.at(rng.randint(lo_day, max(lo_day, hi_day)), rng, 9, 16)


def hours(rng: random.Random, lo: float, hi: float) -> timedelta:
    """A whole-minute duration between ``lo`` and ``hi`` hours."""
    return timedelta(minutes=round(rng.uniform(lo, hi) * 60))
