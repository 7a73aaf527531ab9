"""Closer services: start, list, cancel and mark replied upsell sequences; convert; auto-upsell.

Services flush, never commit; the caller owns the transaction. Messages go out from the
worker (``worker.py``), after the claim is committed. ``wire_closer`` ends a sequence as
converted or cancelled in the very transaction that changed its customer's subscription.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.closer import repository as repo
from nexus_crm.closer.flows import end, log_transitions, new_steps, transition, views
from nexus_crm.closer.schemas import SYSTEM, SequenceOut, SequenceStatus, StartResult
from nexus_crm.customers.events import SubscriptionsChanged
from nexus_crm.errors import Conflict, InvalidInput, NotFound
from nexus_crm.kit.events import EventRoutes
from nexus_crm.kit.ids import uuid7
from nexus_crm.models import UpsellSequence, UsageTierLimit
from nexus_crm.settings import Settings
from nexus_crm.tiers import service as tier_service


@dataclass(frozen=True)
class SequencePlan:
    """How new sequences are scheduled and delivered."""

    step_days: tuple[int, ...] = (0, 3, 7)
    channel: str = "email"

    @classmethod
    def from_settings(cls, settings: Settings) -> SequencePlan:
        """The plan of UPSELL_STEP_DAYS and UPSELL_CHANNEL."""
        return cls(step_days=tuple(settings.step_days), channel=settings.upsell_channel)


@dataclass(frozen=True)
class Starter:
    """Who starts a sequence: the audit actor, and whether no human was involved."""

    actor: str
    automatic: bool = False
    alert_id: uuid.UUID | None = None


async def _tiers(session: AsyncSession, current: str, wanted: str) -> UsageTierLimit:
    tiers = {t.tier: t for t in await tier_service.tier_rows(session)}
    target = tiers.get(wanted)
    if target is None:
        known = ", ".join(tiers)
        raise InvalidInput(
            f"unknown tier {wanted!r}; known tiers: {known}", field="recommended_tier"
        )
    now_on = tiers.get(current)
    if now_on is not None and target.rank <= now_on.rank:
        raise InvalidInput(
            f"recommended tier {target.tier!r} is not above the customer's current tier "
            f"{current!r}",
            field="recommended_tier",
        )
    return target


async def _insert_sequence(
    session: AsyncSession,
    seq: UpsellSequence,
    *,
    by: Starter,
    now: datetime,
    plan: SequencePlan,
) -> None:
    """Store a new sequence with its scheduled steps and its ``started`` transition."""
    await repo.add(session, [seq])
    await repo.add(session, new_steps(seq.id, start=now, days=plan.step_days, channel=plan.channel))
    row = transition(
        seq.id,
        "started",
        None,
        "active",
        actor=by.actor,
        at=now,
        automatic=by.automatic,
        note=seq.reason,
    )
    await log_transitions(session, [row])


async def start_sequence(
    session: AsyncSession,
    *,
    user_id: str,
    recommended_tier: str,
    reason: str,
    by: Starter,
    now: datetime,
    plan: SequencePlan,
) -> StartResult:
    """Start a customer's upsell sequence, or return the active one (idempotent)."""
    customer = await repo.lock_customer(session, user_id)
    if customer is None:
        raise NotFound(f"no customer with user_id {user_id!r}", field="user_id")
    target = await _tiers(session, customer.tier, recommended_tier.strip().lower())
    if customer.status != "active":
        raise Conflict(f"customer {user_id!r} is {customer.status}, not active", field="user_id")
    existing = await repo.active_sequence(session, user_id)
    if existing is not None:
        return StartResult(sequence=(await views(session, [existing]))[0], created=False)
    seq = UpsellSequence(
        id=uuid7(),
        user_id=user_id,
        current_tier=customer.tier,
        recommended_tier=target.tier,
        reason=reason.strip()[:500],
        status="active",
        automatic=by.automatic,
        alert_id=by.alert_id,
        created_by=by.actor,
        created_at=now,
        updated_at=now,
    )
    await _insert_sequence(session, seq, by=by, now=now, plan=plan)
    return StartResult(sequence=(await views(session, [seq]))[0], created=True)


async def get_sequence(session: AsyncSession, *, sequence_id: uuid.UUID) -> SequenceOut:
    """One sequence with its steps and audit trail; 404 if unknown."""
    seq = _found(await repo.get_sequence(session, sequence_id), sequence_id)
    return (await views(session, [seq]))[0]


def _found(seq: UpsellSequence | None, sequence_id: uuid.UUID) -> UpsellSequence:
    if seq is None:
        raise NotFound(f"no upsell sequence with id {sequence_id}", field="sequence_id")
    return seq


async def list_sequences(
    session: AsyncSession,
    *,
    status: SequenceStatus | None = None,
    user_id: str | None = None,
    limit: int = 100,
) -> list[SequenceOut]:
    """Sequences newest first, optionally of one status or customer."""
    found = await repo.list_sequences(
        session, status=status.value if status else None, user_id=user_id, limit=limit
    )
    return await views(session, found)


async def end_sequence(
    session: AsyncSession,
    *,
    sequence_id: uuid.UUID,
    to: Literal["cancelled", "replied"],
    actor: str,
    now: datetime,
    note: str | None = None,
) -> SequenceOut:
    """End an active sequence: cancelled (unsent steps skipped) or replied (a human takes over)."""
    seq = _found(await repo.lock_sequence(session, sequence_id), sequence_id)
    if seq.status != "active":
        raise Conflict(
            f"the sequence is {seq.status}; only an active sequence can be {to}",
            field="status",
            status=seq.status,
        )
    await end(session, seq, to=to, actor=actor, now=now, note=note)
    return (await views(session, [seq]))[0]


async def follow_subscriptions(
    session: AsyncSession, *, user_ids: Sequence[str], now: datetime, follow_up_days: int = 30
) -> list[SequenceOut]:
    """End sequences whose customer reached the recommended tier (converted) or cancelled.

    Called in the transaction that changed the customers' tier or status. A completed
    sequence still converts within ``follow_up_days`` of its start.
    """
    found = await repo.open_sequences_of(session, user_ids, now - timedelta(days=follow_up_days))
    if not found:
        return []
    ranks = {t.tier: t.rank for t in await tier_service.tier_rows(session)}
    ended = []
    for seq, customer in found:
        reached = ranks.get(customer.tier, 0) >= ranks.get(seq.recommended_tier, 10**9)
        if customer.status == "active" and reached:
            note = f"customer is now on {customer.tier}"
            await end(session, seq, to="converted", actor=SYSTEM, now=now, note=note)
        elif customer.status != "active" and seq.status == "active":
            note = f"customer's subscription is {customer.status}"
            await end(session, seq, to="cancelled", actor=SYSTEM, now=now, note=note)
        else:
            continue
        ended.append(seq)
    return await views(session, ended)


def wire_closer(routes: EventRoutes, follow_up_days: int) -> None:
    """A customer's subscription changed: its upsell sequence may have converted or ended."""

    async def on_change(session: AsyncSession, event: SubscriptionsChanged) -> None:
        await follow_subscriptions(
            session, user_ids=event.user_ids, now=event.at, follow_up_days=follow_up_days
        )

    routes.handle(SubscriptionsChanged, on_change)
