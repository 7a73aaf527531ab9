"""The usage-limit rule: ``usage_limit_approaching`` and ``usage_limit_exceeded`` alerts.

One alert per customer and billing period, the most severe a customer's usage percentage
(the larger of tokens and interactions, against its tier's monthly limits) calls for.
Resolved by ``system`` when the period ends, the tier changes, the usage falls back under
the threshold, or an exceeded alert supersedes an approaching one; a dismissed alert is
not raised again that period. It runs on ingest for the customers of a batch and in every
scheduled evaluation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.rules.base import AlertDraft, AlertPolicy, Findings, Resolution, RuleContext
from nexus_crm.alerts.schemas import AlertType, Severity
from nexus_crm.analytics.service import usage_percentages
from nexus_crm.kit.time import billing_period, local_day
from nexus_crm.models import Customer, UsageAlert, UsageTierLimit

LIMIT_TYPES = (AlertType.USAGE_LIMIT_APPROACHING.value, AlertType.USAGE_LIMIT_EXCEEDED.value)
# Customers evaluated per round of queries (keeps IN lists far below bind-parameter caps).
CHUNK_USERS = 2000
LONGEST_PERIOD_DAYS = 31


@dataclass(frozen=True)
class PeriodUsage:
    """A customer's use of the current billing period against its tier."""

    customer: Customer
    tier: UsageTierLimit
    start: date
    end: date  # exclusive
    tokens: int
    interactions: int

    @property
    def percentages(self) -> tuple[float, float]:
        """(tokens %, interactions %) of the tier's limits."""
        return usage_percentages(self.tokens, self.interactions, self.tier)

    @property
    def percentage(self) -> float:
        """The usage percentage: the larger of the two."""
        return max(self.percentages)


async def period_usage(
    session: AsyncSession, user_ids: Sequence[str], today: date
) -> dict[str, PeriodUsage]:
    """Current-period use of each known customer whose tier has limits (one query a period)."""
    by_period: dict[tuple[date, date], list[tuple[Customer, UsageTierLimit]]] = defaultdict(list)
    for customer, tier in await repo.customers_with_tiers(session, user_ids):
        if tier is not None:
            by_period[billing_period(today, customer.billing_anchor_day)].append((customer, tier))
    out: dict[str, PeriodUsage] = {}
    for (start, end), members in by_period.items():
        totals = await repo.period_totals(session, [c.user_id for c, _ in members], start, end)
        for customer, tier in members:
            tokens, interactions = totals.get(customer.user_id, (0, 0))
            out[customer.user_id] = PeriodUsage(customer, tier, start, end, tokens, interactions)
    return out


def _figures(u: PeriodUsage) -> dict[str, Any]:
    tok_pct, int_pct = u.percentages
    return {
        "tier": u.tier.tier,
        "tier_name": u.tier.display_name,
        "period_start": u.start.isoformat(),
        "period_end": u.end.isoformat(),
        "tokens_used": u.tokens,
        "token_limit": u.tier.monthly_tokens,
        "interactions_used": u.interactions,
        "interaction_limit": u.tier.monthly_interactions,
        "tokens_percentage": round(tok_pct, 2),
        "interactions_percentage": round(int_pct, 2),
        "usage_percentage": round(max(tok_pct, int_pct), 2),
    }


def _binding(u: PeriodUsage) -> str:
    """The figure that sets the percentage, e.g. "4,250 of 5,000 interactions"."""
    tok_pct, int_pct = u.percentages
    if int_pct >= tok_pct:
        return f"{u.interactions:,} of {u.tier.monthly_interactions:,} interactions"
    return f"{u.tokens:,} of {u.tier.monthly_tokens:,} tokens"


