"""The ``churn_risk`` rule: one alert per customer and calendar month.

Raised when a customer's churn probability (``nexus_crm.analytics.churn``) reaches
``CHURN_ALERT_THRESHOLD``; severity ``critical`` from 0.95, else ``warning``. Resolved by
``system`` when the customer cancels (no longer a risk: it happened), when the probability
falls below the threshold minus ``CHURN_ALERT_HYSTERESIS``, or when its month ends (a new
month's alert is raised if the risk persists). A dismissed alert is not raised again that
month.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts.rules.base import AlertDraft, Findings, Resolution, RuleContext
from nexus_crm.alerts.schemas import AlertType, Severity
from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics.churn.schemas import ChurnScore
from nexus_crm.analytics.churn.service import churn_alerts, scored, statuses_of
from nexus_crm.kit.time import local_day
from nexus_crm.models import UsageAlert

TYPE = AlertType.CHURN_RISK.value
CRITICAL_PROBABILITY = 0.95


def churn_draft(s: ChurnScore, month: str, cfg: ChurnConfig) -> AlertDraft:
    """The alert of one customer at risk, with its drivers and CLV."""
    drivers = "; ".join(d.text for d in s.drivers) or "no single driver stands out"
    return AlertDraft(
        alert_type=TYPE,
        severity=(Severity.CRITICAL if s.probability >= CRITICAL_PROBABILITY else Severity.WARNING),
        subject=f"user:{s.user_id}",
        period_key=month,
        title=f"{s.user_id} may cancel: churn probability {s.probability:.0%}"[:200],
        message=(
            f"{s.user_id} ({s.tier}) has a {s.probability:.0%} probability of cancelling within "
            f"{cfg.horizon_days} days. Drivers: {drivers}. Customer lifetime value at stake: "
            f"{s.clv:,.0f} USD."
        ),
        data={**s.model_dump(mode="json"), "threshold": cfg.alert_threshold, "month": month},
        user_id=s.user_id,
    )


def _note(
    alert: UsageAlert, score: ChurnScore | None, status: str | None, month: str, cfg: ChurnConfig
) -> str | None:
    """Why an open churn alert no longer holds, or None if it still does."""
    if status is not None and status != "active":
        return f"customer is {status}"
    if alert.period_key != month:
        return f"month {alert.period_key} ended"
    floor = cfg.alert_threshold - cfg.alert_hysteresis
    if score is not None and score.probability < floor:
        return f"churn probability down to {score.probability:.0%} (under {floor:.0%})"
    return None


async def churn_rule(
    session: AsyncSession, ctx: RuleContext, config: ChurnConfig | None = None
) -> Findings:
    """Churn-risk alerts of every active customer (or of the context's customers)."""
    cfg = config or ctx.policy.churn
    today = local_day(ctx.now, ctx.policy.tz)
    month = today.strftime("%Y-%m")
    result = await scored(session, as_of=today, tz=ctx.policy.tz, config=cfg)
    wanted = set(ctx.user_ids) if ctx.user_ids is not None else None
    scores = {s.user_id: s for s in result.scores if wanted is None or s.user_id in wanted}
    alerts = [
        a
        for a in await churn_alerts(session, alert_type=TYPE, month=month)
        if wanted is None or a.user_id in wanted
    ]
    status = await statuses_of(session, sorted(set(scores) | {a.user_id or "" for a in alerts}))
    findings, held = Findings(), set()
    for alert in alerts:
        user = alert.user_id or ""
        note = _note(alert, scores.get(user), status.get(user), month, cfg)
        if alert.status == "dismissed" or note is None:
            held.add(alert.subject)
        else:
            findings.resolutions.append(Resolution(alert.id, note))
    for s in scores.values():
        at_risk = s.probability >= cfg.alert_threshold and status.get(s.user_id) == "active"
        if at_risk and f"user:{s.user_id}" not in held:
            findings.drafts.append(churn_draft(s, month, cfg))
    return findings
