"""Alert services: evaluate rules, list alerts, and the lifecycle actions.

Every change of an alert is recorded in ``usage_alert_events`` with its actor (see
``flows``). Services flush, never commit; every change is announced as ``AlertsChanged``,
which the unit of work hands to its listeners after commit. ``wire_alerts`` makes stored
usage and recorded subscriptions re-evaluate usage-limit alerts in their own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import repository as repo
from nexus_crm.alerts.events import AlertsChanged
from nexus_crm.alerts.flows import apply_findings, move, views
from nexus_crm.alerts.rules import (
    SCHEDULED_RULES,
    AlertPolicy,
    Findings,
    RuleContext,
    limit_rule,
)
from nexus_crm.alerts.schemas import AlertChanges, AlertOut, StatusFilter
from nexus_crm.analytics import BaselineCache
from nexus_crm.customers.events import SubscriptionRecorded
from nexus_crm.errors import Conflict, InvalidInput, NotFound
from nexus_crm.ingest.events import UsageStored
from nexus_crm.kit.events import EventRoutes, dispatch
from nexus_crm.models import ALERT_STATUSES, OPEN_ALERT_STATUSES, UsageAlert

MAX_SNOOZE = timedelta(days=30)


async def evaluate_limit_alerts(
    session: AsyncSession, *, user_ids: Sequence[str], now: datetime, policy: AlertPolicy
) -> AlertChanges:
    """Raise or resolve usage-limit alerts of these customers for their current period."""
    if not user_ids:
        return AlertChanges()
    findings = await limit_rule(session, RuleContext(now=now, policy=policy, user_ids=user_ids))
    return await apply_findings(session, findings=findings, now=now)


async def evaluate_alerts(
    session: AsyncSession,
    *,
    now: datetime,
    policy: AlertPolicy,
    baselines: BaselineCache | None = None,
) -> AlertChanges:
    """Run every scheduled rule over all customers and apply what they found."""
    findings = Findings()
    ctx = RuleContext(now=now, policy=policy, baselines=baselines)
    for rule in SCHEDULED_RULES:
        findings.extend(await rule(session, ctx))
    return await apply_findings(session, findings=findings, now=now)


async def _locked(session: AsyncSession, alert_id: uuid.UUID) -> UsageAlert:
    alert = await repo.lock_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}", field="alert_id")
    return alert


def _check_from(alert: UsageAlert, allowed: Sequence[str], verb: str) -> None:
    if alert.status not in allowed:
        raise Conflict(
            f"cannot {verb} an alert that is {alert.status}; only {' or '.join(allowed)} "
            f"alerts can be {verb.rstrip('e')}ed",
            field="status",
            status=alert.status,
        )


async def _act(
    session: AsyncSession,
    alert_id: uuid.UUID,
    *,
    verb: str,
    allowed: Sequence[str],
    to: str | None,
    actor: str,
    now: datetime,
    note: str | None,
    until: datetime | None = None,
) -> AlertOut:
    alert = await _locked(session, alert_id)
    _check_from(alert, allowed, verb)
    action = f"{verb.rstrip('e')}ed"
    await move(
        session,
        alert,
        action=action,
        to=to or alert.status,
        actor=actor,
        now=now,
        note=note,
        until=until,
    )
    [changed] = await views(session, [alert])
    await dispatch(session, AlertsChanged(alerts=(changed,)))
    return changed


@dataclass(frozen=True)
class _Action:
    """A lifecycle action that moves an alert from one of ``allowed`` to ``to``."""

    verb: str
    allowed: Sequence[str]
    to: str

    async def __call__(
        self,
        session: AsyncSession,
        *,
        alert_id: uuid.UUID,
        actor: str,
        now: datetime,
        note: str | None = None,
    ) -> AlertOut:
        """Move the alert (409 from another status, 404 if unknown)."""
        return await _act(
            session,
            alert_id,
            verb=self.verb,
            allowed=self.allowed,
            to=self.to,
            actor=actor,
            now=now,
            note=note,
        )


# Only an active alert is acknowledged; any open one is resolved (raised again later if its
# condition still holds) or dismissed (not raised again in the same period).
acknowledge_alert = _Action("acknowledge", ("active",), "acknowledged")
resolve_alert = _Action("resolve", OPEN_ALERT_STATUSES, "resolved")
dismiss_alert = _Action("dismiss", OPEN_ALERT_STATUSES, "dismissed")


async def snooze_alert(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    actor: str,
    now: datetime,
    until: datetime | None,
    note: str | None = None,
) -> AlertOut:
    """Hide an open alert from the default list until ``until`` (at most 30 days ahead)."""
    if until is None:
        raise InvalidInput("snooze needs 'until', a future time", field="until")
    if until.tzinfo is None or until <= now or until > now + MAX_SNOOZE:
        raise InvalidInput(
            f"until must be a time with an offset, after now and at most {MAX_SNOOZE.days} "
            "days ahead",
            field="until",
        )
    return await _act(
        session,
        alert_id,
        verb="snooze",
        allowed=OPEN_ALERT_STATUSES,
        to=None,
        actor=actor,
        now=now,
        note=note,
        until=until,
    )


async def get_alert(session: AsyncSession, *, alert_id: uuid.UUID) -> AlertOut:
    """One alert with its history; 404 if unknown."""
    alert = await repo.get_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}", field="alert_id")
    return (await views(session, [alert]))[0]


async def list_alerts(
    session: AsyncSession,
    *,
    status: StatusFilter = StatusFilter.OPEN,
    alert_type: str | None = None,
    user_id: str | None = None,
    include_snoozed: bool = False,
    limit: int = 100,
    now: datetime,
) -> list[AlertOut]:
    """Alerts newest first; by default the open ones that are not snoozed at ``now``."""
    statuses: Sequence[str] | None = {
        StatusFilter.OPEN: OPEN_ALERT_STATUSES,
        StatusFilter.ALL: None,
    }.get(status, (status.value,))
    assert statuses is None or set(statuses) <= set(ALERT_STATUSES)
    alerts = await repo.list_alerts(
        session,
        statuses=statuses,
        alert_type=alert_type,
        user_id=user_id,
        visible_at=None if include_snoozed else now,
        limit=limit,
    )
    return await views(session, alerts)


def wire_alerts(routes: EventRoutes, policy: AlertPolicy) -> None:
    """Usage stored or a subscription recorded: re-evaluate those customers' limit alerts."""

    async def on_usage(session: AsyncSession, event: UsageStored) -> None:
        await evaluate_limit_alerts(session, user_ids=event.user_ids, now=event.at, policy=policy)

    async def on_subscription(session: AsyncSession, event: SubscriptionRecorded) -> None:
        user_ids = [event.user_id]
        await evaluate_limit_alerts(session, user_ids=user_ids, now=event.at, policy=policy)

    routes.handle(UsageStored, on_usage)
    routes.handle(SubscriptionRecorded, on_subscription)
