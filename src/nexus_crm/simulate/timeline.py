"""The simulation's calendar: day indices counted from the first day, in one time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from nexus_crm.kit.time import as_utc, day_start, local_day

TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Timeline:
    """Day 0 is ``first_day``; days are calendar days of ``tz`` (the server's time zone)."""

    first_day: date
    tz: ZoneInfo

    def date(self, day: int) -> date:
        """The calendar date of day index ``day``."""
        return self.first_day + timedelta(days=day)

    def start(self, day: int) -> datetime:
        """The first instant (aware UTC) of day index ``day``."""
        return day_start(self.date(day), self.tz)

    def at(self, day: int, hours: float) -> datetime:
        """The instant ``hours`` (0-24, local wall clock) into day ``day``, DST-proof.

        On a 23- or 25-hour day the clock is stretched, so every instant stays on its day.
        """
        start, end = self.start(day), self.start(day + 1)
        return start + (end - start) * (hours / 24)

    def index(self, instant: datetime) -> int:
        """The day index that ``instant`` falls on."""
        return (local_day(instant, self.tz) - self.first_day).days

    def last_index(self, end: datetime) -> int:
        """The index of the last day with time before ``end`` (exclusive)."""
        return self.index(end - TICK)

    def last_full_index(self, end: datetime) -> int:
        """The index of the last day that ends at or before ``end``."""
        last = self.last_index(end)
        return last if self.start(last + 1) <= end else last - 1


def parse_end(value: str | None, tz: ZoneInfo, now: datetime) -> datetime:
    """``--end``: an ISO instant (naive = UTC), or a date meaning its end; default ``now``."""
    if value is None:
        return now
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        day = date.fromisoformat(value.strip())
        return min(now, day_start(day + timedelta(days=1), tz))  # today's date: up to now
    try:
        instant = as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise ValueError(f"--end {value!r} is not an ISO 8601 date or date-time") from None
    if instant > now:
        raise ValueError(f"--end {value} is in the future; a backfill stops at now")
    return instant


def first_day_for(start: str | None, end: datetime, days: int, tz: ZoneInfo) -> date:
    """``--start`` (YYYY-MM-DD), or the first of ``days`` days ending on ``end``'s day."""
    last = local_day(end - TICK, tz)
    if start is None:
        return last - timedelta(days=days - 1)
    try:
        first = date.fromisoformat(start.strip())
    except ValueError:
        raise ValueError(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
    if (last - first).days + 1 < days:
        raise ValueError(
            f"--start {first} to --end {last} is {(last - first).days + 1} days, "
            f"fewer than --days {days}"
        )
    return first
