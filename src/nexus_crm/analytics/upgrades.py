"""Upgrade opportunities: customers projected to outgrow their tier before the period ends.

For each active customer on a tier below the top rank, the current billing period's tokens
and interactions are projected to its end from the month-to-date daily rate and the
trailing 7-day rate (``pace``: the lower of the trailing rate and the mean of the two). A
customer is an opportunity when the use is *sustained* (≥ ``min_active_days`` of the last
7 complete days active, ≥ ``min_elapsed_days`` complete days of the period) and the
projection, or the trailing 7-day pace over a whole period, reaches ``threshold_pct`` of a
limit. Definitions and formulas: docs/analytics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import repository as repo
from nexus_crm.analytics.upgrade_schemas import UpgradeOpportunity
from nexus_crm.kit.time import billing_period
from nexus_crm.models import UsageTierLimit
from nexus_crm.tiers import service as tier_service

TRAILING_DAYS = 7
CHUNK_USERS = 2000
Usage = tuple[int, int]  # (tokens, interactions)


@dataclass(frozen=True)
class UpgradePolicy:
    """Thresholds of the upgrade detector (documented in docs/analytics.md)."""

    threshold_pct: float = 90.0  # projection (% of a limit) that makes an opportunity
    resolve_margin_pct: float = 10.0  # an open alert resolves under threshold - margin
    min_active_days: int = 5  # of the last 7 complete days
    min_elapsed_days: int = 3  # complete days of the billing period
    headroom_pct: float = 20.0  # the recommended tier keeps the projection ≤ 80 % of it
    full_evidence_days: int = 14  # elapsed days that give full weight to the data


@dataclass(frozen=True)
class Subscription:
    """A customer's subscription as the detector sees it."""

    user_id: str
    tier: str
    status: str
    anchor_day: int | None


@dataclass(frozen=True)
class Assessment:
    """One customer's projection for the current period (flagged or not)."""

    sub: Subscription
    tier: UsageTierLimit
    start: date
    end: date  # exclusive
    elapsed_days: int  # complete days of the period before today
    active_days: int  # of the last 7 complete days
    used: Usage  # complete days of the period
    projected: tuple[float, float]
    run_rate: tuple[float, float]  # trailing 7-day daily rate × days in the period

    @property
    def usage_pct(self) -> float:
        """Use of the period so far, % of the larger limit share."""
        return _pct(self.used, self.tier)

    @property
    def projected_pct(self) -> float:
        """Projected use at the period end, % of the larger limit share."""
        return _pct(self.projected, self.tier)

    @property
    def run_rate_pct(self) -> float:
        """The trailing 7-day pace over a whole period, % of the larger limit share."""
        return _pct(self.run_rate, self.tier)

    @property
    def signal_pct(self) -> float:
        """What is compared with the threshold: the larger of projection and run rate."""
        return max(self.projected_pct, self.run_rate_pct)


def _pct(usage: tuple[float, float], tier: UsageTierLimit) -> float:
    return 100.0 * max(usage[0] / tier.monthly_tokens, usage[1] / tier.monthly_interactions)


def _sum(days: Mapping[date, Usage], start: date, end: date) -> Usage:
    picked = [u for d, u in days.items() if start <= d < end]
    return sum(u[0] for u in picked), sum(u[1] for u in picked)


def pace(trailing: float, month_to_date: float) -> float:
    """Daily rate for the rest of the period: min(trailing, mean of trailing and month-to-date).

    Growing use (trailing above month-to-date) is projected at the mean of the two rates,
    so one busy week moves it only half-way; falling use at the trailing rate.
    """
    return min(trailing, (trailing + month_to_date) / 2)


def assess(
    sub: Subscription, tier: UsageTierLimit, days: Mapping[date, Usage], today: date
) -> Assessment:
    """Project a customer's period use from its daily totals (days before ``today`` only)."""
    start, end = billing_period(today, sub.anchor_day)
    elapsed = (today - start).days
    used = _sum(days, start, today)
    week = _sum(days, today - timedelta(days=TRAILING_DAYS), today)
    active = sum(
        1 for d, u in days.items() if today - timedelta(days=TRAILING_DAYS) <= d < today and u[1]
    )
    remaining = (end - today).days  # today counts as remaining: it is not complete
    projected = tuple(
        u + pace(w / TRAILING_DAYS, u / elapsed if elapsed else w / TRAILING_DAYS) * remaining
        for u, w in zip(used, week, strict=True)
    )
    run_rate = tuple(w / TRAILING_DAYS * (end - start).days for w in week)
    return Assessment(
        sub,
        tier,
        start,
        end,
        elapsed,
        active,
        used,
        (projected[0], projected[1]),
        (run_rate[0], run_rate[1]),
    )


def is_opportunity(a: Assessment, policy: UpgradePolicy) -> bool:
    """Sustained use whose period projection or monthly run rate reaches the threshold."""
    return (
        a.active_days >= policy.min_active_days
        and a.elapsed_days >= policy.min_elapsed_days
        and a.signal_pct >= policy.threshold_pct
    )


