"""The ``upgrade_opportunity`` rule: one alert per customer and billing period.

Raised when the upgrade detector (``nexus_crm.analytics.upgrades``) flags a customer;
resolved by ``system`` when the tier goes up, the subscription is no longer active, the
period ends, or the projection falls under the threshold minus a margin (hysteresis).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.rules.base import AlertDraft, Findings, Resolution, RuleContext
from nexus_crm.alerts.schemas import AlertType, Severity
from nexus_crm.analytics import (
    Assessment,
    UpgradeOpportunity,
    UpgradePolicy,
    assess_customers,
    is_opportunity,
    opportunity,
    subscriptions,
)
from nexus_crm.kit.time import local_day
from nexus_crm.models import UsageAlert

TYPE = AlertType.UPGRADE_OPPORTUNITY.value
WARNING_PROJECTED_PCT = 125.0  # from here (or when already over the limit) a warning


def upgrade_draft(o: UpgradeOpportunity, policy: UpgradePolicy) -> AlertDraft:
    """The alert of one opportunity, with its figures and recommendation."""
    last_day = o.period_end - timedelta(days=1)
    over = o.usage_percentage >= 100 or o.projected_percentage >= WARNING_PROJECTED_PCT
    message = (
        f"{o.user_id} has used {o.usage_percentage:.0f} % of the {o.tier_name} plan in "
        f"{o.elapsed_days} days ({o.interactions_used:,} of {o.interaction_limit:,} "
        f"interactions, {o.tokens_used:,} of {o.token_limit:,} tokens) and is projected to "
        f"reach {o.projected_percentage:.0f} % by {last_day:%Y-%m-%d} "
        f"({o.projected_interactions:,} interactions, {o.projected_tokens:,} tokens; at the "
        f"last 7 days' pace a whole period is {o.run_rate_percentage:.0f} %), active "
        f"{o.active_days_last_7} of the last 7 days. Recommended: {o.recommended_tier_name} "
        f"(+{o.revenue_delta_monthly} {o.currency}/month), confidence {o.confidence:.2f}."
    )
    return AlertDraft(
        alert_type=TYPE,
        severity=(Severity.WARNING if over else Severity.INFO).value,
        subject=f"user:{o.user_id}",
        period_key=o.period_start.isoformat(),
        title=(
            f"{o.user_id} is on course for {o.projected_percentage:.0f} % of the {o.tier_name} "
            f"plan: upgrade to {o.recommended_tier_name}"
        )[:200],
        message=message,
        data={**o.model_dump(mode="json"), "threshold_percentage": policy.threshold_pct},
        user_id=o.user_id,
    )


def _resolution_note(
    alert: UsageAlert, a: Assessment | None, state: tuple[str, str] | None, policy: UpgradePolicy
) -> str | None:
    """Why an open upgrade alert no longer holds, or None if it still does."""
    old_tier, old_rank = alert.data.get("tier"), int(alert.data.get("tier_rank", 0))
    if state is not None and state[1] != "active":
        return f"subscription is {state[1]}"
    if a is None:  # no longer assessable: now on the top tier, or the tier has no limits
        return f"tier changed from {old_tier} to {state[0] if state else 'unknown'}"
    if a.tier.tier != old_tier:
        verb = "upgraded" if a.tier.rank > old_rank else "tier changed"
        return f"{verb} from {old_tier} to {a.tier.tier}"
    if alert.period_key != a.start.isoformat():
        return f"billing period starting {alert.period_key} ended"
    if a.signal_pct < policy.threshold_pct - policy.resolve_margin_pct:
        return (
            f"projection back under the threshold: now {a.signal_pct:.0f} % of the "
            f"{a.tier.display_name} plan"
        )
    return None


def upgrade_findings(
    assessed: Mapping[str, Assessment],
    states: Mapping[str, tuple[str, str]],
    alerts: list[UsageAlert],
    opportunities: list[UpgradeOpportunity],
    policy: UpgradePolicy,
) -> Findings:
    """Resolutions of alerts that no longer hold; drafts of new opportunities."""
    findings = Findings()
    held: set[tuple[str, str, str]] = set()
    for alert in alerts:
        user = alert.user_id or ""
        note = None
        if alert.status != "dismissed":
            note = _resolution_note(alert, assessed.get(user), states.get(user), policy)
        if note is None:
            held.add((alert.alert_type, alert.subject, alert.period_key))
        else:
            findings.resolutions.append(Resolution(alert.id, note))
    for o in opportunities:
        draft = upgrade_draft(o, policy)
        if draft.key not in held:
            findings.drafts.append(draft)
    return findings


async def upgrade_rule(session: AsyncSession, ctx: RuleContext) -> Findings:
    """Upgrade-opportunity alerts of every customer (or the context's)."""
    policy = ctx.policy.upgrade
    subs = await subscriptions(session)
    if ctx.user_ids is not None:
        wanted = set(ctx.user_ids)
        subs = [s for s in subs if s.user_id in wanted]
    today = local_day(ctx.now, ctx.policy.tz)
    assessed, tiers = await assess_customers(session, subs=subs, today=today)
    periods = sorted({a.start.isoformat() for a in assessed.values()})
    alerts = await repo.alerts_of_type(session, alert_type=TYPE, dismissed_in=periods)
    if ctx.user_ids is not None:
        alerts = [a for a in alerts if a.user_id in wanted]
    flagged = [
        opportunity(a, tiers, policy) for a in assessed.values() if is_opportunity(a, policy)
    ]
    states = {s.user_id: (s.tier, s.status) for s in subs}
    return upgrade_findings(assessed, states, alerts, flagged, policy)
