"""Snapshots of features and their labels, built only from what was known by a day.

The CPU-heavy steps (rows to per-customer series, features, fitting) run in a worker thread:
with tens of thousands of customers they take seconds to minutes, and on the event loop they
would hold every webhook and live update for as long.

Leakage rules, each enforced by a query bound: usage with ``day < as_of``; subscription
history with ``changed_at`` before the first instant of the as-of day. A model trained at
``T`` labels snapshots ``t ≤ T − horizon`` with "cancelled in [t, t + horizon)", so every
label it reads is a cancellation recorded as happening before ``T``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics.churn import repository as repo
from nexus_crm.analytics.churn.features import (
    FEATURES,
    WINDOW_DAYS,
    Plan,
    Snapshot,
    Usage,
    snapshot,
    states_at,
    window_start,
)
from nexus_crm.analytics.churn.model import Scorer, TrainingSet, select_scorer
from nexus_crm.analytics.churn.schemas import ModelInfo
from nexus_crm.kit.time import day_start

SNAPSHOT_STEP_DAYS = 4
MAX_SNAPSHOTS = 12
MIN_HISTORY_DAYS = 14  # a snapshot needs two weeks of use before it


@dataclass(frozen=True)
class Known:
    """What was known before the first instant of ``before`` (in ``tz``)."""

    before: date
    tz: ZoneInfo
    history: Sequence[Any]
    plans: dict[str, Plan]
    anchors: dict[str, int | None]
    first_use: date | None


async def known_before(session: AsyncSession, before: date, tz: ZoneInfo) -> Known:
    """Subscription history, tier plans and anchors as known before ``before``."""
    plans = {
        t.tier: Plan(t.rank, t.monthly_tokens, t.monthly_interactions, t.monthly_price_cents / 100)
        for t in await repo.tiers(session)
    }
    history = await repo.history(session, day_start(before, tz))
    return Known(
        before, tz, history, plans, await repo.anchors(session), await repo.first_use(session)
    )


def _by_customer(rows: Sequence[Any]) -> dict[str, dict[date, tuple[int, int]]]:
    daily: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        daily[r.user_id][r.day] = (int(r.interactions), int(r.tokens))
    return daily


async def usage_before(session: AsyncSession, as_of: date, anchors: list[int | None]) -> Usage:
    """Use with ``day < as_of`` that the features read."""
    rows = await repo.daily_usage(session, window_start(as_of, anchors), as_of)
    daily = await asyncio.to_thread(_by_customer, rows)  # millions of rows at 10M events
    start = as_of - timedelta(days=WINDOW_DAYS)
    response = {r.user_id: r for r in await repo.response_times(session, start, as_of)}
    return Usage(
        daily,
        response,
        await repo.agent_breadth(session, start, as_of),
        await repo.last_use(session, as_of),
    )


async def snapshot_at(session: AsyncSession, known: Known, as_of: date) -> Snapshot:
    """Features at ``as_of`` (which must not be after ``known.before``)."""
    assert as_of <= known.before, "a snapshot cannot use history from after it was known"
    states = states_at(known.history, day_start(as_of, known.tz))
    usage = await usage_before(session, as_of, sorted(set(known.anchors.values()), key=str))
    return await asyncio.to_thread(snapshot, as_of, states, known.plans, usage, known.anchors)


def cancelled_between(known: Known, start: date, end: date) -> set[str]:
    """Customers whose history shows a cancellation in ``[start, end)`` (days in ``tz``)."""
    lo, hi = day_start(start, known.tz), day_start(end, known.tz)
    return {
        r.user_id for r in known.history if r.to_status == "cancelled" and lo <= r.changed_at < hi
    }


def snapshot_days(known: Known, horizon: int) -> list[date]:
    """Training days, latest first: T − horizon, then every 4 days back while history allows."""
    if known.first_use is None:
        return []
    earliest = known.first_use + timedelta(days=MIN_HISTORY_DAYS)
    latest = known.before - timedelta(days=horizon)
    days = [latest - timedelta(days=SNAPSHOT_STEP_DAYS * k) for k in range(MAX_SNAPSHOTS)]
    return [d for d in days if d >= earliest]


async def training_set(session: AsyncSession, known: Known, horizon: int) -> TrainingSet:
    """Labelled snapshot rows known before ``known.before``."""
    xs, ys, folds = [], [], []
    for fold, day in enumerate(snapshot_days(known, horizon)):
        snap = await snapshot_at(session, known, day)
        gone = cancelled_between(known, day, day + timedelta(days=horizon))
        xs.append(snap.x)
        ys.append(np.array([u in gone for u in snap.user_ids], dtype=np.int64))
        folds.append(np.full(len(snap.user_ids), fold, dtype=np.int64))
    if not xs:
        empty = np.zeros(0, dtype=np.int64)
        return TrainingSet(np.zeros((0, len(FEATURES))), empty, empty)
    return TrainingSet(np.vstack(xs), np.concatenate(ys), np.concatenate(folds))


async def train(
    session: AsyncSession, known: Known, horizon: int, min_positives: int
) -> tuple[Scorer, ModelInfo]:
    """Choose and fit a scorer on what was known before ``known.before``."""
    ts = await training_set(session, known, horizon)
    scorer = await asyncio.to_thread(select_scorer, ts, min_positives)
    info = ModelInfo(
        kind=scorer.kind,
        as_of=known.before,
        horizon_days=horizon,
        training_rows=len(ts.y),
        training_positives=ts.positives,
        validation_auc={k: None if v is None else round(v, 4) for k, v in scorer.aucs.items()},
    )
    return scorer, info
