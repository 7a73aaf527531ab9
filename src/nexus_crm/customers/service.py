"""Subscription state: customers' tier and status over time, from events and GENESIS.

Every change is recorded at the source's own timestamp, so "what was this customer's tier
on day D" is the latest change at or before D. The ``customers`` row holds the newest
state; information older than that state (a late event, a history import) goes into the
history without overwriting it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.customers import repository as repo
from nexus_crm.customers.events import SubscriptionsChanged
from nexus_crm.customers.schemas import SubscriptionIn, SubscriptionResult
from nexus_crm.kit.events import dispatch
from nexus_crm.kit.ids import uuid7
from nexus_crm.models import Customer, SubscriptionChange

State = tuple[str | None, str | None]  # (tier, status)
NO_STATE: State = (None, None)


def _change(
    user_id: str, before: State, after: tuple[str, str], at: datetime, source: str
) -> SubscriptionChange:
    return SubscriptionChange(
        id=uuid7(),
        user_id=user_id,
        from_tier=before[0],
        to_tier=after[0],
        from_status=before[1],
        to_status=after[1],
        changed_at=at,
        source=source,
    )


async def _ensure_customers(
    session: AsyncSession,
    first_seen: Mapping[str, tuple[datetime, str, str]],
    now: datetime,
    source: str,
) -> tuple[dict[str, Customer], list[SubscriptionChange]]:
    """Create missing customers, then lock them all; return them and their creation changes.

    No lock is taken before the inserts, and both the inserts and the locks go in user_id
    order: locking existing rows first and inserting after could deadlock on PostgreSQL
    with a concurrent batch creating the same customers.
    """
    missing = sorted(set(first_seen) - await repo.existing_customers(session, list(first_seen)))
    created: set[str] = set()
    if missing:
        rows = [
            {
                "id": uuid7(),
                "user_id": u,
                "tier": first_seen[u][1],
                "status": first_seen[u][2],
                "state_at": first_seen[u][0],
                "created_at": now,
                "updated_at": now,
            }
            for u in missing
        ]
        created = await repo.create_customers(session, rows)
    customers = await repo.lock_customers(session, list(first_seen))
    changes = [
        _change(u, NO_STATE, (first_seen[u][1], first_seen[u][2]), first_seen[u][0], source)
        for u in sorted(created)
    ]
    return customers, changes


async def observe_tiers(
    session: AsyncSession,
    observations: Mapping[str, Sequence[tuple[datetime, str]]],
    *,
    now: datetime,
) -> None:
    """Apply the tiers seen on usage events: create customers, record newer tier changes.

    Customers whose tier changed are announced (``SubscriptionsChanged``): an upsell
    sequence whose customer now has the recommended tier ends as converted.
    """
    if not observations:
        return
    ordered = {u: sorted(obs) for u, obs in observations.items()}
    first = {u: (obs[0][0], obs[0][1], "active") for u, obs in ordered.items()}
    customers, changes = await _ensure_customers(session, first, now, "usage_event")
    for user_id, obs in ordered.items():
        c = customers[user_id]
        for at, tier in obs:
            if at > c.state_at and tier != c.tier:
                changes.append(
                    _change(user_id, (c.tier, c.status), (tier, c.status), at, "usage_event")
                )
                c.tier, c.state_at = tier, at
    await repo.add_changes(session, changes)
    upgraded = tuple(sorted({ch.user_id for ch in changes if ch.from_tier is not None}))
    if upgraded:
        await dispatch(session, SubscriptionsChanged(user_ids=upgraded, at=now))


async def _history_change(
    session: AsyncSession, sub: SubscriptionIn, at: datetime
) -> list[SubscriptionChange]:
    """The change this update records, unless the state at ``at`` already matches it.

    A change into this very state at this very instant is a repeat too: with two updates
    at the same timestamp, "the state at ``at``" is the later one, so a second delivery (or
    import) of the first would otherwise be recorded again.
    """
    if await repo.change_exists(session, sub.user_id, at, (sub.tier, sub.status)):
        return []
    before = await repo.state_at(session, sub.user_id, at)
    state: State = (before.to_tier, before.to_status) if before else NO_STATE
    if state == (sub.tier, sub.status):
        return []
    return [_change(sub.user_id, state, (sub.tier, sub.status), at, "subscription")]


async def apply_subscription(
    session: AsyncSession,
    sub: SubscriptionIn,
    *,
    received_at: datetime,
) -> SubscriptionResult:
    """Record a subscription update at its own timestamp; update the customer if newest.

    A recorded change is announced (``SubscriptionsChanged``): the customer's upsell
    sequence ends as converted or cancelled when the state calls for it.
    """
    at = sub.timestamp or received_at
    first = {sub.user_id: (at, sub.tier, sub.status)}
    customers, changes = await _ensure_customers(session, first, received_at, "subscription")
    c = customers[sub.user_id]
    if not changes:
        changes = await _history_change(session, sub, at)
        if changes and at >= c.state_at and (c.tier, c.status) != (sub.tier, sub.status):
            c.tier, c.status, c.state_at = sub.tier, sub.status, at
    c.email = sub.email or c.email
    c.name = sub.name or c.name
    c.billing_anchor_day = sub.billing_anchor_day or c.billing_anchor_day
    await repo.add_changes(session, changes)
    if changes:
        await dispatch(session, SubscriptionsChanged(user_ids=(c.user_id,), at=received_at))
    return SubscriptionResult(
        user_id=c.user_id, tier=c.tier, status=c.status, changed=bool(changes)
    )
