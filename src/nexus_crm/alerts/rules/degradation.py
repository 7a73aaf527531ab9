"""The ``performance_degradation`` rule: one alert per agent and degradation episode.

Raised when the hour in progress or the last complete hour of an agent is degraded
(``nexus_crm.analytics.degradation.breaches``); the period key is the UTC hour of the
degraded window, and while the alert is open no other is raised for the agent, so an
ongoing degradation stays one alert. The baseline is frozen in the alert when raised (a
long degradation must not become the new normal). Resolved by ``system`` once a complete
hour that started after the alert was raised is healthy and the hour in progress is not
degraded. A dismissed alert silences the agent for ``DISMISS_QUIET``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.rules.base import AlertDraft, Findings, Resolution, RuleContext
from nexus_crm.alerts.schemas import AlertType, Severity
from nexus_crm.analytics import (
    AgentHealth,
    Baseline,
    DegradationPolicy,
    WindowStats,
    affected_customers,
    agent_health,
    breaches,
    judgeable,
    ratios,
)
from nexus_crm.kit.time import local_day, utc_hour
from nexus_crm.models import UsageAlert

TYPE = AlertType.PERFORMANCE_DEGRADATION.value
DISMISS_QUIET = timedelta(hours=24)


def frozen_baseline(alert: UsageAlert) -> Baseline | None:
    """The baseline an open alert was raised against."""
    d = alert.data
    if d.get("baseline_mean_ms") is None:
        return None
    p95 = d.get("baseline_p95_ms")
    return Baseline(
        None if p95 is None else float(p95), float(d["baseline_mean_ms"]), int(d["baseline_hours"])
    )


def _fmt(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:,.0f} ms"


def _severity(w: WindowStats, h: AgentHealth, policy: DegradationPolicy) -> str:
    worst = max((r for r in ratios(w, h.baseline) if r is not None), default=0.0)
    critical = worst >= policy.critical_ratio or (w.p95_ms or 0) >= 2 * policy.slo_p95_ms
    return (Severity.CRITICAL if critical else Severity.WARNING).value


def _data(
    h: AgentHealth, w: WindowStats, reasons: list[str], policy: DegradationPolicy
) -> dict[str, Any]:
    p95_ratio, mean_ratio = ratios(w, h.baseline)
    b = h.baseline
    return {
        "agent_id": h.agent_id,
        "window": w.as_data(),
        "reasons": reasons,
        "p95_ms": None if w.p95_ms is None else round(w.p95_ms, 1),
        "mean_ms": None if w.mean_ms is None else round(w.mean_ms, 1),
        "p95_ratio": None if p95_ratio is None else round(p95_ratio, 2),
        "mean_ratio": None if mean_ratio is None else round(mean_ratio, 2),
        "current_hour": h.current.as_data(),
        "last_hour": h.last_hour.as_data(),
        "last_24h": h.last_day.as_data(),
        "baseline_p95_ms": None if b is None or b.p95_ms is None else round(b.p95_ms, 1),
        "baseline_mean_ms": None if b is None else round(b.mean_ms, 1),
        "baseline_hours": None if b is None else b.hours,
        "slo_p95_ms": policy.slo_p95_ms,
        "p95_factor": policy.p95_factor,
        "mean_factor": policy.mean_factor,
    }


def degradation_draft(
    h: AgentHealth, w: WindowStats, reasons: list[str], policy: DegradationPolicy
) -> AlertDraft:
    """The alert of a degraded window (affected customers are added by the rule)."""
    b = h.baseline
    vs = f" vs a baseline of {_fmt(b.p95_ms)} / {_fmt(b.mean_ms)}" if b else ""
    message = (
        f"{h.agent_id} response times are degraded since {w.start:%Y-%m-%d %H:%M} UTC "
        f"({', '.join(reasons)}): p95 {_fmt(w.p95_ms)} and mean {_fmt(w.mean_ms)} over "
        f"{w.interactions:,} interactions ({w.start:%H:%M}-{w.end:%H:%M} UTC){vs} (p95 / mean, "
        f"median hour of the previous {policy.baseline_days} days); SLO p95 "
        f"{policy.slo_p95_ms:,.0f} ms."
    )
    return AlertDraft(
        alert_type=TYPE,
        severity=_severity(w, h, policy),
        subject=f"agent:{h.agent_id}",
        period_key=w.start.strftime("%Y-%m-%dT%H:00Z"),
        title=f"{h.agent_id} is slow: p95 {_fmt(w.p95_ms)} ({reasons[0]})"[:200],
        message=message,
        data=_data(h, w, reasons, policy),
        agent_id=h.agent_id,
    )


def _degraded(h: AgentHealth, policy: DegradationPolicy) -> tuple[WindowStats, list[str]] | None:
    """The earliest degraded window of the last complete hour and the hour in progress."""
    for w in (h.last_hour, h.current):
        reasons = breaches(w, h.baseline, policy)
        if reasons:
            return w, reasons
    return None


def _recovered(h: AgentHealth, alert: UsageAlert, policy: DegradationPolicy) -> bool:
    """A full hour started after the alert was raised is healthy, and so is the current one."""
    return (
        h.last_hour.start >= utc_hour(alert.created_at)
        and judgeable(h.last_hour, h.baseline, policy)
        and not breaches(h.last_hour, h.baseline, policy)
        and not breaches(h.current, h.baseline, policy)
    )


async def _with_customers(
    session: AsyncSession, draft: AlertDraft, since: datetime, ctx: RuleContext
) -> AlertDraft:
    policy = ctx.policy.degradation
    count, top = await affected_customers(
        session,
        agent_id=draft.agent_id or "",
        first_day=local_day(since, ctx.policy.tz),
        last_day=local_day(ctx.now, ctx.policy.tz),
        limit=policy.top_customers,
    )
    names = ", ".join(c["user_id"] for c in top[:3])
    message = f"{draft.message} {count} customers used it since {since:%Y-%m-%d}" + (
        f"; most active: {names}." if names else "."
    )
    data = {**draft.data, "affected_customers": count, "top_customers": top}
    return replace(draft, message=message, data=data)


async def degradation_rule(session: AsyncSession, ctx: RuleContext) -> Findings:
    """Raise or resolve per-agent performance-degradation alerts as of ``ctx.now``."""
    policy = ctx.policy.degradation
    alerts = await repo.alerts_of_type(
        session, alert_type=TYPE, dismissed_since=ctx.now - DISMISS_QUIET
    )
    by_agent: dict[str | None, UsageAlert] = {}
    for a in alerts:  # the open alert of each agent, else a recently dismissed one
        if a.agent_id not in by_agent or a.status != "dismissed":
            by_agent[a.agent_id] = a
    findings = Findings()
    for h in await agent_health(session, now=ctx.now, policy=policy, cache=ctx.baselines):
        alert = by_agent.get(h.agent_id)
        if alert is not None and alert.status != "dismissed":
            h = AgentHealth(h.agent_id, h.current, h.last_hour, h.last_day, frozen_baseline(alert))
            if _recovered(h, alert, policy):
                w = h.last_hour
                note = (
                    f"{h.agent_id} back to normal for the hour from {w.start:%Y-%m-%d %H:%M} UTC: "
                    f"p95 {_fmt(w.p95_ms)}, mean {_fmt(w.mean_ms)} over {w.interactions:,} "
                    "interactions"
                )
                findings.resolutions.append(Resolution(alert.id, note))
        elif alert is None and (found := _degraded(h, policy)) is not None:
            draft = degradation_draft(h, *found, policy)
            findings.drafts.append(await _with_customers(session, draft, found[0].start, ctx))
    return findings
