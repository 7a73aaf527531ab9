"""Time helpers: aware UTC clocks, day buckets and billing periods in a time zone."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def clamped_utc(value: datetime) -> datetime:
    """``value`` in UTC; one beyond the calendar there (year 0 or 10000) becomes its edge.

    For range bounds: every stored time lies between the edges, so a filter keeps its meaning.
    """
    try:
        return as_utc(value)
    except OverflowError:
        edge = datetime.min if value.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def utc_hour(value: datetime) -> datetime:
    """Return the UTC start of the hour containing ``value``."""
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def local_day(value: datetime, tz: ZoneInfo) -> date:
    """Return the calendar day of ``value`` in time zone ``tz``."""
    return as_utc(value).astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """Return the first instant of ``day`` in ``tz``, as aware UTC."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def _anchored(year: int, month: int, anchor_day: int) -> date:
    """The anchor day in a month, clamped to the month's length (31 → 30 Apr, 28/29 Feb)."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor_day, last))


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def billing_period(today: date, anchor_day: int | None = None) -> tuple[date, date]:
    """Return ``[start, end)`` of the billing period containing ``today``.

    Without an anchor day the period is the calendar month; with one, it runs from the
    anchor day of a month to the anchor day of the next (clamped to short months).
    """
    anchor = anchor_day or 1
    start = _anchored(today.year, today.month, anchor)
    if start > today:
        year, month = _add_months(today.year, today.month, -1)
        start = _anchored(year, month, anchor)
    year, month = _add_months(start.year, start.month, 1)
    return start, _anchored(year, month, anchor)


def days_back(today: date, days: int) -> date:
    """Return the first day of a window of ``days`` days ending with ``today``."""
    return today - timedelta(days=days - 1)
