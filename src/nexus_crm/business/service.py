"""Business metrics: conversion per tier, revenue opportunity, agent performance, CLV, forecasts.

Every figure reuses the service that owns it (upgrade detector, insights roll-up, churn
model); this module only combines them. Definitions: docs/business-metrics.md.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import fmean, median
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import (
    ChurnConfig,
    UpgradeOpportunity,
    UpgradePolicy,
    cached_agent_rollup,
    cached_tier_rollup,
    find_upgrade_opportunities,
    forecast_series,
    service,
)
from nexus_crm.analytics.churn import service as churn
from nexus_crm.analytics.schemas import Window
from nexus_crm.business import repository as repo
from nexus_crm.business.conversion import conversion_rates
from nexus_crm.business.schemas import (
    AgentForecast,
    AgentPerformance,
    BusinessMetrics,
    ChurnDistribution,
    CustomerValue,
    ForecastBacktest,
    ForecastPoint,
    RevenueOpportunity,
    SeriesForecast,
    TierActiveUsers,
    TierConversion,
    TierOpportunity,
)
from nexus_crm.kit.time import days_back
from nexus_crm.settings import Settings
from nexus_crm.tiers import service as tier_service

FORECAST_HISTORY_DAYS = 90
CHURN_BUCKET_BOUNDS = tuple(round(0.1 * i, 1) for i in range(1, 10))


@dataclass(frozen=True)
class BusinessPolicy:
    """Settings of the business metrics (CONVERSION_* variables, docs/business-metrics.md)."""

    follow_up_days: int = 30
    prior_rate: float = 0.2
    upgrade: UpgradePolicy = field(default_factory=UpgradePolicy)
    churn: ChurnConfig = field(default_factory=ChurnConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessPolicy:
        """The policy of CONVERSION_*, UPGRADE_PROJECTION_PCT and CHURN_* settings."""
        return cls(
            follow_up_days=settings.conversion_follow_up_days,
            prior_rate=settings.conversion_prior_rate,
            upgrade=UpgradePolicy(threshold_pct=settings.upgrade_projection_pct),
            churn=ChurnConfig.from_settings(settings),
        )


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def revenue_opportunity(
    opportunities: Sequence[UpgradeOpportunity],
    conversion: Sequence[TierConversion],
    prior_rate: float,
) -> RevenueOpportunity:
    """Σ revenue delta × the tier's observed conversion rate (the prior where none).

    A tier's rate over upsell sequences (DESIGN §5) wins over its rate over upgrade alerts.
    """
    ordered = sorted(conversion, key=lambda c: c.source == "upsell_sequences")
    observed = {c.tier: c.rate for c in ordered if c.rate is not None}
    groups: dict[str, list[UpgradeOpportunity]] = defaultdict(list)
    for o in sorted(opportunities, key=lambda o: (o.tier_rank, o.tier)):
        groups[o.tier].append(o)
    rows = []
    for tier, group in groups.items():
        rate = observed.get(tier)
        source: Literal["observed", "prior"] = "prior" if rate is None else "observed"
        rate = prior_rate if rate is None else rate
        delta = sum((o.revenue_delta_monthly for o in group), Decimal(0))
        expected = _money(delta * Decimal(str(rate)))
        rows.append(
            TierOpportunity(
                tier=tier,
                opportunities=len(group),
                revenue_delta_monthly=_money(delta),
                conversion_rate=rate,
                rate_source=source,
                expected_revenue_monthly=expected,
            )
        )
    zero = Decimal(0)
    return RevenueOpportunity(
        currency=opportunities[0].currency if opportunities else "USD",
        total_revenue_delta_monthly=_money(sum((r.revenue_delta_monthly for r in rows), zero)),
        expected_revenue_monthly=_money(sum((r.expected_revenue_monthly for r in rows), zero)),
        tiers=rows,
    )


async def agent_performance(session: AsyncSession, w: Window) -> list[AgentPerformance]:
    """Per agent over the window (the insights roll-up), with its share of all use."""
    rows = await cached_agent_rollup(session, w.start, w.end, ZoneInfo(w.timezone), today=w.end)
    agents = [service.agent_usage(r) for r in rows]
    interactions = sum(a.interactions for a in agents)
    tokens = sum(a.tokens for a in agents)
    return [
        AgentPerformance(
            **a.model_dump(),
            interactions_share=round(a.interactions / interactions, 4) if interactions else 0.0,
            tokens_share=round(a.tokens / tokens, 4) if tokens else 0.0,
        )
        for a in sorted(agents, key=lambda a: (-a.interactions, a.agent_id))
    ]


def churn_distribution(probabilities: Sequence[float]) -> ChurnDistribution:
    """Counts in ten buckets of 0.1 (the last includes 1.0), mean and median."""
    buckets = [0] * (len(CHURN_BUCKET_BOUNDS) + 1)
    for p in probabilities:
        buckets[bisect_right(CHURN_BUCKET_BOUNDS, p)] += 1
    return ChurnDistribution(
        customers=len(probabilities),
        buckets=buckets,
        mean=round(fmean(probabilities), 4) if probabilities else None,
        median=round(median(probabilities), 4) if probabilities else None,
    )


async def customer_value(
    session: AsyncSession, *, today: date, tz: ZoneInfo, limit: int, config: ChurnConfig
) -> tuple[CustomerValue, ChurnDistribution]:
    """Top CLVs and their total, and the churn distribution, of active customers."""
    result = await churn.scored(session, as_of=today, tz=tz, config=config)
    scores = await churn.active_scores(session, result)
    top = sorted(scores, key=lambda s: (-s.clv, s.user_id))[:limit]
    value = CustomerValue(
        model=result.info.kind,
        customers=len(scores),
        total_clv=round(sum(s.clv for s in scores), 2),
        top=top,
    )
    return value, churn_distribution([s.probability for s in scores])


async def active_users_per_tier(
    session: AsyncSession, today: date, tz: ZoneInfo
) -> list[TierActiveUsers]:
    """Customers with any use in the last 7 and 30 days (today included), per current tier."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, days in enumerate((7, 30)):
        for r in await cached_tier_rollup(session, days_back(today, days), today, tz, today=today):
            found[r.tier][i] = int(r.users)
    rank = {t.tier: t.rank for t in await tier_service.tier_rows(session)}
    order = sorted(found, key=lambda t: (rank.get(t, len(rank) + 1), t))
    return [
        TierActiveUsers(tier=t, last_7_days=found[t][0], last_30_days=found[t][1]) for t in order
    ]


