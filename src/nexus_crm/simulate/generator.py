"""Usage events and subscription updates of a population, day by day, reproducibly.

A customer-day's events depend only on (run tag, customer, day), never on when the
history ends: ids are assigned before events after ``end`` are cut off, so a longer run
repeats a shorter one's events exactly (and the server reports them as duplicates).
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from nexus_crm.simulate.personas import Customer
from nexus_crm.simulate.population import Population
from nexus_crm.simulate.profiles import (
    AGENTS,
    HOURLY_CUMULATIVE,
    MAX_RESPONSE_MS,
    RESPONSE_SIGMA,
    TOKEN_SIGMA,
    WEEKDAY,
)

Event = dict[str, Any]
NOISE_SD, NOISE_MAX = 0.08, 0.2  # day and agent noise: N(1, 0.08) clipped to ±20 %


@dataclass(frozen=True)
class SubscriptionUpdate:
    """A ``POST /agent-usage/subscriptions`` body, at its own time."""

    user_id: str
    tier: str
    status: str
    email: str
    name: str
    timestamp: datetime

    def payload(self) -> dict[str, str]:
        """The JSON body."""
        return {
            "user_id": self.user_id,
            "tier": self.tier,
            "status": self.status,
            "email": self.email,
            "name": self.name,
            "timestamp": self.timestamp.isoformat(),
        }


@dataclass(frozen=True)
class Day:
    """One simulated day: subscription updates due before its events, then the events."""

    index: int
    date: date
    subscriptions: list[SubscriptionUpdate]
    events: list[Event]


def subscription_updates(c: Customer) -> list[SubscriptionUpdate]:
    """The customer's subscription history: sign-up, then an upgrade or a cancellation."""
    updates = [(c.subscribed_at, c.tier, "active")]
    if c.upgrade_at is not None and c.upgrade_tier is not None:
        updates.append((c.upgrade_at, c.upgrade_tier, "active"))
    if c.cancel_at is not None:
        updates.append((c.cancel_at, c.tier_at(c.cancel_at), "cancelled"))
    return [
        SubscriptionUpdate(c.user_id, tier, status, c.email, c.name, at)
        for at, tier, status in updates
    ]


def noise(rng: random.Random, *, upward: bool = False) -> float:
    """A multiplicative day-to-day wobble, bounded so that no ordinary day looks like a spike
    (``upward``: only ≥ 1, for spike days)."""
    wobble = max(-NOISE_MAX, min(NOISE_MAX, rng.gauss(0, NOISE_SD)))
    return 1 + (abs(wobble) if upward else wobble)


def draw_count(rng: random.Random, expected: float) -> int:
    """An integer with mean ``expected`` (stochastic rounding: never far from it)."""
    whole = math.floor(expected)
    return whole + (rng.random() < expected - whole)


def local_hours(rng: random.Random) -> float:
    """A time of day (0-24) following the hourly profile."""
    hour = bisect(HOURLY_CUMULATIVE, rng.random() * HOURLY_CUMULATIVE[-1])
    return min(hour, 23) + rng.random()


def tokens(rng: random.Random, mean: float) -> int:
    """Tokens of one interaction: lognormal with mean ``mean``."""
    return max(1, round(mean * rng.lognormvariate(-(TOKEN_SIGMA**2) / 2, TOKEN_SIGMA)))


def response_ms(rng: random.Random, agent_id: str, factor: float) -> int:
    """Response time: the agent's lognormal around its median, × a degradation factor."""
    value = AGENTS[agent_id][1] * rng.lognormvariate(0, RESPONSE_SIGMA) * factor
    return max(50, min(MAX_RESPONSE_MS, round(value)))


def _draws(
    pop: Population, c: Customer, day: int, expected: float, spike: bool
) -> list[tuple[Any, ...]]:
    """(instant, agent, tokens, response ms, session) of the day's events, in time order.

    On a spike day the noise only adds, so the day is at least its factor × a normal day.
    """
    rng = random.Random(f"{pop.run_tag}/{c.index}/{day}")
    start = pop.timeline.start(day)
    span_ms = (pop.timeline.start(day + 1) - start) // timedelta(milliseconds=1)
    day_noise, out = noise(rng, upward=spike), []
    for agent, share in c.agents:
        for _ in range(draw_count(rng, expected * share * day_noise * noise(rng, upward=spike))):
            hours = local_hours(rng)
            at = start + timedelta(milliseconds=int(span_ms * hours / 24))
            rt = response_ms(rng, agent, pop.response_factor(agent, at))
            out.append((at, agent, tokens(rng, c.mean_tokens), rt, int(hours) // 4))
    out.sort(key=lambda d: (d[0], d[1]))
    return out


def expected_volume(c: Customer, day: int, on: date) -> float:
    """Expected interactions on ``day``; a spike is its factor × the busiest weekday's."""
    factor = c.anomaly_factor(day)
    if factor > 1:
        return c.level(day) * max(WEEKDAY) * factor
    return c.level(day) * WEEKDAY[on.weekday()]


def customer_day(pop: Population, c: Customer, day: int, end: datetime) -> list[Event]:
    """The customer's events on day index ``day`` that happen before ``end``."""
    on = pop.timeline.date(day)
    expected = expected_volume(c, day, on)
    if expected <= 0:
        return []
    prefix, events = f"sim-{pop.run_tag}-{c.index:05d}-{on:%Y%m%d}", []
    draws = _draws(pop, c, day, expected, spike=c.anomaly_factor(day) > 1)
    for k, (at, agent, toks, rt, block) in enumerate(draws):
        if at >= end or not c.uses_at(at):
            continue
        events.append(
            {
                "event_id": f"{prefix}-{k:04d}",
                "user_id": c.user_id,
                "agent_id": agent,
                "session_id": f"s-{c.user_id}-{on:%Y%m%d}-{block}",
                "tokens_used": toks,
                "response_time_ms": rt,
                "subscription_tier": c.tier_at(at),
                "timestamp": at.isoformat(timespec="milliseconds"),
            }
        )
    return events


def history(pop: Population, end: datetime) -> Iterator[Day]:
    """Every day from the first to the one holding ``end`` (exclusive), in order."""
    updates = sorted(
        (u for c in pop.customers for u in subscription_updates(c) if u.timestamp < end),
        key=lambda u: (u.timestamp, u.user_id),
    )
    for day in range(pop.timeline.last_index(end) + 1):
        next_start = pop.timeline.start(day + 1)
        due = [u for u in updates if u.timestamp < next_start]
        updates = updates[len(due) :]
        events = [e for c in pop.customers for e in customer_day(pop, c, day, end)]
        yield Day(day, pop.timeline.date(day), due, events)