def limit_draft(u: PeriodUsage, alert_type: str, threshold: float) -> AlertDraft:
    """The approaching/exceeded alert for a customer's current period, with its figures."""
    user, plan, pct = u.customer.user_id, u.tier.display_name, int(u.percentage)
    last_day = u.end - timedelta(days=1)
    exceeded = alert_type == AlertType.USAGE_LIMIT_EXCEEDED
    title = (
        f"{user} is over {threshold:g} % of the {plan} plan"
        if exceeded
        else f"{user} is approaching the {plan} plan limit"
    )
    message = (
        f"{user} has used {pct} % of the {plan} plan this period ({_binding(u)}), "
        f"billing period {u.start:%Y-%m-%d} to {last_day:%Y-%m-%d}. "
        + (
            "Usage may be limited: consider an upgrade."
            if exceeded
            else "An upgrade conversation may be timely."
        )
    )
    return AlertDraft(
        alert_type=alert_type,
        severity=(Severity.CRITICAL if exceeded else Severity.WARNING).value,
        subject=f"user:{user}",
        period_key=u.start.isoformat(),
        title=title[:200],
        message=message,
        data={**_figures(u), "threshold_percentage": threshold},
        user_id=user,
    )


def wanted_type(pct: float, policy: AlertPolicy) -> tuple[str, float] | None:
    """The one limit alert a percentage calls for (the most severe), and its threshold."""
    if pct >= policy.exceeded_pct:
        return AlertType.USAGE_LIMIT_EXCEEDED.value, policy.exceeded_pct
    if pct >= policy.approaching_pct:
        return AlertType.USAGE_LIMIT_APPROACHING.value, policy.approaching_pct
    return None


def _resolution_note(alert: UsageAlert, u: PeriodUsage | None, wanted: str | None) -> str | None:
    """Why an open limit alert no longer holds, or None if it still does."""
    if u is None:
        return None  # customer or tier limits unknown: nothing to judge by
    if alert.period_key != u.start.isoformat():
        return f"billing period starting {alert.period_key} ended"
    if alert.alert_type == wanted:
        return None
    now = f"now {u.percentage:.0f} % of the {u.tier.display_name} plan"
    if wanted == AlertType.USAGE_LIMIT_EXCEEDED:
        return f"superseded by {wanted}: {now}"
    old_tier = alert.data.get("tier")
    if old_tier and old_tier != u.tier.tier:
        return f"tier changed from {old_tier} to {u.tier.tier}: {now}"
    return f"usage back under the threshold: {now}"


def limit_findings(
    usage: dict[str, PeriodUsage], alerts: Sequence[UsageAlert], policy: AlertPolicy
) -> Findings:
    """Drafts for customers over a threshold, resolutions for alerts that no longer hold."""
    findings = Findings()
    held: set[tuple[str, str, str]] = set()
    for alert in alerts:
        u = usage.get(alert.user_id or "")
        wanted = wanted_type(u.percentage, policy) if u else None
        if alert.status == "dismissed":
            held.add((alert.alert_type, alert.subject, alert.period_key))
        elif (note := _resolution_note(alert, u, wanted and wanted[0])) is not None:
            findings.resolutions.append(Resolution(alert.id, note))
        else:
            held.add((alert.alert_type, alert.subject, alert.period_key))
    for u in usage.values():
        wanted = wanted_type(u.percentage, policy)
        if wanted is not None:
            draft = limit_draft(u, *wanted)
            if draft.key not in held:
                findings.drafts.append(draft)
    return findings


async def _limit_chunk(session: AsyncSession, users: Sequence[str], ctx: RuleContext) -> Findings:
    usage = await period_usage(session, users, local_day(ctx.now, ctx.policy.tz))
    periods = sorted({u.start.isoformat() for u in usage.values()})
    alerts = await repo.user_alerts(
        session, user_ids=users, alert_types=LIMIT_TYPES, dismissed_in=periods
    )
    return limit_findings(usage, alerts, ctx.policy)


async def limit_rule(session: AsyncSession, ctx: RuleContext) -> Findings:
    """Usage-limit alerts of the context's customers (default: any with recent use or alert)."""
    users = ctx.user_ids
    if users is None:
        since = local_day(ctx.now, ctx.policy.tz) - timedelta(days=LONGEST_PERIOD_DAYS)
        users = await repo.limit_candidates(session, since=since, alert_types=LIMIT_TYPES)
    users = sorted(set(users))
    findings = Findings()
    for i in range(0, len(users), CHUNK_USERS):
        findings.extend(await _limit_chunk(session, users[i : i + CHUNK_USERS], ctx))
    return findings
