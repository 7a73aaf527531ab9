"""All SQL of the alerts domain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.sql import insert_ignore_returning
from nexus_crm.models import (
    OPEN_ALERT_STATUSES,
    Customer,
    UsageAlert,
    UsageAlertEvent,
    UsageTierLimit,
    agent_usage_daily,
)

ALERT_TABLE = cast(Table, UsageAlert.__table__)
EVENT_TABLE = cast(Table, UsageAlertEvent.__table__)
# The WHERE of the partial unique index uq_usage_alerts_open (migration 0001).
OPEN_WHERE = text("status IN ('active', 'acknowledged')")
D = agent_usage_daily.c


async def customers_with_tiers(
    session: AsyncSession, user_ids: Sequence[str]
) -> list[tuple[Customer, UsageTierLimit | None]]:
    """Customers among ``user_ids`` with their tier's limits (None: tier not configured).

    Erased customers' anonymous rows (status ``erased``, docs/security.md) are left out.
    """
    stmt = (
        select(Customer, UsageTierLimit)
        .outerjoin(UsageTierLimit, UsageTierLimit.tier == Customer.tier)
        .where(Customer.user_id.in_(list(user_ids)), Customer.status != "erased")
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def period_totals(
    session: AsyncSession, user_ids: Sequence[str], start: date, end_exclusive: date
) -> dict[str, tuple[int, int]]:
    """(tokens, interactions) per customer with ``start <= day < end_exclusive``."""
    stmt = (
        select(D.user_id, func.sum(D.tokens), func.sum(D.interactions))
        .where(D.user_id.in_(list(user_ids)), D.day >= start, D.day < end_exclusive)
        .group_by(D.user_id)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in (await session.execute(stmt)).all()}


async def limit_candidates(
    session: AsyncSession, *, since: date, alert_types: Sequence[str]
) -> list[str]:
    """Customers with use since ``since`` or an open alert of ``alert_types``, sorted."""
    used = select(D.user_id).where(D.day >= since)
    alerted = select(UsageAlert.user_id).where(
        UsageAlert.status.in_(OPEN_ALERT_STATUSES),
        UsageAlert.alert_type.in_(list(alert_types)),
        UsageAlert.user_id.is_not(None),
    )
    rows = (await session.execute(union(used, alerted))).scalars().all()
    return sorted(cast(list[str], rows))


async def user_alerts(
    session: AsyncSession,
    *,
    user_ids: Sequence[str],
    alert_types: Sequence[str],
    dismissed_in: Sequence[str],
) -> list[UsageAlert]:
    """Open alerts of these users and types, and those dismissed in ``dismissed_in`` periods."""
    stmt = select(UsageAlert).where(
        UsageAlert.user_id.in_(list(user_ids)),
        UsageAlert.alert_type.in_(list(alert_types)),
        or_(
            UsageAlert.status.in_(OPEN_ALERT_STATUSES),
            (UsageAlert.status == "dismissed") & UsageAlert.period_key.in_(list(dismissed_in)),
        ),
    )
    return list((await session.scalars(stmt)).all())


async def insert_alerts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
    """Insert alerts unless an open one has the same (type, subject, period); the new ids."""
    inserted = await insert_ignore_returning(
        session,
        ALERT_TABLE,
        rows,
        conflict=("alert_type", "subject", "period_key"),
        conflict_where=OPEN_WHERE,
        returning=("id",),
    )
    return {r.id for r in inserted}


async def add_transitions(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record alert transitions."""
    if rows:
        await session.execute(insert(EVENT_TABLE), list(rows))


async def lock_alert(session: AsyncSession, alert_id: uuid.UUID) -> UsageAlert | None:
    """One alert, locked for update and read fresh.

    On PostgreSQL a concurrent transition of the same alert waits here and then sees the
    committed status, so two transitions cannot both start from the same status.
    """
    stmt = select(UsageAlert).where(UsageAlert.id == alert_id).with_for_update()
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return result.scalars().one_or_none()