async def agent_histories(
    session: AsyncSession, today: date
) -> dict[str, tuple[list[float], list[float]]]:
    """Per agent: daily (interactions, tokens) from its first day with use to yesterday."""
    end = today - timedelta(days=1)
    rows = await repo.agent_daily_usage(session, today - timedelta(FORECAST_HISTORY_DAYS), end)
    days: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        days[r.agent_id][r.day] = (int(r.interactions), int(r.tokens))
    out = {}
    for agent, by_day in sorted(days.items()):
        first = min(by_day)
        span = [first + timedelta(days=i) for i in range((end - first).days + 1)]
        filled = [by_day.get(d, (0, 0)) for d in span]
        out[agent] = ([float(v[0]) for v in filled], [float(v[1]) for v in filled])
    return out


def series_forecast(values: Sequence[float], today: date) -> SeriesForecast:
    """The API view of a series' forecast, the first day being today."""
    f = forecast_series(values)
    p, b = f.path, f.backtest
    daily = (
        []
        if p is None
        else [
            ForecastPoint(
                day=today + timedelta(days=i),
                mean=round(float(p.mean[i]), 1),
                lower_80=round(float(p.lower_80[i]), 1),
                upper_80=round(float(p.upper_80[i]), 1),
                lower_95=round(float(p.lower_95[i]), 1),
                upper_95=round(float(p.upper_95[i]), 1),
            )
            for i in range(len(p.mean))
        ]
    )
    return SeriesForecast(
        method=f.method,
        note=f.note,
        history_days=f.history_days,
        next_7_days=None if p is None else round(float(p.mean[:7].sum()), 1),
        next_30_days=None if p is None else round(float(p.mean[:30].sum()), 1),
        daily=daily,
        backtest=None if b is None else ForecastBacktest(**vars(b)),
    )


async def agent_forecasts(session: AsyncSession, today: date) -> list[AgentForecast]:
    """Daily interactions and tokens of every agent, forecast for 30 days from today."""
    return [
        AgentForecast(
            agent_id=agent,
            interactions=series_forecast(interactions, today),
            tokens=series_forecast(tokens, today),
        )
        for agent, (interactions, tokens) in (await agent_histories(session, today)).items()
    ]


async def get_business_metrics(
    session: AsyncSession,
    *,
    days: int,
    today: date,
    now: datetime,
    tz: ZoneInfo,
    limit: int,
    policy: BusinessPolicy,
) -> BusinessMetrics:
    """Conversion per tier, revenue opportunity, agent performance, CLV, forecasts."""
    w = service.window(days, today, str(tz))
    conversion = await conversion_rates(
        session, w=w, tz=tz, now=now, follow_up_days=policy.follow_up_days
    )
    opportunities = await find_upgrade_opportunities(session, today=today, policy=policy.upgrade)
    value, distribution = await customer_value(
        session, today=today, tz=tz, limit=limit, config=policy.churn
    )
    return BusinessMetrics(
        as_of=today,
        window=w,
        follow_up_days=policy.follow_up_days,
        conversion=conversion,
        revenue_opportunity=revenue_opportunity(opportunities, conversion, policy.prior_rate),
        agents=await agent_performance(session, w),
        customer_value=value,
        churn_distribution=distribution,
        active_users=await active_users_per_tier(session, today, tz),
        forecast_history_days=FORECAST_HISTORY_DAYS,
        forecasts=await agent_forecasts(session, today),
    )
