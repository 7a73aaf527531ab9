"""How alerts change: raised idempotently, moved between statuses, each step recorded.

Used by the alert services; every function flushes and never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.events import AlertsChanged
from nexus_crm.alerts.rules import AlertDraft, Findings, Resolution
from nexus_crm.alerts.schemas import AlertChanges, AlertOut, TransitionOut
from nexus_crm.audit.service import record_many
from nexus_crm.kit.events import dispatch
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.transitions import audit_entry, transition_row
from nexus_crm.models import OPEN_ALERT_STATUSES, UsageAlert

SYSTEM = "system"


def _raised(alert_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    row = transition_row("alert", alert_id, "raised", None, "active", actor=SYSTEM, at=now)
    row.update(note=None, snoozed_until=None)
    return row


def _audit_entry(row: dict[str, Any]) -> dict[str, Any]:
    entry = audit_entry("alert", row, {"from": row["from_status"], "to": row["to_status"]})
    if row["snoozed_until"] is not None:
        entry["details"]["snoozed_until"] = row["snoozed_until"].isoformat()
    return entry


async def log_transitions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record alert transitions in the alert's history and in the audit trail."""
    await repo.add_transitions(session, rows)
    await record_many(session, [_audit_entry(r) for r in rows])


async def views(session: AsyncSession, alerts: Sequence[UsageAlert]) -> list[AlertOut]:
    """API views of alerts, each with its history."""
    history = await repo.transitions_of(session, [a.id for a in alerts])
    return [
        AlertOut.model_validate(a).model_copy(
            update={"history": [TransitionOut.model_validate(t) for t in history[a.id]]}
        )
        for a in alerts
    ]


async def raise_alerts(
    session: AsyncSession, *, drafts: Sequence[AlertDraft], now: datetime
) -> list[AlertOut]:
    """Insert drafts that have no open twin (same type, subject, period); the raised ones."""
    rows = [
        {
            "id": uuid7(),
            "alert_type": d.alert_type,
            "severity": d.severity,
            "status": "active",
            "subject": d.subject,
            "user_id": d.user_id,
            "agent_id": d.agent_id,
            "period_key": d.period_key,
            "title": d.title,
            "message": d.message,
            "data": d.data,
            "created_at": now,
            "updated_at": now,
        }
        for d in sorted(drafts, key=lambda d: d.key)  # a fixed lock order
    ]
    new = await repo.insert_alerts(session, rows)
    if not new:
        return []
    await log_transitions(session, [_raised(alert_id, now) for alert_id in sorted(new)])
    return await views(session, await repo.alerts_by_id(session, sorted(new)))


async def move(
    session: AsyncSession,
    alert: UsageAlert,
    *,
    action: str,
    to: str,
    actor: str,
    now: datetime,
    note: str | None = None,
    until: datetime | None = None,
) -> None:
    """Set an alert's new status and timestamps; record the transition."""
    before = alert.status
    alert.status, alert.updated_at = to, now
    stamp = {
        "acknowledged": "acknowledged_at",
        "resolved": "resolved_at",
        "dismissed": "dismissed_at",
    }.get(to)
    if stamp and to != before:
        setattr(alert, stamp, now)
    if action == "snoozed":
        alert.snoozed_until = until
    await repo.save(session)
    row = transition_row(
        "alert", alert.id, action, before, to, actor=actor, at=now, note=note, snoozed_until=until
    )
    await log_transitions(session, [row])


async def resolve_automatically(
    session: AsyncSession, *, resolutions: Sequence[Resolution], now: datetime
) -> list[AlertOut]:
    """Resolve open alerts whose condition cleared (actor ``system``); the resolved ones."""
    done: list[UsageAlert] = []
    for r in sorted(resolutions, key=lambda r: r.alert_id):  # a fixed lock order
        alert = await repo.lock_alert(session, r.alert_id)
        if alert is None or alert.status not in OPEN_ALERT_STATUSES:
            continue  # closed by someone else meanwhile
        await move(
            session, alert, action="resolved", to="resolved", actor=SYSTEM, now=now, note=r.note
        )
        done.append(alert)
    return await views(session, done)


async def apply_findings(
    session: AsyncSession, *, findings: Findings, now: datetime
) -> AlertChanges:
    """Resolve what cleared, then raise what is new (resolutions first: a fixed lock order).

    What changed is announced (``AlertsChanged``: the live stream hears of it after commit).
    """
    resolved = await resolve_automatically(session, resolutions=findings.resolutions, now=now)
    raised = await raise_alerts(session, drafts=findings.drafts, now=now)
    changes = AlertChanges(raised=raised, resolved=resolved)
    if changes.all:
        await dispatch(session, AlertsChanged(alerts=tuple(changes.all)))
    return changes
