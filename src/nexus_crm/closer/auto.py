"""Auto-upsell (the seed's Phase 3, off by default): upgrade alerts start sequences.

After each alert evaluation, every newly raised ``upgrade_opportunity`` alert at or above
AUTO_UPSELL_MIN_CONFIDENCE starts a sequence with no human, most confident first, until
AUTO_UPSELL_DAILY_CAP automatic sequences were started today (NEXUS_CRM_TIMEZONE). Each is
recorded with actor ``system:auto-upsell`` and ``automatic = true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts.schemas import AlertOut, AlertType
from nexus_crm.closer import repository as repo
from nexus_crm.closer.schemas import AUTO_UPSELL_ACTOR, SequenceOut
from nexus_crm.closer.service import SequencePlan, Starter, start_sequence
from nexus_crm.errors import NexusError
from nexus_crm.kit.time import day_start, local_day
from nexus_crm.settings import Settings

log = logging.getLogger("nexus_crm.closer.auto")
UPGRADE = AlertType.UPGRADE_OPPORTUNITY.value
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class AutoUpsellPolicy:
    """Whether auto-upsell runs, from which confidence, and how many a day."""

    enabled: bool = False
    min_confidence: float = 0.8
    daily_cap: int = 20
    tz: ZoneInfo = UTC_ZONE

    @classmethod
    def from_settings(cls, settings: Settings) -> AutoUpsellPolicy:
        """The policy of the AUTO_UPSELL_* settings."""
        return cls(
            enabled=settings.auto_upsell_enabled,
            min_confidence=settings.auto_upsell_min_confidence,
            daily_cap=settings.auto_upsell_daily_cap,
            tz=settings.tz,
        )


def _confidence(alert: AlertOut) -> float:
    value = alert.data.get("confidence")
    return float(value) if isinstance(value, int | float) else 0.0


def candidates(alerts: Sequence[AlertOut], policy: AutoUpsellPolicy) -> list[AlertOut]:
    """Active upgrade alerts at or above the confidence threshold, most confident first."""
    found = [
        a
        for a in alerts
        if a.alert_type == UPGRADE
        and a.status == "active"
        and a.user_id
        and a.data.get("recommended_tier")
        and _confidence(a) >= policy.min_confidence
    ]
    return sorted(found, key=lambda a: (-_confidence(a), str(a.id)))


async def _start_for(
    session: AsyncSession, alert: AlertOut, *, plan: SequencePlan, now: datetime
) -> SequenceOut | None:
    """Start the sequence of one upgrade alert; the new sequence, or None if none was started."""
    reason = (
        f"automatic: upgrade_opportunity alert {alert.id} (confidence "
        f"{_confidence(alert):.2f}): {alert.title}"
    )[:500]
    by = Starter(actor=AUTO_UPSELL_ACTOR, automatic=True, alert_id=alert.id)
    try:
        result = await start_sequence(
            session,
            user_id=str(alert.user_id),
            reason=reason,
            by=by,
            now=now,
            plan=plan,
            recommended_tier=str(alert.data["recommended_tier"]),
        )
    except NexusError as exc:  # checks happen before any write: nothing to undo
        log.info("auto-upsell skipped %s: %s", alert.user_id, exc.detail)
        return None
    return result.sequence if result.created else None


async def auto_upsell(
    session: AsyncSession,
    *,
    alerts: Sequence[AlertOut],
    policy: AutoUpsellPolicy,
    plan: SequencePlan,
    now: datetime,
) -> list[SequenceOut]:
    """Start sequences for qualifying upgrade alerts, within today's cap; the new ones."""
    if not policy.enabled:
        return []
    started = await repo.automatic_started_since(
        session, day_start(local_day(now, policy.tz), policy.tz)
    )
    created: list[SequenceOut] = []
    for alert in candidates(alerts, policy):
        if started >= policy.daily_cap:
            log.info("auto-upsell: daily cap of %d reached", policy.daily_cap)
            break
        sequence = await _start_for(session, alert, plan=plan, now=now)
        if sequence is not None:
            created.append(sequence)
            started += 1
    return created
