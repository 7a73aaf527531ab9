"""A deterministic population: customers with personas and per-agent degradation windows.

Everything is a pure function of (seed, customers, days, first day, time zone): the same
inputs give the same customers, dates and ``run_tag`` (which names the events' ids).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from nexus_crm.simulate.builders import Plan, build_customer, degradation_start, hours
from nexus_crm.simulate.personas import PERSONAS, Customer, Persona
from nexus_crm.simulate.timeline import Timeline

MIN_DAYS = 14
# Bumped whenever the same parameters would generate different events: it is part of the
# run tag, so events of an older generator never pass for duplicates of newer ones.
GENERATOR_VERSION = 1
PERSONA_SHARES: Mapping[Persona, float] = MappingProxyType(
    {
        "steady": 0.45,
        "upgrade_worthy": 0.10,
        "churn": 0.15,
        "dormant": 0.15,
        "spiky": 0.15,
    }
)
# Share of each persona's second variant: upgrades declined, dormant that never started.
VARIANTS: Mapping[Persona, tuple[str, str, float]] = MappingProxyType(
    {
        "upgrade_worthy": ("accepts", "declines", 0.5),
        "dormant": ("stopped", "never_started", 0.4),
    }
)
DEGRADATION_FACTOR = 3.0
# Upgrade-worthy customers start on essential, or (this share) on pro: a pro customer at its
# limit makes 170-230 interactions a day, which dominates the volume of a backfill.
UPGRADE_PRO_SHARE = 0.1


@dataclass(frozen=True)
class Label:
    """What a customer is drawn as: persona, its variant, and a fixed tier (or None)."""

    persona: Persona
    variant: str
    tier: str | None


@dataclass(frozen=True)
class Degradation:
    """Response times of ``agent_id`` × ``factor`` for everyone during [start, end)."""

    agent_id: str
    start: datetime
    end: datetime | None  # None: still degraded
    factor: float

    def covers(self, instant: datetime) -> bool:
        """Whether ``instant`` lies in the window."""
        return self.start <= instant and (self.end is None or instant < self.end)


@dataclass(frozen=True)
class Population:
    """The simulated customers and agents' degradations."""

    seed: int
    size: int
    days: int
    timeline: Timeline
    run_tag: str
    customers: tuple[Customer, ...]
    degradations: tuple[Degradation, ...]

    def response_factor(self, agent_id: str, instant: datetime) -> float:
        """The degradation multiplier of ``agent_id``'s response times at ``instant``."""
        for d in self.degradations:
            if d.agent_id == agent_id and d.covers(instant):
                return d.factor
        return 1.0


def run_tag(seed: int, size: int, days: int, first_day: date, tz: ZoneInfo) -> str:
    """A short name of one population, used in its events' ids."""
    ident = f"v{GENERATOR_VERSION}|{seed}|{size}|{days}|{first_day.isoformat()}|{tz.key}"
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


def _counts(size: int) -> dict[Persona, int]:
    """Exact persona counts for ``size`` customers (largest remainder)."""
    raw = {p: PERSONA_SHARES[p] * size for p in PERSONAS}
    counts = {p: int(v) for p, v in raw.items()}
    for p in sorted(PERSONAS, key=lambda p: raw[p] - counts[p], reverse=True):
        if sum(counts.values()) == size:
            break
        counts[p] += 1
    return counts


def _upgrade_tiers(n: int, rng: random.Random) -> list[str | None]:
    """Exact tier shares of the upgrade-worthy (mostly essential), in random order."""
    n_pro = round(n * UPGRADE_PRO_SHARE)
    tiers: list[str | None] = [*(["pro"] * n_pro), *(["essential"] * (n - n_pro))]
    rng.shuffle(tiers)
    return tiers


def persona_labels(size: int, rng: random.Random) -> list[Label]:
    """``size`` labels in exact persona, variant and upgrade-tier proportions, shuffled."""
    labels: list[Label] = []
    for persona, n in _counts(size).items():
        first, second, share = VARIANTS.get(persona, ("", "", 0.0))
        n_second = round(n * share)
        variants = [first] * (n - n_second) + [second] * n_second
        tiers: list[str | None] = [None] * n
        if persona == "upgrade_worthy":
            tiers = _upgrade_tiers(n, rng)
        labels += [Label(persona, v, t) for v, t in zip(variants, tiers, strict=True)]
    rng.shuffle(labels)
    return labels


def plan_degradations(rng: random.Random, plan: Plan) -> tuple[Degradation, ...]:
    """One ended window (4-36 h) in the first half; one ongoing from the last quarter."""
    first = rng.choice(["NEXUS", "BLAZE", "SAGE"])
    start = degradation_start(rng, plan, plan.baseline, plan.days // 2)
    ended = Degradation(first, start, start + hours(rng, 4, 36), DEGRADATION_FACTOR)
    second = rng.choice([a for a in ("NEXUS", "BLAZE", "SAGE", "WAVE") if a != first])
    late = max(plan.baseline, round(plan.days * 0.75))
    onset = degradation_start(rng, plan, late, plan.last_full)
    return ended, Degradation(second, onset, None, DEGRADATION_FACTOR)


def build_population(
    *, seed: int, size: int, days: int, first_day: date, tz: ZoneInfo
) -> Population:
    """The population of ``size`` customers designed for ``days`` days from ``first_day``."""
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} (personas need two weeks)")
    if size < 1:
        raise ValueError("customers must be at least 1")
    tag = run_tag(seed, size, days, first_day, tz)
    plan = Plan(days=days, timeline=Timeline(first_day, tz))
    rng = random.Random(f"nexus-crm-simulator/{tag}")
    labels = persona_labels(size, rng)
    customers = tuple(
        build_customer(
            i,
            f"cliente_{seed}_{i + 1:04d}",
            label.persona,
            label.variant,
            label.tier,
            random.Random(f"{tag}/customer/{i}"),
            plan,
        )
        for i, label in enumerate(labels)
    )
    return Population(
        seed=seed,
        size=size,
        days=days,
        timeline=plan.timeline,
        run_tag=tag,
        customers=customers,
        degradations=plan_degradations(rng, plan),
    )
