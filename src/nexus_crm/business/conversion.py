"""Conversion per tier: upgrade attempts and whether the customer moved up afterwards.

Two sources of attempts, each with its own rows: ``upgrade_alerts`` (an
``upgrade_opportunity`` alert, judged by the subscription history) and ``upsell_sequences``
(an NGX_Closer sequence, judged by its own status, which the ingest path sets to converted
in the transaction that moves the customer up). Definitions: docs/business-metrics.md.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts.schemas import AlertType
from nexus_crm.analytics.schemas import Window
from nexus_crm.business import repository as repo
from nexus_crm.business.schemas import TierConversion
from nexus_crm.kit.time import day_start
from nexus_crm.models import UpsellSequence, UsageTierLimit
from nexus_crm.tiers import service as tier_service

CHUNK_USERS = 2000
UPGRADE_ALERT = AlertType.UPGRADE_OPPORTUNITY.value
Outcome = Literal["converted", "pending", "lost"]


@dataclass(frozen=True)
class Attempt:
    """An upgrade attempt: an upgrade_opportunity alert (later also an upsell sequence)."""

    user_id: str
    tier: str
    recommended_tier: str
    started_at: datetime


async def alert_attempts(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> list[Attempt]:
    """Upgrade-opportunity alerts raised in ``[start_at, end_at)`` as attempts."""
    out = []
    for r in await repo.alerts_raised(session, UPGRADE_ALERT, start_at, end_at):
        data: dict[str, Any] = r.data if isinstance(r.data, dict) else {}
        tier, target = data.get("tier"), data.get("recommended_tier")
        if r.user_id and tier and target:  # the rule always records both; be safe anyway
            out.append(Attempt(r.user_id, str(tier), str(target), r.created_at))
    return out


async def changes_after(session: AsyncSession, attempts: Sequence[Attempt]) -> dict[str, list[Any]]:
    """Subscription changes of the attempts' customers since the first attempt, per customer."""
    out: dict[str, list[Any]] = defaultdict(list)
    if not attempts:
        return out
    since = min(a.started_at for a in attempts)
    users = sorted({a.user_id for a in attempts})
    for i in range(0, len(users), CHUNK_USERS):
        for r in await repo.tier_changes_since(session, users[i : i + CHUNK_USERS], since):
            out[r.user_id].append(r)
    return out


def outcome(
    a: Attempt, changes: Sequence[Any], ranks: dict[str, int], follow_up_days: int, now: datetime
) -> Outcome:
    """Converted: active on the recommended tier or higher within the follow-up days."""
    deadline = a.started_at + timedelta(days=follow_up_days)
    target = ranks.get(a.recommended_tier)
    for c in changes:
        reached = target is not None and ranks.get(c.to_tier, 0) >= target
        if reached and c.to_status == "active" and a.started_at <= c.changed_at <= deadline:
            return "converted"
    return "pending" if deadline > now else "lost"


def conversion_table(
    source: Literal["upgrade_alerts", "upsell_sequences"],
    outcomes: Sequence[tuple[str, Outcome]],
    tiers: Sequence[UsageTierLimit],
) -> list[TierConversion]:
    """Per starting tier (every tier below the top, and any tier seen): counts and rate."""
    counts = Counter(outcomes)
    top = max((t.rank for t in tiers), default=0)
    names = {t.tier: t.display_name for t in tiers if t.rank < top}
    names.update({tier: tier for tier, _ in outcomes if tier not in names})
    order = {t.tier: t.rank for t in tiers}
    rows = []
    for tier in sorted(names, key=lambda t: (order.get(t, top + 1), t)):
        conv, pend = counts[(tier, "converted")], counts[(tier, "pending")]
        started = conv + pend + counts[(tier, "lost")]
        decided = started - pend
        rows.append(
            TierConversion(
                source=source,
                tier=tier,
                tier_name=names[tier],
                started=started,
                converted=conv,
                pending=pend,
                rate=round(conv / decided, 4) if decided else None,
            )
        )
    return rows


def sequence_outcome(seq: UpsellSequence, follow_up_days: int, now: datetime) -> Outcome:
    """Converted as the sequence says; pending while active or completed in the follow-up."""
    if seq.status == "converted":
        return "converted"
    if seq.status == "active":
        return "pending"
    open_until = seq.created_at + timedelta(days=follow_up_days)
    return "pending" if seq.status == "completed" and open_until > now else "lost"


async def sequence_rates(
    session: AsyncSession,
    *,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
    follow_up_days: int,
    tiers: Sequence[UsageTierLimit],
) -> list[TierConversion]:
    """Conversion of the upsell sequences started in ``[start_at, end_at)``, per starting tier."""
    started = await repo.sequences_started_between(session, start_at, end_at)
    outcomes = [(s.current_tier, sequence_outcome(s, follow_up_days, now)) for s in started]
    return conversion_table("upsell_sequences", outcomes, tiers)


async def conversion_rates(
    session: AsyncSession, *, w: Window, tz: ZoneInfo, now: datetime, follow_up_days: int
) -> list[TierConversion]:
    """Conversion of the attempts started in the window, per source and starting tier."""
    start_at, end_at = day_start(w.start, tz), day_start(w.end + timedelta(days=1), tz)
    attempts = await alert_attempts(session, start_at, end_at)
    changes = await changes_after(session, attempts)
    tiers = list(await tier_service.tier_rows(session))
    ranks = {t.tier: t.rank for t in tiers}
    outcomes = [
        (a.tier, outcome(a, changes.get(a.user_id, []), ranks, follow_up_days, now))
        for a in attempts
    ]
    by_sequences = await sequence_rates(
        session,
        start_at=start_at,
        end_at=end_at,
        now=now,
        follow_up_days=follow_up_days,
        tiers=tiers,
    )
    return conversion_table("upgrade_alerts", outcomes, tiers) + by_sequences
