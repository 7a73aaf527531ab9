"""The GENESIS history of import_events.py, anchored so that it ends at a given instant.

import_events.py writes a 90-day history that starts on a fixed day (2026-07-02): right for
an import benchmark, useless for the read path, whose windows ("the last 7 days") end
today. This module reuses import_events.py's customers and events (same tiers, agents,
seasonality, uuid7 ids; one customer per 300 events) over the 90 days that end at ``end``:
the last day only has the hours before ``end`` (its share of the day's traffic), so no
event lies in the future and "today" looks like a normal morning. Each day draws from its
own seeded generator, so days can be written by several processes and the file is the same
for the same (total, seed, end).
"""

from __future__ import annotations

import json
import math
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from import_events import DAYS, HOURS, event, personas

SEED = 20260702


@dataclass(frozen=True)
class Window:
    """The days of a history ending at ``end``, and the events of each day."""

    total: int
    end: datetime
    seed: int = SEED

    @property
    def first_day(self) -> date:
        """The first day (day 0)."""
        return self.end.date() - timedelta(DAYS - 1)

    def hours(self, day: int) -> list[int]:
        """Hour-of-day weights of ``day``: the last day stops at ``end``'s hour."""
        return HOURS if day < DAYS - 1 else [*HOURS[: self.end.hour], *[0] * (24 - self.end.hour)]

    def counts(self) -> list[int]:
        """Events per day: quiet weekends, 40 % growth, a partial last day; Σ = total."""
        shape = [
            (0.7 if (self.first_day + timedelta(d)).weekday() >= 5 else 1.0)
            * (1 + 0.4 * d / DAYS)
            * (sum(self.hours(d)) / sum(HOURS))
            for d in range(DAYS)
        ]
        counts = [math.floor(self.total * s / sum(shape)) for s in shape]
        busiest = max(range(DAYS), key=lambda d: shape[d])
        counts[busiest] += self.total - sum(counts)
        return counts


def write_days(window: Window, days: range, path: Path) -> int:
    """Write the events of ``days`` (in time order) to ``path``; return how many."""
    people = personas(max(50, window.total // 300), random.Random(window.seed))
    counts, written = window.counts(), 0
    with path.open("w") as out:
        for day in days:
            rng = random.Random(f"{window.seed}/{day}")
            active = [p for p in people if p.joined <= day < p.left]
            if not counts[day] or not active:
                continue
            chosen = rng.choices(active, weights=[p.weight for p in active], k=counts[day])
            start = datetime.combine(window.first_day + timedelta(day), datetime.min.time(), UTC)
            hours = rng.choices(range(24), weights=window.hours(day), k=counts[day])
            seconds = sorted(h * 3600 + rng.random() * 3600 for h in hours)
            for p, s in zip(chosen, seconds, strict=True):
                out.write(json.dumps(event(p, day, start + timedelta(seconds=s), rng)) + "\n")
            written += counts[day]
    return written


def split(counts: list[int], parts: int) -> list[range]:
    """Contiguous day ranges with about the same number of events each."""
    ranges, start, acc, goal = [], 0, 0, sum(counts) / parts
    for day, n in enumerate(counts):
        acc += n
        if acc >= goal * (len(ranges) + 1) and len(ranges) < parts - 1:
            ranges.append(range(start, day + 1))
            start = day + 1
    ranges.append(range(start, len(counts)))
    return [r for r in ranges if len(r)]


def generate(path: Path, window: Window, workers: int = 2) -> int:
    """Write the whole history as JSONL (``workers`` processes, one part each, then joined)."""
    ranges = split(window.counts(), workers)
    parts = [path.with_name(f"{path.name}.part{i}") for i in range(len(ranges))]
    with ProcessPoolExecutor(len(ranges)) as pool:
        written = sum(pool.map(write_days, [window] * len(ranges), ranges, parts))
    with path.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
            part.unlink()
    return written
