"""Window roll-ups as closed past days (cached) plus the window's last day (always read).

Every dashboard and insights window ends with a day that may still be growing (today) and
covers days that rarely change. The sums over ``[start, end - 1]`` are cached per process
under a marker that changes whenever any use before ``end`` is stored or re-keyed
(``repository.past_marker``), so a cached figure is never stale; the last day is read each
time and added. Distinct customers stay exact: the last day contributes only those with no
use earlier in the window. A window ending before today is cached whole, under the marker of
everything up to its last day.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.kit.time import day_start
from nexus_crm.models import RESPONSE_TIME_BUCKETS

ADDED = ("interactions", "tokens", "rt_sum", *RESPONSE_TIME_BUCKETS)
CACHE_ENTRIES = 64
ONE_DAY = timedelta(days=1)
_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def clear_cache() -> None:
    """Forget every cached window (for a process whose database was emptied under it)."""
    _cache.clear()


async def _cached(session: AsyncSession, kind: str, start: date, last: date, tz: ZoneInfo,
                  read: Any) -> Any:  # fmt: skip
    """``read(start, last)``, cached under the marker of everything up to the day ``last``."""
    marker = await repo.past_marker(session, day_start(last + ONE_DAY, tz))
    if kind == "tiers":
        marker = (*marker, *await repo.tier_marker(session))
    key = (str(session.get_bind().engine.url), kind, start, last, str(tz), marker)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value = await read(start, last)
    _cache[key] = value
    while len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return value


def _as_dicts(rows: Any, key: str) -> dict[str, dict[str, Any]]:
    return {getattr(r, key): dict(r._mapping) for r in rows}


def _rows(merged: dict[str, dict[str, Any]]) -> list[Any]:
    return [SimpleNamespace(**merged[k]) for k in sorted(merged)]


async def agent_rollup(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> list[Any]:
    """``repository.agent_rollup`` of ``[start, end]`` (rows with the same attributes).

    A window that ends before ``today`` is closed: cached whole.
    """

    async def read(a: date, b: date) -> dict[str, dict[str, Any]]:
        return _as_dicts(await repo.agent_rollup(session, a, b), "agent_id")

    if end < today:
        return _rows(await _cached(session, "agents", start, end, tz, read))
    if end <= start:
        return list(await repo.agent_rollup(session, start, end))
    past = await _cached(session, "agents", start, end - ONE_DAY, tz, read)
    merged = {k: dict(v) for k, v in past.items()}
    for r in await repo.day_agent_rollup(session, end, start):
        row = merged.setdefault(r.agent_id, {"agent_id": r.agent_id, "users": 0, "rt_max": 0,
                                             **dict.fromkeys(ADDED, 0)})  # fmt: skip
        for name in ADDED:
            row[name] = int(row[name]) + int(getattr(r, name))
        row["users"] = int(row["users"]) + int(r.new_users)
        row["rt_max"] = max(int(row["rt_max"]), int(r.rt_max))
    return _rows(merged)


async def active_users(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> int:
    """``repository.active_users`` of ``[start, end]``."""

    async def read(a: date, b: date) -> int:
        return await repo.active_users(session, a, b)

    if end < today:
        closed: int = await _cached(session, "active", start, end, tz, read)
        return closed
    if end <= start:
        return await repo.active_users(session, start, end)
    past: int = await _cached(session, "active", start, end - ONE_DAY, tz, read)
    return past + await repo.day_new_users(session, end, start)


async def tier_rollup(
    session: AsyncSession, start: date, end: date, tz: ZoneInfo, *, today: date
) -> list[Any]:
    """``repository.tier_rollup`` of ``[start, end]`` (customers' current tiers)."""

    async def read(a: date, b: date) -> dict[str, dict[str, Any]]:
        return _as_dicts(await repo.tier_rollup(session, a, b), "tier")

    if end < today:
        return _rows(await _cached(session, "tiers", start, end, tz, read))
    if end <= start:
        return list(await repo.tier_rollup(session, start, end))
    past = await _cached(session, "tiers", start, end - ONE_DAY, tz, read)
    merged = {k: dict(v) for k, v in past.items()}
    for r in await repo.day_tier_rollup(session, end, start):
        row = merged.setdefault(r.tier, {"tier": r.tier, "users": 0, "interactions": 0,
                                         "tokens": 0})  # fmt: skip
        for name in ("users", "interactions", "tokens"):
            row[name] = int(row[name]) + int(getattr(r, name) or 0)
    return _rows(merged)