async def save(session: AsyncSession) -> None:
    """Flush changed alerts."""
    await session.flush()


async def get_alert(session: AsyncSession, alert_id: uuid.UUID) -> UsageAlert | None:
    """One alert by id."""
    return await session.get(UsageAlert, alert_id, populate_existing=True)


async def list_alerts(
    session: AsyncSession,
    *,
    statuses: Sequence[str] | None,
    alert_type: str | None,
    user_id: str | None,
    visible_at: datetime | None,
    limit: int,
) -> list[UsageAlert]:
    """Alerts newest first; ``visible_at``: leave out open ones snoozed beyond that instant."""
    stmt = select(UsageAlert)
    if statuses is not None:
        stmt = stmt.where(UsageAlert.status.in_(list(statuses)))
    if alert_type is not None:
        stmt = stmt.where(UsageAlert.alert_type == alert_type)
    if user_id is not None:
        stmt = stmt.where(UsageAlert.user_id == user_id)
    if visible_at is not None:  # a snooze hides open alerts only
        stmt = stmt.where(
            or_(
                UsageAlert.status.not_in(OPEN_ALERT_STATUSES),
                UsageAlert.snoozed_until.is_(None),
                UsageAlert.snoozed_until <= visible_at,
            )
        )
    stmt = stmt.order_by(UsageAlert.created_at.desc(), UsageAlert.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def transitions_of(
    session: AsyncSession, alert_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[UsageAlertEvent]]:
    """The transitions of each alert, oldest first."""
    out: dict[uuid.UUID, list[UsageAlertEvent]] = {i: [] for i in alert_ids}
    if not alert_ids:
        return out
    stmt = (
        select(UsageAlertEvent)
        .where(UsageAlertEvent.alert_id.in_(list(alert_ids)))
        .order_by(UsageAlertEvent.at, UsageAlertEvent.id)
    )
    for ev in (await session.scalars(stmt)).all():
        out[ev.alert_id].append(ev)
    return out


async def alerts_by_id(session: AsyncSession, alert_ids: Sequence[uuid.UUID]) -> list[UsageAlert]:
    """Alerts by id (fresh from the database), in id order."""
    if not alert_ids:
        return []
    stmt = select(UsageAlert).where(UsageAlert.id.in_(list(alert_ids))).order_by(UsageAlert.id)
    result = await session.execute(stmt, execution_options={"populate_existing": True})
    return list(result.scalars().all())


async def alerts_of_type(
    session: AsyncSession,
    *,
    alert_type: str,
    dismissed_in: Sequence[str] = (),
    dismissed_since: datetime | None = None,
) -> list[UsageAlert]:
    """Open alerts of a type, and those dismissed in ``dismissed_in`` periods or since then."""
    dismissed = UsageAlert.status == "dismissed"
    kept: list[Any] = [UsageAlert.status.in_(OPEN_ALERT_STATUSES)]
    if dismissed_in:
        kept.append(dismissed & UsageAlert.period_key.in_(list(dismissed_in)))
    if dismissed_since is not None:
        kept.append(dismissed & (UsageAlert.dismissed_at >= dismissed_since))
    stmt = select(UsageAlert).where(UsageAlert.alert_type == alert_type, or_(*kept))
    return list((await session.scalars(stmt.order_by(UsageAlert.id))).all())


async def alerted_keys(
    session: AsyncSession, *, alert_type: str, period_keys: Sequence[str]
) -> set[tuple[str, str]]:
    """(subject, period_key) of every alert of a type in these periods, whatever its status."""
    if not period_keys:
        return set()
    stmt = select(UsageAlert.subject, UsageAlert.period_key).where(
        UsageAlert.alert_type == alert_type, UsageAlert.period_key.in_(list(period_keys))
    )
    return {(r[0], r[1]) for r in (await session.execute(stmt)).all()}
