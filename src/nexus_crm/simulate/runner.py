"""Backfill: send a population's history through the signed batch endpoint, day by day."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nexus_crm.simulate.generator import Day, Event, SubscriptionUpdate, history
from nexus_crm.simulate.population import Population
from nexus_crm.simulate.sender import Pipeline, SignedPoster
from nexus_crm.simulate.truth import Tally

EVENTS_PATH = "/agent-usage/events"
SUBSCRIPTIONS_PATH = "/agent-usage/subscriptions"


@dataclass
class BackfillReport:
    """What a backfill sent and what the server answered."""

    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    subscriptions: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Events per second over the whole run."""
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """One line for people."""
        return (
            f"backfill: {self.events:,} events sent, {self.accepted:,} accepted, "
            f"{self.duplicates:,} duplicates, {self.subscriptions:,} subscription updates, "
            f"{self.seconds:.1f} s, {self.rate:,.0f} events/s"
        )


def progress_bar(enabled: bool) -> Progress:
    """Days done and events confirmed, on stderr."""
    return Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TextColumn("{task.fields[events]:,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def batches(events: list[Event], size: int) -> Iterator[list[Event]]:
    """``events`` in consecutive slices of at most ``size``."""
    for start in range(0, len(events), size):
        yield events[start : start + size]


@dataclass
class Backfill:
    """One backfill run: the poster, the pipeline and the running report."""

    poster: SignedPoster
    pipeline: Pipeline
    report: BackfillReport
    on_events: Callable[[int], None]

    async def send_events(self, events: list[Event]) -> None:
        """Post one batch and count what the server says about it."""
        answer: dict[str, Any] = await self.poster.post(EVENTS_PATH, {"events": events})
        self.report.events += len(events)
        self.report.accepted += int(answer["accepted"])
        self.report.duplicates += int(answer["duplicates"])
        self.on_events(len(events))

    async def send_subscriptions(self, updates: list[SubscriptionUpdate], limit: int) -> None:
        """Post updates in time order per customer, several customers at once."""
        by_user: dict[str, list[SubscriptionUpdate]] = defaultdict(list)
        for u in updates:
            by_user[u.user_id].append(u)
        slots = asyncio.Semaphore(limit)

        async def chain(items: list[SubscriptionUpdate]) -> None:
            """One customer's updates, one after the other."""
            async with slots:
                for u in items:
                    await self.poster.post(SUBSCRIPTIONS_PATH, u.payload())
                    self.report.subscriptions += 1

        await asyncio.gather(*(chain(items) for items in by_user.values()))

    async def send_day(self, day: Day, batch_size: int, limit: int) -> None:
        """A day's subscription updates (after what came before), then its event batches."""
        if day.subscriptions:
            await self.pipeline.drain()
            await self.send_subscriptions(day.subscriptions, limit)
        for batch in batches(day.events, batch_size):
            await self.pipeline.submit(partial(self.send_events, batch))

    async def send_history(
        self,
        days: Iterable[Day],
        tally: Tally,
        batch_size: int,
        limit: int,
        on_day: Callable[[], None],
    ) -> None:
        """Send every day in order; wait for the last answers; stop everything on a failure."""
        try:
            for day in days:
                tally.observe(day)
                await self.send_day(day, batch_size, limit)
                on_day()
            await self.pipeline.drain()
        finally:
            await self.pipeline.cancel()


async def backfill(
    pop: Population,
    end: datetime,
    *,
    base_url: str,
    secret: str,
    batch_size: int = 5000,
    concurrency: int = 3,
    show_progress: bool = True,
) -> tuple[BackfillReport, Tally]:
    """Send the history up to ``end``; return the report and the tally for the truth file."""
    started, tally, report = time.monotonic(), Tally(), BackfillReport()
    n_days = pop.timeline.last_index(end) + 1
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        with progress_bar(show_progress) as bar:
            task = bar.add_task("backfill", total=n_days, events=0)
            run = Backfill(
                SignedPoster(client, secret),
                Pipeline(concurrency),
                report,
                lambda n: bar.update(task, events=report.events),
            )
            await run.send_history(
                history(pop, end), tally, batch_size, concurrency, lambda: bar.advance(task)
            )
    report.seconds = time.monotonic() - started
    return report, tally