def recommend(
    a: Assessment, tiers: Sequence[UsageTierLimit], headroom_pct: float
) -> UsageTierLimit:
    """Cheapest higher tier whose limits hold max(projection, run rate) with headroom."""
    need = [max(p, r) for p, r in zip(a.projected, a.run_rate, strict=True)]
    room = 1 - headroom_pct / 100
    higher = sorted(
        (t for t in tiers if t.rank > a.tier.rank), key=lambda t: (t.monthly_price_cents, t.rank)
    )
    for t in higher:
        if need[0] <= t.monthly_tokens * room and need[1] <= t.monthly_interactions * room:
            return t
    return max(higher, key=lambda t: t.rank)


def confidence(a: Assessment, policy: UpgradePolicy) -> float:
    """evidence × (0.5 + 0.5 × margin), in [0, 1] (docs/analytics.md)."""
    evidence = min(1.0, a.elapsed_days / policy.full_evidence_days) * a.active_days / TRAILING_DAYS
    margin = min(1.0, max(0.0, (a.signal_pct - policy.threshold_pct) / 50.0))
    return round(min(1.0, max(0.0, evidence * (0.5 + 0.5 * margin))), 2)


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def opportunity(
    a: Assessment, tiers: Sequence[UsageTierLimit], policy: UpgradePolicy
) -> UpgradeOpportunity:
    """The API view of a flagged assessment, with recommendation and revenue delta."""
    rec = recommend(a, tiers, policy.headroom_pct)
    return UpgradeOpportunity(
        user_id=a.sub.user_id,
        tier=a.tier.tier,
        tier_name=a.tier.display_name,
        tier_rank=a.tier.rank,
        period_start=a.start,
        period_end=a.end,
        elapsed_days=a.elapsed_days,
        active_days_last_7=a.active_days,
        tokens_used=a.used[0],
        interactions_used=a.used[1],
        token_limit=a.tier.monthly_tokens,
        interaction_limit=a.tier.monthly_interactions,
        projected_tokens=round(a.projected[0]),
        projected_interactions=round(a.projected[1]),
        usage_percentage=round(a.usage_pct, 1),
        projected_percentage=round(a.projected_pct, 1),
        run_rate_percentage=round(a.run_rate_pct, 1),
        recommended_tier=rec.tier,
        recommended_tier_name=rec.display_name,
        current_monthly_price=_money(a.tier.monthly_price_cents),
        recommended_monthly_price=_money(rec.monthly_price_cents),
        revenue_delta_monthly=_money(rec.monthly_price_cents - a.tier.monthly_price_cents),
        currency=rec.currency,
        confidence=confidence(a, policy),
    )


async def _daily(
    session: AsyncSession, user_ids: Sequence[str], start: date, today: date
) -> dict[str, dict[date, Usage]]:
    out: dict[str, dict[date, Usage]] = defaultdict(dict)
    for i in range(0, len(user_ids), CHUNK_USERS):
        rows = await repo.users_daily(session, user_ids[i : i + CHUNK_USERS], start, today)
        for r in rows:
            out[r.user_id][r.day] = (int(r.tokens), int(r.interactions))
    return out


async def subscriptions(session: AsyncSession) -> list[Subscription]:
    """Every customer's subscription state."""
    return [
        Subscription(r[0], r[1], r[2], r[3]) for r in await repo.customer_subscriptions(session)
    ]


async def assess_customers(
    session: AsyncSession, *, subs: Sequence[Subscription], today: date
) -> tuple[dict[str, Assessment], list[UsageTierLimit]]:
    """Assessments of the active customers below the top tier, and the tiers."""
    tiers = list(await tier_service.tier_rows(session))
    by_name = {t.tier: t for t in tiers}
    top = max((t.rank for t in tiers), default=0)
    eligible = [
        s for s in subs if s.status == "active" and s.tier in by_name and by_name[s.tier].rank < top
    ]
    # The earliest day any of them needs: a period start (≤ 31 days back) or the trailing week.
    start = today - timedelta(days=31)
    daily = await _daily(session, [s.user_id for s in eligible], start, today)
    out = {s.user_id: assess(s, by_name[s.tier], daily.get(s.user_id, {}), today) for s in eligible}
    return out, tiers


def _rank_key(o: UpgradeOpportunity) -> tuple[Decimal, float, str]:
    return (
        -(o.revenue_delta_monthly * Decimal(str(o.confidence))),
        -o.projected_percentage,
        o.user_id,
    )


async def find_upgrade_opportunities(
    session: AsyncSession, *, today: date, policy: UpgradePolicy, limit: int | None = None
) -> list[UpgradeOpportunity]:
    """Open upgrade opportunities, by expected revenue (delta × confidence), largest first."""
    found, tiers = await assess_customers(session, subs=await subscriptions(session), today=today)
    ops = [opportunity(a, tiers, policy) for a in found.values() if is_opportunity(a, policy)]
    return sorted(ops, key=_rank_key)[:limit]
