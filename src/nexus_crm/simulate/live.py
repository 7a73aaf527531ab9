"""Live mode: the same personas, "now", at about R events per second through a GENESIS client.

Who sends is drawn in proportion to each customer's expected volume today (churned and
dormant customers send nothing, spike days weigh more, upgraded customers carry their new
tier); response times follow the agents' degradations at the current moment.
"""

from __future__ import annotations

import asyncio
import random
import time
from bisect import bisect
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from genesis_crm import GenesisCRM
from nexus_crm.simulate.generator import (
    expected_volume,
    response_ms,
    subscription_updates,
    tokens,
)
from nexus_crm.simulate.personas import Customer
from nexus_crm.simulate.population import Population

REPORT_EVERY_S = 10.0


def weights(pop: Population, now: datetime) -> list[float]:
    """Each customer's expected volume today, as the backfill has it (0 when not using now)."""
    day = pop.timeline.index(now)
    on = pop.timeline.date(day)
    return [expected_volume(c, day, on) if c.uses_at(now) else 0.0 for c in pop.customers]


def natural_rate(pop: Population, now: datetime) -> float:
    """Events per second the personas make on their own today (the backfill's pace)."""
    return sum(weights(pop, now)) / 86_400


class LiveTraffic:
    """Draws single events at a given instant from the population's current state."""

    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop, self.rng = pop, rng
        self._day: int | None = None
        self._cumulative: list[float] = []

    def _customer(self, now: datetime) -> Customer | None:
        day = self.pop.timeline.index(now)
        if day != self._day or self.rng.random() < 0.01:  # refresh: day change, cancellations
            self._day, self._cumulative = day, list(accumulate(weights(self.pop, now)))
        if not self._cumulative or self._cumulative[-1] <= 0:
            return None
        i = bisect(self._cumulative, self.rng.random() * self._cumulative[-1])
        return self.pop.customers[min(i, len(self._cumulative) - 1)]

    def event(self, now: datetime) -> dict[str, Any] | None:
        """Keyword arguments of ``track_agent_usage`` for one interaction at ``now``."""
        c = self._customer(now)
        if c is None or not c.uses_at(now):
            return None
        agents, shares = zip(*c.agents, strict=True)
        agent = self.rng.choices(agents, weights=shares)[0]
        local = now.astimezone(self.pop.timeline.tz)
        return {
            "user_id": c.user_id,
            "agent_id": agent,
            "session_id": f"live-{c.user_id}-{local:%Y%m%d}-{local.hour // 4}",
            "tokens_used": tokens(self.rng, c.mean_tokens),
            "response_time_ms": response_ms(self.rng, agent, self.pop.response_factor(agent, now)),
            "subscription_tier": c.tier_at(now),
            "timestamp": now,
        }


async def replay_subscriptions(client: GenesisCRM, pop: Population, now: datetime) -> int:
    """Send every subscription update up to ``now`` (the server ignores ones it has)."""
    updates = sorted(
        (u for c in pop.customers for u in subscription_updates(c) if u.timestamp <= now),
        key=lambda u: u.timestamp,
    )
    for u in updates:
        await client.track_subscription(**asdict(u))  # its fields are the call's keywords
    return len(updates)


@dataclass
class LiveReport:
    """Events handed to the client so far."""

    events: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for people."""
        rate = self.events / self.seconds if self.seconds else 0.0
        return f"live: {self.events:,} events in {self.seconds:.0f} s ({rate:.1f}/s)"


async def stream(
    pop: Population,
    client: GenesisCRM,
    *,
    rate: float,
    duration: float | None = None,
    say: Callable[[str], None] = print,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    report: LiveReport | None = None,
) -> LiveReport:
    """Hand about ``rate`` events a second to ``client`` (Poisson arrivals) until ``duration``."""
    traffic = LiveTraffic(pop, rng or random.Random(f"{pop.run_tag}/live/{time.time_ns()}"))
    report, started = report or LiveReport(), time.monotonic()
    due, last_said = started, started
    while duration is None or time.monotonic() - started < duration:
        due += traffic.rng.expovariate(rate)
        await sleep(max(0.0, due - time.monotonic()))
        event = traffic.event(datetime.now(UTC))
        if event is not None:
            await client.track_agent_usage(**event)
            report.events += 1
        report.seconds = time.monotonic() - started
        if time.monotonic() - last_said >= REPORT_EVERY_S:
            say(report.summary())
            last_said = time.monotonic()
    return report
