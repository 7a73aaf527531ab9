"""How the server runs auto-upsell after each alert evaluation (its own transaction)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.schemas import AlertChanges
from nexus_crm.closer.auto import AutoUpsellPolicy, auto_upsell
from nexus_crm.closer.schemas import SequenceOut
from nexus_crm.closer.service import SequencePlan
from nexus_crm.db import run_transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings

log = logging.getLogger("nexus_crm.closer.auto")
Hook = Callable[[AlertChanges], Awaitable[list[SequenceOut]]]


async def run_auto_upsell(
    changes: AlertChanges,
    *,
    sessions: async_sessionmaker[AsyncSession],
    policy: AutoUpsellPolicy,
    plan: SequencePlan,
) -> list[SequenceOut]:
    """Start sequences for the round's newly raised upgrade alerts (one transaction)."""
    if not changes.raised:
        return []
    work = partial(auto_upsell, alerts=changes.raised, policy=policy, plan=plan, now=utcnow())
    started = await run_transaction(sessions, work)
    if started:
        log.info("auto-upsell started %d sequence(s)", len(started))
    return started


def auto_upsell_hook(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Hook | None:
    """The scheduler's ``after`` hook, or None when AUTO_UPSELL_ENABLED is false."""
    if not settings.auto_upsell_enabled:
        return None
    return partial(
        run_auto_upsell,
        sessions=sessions,
        policy=AutoUpsellPolicy.from_settings(settings),
        plan=SequencePlan.from_settings(settings),
    )
