"""Churn services: scores with drivers and CLV as of a day, the ranked list, a backtest.

The model is retrained on demand (a few hundred milliseconds to a few seconds: see
docs/analytics.md) and the scored snapshot is cached for ``CHURN_CACHE_SECONDS`` with the
app's sessions (``kit.memo``), keyed by database, day, horizon and a fingerprint of the data.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics.churn import repository as repo
from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.churn.drivers import describe
from nexus_crm.analytics.churn.features import FEATURES, Plan, Snapshot
from nexus_crm.analytics.churn.model import Scorer, auc
from nexus_crm.analytics.churn.schemas import (
    ChurnRisks,
    ChurnScore,
    Driver,
    Evaluation,
    ModelInfo,
)
from nexus_crm.analytics.churn.training import known_before, snapshot_at, train
from nexus_crm.kit.memo import Memo, memo_of
from nexus_crm.kit.time import day_start
from nexus_crm.models import UsageAlert

TOP_DRIVERS = 3
MAX_LIFETIME_MONTHS = 60.0  # CLV counts at most five more years
DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class Scored:
    """A model and the snapshot it scored."""

    info: ModelInfo
    scores: list[ChurnScore]


def lifetime_months(probability: float, horizon_days: int) -> float:
    """Expected remaining months: 1 ÷ monthly churn probability, at most 60."""
    monthly = 1 - (1 - min(probability, 0.999999)) ** (DAYS_PER_MONTH / horizon_days)
    return float(min(MAX_LIFETIME_MONTHS, 1 / max(monthly, 1 / MAX_LIFETIME_MONTHS)))


def drivers_of(values: np.ndarray[Any, Any], effects: np.ndarray[Any, Any]) -> list[Driver]:
    """The TOP_DRIVERS largest effects (by magnitude) with their wording."""
    order = sorted(range(len(FEATURES)), key=lambda j: (-abs(float(effects[j])), j))
    return [
        Driver(
            feature=FEATURES[j],
            value=round(float(values[j]), 3),
            contribution=round(float(effects[j]), 4),
            text=describe(FEATURES[j], float(values[j])),
        )
        for j in order[:TOP_DRIVERS]
        if effects[j] != 0
    ]


def over_horizon(p: np.ndarray[Any, Any], label_days: int, horizon: int) -> np.ndarray[Any, Any]:
    """P(cancel within ``horizon``) from P(within ``label_days``), at a constant hazard."""
    return np.asarray(1 - (1 - p) ** (horizon / label_days))


def score_snapshot(
    snap: Snapshot, scorer: Scorer, plans: dict[str, Plan], cfg: ChurnConfig
) -> list[ChurnScore]:
    """Probability, drivers and CLV of every customer of a snapshot, riskiest first."""
    if not snap.user_ids:
        return []
    horizon = cfg.horizon_days
    probs = over_horizon(scorer.probabilities(snap.x), cfg.label_days, horizon)
    effects = scorer.contributions(snap.x)
    out = []
    for i, (user, tier) in enumerate(zip(snap.user_ids, snap.tiers, strict=True)):
        p, price = float(probs[i]), plans[tier].price
        months = lifetime_months(p, horizon)
        out.append(
            ChurnScore(
                user_id=user,
                tier=tier,
                probability=round(p, 4),
                drivers=drivers_of(snap.x[i], effects[i]),
                monthly_price=price,
                expected_lifetime_months=round(months, 2),
                clv=round(price * months, 2),
            )
        )
    return sorted(out, key=lambda s: (-s.probability, s.user_id))


async def _compute(session: AsyncSession, as_of: date, tz: ZoneInfo, cfg: ChurnConfig) -> Scored:
    known = await known_before(session, as_of, tz)
    scorer, info = await train(session, known, cfg.label_days, cfg.min_positives)
    info = info.model_copy(update={"horizon_days": cfg.horizon_days, "label_days": cfg.label_days})
    snap = await snapshot_at(session, known, as_of)
    scores = await asyncio.to_thread(score_snapshot, snap, scorer, known.plans, cfg)
    return Scored(info, scores)


async def scored(
    session: AsyncSession, *, as_of: date, tz: ZoneInfo, config: ChurnConfig
) -> Scored:
    """The model trained before ``as_of`` and its scores at ``as_of`` (cached by the app)."""
    cfg = config
    key = (
        repo.database_of(session),
        as_of,
        str(tz),
        cfg.horizon_days,
        cfg.label_days,
        cfg.min_positives,
        await repo.fingerprint(session, day_start(as_of, tz)),
    )
    cache = memo_of(session, "churn", 1)  # one snapshot per app is all the API needs
    hit = _cached(cache, key)
    if hit is not None:
        return hit
    # One training at a time: requests that miss the cache together wait for the first
    # one's result instead of each training the same model (seconds to minutes of CPU).
    async with cache.lock():
        hit = _cached(cache, key)  # trained by the request this one waited for
        if hit is not None:
            return hit
        result = await _compute(session, as_of, tz, cfg)
        if cfg.cache_seconds > 0:
            cache.put(key, (time.monotonic() + cfg.cache_seconds, result))
    return result


def _cached(cache: Memo, key: tuple[Any, ...]) -> Scored | None:
    hit: tuple[float, Scored] | None = cache.get(key)
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


async def statuses_of(session: AsyncSession, user_ids: list[str]) -> dict[str, str]:
    """Customers' current status (``active``, ``cancelled``)."""
    return await repo.statuses(session, user_ids)


