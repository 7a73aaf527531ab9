"""The ``anomaly_detected`` rule: one alert per customer and day, one per agent and day.

The detector (``nexus_crm.analytics.anomalies``) flags customer × agent series and agents'
global series on each of the last ``lookback_days`` complete days. A customer's flagged
agents of one day make one alert (subject ``user:<id>``, period key the day); an agent's
global anomaly one alert (subject ``agent:<id>``). An anomaly is a fact about a past day,
so it is never resolved by the system, and a day already alerted (open, resolved or
dismissed) is never raised again: re-evaluating a day changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.rules.base import AlertDraft, Findings, RuleContext
from nexus_crm.alerts.schemas import AlertType, Severity
from nexus_crm.analytics import Anomaly, AnomalyConfig, detect_anomalies, yesterday

TYPE = AlertType.ANOMALY_DETECTED.value
CRITICAL_FACTOR = 3.0  # |z| ≥ 3 × the threshold (9 by default): critical


def _usual(a: Anomaly) -> float:
    """The series' usual day: the centre its method judges against."""
    return a.baseline.mean if a.method == "plain" else a.baseline.median


def _figures(a: Anomaly) -> dict[str, Any]:
    b = a.baseline
    return {
        "agent_id": a.agent_id,
        "direction": a.direction,
        "observed": a.observed,
        "baseline_mean": round(b.mean, 3),
        "baseline_median": b.median,
        "baseline_std": round(b.std, 3),
        "baseline_mad": b.mad,
        "baseline_days": b.days,
        "z": round(a.z, 3),
        "robust_z": round(a.robust_z, 3),
        "method": a.method,
    }


def describe(who: str, agents: Sequence[Anomaly], day: date) -> str:
    """One sentence: "cliente_x used NEXUS 6.2× more than usual on 2026-11-20 (62 vs ~10 a day)"."""
    names = ", ".join(a.agent_id for a in agents)
    seen, usual = sum(a.observed for a in agents), sum(_usual(a) for a in agents)
    if agents[0].direction == "spike":
        if usual < 1:
            return f"{who} used {names} {seen:,} times on {day}, against almost never before"
        return (
            f"{who} used {names} {seen / usual:.1f}× more than usual on {day} "
            f"({seen:,} vs ~{usual:,.0f} a day)"
        )
    if seen == 0:
        return f"{who} did not use {names} on {day} (usually ~{usual:,.0f} a day)"
    return (
        f"{who} used {names} {100 * (1 - seen / usual):.0f} % less than usual on {day} "
        f"({seen:,} vs ~{usual:,.0f} a day)"
    )


def _detail(a: Anomaly) -> str:
    return (
        f"{a.agent_id}: {a.observed:,} against a median of {a.baseline.median:g} and a mean of "
        f"{a.baseline.mean:.1f} over {a.baseline.days} days (z {a.z:.1f}, robust z "
        f"{a.robust_z:.1f})"
    )


def anomaly_draft(anomalies: Sequence[Anomaly], cfg: AnomalyConfig) -> AlertDraft:
    """The alert of one subject's anomalies of one day (one customer's agents, or one agent)."""
    first, day = anomalies[0], anomalies[0].day
    strongest = max(anomalies, key=lambda a: abs(a.score))
    lead = [a for a in anomalies if a.direction == strongest.direction]
    user = first.user_id
    who = user if user is not None else f"All customers together ({first.agent_id})"
    title = describe(who if user is not None else "All customers", lead, day)
    critical = abs(strongest.score) >= CRITICAL_FACTOR * cfg.z_threshold
    directions = {a.direction for a in anomalies}
    return AlertDraft(
        alert_type=TYPE,
        severity=(Severity.CRITICAL if critical else Severity.WARNING).value,
        subject=f"user:{user}" if user is not None else f"agent:{first.agent_id}",
        period_key=day.isoformat(),
        title=title[:200],
        message=f"{title}. " + "; ".join(_detail(a) for a in anomalies) + ".",
        data={
            "day": day.isoformat(),
            "direction": strongest.direction if len(directions) == 1 else "mixed",
            "agents": [_figures(a) for a in anomalies],
            "observed": sum(a.observed for a in anomalies),
            "z": round(strongest.z, 3),
            "robust_z": round(strongest.robust_z, 3),
            "z_threshold": cfg.z_threshold,
            "min_excess": cfg.min_excess,
        },
        user_id=user,
        agent_id=first.agent_id if user is None else None,
    )


def anomaly_drafts(found: Sequence[Anomaly], cfg: AnomalyConfig) -> list[AlertDraft]:
    """One draft per (subject, day): a customer's agents together (strongest first), each
    agent's global series alone."""
    groups: dict[tuple[str, date], list[Anomaly]] = defaultdict(list)
    for a in found:
        subject = f"user:{a.user_id}" if a.user_id is not None else f"agent:{a.agent_id}"
        groups[(subject, a.day)].append(a)
    return [
        anomaly_draft(sorted(group, key=lambda a: (-abs(a.score), a.agent_id)), cfg)
        for _, group in sorted(groups.items())
    ]


async def anomaly_rule(session: AsyncSession, ctx: RuleContext) -> Findings:
    """Anomaly alerts of the last ``lookback_days`` complete days not alerted before."""
    cfg = ctx.policy.anomaly
    last = yesterday(ctx.now, ctx.policy.tz)
    first = last - timedelta(days=max(1, cfg.lookback_days) - 1)
    found = await detect_anomalies(session, start=first, end=last, config=cfg)
    if ctx.user_ids is not None:
        wanted = set(ctx.user_ids)
        found = [a for a in found if a.user_id in wanted]
    drafts = anomaly_drafts(found, cfg)
    days = sorted({d.period_key for d in drafts})
    done = await repo.alerted_keys(session, alert_type=TYPE, period_keys=days)
    return Findings(drafts=[d for d in drafts if (d.subject, d.period_key) not in done])
