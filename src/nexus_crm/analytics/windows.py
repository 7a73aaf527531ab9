"""Window roll-ups as closed past days (cached) plus the window's last day (always read).

Every dashboard and insights window ends with a day that may still be growing (today) and
covers days that rarely change. The sums over ``[start, end - 1]`` are cached per process
under a marker that changes whenever any use before ``end`` is stored or re-keyed
(``repository.past_marker``), so a cached figure is never stale (the cache belongs to the
app's sessions: ``kit.memo``); the last day is read each
time and added. Distinct customers stay exact: the last day contributes only those with no
use earlier in the window. A window ending before today is cached whole, under the marker of
everything up to its last day.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.kit.memo import memo_of
from nexus_crm.kit.time import day_start
from nexus_crm.models import RESPONSE_TIME_BUCKETS

ADDED = ("interactions", "tokens", "rt_sum", *RESPONSE_TIME_BUCKETS)
CACHE_ENTRIES = 64
ONE_DAY = timedelta(days=1)


async def _cached(
    session: AsyncSession, kind: str, start: date, last: date, tz: ZoneInfo, read: Any
) -> Any:
    """``read(start, last)``, cached under the marker of everything up to the day ``last``."""
    marker = await repo.past_marker(session, day_start(last + ONE_DAY, tz))
    if kind == "tiers":
        marker = (*marker, *await repo.tier_marker(session))
    key = (str(session.get_bind().engine.url), kind, start, last, str(tz), marker)
    cache = memo_of(session, "windows", CACHE_ENTRIES)
    value = cache.get(key)
    if value is None:
        value = await read(start, last)
        cache.put(key, value)
    return value


async def _split(
    session: AsyncSession, kind: str, start: date, end: date, tz: ZoneInfo, today: date, read: Any
) -> tuple[Any, bool]:
    """The cached part of ``[start, end]``, and whether its last day is still to be added.

    A window ending before ``today`` is closed and cached whole; otherwise ``[start, end-1]``
    (empty for a one-day window) is cached and the last day is read by the caller.
    """
    if end < today:
        return await _cached(session, kind, start, end, tz, read), False
    return await _cached(session, kind, start, end - ONE_DAY, tz, read), True


Rollup = Callable[[AsyncSession, date, date], Awaitable[Sequence[Any]]]


async def _keyed(
    session: AsyncSession,
    kind: str,
    key: str,
    window: tuple[date, date],
    tz: ZoneInfo,
    today: date,
    whole: Rollup,
    day: Rollup,
    add: Callable[[dict[str, Any], Any], None],
) -> list[Any]:
    """A roll-up keyed by ``key`` over ``window``: the cached part plus ``day``'s rows."""
    start, end = window

    async def read(a: date, b: date) -> dict[str, dict[str, Any]]:
        return {getattr(r, key): dict(r._mapping) for r in await whole(session, a, b)}

    past, open_day = await _split(session, kind, start, end, tz, today, read)
    merged = {k: dict(v) for k, v in past.items()}
    for r in await day(session, end, start) if open_day else ():
        add(merged.setdefault(getattr(r, key), {key: getattr(r, key)}), r)
    return [SimpleNamespace(**merged[k]) for k in sorted(merged)]


def _add_agent(row: dict[str, Any], r: Any) -> None:
    for name in ADDED:
        row[name] = int(row.get(name, 0)) + int(getattr(r, name))
    row["users"] = int(row.get("users", 0)) + int(r.new_users)
    row["rt_max"] = max(int(row.get("rt_max", 0)), int(r.rt_max))


def _add_tier(row: dict[str, Any], r: Any) -> None:
    for name in ("users", "interactions", "tokens"):
        row[name] = int(row.get(name, 0)) + int(getattr(r, name) or 0)


async def agent_rollup(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> list[Any]:
    """``repository.agent_rollup`` of ``[start, end]`` (rows with the same attributes)."""
    return await _keyed(
        session,
        "agents",
        "agent_id",
        (start, end),
        tz,
        today,
        repo.agent_rollup,
        repo.day_agent_rollup,
        _add_agent,
    )


async def active_users(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> int:
    """``repository.active_users`` of ``[start, end]``."""

    async def read(a: date, b: date) -> int:
        return await repo.active_users(session, a, b)

    past, open_day = await _split(session, "active", start, end, tz, today, read)
    return int(past) + (await repo.day_new_users(session, end, start) if open_day else 0)


async def tier_rollup(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> list[Any]:
    """``repository.tier_rollup`` of ``[start, end]`` (customers' current tiers)."""
    return await _keyed(
        session,
        "tiers",
        "tier",
        (start, end),
        tz,
        today,
        repo.tier_rollup,
        repo.day_tier_rollup,
        _add_tier,
    )