async def churn_alerts(session: AsyncSession, *, alert_type: str, month: str) -> list[UsageAlert]:
    """Open churn alerts, and those dismissed in ``month``."""
    return await repo.churn_alerts(session, alert_type=alert_type, month=month)


async def active_scores(session: AsyncSession, result: Scored) -> list[ChurnScore]:
    """Scores of customers still active now (a cancellation today removes one)."""
    active = await repo.active_user_ids(session)  # no list of the scored: one plain query
    return [s for s in result.scores if s.user_id in active]


async def list_churn_risks(
    session: AsyncSession, *, as_of: date, tz: ZoneInfo, config: ChurnConfig, limit: int = 20
) -> ChurnRisks:
    """Active customers ranked by churn probability, with drivers and CLV."""
    result = await scored(session, as_of=as_of, tz=tz, config=config)
    scores = await active_scores(session, result)
    return ChurnRisks(as_of=as_of, model=result.info, count=len(scores), customers=scores[:limit])


async def customer_churn(
    session: AsyncSession, *, user_id: str, as_of: date, tz: ZoneInfo, config: ChurnConfig
) -> ChurnScore | None:
    """One customer's churn score (None: not an active customer at ``as_of``)."""
    result = await scored(session, as_of=as_of, tz=tz, config=config)
    return next((s for s in result.scores if s.user_id == user_id), None)


def top_decile_lift(y: np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> float | None:
    """Positive rate among the 10 % highest scores ÷ the overall positive rate."""
    if not len(y) or not y.sum():
        return None
    top = np.argsort(-p, kind="stable")[: max(1, len(y) // 10)]
    return float(y[top].mean() / y.mean())


async def evaluate_churn(
    session: AsyncSession,
    *,
    as_of: date,
    horizon: int,
    tz: ZoneInfo,
    threshold: float,
    config: ChurnConfig,
) -> Evaluation:
    """Score at ``as_of`` (model trained before it) against the next days' cancellations."""
    cfg = config.model_copy(update={"horizon_days": horizon, "cache_seconds": 0})
    result = await scored(session, as_of=as_of, tz=tz, config=cfg)
    gone = await repo.cancellations(
        session, day_start(as_of, tz), day_start(as_of + timedelta(days=horizon), tz)
    )
    y = np.array([s.user_id in gone for s in result.scores], dtype=np.int64)
    p = np.array([s.probability for s in result.scores], dtype=np.float64)
    flagged = p >= threshold
    hits = int((flagged & (y == 1)).sum())
    return Evaluation(
        as_of=as_of,
        horizon_days=horizon,
        model=result.info,
        customers=len(y),
        positives=int(y.sum()),
        auc=auc(y, p),
        top_decile_lift=top_decile_lift(y, p),
        threshold=threshold,
        alerts=int(flagged.sum()),
        precision=hits / int(flagged.sum()) if flagged.any() else None,
        recall=hits / int(y.sum()) if y.any() else None,
    )
